"""The DLWorkspace child API (``/child/...``): jobs start, inspect and kill jobs of their own family.

Callers are jobs, authenticated by the ``familyToken`` query parameter (as the DLWS examples send it) or the
``X-Family-Token`` header (which keeps it out of URLs and proxy logs) instead of an access token; a missing,
unknown or ended family's token is a 401. The token is redacted from this server's access log. Everything else answers 200 with the DLWS body (``{"jobId"}``, ``{"result"}``,
``{"IP"}``, or ``{"error"}``), because the DLWS examples call ``raise_for_status()`` before they look for
``error``. Only the canonical ``/child/Op`` routes are in the OpenAPI document; the aliases below are not.

``DLWS_REST_API`` ends in ``/child/`` and the examples join it both as ``+ "KillJob"`` and as
``+ "/child/SubmitJob"``, so each operation is served at ``/child/Op``, ``/child//child/Op`` and (for proxies
that merge slashes) ``/child/child/Op``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Header

from api.dependencies import Dispatcher
from api.envelope import EnvelopeRoute, register_error_format
from dlws_flow.errors import AuthenticationError, DlwsFlowError
from dlws_flow.services import families

PREFIXES = ("/child", "/child/child", "/child//child")

register_error_format("/child", lambda status, message, exc: {"error": message})
router = APIRouter(tags=["DLWS child API"], route_class=EnvelopeRoute)


HeaderToken = Annotated[str | None, Header(alias="X-Family-Token", include_in_schema=False)]

_TOKEN_IN_QUERY = re.compile(r"(?i)(familyToken=)[^&\s\"]*")


class RedactFamilyTokens(logging.Filter):
    """Uvicorn's access log prints each request line with its query string: hide the token there."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(_TOKEN_IN_QUERY.sub(r"\1REDACTED", a) if isinstance(a, str) else a for a in record.args)
        if isinstance(record.msg, str):
            record.msg = _TOKEN_IN_QUERY.sub(r"\1REDACTED", record.msg)
        return True


logging.getLogger("uvicorn.access").addFilter(RedactFamilyTokens())


def _or_error(call: Callable[[], dict[str, Any]], error: Callable[[Exception], dict[str, Any]]) -> dict[str, Any]:
    """Run ``call``; a refusal within the family becomes the DLWS error body (a bad token stays a 401)."""
    try:
        return call()
    except AuthenticationError:
        raise
    except DlwsFlowError as exc:
        return error(exc)


def submit_job(dispatcher: Dispatcher, x_family_token: HeaderToken = None, familyToken: str | None = None, resourcegpu: str | None = None,
               jobName: str | None = None, dataPath: str | None = None, image: str | None = None, cmd: str | None = None,
               interactivePort: str | None = None, jobType: str | None = None, jobtrainingtype: str | None = None,
               runningasroot: str | None = None, parentJobId: str | None = None) -> dict[str, Any]:
    params = {"resourcegpu": resourcegpu, "jobName": jobName, "dataPath": dataPath, "image": image, "cmd": cmd,
              "interactivePort": interactivePort, "jobType": jobType, "jobtrainingtype": jobtrainingtype,
              "runningasroot": runningasroot}
    token = familyToken or x_family_token
    return _or_error(lambda: {"jobId": families.submit_child(token, params, dispatcher, parent_id=parentJobId)},
                     lambda exc: {"error": str(exc)})


def kill_job(dispatcher: Dispatcher, x_family_token: HeaderToken = None, familyToken: str | None = None,
             jobId: str | None = None) -> dict[str, Any]:
    def kill() -> dict[str, Any]:
        families.kill(familyToken or x_family_token, jobId, dispatcher)
        return {"result": "Success, the job is scheduled to be terminated."}

    return _or_error(kill, lambda exc: {"result": f"Cannot Kill the job. Job ID: {jobId}"})


def job_detail(x_family_token: HeaderToken = None, familyToken: str | None = None, jobId: str | None = None) -> dict[str, Any]:
    return _or_error(lambda: families.detail(familyToken or x_family_token, jobId), lambda exc: {"error": str(exc)})


def get_job_ip(x_family_token: HeaderToken = None, familyToken: str | None = None, jobId: str | None = None) -> dict[str, Any]:
    return _or_error(lambda: {"IP": families.job_ip(familyToken or x_family_token, jobId)},
                     lambda exc: {"error": f"Could not find job with id {jobId}"})


for _prefix in PREFIXES:
    for _name, _handler in (("SubmitJob", submit_job), ("KillJob", kill_job), ("JobDetail", job_detail),
                            ("GetJobIP", get_job_ip)):
        # The canonical /child/X is documented; the aliases the seed's path joins produce are not.
        router.add_api_route(f"{_prefix}/{_name}", _handler, methods=["GET"], include_in_schema=_prefix == "/child",
                             name=f"{_name}{'' if _prefix == '/child' else ' (alias)'}")
