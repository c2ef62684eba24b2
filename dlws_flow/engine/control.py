"""What an owner does to a running job: cancel it, pause it (a queued batch job is held at once, any other
pauses at its next stage boundary), resume it."""

from __future__ import annotations

import logging

from dlws_flow.adapters import registry
from dlws_flow.adapters.transports import Transport
from dlws_flow.domain.job_spec import JobSpecView
from dlws_flow.domain.states import REMOTE_STATES, TERMINAL_STATES, JobStatus
from dlws_flow.engine.hosts import open_transport
from dlws_flow.engine.lifecycle import end_job, remote_job, scheduler_of, systems_of
from dlws_flow.store import repositories as repo
from dlws_flow.store.db import session_scope
from dlws_flow.store.models import JobRow, utcnow

log = logging.getLogger(__name__)


def mark_cancelled(uuid: str, message: str) -> tuple[bool, bool]:
    """Record CANCELLED first, so a status poll racing the kill cannot report the killed app as failed.

    Returns (changed, needs_kill): whether the job moved to CANCELLED now, and whether a process or
    Slurm job may be alive on the host and must be stopped.
    """
    changed, job = end_job(uuid, JobStatus.CANCELLED, message, attempts=10)
    if changed:
        return True, bool(job.remote_job_id) or JobStatus(job.status) in REMOTE_STATES
    if JobStatus(job.status) not in TERMINAL_STATES:
        return False, False  # still moving after every attempt: as before, give up without a kill
    return False, job.status == JobStatus.CANCELLED and bool(job.remote_job_id) and job.remote_outcome != "CANCELLED"


def cancel(uuid: str, message: str = "Job cancelled by its owner") -> bool:
    """Mark the job CANCELLED, then stop its process (or Slurm job) on the host. Safe to repeat: a
    re-delivered cancel finds the job CANCELLED but not yet stopped on the host, and stops it."""
    changed, needs_kill = mark_cancelled(uuid, message)
    if not needs_kill:
        return changed
    with session_scope() as session:
        job = repo.get_job(session, uuid)
        if not job.remote_job_id:
            return changed  # not launched yet: the submit stage sees CANCELLED and stops what it started
        exec_system, _ = systems_of(session, job)
        transport = open_transport(session, exec_system, job.owner)
        scheduler = scheduler_of(job, exec_system)
        ref = remote_job(job)
        stop = container_stop_command(job)
    transport.run(scheduler.build_cancel_command(ref))
    if stop:  # after the scheduler's cancel, so no new container can start behind it
        run_container_stop(transport, uuid, stop)
    with session_scope() as session:
        repo.update_job_fields(session, uuid, remote_outcome="CANCELLED", remote_ended=utcnow())
    return True


def container_stop_command(job: JobRow) -> str | None:
    """The command that stops the job's container by name (DOCKER), or None when killing the launch script
    (the scheduler's cancel) stops the app as well (``ContainerRuntime.build_stop_command``)."""
    return registry.create("runtime", JobSpecView.of(job.spec).runtime).build_stop_command(job.uuid)


def run_container_stop(transport: Transport, uuid: str, command: str) -> None:
    result = transport.run(command)
    if result.exit_code != 0:
        log.warning("stopping the container of job %s answered %s: %s", uuid, result.exit_code, result.stderr[-500:])


def hold_queued(uuid: str) -> bool:
    """Pause a job waiting in the batch queue now: record PAUSED, then ``scontrol hold`` it.

    Returns False when there is nothing to hold (not queued, not batch, or it started meanwhile: a
    running job pauses at its next boundary, before archiving)."""
    with session_scope() as session:
        job = repo.get_job(session, uuid)
        if not (job.pause_requested and job.status == JobStatus.QUEUED and job.remote_job_id):
            return False
        exec_system, _ = systems_of(session, job)
        scheduler = scheduler_of(job, exec_system)
        ref = remote_job(job)
        command = scheduler.build_hold_command(ref)
        if command is None:
            return False
        transport = open_transport(session, exec_system, job.owner)
        # PAUSED is recorded before the hold is sent: the pause task and a monitor look may both get here,
        # and only the one that wins this transition holds (a second hold could land after a resume's release).
        if not repo.transition(session, uuid, JobStatus.QUEUED, JobStatus.PAUSED,
                               f"Paused by its owner; Slurm job {ref.remote_id} held in the queue",
                               resume_status=JobStatus.QUEUED.value, resume_stage="monitor", remote_held=True):
            return False
    if transport.run(command).exit_code == 0:
        return True
    with session_scope() as session:  # it left the queue meanwhile: it pauses at its next boundary instead
        repo.transition(session, uuid, JobStatus.PAUSED, JobStatus.QUEUED,
                        f"Slurm job {ref.remote_id} could not be held (it left the queue); pausing at the next stage",
                        remote_held=False, resume_status=None, resume_stage=None)
    return False


def resume_paused(uuid: str) -> str | None:
    """Continue a PAUSED job (releasing its held Slurm job first); returns the stage to re-enqueue."""
    release: tuple[Transport, str] | None = None
    with session_scope() as session:
        job = repo.get_job(session, uuid)
        repo.update_job_fields(session, uuid, pause_requested=False)
        if job.status != JobStatus.PAUSED:
            return None
        if job.remote_held and job.remote_job_id:
            exec_system, _ = systems_of(session, job)
            command = scheduler_of(job, exec_system).build_release_command(remote_job(job))
            if command:
                release = (open_transport(session, exec_system, job.owner), command)
    if release is not None:
        transport, command = release
        transport.run(command).check()
    with session_scope() as session:
        job = repo.get_job(session, uuid)
        target = JobStatus(job.resume_status or JobStatus.PENDING)
        if not repo.transition(session, uuid, JobStatus.PAUSED, target, f"Resumed by its owner at {job.resume_stage}",
                               remote_held=False):
            return None
        return job.resume_stage or "process_inputs"

