"""SSH transport on Paramiko: commands over exec channels, files over SFTP, on pooled connections.

The rules that keep a worker's threads safe and bounded on a host that misbehaves:

* every channel has a timeout, and a watchdog closes the connection of an operation that outlives it
  (``deadline.WATCHDOG``): a hung host makes the stage fail with a ``TransportError`` (retried, then
  BLOCKED), never blocks a thread forever;
* a command is sent at most once: the transport reconnects and retries only when it failed before the
  command went out (a pooled connection that died, a channel the host refused). A timeout or a dropped
  connection after sending raises ``CommandTimeoutError`` / ``TransportError`` and the stage's own
  idempotence decides what a retry does. SFTP reads, listings, directory creation and writes to a
  temporary name are idempotent, so a dropped connection (not a timeout) lets those run once more.
"""

from __future__ import annotations

import logging
import posixpath
import socket
import stat
import uuid
from collections.abc import Callable
from typing import TypeVar

import paramiko

from dlws_flow.adapters.transports.base import STATS, CommandResult, FileEntry, Transport
from dlws_flow.adapters.transports.deadline import WATCHDOG, capped
from dlws_flow.adapters.transports.ssh_keys import HostKeyTrust, fetch_host_key
from dlws_flow.adapters.transports.ssh_pool import (
    POOL,
    Connection,
    ConnectionGate,
    ConnectionPool,
    SSHTarget,
    sftp_session,
)
from dlws_flow.errors import CommandTimeoutError, HostError, TransportError

__all__ = ["POOL", "ConnectionGate", "ConnectionPool", "HostKeyTrust", "SSHTarget", "SSHTransport", "fetch_host_key"]

log = logging.getLogger(__name__)
T = TypeVar("T")

#: The host answered: the file is missing, not ours, or of the wrong kind. Never a connection fault.
FILE_ANSWERS = (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError)
#: Failures of the connection itself (and of SFTP when the channel under it is gone).
CONNECTION_FAULTS = (paramiko.SSHException, EOFError, OSError)
#: The watchdog gives Paramiko's own timeouts this long to fire before it closes the connection.
WATCHDOG_MARGIN = 2.0


class _Watch:
    """Ends an operation that outlived its timeout: first its channel, then, if even that does not wake
    it (a wait Paramiko gives no timeout), its whole connection. Remembers that it fired."""

    def __init__(self, pool: ConnectionPool, conn: Connection, seconds: float) -> None:
        self.pool, self.conn, self.fired = pool, conn, False
        self.channel: paramiko.Channel | None = None
        self._token = WATCHDOG.watch(seconds + WATCHDOG_MARGIN, self._expired)

    def _expired(self) -> None:
        self.fired = True
        if self.channel is not None and not self.channel.closed:
            log.warning("no answer from %r within its timeout: closing the channel", self.conn.target)
            self.channel.close()
            self._token = WATCHDOG.watch(WATCHDOG_MARGIN, self._expired)
            return
        log.warning("no answer from %r within its timeout: closing the connection", self.conn.target)
        self.pool.discard(self.conn)

    def __enter__(self) -> _Watch:
        return self

    def __exit__(self, *exc_info) -> None:
        WATCHDOG.unwatch(self._token)


