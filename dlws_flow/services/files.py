"""Files on registered systems, as their users see them (Tapis v3 Files: ops, content, permissions).

Paths are relative to the system's ``rootDir`` and never leave it. Who may do what is decided here,
from the database only; the host I/O goes through a ``FileGateway`` (the API uses the Celery one, so the
API process never opens an SSH connection). The rules:

- the system must be visible to the caller: owner, admin, any grant on it (system or file), or a share
  of one of its paths reaching them; otherwise it does not exist (``NotFoundError``);
- reads (list, download, stat, the source of a copy) need file READ on the path or an ancestor, or a
  share of one (``services.file_shares``); writes (mkdir, insert, delete, chmod, both ends of a move, the
  destination of a copy) file MODIFY, which only a grant gives; the system owner and admins hold both
  everywhere; chown and chgrp are theirs alone;
- a caller whose access comes from a grant or a share is kept, on the host, inside the granted or shared
  path: a symlink below it that leads elsewhere under rootDir is refused (``scopes``);
- only the system owner or an admin grants and revokes file permissions, and shares.
"""

from __future__ import annotations

import fnmatch
import mimetypes
import re
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from dlws_flow.domain.paths import clean_relative
from dlws_flow.errors import NotFoundError, PermissionDeniedError, ValidationError
from dlws_flow.services import file_ops_acl, file_ops_linux, file_shares
from dlws_flow.services import permissions as perms
from dlws_flow.services.auth import Principal, user_exists
from dlws_flow.store import repositories as repo
from dlws_flow.store.db import session_scope
from dlws_flow.store.models import GrantRow, SystemRow

#: Tapis' default and largest page of a listing.
DEFAULT_LIMIT = 1000
_TAPIS_TYPES = {"dir": "dir", "file": "file", "symlink": "symbolic_link"}


class FileGateway(Protocol):
    """How a service has one host operation performed (``file_ops.perform``'s arguments and result).

    Implemented by ``dlws_flow.services.file_ops.DirectFileGateway`` (in this process) and
    ``workers.file_gateway.CeleryFileGateway`` (by a worker).
    """

    def run(self, operation: str, **kwargs: Any) -> dict[str, Any]: ...


def _path(path: str | None) -> str:
    """A user's path, relative to rootDir, normalised; ``..`` refused (``ValidationError``)."""
    return perms.file_path(clean_relative(path or ""))


def _system(session: Session, principal: Principal, system_id: str) -> SystemRow:
    row = repo.get_system(session, system_id)
    try:
        perms.require_files_visible(session, principal, row.id, row.owner)
    except NotFoundError:
        if not file_shares.shares_for(session, principal, row.id):  # a share of a path shows the system too
            raise
    return row


def _granted_paths(session: Session, username: str, system_id: str, permission: str) -> list[str]:
    """The paths of ``username``'s file grants on the system that give ``permission`` (MODIFY gives READ)."""
    wanted = ("MODIFY",) if permission == "MODIFY" else ("READ", "MODIFY")
    return list(session.scalars(select(GrantRow.path).where(
        GrantRow.kind == "file", GrantRow.resource_id == system_id, GrantRow.username == username,
        GrantRow.permission.in_(wanted))))


def _scope(session: Session, principal: Principal, row: SystemRow, path: str, permission: str) -> str | None:
    """None for the owner and admins; for anyone else the widest granted (or, for READ, shared) path
    covering ``path``, which the host then keeps the operation inside (``file_ops._require_within``).

    Raises:
        NotFoundError, PermissionDeniedError: as ``permissions.require``: no grant or share covers ``path``.
    """
    if perms.owns(principal, row.owner):
        return None
    paths = [p for p in _granted_paths(session, principal.username, row.id, permission) if file_shares.covers(p, path)]
    shared = file_shares.shared_scope(session, principal, row.id, path) if permission == "READ" else None
    if shared is not None:
        paths.append(shared)
    if not paths:
        perms.require(session, principal, "file", row.id, row.owner, permission, what=f"path /{path} of system {row.id}",
                      path=path)
        raise PermissionDeniedError(f"user {principal.username} lacks {permission} permission on path /{path}")
    return min(paths, key=len)


def _authorize(principal: Principal, system_id: str, path: str, permission: str, *,
               new_path: tuple[str, str] | None = None) -> dict[str, Any]:
    """The gateway arguments for ``path`` on the system, if the caller holds ``permission`` there (and,
    given ``new_path=(path, permission)``, that permission on the second path too)."""
    with session_scope() as session:
        row = _system(session, principal, system_id)
        root = repo.system_spec(row).rootDir or "/"
        args: dict[str, Any] = {"system_id": row.id, "username": principal.username, "root": root, "path": path}
        scopes = {"path": _scope(session, principal, row, path, permission)}
        if new_path is not None:
            args["new_path"] = new_path[0]
            scopes["new_path"] = _scope(session, principal, row, *new_path)
        scopes = {name: scope for name, scope in scopes.items() if scope is not None}
        if scopes:
            args["scopes"] = scopes
        return args


