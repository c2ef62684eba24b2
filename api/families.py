"""The DLWorkspace child API (``/child/...``): jobs start, inspect and kill jobs of their own family.

Callers are jobs, authenticated by the ``familyToken`` query parameter instead of an access token; a missing
or unknown token is a 401. Everything else answers 200 with the DLWS body (``{"jobId"}``, ``{"result"}``,
``{"IP"}``, or ``{"error"}``), because the DLWS examples call ``raise_for_status()`` before they look for
``error``. The routes are not in the OpenAPI document, whose security schemes are access tokens.

``DLWS_REST_API`` ends in ``/child/`` and the examples join it both as ``+ "KillJob"`` and as
``+ "/child/SubmitJob"``, so each operation is served at ``/child/Op``, ``/child//child/Op`` and (for proxies
that merge slashes) ``/child/child/Op``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends

from api.envelope import EnvelopeRoute, register_error_format
from dlws_flow.errors import DlwsFlowError
from dlws_flow.services import families
from dlws_flow.services.auth import AuthenticationError

PREFIXES = ("/child", "/child/child", "/child//child")

register_error_format("/child", lambda status, message, exc: {"error": message})
router = APIRouter(tags=["DLWS child API"], route_class=EnvelopeRoute)


def get_dispatcher():
    from workers.dispatch import CeleryDispatcher

    return CeleryDispatcher()


Dispatcher = Annotated[Any, Depends(get_dispatcher)]


def _or_error(call: Callable[[], dict[str, Any]], error: Callable[[Exception], dict[str, Any]]) -> dict[str, Any]:
    """Run ``call``; a refusal within the family becomes the DLWS error body (a bad token stays a 401)."""
    try:
        return call()
    except AuthenticationError:
        raise
    except DlwsFlowError as exc:
        return error(exc)


def submit_job(dispatcher: Dispatcher, familyToken: str | None = None, resourcegpu: str | None = None,
               jobName: str | None = None, dataPath: str | None = None, image: str | None = None, cmd: str | None = None,
               interactivePort: str | None = None, jobType: str | None = None, jobtrainingtype: str | None = None,
               runningasroot: str | None = None, parentJobId: str | None = None) -> dict[str, Any]:
    params = {"resourcegpu": resourcegpu, "jobName": jobName, "dataPath": dataPath, "image": image, "cmd": cmd,
              "interactivePort": interactivePort, "jobType": jobType, "jobtrainingtype": jobtrainingtype,
              "runningasroot": runningasroot}
    return _or_error(lambda: {"jobId": families.submit_child(familyToken, params, dispatcher, parent_id=parentJobId)},
                     lambda exc: {"error": str(exc)})


def kill_job(dispatcher: Dispatcher, familyToken: str | None = None, jobId: str | None = None) -> dict[str, Any]:
    def kill() -> dict[str, Any]:
        families.kill(familyToken, jobId, dispatcher)
        return {"result": "Success, the job is scheduled to be terminated."}

    return _or_error(kill, lambda exc: {"result": f"Cannot Kill the job. Job ID: {jobId}"})


def job_detail(familyToken: str | None = None, jobId: str | None = None) -> dict[str, Any]:
    return _or_error(lambda: families.detail(familyToken, jobId), lambda exc: {"error": str(exc)})


def get_job_ip(familyToken: str | None = None, jobId: str | None = None) -> dict[str, Any]:
    return _or_error(lambda: {"IP": families.job_ip(familyToken, jobId)},
                     lambda exc: {"error": f"Could not find job with id {jobId}"})


for _prefix in PREFIXES:
    for _name, _handler in (("SubmitJob", submit_job), ("KillJob", kill_job), ("JobDetail", job_detail),
                            ("GetJobIP", get_job_ip)):
        # The canonical /child/X is documented; the aliases the seed's path joins produce are not.
        router.add_api_route(f"{_prefix}/{_name}", _handler, methods=["GET"], include_in_schema=_prefix == "/child",
                             name=f"{_name}{'' if _prefix == '/child' else ' (alias)'}")
