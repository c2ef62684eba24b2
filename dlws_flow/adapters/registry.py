"""The one place that maps an adapter's name to its class, for all three kinds.

A system names its transport and batch scheduler, an app its runtime; the engine asks ``create(kind,
name)`` for an instance. Classes are named by "module:attribute" strings and imported on first use (the
shape of Celery's ``backends.by_name``), so a deployment that never launches a ZIP job never imports the
ZIP runtime, and a new adapter is one module plus one line below.
"""

from __future__ import annotations

import importlib
from typing import Any

from dlws_flow.errors import ConfigurationError, DlwsFlowError, ValidationError

ADAPTERS: dict[str, dict[str, str]] = {
    "transport": {
        "SSH": "dlws_flow.adapters.transports.ssh:SSHTransport",
        "LOCAL": "dlws_flow.adapters.transports.local:LocalTransport",
    },
    "scheduler": {
        "FORK": "dlws_flow.adapters.schedulers.fork:ForkScheduler",
        "SLURM": "dlws_flow.adapters.schedulers.slurm:SlurmScheduler",
    },
    "runtime": {
        "SINGULARITY": "dlws_flow.adapters.runtimes.singularity:SingularityRuntime",
        "APPTAINER": "dlws_flow.adapters.runtimes.singularity:ApptainerRuntime",
        "ZIP": "dlws_flow.adapters.runtimes.zip:ZipRuntime",
        "DOCKER": "dlws_flow.adapters.runtimes.docker:DockerRuntime",
    },
}

# An unknown runtime or scheduler comes from a user's definition (a 400); an unknown transport can only
# come from the deployment itself.
_ERROR_OF_KIND: dict[str, type[DlwsFlowError]] = {"transport": ConfigurationError}
_LABEL_OF_KIND = {"scheduler": "batch scheduler"}


def names(kind: str) -> list[str]:
    """The names this deployment can use for ``kind``; FORK is ours, not a batch scheduler a user names."""
    return [name for name in ADAPTERS[kind] if not (kind == "scheduler" and name == "FORK")]


def adapter_class(kind: str, name: str) -> type[Any]:
    try:
        module, _, attribute = ADAPTERS[kind][name.upper()].partition(":")
    except KeyError as exc:
        error = _ERROR_OF_KIND.get(kind, ValidationError)
        label = _LABEL_OF_KIND.get(kind, kind)
        raise error(f"{label} {name!r} is not supported here; supported: {', '.join(names(kind))}") from exc
    return getattr(importlib.import_module(module), attribute)


def create(kind: str, name: str, *args: Any, **kwargs: Any) -> Any:
    return adapter_class(kind, name)(*args, **kwargs)
