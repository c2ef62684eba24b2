"""The host side of file operations: one function per operation, run by whoever holds the connection.

The API process never calls these directly; it hands an operation to a ``FileGateway``
(``dlws_flow.services.files``). ``DirectFileGateway`` runs them in the calling process (the in-process
client, tests); ``workers.file_gateway.CeleryFileGateway`` sends them to a worker (``dlws.file_op``).

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
from dlws_flow.domain.paths import clean_relative
from dlws_flow.engine.hosts import open_transport
from dlws_flow.errors import NotFoundError, PermissionDeniedError, ValidationError
from dlws_flow.store import repositories as repo
from dlws_flow.store.db import session_scope

#: ``find -printf`` fields: type, size, mtime, owner, group, mode, path below the starting point.
_FIND_FORMAT = r"%y\t%s\t%T@\t%u\t%g\t%M\t%P\0"
_FIND_TYPES = {"d": "dir", "f": "file", "l": "symlink"}


def _open(system_id: str, username: str) -> Transport:
    with session_scope() as session:
        system = repo.system_spec(repo.get_system(session, system_id))
        return open_transport(session, system, username)


def _resolve(transport: Transport, root: str, relative: str) -> tuple[str, str, str]:
    """``(real root, real target, kind)``, kind being ``dir``, ``file`` or ``missing``.

    Symlinks are followed for the existing part of the path (``realpath -m``), so a target that does
    not exist yet (mkdir, upload) is judged by where its nearest existing ancestor really is.

    Raises:
        NotFoundError: the root itself does not exist.
        PermissionDeniedError: the target resolves outside the root.
    """
    target = posixpath.join(root, relative) if relative else root
    script = (f"r=$(realpath -e -- {shlex.quote(root)}) || exit 3; t=$(realpath -m -- {shlex.quote(target)}) || exit 4; "
              'printf "%s\\n%s\\n" "$r" "$t"; if [ -d "$t" ]; then echo dir; elif [ -e "$t" ]; then echo file; '
              "else echo missing; fi")
    result = transport.run(script)
    lines = result.stdout.splitlines()
    if result.exit_code == 3:
        raise NotFoundError(f"root directory {root} does not exist on the host")
    if result.exit_code != 0 or len(lines) != 3:
        result.check()
        raise NotFoundError(f"path {relative or '/'} not found")
    real_root, real_target, kind = lines
    if not inside(real_root, real_target):
        raise PermissionDeniedError(f"path {relative or '/'} points outside the root directory")
    return real_root, real_target, kind


def inside(root: str, target: str) -> bool:
    """Whether ``target`` is ``root`` or below it (both already resolved)."""
    return target == root or target.startswith(root.rstrip("/") + "/")


def _existing(transport: Transport, root: str, relative: str) -> tuple[str, str]:
    _, real, kind = _resolve(transport, root, relative)
    if kind == "missing":
        raise NotFoundError(f"path {relative or '/'} not found")
    return real, kind


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


def _allowed(only: list[str] | None, relative: str, is_dir: bool) -> bool:
    """Whether a root-relative path may be shown when only the files ``only`` (and their folders) may."""
    if only is None:
        return True
    if not is_dir:
        return relative in only
    prefix = relative.rstrip("/") + "/" if relative else ""
    return any(name.startswith(prefix) for name in only)


def _require_allowed(only: list[str] | None, path: str, kind: str) -> None:
    if not _allowed(only, path, kind == "dir"):
        raise NotFoundError(f"path {path or '/'} not found")


def _only_vanished(stderr: str) -> bool:
    """Whether ``find`` failed only on entries that disappeared while it ran (a concurrent upload's
    temporary file renamed into place): the listing is complete without them."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    return bool(lines) and all(line.endswith("No such file or directory") for line in lines)


#: Names of in-flight writes (``put_bytes``, input staging): not files of the user's.
TEMPORARY_PREFIX = ".dlws-"


def op_list(transport: Transport, *, root: str, path: str, recurse: bool = False,
            only: list[str] | None = None) -> dict[str, Any]:
    """Entries of a directory (or the one file), sorted by path; ``path`` of each is root-relative.

    With ``only`` (root-relative file paths), nothing else is listed: a job's archive shows what the job
    archived, whatever else its archive directory holds."""
    real, kind = _existing(transport, root, path)
    _require_allowed(only, path, kind)
    entries = _find(transport, real, kind, recurse)
    for entry in entries:
        below = entry.pop("below")
        entry["path"] = posixpath.join(path, below) if kind == "dir" else path
        entry["name"] = posixpath.basename(entry["path"]) or posixpath.basename(root.rstrip("/"))
    entries = [e for e in entries if _allowed(only, e["path"], e["type"] == "dir")
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
                only: list[str] | None = None) -> dict[str, Any]:
    """A file's bytes, or a folder packed as zip (or ``archive_format="tar"``: tar.gz).

    Symlinks inside a folder are left out of the archive: they may point anywhere. With ``only``
    (root-relative file paths), nothing else is sent.

    Raises:
        ValidationError: the data is larger than ``max_bytes``, or a folder was asked for without
            ``zip`` while ``folder_needs_zip`` (Tapis' getContents).
    """
    real, kind = _existing(transport, root, path)
    _require_allowed(only, path, kind)
    name = posixpath.basename(path) or posixpath.basename(root.rstrip("/")) or "root"
    if kind != "dir":
        size = _find(transport, real, kind, False)[0]["size"]
        _limit(size, max_bytes, path)
        return {"filename": name, "content": transport.get_bytes(real), "media_type": "application/octet-stream"}
    if folder_needs_zip and not zip:
        raise ValidationError(f"path {path or '/'} is a directory; ask for it with zip=true")
    files = [e for e in _find(transport, real, kind, True)
             if e["type"] == "file" and _allowed(only, posixpath.join(path, e["below"]), False)]
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


def _limit(size: int, max_bytes: int | None, path: str) -> None:
    if max_bytes is not None and size > max_bytes:
        raise ValidationError(f"path {path or '/'} holds {size} bytes, more than the limit of {max_bytes} bytes "
                              "(DLWS_MAX_UPLOAD_BYTES) for one transfer through the API")


OPERATIONS: dict[str, Callable[..., dict[str, Any]]] = {
    "list": op_list, "mkdir": op_mkdir, "upload": op_upload, "delete": op_delete, "download": op_download,
}


def perform(operation: str, *, system_id: str, username: str, root: str, path: str = "", **kwargs: Any) -> dict[str, Any]:
    """Run one operation on ``system_id``'s host as ``username``.

    Raises:
        ValidationError: unknown operation, or a bad path.
        NotFoundError, PermissionDeniedError: see the operations.
        TransportError: the host could not be reached or a command failed.
    """
    function = OPERATIONS.get(operation)
    if function is None:
        raise ValidationError(f"unknown file operation {operation!r}")
    relative = clean_relative(path)
    transport = _open(system_id, username)
    try:
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