def _owner_only(session: Session, principal: Principal, system_id: str) -> SystemRow:
    row = _system(session, principal, system_id)
    perms.require_owner(principal, row.owner, f"only the owner of system {system_id} may change its file permissions")
    return row


def _iso(mtime: float) -> str:
    return datetime.fromtimestamp(mtime, UTC).isoformat().replace("+00:00", "Z")


def file_info(system_id: str, entry: dict[str, Any]) -> dict[str, Any]:
    """A Tapis ``FileInfo`` from a gateway listing entry."""
    kind = _TAPIS_TYPES.get(entry["type"], "other")
    mode = entry.get("mode", "")
    return {"mimeType": mimetypes.guess_type(entry["name"])[0] if kind == "file" else None, "type": kind,
            "owner": entry.get("owner"), "group": entry.get("group"), "nativePermissions": mode[1:] if mode else None,
            "url": f"tapis://{system_id}/{entry['path']}", "lastModified": _iso(entry["mtime"]), "name": entry["name"],
            "path": entry["path"], "size": entry["size"]}


def _matcher(pattern: str | None):
    """Tapis' ``pattern``: ``glob:*.txt`` (or a bare glob) or ``regex:...``, matched on the name."""
    if not pattern:
        return lambda name: True
    if pattern.startswith("regex:"):
        try:
            compiled = re.compile(pattern[len("regex:"):])
        except re.error as exc:
            raise ValidationError(f"invalid pattern {pattern!r}: {exc}") from exc
        return lambda name: compiled.search(name) is not None
    glob = pattern.removeprefix("glob:")
    return lambda name: fnmatch.fnmatchcase(name, glob)


# --- operations -----------------------------------------------------------------------------------


def list_files(principal: Principal, system_id: str, path: str, limit: int | None = DEFAULT_LIMIT, offset: int = 0,
               *, gateway: FileGateway, recurse: bool = False, pattern: str | None = None) -> list[dict[str, Any]]:
    """The entries of a directory (or the one file ``path`` names), as Tapis ``FileInfo`` objects."""
    if offset < 0 or (limit is not None and limit < -1):
        raise ValidationError("limit and offset must not be negative")
    args = _authorize(principal, system_id, _path(path), "READ")
    listing = gateway.run("list", **args, recurse=recurse)
    matches = _matcher(pattern)
    infos = [file_info(args["system_id"], e) for e in listing["entries"] if matches(e["name"])]
    return infos[offset:] if limit is None or limit < 0 else infos[offset:offset + limit]


def mkdir(principal: Principal, system_id: str, path: str, *, gateway: FileGateway) -> str:
    relative = _path(path)
    if not relative:
        raise ValidationError("give the path of the directory to create")
    gateway.run("mkdir", **_authorize(principal, system_id, relative, "MODIFY"))
    return relative


def upload(principal: Principal, system_id: str, path: str, content: bytes, *, gateway: FileGateway) -> str:
    """Tapis ``insert``: write ``content`` to ``path``, creating parent directories."""
    relative = _path(path)
    if not relative:
        raise ValidationError("give the path of the file to write")
    gateway.run("upload", **_authorize(principal, system_id, relative, "MODIFY"), content=content)
    return relative


def download(principal: Principal, system_id: str, path: str, zip: bool = False, *,
             gateway: FileGateway) -> dict[str, Any]:
    """``{"filename", "content", "media_type"}``: a file's bytes, or with ``zip`` a folder as a zip."""
    args = _authorize(principal, system_id, _path(path), "READ")
    return gateway.run("download", **args, zip=zip, folder_needs_zip=True)


def delete(principal: Principal, system_id: str, path: str, *, gateway: FileGateway) -> str:
    relative = _path(path)
    if not relative:
        raise ValidationError("the system's root directory cannot be deleted")
    gateway.run("delete", **_authorize(principal, system_id, relative, "MODIFY"))
    return relative


def move_copy(principal: Principal, system_id: str, path: str, operation: str, new_path: str, *,
              gateway: FileGateway) -> str:
    """Tapis moveCopy within one system. MOVE needs MODIFY on both paths, COPY READ on ``path`` and MODIFY
    on ``new_path``; ``new_path`` is relative to rootDir like ``path`` (``..`` refused)."""
    if operation not in file_ops_linux.MOVE_COPY:
        raise ValidationError(f"operation: {operation!r} is not MOVE or COPY")
    relative, target = _path(path), _path(new_path)
    if not relative:
        raise ValidationError("the root directory cannot be moved or copied")
    source_permission = "MODIFY" if operation == "MOVE" else "READ"
    args = _authorize(principal, system_id, relative, source_permission, new_path=(target, "MODIFY"))
    gateway.run("move_copy", **args, action=operation)
    return target


