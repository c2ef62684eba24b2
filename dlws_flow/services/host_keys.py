"""Host keys as a system's users see them: whether a system may come without one, the fingerprints its view
shows, its history, and accepting a changed key.

A system registered without ``hostKey`` is trusted on its first connection (``DLWS_HOST_KEY_TRUST=first-use``,
the default): a worker pins the key the host shows (``engine.hosts``). A host that later shows another key is
refused, and the key it offered is stored; its owner (or an admin) accepts it here (``POST
/v3/systems/{id}/hostKey/accept``, ``dlws-flow systems accept-host-key``), which needs no connection: the API
never opens SSH connections.
"""

from __future__ import annotations

from typing import Any

from dlws_flow.domain import host_keys
from dlws_flow.domain.records import SystemSpec
from dlws_flow.errors import ConflictError, NotFoundError, ValidationError
from dlws_flow.services import permissions as perms
from dlws_flow.services.auth import Principal
from dlws_flow.settings import get_settings
from dlws_flow.store import repositories as repo
from dlws_flow.store.db import session_scope
from dlws_flow.store.models import SystemRow

#: Fields a system's view shows and a request never sets (computed from the stored keys; dropped on input).
VIEW_FIELDS = ("hostKeyFingerprint", "hostKeyOffered")


def require_trust_policy(spec: SystemSpec) -> None:
    """Refuse an SSH system without ``hostKey`` where the deployment trusts no key on first use."""
    if spec.transport == "SSH" and not spec.hostKey and get_settings().host_key_trust == "strict":
        raise ValidationError(f"system {spec.id}: hostKey is required: this deployment trusts no host key on first "
                              "use (DLWS_HOST_KEY_TRUST=strict); give the host's public key line (ssh-keyscan prints it)")


def view_fields(row: SystemRow) -> dict[str, Any]:
    """``hostKeyFingerprint`` (the key in force, None before the first connection of a first-use system) and
    ``hostKeyOffered`` (the key a changed host offered, waiting to be accepted)."""
    return {"hostKeyFingerprint": host_keys.fingerprint_or_none(row.host_key),
            "hostKeyOffered": host_keys.fingerprint_or_none(row.offered_host_key)}


def _row(session, principal: Principal, system_id: str) -> SystemRow:
    row = repo.get_system(session, system_id)
    perms.require(session, principal, "system", row.id, row.owner, "READ", what=f"system {system_id}")
    return row


def accept(principal: Principal, system_id: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    """Pin the key the system's host offered in place of its pinned one (owner or admin).

    Args:
        body: optional ``{"fingerprint": "SHA256:..."}``: accept only if the offered key has that fingerprint
            (the one the refusal named), so a key offered after the caller looked is not accepted blindly.

    Raises:
        ValidationError: an unknown field, or a fingerprint not in OpenSSH's ``SHA256:...`` form.
        NotFoundError: no such system visible to the caller, or no offered key.
        PermissionDeniedError: the caller may see the system but does not own it.
        ConflictError: the offered key's fingerprint is not the one given.
    """
    expected = _fingerprint_of(body or {})
    with session_scope() as session:
        row = _row(session, principal, system_id)
        perms.require_owner(principal, row.owner,
                            f"only the owner of system {system_id} (or an admin) may accept a new host key")
        offered = host_keys.fingerprint_or_none(row.offered_host_key)
        if row.offered_host_key is None:
            raise NotFoundError(f"system {system_id} has no offered host key to accept: its host has shown no "
                                "other key than the pinned one")
        if expected is not None and expected != offered:
            raise ConflictError(f"fingerprint {expected} is not the one the host of system {system_id} offered "
                                f"({offered}); nothing was accepted")
        previous = host_keys.fingerprint_or_none(row.host_key)
        repo.accept_offered_host_key(session, row)
        repo.add_system_event(session, system_id, row.tenant, principal.username, "HOST_KEY_ACCEPTED",
                              f"Host key {offered} accepted by {principal.username} in place of {previous}")
        return {"systemId": system_id, "hostKeyFingerprint": offered, "previousFingerprint": previous}


def _fingerprint_of(body: dict[str, Any]) -> str | None:
    unknown = sorted(set(body) - {"fingerprint"})
    if unknown:
        raise ValidationError(f"unknown field(s) {', '.join(unknown)}: the body may hold only fingerprint")
    value = body.get("fingerprint")
    if value is None:
        return None
    if not isinstance(value, str) or not host_keys.FINGERPRINT.fullmatch(value.strip()):
        raise ValidationError("fingerprint must be a SHA256 fingerprint as OpenSSH prints it (SHA256: and 43 "
                              "base64 characters), e.g. the one the refusal named")
    return value.strip()


def accept_as_operator(system_id: str, fingerprint: str | None) -> dict[str, Any]:
    """The CLI's accept: the operator runs it on the deployment's own database, as an admin."""
    settings = get_settings()
    operator = Principal(settings.default_user, settings.tenant, is_admin=True)
    return accept(operator, system_id, {"fingerprint": fingerprint} if fingerprint else None)

