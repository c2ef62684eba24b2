"""Tapis v3 Systems routes (``../shared/tapis-openapi/openapi_v3-systems.yml``) over
``dlws_flow.services.systems``. Credentials are write-only: no route ever returns a secret."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Request
from pydantic import BaseModel, ConfigDict

from api.dependencies import Gateway
from api.envelope import EnvelopeRoute, ok
from api.security import User
from api.tapis.search import add_catalog_search_routes
from api.tapis.sharing import add_sharing_routes
from dlws_flow.errors import NotFoundError, ValidationError
from dlws_flow.services import child_systems, system_host
from dlws_flow.services import history as history_service
from dlws_flow.services import host_keys as host_key_service
from dlws_flow.services import systems as system_service

router = APIRouter(prefix="/v3/systems", tags=["systems"], route_class=EnvelopeRoute)



def _url(request: Request, system_id: str) -> dict[str, str]:
    return {"url": f"{str(request.base_url).rstrip('/')}/v3/systems/{system_id}"}


add_catalog_search_routes(router, system_service.search, noun="system", body_schema="ReqSearchSystems")


@router.post("", summary="Create a system", status_code=201)
def create_system(user: User, request: Request, body: Annotated[dict[str, Any], Body(description="A Tapis ReqPostSystem")],
                  skipCredentialCheck: bool = True) -> dict[str, Any]:
    created = system_service.create(user, body)
    return ok(_url(request, created["id"]), f"System {created['id']} created")


@router.get("/{systemId}", summary="Get a system")
def get_system(user: User, systemId: str, returnCredentials: bool = False) -> dict[str, Any]:
    if returnCredentials:
        raise ValidationError("credentials are write-only here: returnCredentials is not supported")
    return ok(system_service.get(user, systemId), "System retrieved")


@router.patch("/{systemId}", summary="Change some fields of a system (MODIFY; some fields are the owner's only)")
def patch_system(user: User, request: Request, systemId: str, body: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
    system_service.update(user, systemId, body)
    return ok(_url(request, systemId), f"System {systemId} updated")


@router.put("/{systemId}", summary="Replace a system's definition (MODIFY; some fields are the owner's only)")
def put_system(user: User, request: Request, systemId: str, body: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
    system_service.update(user, systemId, body, full=True)
    return ok(_url(request, systemId), f"System {systemId} updated")


@router.get("/{systemId}/isEnabled", summary="Whether a system is enabled")
def is_enabled(user: User, systemId: str) -> dict[str, Any]:
    return ok({"aBool": system_service.is_enabled(user, systemId)}, "System enabled status retrieved")


@router.post("/{systemId}/enable", summary="Enable a system")
def enable_system(user: User, systemId: str) -> dict[str, Any]:
    return ok({"changes": system_service.set_enabled(user, systemId, True)}, f"System {systemId} enabled")


@router.post("/{systemId}/disable", summary="Disable a system (no new jobs)")
def disable_system(user: User, systemId: str) -> dict[str, Any]:
    return ok({"changes": system_service.set_enabled(user, systemId, False)}, f"System {systemId} disabled")


@router.post("/{systemId}/delete", summary="Delete a system")
def delete_system(user: User, systemId: str) -> dict[str, Any]:
    return ok({"changes": system_service.set_deleted(user, systemId, True)}, f"System {systemId} deleted")


@router.post("/{systemId}/undelete", summary="Undelete a system")
def undelete_system(user: User, systemId: str) -> dict[str, Any]:
    return ok({"changes": system_service.set_deleted(user, systemId, False)}, f"System {systemId} undeleted")


@router.post("/{systemId}/changeOwner/{userName}", summary="Give a system to another user")
def change_system_owner(user: User, systemId: str, userName: str) -> dict[str, Any]:
    return ok({"changes": system_service.change_owner(user, systemId, userName)}, f"System {systemId} owner changed")


@router.get("/{systemId}/history", summary="A system's history: changes, enable/disable, owner, credentials, "
            "permissions, host key events")
def get_system_history(user: User, systemId: str) -> dict[str, Any]:
    return ok(history_service.system_history(user, systemId), "System history retrieved")


@router.post("/{systemId}/hostKey/accept", summary="Accept the host key a changed host offered (owner or admin)")
def accept_host_key(user: User, systemId: str, body: Annotated[dict[str, Any] | None, Body(
                    description='{"fingerprint": "SHA256:..."} (optional): accept only an offered key of it')] = None
                    ) -> dict[str, Any]:
    accepted = host_key_service.accept(user, systemId, body)
    return ok(accepted, f"Host key {accepted['hostKeyFingerprint']} of system {systemId} accepted")


# --- credentials (write-only) ---------------------------------------------------------------------


@router.post("/credential/{systemId}/user/{userName}", summary="Store a user's login for a system (the owner: anyone's; "
              "any other user: their own)")
def create_user_credential(user: User, request: Request, systemId: str, userName: str,
                           body: Annotated[dict[str, Any], Body(description="privateKey/publicKey, or password; loginUser")],
                           skipCredentialCheck: bool = True) -> dict[str, Any]:
    system_service.set_credential(user, systemId, userName, body)
    return ok(_url(request, systemId), f"Credential for {userName} on {systemId} stored")


@router.get("/credential/{systemId}/user/{userName}", summary="Whether a credential is stored (never the secret)")
def get_user_credential(user: User, systemId: str, userName: str) -> dict[str, Any]:
    if not system_service.has_credential(user, systemId, userName):
        raise NotFoundError(f"no credential for {userName} on {systemId}")
    return ok({"systemId": systemId, "userName": userName, "stored": True,
               "note": "credentials are write-only; secrets are never returned"}, "Credential found")


class UnlinkChildrenRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    childSystemIds: list[str] | None = None


@router.post("/{parentId}/createChildSystem", summary="Make a child system of one you may read (its allowChildren "
             "set): your own id, login and rootDir, following the parent's changes", status_code=201)
def create_child_system(user: User, request: Request, parentId: str, body: Annotated[dict[str, Any], Body(
                        description="ReqPostChildSystem: effectiveUserId, rootDir, id (default parentId-effectiveUserId)")]
                        ) -> dict[str, Any]:
    child_id = child_systems.create_child(user, parentId, body)
    return ok(_url(request, child_id), f"Child system {child_id} of {parentId} created")


@router.post("/{childSystemId}/unlinkFromParent", summary="Make a child system standalone (MODIFY on it)")
def unlink_from_parent(user: User, childSystemId: str) -> dict[str, Any]:
    return ok({"changes": child_systems.unlink_from_parent(user, childSystemId)}, "Child system unlinked")


@router.post("/{parentSystemId}/unlinkChildren", summary="Make children of a system standalone (MODIFY on it)")
def unlink_children(user: User, parentSystemId: str, body: UnlinkChildrenRequest | None = None,
                    all: bool = False) -> dict[str, Any]:
    changes = child_systems.unlink_children(user, parentSystemId, body.childSystemIds if body else None, all)
    return ok({"changes": changes}, f"{changes} child system(s) unlinked")


@router.post("/credential/{systemId}/user/{userName}/check", summary="Log in with a user's stored credential "
             "(the owner: anyone's; any other user: their own)")
def check_user_credential(user: User, gateway: Gateway, systemId: str, userName: str,
                          authnMethod: str | None = None) -> dict[str, Any]:
    checked = system_host.check_credential(user, systemId, userName, authnMethod, gateway=gateway)
    return ok(checked, f"Credential of {userName} on {systemId} accepted by the host")


@router.get("/{systemId}/hostEval/{envVarName}", summary="An environment variable's value on the host, for the "
            "caller's login (EXECUTE)")
def host_eval(user: User, gateway: Gateway, systemId: str, envVarName: str) -> dict[str, Any]:
    return ok({"name": system_host.host_eval(user, systemId, envVarName, gateway=gateway)},
              f"{envVarName} resolved on {systemId}")


@router.delete("/credential/{systemId}/user/{userName}", summary="Remove a user's login for a system")
def remove_user_credential(user: User, systemId: str, userName: str) -> dict[str, Any]:
    return ok({"changes": system_service.remove_credential(user, systemId, userName)}, "Credential removed")


# --- permissions and sharing ----------------------------------------------------------------------

add_sharing_routes(router, system_service.SHARING, id_param="systemId", noun="a system",
                   share_use="they may see it and run jobs", granted="Permissions granted to {user} on {id}")

# Public sharing (share_public/unshare_public) is not offered, for systems as for apps: a system shared with
# the whole tenant would run everyone's jobs as its owner's login. They answer 501 (api/tapis/unbuilt.py).
