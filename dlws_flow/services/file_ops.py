"""The host side of file operations: one function per operation, run by whoever holds the connection.

The API process never calls these directly; it hands an operation to a ``FileGateway``
(``dlws_flow.services.files``). ``DirectFileGateway`` runs them in the calling process (the in-process
client, tests); ``workers.file_gateway.CeleryFileGateway`` sends them to a worker (``dlws.file_op``).

``file_ops_linux`` holds move/copy, stat and chmod/chown/chgrp; ``adapters.transports.containment`` the path checks.
Every operation takes ``system_id`` and ``username`` (whose credential opens the connection, falling
back to the system owner's), an absolute host ``root`` that nothing may leave, and a ``path`` relative to
it that the caller already cleaned (``clean_relative``). Containment is checked on the host with
``realpath``, so a symlink under the root that points outside it is refused like ``..`` is. Results
are plain dicts (bytes stay bytes; the Celery gateway encodes them).
"""

from __future__ import annotations

import io
import posixpath
import shlex
import tarfile
import zipfile
from collections.abc import Callable
from typing import Any

from dlws_flow.adapters.transports import Transport
from dlws_flow.adapters.transports.containment import existing as _existing
from dlws_flow.adapters.transports.containment import inside
from dlws_flow.adapters.transports.containment import resolve as _resolve
from dlws_flow.domain.paths import clean_relative
from dlws_flow.engine.hosts import open_transport
from dlws_flow.errors import NotFoundError, PermissionDeniedError, ValidationError
from dlws_flow.services.file_ops_acl import ACL_OPERATIONS
from dlws_flow.services.file_ops_linux import LINUX_OPERATIONS
from dlws_flow.services.host_probes import HOST_OPERATIONS
from dlws_flow.services.job_ssh_ops import JOB_SSH_OPERATIONS
from dlws_flow.store import repositories as repo
from dlws_flow.store.db import session_scope

#: ``find -printf`` fields: type, size, mtime, owner, group, mode, path below the starting point.
_FIND_FORMAT = r"%y\t%s\t%T@\t%u\t%g\t%M\t%P\0"
_FIND_TYPES = {"d": "dir", "f": "file", "l": "symlink"}


def _open(system_id: str, username: str) -> Transport:
    with session_scope() as session:
        system = repo.system_spec(repo.get_system(session, system_id))
        return open_transport(session, system, username)


def _find(transport: Transport, real: str, kind: str, recurse: bool) -> list[dict[str, Any]]:
    if kind == "dir":
        depth = "" if recurse else " -maxdepth 1"
        command = f"cd -- {shlex.quote(real)} && find . -mindepth 1{depth} -printf '{_FIND_FORMAT}'"
    else:
        command = f"find {shlex.quote(real)} -maxdepth 0 -printf '{_FIND_FORMAT}'"
    result = transport.run(command)
    if result.exit_code != 0 and not _only_vanished(result.stderr):
        result.check()
    output = result.stdout
    entries = []
    for record in output.split("\0"):
        fields = record.split("\t", 6)
        if len(fields) != 7:
            continue
        ftype, size, mtime, owner, group, mode, below = fields
        entries.append({"type": _FIND_TYPES.get(ftype, "other"), "size": int(size), "mtime": float(mtime),
                        "owner": owner, "group": group, "mode": mode, "below": below})
    return entries


def _allowed(only: list[str] | None, relative: str, is_dir: bool, hidden: list[str] | None = None) -> bool:
    """Whether a root-relative path may be shown when only the files ``only`` (and their folders) may, and
    never the files ``hidden``."""
    if hidden and not is_dir and relative in hidden:
        return False
    if only is None:
        return True
    if not is_dir:
        return relative in only
    prefix = relative.rstrip("/") + "/" if relative else ""
    return any(name.startswith(prefix) for name in only)


def _require_allowed(only: list[str] | None, path: str, kind: str, hidden: list[str] | None = None) -> None:
    if not _allowed(only, path, kind == "dir", hidden):
        raise NotFoundError(f"path {path or '/'} not found")


