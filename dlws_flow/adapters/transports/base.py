"""The transport interface: how stages reach a host. About ten methods, nothing scheduler-specific."""

from __future__ import annotations

import abc
import shlex
from collections import Counter
from dataclasses import dataclass

from dlws_flow.errors import RemoteCommandError

#: Process-wide counters (commands run, connections opened) read by tests and benchmarks.
STATS: Counter[str] = Counter()


@dataclass(frozen=True)
class CommandResult:
    command: str
    exit_code: int
    stdout: str
    stderr: str

    def check(self) -> CommandResult:
        if self.exit_code != 0:
            raise RemoteCommandError(self.command, self.exit_code, self.stdout, self.stderr)
        return self


@dataclass(frozen=True)
class FileEntry:
    path: str
    """Path relative to the directory that was walked."""
    size: int
    is_dir: bool
    mtime: float
    is_link: bool = False
    """Symlinks are reported, never followed: outputs may not expose what they point to."""


class Transport(abc.ABC):
    """A connection to one host as one login. Constructors do no I/O; the first call connects."""

    host_label: str = "?"

    @abc.abstractmethod
    def run(self, command: str, timeout: float | None = None) -> CommandResult:
        """Run ``command`` with the login shell; never raises for a non-zero exit (see ``check``)."""

    @abc.abstractmethod
    def put_bytes(self, data: bytes, path: str, mode: int = 0o644) -> None:
        """Write ``data`` to ``path`` atomically (temporary name, then rename)."""

    @abc.abstractmethod
    def get_bytes(self, path: str) -> bytes: ...

    @abc.abstractmethod
    def open_read(self, path: str):
        """A binary file object for streaming a remote file."""

    @abc.abstractmethod
    def open_write(self, path: str):
        """A binary file object that writes a remote file."""

    @abc.abstractmethod
    def walk(self, path: str) -> list[FileEntry]:
        """Every file and directory under ``path``, recursively, without following symlinks."""

    @abc.abstractmethod
    def exists(self, path: str) -> bool: ...

    @abc.abstractmethod
    def is_dir(self, path: str) -> bool: ...

    def makedirs(self, *paths: str) -> None:
        """Create directories in one round trip."""
        if paths:
            self.run("mkdir -p -- " + " ".join(shlex.quote(p) for p in paths)).check()

    def close(self) -> None:
        """Release the connection (pooled transports keep it for the next user)."""
