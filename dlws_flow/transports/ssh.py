"""SSH transport on Paramiko: one pooled connection per (host, port, login), SFTP for files.

Why pooled: a new SSH handshake costs tens of milliseconds and a login node counts them; an exec on an
open connection costs a few (with TCP_NODELAY; Nagle's algorithm makes it ~47 ms). Stages of every job
on a host share the connection. Pools are per process and dropped in a forked child, because a Paramiko
transport's socket and thread cannot be shared across ``fork()`` (Celery's prefork pool).
"""

from __future__ import annotations

import io
import logging
import os
import posixpath
import socket
import stat
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Protocol

import paramiko

from dlws_flow.errors import AuthenticationFailedError, HostKeyMismatchError, TransportError
from dlws_flow.transports.base import STATS, CommandResult, FileEntry, Transport

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SSHTarget:
    host: str
    port: int
    username: str
    host_key: str
    private_key: str | None = None
    password: str | None = None
    #: Connections to (host, port) across the deployment (0: no limit) and seconds between new ones.
    max_connections: int = field(default=0, compare=False)
    connect_interval: float = field(default=0.0, compare=False)

    @property
    def gated(self) -> bool:
        return self.max_connections > 0 or self.connect_interval > 0

    @property
    def pool_key(self) -> tuple[str, int, str]:
        return (self.host, self.port, self.username)

    def __repr__(self) -> str:  # never print secrets
        return f"SSHTarget({self.username}@{self.host}:{self.port})"


def _load_private_key(text: str) -> paramiko.PKey:
    errors = []
    for key_class in (paramiko.Ed25519Key, paramiko.ECDSAKey, paramiko.RSAKey):
        try:
            return key_class.from_private_key(io.StringIO(text))
        except (paramiko.SSHException, ValueError) as exc:
            errors.append(f"{key_class.__name__}: {exc}")
    raise TransportError("the stored private key is not an Ed25519, ECDSA or RSA key in OpenSSH/PEM format")


def _parse_host_key(line: str) -> paramiko.PKey:
    try:
        key_type, blob = line.split()[:2]
        return paramiko.PKey.from_type_string(key_type, __import__("base64").b64decode(blob))
    except Exception as exc:
        raise TransportError(f"recorded host key is not an OpenSSH public key line: {exc}") from exc


def _open_socket(host: str, port: int, timeout: float) -> socket.socket:
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except OSError as exc:
        raise TransportError(f"cannot reach {host}:{port}: {exc}") from exc
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def fetch_host_key(host: str, port: int, timeout: float = 15.0) -> str:
    """Ask the host for its public key once (an explicit trust-on-first-use step, never implicit)."""
    sock = _open_socket(host, port, timeout)
    transport = paramiko.Transport(sock)
    try:
        transport.start_client(timeout=timeout)
        key = transport.get_remote_server_key()
        return f"{key.get_name()} {key.get_base64()}"
    except paramiko.SSHException as exc:
        raise TransportError(f"cannot read the host key of {host}:{port}: {exc}") from exc
    finally:
        transport.close()


class ConnectionGate(Protocol):
    """Deployment-wide admission of new connections to a host (``dlws_flow.store.ssh_slots``)."""

    def acquire(self, host: str, port: int, limit: int, interval: float) -> int:
        """Wait for a free slot (and the host's spacing); return the slot. Raises ``ConnectionLimitError``."""

    def release(self, host: str, port: int, slot: int) -> None: ...

    def renew(self, host: str, port: int, slot: int) -> None:
        """Keep the slot of a connection still in use (slots of a killed process expire)."""


