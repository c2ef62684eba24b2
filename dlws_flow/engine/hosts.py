"""Open a transport to a registered system as a given dlws user.

Which stored login a user's work uses (``credential_for``): their own; failing that, on a system with one
static login (``effectiveUserId`` not ``${apiUserId}``), the one its *current* owner stored, which Tapis lets
every user the owner shares the system with use. Nothing else: a former owner's login, or one left by a
deleted record of the same id, is gone from the store (``services.systems``), and on a ``${apiUserId}``
system each user logs in as themselves with their own login only.

Which host key a connection must see: the system's (given with the record, or pinned at its first
connection). A system without one is trusted on first use (``DLWS_HOST_KEY_TRUST=first-use``): the transport
accepts the key the host shows and ``HostKeyPins`` pins it with a compare-and-set, in a transaction of its
own, writing the pin into the system's history and the history of the job whose stage connected
(``first_connection_of``). A changed key is refused naming both fingerprints, and the offered key is stored
so that its owner can accept it without the API connecting anywhere (``services.host_keys``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from sqlalchemy.orm import Session

from dlws_flow import secrets
from dlws_flow.adapters import registry
from dlws_flow.adapters.transports import Transport
from dlws_flow.adapters.transports.ssh_pool import POOL, SSHTarget
from dlws_flow.domain import host_keys
from dlws_flow.domain.records import SystemSpec
from dlws_flow.errors import ConfigurationError, HostKeyMismatchError, SystemBlockedError
from dlws_flow.settings import get_settings
from dlws_flow.store import repositories as repo
from dlws_flow.store.db import session_scope
from dlws_flow.store.models import CredentialRow
from dlws_flow.store.ssh_slots import DatabaseGate

log = logging.getLogger(__name__)

#: The job whose stage is running in this thread (``first_connection_of``): a first connection names it.
_CURRENT_JOB: ContextVar[str | None] = ContextVar("dlws_current_job", default=None)


@contextmanager
def first_connection_of(job_uuid: str) -> Iterator[None]:
    """Transports opened inside belong to ``job_uuid``'s stage: a host key pinned by them is in its history."""
    token = _CURRENT_JOB.set(job_uuid)
    try:
        yield
    finally:
        _CURRENT_JOB.reset(token)


class HostKeyPins:
    """The transport's ``HostKeyTrust`` for one system: pins a first-use key, records a changed one."""

    def __init__(self, system: SystemSpec, username: str, job_uuid: str | None) -> None:
        self.system, self.username, self.job_uuid = system, username, job_uuid

    def first_use(self, key: str) -> None:
        """Pin ``key`` unless a key is pinned already; the same key is fine, another one is a changed key."""
        system = self.system
        with session_scope() as session:
            if repo.pin_host_key(session, system.id, key):
                self._record_pin(session, key)
                return
            pinned, _ = repo.host_key_of(session, system.id)
        if pinned is None:  # neither pinned nor pinnable: the record was deleted meanwhile
            raise ConfigurationError(f"system {system.id} was deleted")
        if not host_keys.same_key(pinned, key):
            raise self.changed(pinned, key)

    def _record_pin(self, session: Session, key: str) -> None:
        system, fingerprint = self.system, host_keys.fingerprint(key)
        where = f"{system.host}:{system.port}"
        log.info("system %s: pinned the host key of %s on first use: %s", system.id, where, fingerprint)
        row = repo.get_system(session, system.id)
        via = f" by job {self.job_uuid}" if self.job_uuid else ""
        repo.add_system_event(session, system.id, row.tenant, self.username, "HOST_KEY_PINNED",
                              f"Host key of {where} trusted on first use{via}: {key.split()[0]} {fingerprint}")
        if self.job_uuid:
            repo.add_job_event(session, self.job_uuid, "JOB_HOST_KEY_PINNED",
                               f"First connection to system {system.id} ({where}): its host key "
                               f"{key.split()[0]} {fingerprint} is trusted from now on")

    def changed(self, pinned: str, offered: str) -> HostKeyMismatchError:
        """Store the offered key (what accepting pins) and, for a new offer, a history entry; the error to raise."""
        system = self.system
        message = host_keys.mismatch_message(system.id, system.host, system.port, pinned, offered)
        with session_scope() as session:
            if repo.offer_host_key(session, system.id, offered):
                row = repo.get_system(session, system.id)
                repo.add_system_event(session, system.id, row.tenant, self.username, "HOST_KEY_CHANGED",
                                      f"The host offered {host_keys.fingerprint_or_none(offered)} instead of the "
                                      f"pinned {host_keys.fingerprint_or_none(pinned)}: refused until accepted")
        log.warning("system %s: %s", system.id, message)
        return HostKeyMismatchError(message)  # the transport names the system on it


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
        ConfigurationError: no credential for an SSH system, or no recorded host key where
            ``DLWS_HOST_KEY_TRUST=strict``.
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
    if not system.hostKey and settings.host_key_trust == "strict":
        raise ConfigurationError(f"system {system.id} has no recorded host key and this deployment trusts none on "
                                 "first use (DLWS_HOST_KEY_TRUST=strict): give the system its hostKey")
    _install_gate(settings)
    target = SSHTarget(
        host=system.host, port=system.port, username=login, host_key=system.hostKey or None,
        private_key=secrets.decrypt(credential.private_key), password=secrets.decrypt(credential.password),
        max_connections=system.maxConnections or settings.ssh_max_connections,
        connect_interval=system.connectIntervalSeconds if system.connectIntervalSeconds is not None
        else settings.ssh_connect_interval,
    )
    return registry.create("transport", "SSH", target, connect_timeout=settings.ssh_connect_timeout,
                           command_timeout=settings.ssh_command_timeout, system_id=system.id,
                           trust=HostKeyPins(system, username, _CURRENT_JOB.get()))


def _install_gate(settings) -> None:
    """Give this process's SSH pool the deployment-wide connection slots (once)."""
    if POOL.gate is None:
        POOL.gate = DatabaseGate(wait_seconds=settings.ssh_slot_wait)
        POOL.idle_seconds = settings.ssh_idle_seconds
        POOL.max_sessions = settings.ssh_max_sessions
