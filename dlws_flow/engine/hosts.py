"""Open a transport to a registered system as a given dlws user.

Which stored login a user's work uses (``credential_for``): their own; failing that, on a system with one
static login (``effectiveUserId`` not ``${apiUserId}``), the one its *current* owner stored, which Tapis lets
every user the owner shares the system with use. Nothing else: a former owner's login, or one left by a
deleted record of the same id, is gone from the store (``services.systems``), and on a ``${apiUserId}``
system each user logs in as themselves with their own login only.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from dlws_flow import secrets
from dlws_flow.adapters import registry
from dlws_flow.adapters.transports import Transport
from dlws_flow.adapters.transports.ssh_pool import POOL, SSHTarget
from dlws_flow.domain.records import SystemSpec
from dlws_flow.errors import ConfigurationError, SystemBlockedError
from dlws_flow.settings import get_settings
from dlws_flow.store import repositories as repo
from dlws_flow.store.models import CredentialRow
from dlws_flow.store.ssh_slots import DatabaseGate


def credential_for(session: Session, system: SystemSpec, username: str) -> CredentialRow | None:
    """The stored login ``username``'s work on ``system`` uses, or None (see the module's docstring)."""
    own = repo.get_credential(session, system.id, username)
    if own is not None or repo.static_login(system) is None or not system.owner or system.owner == username:
        return own
    return repo.get_credential(session, system.id, system.owner)


def missing_credential(system: SystemSpec, username: str) -> ConfigurationError:
    """The error for a user without a usable login: names the user and the system, and how to store one."""
    shared = repo.static_login(system) is not None and system.owner and system.owner != username
    return ConfigurationError(
        f"no credential for user {username} on system {system.id}"
        + (f" (nor for its owner {system.owner}, whose login it shares)" if shared else "")
        + f": store one with POST /v3/systems/credential/{system.id}/user/{username}")


def login_for(session: Session, system: SystemSpec, username: str) -> str:
    credential = credential_for(session, system, username)
    if credential and credential.login_user:
        return credential.login_user
    return username if system.effectiveUserId == "${apiUserId}" else system.effectiveUserId


def open_transport(session: Session, system: SystemSpec, username: str, *, probing: bool = False) -> Transport:
    """A transport for ``system`` using ``username``'s credential (or the system owner's).

    While a recovery condition is open for (system, login), no connection is tried: recovery's probe
    (``probing=True``) is the only traffic the host sees until it clears.

    Raises:
        ConfigurationError: no credential, or no recorded host key, for an SSH system.
        SystemBlockedError: the (system, login) is blocked on a fault condition.
    """
    settings = get_settings()
    login = login_for(session, system, username)
    if not probing:
        condition = repo.open_condition(session, system.id, login)
        if condition is not None:
            raise SystemBlockedError(system.id, condition.condition,
                                     f"{system.id} is blocked ({condition.condition}) since "
                                     f"{condition.first_blocked.isoformat(timespec='seconds')}: {condition.last_error}")
    if system.transport == "LOCAL":
        return registry.create("transport", "LOCAL", command_timeout=settings.ssh_command_timeout)
    credential = credential_for(session, system, username)
    if credential is None:
        raise missing_credential(system, username)
    if not system.hostKey:
        raise ConfigurationError(f"system {system.id} has no recorded host key; register it with hostKey or fetch it explicitly")
    _install_gate(settings)
    target = SSHTarget(
        host=system.host, port=system.port, username=login, host_key=system.hostKey,
        private_key=secrets.decrypt(credential.private_key), password=secrets.decrypt(credential.password),
        max_connections=system.maxConnections or settings.ssh_max_connections,
        connect_interval=system.connectIntervalSeconds if system.connectIntervalSeconds is not None
        else settings.ssh_connect_interval,
    )
    return registry.create("transport", "SSH", target, connect_timeout=settings.ssh_connect_timeout,
                           command_timeout=settings.ssh_command_timeout, system_id=system.id)


def _install_gate(settings) -> None:
    """Give this process's SSH pool the deployment-wide connection slots (once)."""
    if POOL.gate is None:
        POOL.gate = DatabaseGate(wait_seconds=settings.ssh_slot_wait)
        POOL.idle_seconds = settings.ssh_idle_seconds
        POOL.max_sessions = settings.ssh_max_sessions
