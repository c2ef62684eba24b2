"""Apps as their users see them: create versions, read, change, enable/disable, delete, permissions,
sharing. Rules are in ``services.permissions`` (owner and admins hold everything).

An app id is its owner's while any version of it remains, deleted ones included: only the owner (or an
admin) adds versions, and an id whose versions were all deleted comes back without its old shares.
"""

from __future__ import annotations

from typing import Any

from dlws_flow.domain.field_support import check_owner
from dlws_flow.domain.listing import ListRequest
from dlws_flow.domain.listing_resources import APPS
from dlws_flow.errors import ConflictError, NotFoundError, PermissionDeniedError, ValidationError
from dlws_flow.services import history
from dlws_flow.services import permissions as perms
from dlws_flow.services.auth import Principal, user_exists
from dlws_flow.services.catalog import parse_app
from dlws_flow.services.listing import Page, list_page
from dlws_flow.services.sharing import Sharing
from dlws_flow.store import repositories as repo
from dlws_flow.store.db import session_scope
from dlws_flow.store.models import AppRow


def public_view(row: AppRow) -> dict[str, Any]:
    return {**row.spec, "owner": row.owner, "enabled": row.enabled, "deleted": row.deleted, "tenant": row.tenant,
            "created": repo.when(row.created), "updated": repo.when(row.updated)}


def _visible(session, principal: Principal, app_id: str, version: str | None = None,
             permission: str = "READ") -> AppRow:
    row = repo.get_app(session, app_id, version)
    # Named as repo.get_app names a missing one: a hidden app and a missing one read the same.
    what = f"app {app_id}" + (f" version {version}" if version else "")
    perms.require(session, principal, "app", app_id, row.owner, permission, what=what)
    return row


def create(principal: Principal, data: dict[str, Any]) -> dict[str, Any]:
    """Add a version: of a new id, or of one the caller owns (deleted versions count: the id stays taken)."""
    check_owner(data, principal.username)  # another owner is a 400, not ignored
    spec = parse_app({**data, "owner": principal.username})
    with session_scope() as session:
        rows = repo.app_versions(session, spec.id, include_deleted=True)
        if not principal.is_admin and any(r.owner != principal.username for r in rows):
            raise PermissionDeniedError(f"app {spec.id} already exists; only its owner may add versions")
        versions = [r for r in rows if not r.deleted]
        if any(v.version == spec.version for v in versions):
            raise ConflictError(f"app {spec.id} version {spec.version} already exists")
        if rows and not versions:
            perms.revoke_all(session, "app", spec.id)  # an id brought back starts with no shares
        owner = versions[0].owner if versions else principal.username
        row = repo.add_app(session, spec, owner, principal.tenant, replace=True)
        history.record_app(session, spec.id, spec.version, principal.tenant, principal, "CREATE",
                           f"app {spec.id} version {spec.version} created")
        return public_view(row)


def get(principal: Principal, app_id: str, version: str | None = None) -> dict[str, Any]:
    with session_scope() as session:
        return public_view(_visible(session, principal, app_id, version))


def search(principal: Principal, request: ListRequest) -> Page:
    """getApps and the app searches: of the apps the caller may see (``listType``), the latest version of each
    id, or every matching version when the search names ``version``."""
    return list_page(principal, APPS, request, public_view)


def update(principal: Principal, app_id: str, version: str, changes: dict[str, Any], *, full: bool = False) -> dict[str, Any]:
    with session_scope() as session:
        row = _visible(session, principal, app_id, version, "MODIFY")
        if row.spec.get("locked"):
            raise ConflictError(f"app {app_id} version {version} is locked")
        for key in ("id", "version"):
            if key in changes and changes[key] != row.spec[key]:
                raise ValidationError(f"{key} cannot be changed")
        merged = {**({} if full else row.spec), **changes, "id": app_id, "version": version, "owner": row.owner}
        updated = repo.add_app(session, parse_app(merged), row.owner, row.tenant, replace=True)
        history.record_app(session, app_id, version, row.tenant, principal, "MODIFY",
                           f"{'replaced' if full else 'patched'}: {', '.join(sorted(changes)) or 'no fields'}")
        return public_view(updated)


def set_enabled(principal: Principal, app_id: str, enabled: bool, version: str | None = None) -> int:
    with session_scope() as session:
        row = _visible(session, principal, app_id, version, "MODIFY")
        changed = repo.set_app_enabled(session, app_id, enabled, version)
        if changed:
            what = f"version {version}" if version else "every version"
            history.record_app(session, app_id, version, row.tenant, principal, "ENABLE" if enabled else "DISABLE",
                               f"{what} {'enabled' if enabled else 'disabled'}")
        return changed


def is_enabled(principal: Principal, app_id: str, version: str | None = None) -> bool:
    with session_scope() as session:
        return _visible(session, principal, app_id, version).enabled


def set_locked(principal: Principal, app_id: str, version: str, locked: bool) -> int:
    with session_scope() as session:
        row = _visible(session, principal, app_id, version, "MODIFY")
        changed = repo.set_app_locked(session, row, locked)
        if changed:
            history.record_app(session, app_id, version, row.tenant, principal, "LOCK" if locked else "UNLOCK",
                               f"version {version} {'locked' if locked else 'unlocked'}")
        return changed


def set_deleted(principal: Principal, app_id: str, deleted: bool) -> int:
    with session_scope() as session:
        rows = repo.app_versions(session, app_id, include_deleted=True)
        mine = [r for r in rows if perms.owns(principal, r.owner)]
        if not mine:
            if rows and not all(r.deleted for r in rows):
                _visible(session, principal, app_id)
                raise PermissionDeniedError(f"only the owner of app {app_id} may delete it")
            raise NotFoundError(f"app {app_id} not found")
        changed = repo.set_apps_deleted(session, mine, deleted)
        if changed:
            history.record_app(session, app_id, None, mine[0].tenant, principal, "DELETE" if deleted else "UNDELETE",
                               f"app {app_id} {'deleted' if deleted else 'undeleted'}")
        return changed


def change_owner(principal: Principal, app_id: str, new_owner: str) -> int:
    with session_scope() as session:
        row = _visible(session, principal, app_id)
        perms.require_owner(principal, row.owner, f"only the owner of app {app_id} may change its permissions")
        if not user_exists(new_owner):
            raise NotFoundError(f"user {new_owner} not found")
        # Deleted versions too: the id is the new owner's whole (create refuses an id with another owner's rows).
        previous = row.owner
        repo.set_app_owner(session, app_id, new_owner)
        history.record_app(session, app_id, None, row.tenant, principal, "CHANGE_OWNER", f"owner {previous} -> {new_owner}")
        return len(repo.app_versions(session, app_id))


# --- permissions and sharing: as for systems (``services.sharing``) -------------------------------

SHARING = Sharing("app", _visible)
grant = SHARING.grant
revoke = SHARING.revoke
user_permissions = SHARING.user_permissions
share = SHARING.share
unshare = SHARING.unshare
share_info = SHARING.share_info
