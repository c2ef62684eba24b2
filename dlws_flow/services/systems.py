"""Systems as their users see them: create, read, change, enable/disable, delete, credentials, permissions,
sharing. Every call names the caller (``Principal``); rules are in ``services.permissions``.

What a system's record lets run on its host is the owner's to decide: a MODIFY grantee may change the rest of
the record, but not ``OWNER_FIELDS`` nor the owner's credential (each user stores their own login with the
credential routes). A system's stored logins never outlive it: deleting it removes them, giving it away
removes them and every grant, and its id stays its owner's while the deleted record remains.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from dlws_flow.domain.field_support import check_owner
from dlws_flow.domain.listing import ListRequest
from dlws_flow.domain.listing_resources import SYSTEMS
from dlws_flow.domain.records import NOTES_ADDITIONS, Credential, SystemSpec
from dlws_flow.errors import ConflictError, NotFoundError, PermissionDeniedError, ValidationError
from dlws_flow.services import history, host_keys
from dlws_flow.services import permissions as perms
from dlws_flow.services.auth import Principal, user_exists
from dlws_flow.services.catalog import parse_system, pydantic_message
from dlws_flow.services.listing import Page, list_page
from dlws_flow.services.sharing import Sharing
from dlws_flow.settings import get_settings
from dlws_flow.store import repositories as repo
from dlws_flow.store.db import session_scope
from dlws_flow.store.models import SystemRow

#: Fields a PATCH may change (Tapis: not id, owner, systemType, or the credential).
PATCHABLE = {"description", "host", "port", "effectiveUserId", "defaultAuthnMethod", "rootDir", "jobWorkingDir",
             "canExec", "canRunBatch", "batchScheduler", "batchLogicalQueues", "batchDefaultLogicalQueue",
             "batchSchedulerProfile", "schedulerProfiles", "jobEnvVariables", "jobMaxJobs", "jobMaxJobsPerUser",
             "jobRuntimes", "tags", "notes", "hostKey", "enableCmdPrefix", "jobCapabilities", "mpiCmd", "proxyHost",
             "proxyPort", "useProxy", "dtnSystemId", "isDtn", "importRefId", "allowChildren"}

#: Fields only the owner (or an admin) may change, because their values run as shell in every user's jobs
#: (scheduler profiles' ``setupLines`` and ``moduleLoads``, which profile is the default, Tapis' ``mpiCmd``
#: and command prefix; the system's ``jobEnvVariables``, exported into every job's shell, where ``PATH``,
#: ``BASH_ENV`` or ``LD_PRELOAD`` pick the programs it runs), or decide where and as whom the owner's
#: credential logs in and how much of that login the Files API reaches.
OWNER_FIELDS = ("schedulerProfiles", "batchSchedulerProfile", "jobEnvVariables", "mpiCmd", "enableCmdPrefix",
                "host", "port", "hostKey", "effectiveUserId", "transport", "useProxy", "proxyHost", "proxyPort",
                "rootDir")
#: ``notes`` keys that become one of those fields when a later record leaves the field out (a PUT).
OWNER_NOTES = tuple(key for key in NOTES_ADDITIONS if key in OWNER_FIELDS)


#: Fields of a child system that are its own, never its parent's (``services.child_systems``): a parent's
#: change reaches its children but for these, so its owner cannot send their logins elsewhere or run shell there.
CHILD_OWN_FIELDS = frozenset({"id", "owner", "enabled", "effectiveUserId", "rootDir", "allowChildren", *OWNER_FIELDS})
#: The fields of a system that Tapis' PUT body (ReqPutSystem) has no place for: a PUT keeps the stored ones.
KEPT_BY_PUT = frozenset({"systemType", "effectiveUserId", "rootDir", "canExec", "bucketName"})


def worker_queue(system: SystemSpec) -> str:
    """The Celery queue the system's job stages go to."""
    return system.workerQueue or get_settings().queue


