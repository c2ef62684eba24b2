"""Merging an app's ``fileInputs`` and ``fileInputArrays`` under a job request (Tapis Jobs, "FileInputs",
"FileInputArrays" and "In-Place Inputs").

- The app's inputs are REQUIRED, OPTIONAL (the default) or FIXED. A request entry with an app input's
  ``name`` fills in or replaces its fields (an array's ``sourceUrls`` as a whole); a FIXED input may only be
  repeated. After the merge an input without a source is skipped when OPTIONAL and a 400 otherwise.
- ``strictFileInputs`` on the app: every request entry must name one of the app's inputs (no unnamed ones).
- ``targetPath`` ``*`` or left out: the source's base name. ``targetDir`` ``*`` or left out: the input dir.
  Each ``sourceUrls`` entry of an array becomes one staged input, ``targetDir/<base name>``, named
  ``<array>_<n>.<m>`` as Tapis names them.
- ``tapislocal://exec.tapis/<path>``: a path on the exec system (under its ``rootDir``) that is used where it
  is: nothing is copied and ``targetPath`` is not used (Tapis only uses it as a DOCKER mount point). Not
  allowed in arrays (as in Tapis).
- ``envKey``: the job receives a variable of that name holding where the input is on the exec host: the
  staged file's absolute path, an array's ``targetDir``, or a ``tapislocal`` path itself. Tapis puts the
  bare ``targetPath`` there; an absolute path works whatever the app's working directory is. The value is
  filled in by ``process_inputs``, once the directories are known on the host.
"""

from __future__ import annotations

import posixpath
from urllib.parse import urlparse

from dlws_flow.domain.input_modes import FileInputMode, is_unset
from dlws_flow.domain.parameters import FileInput, FileInputArray
from dlws_flow.errors import ValidationError

TAPISLOCAL = "tapislocal://"
#: The host every ``tapislocal`` URL names (a placeholder for the job's exec system).
TAPISLOCAL_HOST = "exec.tapis"
_FIXED_FIELDS = {"fileInputs": ("sourceUrl", "targetPath", "autoMountLocal"), "fileInputArrays": ("sourceUrls", "targetDir")}


def is_tapislocal(url: str | None) -> bool:
    return bool(url) and url.lower().startswith(TAPISLOCAL)


def base_name(url: str) -> str:
    """The last path component of a source URL or path (``input`` when there is none)."""
    path = url if url.startswith("/") else urlparse(url).path
    return posixpath.basename(path.rstrip("/")) or "input"


def _has_source(item: FileInput | FileInputArray) -> bool:
    if isinstance(item, FileInputArray):
        return bool(item.sourceUrls) and not all(is_unset(u) for u in item.sourceUrls)
    return not is_unset(item.sourceUrl)


def _merged(request: FileInput | FileInputArray, app: FileInput | FileInputArray, field: str):
    """The app input ``app`` as the request entry of the same name leaves it."""
    if (app.inputMode or FileInputMode.OPTIONAL) == FileInputMode.FIXED:
        for key in _FIXED_FIELDS[field]:
            value = getattr(request, key)
            if value is not None and value != getattr(app, key):
                raise ValidationError(f"{field} {app.name!r} is FIXED by the app: a job request may not change "
                                      f"its {key}")
        return app
    given = {k: v for k, v in request.model_dump(exclude_unset=True).items() if v is not None and k != "name"}
    if "description" in given and app.description:
        given["description"] = f"{app.description}\n\n{given['description']}"
    return app.model_validate({**app.model_dump(exclude_none=True), **given})