class SSHTransport(Transport):
    """Commands and files on one (host, port, login).

    Args:
        trust: pins the key a host without a pinned key (``target.host_key`` None) shows at the first
            connection, and words the refusal of a changed key (``ssh_keys.HostKeyTrust``).
    """

    def __init__(self, target: SSHTarget, *, connect_timeout: float = 15.0, command_timeout: float = 120.0,
                 pool: ConnectionPool = POOL, system_id: str | None = None, trust: HostKeyTrust | None = None) -> None:
        self.target = target
        self.trust = trust
        self.system_id = system_id
        self.connect_timeout = connect_timeout
        self.command_timeout = command_timeout
        self.pool = pool
        self.host_label = f"{target.host}:{target.port}"

    def _named(self, exc: HostError) -> HostError:
        """Host errors name this transport's system, so recovery probes the host that failed."""
        if exc.system_id is None:
            exc.system_id = self.system_id
        return exc

    def _conn(self) -> Connection:
        try:
            conn = self.pool.get(self.target, capped(self.connect_timeout), self.trust)
        except HostError as exc:
            raise self._named(exc) from exc.__cause__
        if self.target.host_key is None:  # pinned now: later operations need no trust
            self.target = conn.target
        return conn

    def _no_answer(self, what: str, timeout: float) -> CommandTimeoutError:
        return self._named(CommandTimeoutError(
            f"SSH to {self.host_label}: no answer within {timeout:g} s after sending {what}; it may have run"))

    def run(self, command: str, timeout: float | None = None) -> CommandResult:
        timeout = capped(timeout or self.command_timeout)
        for attempt in (1, 2):
            conn = self._conn()
            with _Watch(self.pool, conn, timeout) as watch:
                try:
                    channel = watch.channel = conn.open_channel(timeout)
                except HostError as exc:
                    raise self._named(exc) from exc
                except CONNECTION_FAULTS as exc:  # nothing was sent: a fresh connection may try once more
                    self.pool.discard(conn)
                    if attempt == 1 and not watch.fired:
                        continue
                    raise self._named(TransportError(f"SSH to {self.host_label} failed: {exc}")) from exc
                try:
                    STATS["commands"] += 1
                    channel.exec_command(command)
                    out = _read_all(channel.recv)
                    err = _read_all(channel.recv_stderr)
                    code = channel.recv_exit_status()
                except socket.timeout as exc:
                    raise self._no_answer("a command", timeout) from exc
                except CONNECTION_FAULTS as exc:
                    self.pool.discard(conn)
                    if watch.fired:
                        raise self._no_answer("a command", timeout) from exc
                    raise self._named(TransportError(
                        f"SSH to {self.host_label}: connection lost after sending a command; it may have run: {exc}")) from exc
                finally:
                    conn.close_channel(channel)
            if watch.fired:
                raise self._no_answer("a command", timeout)
            if code == -1 and not conn.alive:  # the connection dropped before an exit status came
                raise self._named(TransportError(
                    f"SSH to {self.host_label}: connection lost after sending a command; it may have run"))
            return CommandResult(command, code, out.decode(errors="replace"), err.decode(errors="replace"))
        raise AssertionError("unreachable")

    def _sftp(self, action: Callable[[paramiko.SFTPClient], T], what: str) -> T:
        """Run an idempotent SFTP ``action`` on a session of this thread's own."""
        timeout = capped(self.command_timeout)
        for attempt in (1, 2):
            conn = self._conn()
            with _Watch(self.pool, conn, timeout) as watch:
                try:
                    with sftp_session(conn, timeout) as sftp:
                        watch.channel = sftp.get_channel()
                        result = action(sftp)
                    if watch.fired:  # the channel was closed under a read that then saw its end
                        raise self._no_answer(what, timeout)
                    return result
                except FILE_ANSWERS:
                    raise
                except HostError as exc:
                    raise self._named(exc) from exc
                except socket.timeout as exc:
                    raise self._no_answer(what, timeout) from exc
                except CONNECTION_FAULTS as exc:
                    if watch.fired:
                        raise self._no_answer(what, timeout) from exc
                    if isinstance(exc, OSError) and not isinstance(exc, EOFError) and conn.alive:
                        # SFTP answered with a status that is not a file answer ("Failure"): no retry.
                        raise self._named(TransportError(f"SFTP {what} on {self.host_label} failed: {exc}")) from exc
                    self.pool.discard(conn)
                    if attempt == 1:
                        continue
                    raise self._named(TransportError(f"SSH to {self.host_label} failed: {exc}")) from exc
        raise AssertionError("unreachable")

    def put_bytes(self, data: bytes, path: str, mode: int = 0o644) -> None:
        """Write under a temporary name inside a directory only the login may enter, set ``mode``, then
        rename into place: SFTP creates files with the server's default mode, and another user who opened
        the file in that moment could read it later through the open handle."""
        private = posixpath.join(posixpath.dirname(path), f".dlws-{uuid.uuid4().hex}")
        tmp = posixpath.join(private, "part")

        def action(sftp: paramiko.SFTPClient) -> None:
            sftp.mkdir(private, 0o700)
            try:
                with sftp.open(tmp, "wb") as handle:
                    handle.set_pipelined(True)
                    handle.write(data)
                sftp.chmod(tmp, mode)
                sftp.posix_rename(tmp, path)
            finally:
                _remove_leftovers(sftp, tmp, private)

        self._sftp(action, f"a write of {path}")

    def get_bytes(self, path: str) -> bytes:
        def action(sftp: paramiko.SFTPClient) -> bytes:
            with sftp.open(path, "rb") as handle:
                handle.prefetch()
                return handle.read()

        return self._sftp(action, f"a read of {path}")

    def open_read(self, path: str):
        handle = self._open(path, "rb")
        handle.prefetch()
        return handle

    def open_write(self, path: str):
        handle = self._open(path, "wb")
        handle.set_pipelined(True)
        return handle

    def _open(self, path: str, mode: str) -> "_SessionFile":
        """A file that keeps an SFTP session of its own until it is closed (reads time out like any request)."""
        timeout = capped(self.command_timeout)
        conn = self._conn()
        with _Watch(self.pool, conn, timeout):
            try:
                sftp = conn.checkout_sftp(timeout)
            except HostError as exc:
                raise self._named(exc) from exc
            except CONNECTION_FAULTS as exc:
                self.pool.discard(conn)
                raise self._named(TransportError(f"SSH to {self.host_label} failed: {exc}")) from exc
            try:
                return _SessionFile(conn, sftp, sftp.open(path, mode))
            except FILE_ANSWERS:
                conn.checkin_sftp(sftp, True)
                raise
            except socket.timeout as exc:
                conn.checkin_sftp(sftp, False)
                raise self._no_answer(f"an open of {path}", timeout) from exc
            except CONNECTION_FAULTS as exc:
                conn.checkin_sftp(sftp, False)
                raise self._named(TransportError(f"SFTP open of {path} on {self.host_label} failed: {exc}")) from exc

    def walk(self, path: str) -> list[FileEntry]:
        def action(sftp: paramiko.SFTPClient) -> list[FileEntry]:
            entries: list[FileEntry] = []
            pending = [""]
            while pending:
                relative = pending.pop()
                for attr in sftp.listdir_attr(posixpath.join(path, relative) if relative else path):
                    rel = posixpath.join(relative, attr.filename) if relative else attr.filename
                    is_dir = stat.S_ISDIR(attr.st_mode or 0)
                    entries.append(FileEntry(rel, attr.st_size or 0, is_dir, float(attr.st_mtime or 0),
                                             stat.S_ISLNK(attr.st_mode or 0)))
                    if is_dir:
                        pending.append(rel)
            return entries

        return self._sftp(action, f"a listing of {path}")

    def makedirs(self, *paths: str) -> None:
        """``mkdir -p`` over SFTP: a few SFTP round trips instead of an ssh exec, which starts a shell on
        the host (about 50 ms on the test host, several per job). When SFTP cannot make a directory,
        ``mkdir -p`` runs after all, so the error says why (SFTP only says "Failure")."""
        if not paths:
            return
        unique = list(dict.fromkeys(paths))
        if not self._sftp(lambda sftp: all(_sftp_makedirs(sftp, path) for path in unique), "mkdir"):
            super().makedirs(*paths)

    def _stat(self, path: str):
        try:
            return self._sftp(lambda sftp: sftp.lstat(path), f"a stat of {path}")
        except FileNotFoundError:
            return None

    def exists(self, path: str) -> bool:
        return self._stat(path) is not None

    def is_dir(self, path: str) -> bool:
        attr = self._stat(path)
        return attr is not None and stat.S_ISDIR(attr.st_mode or 0)


