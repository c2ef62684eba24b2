"""Schedulers turn jobs into launch scripts and shell commands, and parse what the host answers.

They are builders and parsers only: stages run their commands through a transport, so each scheduler
is unit-tested with canned text and integration-tested against the real host.
"""

from __future__ import annotations

import importlib

from dlws_flow.errors import ValidationError
from dlws_flow.schedulers.base import RemoteJob, RemoteState, RemoteStatus, Scheduler, ScriptRequest

SCHEDULERS: dict[str, str] = {
    "FORK": "dlws_flow.schedulers.fork:ForkScheduler",
    "SLURM": "dlws_flow.schedulers.slurm:SlurmScheduler",
}


def scheduler_for(name: str) -> Scheduler:
    try:
        module, _, attr = SCHEDULERS[name.upper()].partition(":")
    except KeyError as exc:
        raise ValidationError(f"batch scheduler {name!r} is not supported; supported: SLURM") from exc
    return getattr(importlib.import_module(module), attr)()


__all__ = ["SCHEDULERS", "RemoteJob", "RemoteState", "RemoteStatus", "Scheduler", "ScriptRequest", "scheduler_for"]
