"""Merging an app's arguments and a system's and an app's environment variables under a job request, by
each definition's ``inputMode`` (Tapis Jobs, "Argument Processing" and "KeyValuePair").

Arguments (``appArgs``, ``containerArgs``, ``schedulerOptions``), by the app argument's ``inputMode``:

============================  ===========================================  =====================================
inputMode                     request does not name it                     request names it
============================  ===========================================  =====================================
REQUIRED                      in the job; no ``arg`` in the app: 400       ``arg`` replaces the app's;
                                                                           ``include: false``: 400
FIXED                         in the job                                   only an exact repeat; else 400
INCLUDE_ON_DEMAND             left out                                     in the job unless ``include: false``
INCLUDE_BY_DEFAULT, or none   in the job                                   in the job unless ``include: false``
============================  ===========================================  =====================================

Order: the request's own entries (those naming no app argument) first, as the seed notebook says ("arguments
specified in the application definition are appended"), then the app's, in the app's order; an app argument
a request entry names keeps its place (Tapis: "application arguments maintain their place even when
overridden"), so a FIXED flag stays before the REQUIRED value that follows it. An argument whose ``arg`` is left empty or
``!tapis_not_set`` is dropped (REQUIRED: 400). Where we differ from Tapis: an app argument *without*
``inputMode`` is included (Tapis' default is INCLUDE_ON_DEMAND), as it always was here, so existing app
records keep their meaning; write ``INCLUDE_ON_DEMAND`` to get Tapis' behaviour.

Variables: the system's ``jobEnvVariables``, then the app's, then the request's. A later layer replaces a
value per key, except a FIXED one (400 unless repeated exactly); a REQUIRED system variable makes the app's
REQUIRED too. ``inputMode`` defaults to INCLUDE_BY_DEFAULT, as in Tapis. A request variable without a
``value`` keeps the defined one (Tapis' default value for a request is "not set"). A value still
``!tapis_not_set`` after the merge is a 400 for a REQUIRED variable and drops any other; the empty string is a
value. Duplicate keys or names within one layer are a 400, as in Tapis.

The launch prefix (:func:`launch_prefix`): ``isMpi``, ``mpiCmd`` and ``cmdPrefix``, merged as Tapis merges them.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable

from dlws_flow.domain.input_modes import InputMode, is_unset
from dlws_flow.domain.job_request import JobRequest
from dlws_flow.domain.parameters import RESERVED_ENV_PREFIX, ArgSpec, KeyValuePair
from dlws_flow.domain.records import AppSpec, SystemSpec
from dlws_flow.errors import ValidationError


def _refuse_duplicates(names: Iterable[str | None], what: str) -> None:
    seen: set[str] = set()
    for name in names:
        if name and name in seen:
            raise ValidationError(f"{what} names {name!r} twice")
        if name:
            seen.add(name)


def _fixed_changed(request: ArgSpec, app: ArgSpec) -> bool:
    return request.include is False or (request.arg is not None and request.arg != app.arg)


def _merged_arg(request: ArgSpec, app: ArgSpec, field: str) -> ArgSpec | None:
    """The app argument ``app`` as the request entry of the same name leaves it (None: left out)."""
    mode = app.inputMode or InputMode.INCLUDE_BY_DEFAULT
    name = f"{field} {app.name!r}"
    if mode == InputMode.FIXED:
        if _fixed_changed(request, app):
            raise ValidationError(f"{name} is FIXED by the app: a job request may not change or drop it")
        return None if is_unset(app.arg) else app
    if request.include is False:
        if mode == InputMode.REQUIRED:
            raise ValidationError(f"{name} is REQUIRED by the app: a job request may not drop it (include: false)")
        return None
    update = {"include": request.include}
    if not is_unset(request.arg):
        update["arg"] = request.arg
    if request.notes is not None:
        update["notes"] = request.notes
    if request.description and request.description != app.description:
        update["description"] = "\n\n".join(d for d in (app.description, request.description) if d)
    merged = app.model_copy(update=update)
    if is_unset(merged.arg):
        if mode == InputMode.REQUIRED:
            raise ValidationError(f"{name} is REQUIRED by the app: give its arg")
        return None
    return merged


def _unnamed_app_arg(app: ArgSpec, field: str) -> ArgSpec | None:
    """An app argument no request entry names."""
    mode = app.inputMode or InputMode.INCLUDE_BY_DEFAULT
    if mode == InputMode.INCLUDE_ON_DEMAND or app.include is False:
        return None
    if is_unset(app.arg):
        if mode == InputMode.REQUIRED:
            raise ValidationError(f"{field} {app.name or '(unnamed)'!r} is REQUIRED by the app: the job request "
                                  "must give it (an entry of that name with an arg)")
        return None
    return app


def merge_args(request_args: list[ArgSpec], app_args: list[ArgSpec], field: str = "appArgs") -> list[ArgSpec]:
    """The job's arguments of one kind (``field`` names it in messages): see the module docstring.

    Raises:
        ValidationError: a REQUIRED argument without a value or dropped, a FIXED one changed, a name twice.
    """
    _refuse_duplicates((a.name for a in app_args), f"the app's {field}")
    _refuse_duplicates((a.name for a in request_args), f"the request's {field}")
    by_name = {a.name: a for a in app_args if a.name}
    requested = {a.name: a for a in request_args if a.name}
    merged = [a for a in request_args if not (a.name and a.name in by_name)
              and a.include is not False and not is_unset(a.arg)]
    for app in app_args:
        request = requested.get(app.name) if app.name else None
        item = _merged_arg(request, app, field) if request is not None else _unnamed_app_arg(app, field)
        if item is not None:
            merged.append(item)
    return merged


def _check_keys(pairs: list[KeyValuePair], layer: str) -> None:
    for pair in pairs:
        if pair.key.startswith(RESERVED_ENV_PREFIX):
            raise ValidationError(f"envVariables key {pair.key!r} is reserved: keys may not start with {RESERVED_ENV_PREFIX!r}")
    _refuse_duplicates((p.key for p in pairs), f"the {layer}'s envVariables")


def _definitions(system_env: list[KeyValuePair], app_env: list[KeyValuePair]) -> dict[str, KeyValuePair]:
    """The system's variables with the app's merged over them, each with its effective ``inputMode``."""
    merged: dict[str, KeyValuePair] = {}
    for pair in system_env:
        merged[pair.key] = pair.model_copy(update={"inputMode": pair.inputMode or InputMode.INCLUDE_BY_DEFAULT})
    for pair in app_env:
        mode = pair.inputMode or InputMode.INCLUDE_BY_DEFAULT
        system = merged.get(pair.key)
        if system is not None and system.inputMode == InputMode.FIXED and (
                pair.value != system.value or mode != InputMode.FIXED):
            raise ValidationError(f"envVariables {pair.key!r} is FIXED by the system: the app may not change it")
        if system is not None and system.inputMode == InputMode.REQUIRED and mode != InputMode.FIXED:
            mode = InputMode.REQUIRED
        merged[pair.key] = pair.model_copy(update={"inputMode": mode})
    return merged


def _requested(defined: KeyValuePair, request: KeyValuePair) -> KeyValuePair | None:
    """``defined`` as the request's variable of the same key leaves it (None: left out)."""
    given = "value" in request.model_fields_set and not is_unset(request.value, blank_is_unset=False)
    name = f"envVariables {defined.key!r}"
    if defined.inputMode == InputMode.FIXED:
        if request.include is False or (given and request.value != defined.value):
            raise ValidationError(f"{name} is FIXED: a job request may not change or drop it")
        return defined
    if request.include is False:
        if defined.inputMode == InputMode.REQUIRED:
            raise ValidationError(f"{name} is REQUIRED: a job request may not drop it (include: false)")
        return None
    update = {"include": request.include, **({"value": request.value} if given else {})}
    if request.notes is not None:
        update["notes"] = request.notes
    return defined.model_copy(update=update)


