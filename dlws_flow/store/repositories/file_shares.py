"""Writes to ``file_shares``: paths of systems shared with named users or with the whole tenant."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from dlws_flow.store.models import FileShareRow

#: The ``username`` of a public share (no user is named "").
PUBLIC_SHARE = ""


def add_file_shares(session: Session, system_id: str, path: str, usernames: Iterable[str], *, tenant: str,
                    shared_by: str) -> None:
    """Share ``path`` with each of ``usernames`` (``PUBLIC_SHARE`` for everyone) not already holding it."""
    for username in usernames:
        if session.get(FileShareRow, (system_id, path, username)) is None:
            session.add(FileShareRow(system_id=system_id, path=path, username=username, tenant=tenant,
                                     shared_by=shared_by))


def delete_file_shares(session: Session, system_id: str, path: str, usernames: Iterable[str] | None = None, *,
                       below: bool = False) -> None:
    """Remove the shares of exactly ``path`` (and with ``below``, of every path under it): only those of
    ``usernames`` when given, otherwise all of them, public included."""
    query = delete(FileShareRow).where(FileShareRow.system_id == system_id)
    if below and path:
        escaped = path.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(or_(FileShareRow.path == path, FileShareRow.path.like(escaped + "/%", escape="\\")))
    elif not below:
        query = query.where(FileShareRow.path == path)
    if usernames is not None:
        query = query.where(FileShareRow.username.in_(list(usernames)))
    session.execute(query.execution_options(synchronize_session="fetch"))


def delete_file_shares_on(session: Session, system_id: str) -> None:
    """Remove every share of a system's paths (the system is gone, re-created or given away)."""
    session.execute(delete(FileShareRow).where(FileShareRow.system_id == system_id)
                    .execution_options(synchronize_session="fetch"))


def file_shares_of(session: Session, system_id: str, usernames: Iterable[str] | None = None) -> list[FileShareRow]:
    """The shares of a system's paths, all of them or only those naming ``usernames``."""
    query = select(FileShareRow).where(FileShareRow.system_id == system_id)
    if usernames is not None:
        query = query.where(FileShareRow.username.in_(list(usernames)))
    return list(session.scalars(query.order_by(FileShareRow.path, FileShareRow.username)))
