"""What every stage shares: its outcome, the one way into a stage, and the ways a job ends.

Every stage follows the same shape:

1. *Enter* (:func:`enter`): read the job; do nothing if it is terminal, suspended, or already past this
   stage (a duplicate delivery); pause it here if its owner asked; otherwise move it into the stage's status
   (compare-and-set, with a history row).
2. *Work*: talk to hosts through transports, outside any database transaction.
3. *Record*: persist what the work produced (host dirs, remote job id, exit code).

Re-running a stage is always safe: directory creation and file writes are idempotent, the launch is
guarded by an atomic marker on the host, and state changes are compare-and-set, so a job never moves
backwards and an app is never started twice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy.orm import Session

from dlws_flow.adapters import registry
from dlws_flow.adapters.schedulers import RemoteJob, Scheduler
from dlws_flow.domain.records import SystemSpec
from dlws_flow.domain.states import SUSPENDED_STATES, TERMINAL_STATES, JobStatus, lifecycle_position
from dlws_flow.engine.hooks import job_ended
from dlws_flow.store import repositories as repo
from dlws_flow.store.db import session_scope
from dlws_flow.store.models import JobRow

log = logging.getLogger(__name__)

#: The stages a sweep element launched as part of its sweep's job array never runs itself.
ARRAY_LAUNCHED = frozenset({JobStatus.PROCESSING_INPUTS, JobStatus.STAGING_INPUTS, JobStatus.STAGING_JOB,
                            JobStatus.SUBMITTING_JOB})


class Outcome(StrEnum):
    CONTINUE = "continue"
    """The stage did its work (or re-did it); the chain goes on."""
    STOP = "stop"
    """Nothing for this delivery to do: terminal, suspended, or another delivery is ahead."""
    POLL = "poll"
    """Monitoring only: the job is still on the host; look again later."""


@dataclass(frozen=True)
class MonitorResult:
    outcome: Outcome
    delay: float = 0.0


def stands_still(status: JobStatus) -> bool:
    """Whether no stage may act on a job in ``status``: it ended, or it waits (BLOCKED, PAUSED)."""
    return status in TERMINAL_STATES or status in SUSPENDED_STATES


def enter(session: Session, uuid: str, stage_status: JobStatus, stage: str, message: str | None = None) -> JobRow | None:
    """Load the job and move it into ``stage_status``; None when this delivery should do nothing.

    With a ``message`` the stage moves the job from the previous lifecycle state itself; without one the
    previous stage already moved it (monitoring moves a job to ARCHIVING) and the job must be there. A job
    in ``stage_status`` already is a re-delivery of an interrupted stage: it is redone. A job whose owner
    asked for a pause stops here, at the stage boundary, and remembers where it was."""
    job = repo.get_job(session, uuid)
    status = JobStatus(job.status)
    if stands_still(status):
        return None
    if job.in_array and stage_status in ARRAY_LAUNCHED:
        return None  # its sweep's array launch stages and submits it (engine.sweep_launch)
    arrived = status == stage_status
    if not arrived and (message is None or lifecycle_position(status) != lifecycle_position(stage_status) - 1):
        return None  # already past this stage (duplicate delivery) or not there yet
    if job.pause_requested:
        pause_at_boundary(session, job, stage)
        return None
    if not arrived and not repo.transition(session, uuid, status, stage_status, message):
        return None
    session.refresh(job)
    return job


def pause_at_boundary(session: Session, job: JobRow, stage: str) -> bool:
    return repo.transition(session, job.uuid, job.status, JobStatus.PAUSED,
                           f"Paused by its owner before {stage}; resume continues from there",
                           resume_status=job.status, resume_stage=stage)


def systems_of(session: Session, job: JobRow) -> tuple[SystemSpec, SystemSpec]:
    exec_system = repo.system_spec(repo.get_system(session, job.exec_system_id))
    archive_system = (exec_system if job.archive_system_id == job.exec_system_id
                      else repo.system_spec(repo.get_system(session, job.archive_system_id)))
    return exec_system, archive_system


def remote_job(job: JobRow, array_dirs: dict[str, str] | None = None) -> RemoteJob:
    """How the scheduler names the job on the host: its remote id and exec dir (and, for a task of a sweep's
    array, its array's links dir, from ``array_dirs``: array id -> dir)."""
    remote_id = job.remote_job_id or ""
    array_dir = ""
    if job.sweep_id and "_" in remote_id:
        dirs = array_dirs if array_dirs is not None else _array_dirs_of(job.sweep_id)
        array_dir = dirs.get(remote_id.partition("_")[0], "")
    return RemoteJob(remote_id, (job.host_dirs or {}).get("ExecSystemExecDir", ""), array_dir)


def _array_dirs_of(sweep_id: str) -> dict[str, str]:
    with session_scope() as session:
        return repo.array_dirs(session, [sweep_id])


def scheduler_of(job: JobRow, system: SystemSpec) -> Scheduler:
    return registry.create("scheduler", system.batchScheduler or "SLURM" if job.job_type == "BATCH" else "FORK")


def end_job(uuid: str, final: JobStatus, message: str, attempts: int) -> tuple[bool, JobRow]:
    """Move a job to ``final`` from whatever non-terminal state it is in, retrying the compare-and-set
    (up to ``attempts`` times) when a worker moves it meanwhile. Returns whether it changed and the job
    as read just before the last attempt."""
    for _ in range(attempts):
        with session_scope() as session:
            job = repo.get_job(session, uuid)
            if JobStatus(job.status) in TERMINAL_STATES:
                return False, job
            changed = repo.transition(session, uuid, job.status, final, message[:4000])
        if changed:
            job_ended(uuid)  # after the commit
            return True, job
    return False, job


def fail_job(uuid: str, message: str) -> bool:
    """Move a job to FAILED from whatever non-terminal state it is in. Returns whether it changed."""
    return end_job(uuid, JobStatus.FAILED, message, attempts=5)[0]