def merge_env(system_env: list[KeyValuePair], app_env: list[KeyValuePair],
              request_env: list[KeyValuePair]) -> list[KeyValuePair]:
    """The job's ``envVariables``: see the module docstring.

    Raises:
        ValidationError: a reserved or repeated key, a FIXED variable changed, a REQUIRED one without a value.
    """
    for layer, pairs in (("system", system_env), ("app", app_env), ("request", request_env)):
        _check_keys(pairs, layer)
    defined = _definitions(system_env, app_env)
    requested = {p.key: p for p in request_env}
    merged: dict[str, KeyValuePair] = {}
    for key, pair in defined.items():
        if key in requested:
            item = _requested(pair, requested[key])
        else:
            item = None if pair.inputMode == InputMode.INCLUDE_ON_DEMAND or pair.include is False else pair
        if item is not None:
            merged[key] = item
    for key, pair in requested.items():
        if key not in defined and pair.include is not False:
            merged[key] = pair
    for key, pair in list(merged.items()):
        if is_unset(pair.value, blank_is_unset=False):
            if pair.inputMode == InputMode.REQUIRED:
                raise ValidationError(f"envVariables {key!r} is REQUIRED: the job request must give its value")
            del merged[key]
    return list(merged.values())


def launch_prefix(request: JobRequest, app: AppSpec, exec_system: SystemSpec) -> tuple[bool, str | None, str | None]:
    """``(isMpi, mpiCmd, cmdPrefix)`` as Tapis merges them: request, then app (then the system, for ``mpiCmd``).

    The launch puts ``mpiCmd`` (when ``isMpi``) or ``cmdPrefix`` before the runtime's command, word by word and
    quoted (``engine.launch``): ``mpirun -np 4`` works, shell syntax and ``$VAR`` in them stay literal.

    Raises:
        ValidationError: ``isMpi`` without an ``mpiCmd``, ``isMpi`` with a ``cmdPrefix`` (mutually exclusive in
            Tapis), a ``cmdPrefix`` on a system without ``enableCmdPrefix``, text that is not shell words.
    """
    attrs = app.jobAttributes
    is_mpi = bool(next((v for v in (request.isMpi, attrs.isMpi) if v is not None), False))
    mpi_cmd = (request.mpiCmd or "").strip() or (attrs.mpiCmd or "").strip() or (exec_system.mpiCmd or "").strip() or None
    cmd_prefix = (request.cmdPrefix or "").strip() or (attrs.cmdPrefix or "").strip() or None
    if cmd_prefix and not exec_system.enableCmdPrefix:
        raise ValidationError(f"cmdPrefix: system {exec_system.id} does not allow command prefixes (its "
                              "enableCmdPrefix is false)")
    if is_mpi and not mpi_cmd:
        raise ValidationError(f"isMpi is true but no mpiCmd is set (in the request, the app or system {exec_system.id})")
    if is_mpi and cmd_prefix:
        raise ValidationError("cmdPrefix must not be set when isMpi is true: mpiCmd and cmdPrefix are mutually exclusive")
    for name, text in (("mpiCmd", mpi_cmd), ("cmdPrefix", cmd_prefix)):
        try:
            shlex.split(text or "")
        except ValueError as exc:
            raise ValidationError(f"{name} {text!r} is not valid shell-word text: {exc}") from exc
    return is_mpi, mpi_cmd, cmd_prefix
