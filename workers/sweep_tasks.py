"""The tasks of a sweep launched as job arrays (``dlws_flow.engine.sweep_launch``): its launch, its one monitor,
and the cancel of its arrays. Thin, as the stage tasks are; the retry policy is theirs, per sweep:

* a host error worth retrying (unreachable, slurmctld not answering): retried with backoff, without end (the
  elements wait in their states; the reconciler re-sends a launch that stalls, so nothing is lost if this
  delivery is);
* any other error of the launch (HOST_EVAL unset, Slurm refusing the array): every element still waiting for
  the launch FAILS with the message, as a job alone would;
* the monitor never fails elements: each one's own end comes from the poll.
"""

from __future__ import annotations

import logging

from celery import Task
from celery.exceptions import Ignore

from dlws_flow.engine.lifecycle import Outcome, fail_job
from dlws_flow.engine.sweep_launch import WAITING, cancel_arrays, launch_sweep, monitor_sweep
from dlws_flow.errors import DlwsFlowError, HostError
from dlws_flow.store import repositories as repo
from dlws_flow.store.db import session_scope
from workers.app import app
from workers.dispatch import send_sweep_task
from workers.tasks import _backoff, _time_limited, _worth_retrying

log = logging.getLogger(__name__)

OPTIONS = {"bind": True, "acks_late": True, "max_retries": None}


def _fail_waiting(sweep_id: str, exc: BaseException) -> None:
    with session_scope() as session:
        waiting = repo.array_elements(session, sweep_id, [s.value for s in WAITING])
        uuids = [job.uuid for job in waiting]
    for uuid in uuids:
        fail_job(uuid, f"launching its sweep's job array failed: {exc}")


@app.task(name="dlws.launch_sweep", **OPTIONS)
def launch_sweep_task(self: Task, sweep_id: str) -> str:
    try:
        with _time_limited("launch_sweep"):
            outcome = launch_sweep(sweep_id)
    except HostError as exc:
        if not _worth_retrying(exc):
            _fail_waiting(sweep_id, exc)
            raise Ignore() from exc
        log.warning("sweep %s: launch hit a transient error, retrying: %s", sweep_id, exc)
        raise self.retry(exc=exc, countdown=_backoff(self.request.retries)) from exc
    except DlwsFlowError as exc:
        _fail_waiting(sweep_id, exc)
        raise Ignore() from exc
    except Exception as exc:  # a bug must fail the elements visibly, not leave them waiting
        log.exception("sweep %s: launch crashed", sweep_id)
        _fail_waiting(sweep_id, exc)
        raise Ignore() from exc
    if outcome == Outcome.STOP:
        raise Ignore()
    send_sweep_task(sweep_id, "monitor_sweep")
    return sweep_id


@app.task(name="dlws.monitor_sweep", **OPTIONS)
def monitor_sweep_task(self: Task, sweep_id: str) -> str:
    """One look, then re-schedule itself (on the queue it came from), as a job's own monitor does."""
    try:
        with _time_limited("monitor_sweep"):
            result = monitor_sweep(sweep_id)
    except HostError as exc:
        log.warning("sweep %s: monitor hit an error, looking again later: %s", sweep_id, exc)
        raise self.retry(exc=exc, countdown=_backoff(self.request.retries)) from exc
    if result.outcome == Outcome.POLL:
        raise self.retry(args=(sweep_id,), countdown=result.delay, max_retries=None)
    raise Ignore()


@app.task(name="dlws.cancel_sweep", **OPTIONS)
def cancel_sweep_task(self: Task, sweep_id: str) -> bool:
    """``scancel`` the sweep's arrays (its elements were recorded CANCELLED before this was sent)."""
    try:
        with _time_limited("cancel_sweep"):
            return cancel_arrays(sweep_id)
    except HostError as exc:
        if not _worth_retrying(exc) or self.request.retries >= 5:
            log.error("sweep %s: its arrays could not be cancelled on the host: %s", sweep_id, exc)
            return False
        raise self.retry(exc=exc, countdown=_backoff(self.request.retries)) from exc