def stat_info(principal: Principal, system_id: str, path: str, follow_links: bool = False, *,
              gateway: FileGateway) -> dict[str, Any]:
    """Tapis getStatInfo: a ``FileStatInfo`` of ``path`` (of a symlink itself unless ``follow_links``)."""
    args = _authorize(principal, system_id, _path(path), "READ")
    return gateway.run("stat", **args, follow_links=follow_links)


def native_op(principal: Principal, system_id: str, path: str, operation: str, argument: str, recursive: bool = False,
              *, gateway: FileGateway) -> dict[str, Any]:
    """Tapis runLinuxNativeOp: ``chmod`` (MODIFY needed), ``chown`` or ``chgrp`` (the system owner or an
    admin only: they hand files to another host account or group, a decision about the host login that a
    path grant does not carry). The result is a ``NativeLinuxOpResult`` with the host's exit code."""
    file_ops_linux.validate_native_op(operation, argument)
    relative = _path(path)
    if operation != "CHMOD":
        with session_scope() as session:
            row = _system(session, principal, system_id)
            perms.require_owner(principal, row.owner, f"only the owner of system {system_id} may run {operation}")
    args = _authorize(principal, system_id, relative, "MODIFY")
    return gateway.run("native", **args, action=operation, argument=argument, recursive=recursive)


def get_facl(principal: Principal, system_id: str, path: str, *, gateway: FileGateway) -> list[dict[str, Any]]:
    """Tapis getFacl: the path's ACL entries (READ needed)."""
    return gateway.run("get_facl", **_authorize(principal, system_id, _path(path), "READ"))["entries"]


def set_facl(principal: Principal, system_id: str, path: str, operation: str, acl: str, recursion: str, *,
             gateway: FileGateway) -> dict[str, Any]:
    """Tapis setFacl: the system owner or an admin only, as chown: an ACL opens files to other host accounts
    and groups, a decision about the host login that a path grant does not carry."""
    file_ops_acl.validate_acl(operation, acl, recursion)
    relative = _path(path)
    with session_scope() as session:
        row = _system(session, principal, system_id)
        perms.require_owner(principal, row.owner, f"only the owner of system {system_id} may set ACLs")
    args = _authorize(principal, system_id, relative, "MODIFY")
    return gateway.run("set_facl", **args, action=operation, acl=acl, recursion=recursion)


# --- permissions ----------------------------------------------------------------------------------


def _permission_view(principal: Principal, system_id: str, path: str, username: str,
                     permission: str | None) -> dict[str, Any]:
    return {"tenantId": principal.tenant, "username": username, "systemId": system_id, "path": path,
            "permission": permission}


def grant_permission(principal: Principal, system_id: str, path: str, username: str, permission: str) -> dict[str, Any]:
    """Give ``username`` READ or MODIFY on ``path`` and everything below it."""
    relative = _path(path)
    names = perms.normalize_permissions("file", [permission])
    name = "MODIFY" if "MODIFY" in names else "READ"  # ALL is MODIFY, which implies READ
    with session_scope() as session:
        row = _owner_only(session, principal, system_id)
        if not user_exists(username):
            raise NotFoundError(f"user {username} not found")
        perms.grant(session, "file", row.id, username, [name], by=principal.username, path=relative)
    return _permission_view(principal, system_id, relative, username, name)


def revoke_permission(principal: Principal, system_id: str, path: str, username: str) -> None:
    """Remove every file permission ``username`` was granted on exactly ``path``."""
    relative = _path(path)
    with session_scope() as session:
        row = _owner_only(session, principal, system_id)
        perms.revoke(session, "file", row.id, username, path=relative)


def get_permissions(principal: Principal, system_id: str, path: str, username: str | None = None) -> dict[str, Any]:
    """The permission ``username`` (default: the caller) effectively holds on ``path``: MODIFY, READ or None.

    Callers see their own; the system owner and admins see anyone's.
    """
    relative = _path(path)
    username = username or principal.username
    with session_scope() as session:
        row = _system(session, principal, system_id)
        if username != principal.username:
            perms.require_owner(principal, row.owner, "only the system owner sees other users' file permissions")
        if username == row.owner:
            held = {"MODIFY"}
        else:
            held = perms.held(session, "file", row.id, username, path=relative)
    permission = "MODIFY" if "MODIFY" in held else "READ" if "READ" in held else None
    return _permission_view(principal, system_id, relative, username, permission)
