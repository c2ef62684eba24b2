"""OpenPAI virtual clusters: live status for everyone; create/update/delete for admins (ours)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from api.dependencies import Dispatcher
from api.envelope import EnvelopeRoute
from api.openpai.errors import OpenPaiError
from api.openpai.users import Admin
from api.security import User
from dlws_flow.errors import ConflictError, NotFoundError, ValidationError
from dlws_flow.services import quotas

router = APIRouter(prefix="/api/v1", tags=["openpai"], route_class=EnvelopeRoute)


def _not_found(name: str) -> OpenPaiError:
    return OpenPaiError(404, "VirtualClusterNotFound", f"could not find virtual cluster {name}")


@router.get("/virtual-clusters", summary="Every virtual cluster and its status")
def list_vcs(user: User) -> dict[str, dict[str, Any]]:
    return quotas.statuses()


@router.get("/virtual-clusters/{vcName}", summary="One virtual cluster's status")
def get_vc(user: User, vcName: str) -> dict[str, Any]:
    try:
        return quotas.status(vcName)
    except NotFoundError as exc:
        raise _not_found(vcName) from exc


class VcUpdate(BaseModel):
    capacity: float | None = Field(None, description="guaranteed percent of the VC's systems (alias vcCapacity)")
    maxCapacity: float | None = Field(None, description="at most this percent (alias vcMaxCapacity)")
    vcCapacity: float | None = None
    vcMaxCapacity: float | None = None
    systems: list[str] | None = None
    description: str | None = None


@router.put("/virtual-clusters/{vcName}", summary="Create or update a virtual cluster (admin only; ours)")
def put_vc(admin: Admin, dispatcher: Dispatcher, vcName: str, body: Annotated[VcUpdate, Body()]) -> JSONResponse:
    capacity = body.capacity if body.capacity is not None else body.vcCapacity
    maximum = body.maxCapacity if body.maxCapacity is not None else body.vcMaxCapacity
    if capacity is None:
        try:
            capacity = quotas.status(vcName)["capacity"]
        except NotFoundError as exc:
            raise OpenPaiError(400, "UpdateVcFailed", "capacity is required for a new virtual cluster") from exc
    try:
        created = quotas.put_vc(vcName, capacity=capacity, max_capacity=maximum, systems=body.systems,
                                description=body.description, dispatcher=dispatcher)
    except (ValidationError, NotFoundError) as exc:
        raise OpenPaiError(400, "UpdateVcFailed", str(exc)) from exc
    return JSONResponse({"message": f"update virtual cluster {vcName} successfully"}, status_code=201 if created else 200)


@router.delete("/virtual-clusters/{vcName}", summary="Remove a virtual cluster (admin only; ours)")
def delete_vc(admin: Admin, vcName: str) -> dict[str, str]:
    try:
        quotas.delete_vc(vcName)
    except NotFoundError as exc:
        raise _not_found(vcName) from exc
    except ValidationError as exc:
        raise OpenPaiError(400, "RemoveVcFailed", str(exc)) from exc
    except ConflictError as exc:
        raise OpenPaiError(409, "RemoveVcFailed", str(exc)) from exc
    return {"message": f"remove virtual cluster {vcName} successfully"}
