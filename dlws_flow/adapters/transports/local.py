"""The local host as an execution system (the embedded default and the demo)."""

from __future__ import annotations

import os
import stat
import subprocess
import tempfile
from pathlib import Path

from dlws_flow.adapters.transports.base import STATS, CommandResult, FileEntry, Transport


class LocalTransport(Transport):
    """Runs commands with ``bash -c`` as the user running the worker; files are plain files."""

    host_label = "localhost"

    def __init__(self, command_timeout: float = 120.0) -> None:
        self.command_timeout = command_timeout

    def run(self, command: str, timeout: float | None = None) -> CommandResult:
        STATS["commands"] += 1
        proc = subprocess.run(["bash", "-c", command], capture_output=True, text=True, stdin=subprocess.DEVNULL,
                              timeout=timeout or self.command_timeout, start_new_session=True)
        return CommandResult(command, proc.returncode, proc.stdout, proc.stderr)

    def put_bytes(self, data: bytes, path: str, mode: int = 0o644) -> None:
        directory = os.path.dirname(path) or "."
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".dlws-")
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, path)

    def get_bytes(self, path: str) -> bytes:
        return Path(path).read_bytes()

    def open_read(self, path: str):
        return open(path, "rb")

    def open_write(self, path: str):
        return open(path, "wb")

    def walk(self, path: str) -> list[FileEntry]:
        entries: list[FileEntry] = []
        for root, dirs, files in os.walk(path):
            for name in dirs + files:
                full = os.path.join(root, name)
                info = os.lstat(full)
                entries.append(FileEntry(os.path.relpath(full, path), info.st_size, stat.S_ISDIR(info.st_mode), info.st_mtime,
                                         stat.S_ISLNK(info.st_mode)))
        return entries

    def exists(self, path: str) -> bool:
        return os.path.lexists(path)

    def is_dir(self, path: str) -> bool:
        return os.path.isdir(path)
