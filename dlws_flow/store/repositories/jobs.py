"""Writes to ``jobs`` and ``job_events``: inserting a job, its status changes, its events and whether lists show it.

Status changes go through :func:`transition`, a compare-and-set UPDATE (``WHERE status = old``) plus
a history row in the same transaction. Two workers (or a worker and a cancel request) racing on one
job therefore cannot both win: the loser sees ``False`` and re-reads the job.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from dlws_flow.domain.states import TERMINAL_STATES, JobStatus, advance
from dlws_flow.errors import NotFoundError, ValidationError
from dlws_flow.store import outbox
from dlws_flow.store.models import JobEventRow, JobRow, utcnow


def insert_job(session: Session, row: JobRow) -> JobRow:
    session.add(row)
    try:
        session.flush()  # the job row first: the event row's foreign key needs it
    except IntegrityError as exc:
        raise ValidationError(f"job {row.uuid} already exists") from exc
    # Rows that refer to the job (this event, its family) go out together at the next flush or commit.
    session.add(JobEventRow(job_uuid=row.uuid, event="JOB_NEW_STATUS", old_status=None, new_status=row.status,
                            message="Job created and queued for processing", created=row.created))
    return row


def get_job(session: Session, uuid: str) -> JobRow:
    row = session.get(JobRow, uuid)
    if row is None:
        raise NotFoundError(f"job {uuid} not found")
    return row


def list_jobs(session: Session, *, owner: str | None = None, status: Iterable[str] | None = None,
              limit: int = 100, skip: int = 0, include_hidden: bool = False) -> Sequence[JobRow]:
    query = select(JobRow)
    if owner:
        query = query.where(JobRow.owner == owner)
    if status:
        query = query.where(JobRow.status.in_(list(status)))
    if not include_hidden:
        query = query.where(JobRow.visible.is_(True))
    return session.scalars(query.order_by(JobRow.created.desc()).offset(skip).limit(limit)).all()


def job_history(session: Session, uuid: str) -> Sequence[JobEventRow]:
    return session.scalars(select(JobEventRow).where(JobEventRow.job_uuid == uuid).order_by(JobEventRow.id)).all()


def transition(session: Session, uuid: str, old: JobStatus | str, new: JobStatus | str, message: str,
               **fields: Any) -> bool:
    """Move a job from ``old`` to ``new`` if it is still in ``old``; record the event. Returns success."""
    advance(old, new)
    now = utcnow()
    values: dict[str, Any] = {"status": str(new), "last_message": message, "last_updated": now, **fields}
    if JobStatus(new) in TERMINAL_STATES:
        values.setdefault("ended", now)
    moved = session.execute(update(JobRow).where(JobRow.uuid == uuid, JobRow.status == str(old)).values(**values)
                            .returning(JobRow.subscribed).execution_options(synchronize_session=False)).first()
    if moved is None:
        return False
    session.add(JobEventRow(job_uuid=uuid, event="JOB_NEW_STATUS", old_status=str(old), new_status=str(new),
                            message=message, created=now))
    if moved.subscribed:  # the outbox, only for a job some subscription names
        outbox.record_event(session, uuid, "JOB_NEW_STATUS", str(old), str(new), message, now=now)
    session.flush()
    return True


def update_job_fields(session: Session, uuid: str, **fields: Any) -> None:
    session.execute(update(JobRow).where(JobRow.uuid == uuid).values(last_updated=utcnow(), **fields)
                    .execution_options(synchronize_session=False))


def stamp_stalled_job(session: Session, uuid: str, status: str, stalled_before: datetime, now: datetime) -> bool:
    """Compare-and-set ``last_updated`` of a job still in ``status`` and unchanged since ``stalled_before``:
    true for exactly one caller (the reconciler sweep that re-enqueues its stage)."""
    stamped = session.execute(update(JobRow).where(JobRow.uuid == uuid, JobRow.status == status,
                                                   JobRow.last_updated < stalled_before)
                              .values(last_updated=now).execution_options(synchronize_session=False))
    return stamped.rowcount == 1


def set_job_visible(session: Session, row: JobRow, visible: bool) -> int:
    """Hide a job from lists, or show it again. Returns 1 when that changed it, else 0."""
    changed = int(row.visible != visible)
    row.visible = visible
    return changed


def add_job_event(session: Session, uuid: str, event: str, message: str) -> None:
    now = utcnow()
    session.add(JobEventRow(job_uuid=uuid, event=event, message=message, created=now))
    outbox.record_event(session, uuid, event, None, None, message, now=now)


def active_remote_jobs(session: Session, system_id: str, statuses: Iterable[str]) -> Sequence[JobRow]:
    return session.scalars(select(JobRow).where(JobRow.exec_system_id == system_id,
                                                JobRow.status.in_(list(statuses)),
                                                JobRow.remote_job_id.is_not(None))).all()


def latest_remote_change(session: Session, system_id: str, login: str, statuses: Iterable[str]) -> datetime | None:
    """When the most recently changed active job of (system, login) reached its state (started, if running;
    else reached the queue; else its last update): how young the pair's youngest job is, in one row."""
    since = case((JobRow.status == "RUNNING", func.coalesce(JobRow.remote_started, JobRow.last_updated)),
                 else_=func.coalesce(JobRow.remote_submitted, JobRow.last_updated))
    return session.scalar(select(func.max(since)).where(
        JobRow.exec_system_id == system_id, JobRow.status.in_(list(statuses)), JobRow.remote_job_id.is_not(None),
        func.coalesce(JobRow.exec_login, JobRow.owner) == login))


def when(value: datetime | None) -> str | None:
    return value.isoformat() if value else None
