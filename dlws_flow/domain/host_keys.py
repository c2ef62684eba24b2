"""Host keys as OpenSSH writes them: the public key line (``ssh-ed25519 AAAA... comment``), its SHA256
fingerprint in OpenSSH's format (``SHA256:`` and the unpadded base64 of the digest, as ``ssh-keygen -lf``
and ``ssh`` print it), and the message a changed key is refused with.

A system's key is pinned in one of two ways: given with the record (``hostKey``, strict from the start) or
trusted on first use (``DLWS_HOST_KEY_TRUST=first-use``): the key the host shows at the first connection is
recorded, as OpenSSH's ``StrictHostKeyChecking=accept-new`` does, and every later connection must show it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re

#: ``TYPE BASE64 [comment]``: the shape of a public key line (``ssh-keyscan`` prints a host name before it).
KEY_LINE = re.compile(r"^(?P<type>[a-z][a-z0-9@.-]{2,63}) (?P<blob>[A-Za-z0-9+/]+={0,2})(?: .*)?$")
FINGERPRINT = re.compile(r"^SHA256:[A-Za-z0-9+/]{43}$")
#: Where the owner accepts a changed key (the API never connects to a host: the offered key is stored).
ACCEPT_ROUTE = "POST /v3/systems/{system_id}/hostKey/accept"
ACCEPT_COMMAND = "dlws-flow systems accept-host-key {system_id} --fingerprint {fingerprint}"


def canonical(line: str) -> str:
    """The key as ``TYPE BASE64``, without a comment: the form pinned and compared.

    Raises:
        ValueError: ``line`` is not a public key line.
    """
    match = KEY_LINE.match(line.strip())
    if match is None:
        raise ValueError("hostKey must be an OpenSSH public key line such as 'ssh-ed25519 AAAAC3...' "
                         "(ssh-keyscan prints it after the host name)")
    return f"{match['type']} {match['blob']}"


def fingerprint(line: str) -> str:
    """OpenSSH's SHA256 fingerprint of a public key line: ``SHA256:`` + base64 of the digest, no padding.

    Raises:
        ValueError: ``line`` is not a public key line, or its key is not valid base64.
    """
    blob = canonical(line).split(" ", 1)[1]
    try:
        raw = base64.b64decode(blob, validate=True)
    except binascii.Error as exc:
        raise ValueError(f"the host key is not valid base64: {exc}") from exc
    return "SHA256:" + base64.b64encode(hashlib.sha256(raw).digest()).decode().rstrip("=")


def fingerprint_or_none(line: str | None) -> str | None:
    """The fingerprint for a view: None for no key, and for a stored key that cannot be read."""
    if not line:
        return None
    try:
        return fingerprint(line)
    except ValueError:
        return None


def same_key(first: str | None, second: str | None) -> bool:
    """Whether two key lines hold the same key (comments aside)."""
    if not first or not second:
        return False
    try:
        return canonical(first) == canonical(second)
    except ValueError:
        return False


def mismatch_message(system_id: str, host: str, port: int, pinned: str, offered: str) -> str:
    """Why a connection was refused, both fingerprints, and how the owner accepts the new key."""
    offered_print = fingerprint_or_none(offered) or "(unreadable key)"
    return (f"host key of system {system_id} ({host}:{port}) changed: pinned {fingerprint_or_none(pinned)}, "
            f"the host offered {offered_print}; refusing to connect. If the change is expected, the system's owner "
            f"(or an admin) accepts the offered key with {ACCEPT_ROUTE.format(system_id=system_id)} "
            f"(body {{\"fingerprint\": \"{offered_print}\"}}) or "
            f"`{ACCEPT_COMMAND.format(system_id=system_id, fingerprint=offered_print)}`")