def visible_system(session, principal: Principal, system_id: str, permission: str = "READ") -> SystemRow:
    row = repo.get_system(session, system_id)
    perms.require(session, principal, "system", row.id, row.owner, permission, what=f"system {system_id}")
    return row


def public_view(row: SystemRow) -> dict[str, Any]:
    data = dict(row.spec)
    data.pop("authnCredential", None)
    if not data.get("jobRuntimes"):  # none given: the document's jobRuntimes has minItems 1, so it is absent
        data.pop("jobRuntimes", None)
    data.update({"owner": row.owner, "enabled": row.enabled, "deleted": row.deleted, "tenant": row.tenant,
                 "parentId": row.parent_id,
                 "created": repo.when(row.created), "updated": repo.when(row.updated), **host_keys.view_fields(row)})
    return data


def create(principal: Principal, data: dict[str, Any], *, skip_credential_check: bool = True) -> dict[str, Any]:
    """Register a system the caller owns.

    A deleted system's id stays taken while its record remains: only its owner (or an admin) may create it
    again, and everyone else hears what they would for a live one, nothing more (Tapis answers 409). The
    re-created system starts with no credential and no grant (``repo.add_system``).
    """
    check_owner(data, principal.username)  # another owner is a 400, not ignored
    spec = parse_system({**data, "owner": principal.username})
    local_needs_admin(principal, spec)
    host_keys.require_trust_policy(spec)
    with session_scope() as session:
        require_free_id(session, principal, spec.id)
        row = repo.add_system(session, spec, principal.username, principal.tenant, replace=True)
        history.record_system(session, spec.id, principal.tenant, principal, "CREATE",
                              f"system {spec.id} created ({spec.host}, {spec.transport})")
        return public_view(row)


def require_free_id(session: Session, principal: Principal, system_id: str) -> None:
    """Refuse an id that is taken: by a live system, or by a deleted one of another owner (409, no owner named)."""
    existing = session.get(SystemRow, system_id)
    if existing is not None and not (existing.deleted and perms.owns(principal, existing.owner)):
        raise ConflictError(f"system {system_id} already exists")


def local_needs_admin(principal: Principal, spec: SystemSpec) -> None:
    # A LOCAL system runs commands as the worker's own account: only an admin may register one.
    if spec.transport == "LOCAL" and not principal.is_admin:
        raise PermissionDeniedError("only an admin may register a LOCAL (this machine) system")


def get(principal: Principal, system_id: str) -> dict[str, Any]:
    with session_scope() as session:
        return public_view(visible_system(session, principal, system_id))


def search(principal: Principal, request: ListRequest) -> Page:
    """getSystems and the system searches, of the systems the caller may see (``listType``)."""
    return list_page(principal, SYSTEMS, request, public_view)


def update(principal: Principal, system_id: str, changes: dict[str, Any], *, full: bool = False) -> dict[str, Any]:
    """PATCH (``full=False``: only the given fields) or PUT (the whole record, same id).

    Raises:
        NotFoundError: the caller cannot see the system.
        PermissionDeniedError: no MODIFY; or a grantee sets the owner's credential or an ``OWNER_FIELDS`` field.
    """
    with session_scope() as session:
        row = visible_system(session, principal, system_id, "MODIFY")
        is_owner = perms.owns(principal, row.owner)
        if not is_owner and changes.get("authnCredential") is not None:
            raise PermissionDeniedError(
                f"only the owner of system {system_id} (or an admin) may set its credential; store your own login "
                f"with POST /v3/systems/credential/{system_id}/user/{principal.username}")
        if not full:
            unknown = set(changes) - PATCHABLE
            if unknown:
                raise ValidationError(f"these fields cannot be changed by a patch: {', '.join(sorted(unknown))}")
        if full and changes.get("id", system_id) != system_id:
            raise ValidationError("the id in the body differs from the one in the path")
        # Tapis' ReqPutSystem has no id, systemType, effectiveUserId, rootDir, canExec: a PUT keeps them.
        base = {k: v for k, v in row.spec.items() if k in KEPT_BY_PUT} if full else dict(row.spec)
        merged = {**base, **changes, "id": system_id, "owner": row.owner}
        credential = merged.pop("authnCredential", None)
        spec = parse_system(merged)
        local_needs_admin(principal, spec)
        if row.host_key is None or (spec.host, spec.port) != (row.host, row.port):  # else the pin is kept
            host_keys.require_trust_policy(spec)
        if not is_owner:  # compared with the record as given: a key pinned on first use is no hostKey of it
            _owner_fields_unchanged(principal, system_id, SystemSpec.model_validate(row.spec), spec)
        row = repo.add_system(session, spec, row.owner, row.tenant, replace=True)
        history.record_system(session, system_id, row.tenant, principal, "MODIFY",
                              f"{'replaced' if full else 'patched'}: {', '.join(sorted(changes)) or 'no fields'}")
        _follow_parent(session, principal, row)
        if credential:
            repo.set_credential(session, system_id, row.owner, Credential.model_validate(credential), repo.static_login(spec))
        return public_view(repo.get_system(session, system_id))


