"""Systems as their users see them: create, read, change, enable/disable, delete, credentials, permissions,
sharing. Every call names the caller (``Principal``); rules are in ``services.permissions``."""

from __future__ import annotations

from typing import Any

from dlws_flow.domain.records import Credential, SystemSpec
from dlws_flow.errors import ConflictError, NotFoundError, PermissionDeniedError, ValidationError
from dlws_flow.services import permissions as perms
from dlws_flow.services.auth import Principal, user_exists
from dlws_flow.services.catalog import parse_system, pydantic_message
from dlws_flow.store import repositories as repo
from dlws_flow.store.db import session_scope
from dlws_flow.store.models import SystemRow

#: Fields a PATCH may change (Tapis: not id, owner, systemType, or the credential).
PATCHABLE = {"description", "host", "port", "effectiveUserId", "defaultAuthnMethod", "rootDir", "jobWorkingDir",
             "canExec", "canRunBatch", "batchScheduler", "batchLogicalQueues", "batchDefaultLogicalQueue",
             "batchSchedulerProfile", "schedulerProfiles", "jobEnvVariables", "jobMaxJobs", "jobMaxJobsPerUser",
             "jobRuntimes", "tags", "notes", "hostKey", "enableCmdPrefix", "jobCapabilities", "mpiCmd", "proxyHost",
             "proxyPort", "useProxy", "dtnSystemId", "isDtn", "importRefId", "allowChildren"}


def worker_queue(system: SystemSpec) -> str:
    """The Celery queue the system's job stages go to."""
    from dlws_flow.settings import get_settings

    return system.workerQueue or get_settings().queue


def _visible(session, principal: Principal, system_id: str, permission: str = "READ") -> SystemRow:
    row = repo.get_system(session, system_id)
    perms.require(session, principal, "system", row.id, row.owner, permission, what=f"system {system_id}")
    return row


def public_view(row: SystemRow) -> dict[str, Any]:
    data = dict(row.spec)
    data.pop("authnCredential", None)
    data.update({"owner": row.owner, "enabled": row.enabled, "deleted": row.deleted, "tenant": row.tenant,
                 "created": repo.when(row.created), "updated": repo.when(row.updated)})
    return data


def create(principal: Principal, data: dict[str, Any], *, skip_credential_check: bool = True) -> dict[str, Any]:
    spec = parse_system({**data, "owner": principal.username})
    _local_needs_admin(principal, spec)
    if spec.transport == "SSH" and not spec.hostKey:
        raise ValidationError(f"system {spec.id}: give hostKey, the host's public key line (ssh-keyscan prints it)")
    with session_scope() as session:
        existing = session.get(SystemRow, spec.id)
        if existing is not None and not existing.deleted:
            raise ConflictError(f"system {spec.id} already exists")
        if existing is not None:
            perms.revoke_all(session, "system", spec.id)  # a re-created id starts with no grants
        row = repo.add_system(session, spec, principal.username, principal.tenant, replace=True)
        return public_view(row)


def _local_needs_admin(principal: Principal, spec: SystemSpec) -> None:
    # A LOCAL system runs commands as the worker's own account: only an admin may register one.
    if spec.transport == "LOCAL" and not principal.is_admin:
        raise PermissionDeniedError("only an admin may register a LOCAL (this machine) system")


def get(principal: Principal, system_id: str) -> dict[str, Any]:
    with session_scope() as session:
        return public_view(_visible(session, principal, system_id))


def list_for(principal: Principal, *, include_disabled: bool = True, search: dict[str, str] | None = None,
             limit: int | None = None, skip: int = 0) -> list[dict[str, Any]]:
    with session_scope() as session:
        shared = perms.visible_ids(session, "system", principal.username)
        rows = [r for r in repo.list_systems(session)
                if perms.owns(principal, r.owner) or r.id in shared]
        result = [public_view(r) for r in rows if include_disabled or r.enabled]
    if search:
        result = [s for s in result if all(str(s.get(k)) == v for k, v in search.items())]
    return result[skip:] if limit is None or limit < 0 else result[skip:skip + limit]


def update(principal: Principal, system_id: str, changes: dict[str, Any], *, full: bool = False) -> dict[str, Any]:
    """PATCH (``full=False``: only the given fields) or PUT (the whole record, same id)."""
    if not full:
        unknown = set(changes) - PATCHABLE
        if unknown:
            raise ValidationError(f"these fields cannot be changed by a patch: {', '.join(sorted(unknown))}")
    with session_scope() as session:
        row = _visible(session, principal, system_id, "MODIFY")
        if full and changes.get("id", system_id) != system_id:
            raise ValidationError("the id in the body differs from the one in the path")
        base = {} if full else dict(row.spec)
        merged = {**base, **changes, "id": system_id, "owner": row.owner}
        credential = merged.pop("authnCredential", None)
        spec = parse_system(merged)
        _local_needs_admin(principal, spec)
        repo.add_system(session, spec, row.owner, row.tenant, replace=True)
        if credential:
            repo.set_credential(session, system_id, row.owner, Credential.model_validate(credential), spec.effectiveUserId)
        return public_view(repo.get_system(session, system_id))


