"""Tapis v3 Apps routes (``../shared/tapis-openapi/openapi_v3-apps.yml``) over ``dlws_flow.services.apps``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Request

from api.envelope import EnvelopeRoute, ok
from api.security import User
from api.tapis.search import add_catalog_search_routes
from api.tapis.sharing import add_sharing_routes
from dlws_flow.services import apps as app_service
from dlws_flow.services import history as history_service

router = APIRouter(prefix="/v3/apps", tags=["apps"], route_class=EnvelopeRoute)



def _url(request: Request, app_id: str, version: str | None = None) -> dict[str, str]:
    tail = f"/{version}" if version else ""
    return {"url": f"{str(request.base_url).rstrip('/')}/v3/apps/{app_id}{tail}"}


add_catalog_search_routes(router, app_service.search, noun="app", body_schema="ReqSearchApps")


@router.post("", summary="Create an app version", status_code=201)
def create_app_version(user: User, request: Request, body: Annotated[dict[str, Any], Body(description="A Tapis ReqPostApp")]) -> dict[str, Any]:
    created = app_service.create(user, body)
    return ok(_url(request, created["id"], created["version"]), f"App {created['id']} version {created['version']} created")


# Fixed-prefix routes first: GET /share/{appId} would otherwise match /{appId}/{appVersion}.
add_sharing_routes(router, app_service.SHARING, id_param="appId", noun="an app", share_use="they may see it and run it")


@router.post("/share_public/{appId}", summary="Share an app with every user of the tenant (they may see it and "
             "run it on systems they may use)")
def share_app_public(user: User, appId: str) -> dict[str, Any]:
    app_service.SHARING.share_public(user, appId, True)
    return ok(None, f"App {appId} shared publicly")


@router.post("/unshare_public/{appId}", summary="Stop sharing an app with every user of the tenant")
def unshare_app_public(user: User, appId: str) -> dict[str, Any]:
    app_service.SHARING.share_public(user, appId, False)
    return ok(None, f"App {appId} no longer shared publicly")


@router.get("/{appId}", summary="Get the latest version of an app")
def get_app_latest_version(user: User, appId: str) -> dict[str, Any]:
    return ok(app_service.get(user, appId), "App retrieved")


@router.get("/{appId}/isEnabled", summary="Whether an app is enabled")
def is_enabled(user: User, appId: str, version: str | None = None) -> dict[str, Any]:
    return ok({"aBool": app_service.is_enabled(user, appId, version)}, "App enabled status retrieved")


@router.get("/{appId}/history", summary="An app's history: every version's changes, enable/disable, lock, owner, "
            "permissions")
def get_app_history(user: User, appId: str) -> dict[str, Any]:
    return ok(history_service.app_history(user, appId), "App history retrieved")


@router.get("/{appId}/{appVersion}", summary="Get an app version")
def get_app(user: User, appId: str, appVersion: str) -> dict[str, Any]:
    return ok(app_service.get(user, appId, appVersion), "App retrieved")


@router.patch("/{appId}/{appVersion}", summary="Change some fields of an app version")
def patch_app(user: User, request: Request, appId: str, appVersion: str, body: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
    app_service.update(user, appId, appVersion, body)
    return ok(_url(request, appId, appVersion), "App updated")


@router.put("/{appId}/{appVersion}", summary="Replace an app version's definition")
def put_app(user: User, request: Request, appId: str, appVersion: str, body: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
    app_service.update(user, appId, appVersion, body, full=True)
    return ok(_url(request, appId, appVersion), "App updated")


@router.post("/{appId}/enable", summary="Enable every version of an app")
def enable_app(user: User, appId: str) -> dict[str, Any]:
    return ok({"changes": app_service.set_enabled(user, appId, True)}, f"App {appId} enabled")


@router.post("/{appId}/disable", summary="Disable every version of an app")
def disable_app(user: User, appId: str) -> dict[str, Any]:
    return ok({"changes": app_service.set_enabled(user, appId, False)}, f"App {appId} disabled")


@router.post("/{appId}/{appVersion}/enable", summary="Enable an app version")
def enable_app_version(user: User, appId: str, appVersion: str) -> dict[str, Any]:
    return ok({"changes": app_service.set_enabled(user, appId, True, appVersion)}, "App version enabled")


@router.post("/{appId}/{appVersion}/disable", summary="Disable an app version")
def disable_app_version(user: User, appId: str, appVersion: str) -> dict[str, Any]:
    return ok({"changes": app_service.set_enabled(user, appId, False, appVersion)}, "App version disabled")


@router.post("/{appId}/{appVersion}/lock", summary="Lock an app version against changes")
def lock_app(user: User, appId: str, appVersion: str) -> dict[str, Any]:
    return ok({"changes": app_service.set_locked(user, appId, appVersion, True)}, "App version locked")


@router.post("/{appId}/{appVersion}/unlock", summary="Unlock an app version")
def unlock_app(user: User, appId: str, appVersion: str) -> dict[str, Any]:
    return ok({"changes": app_service.set_locked(user, appId, appVersion, False)}, "App version unlocked")


@router.post("/{appId}/delete", summary="Delete an app (every version)")
def delete_app(user: User, appId: str) -> dict[str, Any]:
    return ok({"changes": app_service.set_deleted(user, appId, True)}, f"App {appId} deleted")


@router.post("/{appId}/undelete", summary="Undelete an app")
def undelete_app(user: User, appId: str) -> dict[str, Any]:
    return ok({"changes": app_service.set_deleted(user, appId, False)}, f"App {appId} undeleted")


@router.post("/{appId}/changeOwner/{userName}", summary="Give an app to another user")
def change_app_owner(user: User, appId: str, userName: str) -> dict[str, Any]:
    return ok({"changes": app_service.change_owner(user, appId, userName)}, f"App {appId} owner changed")
