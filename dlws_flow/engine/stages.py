"""The stage table: the six lifecycle stages in chain order, by the name their Celery tasks carry.

Each stage lives with its concern (``staging``, ``launch``, ``monitoring``, ``archiving``); this module
only says which runs when, so ``workers/`` can look a stage up by name. Each runs as its job's
(``hosts.first_connection_of``): a host key its first connection pins is written into that job's history.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from dlws_flow.engine.archiving import archive
from dlws_flow.engine.hosts import first_connection_of
from dlws_flow.engine.launch import stage_job, submit
from dlws_flow.engine.lifecycle import MonitorResult, Outcome
from dlws_flow.engine.monitoring import monitor
from dlws_flow.engine.staging import process_inputs, stage_inputs


def _as_job(stage: Callable[[str], Outcome | MonitorResult]) -> Callable[[str], Outcome | MonitorResult]:
    @functools.wraps(stage)
    def run(job_uuid: str) -> Outcome | MonitorResult:
        with first_connection_of(job_uuid):
            return stage(job_uuid)

    return run


STAGES: dict[str, Callable[[str], Outcome | MonitorResult]] = {
    name: _as_job(stage) for name, stage in (
        ("process_inputs", process_inputs),
        ("stage_inputs", stage_inputs),
        ("stage_job", stage_job),
        ("submit", submit),
        ("monitor", monitor),
        ("archive", archive),
    )
}

__all__ = ["STAGES", "MonitorResult", "Outcome", "archive", "monitor", "process_inputs", "stage_inputs", "stage_job",
           "submit"]
