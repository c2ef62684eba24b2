"""One login with a key that is not a system's credential (a job's OpenPAI key, ``engine.job_ssh``): a
connection of its own, outside the pool (pooled connections are per (host, port, login) whatever the key,
and a probe must prove this key), the host's pinned key required, one command, closed."""

from __future__ import annotations

import io
from dataclasses import dataclass

import paramiko

from dlws_flow.adapters.transports.ssh_keys import parse_host_key
from dlws_flow.errors import TransportError


@dataclass(frozen=True)
class KeyLogin:
    #: Whether the host accepted the key at all.
    accepted: bool
    exit_code: int = -1
    stdout: str = ""


def _host_entry(host: str, port: int) -> str:
    return host if port == 22 else f"[{host}]:{port}"


def run_with_key(host: str, port: int, username: str, host_key: str, private_key: str, command: str,
                 timeout: float = 15.0) -> KeyLogin:
    """Log in with ``private_key`` and run ``command``.

    Raises:
        TransportError: the host cannot be reached, or shows another key than ``host_key``.
    """
    pinned = parse_host_key(host_key)
    client = paramiko.SSHClient()
    client.get_host_keys().add(_host_entry(host, port), pinned.get_name(), pinned)
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    try:
        client.connect(host, port=port, username=username, pkey=paramiko.Ed25519Key.from_private_key(io.StringIO(private_key)),
                       timeout=timeout, banner_timeout=timeout, auth_timeout=timeout, look_for_keys=False,
                       allow_agent=False)
    except paramiko.AuthenticationException:
        client.close()
        return KeyLogin(accepted=False)
    except (OSError, paramiko.SSHException) as exc:
        client.close()
        raise TransportError(f"cannot log in to {host}:{port} with the job's key: {exc}") from exc
    try:
        _, stdout, _ = client.exec_command(command, timeout=timeout)
        out = stdout.read().decode(errors="replace")
        return KeyLogin(accepted=True, exit_code=stdout.channel.recv_exit_status(), stdout=out)
    except (OSError, paramiko.SSHException) as exc:
        raise TransportError(f"the login to {host}:{port} with the job's key broke off: {exc}") from exc
    finally:
        client.close()
