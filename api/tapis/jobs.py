"""Tapis v3 Jobs routes (``../shared/tapis-openapi/openapi_v3-jobs.yml``): thin calls into
``dlws_flow.services.jobs``; the workers do everything that touches a host."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request, Response
from pydantic import BaseModel

from api.dependencies import Dispatcher, Gateway
from api.envelope import EnvelopeRoute, ok
from api.security import User
from api.tapis.search import PagingParams, list_request
from dlws_flow.errors import ValidationError
from dlws_flow.services import jobs as job_service
from dlws_flow.services import outputs

router = APIRouter(prefix="/v3/jobs", tags=["jobs"], route_class=EnvelopeRoute)

#: Tapis' Job keeps these as JSON text (the documents type them string); a Tapis client json.loads them.
JSON_TEXT_FIELDS = ("fileInputs", "parameterSet", "execSystemConstraints", "subscriptions", "notes")


def tapis_job(job: dict[str, Any]) -> dict[str, Any]:
    """A job as the Tapis Jobs API shows it (the Python API and the CLI keep the structures)."""
    return {k: json.dumps(v) if k in JSON_TEXT_FIELDS and not isinstance(v, str) else v for k, v in job.items()}


class ShareRequest(BaseModel):
    grantee: str
    jobResource: list[str] = ["JOB_HISTORY"]
    jobPermission: str = "READ"


class UserEvent(BaseModel):
    eventData: str
    eventDetail: str | None = None


@router.post("/submit", summary="Submit a job", status_code=200)
def submit_job(user: User, dispatcher: Dispatcher, body: Annotated[dict[str, Any], Body(description="A Tapis ReqSubmitJob")]) -> dict[str, Any]:
    job = job_service.submit(body, dispatcher, principal=user)
    return ok(tapis_job(job), f"Job {job['uuid']} submitted")


@router.get("/list", summary="List the caller's jobs (listType MY_JOBS, SHARED_JOBS or ALL_JOBS)")
def get_job_list(user: User, request: Request, paging: PagingParams) -> dict[str, Any]:
    page = job_service.search_page(user, list_request(request, paging))
    return ok([tapis_job(j) for j in page.records], "Jobs listed", page.metadata)


@router.get("/search", summary="Search jobs: field.op=value query parameters (field=value means eq)")
def get_job_search_list(user: User, request: Request, paging: PagingParams, select: str | None = None) -> dict[str, Any]:
    page = job_service.search_page(user, list_request(request, paging, select=select, named={"select"},
                                                      conditions=True))
    return ok([tapis_job(j) for j in page.records], "Jobs retrieved", page.metadata)


@router.post("/search", summary="Search jobs with a body {\"search\": [...]}: SQL-like text, or (field.op.value) terms")
def get_job_search_list_by_post(user: User, request: Request, paging: PagingParams,
                                body: Annotated[dict[str, Any], Body()], select: str | None = None) -> dict[str, Any]:
    page = job_service.search_page(user, list_request(request, paging, select=select, body=body, named={"select"}))
    return ok([tapis_job(j) for j in page.records], "Jobs retrieved", page.metadata)


@router.get("/{jobUuid}", summary="Get a job")
def get_job(user: User, jobUuid: str) -> dict[str, Any]:
    return ok(tapis_job(job_service.get_for(user, jobUuid)), "Job retrieved")


@router.get("/{jobUuid}/output/list/{outputPath:path}", summary="List a job's outputs under a path")
def get_job_output_list(user: User, gateway: Gateway, jobUuid: str, outputPath: str = "", limit: int = 1000, skip: int = 0) -> dict[str, Any]:
    job_service.get_for(user, jobUuid)  # READ on the job (owner, admin, or shared)
    entries = outputs.list_outputs(jobUuid, outputPath, gateway=gateway)
    return ok(entries[skip:skip + limit] if limit >= 0 else entries[skip:], "Job outputs listed")


@router.get("/{jobUuid}/output/download/{outputPath:path}", summary="Download a job output file, or a folder as zip/tar.gz",
            response_class=Response, responses={200: {"content": {"application/octet-stream": {}, "application/zip": {}}}})
def get_job_output_download(user: User, gateway: Gateway, jobUuid: str, outputPath: str = "", compress: bool = False,
                            format: str = "zip", allowIfRunning: bool = False) -> Response:
    job_service.get_for(user, jobUuid)
    if format not in ("zip", "tar", "tar.gz"):
        raise ValidationError("format must be zip or tar")
    download = outputs.download(jobUuid, outputPath, archive_format=format, gateway=gateway)
    return Response(download.content, media_type=download.media_type,
                    headers={"Content-Disposition": f'attachment; filename="{download.filename}"'})


@router.get("/{jobUuid}/output/tail", summary="A job's output from a byte offset on (ours: follow it while it runs)")
def get_job_output_tail(user: User, gateway: Gateway, jobUuid: str, offset: int = Query(0, ge=0),
                        path: str | None = None, limit: int = Query(65536, ge=1, le=1 << 20)) -> dict[str, Any]:
    job_service.get_for(user, jobUuid)  # READ on the job (owner, admin, or shared)
    return ok(outputs.tail(jobUuid, path, offset, limit, gateway=gateway), "Job output read")


@router.get("/{jobUuid}/status", summary="Get a job's status")
def get_job_status(user: User, jobUuid: str) -> dict[str, Any]:
    job = job_service.get_for(user, jobUuid)
    return ok({"status": job["status"], "condition": job.get("condition")}, "Job status retrieved")


@router.get("/{jobUuid}/history", summary="Get a job's history")
def get_job_history(user: User, jobUuid: str, limit: int = Query(100, ge=-1), skip: int = Query(0, ge=0)) -> dict[str, Any]:
    events = job_service.history_for(user, jobUuid)
    page = events[skip:] if limit < 0 else events[skip:skip + limit]
    return ok(page, "Job history retrieved", {"recordCount": len(page), "totalCount": len(events)})


@router.post("/{jobUuid}/cancel", summary="Cancel a job")
def cancel_job(user: User, dispatcher: Dispatcher, jobUuid: str) -> dict[str, Any]:
    job_service.cancel_for(user, jobUuid, dispatcher)
    return ok({"message": f"Job {jobUuid} cancelled"}, "Job cancelled")


@router.post("/{jobUuid}/pause", summary="Pause a job at its next stage boundary (dlws-flow addition)",
             description="Not in Tapis. A job waiting in a batch queue is held there (`scontrol hold`); any other "
                         "job stops before its next stage and shows PAUSED. Pausing a paused job changes nothing.")
def pause_job(user: User, dispatcher: Dispatcher, jobUuid: str) -> dict[str, Any]:
    job = job_service.pause_for(user, jobUuid, dispatcher)
    return ok({"message": f"Job {jobUuid} pause requested", "status": job["status"]}, "Job pause requested")


@router.post("/{jobUuid}/resume", summary="Resume a paused job (dlws-flow addition)",
             description="Not in Tapis. Continues a PAUSED job from the stage it stopped before (releasing a held "
                          "batch job), or withdraws a pause the job has not reached yet.")
def resume_job(user: User, dispatcher: Dispatcher, jobUuid: str) -> dict[str, Any]:
    job = job_service.resume_for(user, jobUuid, dispatcher)
    return ok({"message": f"Job {jobUuid} resume requested", "status": job["status"]}, "Job resume requested")


@router.post("/{jobUuid}/hide", summary="Hide a job from lists")
def hide_job(user: User, jobUuid: str) -> dict[str, Any]:
    return ok({"changes": job_service.set_visible(user, jobUuid, False)}, "Job hidden")


@router.post("/{jobUuid}/unhide", summary="Show a hidden job in lists again")
def unhide_job(user: User, jobUuid: str) -> dict[str, Any]:
    return ok({"changes": job_service.set_visible(user, jobUuid, True)}, "Job unhidden")


@router.get("/{jobUuid}/resubmit_request", summary="The request a resubmission would send")
def get_resubmit_request_json(user: User, jobUuid: str) -> dict[str, Any]:
    return ok(job_service.resubmit_request(user, jobUuid), "Resubmit request retrieved")


@router.post("/{jobUuid}/resubmit", summary="Submit the job's original request again")
def resubmit_job(user: User, dispatcher: Dispatcher, jobUuid: str) -> dict[str, Any]:
    job = job_service.resubmit(user, jobUuid, dispatcher)
    return ok(tapis_job(job), f"Job {job['uuid']} submitted")


@router.post("/{jobUuid}/sendEvent", summary="Record a user event on the job")
def send_event(user: User, jobUuid: str, body: UserEvent) -> dict[str, Any]:
    job_service.send_event(user, jobUuid, body.eventData, body.eventDetail)
    return ok({"url": f"/v3/jobs/{jobUuid}"}, "Event sent")


@router.post("/{jobUuid}/share", summary="Share a job with another user (READ)")
def share_job(user: User, jobUuid: str, body: ShareRequest) -> dict[str, Any]:
    if body.jobPermission.upper() != "READ":
        raise ValidationError("jobPermission must be READ")
    job_service.share(user, jobUuid, body.grantee)
    return ok({"message": f"Job {jobUuid} shared with {body.grantee}"}, "Job shared")


@router.get("/{jobUuid}/share", summary="Who a job is shared with")
def get_job_share(user: User, jobUuid: str, limit: int = 100, skip: int = 0) -> dict[str, Any]:
    shares = job_service.share_info(user, jobUuid)
    page = shares[skip:skip + limit] if limit >= 0 else shares[skip:]
    return ok(page, "Job shares retrieved", {"recordCount": len(page), "recordLimit": limit, "recordsSkipped": skip,
                                             "totalCount": len(shares)})


@router.delete("/{jobUuid}/share/{user}", summary="Stop sharing a job with a user")
def delete_job_share(caller: User, jobUuid: str, user: str) -> dict[str, Any]:
    changes = job_service.unshare(caller, jobUuid, user)
    message = f"Job {jobUuid} {'no longer' if changes else 'was not'} shared with {user}"
    return ok({"message": message, "changes": changes}, message)
