"""Pooled Paramiko connections: one per (host, port, login) and process, shared by every thread.

Why pooled: a new SSH handshake costs tens of milliseconds and a login node counts them; an exec on an
open connection costs a few (with TCP_NODELAY; Nagle's algorithm makes it ~47 ms). Stages of every job
on a host share the connection. Pools are per process and dropped in a forked child, because a Paramiko
transport's socket and thread cannot be shared across ``fork()`` (Celery's prefork pool).

Why SFTP sessions are checked out: Paramiko's ``SFTPClient`` is not thread-safe (two threads reading its
one channel take each other's answers and then wait forever), so a session serves one operation at a
time. Idle sessions are kept for reuse; every session and exec channel counts against the connection's
``max_sessions`` (sshd's ``MaxSessions``, 10 by default), so a busy thread pool waits for a free channel
instead of being refused by the host. ``bench/transport.py`` measures this against one session behind a
lock per operation.

Host keys: a target with a ``host_key`` connects only to a host showing that key. A target without one
(trust on first use) accepts the key the host shows and hands it to the caller's ``HostKeyTrust`` before
the connection is used or pooled; the trust pins it (``engine.hosts``) or refuses it. A host showing another
key than the pinned one is refused with the error the trust gives (it records the offered key).
"""

from __future__ import annotations

import io
import logging
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Protocol

import paramiko

from dlws_flow.adapters.transports.base import STATS
from dlws_flow.adapters.transports.ssh_keys import HostKeyPolicy, HostKeyTrust, KeyChanged, key_line, parse_host_key
from dlws_flow.errors import AuthenticationFailedError, ConfigurationError, HostKeyMismatchError, TransportError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SSHTarget:
    host: str
    port: int
    username: str
    #: The key the host must show (``TYPE BASE64``); None: trust on first use (``ConnectionPool.get``'s ``trust``).
    host_key: str | None
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
    for key_class in (paramiko.Ed25519Key, paramiko.ECDSAKey, paramiko.RSAKey):
        try:
            return key_class.from_private_key(io.StringIO(text))
        except (paramiko.SSHException, ValueError):
            continue
    raise TransportError("the stored private key is not an Ed25519, ECDSA or RSA key in OpenSSH/PEM format")


def open_socket(host: str, port: int, timeout: float) -> socket.socket:
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except OSError as exc:
        raise TransportError(f"cannot reach {host}:{port}: {exc}") from exc
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


class ConnectionGate(Protocol):
    """Deployment-wide admission of new connections to a host (``dlws_flow.store.ssh_slots``)."""

    def acquire(self, host: str, port: int, limit: int, interval: float) -> int:
        """Wait for a free slot (and the host's spacing); return the slot. Raises ``ConnectionLimitError``."""

    def release(self, host: str, port: int, slot: int) -> None: ...

    def renew(self, host: str, port: int, slot: int) -> None:
        """Keep the slot of a connection still in use (slots of a killed process expire)."""


