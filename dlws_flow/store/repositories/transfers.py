"""Writes to ``transfer_tasks``, ``transfer_parents`` and ``transfer_children`` (``engine.transfers`` runs them).

Every change a worker makes to a parent or its children is guarded by the parent's lease: the functions that
take a ``holder`` change nothing (and return False) once another worker has taken the parent over, so a
worker that was presumed dead and wakes up cannot overwrite what its successor recorded.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, or_, select, update
from sqlalchemy.orm import Session

from dlws_flow.domain.transfers import ACTIVE, TERMINAL
from dlws_flow.errors import NotFoundError
from dlws_flow.store.models_transfers import TransferChildRow, TransferParentRow, TransferTaskRow

_ACTIVE = [s.value for s in ACTIVE]
_TERMINAL = [s.value for s in TERMINAL]


def add_transfer(session: Session, task: TransferTaskRow, parents: Sequence[TransferParentRow]) -> TransferTaskRow:
    """Insert a task and its parents; their ids are set on return."""
    session.add(task)
    session.flush()
    for parent in parents:
        parent.task_id = task.id
        session.add(parent)
    session.flush()
    return task


def get_transfer(session: Session, task_uuid: str) -> TransferTaskRow:
    row = session.scalars(select(TransferTaskRow).where(TransferTaskRow.uuid == task_uuid)).first()
    if row is None:
        raise NotFoundError(f"transfer task {task_uuid} not found")
    return row


def list_transfers(session: Session, username: str, limit: int, offset: int) -> list[TransferTaskRow]:
    """``username``'s tasks, newest first."""
    query = (select(TransferTaskRow).where(TransferTaskRow.username == username)
             .order_by(TransferTaskRow.created.desc(), TransferTaskRow.id.desc()).offset(offset))
    return list(session.scalars(query.limit(limit) if limit >= 0 else query))


def transfer_parents(session: Session, task_ids: Sequence[int]) -> list[TransferParentRow]:
    return list(session.scalars(select(TransferParentRow).where(TransferParentRow.task_id.in_(task_ids))
                                .order_by(TransferParentRow.id)))


def transfer_children(session: Session, parent_ids: Sequence[int]) -> list[TransferChildRow]:
    return list(session.scalars(select(TransferChildRow).where(TransferChildRow.parent_id.in_(parent_ids))
                                .order_by(TransferChildRow.id)))


def child_counts(session: Session, task_ids: Sequence[int]) -> dict[int, tuple[int, int]]:
    """task id -> (children, completed children)."""
    done = func.sum(case((TransferChildRow.status == "COMPLETED", 1), else_=0))
    rows = session.execute(select(TransferChildRow.task_id, func.count(), done)
                           .where(TransferChildRow.task_id.in_(task_ids)).group_by(TransferChildRow.task_id))
    return {task_id: (total, int(completed or 0)) for task_id, total, completed in rows}


def claim_transfer_parent(session: Session, parent_id: int, token: str, holder: str, now: datetime,
                          until: datetime) -> bool:
    """Take the parent's lease for ``holder``: when it was handed to ``token`` (the message being run) or its
    lease expired. True for exactly one caller; counts a run."""
    result = session.execute(
        update(TransferParentRow)
        .where(TransferParentRow.id == parent_id, TransferParentRow.status.in_(_ACTIVE),
               or_(TransferParentRow.lease_holder == token, TransferParentRow.lease_expires.is_(None),
                   TransferParentRow.lease_expires < now))
        .values(lease_holder=holder, lease_expires=until, runs=TransferParentRow.runs + 1)
        .execution_options(synchronize_session=False))
    return result.rowcount == 1


def update_transfer_parent(session: Session, parent_id: int, holder: str, **values: Any) -> bool:
    """Set ``values`` on the parent while ``holder`` still holds it and it is not final (cancelled)."""
    result = session.execute(update(TransferParentRow)
                             .where(TransferParentRow.id == parent_id, TransferParentRow.lease_holder == holder,
                                    TransferParentRow.status.in_(_ACTIVE))
                             .values(**values).execution_options(synchronize_session=False))
    return result.rowcount == 1


def add_transfer_children(session: Session, children: Sequence[TransferChildRow]) -> None:
    session.add_all(children)
    session.flush()


def update_transfer_child(session: Session, child_id: int, **values: Any) -> None:
    """Record a child's progress or end (callers renewed the parent's lease in the same transaction)."""
    session.execute(update(TransferChildRow).where(TransferChildRow.id == child_id).values(**values)
                    .execution_options(synchronize_session=False))


def finish_transfer_task(session: Session, task_id: int, status: str, now: datetime, error: str | None) -> bool:
    """Move a task that is not final yet to its final ``status``."""
    result = session.execute(update(TransferTaskRow)
                             .where(TransferTaskRow.id == task_id, TransferTaskRow.status.not_in(_TERMINAL))
                             .values(status=status, end_time=now, error_message=error)
                             .execution_options(synchronize_session=False))
    return result.rowcount == 1


def start_transfer_task(session: Session, task_id: int, now: datetime) -> None:
    session.execute(update(TransferTaskRow)
                    .where(TransferTaskRow.id == task_id, TransferTaskRow.status == "ACCEPTED")
                    .values(status="IN_PROGRESS", start_time=now).execution_options(synchronize_session=False))


def cancel_transfer(session: Session, task_id: int, now: datetime) -> bool:
    """Cancel a task that is not final, with its parents and children that are not; False if it was final."""
    if not finish_transfer_task(session, task_id, "CANCELLED", now, None):
        return False
    for model in (TransferParentRow, TransferChildRow):
        session.execute(update(model).where(model.task_id == task_id, model.status.not_in(_TERMINAL))
                        .values(status="CANCELLED", end_time=now).execution_options(synchronize_session=False))
    return True


def stalled_transfer_parents(session: Session, now: datetime) -> list[TransferParentRow]:
    """Parents not final whose lease expired: their worker died, or their message was lost."""
    return list(session.scalars(select(TransferParentRow).where(
        TransferParentRow.status.in_(_ACTIVE), TransferParentRow.lease_expires < now)))


def hand_transfer_parent(session: Session, parent: TransferParentRow, token: str, until: datetime) -> bool:
    """Compare-and-set an expired lease (still what ``parent`` was read with) to ``token`` until ``until``: the
    message the reconciler sends names ``token``, so it may claim the parent at once and nobody else may."""
    result = session.execute(update(TransferParentRow)
                             .where(TransferParentRow.id == parent.id,
                                    TransferParentRow.lease_expires == parent.lease_expires)
                             .values(lease_holder=token, lease_expires=until)
                             .execution_options(synchronize_session=False))
    return result.rowcount == 1