def _follow_parent(session: Session, principal: Principal, parent: SystemRow) -> list[str]:
    """Carry a changed parent's fields into its children (all but their own and the owner's-only ones)."""
    followed = []
    for child in repo.child_systems(session, parent.id):
        kept = {k: v for k, v in child.spec.items() if k in CHILD_OWN_FIELDS}
        notes = {**(parent.spec.get("notes") or {})}
        notes.update({k: v for k, v in (child.spec.get("notes") or {}).items() if k in OWNER_NOTES})
        for key in OWNER_NOTES:
            if key not in (child.spec.get("notes") or {}):
                notes.pop(key, None)
        merged = {**{k: v for k, v in parent.spec.items() if k not in CHILD_OWN_FIELDS}, **kept, "notes": notes}
        spec = parse_system({**merged, "owner": child.owner})
        repo.add_system(session, spec, child.owner, child.tenant, replace=True)
        history.record_system(session, child.id, child.tenant, principal, "MODIFY", f"parent {parent.id} changed")
        followed.append(child.id)
    return followed


def _owner_fields_unchanged(principal: Principal, system_id: str, before: SystemSpec, after: SystemSpec) -> None:
    """Refuse a grantee's change to any ``OWNER_FIELDS`` field, given directly or through ``notes``."""
    old, new = before.public_dict(), after.public_dict()
    changed = [name for name in OWNER_FIELDS if old.get(name) != new.get(name)]
    old_notes, new_notes = old.get("notes") or {}, new.get("notes") or {}
    changed += [f"notes.{key}" for key in OWNER_NOTES if old_notes.get(key) != new_notes.get(key)]
    if changed:
        raise PermissionDeniedError(
            f"only the owner of system {system_id} (or an admin) may change {', '.join(changed)}: these run as shell "
            f"in every user's jobs or decide where and as whom the owner's login is used; user "
            f"{principal.username} holds MODIFY, which covers the other fields")


def set_enabled(principal: Principal, system_id: str, enabled: bool) -> int:
    with session_scope() as session:
        row = visible_system(session, principal, system_id, "MODIFY")
        changed = repo.set_system_enabled(session, row, enabled)
        if changed:
            history.record_system(session, system_id, row.tenant, principal, "ENABLE" if enabled else "DISABLE",
                                  f"system {system_id} {'enabled' if enabled else 'disabled'}")
        return changed


def is_enabled(principal: Principal, system_id: str) -> bool:
    with session_scope() as session:
        return visible_system(session, principal, system_id).enabled


