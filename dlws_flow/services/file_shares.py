"""Tapis Files sharing: a path of a system shared with named users, or publicly with the whole tenant.

A share gives READ on the path and everything below it, nothing more: Tapis adds MODIFY only for systems
whose ``effectiveUserId`` is dynamic and inside jobs, and here a share is never a way to write (MODIFY
comes only from a grant). ``services.files`` consults shares where it checks READ, and hands the host
the shared path as the caller's scope, so a symlink inside the shared tree cannot lead to the rest of
rootDir. Only the system owner or an admin shares, unshares or reads the share information ("Requester
must be owner of the system", says Tapis); a MODIFY grantee may not re-share what they were given.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from dlws_flow.domain.paths import clean_relative
from dlws_flow.errors import NotFoundError, PermissionDeniedError, ValidationError
from dlws_flow.services import permissions as perms
from dlws_flow.services.auth import Principal, user_exists
from dlws_flow.store import repositories as repo
from dlws_flow.store.db import session_scope
from dlws_flow.store.models import FileShareRow, SystemRow

#: Tapis' ``UserNameString``.
MAX_USERNAME = 60


def _path(path: str | None) -> str:
    """A user's path, relative to rootDir, normalised; ``..`` refused (``ValidationError``)."""
    return perms.file_path(clean_relative(path or ""))


def covers(shared: str, path: str) -> bool:
    """Whether a share (or grant) of root-relative ``shared`` reaches ``path``: itself or below it."""
    return not shared or path == shared or path.startswith(shared + "/")


def _reaches(row: FileShareRow, principal: Principal) -> bool:
    if row.username == repo.PUBLIC_SHARE:
        return row.tenant == principal.tenant
    return row.username == principal.username


def shares_for(session: Session, principal: Principal, system_id: str) -> list[FileShareRow]:
    """The shares of a system's paths that reach the caller (named or public in their tenant)."""
    rows = repo.file_shares_of(session, system_id, [principal.username, repo.PUBLIC_SHARE])
    return [row for row in rows if _reaches(row, principal)]


def shared_scope(session: Session, principal: Principal, system_id: str, path: str) -> str | None:
    """The widest shared path covering ``path`` for the caller, or None when no share reaches it."""
    paths = [row.path for row in shares_for(session, principal, system_id) if covers(row.path, path)]
    return min(paths, key=len) if paths else None


def _owned_system(session: Session, principal: Principal, system_id: str) -> SystemRow:
    """The system, if the caller owns it (or is an admin). Whoever cannot see it is told it does not exist."""
    row = repo.get_system(session, system_id)
    if perms.owns(principal, row.owner):
        return row
    if not shares_for(session, principal, row.id):
        perms.require_files_visible(session, principal, row.id, row.owner)
    raise PermissionDeniedError(f"only the owner of system {system_id} may share its paths or see their shares")


def _usernames(users: list[str]) -> list[str]:
    if not users:
        raise ValidationError("users: give at least one user")
    for name in users:
        if not isinstance(name, str) or not 1 <= len(name) <= MAX_USERNAME:
            raise ValidationError(f"users: {name!r} is not a username of 1 to {MAX_USERNAME} characters")
    return sorted(set(users))


def share(principal: Principal, system_id: str, path: str, users: list[str]) -> str:
    """Share ``path`` with each of ``users`` (all must exist). Returns the path, normalised."""
    path, names = _path(path), _usernames(users)
    with session_scope() as session:
        row = _owned_system(session, principal, system_id)
        missing = [name for name in names if not user_exists(name)]
        if missing:
            raise NotFoundError(f"users: {', '.join(missing)} not found")
        repo.add_file_shares(session, row.id, path, names, tenant=row.tenant, shared_by=principal.username)
    return path


def share_public(principal: Principal, system_id: str, path: str) -> str:
    """Share ``path`` with every user of the system's tenant."""
    path = _path(path)
    with session_scope() as session:
        row = _owned_system(session, principal, system_id)
        repo.add_file_shares(session, row.id, path, [repo.PUBLIC_SHARE], tenant=row.tenant,
                             shared_by=principal.username)
    return path


def unshare(principal: Principal, system_id: str, path: str, users: list[str]) -> str:
    """Remove the shares of exactly ``path`` with ``users`` (shares of other paths stay)."""
    path, names = _path(path), _usernames(users)
    with session_scope() as session:
        row = _owned_system(session, principal, system_id)
        repo.delete_file_shares(session, row.id, path, names)
    return path


def unshare_public(principal: Principal, system_id: str, path: str) -> str:
    path = _path(path)
    with session_scope() as session:
        row = _owned_system(session, principal, system_id)
        repo.delete_file_shares(session, row.id, path, [repo.PUBLIC_SHARE])
    return path


def unshare_all(principal: Principal, system_id: str, path: str, recurse: bool = False) -> str:
    """Remove every share of ``path``, public included; with ``recurse`` also those of every path below it."""
    path = _path(path)
    with session_scope() as session:
        row = _owned_system(session, principal, system_id)
        repo.delete_file_shares(session, row.id, path, below=recurse)
    return path


def share_info(principal: Principal, system_id: str, path: str) -> dict[str, Any]:
    """Tapis ``ShareInfo``: whether ``path`` is public and with whom it is shared, counting shares of the
    paths above it (sharing is hierarchical), each user with the path that shares it. ``isPublicPath``, the
    widest public share covering it, is None (left out of the envelope) when there is none."""
    path = _path(path)
    with session_scope() as session:
        row = _owned_system(session, principal, system_id)
        covering = [share for share in repo.file_shares_of(session, row.id) if covers(share.path, path)]
    public = [share.path for share in covering if share.username == repo.PUBLIC_SHARE]
    users = [share for share in covering if share.username != repo.PUBLIC_SHARE]
    return {"isPublic": bool(public), "isPublicPath": min(public, key=len) if public else None,
            "userSet": sorted({share.username for share in users}),
            "userShareInfoSet": [{"username": share.username, "path": share.path} for share in users]}
