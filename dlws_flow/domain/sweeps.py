"""Parameter sweeps (ours, Tapis-shaped): one job request fanned out over parameter values.

A sweep request is ``{"name", "job": <a Tapis ReqSubmitJob>, "parameters": {NAME: [values] | {"start", "stop",
"step"}}, "combine": "product" | "zip"}``. Each element is a normal job, the template with its values as
environment variables (``NAME=value``, plus ``DLWS_SWEEP_ID`` and ``DLWS_SWEEP_INDEX``) and named
``<name>-<index>``. ``product`` takes every combination (the first parameter varies slowest), ``zip`` the
i-th value of each (all of one length). Pure: no I/O.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from typing import Any

from dlws_flow.errors import ValidationError

PARAMETER_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
RESERVED = frozenset({"DLWS_SWEEP_ID", "DLWS_SWEEP_INDEX"})
REQUEST_FIELDS = frozenset({"name", "job", "parameters", "combine", "launch", "maxConcurrent"})
#: How the elements go out: ``array`` (one scheduler job array, Slurm), ``jobs`` (one job each), or ``auto``:
#: an array where the exec system can run one (``services.sweeps`` says when), else one job each.
LAUNCHES = ("auto", "array", "jobs")


def _values(name: str, given: Any) -> list[str]:
    if isinstance(given, list):
        if not given:
            raise ValidationError(f"parameters.{name}: give at least one value")
        for value in given:
            if isinstance(value, (dict, list)) or value is None:
                raise ValidationError(f"parameters.{name}: values are strings, numbers or booleans")
        return [str(v).lower() if isinstance(v, bool) else str(v) for v in given]
    if isinstance(given, dict):
        unknown = set(given) - {"start", "stop", "step"}
        if unknown or not {"start", "stop"} <= set(given):
            raise ValidationError(f"parameters.{name}: a range is {{\"start\", \"stop\"[, \"step\"]}} of integers")
        start, stop, step = given["start"], given["stop"], given.get("step", 1)
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (start, stop, step)) or step == 0:
            raise ValidationError(f"parameters.{name}: start, stop and a non-zero step are integers")
        values = [str(v) for v in range(start, stop, step)]
        if not values:
            raise ValidationError(f"parameters.{name}: the range from {start} to {stop} by {step} is empty")
        return values
    raise ValidationError(f"parameters.{name}: a list of values or a range")


def parse_sweep(request: dict[str, Any], max_elements: int) -> tuple[str, dict[str, Any], list[dict[str, str]]]:
    """(name, job template, one assignment per element) of a sweep request; a bad one names what is wrong."""
    if not isinstance(request, dict):
        raise ValidationError("a sweep request is a JSON object")
    unknown = set(request) - REQUEST_FIELDS
    if unknown:
        raise ValidationError(f"a sweep request takes {', '.join(sorted(REQUEST_FIELDS))}; not {', '.join(sorted(unknown))}")
    job, parameters = request.get("job"), request.get("parameters")
    if not isinstance(job, dict):
        raise ValidationError("job: the job request each element is made from (a Tapis ReqSubmitJob)")
    if not isinstance(parameters, dict) or not parameters:
        raise ValidationError("parameters: {NAME: [values] or {start, stop, step}}, at least one")
    for name in parameters:
        if not PARAMETER_NAME.fullmatch(name) or name in RESERVED:
            raise ValidationError(f"parameters.{name}: a variable name (letters, digits, _), not {sorted(RESERVED)}")
    values = {name: _values(name, given) for name, given in parameters.items()}
    combine = request.get("combine", "product")
    size = _size(values, combine)
    if size > max_elements:
        raise ValidationError(f"the sweep has {size} elements, more than DLWS_SWEEP_MAX_ELEMENTS ({max_elements})")
    name = request.get("name") or job.get("name") or "sweep"
    if not isinstance(name, str) or len(name) > 48:
        raise ValidationError("name: at most 48 characters (elements are named <name>-<index>)")
    return name, job, list(_assignments(values, combine))


def launch_options(request: dict[str, Any]) -> tuple[str, int | None]:
    """(launch, maxConcurrent) of a sweep request: how its elements go out, and how many may run at once
    (an array's ``%N``; None: as many as the system's and queue's job limits allow)."""
    launch = request.get("launch", "auto")
    if launch not in LAUNCHES:
        raise ValidationError(f"launch {launch!r}: one of {', '.join(LAUNCHES)}")
    limit = request.get("maxConcurrent")
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
        raise ValidationError("maxConcurrent: a positive integer (how many elements of the array run at once)")
    if limit is not None and launch == "jobs":
        raise ValidationError("maxConcurrent throttles a job array; a sweep launched as jobs is limited by its "
                              "system's jobMaxJobs and jobMaxJobsPerUser")
    return launch, limit


def _size(values: dict[str, list[str]], combine: str) -> int:
    if combine == "product":
        size = 1
        for vs in values.values():
            size *= len(vs)
        return size
    if combine == "zip":
        lengths = {len(vs) for vs in values.values()}
        if len(lengths) != 1:
            raise ValidationError("combine zip: every parameter needs the same number of values")
        return lengths.pop()
    raise ValidationError(f"combine {combine!r}: product or zip")


def _assignments(values: dict[str, list[str]], combine: str) -> Iterator[dict[str, str]]:
    names = list(values)
    rows = itertools.product(*values.values()) if combine == "product" else zip(*values.values(), strict=True)
    for row in rows:
        yield dict(zip(names, row, strict=True))


def element_request(template: dict[str, Any], name: str, sweep_id: str, index: int,
                    assignment: dict[str, str]) -> dict[str, Any]:
    """The job request of element ``index``: the template, named ``<name>-<index>``, with its values in the
    environment (after the template's own variables: a sweep value wins over a fixed one of the same name)."""
    parameter_set = dict(template.get("parameterSet") or {})
    given = [v for v in parameter_set.get("envVariables") or [] if isinstance(v, dict) and v.get("key") not in assignment]
    extra = [{"key": key, "value": value} for key, value in assignment.items()]
    extra += [{"key": "DLWS_SWEEP_ID", "value": sweep_id}, {"key": "DLWS_SWEEP_INDEX", "value": str(index)}]
    parameter_set["envVariables"] = given + extra
    return {**template, "name": f"{name}-{index}", "parameterSet": parameter_set}
