"""The stage table: the six lifecycle stages in chain order, by the name their Celery tasks carry.

Each stage lives with its concern (``staging``, ``launch``, ``monitoring``, ``archiving``); this module
only says which runs when, so ``workers/`` can look a stage up by name.
"""

from __future__ import annotations

from collections.abc import Callable

from dlws_flow.engine.archiving import archive
from dlws_flow.engine.launch import stage_job, submit
from dlws_flow.engine.lifecycle import MonitorResult, Outcome
from dlws_flow.engine.monitoring import monitor
from dlws_flow.engine.staging import process_inputs, stage_inputs

STAGES: dict[str, Callable[[str], Outcome | MonitorResult]] = {
    "process_inputs": process_inputs,
    "stage_inputs": stage_inputs,
    "stage_job": stage_job,
    "submit": submit,
    "monitor": monitor,
    "archive": archive,
}

__all__ = ["STAGES", "MonitorResult", "Outcome", "archive", "monitor", "process_inputs", "stage_inputs", "stage_job",
           "submit"]
