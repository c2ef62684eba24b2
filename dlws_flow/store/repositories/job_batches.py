"""Writes to many ``jobs`` at once (a sweep's elements): the same compare-and-set status change and history
row as :func:`.jobs.transition`, in a few statements for thousands of jobs rather than a few per job."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from dlws_flow.domain.states import TERMINAL_STATES, JobStatus, advance
from dlws_flow.store import outbox
from dlws_flow.store.models import JobEventRow, JobRow, utcnow
from dlws_flow.store.models_sweeps import SweepRow

#: Rows per statement: well inside every database's limit on bound parameters.
BATCH = 900


def _batches(values: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), BATCH):
        yield values[start:start + BATCH]


def transition_many(session: Session, uuids: Sequence[str], old: JobStatus | str, new: JobStatus | str,
                    message: str, **fields: Any) -> list[str]:
    """Move each job of ``uuids`` still in ``old`` to ``new`` and record the event; returns the ones moved."""
    advance(old, new)
    now = utcnow()
    values: dict[str, Any] = {"status": str(new), "last_message": message, "last_updated": now, **fields}
    if JobStatus(new) in TERMINAL_STATES:
        values.setdefault("ended", now)
    moved: list[str] = []
    subscribed_jobs: list[str] = []
    for batch in _batches(list(uuids)):
        result = session.execute(update(JobRow).where(JobRow.uuid.in_(batch), JobRow.status == str(old))
                                 .values(**values).returning(JobRow.uuid, JobRow.subscribed)
                                 .execution_options(synchronize_session=False))
        for uuid, subscribed in result.all():
            moved.append(uuid)
            if subscribed:
                subscribed_jobs.append(uuid)
    if not moved:
        return moved
    session.execute(insert(JobEventRow), [
        {"job_uuid": uuid, "event": "JOB_NEW_STATUS", "old_status": str(old), "new_status": str(new),
         "message": message, "created": now} for uuid in moved])
    for uuid in subscribed_jobs:  # the outbox, for the (few) jobs some subscription names
        outbox.record_event(session, uuid, "JOB_NEW_STATUS", str(old), str(new), message, now=now)
    return moved


def update_jobs(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Set per-job fields: each dict has ``uuid`` and the fields of that job."""
    if rows:
        now = utcnow()
        session.execute(update(JobRow), [{**row, "last_updated": now} for row in rows])


def array_elements(session: Session, sweep_id: str, statuses: Iterable[str]) -> Sequence[JobRow]:
    """The sweep's elements its array launch drives, in ``statuses``, by index."""
    return session.scalars(select(JobRow).where(JobRow.sweep_id == sweep_id, JobRow.in_array.is_(True),
                                                JobRow.status.in_(list(statuses)))
                           .order_by(JobRow.sweep_index)).all()


def array_dirs(session: Session, sweep_ids: Iterable[str]) -> dict[str, str]:
    """Slurm array id -> the directory of its per-task links, for the arrays of ``sweep_ids``."""
    dirs: dict[str, str] = {}
    wanted = sorted(set(sweep_ids))
    if wanted:
        for arrays in session.scalars(select(SweepRow.arrays).where(SweepRow.id.in_(wanted))):
            for entry in arrays or []:
                if entry.get("id"):
                    dirs[entry["id"]] = entry["dir"]
    return dirs


def active_sweep_element(session: Session, sweep_id: str, statuses: Iterable[str]) -> JobRow | None:
    """One element of the sweep in ``statuses`` (the oldest submitted), or None when none is."""
    return session.scalars(select(JobRow).where(JobRow.sweep_id == sweep_id, JobRow.status.in_(list(statuses)))
                           .order_by(JobRow.remote_submitted, JobRow.sweep_index).limit(1)).first()


def any_sweep_element(session: Session, sweep_id: str) -> JobRow | None:
    return session.scalars(select(JobRow).where(JobRow.sweep_id == sweep_id).order_by(JobRow.sweep_index)
                           .limit(1)).first()


def array_element_ids(session: Session, sweep_id: str) -> list[str]:
    """The sweep's elements its job arrays drive (not the ones that left them)."""
    return list(session.scalars(select(JobRow.uuid).where(JobRow.sweep_id == sweep_id, JobRow.in_array.is_(True))))


def sweep_last_change(session: Session, sweep_id: str) -> datetime:
    """When any element of the sweep last changed."""
    return session.scalar(select(func.max(JobRow.last_updated)).where(JobRow.sweep_id == sweep_id)) or utcnow()
