"""One thin Celery task per lifecycle stage. Each loads nothing itself: it calls the stage function in
``dlws_flow.stages``, turns the outcome into chain control, and maps errors:

* transient (``TransportError``): retried with exponential backoff and jitter, then the job FAILS;
* permanent (any other ``DlwsFlowError``, a changed host key): the job FAILS at once with the message;
* a stage with nothing to do (duplicate delivery, terminal or paused job): the chain stops quietly.
"""

from __future__ import annotations

import logging
import random

from celery import Task
from celery.exceptions import Ignore

from dlws_flow import stages
from dlws_flow.errors import DlwsFlowError, HostKeyMismatchError, TransportError
from dlws_flow.settings import get_settings
from workers.app import app

log = logging.getLogger(__name__)

STAGE_OPTIONS = {"bind": True, "acks_late": True, "max_retries": None}


def _backoff(retries: int) -> float:
    return min(60.0, 2.0 ** retries) * (0.5 + random.random() / 2)


def _fail(job_uuid: str, stage_name: str, exc: BaseException) -> None:
    stages.fail_job(job_uuid, f"{stage_name} failed: {exc}")
    raise Ignore()


def _run_stage(task: Task, stage_name: str, job_uuid: str) -> str:
    try:
        outcome = getattr(stages, stage_name)(job_uuid)
    except HostKeyMismatchError as exc:
        _fail(job_uuid, stage_name, exc)
    except TransportError as exc:
        if task.request.retries >= get_settings().task_max_retries:
            _fail(job_uuid, stage_name, exc)
        log.warning("job %s: %s hit a transient error, retrying: %s", job_uuid, stage_name, exc)
        raise task.retry(exc=exc, countdown=_backoff(task.request.retries))
    except DlwsFlowError as exc:
        _fail(job_uuid, stage_name, exc)
    except Exception as exc:  # a bug must fail the job visibly, not leave it stuck in a stage
        log.exception("job %s: %s crashed", job_uuid, stage_name)
        _fail(job_uuid, stage_name, exc)
    if outcome == stages.Outcome.STOP:
        raise Ignore()
    return job_uuid


@app.task(name="dlws.process_inputs", **STAGE_OPTIONS)
def process_inputs(self: Task, job_uuid: str) -> str:
    return _run_stage(self, "process_inputs", job_uuid)


@app.task(name="dlws.stage_inputs", **STAGE_OPTIONS)
def stage_inputs(self: Task, job_uuid: str) -> str:
    return _run_stage(self, "stage_inputs", job_uuid)


@app.task(name="dlws.stage_job", **STAGE_OPTIONS)
def stage_job(self: Task, job_uuid: str) -> str:
    return _run_stage(self, "stage_job", job_uuid)


@app.task(name="dlws.submit", **STAGE_OPTIONS)
def submit(self: Task, job_uuid: str) -> str:
    return _run_stage(self, "submit", job_uuid)


@app.task(name="dlws.monitor", **STAGE_OPTIONS)
def monitor(self: Task, job_uuid: str, failures: int = 0) -> str:
    """Poll once, then re-schedule itself; a worker never sleeps waiting for a job."""
    settings = get_settings()
    try:
        result = stages.monitor(job_uuid, attempt=self.request.retries)
    except HostKeyMismatchError as exc:
        _fail(job_uuid, "monitor", exc)
    except TransportError as exc:
        if failures >= settings.task_max_retries:
            _fail(job_uuid, "monitor", exc)
        log.warning("job %s: status check failed, retrying: %s", job_uuid, exc)
        raise self.retry(args=(job_uuid,), kwargs={"failures": failures + 1}, countdown=_backoff(failures))
    except DlwsFlowError as exc:
        _fail(job_uuid, "monitor", exc)
    except Exception as exc:
        log.exception("job %s: monitor crashed", job_uuid)
        _fail(job_uuid, "monitor", exc)
    if result.outcome == stages.Outcome.POLL:
        raise self.retry(args=(job_uuid,), kwargs={"failures": 0}, countdown=result.delay)
    if result.outcome == stages.Outcome.STOP:
        raise Ignore()
    return job_uuid


@app.task(name="dlws.archive", **STAGE_OPTIONS)
def archive(self: Task, job_uuid: str) -> str:
    return _run_stage(self, "archive", job_uuid)


@app.task(name="dlws.cancel", bind=True, acks_late=True, max_retries=None)
def cancel(self: Task, job_uuid: str) -> bool:
    try:
        return stages.cancel(job_uuid)
    except TransportError as exc:
        if self.request.retries >= get_settings().task_max_retries:
            # The host stayed unreachable: record the cancel anyway, the user asked for it.
            stages.fail_job(job_uuid, f"cancel could not reach the host: {exc}")
            return False
        raise self.retry(exc=exc, countdown=_backoff(self.request.retries))
