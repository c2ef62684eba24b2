"""Tapis job limits: ``jobMaxJobs`` / ``jobMaxJobsPerUser`` of a system and ``maxJobs`` / ``maxJobsPerUser``
of a logical queue. A job over a limit waits (BLOCKED on ``JOB_LIMIT``); it is never failed for it.

A job holds a slot from the moment it enters SUBMITTING_JOB until it leaves the host (QUEUED, RUNNING).
The count and the move into SUBMITTING_JOB happen in one transaction that first writes the system's row
(:func:`lock_system`), so two workers cannot both take the last slot: on PostgreSQL the write locks the
row until commit, on SQLite it takes the database's write lock.
"""

from __future__ import annotations

from collections import Counter

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dlws_flow.domain.records import SystemSpec
from dlws_flow.domain.states import REMOTE_STATES
from dlws_flow.store import repositories as repo
from dlws_flow.store.models import JobRow


def lock_system(session: Session, system_id: str) -> None:
    repo.lock_system_row(session, system_id)


def _limit(value: int | None) -> int | None:
    return None if value is None or value < 0 else value


class Slots:
    """The free slots of one system, counted once, then taken job by job."""

    def __init__(self, session: Session, system: SystemSpec) -> None:
        self.system = system
        self.queues = {q.name: q for q in system.batchLogicalQueues}
        rows = session.execute(
            select(JobRow.owner, JobRow.remote_queue, func.count())
            .where(JobRow.exec_system_id == system.id, JobRow.status.in_([s.value for s in REMOTE_STATES]))
            .group_by(JobRow.owner, JobRow.remote_queue)).all()
        self.total = sum(n for _, _, n in rows)
        self.by_user: Counter[str] = Counter()
        self.by_queue: Counter[str] = Counter()
        self.by_queue_user: Counter[tuple[str, str]] = Counter()
        for owner, queue, n in rows:
            self.by_user[owner] += n
            if queue:
                self.by_queue[queue] += n
                self.by_queue_user[(queue, owner)] += n

    def reason(self, owner: str, queue: str | None) -> str | None:
        """Why a job of ``owner`` on logical ``queue`` may not launch now; None when a slot is free."""
        system = self.system
        if (limit := _limit(system.jobMaxJobs)) is not None and self.total >= limit:
            return f"system {system.id} has {self.total} active jobs (jobMaxJobs {limit})"
        if (limit := _limit(system.jobMaxJobsPerUser)) is not None and self.by_user[owner] >= limit:
            return f"{owner} has {self.by_user[owner]} active jobs on {system.id} (jobMaxJobsPerUser {limit})"
        logical = self.queues.get(queue or "")
        if logical is not None:
            if (limit := _limit(logical.maxJobs)) is not None and self.by_queue[logical.name] >= limit:
                return f"queue {logical.name} of {system.id} has {self.by_queue[logical.name]} active jobs (maxJobs {limit})"
            used = self.by_queue_user[(logical.name, owner)]
            if (limit := _limit(logical.maxJobsPerUser)) is not None and used >= limit:
                return f"{owner} has {used} active jobs in queue {logical.name} of {system.id} (maxJobsPerUser {limit})"
        return None

    def take(self, job: JobRow) -> bool:
        queue = (job.spec or {}).get("execSystemLogicalQueue")
        if self.reason(job.owner, queue) is not None:
            return False
        self.total += 1
        self.by_user[job.owner] += 1
        if queue:
            self.by_queue[queue] += 1
            self.by_queue_user[(queue, job.owner)] += 1
        return True


def has_limits(system: SystemSpec) -> bool:
    return any(_limit(v) is not None for v in (system.jobMaxJobs, system.jobMaxJobsPerUser,
                                               *(q.maxJobs for q in system.batchLogicalQueues),
                                               *(q.maxJobsPerUser for q in system.batchLogicalQueues)))
