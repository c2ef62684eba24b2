"""Hand jobs to the workers: the per-job chain of stage tasks, and cancel requests."""

from __future__ import annotations

from celery import chain

from workers import notification_wakeup, tasks  # noqa: F401  (notification_wakeup: enqueue delivery after commits)

#: The chain, in lifecycle order. A job can be (re)started at any link (recovery, resume).
STAGE_TASKS = (tasks.process_inputs, tasks.stage_inputs, tasks.stage_job, tasks.submit, tasks.monitor, tasks.archive)


def job_chain(job_uuid: str, from_stage: str = "process_inputs"):
    names = [t.name.removeprefix("dlws.") for t in STAGE_TASKS]
    start = names.index(from_stage)
    first, *rest = STAGE_TASKS[start:]
    return chain(first.si(job_uuid), *(t.s() for t in rest))


class CeleryDispatcher:
    """The ``Dispatcher`` the services use (see ``dlws_flow.services.jobs``)."""

    def start(self, job_uuid: str) -> None:
        job_chain(job_uuid).apply_async()

    def resume(self, job_uuid: str, stage: str) -> None:
        job_chain(job_uuid, stage).apply_async()

    def cancel(self, job_uuid: str) -> None:
        tasks.cancel.delay(job_uuid)

    def pause(self, job_uuid: str) -> None:
        tasks.pause.delay(job_uuid)

    def resume_paused(self, job_uuid: str) -> None:
        tasks.resume.delay(job_uuid)
