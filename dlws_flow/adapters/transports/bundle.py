"""Many small files and directories written to a host in one go: an in-memory tar, uploaded once and unpacked
by one command (a sweep's thousands of exec dirs, env files and scripts in three round trips, not thousands)."""

from __future__ import annotations

import io
import shlex
import tarfile
import time

from dlws_flow.adapters.transports.base import Transport


class FileBundle:
    """Absolute host paths and what to put there; :func:`upload` writes them all."""

    def __init__(self) -> None:
        self._buffer = io.BytesIO()
        self._tar = tarfile.open(fileobj=self._buffer, mode="w", format=tarfile.PAX_FORMAT)
        self._now = time.time()
        self.count = 0

    def _info(self, path: str, kind: bytes, mode: int) -> tarfile.TarInfo:
        if not path.startswith("/"):
            raise ValueError(f"bundle paths are absolute: {path!r}")
        info = tarfile.TarInfo(path.lstrip("/"))
        info.type, info.mode, info.mtime = kind, mode, self._now
        self.count += 1
        return info

    def add_dir(self, path: str, mode: int = 0o755) -> None:
        self._tar.addfile(self._info(path, tarfile.DIRTYPE, mode))

    def add_file(self, path: str, data: bytes, mode: int = 0o644) -> None:
        info = self._info(path, tarfile.REGTYPE, mode)
        info.size = len(data)
        self._tar.addfile(info, io.BytesIO(data))

    def add_link(self, path: str, target: str) -> None:
        info = self._info(path, tarfile.SYMTYPE, 0o777)
        info.linkname = target
        self._tar.addfile(info)

    def payload(self) -> bytes:
        self._tar.close()
        return self._buffer.getvalue()


def upload(transport: Transport, bundle: FileBundle, staging_dir: str) -> None:
    """Write the bundle's files (replacing what is there) through ``staging_dir``, which must exist."""
    archive = f"{staging_dir.rstrip('/')}/.dlws-bundle.tar"
    transport.put_bytes(bundle.payload(), archive, mode=0o600)
    quoted = shlex.quote(archive)
    # --no-same-owner/-permissions: the login's own files, its umask; -m: now, not the bundle's time.
    transport.run(f"tar -x -m --no-same-owner -f {quoted} -C / && rm -f {quoted}").check()