def set_deleted(principal: Principal, system_id: str, deleted: bool) -> int:
    """Delete (soft: the id stays its owner's) or undelete. Deleting removes every user's stored credential:
    an undeleted system needs its logins stored again. Grants stay, as Tapis keeps them for an undelete."""
    with session_scope() as session:
        row = session.get(SystemRow, system_id)
        if row is None or (row.deleted and not deleted and not perms.owns(principal, row.owner)):
            raise NotFoundError(f"system {system_id} not found")
        if not perms.owns(principal, row.owner):
            visible_system(session, principal, system_id, "MODIFY")
            raise PermissionDeniedError(f"only the owner of system {system_id} may delete it")
        changed = repo.set_system_deleted(session, row, deleted)
        if deleted:
            repo.delete_credentials(session, system_id)
        if changed:
            history.record_system(session, system_id, row.tenant, principal, "DELETE" if deleted else "UNDELETE",
                                  f"system {system_id} {'deleted' if deleted else 'undeleted'}")
        return changed


def change_owner(principal: Principal, system_id: str, new_owner: str) -> int:
    """Give the system away. Its stored credentials (the old owner's and everyone's) and every grant and share
    on it go: the new owner stores their own login before a job can run, and shares it again."""
    with session_scope() as session:
        row = visible_system(session, principal, system_id, "MODIFY")
        perms.require_owner(principal, row.owner, f"only the owner of system {system_id} may give it away")
        if not user_exists(new_owner):
            raise NotFoundError(f"user {new_owner} not found")
        if row.owner == new_owner:
            return 0
        previous = row.owner
        repo.set_system_owner(session, row, new_owner)
        repo.forget_system_access(session, system_id)
        history.record_system(session, system_id, row.tenant, principal, "CHANGE_OWNER",
                              f"owner {previous} -> {new_owner}; credentials, grants and shares removed")
        return 1


# --- credentials: write-only ----------------------------------------------------------------------


def set_credential(principal: Principal, system_id: str, username: str, credential: dict[str, Any]) -> None:
    """A user sets their own login for a system they may use; the owner (or an admin) may set anyone's."""
    try:
        parsed = Credential.model_validate(credential)
    except Exception as exc:  # pydantic's error, reworded
        raise ValidationError(f"invalid credential: {pydantic_message(exc) if hasattr(exc, 'errors') else exc}") from exc
    with session_scope() as session:
        row = visible_system(session, principal, system_id)
        may_manage_credential(principal, row, username)
        login = repo.static_login(repo.system_spec(row))
        repo.set_credential(session, system_id, username, parsed, login if username == row.owner else None)
        history.record_system(session, system_id, row.tenant, principal, "SET_CRED", f"credential of {username} stored")


def remove_credential(principal: Principal, system_id: str, username: str) -> int:
    with session_scope() as session:
        row = visible_system(session, principal, system_id)
        may_manage_credential(principal, row, username)
        removed = repo.delete_credentials(session, system_id, username)
        if removed:
            history.record_system(session, system_id, row.tenant, principal, "REMOVE_CRED",
                                  f"credential of {username} removed")
        return removed


def has_credential(principal: Principal, system_id: str, username: str) -> bool:
    with session_scope() as session:
        row = visible_system(session, principal, system_id)
        may_manage_credential(principal, row, username)
        return repo.get_credential(session, system_id, username) is not None


def may_manage_credential(principal: Principal, row: SystemRow, username: str) -> None:
    """The owner (or an admin) manages anyone's credential on the system; any other user only their own."""
    if not (perms.owns(principal, row.owner) or principal.username == username):
        raise PermissionDeniedError(f"user {principal.username} may manage only their own credential on system "
                                    f"{row.id} (POST /v3/systems/credential/{row.id}/user/{principal.username}), "
                                    f"not {username}'s")


# --- permissions and sharing: as for apps (``services.sharing``) ----------------------------------

SHARING = Sharing("system", visible_system, public_flags={"public": False, "isPublic": False,
                                                                 "isPublicAuthn": False})
grant = SHARING.grant
revoke = SHARING.revoke
user_permissions = SHARING.user_permissions
share = SHARING.share
unshare = SHARING.unshare
share_info = SHARING.share_info