def _merge(request_items: list, app_items: list, strict: bool, app_id: str, field: str) -> list:
    """The request's entries merged with the app's (see the module docstring); incomplete OPTIONAL ones out."""
    names = [i.name for i in request_items if i.name]
    duplicate = next((n for n in names if names.count(n) > 1), None)
    if duplicate:
        raise ValidationError(f"{field} names {duplicate!r} twice")
    by_name = {i.name: i for i in app_items if i.name}
    merged = []
    for item in request_items:
        app = by_name.get(item.name) if item.name else None
        if strict and app is None:
            raise ValidationError(f"{field} {item.name or '(unnamed)'!r}: app {app_id} has strictFileInputs, so "
                                  "every input of a job request must name one of the app's inputs")
        merged.append(item if app is None else _merged(item, app, field))
    merged += [i for i in app_items if not (i.name and i.name in names)]
    kept = []
    for item in merged:
        if _has_source(item):
            kept.append(item)
        elif (item.inputMode or FileInputMode.OPTIONAL) != FileInputMode.OPTIONAL or item.name not in by_name:
            raise ValidationError(f"{field} {item.name or '(unnamed)'!r} has no "
                                  f"{'sourceUrls' if field == 'fileInputArrays' else 'sourceUrl'}"
                                  + (" (the app requires it)" if item.name in by_name else ""))
    return kept


def merge_file_inputs(request_inputs: list[FileInput], app_inputs: list[FileInput], *, strict: bool,
                      app_id: str) -> list[FileInput]:
    """The job's ``fileInputs``; ``targetPath`` ``*`` becomes None (the source's base name when staged).

    Raises:
        ValidationError: a REQUIRED input without a source, a FIXED one changed, an input a strict app does
            not define, a name twice.
    """
    inputs = _merge(request_inputs, app_inputs, strict, app_id, "fileInputs")
    return [i.model_copy(update={"targetPath": None}) if (i.targetPath or "").strip() == "*" else i for i in inputs]


def merge_input_arrays(request_arrays: list[FileInputArray], app_arrays: list[FileInputArray], *, strict: bool,
                       app_id: str) -> list[FileInputArray]:
    """The job's ``fileInputArrays``, ``targetDir`` ``*`` becoming the input dir itself (``""``).

    Raises:
        ValidationError: as :func:`merge_file_inputs`, and a ``tapislocal`` URL in ``sourceUrls``.
    """
    arrays = _merge(request_arrays, app_arrays, strict, app_id, "fileInputArrays")
    result = []
    for array in arrays:
        urls = [u for u in array.sourceUrls or [] if not is_unset(u)]
        local = next((u for u in urls if is_tapislocal(u)), None)
        if local:
            raise ValidationError(f"fileInputArrays {array.name or '(unnamed)'!r}: {local!r}: tapislocal URLs are "
                                  "not allowed in sourceUrls (use a fileInputs entry)")
        target = (array.targetDir or "").strip()
        result.append(array.model_copy(update={"sourceUrls": urls, "targetDir": "" if target == "*" else target}))
    return result


def array_inputs(arrays: list[FileInputArray]) -> list[FileInput]:
    """One input per source URL of every array, into the array's (substituted, cleaned) ``targetDir``."""
    inputs = []
    for i, array in enumerate(arrays, start=1):
        for j, url in enumerate(array.sourceUrls or [], start=1):
            target = posixpath.join(array.targetDir or "", base_name(url))
            inputs.append(FileInput(name=f"{array.name or ''}_{i}.{j}", sourceUrl=url, targetPath=target,
                                    notes=array.notes, autoMountLocal=False))
    return inputs


def check_env_keys(inputs: list[FileInput], arrays: list[FileInputArray], env_keys: set[str]) -> None:
    """An ``envKey`` may not repeat another input's or a merged ``envVariables`` key (Tapis: duplicate variable).

    Raises:
        ValidationError: naming the key and the input.
    """
    seen = set(env_keys)
    for field, items in (("fileInputs", inputs), ("fileInputArrays", arrays)):
        for item in items:
            if item.envKey:
                if item.envKey in seen:
                    raise ValidationError(f"{field} {item.name or '(unnamed)'!r}: envKey {item.envKey!r} is already "
                                          "a variable of the job")
                seen.add(item.envKey)
