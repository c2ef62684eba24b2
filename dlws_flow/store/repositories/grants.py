"""Writes to ``grants``: the permissions users hold on resources other users own."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import delete
from sqlalchemy.orm import Session

from dlws_flow.store.models import GrantRow


def delete_grants_on(session: Session, kinds: Iterable[str], resource_id: str) -> None:
    """Remove every grant of the given kinds (``system``, ``file``, ...) on one resource, whoever holds it."""
    session.execute(delete(GrantRow).where(GrantRow.kind.in_(tuple(kinds)), GrantRow.resource_id == resource_id)
                    .execution_options(synchronize_session="fetch"))