class Connection:
    """One authenticated Paramiko client, its idle SFTP sessions and its channel budget."""

    def __init__(self, target: SSHTarget, connect_timeout: float, max_sessions: int = 10) -> None:
        self.target = target
        self.slot: int | None = None
        self.last_used = time.monotonic()
        self.last_renewed = self.last_used
        self.max_sessions = max_sessions
        self._lock = threading.Lock()
        self._idle_sftp: list[paramiko.SFTPClient] = []
        self._channels = threading.BoundedSemaphore(max_sessions)
        #: The key the host showed when the target pinned none (the pool hands it to the trust), else None.
        self.first_use_key: str | None = None
        self.client = self._connect(target, connect_timeout)
        STATS["connections"] += 1

    def _connect(self, target: SSHTarget, connect_timeout: float) -> paramiko.SSHClient:
        client = paramiko.SSHClient()
        expected = parse_host_key(target.host_key) if target.host_key else None
        if expected is not None:  # also makes Paramiko ask the host for a key of the pinned type first
            name = target.host if target.port == 22 else f"[{target.host}]:{target.port}"
            client.get_host_keys().add(name, expected.get_name(), expected)
        policy = HostKeyPolicy(expected)
        client.set_missing_host_key_policy(policy)
        sock = open_socket(target.host, target.port, connect_timeout)
        try:
            client.connect(
                target.host, port=target.port, username=target.username, sock=sock,
                pkey=_load_private_key(target.private_key) if target.private_key else None,
                password=target.password, allow_agent=False, look_for_keys=False,
                timeout=connect_timeout, banner_timeout=connect_timeout, auth_timeout=connect_timeout,
                channel_timeout=connect_timeout,
            )
        except paramiko.BadHostKeyException as exc:
            sock.close()
            raise KeyChanged(key_line(expected), key_line(exc.key)) from exc
        except paramiko.AuthenticationException as exc:
            sock.close()
            raise AuthenticationFailedError(f"authentication as {target.username}@{target.host}:{target.port} failed") from exc
        except (paramiko.SSHException, OSError) as exc:
            sock.close()
            raise TransportError(f"SSH connection to {target.host}:{target.port} failed: {exc}") from exc
        transport = client.get_transport()
        assert transport is not None
        transport.set_keepalive(30)
        if expected is None:
            self.first_use_key = key_line(policy.shown or transport.get_remote_server_key())
        return client

    @property
    def alive(self) -> bool:
        transport = self.client.get_transport()
        return transport is not None and transport.is_active()

    def _take_channel(self, timeout: float) -> None:
        """One of the connection's ``max_sessions`` channels; an idle SFTP session gives up its own."""
        if self._channels.acquire(blocking=False):
            return
        with self._lock:
            idle = self._idle_sftp.pop() if self._idle_sftp else None
        if idle is not None:
            _close_quietly(idle)  # its channel is now ours
            return
        if not self._channels.acquire(timeout=timeout):
            raise TransportError(f"all {self.max_sessions} SSH sessions to {self.target.host}:{self.target.port} "
                                 f"stayed busy for {timeout:g} s")

    def _give_back_channel(self) -> None:
        try:
            self._channels.release()
        except ValueError:  # released by a close racing a kill: the budget is already whole
            pass

    def open_channel(self, timeout: float) -> paramiko.Channel:
        """A session channel (for a command, or under an SFTP session); ``close_channel`` gives its place back."""
        self._take_channel(timeout)
        try:
            channel = self.client.get_transport().open_session(timeout=timeout)
        except BaseException:
            self._give_back_channel()
            raise
        channel.settimeout(timeout)
        return channel

    def close_channel(self, channel: paramiko.Channel) -> None:
        _close_quietly(channel)
        self._give_back_channel()

    def checkout_sftp(self, timeout: float) -> paramiko.SFTPClient:
        """An SFTP session for this thread alone until ``checkin_sftp``; its reads time out after ``timeout``."""
        with self._lock:
            sftp = self._idle_sftp.pop() if self._idle_sftp else None
        if sftp is None:
            channel = self.open_channel(timeout)
            try:
                channel.invoke_subsystem("sftp")
                sftp = paramiko.SFTPClient(channel)
            except BaseException:
                self.close_channel(channel)
                raise
        sftp.get_channel().settimeout(timeout)
        return sftp

    def checkin_sftp(self, sftp: paramiko.SFTPClient, healthy: bool) -> None:
        """Keep a session that answered for the next operation; close one that failed mid-request."""
        if healthy and self.alive and not sftp.get_channel().closed:
            with self._lock:
                self._idle_sftp.append(sftp)
            return
        _close_quietly(sftp)
        self._give_back_channel()

    def close(self) -> None:
        """Close the connection; every wait on it (in any thread) wakes with an error."""
        with self._lock:
            self._idle_sftp.clear()
        _close_quietly(self.client)


def _serves(conn: Connection, target: SSHTarget) -> bool:
    """Whether ``conn`` may serve ``target``: the same target, or the same but for a first-use target's missing
    key (the caller's trust then pins the key the connection checked: another system on the same host and
    login, or this one's transports opened before its first connection pinned the key)."""
    return conn.target == target or (target.host_key is None and conn.target == replace(target, host_key=conn.target.host_key))


def _close_quietly(closable) -> None:
    try:
        closable.close()
    except Exception:  # closing a dead connection must never mask the original error
        log.debug("error closing %r", closable, exc_info=True)


