"""One thin Celery task per lifecycle stage and per owner's action. Each loads nothing itself: it calls the
engine (``dlws_flow.engine``), turns the outcome into chain control, and hands errors to one retry policy:

* a wait for an SSH connection slot: retried soon and never blocks the job by itself (Celery counts it as
  a retry, so a later fault of the same delivery blocks sooner);
* transient (host unreachable, authentication refused, scheduler not answering, disk full: a condition
  ``classify`` names): retried ``DLWS_BLOCK_AFTER_RETRIES`` times with backoff and jitter, then the job goes
  BLOCKED and the recovery sweep (``dlws_flow.engine.recovery``) takes over; while the system is blocked,
  stages block at once;
* a remote command that ran and failed for another reason: retried ``DLWS_TASK_MAX_RETRIES`` times, then
  the job FAILS;
* permanent (a changed host key, a job the scheduler refused, any other ``DlwsFlowError``, a bug): the job
  FAILS at once with the message;
* a stage with nothing to do (duplicate delivery, terminal, blocked or paused job): the chain stops quietly.

Owners' actions (cancel, pause, resume) retry a host error ``DLWS_TASK_MAX_RETRIES`` times (a permanent one
not at all), then give up in the way each one documents.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, NoReturn, TypeVar

from celery import Task
from celery.exceptions import Ignore, SoftTimeLimitExceeded

from dlws_flow.adapters.transports.deadline import stage_deadline
from dlws_flow.domain.recovery import classify
from dlws_flow.engine import job_ssh, monitoring, recovery
from dlws_flow.engine.control import cancel as cancel_job
from dlws_flow.engine.control import hold_queued, resume_paused
from dlws_flow.engine.lifecycle import Outcome, fail_job
from dlws_flow.engine.stages import STAGES
from dlws_flow.errors import (
    ConnectionLimitError,
    DlwsFlowError,
    HostError,
    StageTimeoutError,
    SystemBlockedError,
    TransportError,
)
from dlws_flow.settings import get_settings
from workers.app import app
from workers.dispatch import job_chain, send_poller_run

log = logging.getLogger(__name__)

STAGE_OPTIONS = {"bind": True, "acks_late": True, "max_retries": None}
T = TypeVar("T")


def _backoff(retries: int) -> float:
    return min(60.0, 2.0 ** retries) * (0.5 + random.random() / 2)


def _fail(job_uuid: str, stage_name: str, exc: BaseException) -> NoReturn:
    fail_job(job_uuid, f"{stage_name} failed: {exc}")
    raise Ignore()


def _worth_retrying(exc: HostError) -> bool:
    """Transient, or a condition the host may come out of (a refused login): not a changed key or a refusal."""
    return isinstance(exc, TransportError) or classify(exc) is not None


def _retry_or_block(task: Task, stage_name: str, job_uuid: str, exc: HostError, retries: int,
                    **retry_kwargs: Any) -> NoReturn:
    """Retry, block, or fail the job after a host error."""
    settings = get_settings()
    if isinstance(exc, ConnectionLimitError):  # a wait for a slot, not a fault: never blocks
        log.info("job %s: %s waits for an SSH connection slot: %s", job_uuid, stage_name, exc)
        raise task.retry(exc=exc, countdown=_backoff(1), **retry_kwargs)
    condition = classify(exc)
    if condition is None:
        if not _worth_retrying(exc) or retries >= settings.task_max_retries:
            _fail(job_uuid, stage_name, exc)
    elif isinstance(exc, SystemBlockedError) or retries >= settings.block_after_retries:
        recovery.block(job_uuid, stage_name, condition, exc, system_id=exc.system_id)
        raise Ignore()
    log.warning("job %s: %s hit a transient error, retrying: %s", job_uuid, stage_name, exc)
    raise task.retry(exc=exc, countdown=_backoff(retries), **retry_kwargs)


@contextmanager
def _time_limited(stage_name: str) -> Iterator[None]:
    """Bound the stage by ``DLWS_STAGE_TIME_LIMIT`` under any pool: remote operations are capped to what is
    left (the thread pool has no Celery time limits), and Celery's soft limit (prefork) becomes the same
    ``StageTimeoutError``, so a stuck stage goes the transient path (retry, then BLOCKED)."""
    limit = get_settings().stage_time_limit
    try:
        with stage_deadline(limit, stage_name):
            yield
    except SoftTimeLimitExceeded as exc:
        raise StageTimeoutError(f"{stage_name} ran past its time limit of {limit:g} s") from exc


def _run_stage(task: Task, stage_name: str, job_uuid: str, retries: int, **retry_kwargs: Any) -> Any:
    """Run one stage under the stage retry policy (the module's docstring); returns what the stage returned."""
    try:
        with _time_limited(stage_name):
            return STAGES[stage_name](job_uuid)
    except HostError as exc:
        _retry_or_block(task, stage_name, job_uuid, exc, retries, **retry_kwargs)
    except DlwsFlowError as exc:
        _fail(job_uuid, stage_name, exc)
    except Exception as exc:  # a bug must fail the job visibly, not leave it stuck in a stage
        log.exception("job %s: %s crashed", job_uuid, stage_name)
        _fail(job_uuid, stage_name, exc)


def _chain_step(task: Task, stage_name: str, job_uuid: str) -> str:
    if _run_stage(task, stage_name, job_uuid, task.request.retries) == Outcome.STOP:
        raise Ignore()
    return job_uuid


def _owners_action(task: Task, action: str, job_uuid: str, run: Callable[[str], T],
                   give_up: Callable[[HostError], T]) -> T:
    """Run an owner's action; a host error is retried with backoff, then ``give_up`` decides the result."""
    try:
        with _time_limited(action):
            return run(job_uuid)
    except HostError as exc:
        if not _worth_retrying(exc) or task.request.retries >= get_settings().task_max_retries:
            return give_up(exc)
        raise task.retry(exc=exc, countdown=_backoff(task.request.retries)) from exc


@app.task(name="dlws.process_inputs", **STAGE_OPTIONS)
def process_inputs(self: Task, job_uuid: str) -> str:
    return _chain_step(self, "process_inputs", job_uuid)


@app.task(name="dlws.stage_inputs", **STAGE_OPTIONS)
def stage_inputs(self: Task, job_uuid: str) -> str:
    return _chain_step(self, "stage_inputs", job_uuid)


@app.task(name="dlws.stage_job", **STAGE_OPTIONS)
def stage_job(self: Task, job_uuid: str) -> str:
    return _chain_step(self, "stage_job", job_uuid)


@app.task(name="dlws.submit", **STAGE_OPTIONS)
def submit(self: Task, job_uuid: str) -> str:
    return _chain_step(self, "submit", job_uuid)


@app.task(name="dlws.monitor", **STAGE_OPTIONS)
def monitor(self: Task, job_uuid: str, failures: int = 0) -> str:
    """Poll once, then re-schedule itself; a worker never sleeps waiting for a job. ``failures`` counts
    consecutive failed looks (a successful look's re-schedule is not a retry of a fault)."""
    result = _run_stage(self, "monitor", job_uuid, failures, args=(job_uuid,), kwargs={"failures": failures + 1})
    if result.outcome == Outcome.POLL:
        raise self.retry(args=(job_uuid,), kwargs={"failures": 0}, countdown=result.delay)
    if result.outcome == Outcome.STOP:
        raise Ignore()
    return job_uuid


@app.task(name="dlws.poll_pair", bind=True, acks_late=True, ignore_result=True)
def poll_pair(self: Task, system_id: str, login: str, owner: str, token: str, run: int = 0,
              changed_at: float | None = None) -> None:
    """One run of a (system, login)'s poller (``engine.monitoring.poller_run``), then the next as a new message:
    the poller, not each job's timer, is the clock of the jobs it watches. A failed poll stops the poller;
    the jobs' own looks then poll with the stage retry policy (and BLOCKED), and start a new one."""
    try:
        with _time_limited("poll"):
            following = monitoring.poller_run(system_id, login, owner, token, run, changed_at)
    except DlwsFlowError as exc:
        log.warning("the poller of %s as %s stopped: %s; the jobs' own looks take over", system_id, login, exc)
        return
    if following is not None:
        send_poller_run(system_id, login, owner, token, following.run, following.changed_at, countdown=following.delay)


@app.task(name="dlws.archive", **STAGE_OPTIONS)
def archive(self: Task, job_uuid: str) -> str:
    return _chain_step(self, "archive", job_uuid)


@app.task(name="dlws.cancel", bind=True, acks_late=True, max_retries=None)
def cancel(self: Task, job_uuid: str) -> bool:
    def give_up(exc: HostError) -> bool:
        # The host stayed unreachable: record the cancel anyway, the user asked for it.
        fail_job(job_uuid, f"cancel could not reach the host: {exc}")
        return False

    return _owners_action(self, "cancel", job_uuid, cancel_job, give_up)


@app.task(name="dlws.pause", bind=True, acks_late=True, max_retries=None)
def pause(self: Task, job_uuid: str) -> bool:
    """Hold a queued batch job now; any other job pauses at its next stage boundary by itself. When the host
    cannot be reached the pause request stands: the job stops at its next boundary."""
    return _owners_action(self, "pause", job_uuid, hold_queued, lambda exc: False)


@app.task(name="dlws.close_job_ssh", bind=True, acks_late=True, max_retries=None, ignore_result=True)
def close_job_ssh(self: Task, job_uuid: str) -> None:
    """Take an ended job's OpenPAI SSH entry off its host; retried while the host cannot be reached, then
    given up (the entry expires there by itself)."""
    try:
        job_ssh.close_entry(job_uuid, give_up=self.request.retries >= get_settings().task_max_retries)
    except HostError as exc:
        raise self.retry(exc=exc, countdown=_backoff(self.request.retries)) from exc


@app.task(name="dlws.resume", bind=True, acks_late=True, max_retries=None)
def resume(self: Task, job_uuid: str) -> str | None:
    """Release a paused job and re-enqueue the stage it stopped before."""
    def give_up(exc: HostError) -> None:
        fail_job(job_uuid, f"resume could not reach the host: {exc}")
        return None

    stage = _owners_action(self, "resume", job_uuid, resume_paused, give_up)
    if stage:
        job_chain(job_uuid, stage).apply_async()
    return stage
