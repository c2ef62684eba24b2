"""Host keys on the SSH transport: the policy Paramiko asks about the key a host shows, and the trust the
caller gives the pool (``ssh_pool.ConnectionPool.get``) to pin a key on first use or to word a refusal.

Why a policy of our own, also when a key is pinned: Paramiko compares the shown key with the pinned one only
when both are of one type; a host that shows a key of another type reaches the missing-key policy, and that
is a changed key too (a permanent refusal), not a transient connection failure.
"""

from __future__ import annotations

import base64
import socket
from typing import Protocol

import paramiko

from dlws_flow.domain.host_keys import fingerprint_or_none
from dlws_flow.errors import HostKeyMismatchError, TransportError


def key_line(key: paramiko.PKey) -> str:
    return f"{key.get_name()} {key.get_base64()}"


class HostKeyTrust(Protocol):
    """What the caller does with the keys a host shows (``dlws_flow.engine.hosts``)."""

    def first_use(self, key: str) -> None:
        """Pin ``key``, shown at the first connection to a host without a pinned key.

        Raises:
            HostKeyMismatchError: another key was pinned meanwhile (a concurrent first use).
        """

    def changed(self, pinned: str, offered: str) -> HostKeyMismatchError:
        """The error for a host that showed ``offered`` instead of ``pinned`` (the offer is recorded)."""


class KeyChanged(Exception):
    """The host showed ``offered``, not the ``pinned`` key; ``ConnectionPool.get`` asks the trust for the error."""

    def __init__(self, pinned: str, offered: str) -> None:
        super().__init__(f"host key changed: pinned {fingerprint_or_none(pinned)}, offered {fingerprint_or_none(offered)}")
        self.pinned, self.offered = pinned, offered


class HostKeyPolicy(paramiko.MissingHostKeyPolicy):
    """Paramiko asks this when the host's key is not the pinned one's type (or nothing is pinned): with a
    pinned key that is a changed key; without one, the key shown is remembered and accepted (first use)."""

    def __init__(self, pinned: paramiko.PKey | None) -> None:
        self.pinned = pinned
        self.shown: paramiko.PKey | None = None

    def missing_host_key(self, client, hostname, key) -> None:
        if self.pinned is not None:
            raise paramiko.BadHostKeyException(hostname, key, self.pinned)
        self.shown = key


def parse_host_key(line: str) -> paramiko.PKey:
    try:
        key_type, blob = line.split()[:2]
        return paramiko.PKey.from_type_string(key_type, base64.b64decode(blob))
    except Exception as exc:
        raise TransportError(f"recorded host key is not an OpenSSH public key line: {exc}") from exc


def fetch_host_key(host: str, port: int, timeout: float = 15.0) -> str:
    """Ask the host for its public key once, before any login (``systems add --fetch-host-key``: the key is
    recorded with the system, as if given; without it a system is trusted on its first connection)."""
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except OSError as exc:
        raise TransportError(f"cannot reach {host}:{port}: {exc}") from exc
    transport = paramiko.Transport(sock)
    try:
        transport.start_client(timeout=timeout)
        return key_line(transport.get_remote_server_key())
    except paramiko.SSHException as exc:
        raise TransportError(f"cannot read the host key of {host}:{port}: {exc}") from exc
    finally:
        transport.close()