def _remove_leftovers(sftp: paramiko.SFTPClient, file: str, folder: str) -> None:
    """Remove what is left of a write (the file unless renamed away, then its folder); on a failed session,
    nothing: the write's own error is the one to report."""
    for remove, path in ((sftp.remove, file), (sftp.rmdir, folder)):
        if sftp.get_channel().closed:
            return
        try:
            remove(path)
        except (OSError, EOFError, paramiko.SSHException):
            pass


def _read_all(receive: Callable[[int], bytes]) -> bytes:
    chunks = []
    while chunk := receive(65536):
        chunks.append(chunk)
    return b"".join(chunks)


class _SessionFile:
    """An ``SFTPFile`` that gives its session back to the connection when closed."""

    def __init__(self, conn: Connection, sftp: paramiko.SFTPClient, handle: paramiko.SFTPFile) -> None:
        self._conn, self._sftp, self._handle = conn, sftp, handle
        self._healthy = True

    def __getattr__(self, name: str):
        return getattr(self._handle, name)

    def read(self, size: int | None = None) -> bytes:
        return self._guarded(self._handle.read, size)

    def write(self, data: bytes) -> None:
        self._guarded(self._handle.write, data)

    def _guarded(self, method, *args):
        try:
            return method(*args)
        except FILE_ANSWERS:
            raise
        except socket.timeout as exc:
            self._healthy = False
            raise CommandTimeoutError(f"SFTP transfer on {self._conn.target.host}: no answer") from exc
        except CONNECTION_FAULTS as exc:
            self._healthy = False
            raise TransportError(f"SFTP transfer on {self._conn.target.host} failed: {exc}") from exc

    def close(self) -> None:
        self._finish(None)

    def __enter__(self):
        return self

    def __exit__(self, _type, error, _traceback) -> None:
        self._finish(error)

    def _finish(self, error: BaseException | None) -> None:
        """Close the file and give the session back: kept if it answered (a file answer counts), else closed."""
        if self._sftp is None:
            return
        self._healthy = self._healthy and (error is None or isinstance(error, FILE_ANSWERS))
        try:
            if self._healthy:
                self._guarded(self._handle.close)
        except (HostError, OSError):
            if error is None:
                raise  # after a failed transfer, that failure is the one to report
        finally:
            self._conn.checkin_sftp(self._sftp, self._healthy)
            self._sftp = None


