"""OpenPAI jobs: list, submit, status, config, SSH info (and the one-time private key download, ours),
start/stop. The mapping onto Tapis jobs is ``dlws_flow.services.openpai``."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel

from api.dependencies import Dispatcher, Gateway
from api.envelope import EnvelopeRoute
from api.openpai.errors import OpenPaiError
from api.security import User
from dlws_flow.errors import (
    ConflictError,
    DuplicateJobError,
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
)
from dlws_flow.services import openpai

router = APIRouter(prefix="/api/v1", tags=["openpai"], route_class=EnvelopeRoute)


def _job_not_found(name: str) -> OpenPaiError:
    return OpenPaiError(404, "JobNotFound", f"could not find job {name}")


@contextlib.contextmanager
def _named_job(name: str) -> Iterator[None]:
    """An unknown (or invisible) job name is OpenPAI's 404 JobNotFound."""
    try:
        yield
    except NotFoundError as exc:
        raise _job_not_found(name) from exc


@router.get("/jobs", summary="List jobs (yours; an admin sees everyone's)")
def list_jobs(user: User, username: Annotated[str | None, Query()] = None) -> list[dict[str, Any]]:
    return openpai.list_jobs(user, username)


@router.post("/jobs", status_code=201, summary="Submit a job config")
def submit_job(user: User, dispatcher: Dispatcher, config: Annotated[dict[str, Any], Body()]) -> JSONResponse:
    try:
        name = openpai.submit(user, config, dispatcher)
    except DuplicateJobError as exc:
        raise OpenPaiError(400, "JobUpdateError", "job update error") from exc
    except NotFoundError as exc:
        raise OpenPaiError(404, "VirtualClusterNotFound", str(exc)) from exc
    except PermissionDeniedError as exc:
        raise OpenPaiError(403, "ForbiddenUserError", str(exc)) from exc
    except ValidationError as exc:
        raise OpenPaiError(400, "InvalidParametersError", str(exc)) from exc
    return JSONResponse({"message": f"update job {name} successfully"}, status_code=201)


@router.get("/jobs/{jobName}", summary="Job status")
def job_status(user: User, jobName: str) -> dict[str, Any]:
    with _named_job(jobName):
        return openpai.job_status(user, jobName)


@router.get("/jobs/{jobName}/config", summary="The submitted job config")
def job_config(user: User, jobName: str) -> dict[str, Any]:
    with _named_job(jobName):
        return openpai.job_config(user, jobName)


@router.get("/jobs/{jobName}/ssh", summary="Where the tasks run, and the job's key pair")
def job_ssh(user: User, gateway: Gateway, jobName: str) -> dict[str, Any]:
    with _named_job(jobName):
        return openpai.ssh_info(user, jobName, gateway)


@router.get("/jobs/{jobName}/ssh/key", response_class=PlainTextResponse,
            summary="Download the job's private key (owner only, once)")
def job_ssh_key(user: User, jobName: str) -> PlainTextResponse:
    try:
        key = openpai.download_key(user, jobName)
    except NotFoundError as exc:
        raise _job_not_found(jobName) from exc
    except PermissionDeniedError as exc:
        raise OpenPaiError(403, "ForbiddenUserError", str(exc)) from exc
    except ConflictError as exc:
        raise OpenPaiError(410, "KeyAlreadyDownloaded", str(exc)) from exc
    return PlainTextResponse(key, headers={"Content-Disposition": f'attachment; filename="{jobName}"',
                                           "Cache-Control": "no-store"})


class ExecutionType(BaseModel):
    value: str


@router.put("/jobs/{jobName}/executionType", summary="START or STOP a job")
def execution_type(user: User, dispatcher: Dispatcher, jobName: str, body: Annotated[ExecutionType, Body()]) -> dict[str, str]:
    try:
        openpai.execute(user, jobName, body.value, dispatcher)
    except NotFoundError as exc:
        raise _job_not_found(jobName) from exc
    except PermissionDeniedError as exc:
        raise OpenPaiError(403, "ForbiddenUserError", str(exc)) from exc
    except (ValidationError, ConflictError) as exc:
        raise OpenPaiError(400, "JobExecuteError", str(exc)) from exc
    return {"message": f"execute job {jobName} successfully"}
