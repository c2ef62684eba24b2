"""The Tapis permission and share routes, the same for systems and apps: ``perms/{id}/user/{userName}``
(read, grant, revoke, revoke one), ``share/{id}`` (read, share) and ``unshare/{id}``, over a kind's
``services.sharing.Sharing``. ``add_sharing_routes`` adds them to the kind's router where it is called: route
order matters (the apps router needs them before ``/{appId}/{appVersion}``).

This module has no ``router`` of its own, so ``api.app`` does not mount it.
"""

# No ``from __future__ import annotations`` here: FastAPI reads the routes' annotations at definition time, and
# the path parameter's alias is a local of ``add_sharing_routes``, out of reach of a string annotation.

from typing import Annotated, Any

from fastapi import APIRouter, Path
from pydantic import BaseModel

from api.envelope import ok
from api.security import User
from dlws_flow.services.sharing import Sharing


class PermissionsBody(BaseModel):
    permissions: list[str]


class UsersBody(BaseModel):
    users: list[str]


def add_sharing_routes(router: APIRouter, sharing: Sharing, *, id_param: str, noun: str, share_use: str,
                       granted: str = "Permissions granted") -> None:
    """Add the permission and share routes of one kind of resource to ``router``.

    Args:
        router: the kind's router; the paths are relative to its prefix (``/v3/apps``).
        sharing: the kind's service, e.g. ``services.apps.SHARING``.
        id_param: the path parameter naming the resource, as the Tapis OpenAPI spells it ("appId").
        noun: the resource with its article, for the summaries ("an app").
        share_use: what sharing lets the users do, for the share route's summary.
        granted: the grant route's message; ``{user}`` and ``{id}`` are filled in.
    """
    ResourceId = Annotated[str, Path(alias=id_param)]
    title = sharing.kind.capitalize()

    @router.get(f"/perms/{{{id_param}}}/user/{{userName}}", summary=f"A user's permissions on {noun}")
    def get_user_perms(user: User, resource_id: ResourceId, userName: str) -> dict[str, Any]:
        return ok({"names": sharing.user_permissions(user, resource_id, userName)}, "Permissions retrieved")

    @router.post(f"/perms/{{{id_param}}}/user/{{userName}}", summary="Grant a user permissions (READ, MODIFY, EXECUTE)")
    def grant_user_perms(user: User, resource_id: ResourceId, userName: str, body: PermissionsBody) -> dict[str, Any]:
        names = sharing.grant(user, resource_id, userName, body.permissions)
        return ok({"names": names}, granted.format(user=userName, id=resource_id))

    @router.post(f"/perms/{{{id_param}}}/user/{{userName}}/revoke", summary="Revoke a user's permissions")
    def revoke_user_perms(user: User, resource_id: ResourceId, userName: str, body: PermissionsBody) -> dict[str, Any]:
        sharing.revoke(user, resource_id, userName, body.permissions)
        return ok({"names": sharing.user_permissions(user, resource_id, userName)}, "Permissions revoked")

    @router.delete(f"/perms/{{{id_param}}}/user/{{userName}}/{{permission}}", summary="Revoke one permission")
    def revoke_user_perm(user: User, resource_id: ResourceId, userName: str, permission: str) -> dict[str, Any]:
        sharing.revoke(user, resource_id, userName, [permission])
        return ok({"names": sharing.user_permissions(user, resource_id, userName)}, "Permission revoked")

    @router.get(f"/share/{{{id_param}}}", summary=f"Who {noun} is shared with")
    def get_share_info(user: User, resource_id: ResourceId) -> dict[str, Any]:
        return ok(sharing.share_info(user, resource_id), "Share info retrieved")

    @router.post(f"/share/{{{id_param}}}", summary=f"Share {noun} with users ({share_use})", name=f"share_{sharing.kind}")
    def share(user: User, resource_id: ResourceId, body: UsersBody) -> dict[str, Any]:
        sharing.share(user, resource_id, body.users)
        return ok(None, f"{title} {resource_id} shared")

    @router.post(f"/unshare/{{{id_param}}}", summary=f"Stop sharing {noun} with users", name=f"unshare_{sharing.kind}")
    def unshare(user: User, resource_id: ResourceId, body: UsersBody) -> dict[str, Any]:
        sharing.unshare(user, resource_id, body.users)
        return ok(None, f"{title} {resource_id} unshared")
