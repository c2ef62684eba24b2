"""Container runtimes turn a job into the command line that runs its app. They never run anything."""

from __future__ import annotations

import importlib

from dlws_flow.errors import ValidationError
from dlws_flow.runtimes.base import ContainerRuntime, LaunchRequest

RUNTIMES: dict[str, str] = {
    "SINGULARITY": "dlws_flow.runtimes.singularity:SingularityRuntime",
    "APPTAINER": "dlws_flow.runtimes.singularity:ApptainerRuntime",
    "ZIP": "dlws_flow.runtimes.zip:ZipRuntime",
}


def runtime_for(name: str) -> ContainerRuntime:
    try:
        module, _, attr = RUNTIMES[name.upper()].partition(":")
    except KeyError as exc:
        raise ValidationError(f"runtime {name!r} is not supported here; supported: {', '.join(RUNTIMES)}") from exc
    return getattr(importlib.import_module(module), attr)()


__all__ = ["RUNTIMES", "ContainerRuntime", "LaunchRequest", "runtime_for"]
