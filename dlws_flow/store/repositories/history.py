"""Writes to ``app_events``: an app's history (a system's is ``system_events``, in :mod:`.systems`)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from dlws_flow.store.models import AppEventRow


def add_app_event(session: Session, app_id: str, version: str | None, tenant: str, username: str | None,
                  operation: str, description: str) -> None:
    """One entry of the app's history (``GET /v3/apps/{id}/history``)."""
    session.add(AppEventRow(app_id=app_id, app_version=version, tenant=tenant, username=username,
                            operation=operation, description=description))


def app_history(session: Session, app_id: str) -> Sequence[AppEventRow]:
    return session.scalars(select(AppEventRow).where(AppEventRow.app_id == app_id).order_by(AppEventRow.id)).all()
