"""Tapis child systems: a system made from another (``createChildSystem``) with its own id, login
(``effectiveUserId``), ``rootDir`` and owner, that follows its parent's changes until it is unlinked.

What follows and what does not is decided for the child's owner, whose login the child uses: the parent's
changes reach a child except the fields that run as shell in its jobs or decide where and as whom its login
connects (``systems.OWNER_FIELDS``: host, port, hostKey, proxy, scheduler profiles, environment, ...). Those a
child takes from its parent once, when it is made (its creator read them), and only its owner changes them
afterwards; otherwise the parent's owner could send another user's login to a host of their choosing.
Credentials and grants are never inherited: the child's owner stores their own login.
"""

from __future__ import annotations

from typing import Any

from dlws_flow.domain.field_support import check_owner
from dlws_flow.errors import PermissionDeniedError, ValidationError
from dlws_flow.services import history
from dlws_flow.services.auth import Principal
from dlws_flow.services.catalog import parse_system
from dlws_flow.services.systems import local_needs_admin, require_free_id, visible_system
from dlws_flow.store import repositories as repo
from dlws_flow.store.db import session_scope

#: What a ``createChildSystem`` body may hold (ReqPostChildSystem).
CHILD_REQUEST_FIELDS = frozenset({"id", "effectiveUserId", "rootDir"})


def create_child(principal: Principal, parent_id: str, request: dict[str, Any]) -> str:
    """Make a child of ``parent_id`` (READ on it, and its ``allowChildren``), owned by the caller."""
    unknown = set(request) - CHILD_REQUEST_FIELDS
    if unknown:
        raise ValidationError(f"createChildSystem takes id, effectiveUserId and rootDir; not {', '.join(sorted(unknown))}")
    missing = [name for name in ("effectiveUserId", "rootDir") if not request.get(name)]
    if missing:
        raise ValidationError(f"createChildSystem needs {' and '.join(missing)}")
    check_owner(request, principal.username)
    with session_scope() as session:
        parent = visible_system(session, principal, parent_id)
        if not parent.spec.get("allowChildren"):
            raise PermissionDeniedError(f"system {parent_id} does not allow child systems (allowChildren is false)")
        child_id = request.get("id") or f"{parent_id}-{request['effectiveUserId']}"
        require_free_id(session, principal, child_id)
        inherited = {k: v for k, v in parent.spec.items() if k not in ("owner", "allowChildren")}
        if parent.host_key and not inherited.get("hostKey"):
            inherited["hostKey"] = parent.host_key  # the pin the parent trusts, not a first use of its own
        spec = parse_system({**inherited, "id": child_id, "owner": principal.username,
                             "effectiveUserId": request["effectiveUserId"], "rootDir": request["rootDir"]})
        local_needs_admin(principal, spec)
        row = repo.add_system(session, spec, principal.username, principal.tenant, replace=True)
        repo.set_system_parent(session, row, parent_id)
        history.record_system(session, child_id, principal.tenant, principal, "CREATE", f"child of system {parent_id}")
        return child_id


def unlink_from_parent(principal: Principal, child_id: str) -> int:
    """Make a child standalone (MODIFY on the child)."""
    with session_scope() as session:
        child = visible_system(session, principal, child_id, "MODIFY")
        parent_id = child.parent_id
        changed = repo.set_system_parent(session, child, None)
        if changed:
            history.record_system(session, child_id, child.tenant, principal, "MODIFY", f"unlinked from {parent_id}")
        return changed


def unlink_children(principal: Principal, parent_id: str, child_ids: list[str] | None, every: bool) -> int:
    """Make the named children of ``parent_id`` (or, with ``every``, all of them) standalone (MODIFY on the parent)."""
    if not every and not child_ids:
        raise ValidationError("name the children to unlink (childSystemIds), or ask for all=true")
    with session_scope() as session:
        parent = visible_system(session, principal, parent_id, "MODIFY")
        children = [c for c in repo.child_systems(session, parent.id) if every or c.id in set(child_ids or ())]
        for child in children:
            repo.set_system_parent(session, child, None)
            history.record_system(session, child.id, child.tenant, principal, "MODIFY", f"unlinked from {parent_id}")
        return len(children)