def set_enabled(principal: Principal, system_id: str, enabled: bool) -> int:
    with session_scope() as session:
        row = _visible(session, principal, system_id, "MODIFY")
        changed = int(row.enabled != enabled)
        row.enabled = enabled
        row.spec = {**row.spec, "enabled": enabled}
        return changed


def is_enabled(principal: Principal, system_id: str) -> bool:
    with session_scope() as session:
        return _visible(session, principal, system_id).enabled


def set_deleted(principal: Principal, system_id: str, deleted: bool) -> int:
    with session_scope() as session:
        row = session.get(SystemRow, system_id)
        if row is None or (row.deleted and not deleted and not perms.owns(principal, row.owner)):
            raise NotFoundError(f"system {system_id} not found")
        if not perms.owns(principal, row.owner):
            _visible(session, principal, system_id, "MODIFY")
            raise PermissionDeniedError(f"only the owner of system {system_id} may delete it")
        changed = int(row.deleted != deleted)
        row.deleted = deleted
        return changed


def change_owner(principal: Principal, system_id: str, new_owner: str) -> int:
    if not user_exists(new_owner):
        raise NotFoundError(f"user {new_owner} not found")
    with session_scope() as session:
        row = _visible(session, principal, system_id, "MODIFY")
        perms.require_owner(principal, row.owner, f"only the owner of system {system_id} may give it away")
        changed = int(row.owner != new_owner)
        row.owner = new_owner
        row.spec = {**row.spec, "owner": new_owner}
        return changed


# --- credentials: write-only ----------------------------------------------------------------------


def set_credential(principal: Principal, system_id: str, username: str, credential: dict[str, Any]) -> None:
    """A user sets their own login for a system they may use; the owner (or an admin) may set anyone's."""
    try:
        parsed = Credential.model_validate(credential)
    except Exception as exc:  # pydantic's error, reworded
        raise ValidationError(f"invalid credential: {pydantic_message(exc) if hasattr(exc, 'errors') else exc}") from exc
    with session_scope() as session:
        row = _visible(session, principal, system_id)
        _may_manage_credential(principal, row, username)
        spec = repo.system_spec(row)
        login = None if spec.effectiveUserId == "${apiUserId}" else spec.effectiveUserId
        repo.set_credential(session, system_id, username, parsed, login if username == row.owner else None)


def remove_credential(principal: Principal, system_id: str, username: str) -> int:
    from dlws_flow.store.models import CredentialRow

    with session_scope() as session:
        row = _visible(session, principal, system_id)
        _may_manage_credential(principal, row, username)
        existing = session.get(CredentialRow, (system_id, username))
        if existing is not None:
            session.delete(existing)
        return int(existing is not None)


def has_credential(principal: Principal, system_id: str, username: str) -> bool:
    with session_scope() as session:
        row = _visible(session, principal, system_id)
        _may_manage_credential(principal, row, username)
        return repo.get_credential(session, system_id, username) is not None


def _may_manage_credential(principal: Principal, row: SystemRow, username: str) -> None:
    if not (perms.owns(principal, row.owner) or principal.username == username):
        raise PermissionDeniedError(f"user {principal.username} may not manage {username}'s credential on {row.id}")


# --- permissions and sharing ----------------------------------------------------------------------


def grant(principal: Principal, system_id: str, username: str, permissions: list[str]) -> list[str]:
    with session_scope() as session:
        row = _visible(session, principal, system_id)
        return perms.grant_user(session, principal, "system", system_id, row.owner, username, permissions)


def revoke(principal: Principal, system_id: str, username: str, permissions: list[str] | None) -> None:
    with session_scope() as session:
        row = _visible(session, principal, system_id)
        perms.revoke_user(session, principal, "system", system_id, row.owner, username, permissions)


def user_permissions(principal: Principal, system_id: str, username: str) -> list[str]:
    with session_scope() as session:
        row = _visible(session, principal, system_id)
        return perms.permissions_of(session, principal, "system", system_id, row.owner, username)


def share(principal: Principal, system_id: str, users: list[str]) -> None:
    """Tapis sharing: the users may see the system and run jobs on it (READ + EXECUTE)."""
    for username in users:
        grant(principal, system_id, username, list(perms.SHARE_PERMISSIONS))


def unshare(principal: Principal, system_id: str, users: list[str]) -> None:
    for username in users:
        revoke(principal, system_id, username, list(perms.SHARE_PERMISSIONS))


def share_info(principal: Principal, system_id: str) -> dict[str, Any]:
    with session_scope() as session:
        _visible(session, principal, system_id)
        return {"isPublic": False, "isPublicAuthn": False, "userList": perms.shared_users(session, "system", system_id)}


def exec_spec(principal: Principal, system_id: str) -> SystemSpec:
    """For submission: the system, if the caller may run jobs on it (EXECUTE)."""
    with session_scope() as session:
        return repo.system_spec(_visible(session, principal, system_id, "EXECUTE"))
