"""What other parts do when a job ends or its next stage is due, registered here so the engine calls them
without importing them.

``workers/dispatch.py`` registers virtual-cluster admission (``services.quotas.on_job_end`` with its Celery
dispatcher: waiting jobs of the ended job's VC may start), the sending of a due stage (``stage_due``: the
poll that sees a job end starts its archive at once) and the start of a (system, login)'s poller
(``poller_due``); every process that can end a job imports it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

log = logging.getLogger(__name__)

_on_job_end: list[Callable[[str], None]] = []
_on_stage_due: list[Callable[[str, str], None]] = []
_on_poller_due: list[Callable[[str, str, str, str, float], None]] = []


def on_job_end(callback: Callable[[str], None]) -> Callable[[str], None]:
    """Call ``callback(job_uuid)`` after every job that reaches a terminal state (usable as a decorator)."""
    if callback not in _on_job_end:
        _on_job_end.append(callback)
    return callback


def job_ended(uuid: str) -> None:
    """After a job reached a terminal state (and its transaction committed). Never fails the caller: the
    job has ended either way, and what a hook missed it does at the next job end."""
    for callback in tuple(_on_job_end):  # a copy: a hook may register another
        try:
            callback(uuid)
        except Exception:
            log.exception("job %s: the job-end hook %s failed", uuid, getattr(callback, "__qualname__", callback))


def on_stage_due(callback: Callable[[str, str], None]) -> Callable[[str, str], None]:
    """Call ``callback(job_uuid, stage)`` when the engine finds a job's next stage due outside its own chain."""
    if callback not in _on_stage_due:
        _on_stage_due.append(callback)
    return callback


def stage_due(uuid: str, stage: str) -> None:
    """Have ``stage`` run for the job now (after the commit that made it due). Should nobody send it, the job
    waits for the reconciler, which restarts a stage that made no progress."""
    for callback in tuple(_on_stage_due):
        try:
            callback(uuid, stage)
        except Exception:
            log.exception("job %s: sending its %s stage failed; the reconciler will", uuid, stage)


def on_poller_due(callback: Callable[[str, str, str, str, float], None]) -> Callable[[str, str, str, str, float], None]:
    """Call ``callback(system_id, login, owner, token, delay)`` to start a (system, login)'s poller: its run 0,
    in ``delay`` seconds."""
    if callback not in _on_poller_due:
        _on_poller_due.append(callback)
    return callback


def poller_due(system_id: str, login: str, owner: str, token: str, delay: float = 0.0) -> None:
    """Have the pair's new poller start. Should nobody start it, its claim goes stale and the jobs' own looks
    (``monitoring.monitor``) poll and claim again."""
    for callback in tuple(_on_poller_due):
        try:
            callback(system_id, login, owner, token, delay)
        except Exception:
            log.exception("starting the poller of %s as %s failed; the jobs' own looks poll instead", system_id, login)
