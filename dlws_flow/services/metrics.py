"""What ``/metrics`` exposes, read from the database at scrape time (no state kept in any process).

Counts by state come from one ``GROUP BY``. Durations come from the status-change history (``job_events``)
of a recent window: every status change ends the stay in the previous status, and two latencies are taken
per job, submit -> RUNNING and RUNNING -> FINISHED. Because they describe a sliding window they can go down
between scrapes: they are exposed as gauge histograms, not as ever-growing counters.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select

from dlws_flow.store.db import session_scope
from dlws_flow.store.models import JobEventRow, JobRow, utcnow

#: How far back the duration histograms look.
WINDOW = timedelta(hours=1)
#: Upper bounds, in seconds, of the duration histograms' buckets (Tapis-style jobs run seconds to days).
BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 14400, 86400)


@dataclass
class Snapshot:
    jobs_by_state: dict[str, int]
    #: status -> seconds each job spent in it (changes that ended inside the window).
    stage_seconds: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    #: ``submit_to_running`` / ``running_to_finished`` -> seconds, one per job.
    latency_seconds: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))


def _seconds(later: datetime, earlier: datetime) -> float:
    return max((later - earlier).total_seconds(), 0.0)


def snapshot(window: timedelta = WINDOW) -> Snapshot:
    with session_scope() as session:
        counts = dict(session.execute(select(JobRow.status, func.count()).group_by(JobRow.status)).all())
        events = session.execute(
            select(JobEventRow.job_uuid, JobEventRow.new_status, JobEventRow.created)
            .where(JobEventRow.event == "JOB_NEW_STATUS", JobEventRow.created >= utcnow() - window)
            .order_by(JobEventRow.job_uuid, JobEventRow.created, JobEventRow.id)).all()
    result = Snapshot(jobs_by_state=counts)
    previous: tuple[str, str, datetime] | None = None
    submitted: datetime | None = None
    running: datetime | None = None
    for job_uuid, status, created in events:
        if previous is None or previous[0] != job_uuid:
            submitted = running = None
            previous = None
        if previous is not None:
            result.stage_seconds[previous[1]].append(_seconds(created, previous[2]))
        if status == "PENDING":
            submitted = created
        elif status == "RUNNING" and running is None:
            running = created
            if submitted is not None:
                result.latency_seconds["submit_to_running"].append(_seconds(created, submitted))
        elif status == "FINISHED" and running is not None:
            result.latency_seconds["running_to_finished"].append(_seconds(created, running))
        previous = (job_uuid, status, created)
    return result
