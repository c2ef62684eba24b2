"""Writes to ``postits``. A use is taken by one compare-and-set UPDATE, so two redeems racing for the last use
cannot both win: the database decides, not a read followed by a write."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from dlws_flow.errors import NotFoundError
from dlws_flow.store.models import utcnow
from dlws_flow.store.models_transfers import PostItRow


def add_postit(session: Session, row: PostItRow) -> PostItRow:
    session.add(row)
    session.flush()
    return row


def get_postit(session: Session, postit_id: str) -> PostItRow:
    row = session.get(PostItRow, postit_id)
    if row is None:
        raise NotFoundError(f"PostIt {postit_id} not found")
    return row


def list_postits(session: Session, tenant: str, owner: str | None) -> list[PostItRow]:
    """The tenant's PostIts, or only ``owner``'s."""
    query = select(PostItRow).where(PostItRow.tenant == tenant)
    if owner is not None:
        query = query.where(PostItRow.owner == owner)
    return list(session.scalars(query.order_by(PostItRow.created, PostItRow.id)))


def update_postit(session: Session, postit_id: str, **values: Any) -> None:
    session.execute(update(PostItRow).where(PostItRow.id == postit_id).values(**values, updated=utcnow())
                    .execution_options(synchronize_session=False))


def delete_postit(session: Session, postit_id: str) -> int:
    row = session.get(PostItRow, postit_id)
    if row is None:
        return 0
    session.delete(row)
    return 1


def take_postit_use(session: Session, postit_id: str, now: datetime) -> bool:
    """Count one use if the PostIt has one left and has not expired: true for as many callers as it had uses."""
    result = session.execute(
        update(PostItRow)
        .where(PostItRow.id == postit_id, PostItRow.expiration > now,
               or_(PostItRow.allowed_uses == -1, PostItRow.times_used < PostItRow.allowed_uses))
        .values(times_used=PostItRow.times_used + 1).execution_options(synchronize_session=False))
    return result.rowcount == 1


def return_postit_use(session: Session, postit_id: str) -> None:
    """Give back a use whose download failed (the host was down): the holder did not get the file."""
    session.execute(update(PostItRow).where(PostItRow.id == postit_id, PostItRow.times_used > 0)
                    .values(times_used=PostItRow.times_used - 1).execution_options(synchronize_session=False))
