"""One user's permissions on a system or an app, and Tapis sharing, as the callers of either service use them.

Both kinds work the same way: load the resource as the caller may see it (a caller who cannot gets "not
found"), then apply the rules of ``services.permissions`` (only the owner or an admin grants, revokes and
shares). ``services.systems.SHARING`` and ``services.apps.SHARING`` are the two instances.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy.orm import Session

from dlws_flow.domain.listing import PUBLIC_GRANTEE
from dlws_flow.errors import ValidationError
from dlws_flow.services import history
from dlws_flow.services import permissions as perms
from dlws_flow.services.auth import Principal
from dlws_flow.store.db import session_scope


class Owned(Protocol):
    owner: str
    tenant: str


@dataclass(frozen=True)
class Sharing:
    """Grant, revoke, read permissions, share and unshare for one kind of resource.

    Attributes:
        kind: the grant kind in ``services.permissions`` ("system", "app").
        visible: loads the resource by id as the caller may see it, raising ``NotFoundError`` otherwise.
        public_flags: what ``share_info`` answers before ``userList`` (public sharing is never offered).
    """

    kind: str
    visible: Callable[[Session, Principal, str], Owned]
    public_flags: dict[str, bool] = field(default_factory=lambda: {"public": False, "isPublic": False})

    def grant(self, principal: Principal, resource_id: str, username: str, permissions: list[str]) -> list[str]:
        with session_scope() as session:
            row = self.visible(session, principal, resource_id)
            granted = perms.grant_user(session, principal, self.kind, resource_id, row.owner, username, permissions)
            history.record(session, self.kind, resource_id, row.tenant, principal, "GRANT_PERMS",
                           f"granted {', '.join(granted)} to {username}")
            return granted

    def revoke(self, principal: Principal, resource_id: str, username: str, permissions: list[str] | None) -> None:
        with session_scope() as session:
            row = self.visible(session, principal, resource_id)
            perms.revoke_user(session, principal, self.kind, resource_id, row.owner, username, permissions)
            history.record(session, self.kind, resource_id, row.tenant, principal, "REVOKE_PERMS",
                           f"revoked {', '.join(permissions) if permissions else 'every permission'} from {username}")

    def user_permissions(self, principal: Principal, resource_id: str, username: str) -> list[str]:
        with session_scope() as session:
            row = self.visible(session, principal, resource_id)
            return perms.permissions_of(session, principal, self.kind, resource_id, row.owner, username)

    def share(self, principal: Principal, resource_id: str, users: list[str]) -> None:
        """Tapis sharing: the users may see the resource and run jobs with it (READ + EXECUTE), one at a time."""
        for username in users:
            self.grant(principal, resource_id, username, list(perms.SHARE_PERMISSIONS))

    def unshare(self, principal: Principal, resource_id: str, users: list[str]) -> None:
        for username in users:
            self.revoke(principal, resource_id, username, list(perms.SHARE_PERMISSIONS))

    def share_public(self, principal: Principal, resource_id: str, public: bool) -> None:
        """Tapis public sharing (apps only): every user of the tenant may see and run it (READ + EXECUTE)."""
        if self.kind != "app":
            raise ValidationError(f"public sharing is offered for apps only, not for a {self.kind}")
        with session_scope() as session:
            row = self.visible(session, principal, resource_id)
            perms.require_owner(principal, row.owner, f"only the owner of {self.kind} {resource_id} may share it")
            if public:
                perms.grant(session, self.kind, resource_id, PUBLIC_GRANTEE, perms.SHARE_PERMISSIONS,
                            by=principal.username)
            else:
                perms.revoke(session, self.kind, resource_id, PUBLIC_GRANTEE, perms.SHARE_PERMISSIONS)
            history.record(session, self.kind, resource_id, row.tenant, principal,
                           "GRANT_PERMS" if public else "REVOKE_PERMS",
                           f"{'shared with' if public else 'no longer shared with'} every user of the tenant")

    def share_info(self, principal: Principal, resource_id: str) -> dict[str, Any]:
        with session_scope() as session:
            self.visible(session, principal, resource_id)
            public = self.kind == "app" and perms.shared_publicly(session, self.kind, resource_id)
            return {**self.public_flags, **({"public": True, "isPublic": True} if public else {}),
                    "userList": perms.shared_users(session, self.kind, resource_id)}
