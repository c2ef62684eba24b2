"""Who may do what to whose systems, apps, jobs and files.

The owner of a resource and admins hold every permission. Others hold what was granted to them:

- systems: READ (see it), MODIFY (change it; implies READ), EXECUTE (run jobs on it);
- apps: READ, MODIFY, EXECUTE (submit jobs with it);
- jobs: READ (see it, its history and outputs), granted by sharing;
- files: READ, MODIFY on a path of a system and everything below it (MODIFY implies READ).

A caller without even READ gets "not found", with the very message a missing resource gets, so the
existence of private resources does not leak; a caller who can see a resource but lacks the permission gets
"permission denied". On a system a MODIFY grantee still may not set the owner's credential nor the fields
that run as shell in every user's jobs (``services.systems.OWNER_FIELDS``); only the owner (or an admin)
grants, shares, gives away, deletes or undeletes.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from dlws_flow.domain.listing import PUBLIC_GRANTEE
from dlws_flow.errors import NotFoundError, PermissionDeniedError, ValidationError
from dlws_flow.services.auth import Principal, user_exists
from dlws_flow.store import repositories as repo
from dlws_flow.store.models import GrantRow

#: What Tapis sharing grants on a system or an app: the users may see it and run jobs with it.
SHARE_PERMISSIONS = ("READ", "EXECUTE")
KINDS = {"system": ("READ", "MODIFY", "EXECUTE"), "app": ("READ", "MODIFY", "EXECUTE"), "job": ("READ",),
         "file": ("READ", "MODIFY")}
#: A permission that implies others.
IMPLIES = {"MODIFY": {"READ"}, "EXECUTE": set()}

#: A stored app or system row: anything with an ``id`` and an ``owner``.
R = TypeVar("R", bound=Any)


def normalize_permissions(kind: str, permissions: Iterable[str]) -> list[str]:
    allowed = KINDS[kind]
    result = []
    for perm in permissions:
        name = str(perm).upper()
        if name == "ALL":
            result.extend(allowed)
        elif name not in allowed:
            raise ValidationError(f"unknown {kind} permission {perm!r}; use one of {', '.join(allowed)}")
        else:
            result.append(name)
    if not result:
        raise ValidationError("give at least one permission")
    return sorted(set(result))


def file_path(path: str) -> str:
    """A file-grant path: relative to the system's rootDir, normalised, never escaping it."""
    cleaned = posixpath.normpath("/" + (path or "").strip("/")).lstrip("/")
    if ".." in cleaned.split("/"):
        raise ValidationError(f"path {path!r} leaves the system's root")
    return cleaned if cleaned != "." else ""


def grant(session: Session, kind: str, resource_id: str, username: str, permissions: Iterable[str], *,
          by: str, path: str = "") -> list[str]:
    perms = normalize_permissions(kind, permissions)
    repo.add_grants(session, kind, resource_id, username, perms, path=file_path(path) if kind == "file" else "",
                    granted_by=by)
    return perms


def revoke(session: Session, kind: str, resource_id: str, username: str, permissions: Iterable[str] | None = None,
           *, path: str = "") -> None:
    repo.delete_grants(session, kind, resource_id, username, path=file_path(path) if kind == "file" else None,
                       permissions=None if permissions is None else normalize_permissions(kind, permissions))


def revoke_all(session: Session, kind: str, resource_id: str) -> None:
    repo.delete_grants_on(session, (kind,), resource_id)


def _grantees(kind: str, username: str) -> tuple[str, ...]:
    """Whose grants count for ``username``: their own, and for apps the public share's (``PUBLIC_GRANTEE``)."""
    return (username, PUBLIC_GRANTEE) if kind == "app" else (username,)


def held(session: Session, kind: str, resource_id: str, username: str, *, path: str | None = None) -> set[str]:
    """Permissions granted to ``username`` (not counting ownership); for files, on ``path`` or above."""
    query = select(GrantRow.permission, GrantRow.path).where(
        GrantRow.kind == kind, GrantRow.resource_id == resource_id, GrantRow.username.in_(_grantees(kind, username)))
    perms: set[str] = set()
    wanted = file_path(path) if path is not None else None
    for perm, granted_path in session.execute(query):
        if wanted is None or not granted_path or wanted == granted_path or wanted.startswith(granted_path + "/"):
            perms.add(perm)
            perms |= IMPLIES.get(perm, set())
    return perms


