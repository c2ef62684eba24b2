"""Tapis v3 scheduler profiles (``/v3/systems/schedulerProfile``, tapipy's ``createSchedulerProfile``,
``getSchedulerProfiles``, ``getSchedulerProfile``, ``deleteSchedulerProfile``) over
``dlws_flow.services.scheduler_profiles``.

Mounted before ``api/tapis/systems.py`` (``api.app`` mounts the modules in name order), so these literal
paths are matched before ``/v3/systems/{systemId}``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Request
from fastapi.responses import JSONResponse

from api.envelope import EnvelopeRoute, ok, tapis_error
from api.security import User
from dlws_flow.errors import ConflictError
from dlws_flow.services import scheduler_profiles as profile_service

router = APIRouter(prefix="/v3/systems/schedulerProfile", tags=["systems"], route_class=EnvelopeRoute)


def _url(request: Request, name: str) -> dict[str, str]:
    return {"url": f"{str(request.base_url).rstrip('/')}/v3/systems/schedulerProfile/{name}"}


@router.get("", summary="List the tenant's scheduler profiles (everyone in the tenant sees them all)")
def get_scheduler_profiles(user: User) -> dict[str, Any]:
    profiles = profile_service.list_all(user)
    return ok(profiles, "Scheduler profiles retrieved", {"recordCount": len(profiles)})


@router.post("", summary="Create a scheduler profile (any user; an admin may name another owner)", status_code=201)
def create_scheduler_profile(user: User, request: Request, body: Annotated[dict[str, Any], Body(
        description="A Tapis ReqPostSchedulerProfile: name, description, owner, "
                    "moduleLoads [{moduleLoadCommand, modulesToLoad}], hiddenOptions (MEM, PARTITION)")]) -> Any:
    try:
        created = profile_service.create(user, body)
    except ConflictError as exc:  # Tapis answers 409 with the existing profile's URL (RespResourceUrl)
        return JSONResponse({**tapis_error(409, str(exc)), "result": _url(request, str(body.get("name")))},
                            status_code=409)
    return ok(_url(request, created["name"]), f"Scheduler profile {created['name']} created")


@router.get("/{name}", summary="Get a scheduler profile")
def get_scheduler_profile(user: User, name: str) -> dict[str, Any]:
    return ok(profile_service.get(user, name), "Scheduler profile retrieved")


@router.delete("/{name}", summary="Delete a scheduler profile (its owner or an admin)")
def delete_scheduler_profile(user: User, name: str) -> dict[str, Any]:
    return ok({"changes": profile_service.delete(user, name)}, f"Scheduler profile {name} deleted")