def _only_vanished(stderr: str) -> bool:
    """Whether ``find`` failed only on entries that disappeared while it ran (a concurrent upload's
    temporary file renamed into place): the listing is complete without them."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    return bool(lines) and all(line.endswith("No such file or directory") for line in lines)


#: Names of in-flight writes (``put_bytes``, input staging): not files of the user's.
TEMPORARY_PREFIX = ".dlws-"


def op_list(transport: Transport, *, root: str, path: str, recurse: bool = False,
            only: list[str] | None = None, hidden: list[str] | None = None) -> dict[str, Any]:
    """Entries of a directory (or the one file), sorted by path; ``path`` of each is root-relative.

    With ``only`` (root-relative file paths), nothing else is listed: a job's archive shows what the job
    archived, whatever else its archive directory holds."""
    real, kind = _existing(transport, root, path)
    _require_allowed(only, path, kind, hidden)
    entries = _find(transport, real, kind, recurse)
    for entry in entries:
        below = entry.pop("below")
        entry["path"] = posixpath.join(path, below) if kind == "dir" else path
        entry["name"] = posixpath.basename(entry["path"]) or posixpath.basename(root.rstrip("/"))
    entries = [e for e in entries if _allowed(only, e["path"], e["type"] == "dir", hidden)
               and not any(part.startswith(TEMPORARY_PREFIX) for part in e["path"].split("/"))]
    entries.sort(key=lambda e: e["path"])
    return {"kind": kind, "entries": entries}


def op_mkdir(transport: Transport, *, root: str, path: str) -> dict[str, Any]:
    _, real, kind = _resolve(transport, root, path)
    if kind == "file":
        raise ValidationError(f"path {path} exists and is not a directory")
    transport.makedirs(real)
    return {"path": path}


def op_upload(transport: Transport, *, root: str, path: str, content: bytes) -> dict[str, Any]:
    """Write a file, creating its parent directories (Tapis ``insert``); replaces an existing file."""
    if not path:
        raise ValidationError("give the path of the file to write")
    _, real, kind = _resolve(transport, root, path)
    if kind == "dir":
        raise ValidationError(f"path {path} is a directory")
    transport.makedirs(posixpath.dirname(real))
    transport.put_bytes(content, real)
    return {"path": path, "size": len(content)}


def op_delete(transport: Transport, *, root: str, path: str) -> dict[str, Any]:
    """Remove a file, a symlink (not what it points to) or a directory tree; never the root itself."""
    if not path:
        raise ValidationError("the root directory cannot be deleted")
    parent, name = posixpath.split(path)
    _, real_parent, kind = _resolve(transport, root, parent)
    if kind != "dir":
        raise NotFoundError(f"path {path} not found")
    target = posixpath.join(real_parent, name)
    quoted = shlex.quote(target)
    result = transport.run(f"if [ -e {quoted} ] || [ -L {quoted} ]; then rm -rf -- {quoted}; else exit 3; fi")
    if result.exit_code == 3:
        raise NotFoundError(f"path {path} not found")
    result.check()
    return {"path": path}


def op_download(transport: Transport, *, root: str, path: str, zip: bool = False, archive_format: str = "zip",
                max_bytes: int | None = None, folder_needs_zip: bool = False,
                only: list[str] | None = None, hidden: list[str] | None = None) -> dict[str, Any]:
    """A file's bytes, or a folder packed as zip (or ``archive_format="tar"``: tar.gz).

    Symlinks inside a folder are left out of the archive: they may point anywhere. With ``only``
    (root-relative file paths), nothing else is sent.

    Raises:
        ValidationError: the data is larger than ``max_bytes``, or a folder was asked for without
            ``zip`` while ``folder_needs_zip`` (Tapis' getContents).
    """
    real, kind = _existing(transport, root, path)
    _require_allowed(only, path, kind, hidden)
    name = posixpath.basename(path) or posixpath.basename(root.rstrip("/")) or "root"
    if kind != "dir":
        size = _find(transport, real, kind, False)[0]["size"]
        _limit(size, max_bytes, path)
        return {"filename": name, "content": transport.get_bytes(real), "media_type": "application/octet-stream"}
    if folder_needs_zip and not zip:
        raise ValidationError(f"path {path or '/'} is a directory; ask for it with zip=true")
    files = [e for e in _find(transport, real, kind, True)
             if e["type"] == "file" and _allowed(only, posixpath.join(path, e["below"]), False, hidden)]
    _limit(sum(e["size"] for e in files), max_bytes, path)
    buffer = io.BytesIO()
    if archive_format == "tar":
        with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
            for entry in files:
                data = transport.get_bytes(posixpath.join(real, entry["below"]))
                info = tarfile.TarInfo(posixpath.join(name, entry["below"]))
                info.size, info.mtime = len(data), int(entry["mtime"])
                tar.addfile(info, io.BytesIO(data))
        return {"filename": f"{name}.tar.gz", "content": buffer.getvalue(), "media_type": "application/gzip"}
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for entry in files:
            archive.writestr(posixpath.join(name, entry["below"]), transport.get_bytes(posixpath.join(real, entry["below"])))
    return {"filename": f"{name}.zip", "content": buffer.getvalue(), "media_type": "application/zip"}


#: The most one ``tail`` answer carries; a follower asks again from the offset it got.
TAIL_MAX_BYTES = 1 << 20


def op_tail(transport: Transport, *, root: str, path: str, offset: int = 0, limit: int = 65536,
            only: list[str] | None = None, hidden: list[str] | None = None) -> dict[str, Any]:
    """Up to ``limit`` bytes of the file ``path`` from byte ``offset``, and the file's size now: for following a
    job's output while it is written (``GET /v3/jobs/{uuid}/output/tail``, ``dlws-flow jobs logs --follow``).

    Raises:
        ValidationError: ``path`` is a directory, or ``offset``/``limit`` out of range.
        NotFoundError: no such file (or, with ``only``, not one of those files).
    """
    if offset < 0 or not 0 < limit <= TAIL_MAX_BYTES:
        raise ValidationError(f"offset is 0 or more and limit between 1 and {TAIL_MAX_BYTES}")
    real, kind = _existing(transport, root, path)
    if kind == "dir":
        raise ValidationError(f"path {path or '/'} is a directory: tail follows a file")
    _require_allowed(only, path, kind, hidden)
    with transport.open_read(real) as stream:
        stream.seek(0, 2)  # paramiko's seek answers None: the size is where it landed
        size = stream.tell()
        if offset >= size:
            return {"offset": offset, "size": size, "content": b""}
        stream.seek(offset)
        return {"offset": offset, "size": size, "content": stream.read(min(limit, size - offset))}


def _limit(size: int, max_bytes: int | None, path: str) -> None:
    if max_bytes is not None and size > max_bytes:
        raise ValidationError(f"path {path or '/'} holds {size} bytes, more than the limit of {max_bytes} bytes "
                              "(DLWS_MAX_UPLOAD_BYTES) for one transfer through the API")


OPERATIONS: dict[str, Callable[..., dict[str, Any]]] = {
    "list": op_list, "mkdir": op_mkdir, "upload": op_upload, "delete": op_delete, "download": op_download,
    "tail": op_tail,
}


def _operation(name: str) -> Callable[..., dict[str, Any]]:
    function = (OPERATIONS.get(name) or LINUX_OPERATIONS.get(name) or ACL_OPERATIONS.get(name)
                or HOST_OPERATIONS.get(name) or JOB_SSH_OPERATIONS.get(name))
    if function is None:
        raise ValidationError(f"unknown file operation {name!r}")
    return function


#: Operations that act on a final symlink itself rather than on what it points to, by argument.
_ON_THE_LINK = {("delete", "path"), ("move_copy", "path")}


def _require_within(transport: Transport, root: str, relative: str, scope: str, *, on_the_link: bool) -> None:
    """Refuse ``relative`` unless it stays, on the host, inside ``scope`` (a root-relative path).

    A caller who holds a permission only through a grant or a share on ``scope`` named a path below it,
    but a symlink there may lead elsewhere under rootDir, which they were never given. The operation's
    target (or, for one acting on a final symlink itself, its parent) must resolve inside ``scope``'s
    real location, which itself must be inside the root.

    Raises:
        PermissionDeniedError: it does not.
    """
    if not (relative == scope or not scope or relative.startswith(scope + "/")):
        raise PermissionDeniedError(f"path {relative or '/'} is outside /{scope}")
    if not scope:  # the whole root: what every operation checks anyway
        return
    _, real_scope, _ = _resolve(transport, root, scope)
    if on_the_link and relative == scope:
        return
    checked = posixpath.dirname(relative) if on_the_link else relative
    _, real, _ = _resolve(transport, root, checked)
    if not inside(real_scope, real):
        raise PermissionDeniedError(f"path {relative or '/'} leads outside /{scope}, where access was granted")


def perform(operation: str, *, system_id: str, username: str, root: str, path: str = "",
            scopes: dict[str, str] | None = None, **kwargs: Any) -> dict[str, Any]:
    """Run one operation on ``system_id``'s host as ``username``.

    Args:
        scopes: for a caller whose access comes from grants or shares, the root-relative path each path
            argument (``path``, ``new_path``) must stay inside on the host (``_require_within``).

    Raises:
        ValidationError: unknown operation, or a bad path.
        NotFoundError, PermissionDeniedError: see the operations.
        TransportError: the host could not be reached or a command failed.
    """
    function = _operation(operation)
    relative = clean_relative(path)
    if "new_path" in kwargs:
        kwargs["new_path"] = clean_relative(kwargs["new_path"])
    transport = _open(system_id, username)
    try:
        for argument, scope in (scopes or {}).items():
            value = relative if argument == "path" else kwargs[argument]
            on_the_link = (operation, argument) in _ON_THE_LINK or (operation == "stat" and not kwargs.get("follow_links"))
            _require_within(transport, root, value, clean_relative(scope), on_the_link=on_the_link)
        return function(transport, root=root, path=relative, **kwargs)
    except FileNotFoundError as exc:  # SFTP: the file vanished between the check and the transfer
        raise NotFoundError(f"path {relative or '/'} not found") from exc
    except (PermissionError, IsADirectoryError, NotADirectoryError) as exc:
        raise PermissionDeniedError(f"the host refused access to {relative or '/'}: {exc}") from exc
    finally:
        transport.close()


class DirectFileGateway:
    """A ``FileGateway`` that performs operations in this process (the in-process client, workers)."""

    def run(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        return perform(operation, **kwargs)
