"""The 13 Tapis job states and the transitions between them, as data.

The lifecycle is a straight line of *active* states, each one owned by a stage task, plus three
side states (BLOCKED, PAUSED) and three terminal states. Any active state may fall to BLOCKED,
PAUSED, FAILED or CANCELLED; BLOCKED and PAUSED return to the state they left, and the stage that
moves a job on from there runs again.
"""

from __future__ import annotations

from enum import StrEnum

from dlws_flow.errors import InvalidTransition


class JobStatus(StrEnum):
    PENDING = "PENDING"
    """Accepted and queued; no stage has started."""
    PROCESSING_INPUTS = "PROCESSING_INPUTS"
    """Resolving ``fileInputs`` and host-evaluated paths."""
    STAGING_INPUTS = "STAGING_INPUTS"
    """Creating job directories and transferring inputs to the execution system."""
    STAGING_JOB = "STAGING_JOB"
    """Writing ``tapisjob.sh`` and ``tapisjob.env``."""
    SUBMITTING_JOB = "SUBMITTING_JOB"
    """Launching the process (VM) or calling ``sbatch`` (Slurm)."""
    QUEUED = "QUEUED"
    """Waiting in the batch scheduler's queue."""
    RUNNING = "RUNNING"
    """The application is running."""
    ARCHIVING = "ARCHIVING"
    """Copying outputs to the archive system."""
    BLOCKED = "BLOCKED"
    """A recoverable fault stopped progress; the job resumes when it clears."""
    PAUSED = "PAUSED"
    """The user paused the job at a stage boundary."""
    FINISHED = "FINISHED"
    """The application exited 0 and its outputs were archived."""
    CANCELLED = "CANCELLED"
    """Stopped on purpose by its owner or a parent job."""
    FAILED = "FAILED"
    """The application or a stage failed for good."""


#: The forward path, in order. A job's position on it tells which stages have already run.
LIFECYCLE: tuple[JobStatus, ...] = (
    JobStatus.PENDING,
    JobStatus.PROCESSING_INPUTS,
    JobStatus.STAGING_INPUTS,
    JobStatus.STAGING_JOB,
    JobStatus.SUBMITTING_JOB,
    JobStatus.QUEUED,
    JobStatus.RUNNING,
    JobStatus.ARCHIVING,
    JobStatus.FINISHED,
)

TERMINAL_STATES = frozenset({JobStatus.FINISHED, JobStatus.CANCELLED, JobStatus.FAILED})
ACTIVE_STATES = frozenset(s for s in LIFECYCLE if s not in TERMINAL_STATES)
SUSPENDED_STATES = frozenset({JobStatus.BLOCKED, JobStatus.PAUSED})
#: States in which the application may be alive on the execution host.
REMOTE_STATES = frozenset({JobStatus.SUBMITTING_JOB, JobStatus.QUEUED, JobStatus.RUNNING})

_ALWAYS_FROM_ACTIVE = frozenset({JobStatus.BLOCKED, JobStatus.PAUSED, JobStatus.FAILED, JobStatus.CANCELLED})

_FORWARD: dict[JobStatus, frozenset[JobStatus]] = {
    JobStatus.PENDING: frozenset({JobStatus.PROCESSING_INPUTS}),
    JobStatus.PROCESSING_INPUTS: frozenset({JobStatus.STAGING_INPUTS}),
    JobStatus.STAGING_INPUTS: frozenset({JobStatus.STAGING_JOB}),
    JobStatus.STAGING_JOB: frozenset({JobStatus.SUBMITTING_JOB}),
    # A fork launch has no queue: the process runs as soon as it is started.
    JobStatus.SUBMITTING_JOB: frozenset({JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.ARCHIVING}),
    # A short batch job can be seen finished without ever being seen running; a preempted one re-queues.
    JobStatus.QUEUED: frozenset({JobStatus.RUNNING, JobStatus.ARCHIVING}),
    JobStatus.RUNNING: frozenset({JobStatus.QUEUED, JobStatus.ARCHIVING}),
    JobStatus.ARCHIVING: frozenset({JobStatus.FINISHED}),
}

#: Every legal (from, to) pair. Terminal states have no way out.
TRANSITIONS: dict[JobStatus, frozenset[JobStatus]] = {
    **{state: forward | _ALWAYS_FROM_ACTIVE for state, forward in _FORWARD.items()},
    # Back to the state it left (a job blocked or paused before its first stage returns to PENDING).
    JobStatus.BLOCKED: ACTIVE_STATES | {JobStatus.FAILED, JobStatus.CANCELLED, JobStatus.PAUSED},
    JobStatus.PAUSED: ACTIVE_STATES | {JobStatus.FAILED, JobStatus.CANCELLED, JobStatus.BLOCKED},
    JobStatus.FINISHED: frozenset(),
    JobStatus.CANCELLED: frozenset(),
    JobStatus.FAILED: frozenset(),
}


def can_transition(current: JobStatus | str, requested: JobStatus | str) -> bool:
    return JobStatus(requested) in TRANSITIONS[JobStatus(current)]


def advance(current: JobStatus | str, requested: JobStatus | str) -> JobStatus:
    """Return ``requested`` if the lifecycle allows it from ``current``, else raise ``InvalidTransition``."""
    if not can_transition(current, requested):
        raise InvalidTransition(str(current), str(requested))
    return JobStatus(requested)


def lifecycle_position(status: JobStatus | str) -> int:
    """Index on the forward path; QUEUED and RUNNING share one position (either means 'remote')."""
    status = JobStatus(status)
    if status is JobStatus.RUNNING:
        status = JobStatus.QUEUED
    return LIFECYCLE.index(status) if status in LIFECYCLE else -1
