"""Where a root-relative path really is on a host, and whether it stays inside the system's rootDir.

Shared by the file operations (``services.file_ops*``) and the transfers (``engine.transfers``): containment is
judged on the host with ``realpath``, so a symlink under the root that points outside it is refused like ``..``.
"""

from __future__ import annotations

import posixpath
import shlex

from dlws_flow.adapters.transports import Transport
from dlws_flow.errors import NotFoundError, PermissionDeniedError


def resolve(transport: Transport, root: str, relative: str, *, special: str = "file") -> tuple[str, str, str]:
    """``(real root, real target, kind)``, kind being ``dir``, ``file`` or ``missing``; an existing path that is
    neither a directory nor a regular file (a FIFO, a device) is ``special`` (transfers ask for ``other``:
    reading a FIFO would hang their worker).

    Symlinks are followed for the existing part of the path (``realpath -m``), so a target that does
    not exist yet (mkdir, upload) is judged by where its nearest existing ancestor really is.

    Raises:
        NotFoundError: the root itself does not exist.
        PermissionDeniedError: the target resolves outside the root.
    """
    target = posixpath.join(root, relative) if relative else root
    script = (f"r=$(realpath -e -- {shlex.quote(root)}) || exit 3; t=$(realpath -m -- {shlex.quote(target)}) || exit 4; "
              'printf "%s\\n%s\\n" "$r" "$t"; if [ -d "$t" ]; then echo dir; elif [ -f "$t" ]; then echo file; '
              f'elif [ -e "$t" ]; then echo {shlex.quote(special)}; else echo missing; fi')
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


def existing(transport: Transport, root: str, relative: str) -> tuple[str, str]:
    _, real, kind = resolve(transport, root, relative)
    if kind == "missing":
        raise NotFoundError(f"path {relative or '/'} not found")
    return real, kind