class ConnectionPool:
    """Process-wide pool: one live connection per (host, port, login).

    Targets with a connection limit or spacing go through the ``gate`` before connecting, and their
    connections are closed after ``idle_seconds`` unused, so a process does not sit on a scarce slot.
    """

    #: Slots are leased for this long and renewed while used (a killed process's slots free themselves).
    RENEW_SECONDS = 60.0

    def __init__(self) -> None:
        self.gate: ConnectionGate | None = None
        self.idle_seconds = 30.0
        self.max_sessions = 10
        self._forget_after_fork()

    def get(self, target: SSHTarget, connect_timeout: float, trust: HostKeyTrust | None = None) -> Connection:
        """The live connection for ``target``, connecting if there is none.

        Args:
            trust: what to do with the host's key: required when the target pins none (first use), and asked
                for the error when the host shows another key than the pinned one.

        Raises:
            HostKeyMismatchError: the host showed another key than the pinned one (or than one pinned meanwhile).
        """
        if target.host_key is None and trust is None:
            raise ConfigurationError(f"no host key is recorded for {target.host}:{target.port} and nothing may pin one")
        key = target.pool_key
        with self._lock:
            if self._closed:
                raise TransportError(f"this worker is stopping: no new work on {target.host}:{target.port}")
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:
            conn = self._connections.get(key)
            if conn is not None and conn.alive and _serves(conn, target):
                if target.host_key is None:  # the key this live connection checked is the one the host shows
                    trust.first_use(conn.target.host_key)
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
                conn = self._trusted(Connection(target, connect_timeout, self.max_sessions), trust)
            except KeyChanged as exc:
                self._release(target, slot)
                error = trust.changed(exc.pinned, exc.offered) if trust else HostKeyMismatchError(
                    f"{target.host}:{target.port}: {exc}; refusing to connect")
                raise error from exc
            except BaseException:
                self._release(target, slot)
                raise
            conn.slot = slot
            self._connections[key] = conn
            if slot is not None:
                self._start_reaper()
            return conn

    @staticmethod
    def _trusted(conn: Connection, trust: HostKeyTrust | None) -> Connection:
        """A first-use connection is used only once the trust pinned the key it showed (else it is closed)."""
        if conn.first_use_key is None:
            return conn
        try:
            trust.first_use(conn.first_use_key)
        except BaseException:
            conn.close()
            raise
        conn.target = replace(conn.target, host_key=conn.first_use_key)
        return conn

    def _release(self, target: SSHTarget, slot: int | None) -> None:
        if slot is not None:
            self.gate.release(target.host, target.port, slot)

    def _renew(self, conn: Connection) -> None:
        try:
            self.gate.renew(conn.target.host, conn.target.port, conn.slot)
            conn.last_renewed = conn.last_used
        except Exception:  # the lease outlives one missed renewal
            log.warning("could not renew the SSH slot of %r", conn.target, exc_info=True)

    def _close(self, conn: Connection) -> None:
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

    def discard(self, conn: Connection) -> None:
        """Drop ``conn`` (broken or hung); a connection another thread already put in its place stays."""
        with self._lock:
            if self._connections.get(conn.target.pool_key) is conn:
                del self._connections[conn.target.pool_key]
        self._close(conn)

    def close_all(self, *, stopping: bool = False) -> None:
        """Close every connection; with ``stopping``, refuse new ones (a worker's shutdown grace ran out)."""
        with self._lock:
            self._closed = self._closed or stopping
            connections, self._connections = list(self._connections.values()), {}
        for conn in connections:
            self._close(conn)

    def held(self) -> int:
        return sum(1 for c in self._connections.values() if c.alive)

    def _forget_after_fork(self) -> None:
        self._lock = threading.Lock()
        self._connections: dict[tuple[str, int, str], Connection] = {}
        self._key_locks: dict[tuple[str, int, str], threading.Lock] = {}
        self._reaper: threading.Thread | None = None
        self._closed = False


POOL = ConnectionPool()
os.register_at_fork(after_in_child=POOL._forget_after_fork)


@contextmanager
def sftp_session(conn: Connection, timeout: float) -> Iterator[paramiko.SFTPClient]:
    """Check a session out for one operation; a session whose request failed mid-way is closed."""
    sftp = conn.checkout_sftp(timeout)
    healthy = False
    try:
        yield sftp
        healthy = True
    except (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError):
        healthy = True  # an answer from the host: the session is fine
        raise
    finally:
        conn.checkin_sftp(sftp, healthy)
