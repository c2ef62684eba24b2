"""Writes to ``apps``: one row per (app id, version)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from dlws_flow.domain.records import AppSpec
from dlws_flow.errors import ConflictError, NotFoundError
from dlws_flow.store.models import AppRow


def add_app(session: Session, spec: AppSpec, owner: str, tenant: str, *, replace: bool = False) -> AppRow:
    row = session.get(AppRow, (spec.id, spec.version))
    if row is not None and not row.deleted and not replace:
        raise ConflictError(f"app {spec.id} version {spec.version} already exists")
    data = spec.model_dump(mode="json")
    data["owner"] = owner
    if row is None:
        row = AppRow(id=spec.id, version=spec.version)
        session.add(row)
    row.tenant, row.owner, row.enabled, row.deleted, row.spec = tenant, owner, spec.enabled, False, data
    session.flush()
    return row


def get_app(session: Session, app_id: str, version: str | None = None) -> AppRow:
    query = select(AppRow).where(AppRow.id == app_id, AppRow.deleted.is_(False))
    if version:
        query = query.where(AppRow.version == version)
    rows = session.scalars(query).all()
    if not rows:
        raise NotFoundError(f"app {app_id}" + (f" version {version}" if version else "") + " not found")
    return max(rows, key=lambda r: r.created)


def list_apps(session: Session) -> Sequence[AppRow]:
    return session.scalars(select(AppRow).where(AppRow.deleted.is_(False)).order_by(AppRow.id, AppRow.version)).all()
