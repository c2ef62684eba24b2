"""The host side of Tapis getFacl and setFacl: ``getfacl``/``setfacl`` on a path resolved inside the root.

An ACL string is checked entry by entry before anything runs (``validate_acl``): ``[default:]type:qualifier:
perms`` with the types of ``setfacl(1)``, a user or group name by the same rule as chown, permissions of
``rwxX-``. The command gets the real path, quoted; ``PHYSICAL`` recursion never follows a symlink, ``LOGICAL``
follows only those ``setfacl`` meets below the (already resolved) path, as ``setfacl -L`` does.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from typing import Any

from dlws_flow.adapters.transports import Transport
from dlws_flow.adapters.transports.containment import existing as _existing
from dlws_flow.errors import ValidationError

_TYPE = {"u": "user", "user": "user", "g": "group", "group": "group", "m": "mask", "mask": "mask",
         "o": "other", "other": "other"}
_ENTRY = re.compile(r"(?:(?P<default>d|default):)?(?P<type>u|user|g|group|m|mask|o|other)"
                    r"(?::(?P<who>[a-z_][a-z0-9_-]{0,31}|[0-9]{1,10})?)?(?::(?P<perms>[rwxX-]{1,4}))?")
SET_FACL_FLAGS = {"ADD": "-m", "REMOVE": "-x", "REMOVE_DEFAULT": "-k", "REMOVE_ALL": "-b"}
RECURSION_FLAGS = {"NONE": "", "PHYSICAL": " -R -P", "LOGICAL": " -R -L"}


def validate_acl(operation: str, acl: str, recursion: str) -> list[str]:
    """The entries of ``acl``, checked for ``operation``; a bad one is a ``ValidationError`` naming it."""
    if operation not in SET_FACL_FLAGS:
        raise ValidationError(f"operation {operation!r}: one of {', '.join(SET_FACL_FLAGS)}")
    if recursion not in RECURSION_FLAGS:
        raise ValidationError(f"recursionMethod {recursion!r}: one of {', '.join(RECURSION_FLAGS)}")
    if operation in ("REMOVE_DEFAULT", "REMOVE_ALL"):
        return []
    entries = [e.strip() for e in (acl or "").split(",") if e.strip()]
    if not entries:
        raise ValidationError("aclString: give at least one entry, e.g. user:alice:rwx")
    for entry in entries:
        match = _ENTRY.fullmatch(entry)
        if match is None or (operation == "ADD" and not match["perms"]) or (operation == "REMOVE" and match["perms"]):
            form = "[default:]type:name:perms" if operation == "ADD" else "[default:]type:name"
            raise ValidationError(f"aclString entry {entry!r}: {form}, type user/group/mask/other, perms of rwxX-")
    return entries


def op_get_facl(transport: Transport, *, root: str, path: str) -> dict[str, Any]:
    """The path's ACL entries as Tapis' ``AclEntryInfo`` list."""
    target, _ = _existing(transport, root, path)
    output = transport.run(f"getfacl --omit-header --absolute-names -- {shlex.quote(target)}").check().stdout
    entries = []
    for line in output.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        default = line.startswith("default:")
        kind, principal, permissions = (line.removeprefix("default:").split(":") + ["", ""])[:3]
        entries.append({"defaultAcl": default, "type": _TYPE.get(kind, kind), "principal": principal,
                        "permissions": permissions})
    return {"entries": entries}


def op_set_facl(transport: Transport, *, root: str, path: str, action: str, acl: str,
                recursion: str = "NONE") -> dict[str, Any]:
    """``setfacl`` as a Tapis ``NativeLinuxSetFaclResult`` (the host's refusal is its exit code and stderr).
    ``action`` is the request's ``operation`` (the gateway's own first argument has that name)."""
    entries = validate_acl(action, acl, recursion)
    target, _ = _existing(transport, root, path)
    flag = SET_FACL_FLAGS[action]
    spec = f" {shlex.quote(','.join(entries))}" if entries else ""
    command = f"setfacl{RECURSION_FLAGS[recursion]} {flag}{spec} -- {shlex.quote(target)}"
    result = transport.run(command)
    return {"command": command, "exitCode": result.exit_code, "stdOut": result.stdout, "stdErr": result.stderr}


ACL_OPERATIONS: dict[str, Callable[..., dict[str, Any]]] = {"get_facl": op_get_facl, "set_facl": op_set_facl}
