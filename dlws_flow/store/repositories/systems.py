"""Writes to ``systems`` and ``system_events``: registering, replacing and re-creating a system record,
enabling, deleting and giving it away, its host key (pinned on first use with a compare-and-set, a changed
key offered, the offer accepted), its history, and the row lock that serialises job-limit counts
(``engine.limits``).

``host_key`` is the key in force: the record's ``hostKey`` when one was given (the two stay equal: accepting
an offered key replaces both), else the key pinned at the first connection, else None (not yet connected).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from dlws_flow.domain.records import SystemSpec
from dlws_flow.errors import ConflictError, NotFoundError
from dlws_flow.store.models import SystemEventRow, SystemRow
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
    key = spec.hostKey or _kept_pin(row, spec)
    if key != row.host_key or row.deleted:
        row.offered_host_key = None
    row.tenant, row.owner, row.host, row.port = tenant, owner, spec.host, spec.port
    row.enabled, row.deleted, row.host_key, row.spec = spec.enabled, False, key, data
    if spec.authnCredential is not None:
        set_credential(session, spec.id, owner, spec.authnCredential, static_login(spec))
    session.flush()
    return row


def _kept_pin(row: SystemRow, spec: SystemSpec) -> str | None:
    """A record without ``hostKey`` that replaces a live one of the same host and port keeps the key in force:
    a PUT or PATCH of other fields never unpins it. A new host, or a new record, is trusted on first use again."""
    if row.deleted or row.host != spec.host or row.port != spec.port:
        return None
    return row.host_key


def pin_host_key(session: Session, system_id: str, key: str) -> bool:
    """Pin ``key`` as the system's host key if it still has none (compare-and-set: of two first connections
    racing, one pins). Returns whether this call pinned it; the key in force is ``host_key_of``'s."""
    result = session.execute(update(SystemRow).where(SystemRow.id == system_id, SystemRow.host_key.is_(None),
                                                     SystemRow.deleted.is_(False))
                             .values(host_key=key, offered_host_key=None).execution_options(synchronize_session=False))
    return result.rowcount == 1


def host_key_of(session: Session, system_id: str) -> tuple[str | None, str | None]:
    """(the key in force, the key a changed host offered) as stored now."""
    row = session.execute(select(SystemRow.host_key, SystemRow.offered_host_key).where(SystemRow.id == system_id)).first()
    return (row[0], row[1]) if row else (None, None)


def offer_host_key(session: Session, system_id: str, key: str) -> bool:
    """Record the key a changed host offered (what accepting would pin). Returns whether it is a new offer."""
    result = session.execute(update(SystemRow).where(SystemRow.id == system_id, SystemRow.deleted.is_(False), or_(
        SystemRow.offered_host_key.is_(None), SystemRow.offered_host_key != key)).values(offered_host_key=key)
        .execution_options(synchronize_session=False))
    return result.rowcount == 1


def accept_offered_host_key(session: Session, row: SystemRow) -> str:
    """Pin the offered key (the record's given ``hostKey`` too, if it has one). Returns the key now in force."""
    key = row.offered_host_key
    if key is None:
        raise NotFoundError(f"system {row.id} has no offered host key to accept")
    row.host_key, row.offered_host_key = key, None
    if row.spec.get("hostKey"):
        row.spec = {**row.spec, "hostKey": key}
    session.flush()
    return key


def set_system_parent(session: Session, row: SystemRow, parent_id: str | None) -> int:
    """Link a child system to its parent, or unlink it (``None``); 1 if that changed anything."""
    if row.parent_id == parent_id:
        return 0
    row.parent_id = parent_id
    session.flush()
    return 1


def child_systems(session: Session, parent_id: str) -> Sequence[SystemRow]:
    """The live systems linked to ``parent_id``."""
    return session.scalars(select(SystemRow).where(SystemRow.parent_id == parent_id, SystemRow.deleted.is_(False))
                           .order_by(SystemRow.id)).all()


def add_system_event(session: Session, system_id: str, tenant: str, username: str | None, operation: str,
                     description: str) -> None:
    """One entry of the system's history (``GET /v3/systems/{id}/history``)."""
    session.add(SystemEventRow(system_id=system_id, tenant=tenant, username=username, operation=operation,
                               description=description))


def system_history(session: Session, system_id: str) -> Sequence[SystemEventRow]:
    return session.scalars(select(SystemEventRow).where(SystemEventRow.system_id == system_id)
                           .order_by(SystemEventRow.id)).all()


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