def _sftp_makedirs(sftp: paramiko.SFTPClient, path: str) -> bool:
    """Create ``path`` and its missing parents; False when SFTP could not (the caller falls back to exec)."""
    missing = []
    current = posixpath.normpath(path)
    while current not in ("/", ".", ""):
        try:
            attr = sftp.stat(current)  # follows symlinks, as mkdir -p does
        except FileNotFoundError:
            missing.append(current)
            current = posixpath.dirname(current)
            continue
        except OSError as exc:
            _raise_if_connection_fault(sftp, exc)
            return False
        if not stat.S_ISDIR(attr.st_mode or 0):
            return False
        break
    for directory in reversed(missing):
        try:
            sftp.mkdir(directory)
        except OSError:
            try:  # made meanwhile by another job or process: fine if it is a directory now
                if not stat.S_ISDIR(sftp.stat(directory).st_mode or 0):
                    return False
            except OSError as exc:
                _raise_if_connection_fault(sftp, exc)
                return False
    return True


def _raise_if_connection_fault(sftp: paramiko.SFTPClient, exc: OSError) -> None:
    """Re-raise a timeout or a lost channel: they are not SFTP's answer that it cannot make a directory."""
    if isinstance(exc, socket.timeout) or sftp.get_channel().closed:
        raise exc