class _Connection:
    """One authenticated Paramiko client plus its lazily opened SFTP session."""

    def __init__(self, target: SSHTarget, connect_timeout: float) -> None:
        self.target = target
        self.slot: int | None = None
        self.last_used = time.monotonic()
        self.last_renewed = self.last_used
        self.lock = threading.Lock()
        client = paramiko.SSHClient()
        expected = _parse_host_key(target.host_key)
        name = target.host if target.port == 22 else f"[{target.host}]:{target.port}"
        client.get_host_keys().add(name, expected.get_name(), expected)
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        sock = _open_socket(target.host, target.port, connect_timeout)
        try:
            client.connect(
                target.host, port=target.port, username=target.username, sock=sock,
                pkey=_load_private_key(target.private_key) if target.private_key else None,
                password=target.password, allow_agent=False, look_for_keys=False,
                timeout=connect_timeout, banner_timeout=connect_timeout, auth_timeout=connect_timeout,
            )
        except paramiko.BadHostKeyException as exc:
            sock.close()
            raise HostKeyMismatchError(
                f"host key of {target.host}:{target.port} changed: expected {expected.get_name()} "
                f"{expected.get_fingerprint().hex()}, got {exc.key.get_fingerprint().hex()}; refusing to connect. "
                "If the change is legitimate, record the new key on the system (systems add --replace --host-key ...)."
            ) from exc
        except paramiko.AuthenticationException as exc:
            sock.close()
            raise AuthenticationFailedError(f"authentication as {target.username}@{target.host}:{target.port} failed") from exc
        except (paramiko.SSHException, OSError) as exc:
            sock.close()
            raise TransportError(f"SSH connection to {target.host}:{target.port} failed: {exc}") from exc
        transport = client.get_transport()
        assert transport is not None
        transport.set_keepalive(30)
        self.client = client
        self._sftp: paramiko.SFTPClient | None = None
        STATS["connections"] += 1

    @property
    def alive(self) -> bool:
        transport = self.client.get_transport()
        return transport is not None and transport.is_active()

    def sftp(self) -> paramiko.SFTPClient:
        with self.lock:
            if self._sftp is None:
                self._sftp = self.client.open_sftp()
            return self._sftp

    def close(self) -> None:
        try:
            self.client.close()
        except Exception:  # closing a dead connection must never mask the original error
            log.debug("error closing SSH connection", exc_info=True)


class ConnectionPool:
    """Process-wide pool: one live connection per (host, port, login).

    Targets with a connection limit or spacing go through the ``gate`` before connecting, and their
    connections are closed after ``idle_seconds`` unused, so a process does not sit on a scarce slot.
    """

    #: Slots are leased for this long and renewed while used (a killed process's slots free themselves).
    RENEW_SECONDS = 60.0

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._connections: dict[tuple[str, int, str], _Connection] = {}
        self._key_locks: dict[tuple[str, int, str], threading.Lock] = {}
        self.gate: ConnectionGate | None = None
        self.idle_seconds = 30.0
        self._reaper: threading.Thread | None = None

    def get(self, target: SSHTarget, connect_timeout: float) -> _Connection:
        key = target.pool_key
        with self._lock:
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:
            conn = self._connections.get(key)
            if conn is not None and conn.alive and conn.target == target:
                conn.last_used = time.monotonic()
                if conn.slot is not None and conn.last_used - conn.last_renewed > self.RENEW_SECONDS / 2:
                    self._renew(conn)
                return conn
            if conn is not None:
                self._close(conn)
            slot = None
            if target.gated and self.gate is not None:
                slot = self.gate.acquire(target.host, target.port, target.max_connections, target.connect_interval)
            try:
                conn = _Connection(target, connect_timeout)
            except BaseException:
                if slot is not None:
                    self.gate.release(target.host, target.port, slot)
                raise
            conn.slot = slot
            self._connections[key] = conn
            if slot is not None:
                self._start_reaper()
            return conn

    def _renew(self, conn: _Connection) -> None:
        try:
            self.gate.renew(conn.target.host, conn.target.port, conn.slot)
            conn.last_renewed = conn.last_used
        except Exception:  # the lease outlives one missed renewal
            log.warning("could not renew the SSH slot of %r", conn.target, exc_info=True)

    def _close(self, conn: _Connection) -> None:
        conn.close()
        if conn.slot is not None and self.gate is not None:
            try:
                self.gate.release(conn.target.host, conn.target.port, conn.slot)
            except Exception:  # an unreleased slot expires with its lease
                log.warning("could not release the SSH slot of %r", conn.target, exc_info=True)
            conn.slot = None

    def _start_reaper(self) -> None:
        with self._lock:
            if self._reaper is None or not self._reaper.is_alive():
                self._reaper = threading.Thread(target=self._reap_idle, name="ssh-idle-reaper", daemon=True)
                self._reaper.start()

    def _reap_idle(self) -> None:
        while True:
            time.sleep(max(0.5, min(5.0, self.idle_seconds / 3)))
            now = time.monotonic()
            for key, conn in list(self._connections.items()):
                if conn.slot is None or now - conn.last_used < self.idle_seconds:
                    continue
                with self._key_locks[key]:
                    if self._connections.get(key) is conn and time.monotonic() - conn.last_used >= self.idle_seconds:
                        del self._connections[key]
                        self._close(conn)

    def discard(self, target: SSHTarget) -> None:
        with self._lock:
            conn = self._connections.pop(target.pool_key, None)
        if conn is not None:
            self._close(conn)

    def close_all(self) -> None:
        with self._lock:
            connections, self._connections = list(self._connections.values()), {}
        for conn in connections:
            self._close(conn)

    def held(self) -> int:
        return sum(1 for c in self._connections.values() if c.alive)

    def _forget_after_fork(self) -> None:
        self._lock = threading.Lock()
        self._connections = {}
        self._key_locks = {}
        self._reaper = None


