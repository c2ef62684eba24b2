"""Hand jobs to the workers: the per-job chain of stage tasks, and cancel/pause/resume requests.

Every task of a job goes to its exec system's worker queue (the system's ``workerQueue``, else
``DLWS_QUEUE``), so a slow or blocked system only ever occupies the workers that consume its queue.
Retries and monitor re-polls stay on the queue they came from.
"""

from __future__ import annotations

from celery import chain

from workers import notification_wakeup, tasks  # noqa: F401  (notification_wakeup: enqueue delivery after commits)

#: The chain, in lifecycle order. A job can be (re)started at any link (recovery, resume).
STAGE_TASKS = (tasks.process_inputs, tasks.stage_inputs, tasks.stage_job, tasks.submit, tasks.monitor, tasks.archive)


def queue_of(job_uuid: str) -> str:
    """The worker queue of the job's exec system."""
    from dlws_flow.services.systems import worker_queue
    from dlws_flow.store import repositories as repo
    from dlws_flow.store.db import session_scope

    with session_scope() as session:
        job = repo.get_job(session, job_uuid)
        return worker_queue(repo.system_spec(repo.get_system(session, job.exec_system_id)))


def job_chain(job_uuid: str, from_stage: str = "process_inputs", queue: str | None = None):
    names = [t.name.removeprefix("dlws.") for t in STAGE_TASKS]
    start = names.index(from_stage)
    first, *rest = STAGE_TASKS[start:]
    queue = queue or queue_of(job_uuid)
    return chain(first.si(job_uuid).set(queue=queue), *(t.s().set(queue=queue) for t in rest))


class CeleryDispatcher:
    """The ``Dispatcher`` the services use (see ``dlws_flow.services.jobs``)."""

    def start(self, job_uuid: str, queue: str | None = None) -> None:
        job_chain(job_uuid, queue=queue).apply_async()

    def resume(self, job_uuid: str, stage: str) -> None:
        job_chain(job_uuid, stage).apply_async()

    def cancel(self, job_uuid: str) -> None:
        tasks.cancel.apply_async((job_uuid,), queue=queue_of(job_uuid))

    def pause(self, job_uuid: str) -> None:
        tasks.pause.apply_async((job_uuid,), queue=queue_of(job_uuid))

    def resume_paused(self, job_uuid: str) -> None:
        tasks.resume.apply_async((job_uuid,), queue=queue_of(job_uuid))
