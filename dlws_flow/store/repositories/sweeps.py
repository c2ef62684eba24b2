"""Writes to ``sweeps`` (a sweep's elements are ``jobs`` rows with its ``sweep_id``, written by :mod:`.jobs`)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from dlws_flow.errors import NotFoundError
from dlws_flow.store.models import JobRow
from dlws_flow.store.models_sweeps import SweepRow


def add_sweep(session: Session, row: SweepRow) -> SweepRow:
    session.add(row)
    session.flush()
    return row


def delete_sweep(session: Session, sweep_id: str) -> None:
    """A sweep none of whose elements was made (its first one was refused)."""
    session.execute(delete(SweepRow).where(SweepRow.id == sweep_id))


def get_sweep(session: Session, sweep_id: str) -> SweepRow:
    row = session.get(SweepRow, sweep_id)
    if row is None:
        raise NotFoundError(f"sweep {sweep_id} not found")
    return row


def sweeps_of(session: Session, owner: str | None, limit: int, skip: int) -> Sequence[SweepRow]:
    """Newest first; every user's for ``owner=None`` (an admin)."""
    query = select(SweepRow).order_by(SweepRow.created.desc(), SweepRow.id)
    if owner is not None:
        query = query.where(SweepRow.owner == owner)
    return session.scalars(query.offset(skip).limit(limit)).all()


def sweep_elements(session: Session, sweep_id: str) -> Sequence[tuple[str, int, str]]:
    """(uuid, index, status) of each element, in index order."""
    return session.execute(select(JobRow.uuid, JobRow.sweep_index, JobRow.status)
                           .where(JobRow.sweep_id == sweep_id).order_by(JobRow.sweep_index)).all()


def sweep_status_counts(session: Session, sweep_id: str) -> dict[str, int]:
    rows = session.execute(select(JobRow.status, func.count()).where(JobRow.sweep_id == sweep_id)
                           .group_by(JobRow.status)).all()
    return {status: count for status, count in rows}


def set_sweep_launch(session: Session, sweep_id: str, launch: str) -> None:
    session.execute(update(SweepRow).where(SweepRow.id == sweep_id).values(launch=launch))


def set_sweep_arrays(session: Session, sweep_id: str, arrays: list[dict]) -> None:
    """The job arrays the sweep goes out as (``engine.sweep_launch``), ids filled in once submitted."""
    session.execute(update(SweepRow).where(SweepRow.id == sweep_id).values(arrays=arrays)
                    .execution_options(synchronize_session=False))
