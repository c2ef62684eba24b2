"""Writes to ``systems``: registering, replacing and re-creating a system record, enabling, deleting and
giving it away, and the row lock that serialises job-limit counts (``engine.limits``)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from dlws_flow.domain.records import SystemSpec
from dlws_flow.errors import ConflictError, NotFoundError
from dlws_flow.store.models import SystemRow
from dlws_flow.store.repositories.credentials import forget_system_access, set_credential


def add_system(session: Session, spec: SystemSpec, owner: str, tenant: str, *, replace: bool = False) -> SystemRow:
    """Insert a system, replace a live one (``replace``), or bring a deleted id back as a new record.

    A new or re-created id starts with no stored credential and no grant: whatever the id's earlier record
    left behind (a deleted system's logins, its shares) never reaches its new owner or anyone else.
    """
    row = session.get(SystemRow, spec.id)
    if row is not None and not row.deleted and not replace:
        raise ConflictError(f"system {spec.id} already exists")
    if row is None or row.deleted:
        forget_system_access(session, spec.id)
    data = spec.public_dict()
    data["owner"] = owner
    if row is None:
        row = SystemRow(id=spec.id)
        session.add(row)
    row.tenant, row.owner, row.host, row.port = tenant, owner, spec.host, spec.port
    row.enabled, row.deleted, row.host_key, row.spec = spec.enabled, False, spec.hostKey, data
    if spec.authnCredential is not None:
        set_credential(session, spec.id, owner, spec.authnCredential, static_login(spec))
    session.flush()
    return row


def static_login(spec: SystemSpec) -> str | None:
    """The one login every user of the system shares, or None when each logs in as themselves (``${apiUserId}``)."""
    return None if spec.effectiveUserId == "${apiUserId}" else spec.effectiveUserId


def get_system(session: Session, system_id: str) -> SystemRow:
    row = session.get(SystemRow, system_id)
    if row is None or row.deleted:
        raise NotFoundError(f"system {system_id} not found")
    return row


def system_spec(row: SystemRow) -> SystemSpec:
    return SystemSpec.model_validate({**row.spec, "hostKey": row.host_key})


def list_systems(session: Session) -> Sequence[SystemRow]:
    return session.scalars(select(SystemRow).where(SystemRow.deleted.is_(False)).order_by(SystemRow.id)).all()


def set_system_enabled(session: Session, row: SystemRow, enabled: bool) -> int:
    """Enable or disable a system (its record's ``enabled`` too). Returns 1 when that changed it, else 0."""
    changed = int(row.enabled != enabled)
    row.enabled = enabled
    row.spec = {**row.spec, "enabled": enabled}
    return changed


def set_system_deleted(session: Session, row: SystemRow, deleted: bool) -> int:
    """Delete (soft: the row stays) or undelete a system. Returns 1 when that changed it, else 0."""
    changed = int(row.deleted != deleted)
    row.deleted = deleted
    return changed


def set_system_owner(session: Session, row: SystemRow, new_owner: str) -> None:
    """Give a system to ``new_owner`` (its stored logins and grants are the caller's to remove)."""
    row.owner = new_owner
    row.spec = {**row.spec, "owner": new_owner}


def lock_system_row(session: Session, system_id: str) -> None:
    """Write the system's row without changing it: on PostgreSQL this locks the row until commit, on SQLite it
    takes the database's write lock, so counts read afterwards in the transaction cannot change under it."""
    session.execute(update(SystemRow).where(SystemRow.id == system_id).values(port=SystemRow.port)
                    .execution_options(synchronize_session=False))
