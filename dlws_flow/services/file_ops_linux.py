"""Host side of the Tapis Files operations beyond list/upload/download: move and copy within one system,
``stat`` (getStatInfo) and the native ``chmod``/``chown``/``chgrp`` (runLinuxNativeOp).

They follow ``file_ops``' rules: ``root`` is the system's rootDir that nothing may leave, ``path`` is already
cleaned, containment is judged on the host with ``realpath`` (a symlink out of the root is refused like
``..``), and every user-supplied word reaches the shell through ``shlex.quote``. ``file_ops.perform`` runs
them (``LINUX_OPERATIONS``).
"""

from __future__ import annotations

import posixpath
import re
import shlex
from collections.abc import Callable
from typing import Any

from dlws_flow.adapters.transports import Transport
from dlws_flow.adapters.transports.containment import existing as _existing
from dlws_flow.adapters.transports.containment import resolve as _resolve
from dlws_flow.errors import ConflictError, NotFoundError, ValidationError

#: An octal mode without the setuid, setgid and sticky bits: a MODIFY grantee must not be able to make a
#: program of the system's login run as that login for whoever else can reach it on the host.
MODE = re.compile(r"0?[0-7]{3}")
#: A user or group name as ``useradd``/``groupadd`` accept them by default, or a numeric id.
ACCOUNT = re.compile(r"[a-z_][a-z0-9_-]{0,31}|[0-9]{1,10}")
NATIVE_COMMANDS = {"CHMOD": "chmod", "CHOWN": "chown", "CHGRP": "chgrp"}
MOVE_COPY = ("MOVE", "COPY")


def validate_native_op(operation: str, argument: str) -> None:
    """Refuse an operation or argument ``op_native`` would not run (``ValidationError`` naming the field)."""
    if operation not in NATIVE_COMMANDS:
        raise ValidationError(f"operation: {operation!r} is not one of {', '.join(NATIVE_COMMANDS)}")
    pattern, what = (MODE, "an octal mode such as 750 (no setuid, setgid or sticky bit)") if operation == "CHMOD" \
        else (ACCOUNT, "a user or group name ([a-z_][a-z0-9_-]*, at most 32 characters) or a numeric id")
    if not isinstance(argument, str) or pattern.fullmatch(argument) is None:
        raise ValidationError(f"argument: {argument!r} is not {what}")


def _kind(transport: Transport, host_path: str) -> str:
    """``link``, ``dir``, ``file`` or ``missing``: what ``host_path`` itself is (a final symlink not followed)."""
    quoted = shlex.quote(host_path)
    result = transport.run(f"if [ -L {quoted} ]; then echo link; elif [ -d {quoted} ]; then echo dir; "
                           f"elif [ -e {quoted} ]; then echo file; else echo missing; fi")
    result.check()
    return result.stdout.strip()


def _link_itself(transport: Transport, root: str, relative: str) -> tuple[str, str]:
    """``(host path, kind)`` of ``relative`` without following its last component (``_kind``). Its parent
    must resolve inside the root (``_resolve``)."""
    if not relative:
        real_root, _, _ = _resolve(transport, root, "")
        return real_root, "dir"
    parent, name = posixpath.split(relative)
    _, real_parent, parent_kind = _resolve(transport, root, parent)
    if parent_kind != "dir":
        raise NotFoundError(f"path {relative} not found")
    entry = posixpath.join(real_parent, name)
    return entry, _kind(transport, entry)


def _destination(transport: Transport, root: str, source_path: str, new_path: str) -> tuple[str, str]:
    """Where ``source_path`` lands for ``newPath``, as ``mv``/``cp`` place it: inside ``newPath`` when that
    is a directory (or a link to one inside the root), else at ``newPath``. Resolved here so the command gets
    ``-T`` and a real path; a symlink where the source would land is refused (``ConflictError``), since
    ``cp`` would write through it, to wherever it points."""
    entry, kind = _link_itself(transport, root, new_path)
    if kind == "link":
        _, entry, kind = _resolve(transport, root, new_path)
        if kind != "dir":
            raise ConflictError(f"newPath: /{new_path} is a symbolic link to a file; give the path it points to")
    if kind == "dir":
        entry = posixpath.join(entry, posixpath.basename(source_path))
        kind = _kind(transport, entry)
    if kind == "link":
        raise ConflictError(f"newPath: a symbolic link already exists where /{source_path} would go")
    return entry, kind


