"""Hand jobs to the workers: the per-job chain of stage tasks, and cancel/pause/resume requests.

Every task of a job goes to its exec system's worker queue (the system's ``workerQueue``, else
``DLWS_QUEUE``), so a slow or blocked system only ever occupies the workers that consume its queue.
Retries and monitor re-polls stay on the queue they came from.
"""

from __future__ import annotations

from celery import chain

from dlws_flow.engine import hooks, job_ssh
from dlws_flow.engine.stages import STAGES as ENGINE_STAGES
from dlws_flow.services import quotas
from dlws_flow.services.systems import worker_queue
from dlws_flow.settings import get_settings
from dlws_flow.store import repositories as repo
from dlws_flow.store.db import session_scope
from workers import notification_wakeup  # noqa: F401  (enqueues notification delivery after commits)
from workers.app import app

#: The chain's stages, in lifecycle order, from the engine's stage table (task ``dlws.<stage>``,
#: workers/tasks.py). A job can be (re)started at any link (recovery, resume). Tasks are sent by name, so this
#: module needs no task objects (and the tasks, which re-enqueue chains on resume, import it without a cycle).
STAGES = tuple(ENGINE_STAGES)


def queue_of(job_uuid: str) -> str:
    """The worker queue of the job's exec system."""
    with session_scope() as session:
        job = repo.get_job(session, job_uuid)
        return worker_queue(repo.system_spec(repo.get_system(session, job.exec_system_id)))


def job_chain(job_uuid: str, from_stage: str = "process_inputs", queue: str | None = None):
    first, *rest = STAGES[STAGES.index(from_stage):]
    queue = queue or queue_of(job_uuid)
    return chain(app.signature(f"dlws.{first}", args=(job_uuid,), immutable=True, queue=queue),
                 *(app.signature(f"dlws.{stage}", queue=queue) for stage in rest))


def sweep_queue(sweep_id: str) -> str:
    """The worker queue of a sweep's exec system (its elements share it)."""
    with session_scope() as session:
        element = repo.any_sweep_element(session, sweep_id)
        if element is None:
            return get_settings().queue
        return worker_queue(repo.system_spec(repo.get_system(session, element.exec_system_id)))


def send_sweep_task(sweep_id: str, stage: str, queue: str | None = None) -> None:
    """``dlws.launch_sweep``, ``dlws.monitor_sweep`` or ``dlws.cancel_sweep`` (workers/sweep_tasks.py)."""
    app.send_task(f"dlws.{stage}", args=(sweep_id,), queue=queue or sweep_queue(sweep_id))


class CeleryDispatcher:
    """The ``Dispatcher`` the services use (see ``dlws_flow.services.jobs``)."""

    def start(self, job_uuid: str, queue: str | None = None) -> None:
        job_chain(job_uuid, queue=queue).apply_async()

    def resume(self, job_uuid: str, stage: str) -> None:
        job_chain(job_uuid, stage).apply_async()

    def cancel(self, job_uuid: str) -> None:
        app.send_task("dlws.cancel", args=(job_uuid,), queue=queue_of(job_uuid))

    def pause(self, job_uuid: str) -> None:
        app.send_task("dlws.pause", args=(job_uuid,), queue=queue_of(job_uuid))

    def resume_paused(self, job_uuid: str) -> None:
        app.send_task("dlws.resume", args=(job_uuid,), queue=queue_of(job_uuid))

    def start_sweep(self, sweep_id: str, queue: str | None = None) -> None:
        send_sweep_task(sweep_id, "launch_sweep", queue)

    def cancel_sweep(self, sweep_id: str) -> None:
        send_sweep_task(sweep_id, "cancel_sweep")

    def sweep_stage(self, sweep_id: str, stage: str) -> None:
        send_sweep_task(sweep_id, stage)


def _admit_waiting_jobs_of_its_vc(job_uuid: str) -> None:
    quotas.on_job_end(job_uuid, CeleryDispatcher())


def _close_job_ssh(job_uuid: str) -> None:
    """A job's OpenPAI SSH entry leaves its host with the job (``dlws.close_job_ssh``, workers/tasks.py)."""
    if job_ssh.has_entry(job_uuid):
        app.send_task("dlws.close_job_ssh", args=(job_uuid,), queue=queue_of(job_uuid))


def send_poller_run(system_id: str, login: str, owner: str, token: str, run: int, changed_at: float | None = None,
                    countdown: float = 0.0) -> None:
    """``dlws.poll_pair`` (workers/tasks.py), on the system's worker queue."""
    with session_scope() as session:
        queue = worker_queue(repo.system_spec(repo.get_system(session, system_id)))
    app.send_task("dlws.poll_pair", args=(system_id, login, owner, token, run, changed_at), queue=queue,
                  countdown=countdown)


def _start_poller(system_id: str, login: str, owner: str, token: str, delay: float) -> None:
    send_poller_run(system_id, login, owner, token, 0, countdown=delay)


def _send_stage(job_uuid: str, stage: str) -> None:
    job_chain(job_uuid, stage).apply_async()


# Every process that can end a job dispatches through this module first (workers through workers.tasks, the
# API and the client for their dispatcher), so each of them admits a virtual cluster's waiting jobs, and
# sends the archive of a job whose end a poll saw.
hooks.on_job_end(_admit_waiting_jobs_of_its_vc)
hooks.on_job_end(_close_job_ssh)
hooks.on_stage_due(_send_stage)
hooks.on_poller_due(_start_poller)
