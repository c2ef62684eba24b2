"""Parameter sweeps (ours, beside Tapis' jobs): ``POST /v3/jobs/sweep`` and ``/v3/jobs/sweeps[/{sweepId}[/...]]``.

The module's name sorts before ``jobs.py`` on purpose: ``/v3/jobs/sweeps`` must not be taken as a job UUID.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body

from api.dependencies import Dispatcher
from api.envelope import EnvelopeRoute, ok
from api.security import User
from dlws_flow.services import sweeps as sweep_service

router = APIRouter(prefix="/v3/jobs", tags=["sweeps"], route_class=EnvelopeRoute)


@router.post("/sweep", summary="Submit a parameter sweep: one job per combination of the parameters' values "
             "(ours)", status_code=201)
def submit_sweep(user: User, dispatcher: Dispatcher, body: Annotated[dict[str, Any], Body(description=(
                 '{"name", "job": <ReqSubmitJob>, "parameters": {"N": [1, 2], "SEED": {"start": 0, "stop": 10}}, '
                 '"combine": "product" | "zip"}'))]) -> dict[str, Any]:
    sweep = sweep_service.submit_sweep(user, body, dispatcher)
    return ok(sweep, f"Sweep {sweep['id']} submitted: {sweep['size']} jobs")


@router.get("/sweeps", summary="The caller's sweeps, newest first (an admin: everyone's)")
def list_sweeps(user: User, limit: int = 100, skip: int = 0) -> dict[str, Any]:
    sweeps = sweep_service.list_for(user, limit, skip)
    return ok(sweeps, "Sweeps listed", {"recordCount": len(sweeps), "recordLimit": limit, "recordsSkipped": skip})


@router.get("/sweeps/{sweepId}", summary="A sweep: its elements (jobs) and how many are in each status")
def get_sweep(user: User, sweepId: str) -> dict[str, Any]:
    return ok(sweep_service.get(user, sweepId), "Sweep retrieved")


def _action(action: str):
    def act(user: User, dispatcher: Dispatcher, sweepId: str) -> dict[str, Any]:
        return ok(sweep_service.act(user, sweepId, action, dispatcher), f"Sweep {sweepId}: {action} requested")

    act.__name__ = f"{action}_sweep"
    return act


for _name in ("cancel", "pause", "resume"):
    router.add_api_route(f"/sweeps/{{sweepId}}/{_name}", _action(_name), methods=["POST"],
                         summary=f"{_name.capitalize()} every element of a sweep that can be")
