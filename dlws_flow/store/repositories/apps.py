"""Writes to ``apps``: one row per (app id, version)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

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


def app_versions(session: Session, app_id: str, *, include_deleted: bool = False) -> list[AppRow]:
    """The live versions of an app id, or (``include_deleted``) every version it has."""
    query = select(AppRow).where(AppRow.id == app_id)
    if not include_deleted:
        query = query.where(AppRow.deleted.is_(False))
    return list(session.scalars(query))


def set_app_enabled(session: Session, app_id: str, enabled: bool, version: str | None = None) -> int:
    """Enable or disable the live versions of an app (only ``version`` when given). Returns how many changed."""
    changed = 0
    for row in app_versions(session, app_id):
        if version is None or row.version == version:
            changed += int(row.enabled != enabled)
            row.enabled = enabled
    return changed


def set_app_locked(session: Session, row: AppRow, locked: bool) -> int:
    """Lock an app version against changes, or unlock it. Returns 1 when that changed it, else 0."""
    changed = int(bool(row.spec.get("locked")) != locked)
    row.spec = {**row.spec, "locked": locked}
    return changed


def set_apps_deleted(session: Session, rows: Iterable[AppRow], deleted: bool) -> int:
    """Delete (soft: the rows stay) or undelete app versions. Returns how many changed."""
    changed = 0
    for row in rows:
        changed += int(row.deleted != deleted)
        row.deleted = deleted
    return changed


def set_app_owner(session: Session, app_id: str, new_owner: str) -> None:
    """Give every version of an app id, deleted ones too, to ``new_owner``."""
    for row in app_versions(session, app_id, include_deleted=True):
        row.owner = new_owner
        row.spec = {**row.spec, "owner": new_owner}