def users_with(session: Session, kind: str, resource_id: str, *, path: str | None = None) -> dict[str, set[str]]:
    query = select(GrantRow).where(GrantRow.kind == kind, GrantRow.resource_id == resource_id)
    if path is not None:
        query = query.where(GrantRow.path == file_path(path))
    result: dict[str, set[str]] = {}
    for row in session.scalars(query):
        result.setdefault(row.username, set()).add(row.permission)
    return result


def visible_ids(session: Session, kind: str, username: str) -> set[str]:
    """Resources of ``kind`` that ``username`` was granted anything on."""
    return set(session.scalars(select(GrantRow.resource_id).where(GrantRow.kind == kind,
                                                                  GrantRow.username.in_(_grantees(kind, username)))))


def visible_records(session: Session, principal: Principal, kind: str, rows: Iterable[R]) -> list[R]:
    """The apps or systems among ``rows`` the caller may see: their own (all, for an admin), or shared with them."""
    shared = visible_ids(session, kind, principal.username)
    return [row for row in rows if owns(principal, row.owner) or row.id in shared]


def require(session: Session, principal: Principal, kind: str, resource_id: str, owner: str, permission: str, *,
            what: str, path: str | None = None) -> None:
    """Pass when ``principal`` owns the resource, is an admin, or holds ``permission`` on it.

    Raises:
        NotFoundError: the caller holds nothing on it (it does not exist, as far as they can tell).
        PermissionDeniedError: the caller can see it but lacks ``permission``.
    """
    if owns(principal, owner):
        return
    perms = held(session, kind, resource_id, principal.username, path=path)
    if permission in perms:
        return
    if not perms and kind != "file":
        raise NotFoundError(f"{what} not found")
    raise PermissionDeniedError(f"user {principal.username} lacks {permission} permission on {what}")


def require_files_visible(session: Session, principal: Principal, system_id: str, owner: str) -> None:
    """Pass when the caller may see a system's files at all (owner, admin, or any system or file grant on
    it); anyone else is told the system does not exist (NotFoundError), as for a missing one."""
    if not (owns(principal, owner) or held(session, "system", system_id, principal.username)
            or held(session, "file", system_id, principal.username)):
        raise NotFoundError(f"system {system_id} not found")


def owns(principal: Principal, owner: str) -> bool:
    """Owners and admins hold every permission on a resource."""
    return principal.is_admin or principal.username == owner


def require_owner(principal: Principal, owner: str, message: str) -> None:
    """Raises ``PermissionDeniedError(message)`` unless the caller owns the resource (or is an admin)."""
    if not owns(principal, owner):
        raise PermissionDeniedError(message)


# --- one user's permissions and sharing, for systems and apps (``kind``): ``services.sharing`` calls these
# once it has loaded the resource as the caller may see it.


def grant_user(session: Session, principal: Principal, kind: str, resource_id: str, owner: str, username: str,
               permissions: Iterable[str]) -> list[str]:
    # Ownership first: whether a user exists is no business of a caller who may not grant anything here.
    require_owner(principal, owner, f"only the owner of {kind} {resource_id} may change its permissions")
    if not user_exists(username):
        raise NotFoundError(f"user {username} not found")
    return grant(session, kind, resource_id, username, permissions, by=principal.username)


def revoke_user(session: Session, principal: Principal, kind: str, resource_id: str, owner: str, username: str,
                permissions: Iterable[str] | None) -> None:
    require_owner(principal, owner, f"only the owner of {kind} {resource_id} may change its permissions")
    revoke(session, kind, resource_id, username, permissions)


def permissions_of(session: Session, principal: Principal, kind: str, resource_id: str, owner: str,
                   username: str) -> list[str]:
    """``username``'s permissions; callers see their own, owners and admins anyone's."""
    if username != principal.username:
        require_owner(principal, owner, "only the owner sees other users' permissions")
    if username == owner:
        return list(KINDS[kind])
    return sorted(held(session, kind, resource_id, username))


def shared_users(session: Session, kind: str, resource_id: str) -> list[str]:
    return sorted(u for u, p in users_with(session, kind, resource_id).items()
                  if set(SHARE_PERMISSIONS) <= p and u != PUBLIC_GRANTEE)


def shared_publicly(session: Session, kind: str, resource_id: str) -> bool:
    return set(SHARE_PERMISSIONS) <= users_with(session, kind, resource_id).get(PUBLIC_GRANTEE, set())