def op_move_copy(transport: Transport, *, root: str, path: str, new_path: str, action: str) -> dict[str, Any]:
    """Tapis moveCopy within one system: ``MOVE`` (``mv``) or ``COPY`` (``cp -R``, a directory's whole tree).

    Symlinks are moved or copied as links (``cp -P``), never what they point to. An existing file at the
    destination is replaced; an existing directory there is not merged into (``ConflictError``): a merge
    would write through whatever links that tree holds.
    """
    if action not in MOVE_COPY:
        raise ValidationError(f"operation: {action!r} is not MOVE or COPY")
    if not path:
        raise ValidationError("the root directory cannot be moved or copied")
    source, source_kind = _link_itself(transport, root, path)
    if source_kind == "missing":
        raise NotFoundError(f"path {path} not found")
    final, final_kind = _destination(transport, root, path, new_path)
    if final == source or final.startswith(source.rstrip("/") + "/"):
        raise ValidationError(f"newPath: /{new_path} is {path} itself or inside it")
    if final_kind == "dir":
        raise ConflictError(f"newPath: a directory already exists where /{path} would go")
    if final_kind == "file" and source_kind == "dir":
        raise ConflictError(f"newPath: a file already exists where the directory /{path} would go")
    transport.makedirs(posixpath.dirname(final))
    command = "mv -T" if action == "MOVE" else "cp -R -P -T"
    transport.run(f"{command} -- {shlex.quote(source)} {shlex.quote(final)}").check()
    return {"path": path, "new_path": new_path}


#: ``stat -c``: uid, gid, size, permissions, access and modify times (epoch seconds), then the file type
#: last, as it may hold spaces ("regular empty file").
_STAT_FORMAT = "%u %g %s %A %X %Y %F"


def op_stat(transport: Transport, *, root: str, path: str, follow_links: bool = False) -> dict[str, Any]:
    """A Tapis ``FileStatInfo`` from ``stat`` on the host: of a symlink itself unless ``follow_links``
    (which, like every operation, refuses a link out of the root)."""
    if follow_links or not path:
        target, _ = _existing(transport, root, path)
    else:
        target, kind = _link_itself(transport, root, path)
        if kind == "missing":
            raise NotFoundError(f"path {path} not found")
    result = transport.run(f"stat -c {shlex.quote(_STAT_FORMAT)} -- {shlex.quote(target)}").check()
    uid, gid, size, mode, atime, mtime, kind_name = result.stdout.strip().split(" ", 6)
    return {"absolutePath": posixpath.join(root, path) if path else root, "uid": int(uid), "gid": int(gid),
            "size": int(size), "perms": mode[1:], "accessTime": int(atime), "modifyTime": int(mtime),
            "dir": kind_name == "directory", "link": kind_name == "symbolic link"}


def op_native(transport: Transport, *, root: str, path: str, action: str, argument: str,
              recursive: bool = False) -> dict[str, Any]:
    """``chmod``/``chown``/``chgrp`` on a path (``-R`` with ``recursive``), as a Tapis ``NativeLinuxOpResult``.

    The path is resolved first (a symlink is followed only when it stays inside the root) and the command
    gets the real path; ``-R`` never follows the links it meets (``chmod`` skips them, ``chown``/``chgrp``
    get ``-P``). The host's refusal (``chown`` to another user needs root there) comes back as the exit
    code and stderr, as in Tapis.
    """
    validate_native_op(action, argument)
    target, _ = _existing(transport, root, path)
    flags = "" if not recursive else " -R" if action == "CHMOD" else " -R -P"
    command = f"{NATIVE_COMMANDS[action]}{flags} -- {shlex.quote(argument)} {shlex.quote(target)}"
    result = transport.run(command)
    return {"command": command, "exitCode": result.exit_code, "stdOut": result.stdout, "stdErr": result.stderr}


LINUX_OPERATIONS: dict[str, Callable[..., dict[str, Any]]] = {
    "move_copy": op_move_copy, "stat": op_stat, "native": op_native,
}
