"""Writes to ``grants``: the permissions users hold on resources other users own."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import delete
from sqlalchemy.orm import Session

from dlws_flow.store.models import GrantRow


def add_grants(session: Session, kind: str, resource_id: str, username: str, permissions: Iterable[str], *,
               path: str, granted_by: str) -> None:
    """Grant ``username`` each permission on a resource (on ``path`` of it for files) not already held."""
    for permission in permissions:
        if session.get(GrantRow, (kind, resource_id, path, username, permission)) is None:
            session.add(GrantRow(kind=kind, resource_id=resource_id, path=path, username=username,
                                 permission=permission, granted_by=granted_by))


def delete_grants(session: Session, kind: str, resource_id: str, username: str, *, path: str | None = None,
                  permissions: Iterable[str] | None = None) -> None:
    """Remove ``username``'s grants on a resource: only those on ``path`` when given, only ``permissions`` when
    given, otherwise all of them."""
    query = delete(GrantRow).where(GrantRow.kind == kind, GrantRow.resource_id == resource_id,
                                   GrantRow.username == username)
    if path is not None:
        query = query.where(GrantRow.path == path)
    if permissions is not None:
        query = query.where(GrantRow.permission.in_(list(permissions)))
    session.execute(query)


def delete_grants_on(session: Session, kinds: Iterable[str], resource_id: str) -> None:
    """Remove every grant of the given kinds (``system``, ``file``, ...) on one resource, whoever holds it."""
    session.execute(delete(GrantRow).where(GrantRow.kind.in_(tuple(kinds)), GrantRow.resource_id == resource_id)
                    .execution_options(synchronize_session="fetch"))
