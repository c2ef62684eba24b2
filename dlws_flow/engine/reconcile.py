"""The database is the checkpoint: find jobs whose stage task was lost and say which stage to re-enqueue.

A stage task can vanish between two commits: a worker killed after it committed a transition but before
it enqueued the next link, a broker restarted without the message, a message dropped. Stages are
idempotent (compare-and-set transitions, launch markers, recorded remote ids), so sending a stage again is
always safe; the reconciler only has to notice that nothing is moving.

- A job in a worker-driven state (PENDING ... SUBMITTING_JOB, ARCHIVING) whose row has not changed for
  ``DLWS_RECONCILE_STALL_SECONDS`` gets that state's stage again.
- Jobs in QUEUED/RUNNING are watched per (system, login): while any monitor task of that pair is alive it
  polls for all of them; when the pair has not been polled for ``DLWS_RECONCILE_POLL_SECONDS``, every
  active job of the pair gets a monitor task again.

Each re-enqueued job (or pair) is stamped, so one that waits in a busy queue is not sent twice per period.
The elements of a sweep launched as job arrays are restarted as their sweep: its launch (``launch_sweep``)
for elements not yet queued, its one monitor (``monitor_sweep``) for queued and running ones.
A job waiting for its virtual cluster's quota (a ``vc_jobs`` row not yet admitted) is left to the quota
service's admission, which the beat task also runs, so a lost "job ended" signal cannot hold a queue.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import exists, select

from dlws_flow.domain.states import JobStatus
from dlws_flow.settings import get_settings
from dlws_flow.store import repositories as repo
from dlws_flow.store.db import session_scope
from dlws_flow.store.models import JobRow, SystemPollRow, utcnow
from dlws_flow.store.quota_models import VcJobRow

log = logging.getLogger(__name__)

#: The stage that moves a job on from each state the workers drive.
STAGE_FOR_STATUS = {
    JobStatus.PENDING: "process_inputs", JobStatus.PROCESSING_INPUTS: "process_inputs",
    JobStatus.STAGING_INPUTS: "stage_inputs", JobStatus.STAGING_JOB: "stage_job",
    JobStatus.SUBMITTING_JOB: "submit", JobStatus.ARCHIVING: "archive",
}
MONITORED = (JobStatus.QUEUED, JobStatus.RUNNING)


@dataclass(frozen=True)
class Restart:
    job_uuid: str
    stage: str
    reason: str
    #: Set for a sweep's task (``launch_sweep``, ``monitor_sweep``): ``job_uuid`` is then one of its elements.
    sweep_id: str | None = None


def find_stalled(*, stall_seconds: float | None = None, poll_seconds: float | None = None) -> list[Restart]:
    """Stalled jobs, stamped so the next sweep within the period leaves them alone."""
    settings = get_settings()
    now = utcnow()
    stall_before = now - timedelta(seconds=stall_seconds if stall_seconds is not None else settings.reconcile_stall_seconds)
    poll_before = now - timedelta(seconds=poll_seconds if poll_seconds is not None else settings.reconcile_poll_seconds)
    restarts: list[Restart] = []
    with session_scope() as session:
        stuck = session.execute(
            select(JobRow.uuid, JobRow.status, JobRow.in_array, JobRow.sweep_id).where(
                JobRow.status.in_([s.value for s in STAGE_FOR_STATUS]), JobRow.last_updated < stall_before,
                ~exists().where(VcJobRow.job_uuid == JobRow.uuid, VcJobRow.admitted.is_(False)))).all()
        launches: set[str] = set()
        for job_uuid, status, in_array, sweep_id in stuck:
            if not repo.stamp_stalled_job(session, job_uuid, status, stall_before, now):
                continue
            if in_array and JobStatus(status) != JobStatus.ARCHIVING:
                if sweep_id not in launches:
                    launches.add(sweep_id)
                    restarts.append(Restart(job_uuid, "launch_sweep", f"no progress in {status}", sweep_id))
                continue
            restarts.append(Restart(job_uuid, STAGE_FOR_STATUS[JobStatus(status)], f"no progress in {status}"))

        active = session.execute(
            select(JobRow.uuid, JobRow.exec_system_id, JobRow.exec_login, JobRow.owner, JobRow.last_updated,
                   JobRow.in_array, JobRow.sweep_id)
            .where(JobRow.status.in_([s.value for s in MONITORED]))).all()
        by_pair: dict[tuple[str, str], list[tuple[str, str | None]]] = {}
        newest: dict[tuple[str, str], datetime] = {}
        for job_uuid, system_id, login, owner, last_updated, in_array, sweep_id in active:
            pair = (system_id, login or owner)
            by_pair.setdefault(pair, []).append((job_uuid, sweep_id if in_array else None))
            newest[pair] = max(newest.get(pair, last_updated), last_updated)
        for (system_id, login), uuids in by_pair.items():
            row = session.get(SystemPollRow, (system_id, login))
            if row is not None and row.last_poll >= poll_before:
                continue
            if row is None and newest[(system_id, login)] >= poll_before:
                continue  # just submitted: its monitor has not polled yet
            if row is None:
                repo.add_poll_stamp(session, system_id, login, now)
            elif not repo.restamp_stale_poll(session, system_id, login, now, poll_before):
                continue
            monitored: set[str] = set()
            for job_uuid, sweep_id in uuids:
                if sweep_id is None:
                    restarts.append(Restart(job_uuid, "monitor", f"{system_id} not polled"))
                elif sweep_id not in monitored:  # one monitor for the sweep's array elements
                    monitored.add(sweep_id)
                    restarts.append(Restart(job_uuid, "monitor_sweep", f"{system_id} not polled", sweep_id))
    for restart in restarts:
        log.warning("reconciler: job %s%s: %s; re-enqueueing %s", restart.job_uuid,
                    f" (sweep {restart.sweep_id})" if restart.sweep_id else "", restart.reason, restart.stage)
    return restarts