POOL = ConnectionPool()
os.register_at_fork(after_in_child=POOL._forget_after_fork)


class SSHTransport(Transport):
    def __init__(self, target: SSHTarget, *, connect_timeout: float = 15.0, command_timeout: float = 120.0,
                 pool: ConnectionPool = POOL, system_id: str | None = None) -> None:
        self.target = target
        self.system_id = system_id
        self.connect_timeout = connect_timeout
        self.command_timeout = command_timeout
        self.pool = pool
        self.host_label = f"{target.host}:{target.port}"

    def _conn(self) -> _Connection:
        return self.pool.get(self.target, self.connect_timeout)

    def _retrying(self, action):
        """Run ``action(conn)``; a connection that died since it was pooled is replaced once.

        File errors reported by SFTP (missing file, permission) are answers, not connection faults.
        Transport errors name this transport's system, so recovery probes the host that failed.
        """
        try:
            return self._attempt(action)
        except TransportError as exc:
            if exc.system_id is None:
                exc.system_id = self.system_id
            raise

    def _attempt(self, action):
        try:
            return action(self._conn())
        except (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError):
            raise
        except (paramiko.SSHException, EOFError, OSError, socket.timeout) as first:
            self.pool.discard(self.target)
            try:
                return action(self._conn())
            except (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError):
                raise
            except (paramiko.SSHException, EOFError, OSError, socket.timeout) as exc:
                self.pool.discard(self.target)
                raise TransportError(f"SSH to {self.host_label} failed: {exc}") from first

    def run(self, command: str, timeout: float | None = None) -> CommandResult:
        def action(conn: _Connection) -> CommandResult:
            STATS["commands"] += 1
            _, stdout, stderr = conn.client.exec_command(command, timeout=timeout or self.command_timeout)
            out = stdout.read().decode(errors="replace")
            err = stderr.read().decode(errors="replace")
            return CommandResult(command, stdout.channel.recv_exit_status(), out, err)

        return self._retrying(action)

    def put_bytes(self, data: bytes, path: str, mode: int = 0o644) -> None:
        tmp = posixpath.join(posixpath.dirname(path), f".dlws-{uuid.uuid4().hex}")

        def action(conn: _Connection) -> None:
            sftp = conn.sftp()
            with sftp.open(tmp, "wb") as handle:
                handle.set_pipelined(True)
                handle.write(data)
            sftp.chmod(tmp, mode)
            sftp.posix_rename(tmp, path)

        self._retrying(action)

    def get_bytes(self, path: str) -> bytes:
        def action(conn: _Connection) -> bytes:
            with conn.sftp().open(path, "rb") as handle:
                handle.prefetch()
                return handle.read()

        return self._retrying(action)

    def open_read(self, path: str):
        handle = self._retrying(lambda conn: conn.sftp().open(path, "rb"))
        handle.prefetch()
        return handle

    def open_write(self, path: str):
        handle = self._retrying(lambda conn: conn.sftp().open(path, "wb"))
        handle.set_pipelined(True)
        return handle

    def walk(self, path: str) -> list[FileEntry]:
        def action(conn: _Connection) -> list[FileEntry]:
            sftp = conn.sftp()
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

        return self._retrying(action)

    def makedirs(self, *paths: str) -> None:
        """``mkdir -p`` over the connection's SFTP session: a few SFTP round trips instead of an ssh exec,
        which starts a shell on the host (about 50 ms on the test host, several per job). When SFTP cannot
        make a directory, ``mkdir -p`` runs after all, so the error says why (SFTP only says "Failure")."""
        if not paths:
            return

        def action(conn: _Connection) -> bool:
            sftp = conn.sftp()
            return all(_sftp_makedirs(sftp, path) for path in dict.fromkeys(paths))

        if not self._retrying(action):
            super().makedirs(*paths)

    def _stat(self, path: str):
        try:
            return self._retrying(lambda conn: conn.sftp().lstat(path))
        except FileNotFoundError:
            return None

    def exists(self, path: str) -> bool:
        return self._stat(path) is not None

    def is_dir(self, path: str) -> bool:
        attr = self._stat(path)
        return attr is not None and stat.S_ISDIR(attr.st_mode or 0)


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
        except OSError:
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
            except OSError:
                return False
    return True
