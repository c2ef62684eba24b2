"""Schedulers turn jobs into launch scripts and shell commands, and parse what the host answers.

They are builders and parsers only: stages run their commands through a transport, so each scheduler
is unit-tested with canned text and integration-tested against the real host.
"""

from __future__ import annotations

from dlws_flow.adapters.schedulers.base import (
    ArrayLauncher,
    ArraySubmission,
    RemoteJob,
    RemoteState,
    RemoteStatus,
    Scheduler,
    ScriptRequest,
)

__all__ = ["ArrayLauncher", "ArraySubmission", "RemoteJob", "RemoteState", "RemoteStatus", "Scheduler", "ScriptRequest"]
