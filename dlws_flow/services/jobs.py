"""Submitting, reading and cancelling jobs. Synchronous up to the response, as Tapis does:
authorize -> validate and resolve -> write the job row -> enqueue -> return the job.
"""

from __future__ import annotations

import uuid as uuidlib
from collections.abc import Iterable
from typing import Any, Protocol

from pydantic import ValidationError as PydanticValidationError

from dlws_flow.domain.records import JobRequest
from dlws_flow.domain.resolve import resolve_job
from dlws_flow.domain.states import TERMINAL_STATES, JobStatus
from dlws_flow.errors import ValidationError
from dlws_flow.runtimes import runtime_for
from dlws_flow.services.catalog import pydantic_message
from dlws_flow.settings import get_settings
from dlws_flow.staging.inputs import parse_source
from dlws_flow.store import repositories as repo
from dlws_flow.store.db import session_scope
from dlws_flow.store.models import JobEventRow, JobRow, utcnow


class Dispatcher(Protocol):
    """How a service hands work to the workers (implemented in ``workers.dispatch``)."""

    def start(self, job_uuid: str) -> None: ...

    def cancel(self, job_uuid: str) -> None: ...


def parse_request(data: dict[str, Any] | JobRequest) -> JobRequest:
    if isinstance(data, JobRequest):
        return data
    try:
        return JobRequest.model_validate(data)
    except PydanticValidationError as exc:
        raise ValidationError(f"invalid job request: {pydantic_message(exc)}") from exc


def submit(data: dict[str, Any] | JobRequest, dispatcher: Dispatcher, *, owner: str | None = None,
           parent_uuid: str | None = None) -> dict[str, Any]:
    settings = get_settings()
    request = parse_request(data)
    owner = owner or settings.default_user
    job_uuid = f"{uuidlib.uuid4()}-007"  # Tapis job UUIDs end in a type suffix; 007 is "job"
    created = utcnow()
    with session_scope() as session:
        app_row = repo.get_app(session, request.appId, request.appVersion)
        if not app_row.enabled:
            raise ValidationError(f"app {request.appId} is disabled")
        from dlws_flow.domain.records import AppSpec

        app = AppSpec.model_validate(app_row.spec)
        runtime_for(str(app.runtime))  # refuses runtimes this deployment cannot launch
        exec_id = request.execSystemId or app.jobAttributes.execSystemId
        if not exec_id:
            raise ValidationError("execSystemId is required: neither the request nor the app names one")
        exec_row = repo.get_system(session, exec_id)
        if not exec_row.enabled:
            raise ValidationError(f"system {exec_id} is disabled")
        exec_system = repo.system_spec(exec_row)
        archive_id = request.archiveSystemId or app.jobAttributes.archiveSystemId or exec_id
        archive_system = exec_system if archive_id == exec_id else repo.system_spec(repo.get_system(session, archive_id))
        resolved = resolve_job(request, app, exec_system, archive_system, uuid=job_uuid, owner=owner,
                               tenant=settings.tenant, created=created)
        for item in resolved.fileInputs:
            source = parse_source(item["sourceUrl"])
            if source.kind == "tapis":
                repo.get_system(session, source.system_id)
        row = JobRow(
            uuid=job_uuid, name=resolved.name, owner=owner, tenant=settings.tenant, description=resolved.description,
            status=JobStatus.PENDING.value, last_message="Job created and queued for processing",
            app_id=app.id, app_version=app.version, job_type=resolved.jobType, exec_system_id=exec_id,
            archive_system_id=archive_id, visible=True, parent_uuid=parent_uuid,
            request=request.model_dump(mode="json", exclude_unset=True), spec=resolved.as_dict(), created=created,
            last_updated=created, remote_checks_success=0, remote_checks_failed=0, blocked_count=0,
        )
        repo.insert_job(session, row)
        result = job_to_dict(row)
    dispatcher.start(job_uuid)
    return result


def job_to_dict(row: JobRow) -> dict[str, Any]:
    """The Tapis ``Job`` shape."""
    spec = row.spec or {}
    return {
        "uuid": row.uuid, "name": row.name, "owner": row.owner, "tenant": row.tenant,
        "description": row.description, "status": row.status, "condition": row.condition,
        "lastMessage": row.last_message, "created": repo.when(row.created), "ended": repo.when(row.ended),
        "lastUpdated": repo.when(row.last_updated), "appId": row.app_id, "appVersion": row.app_version,
        "jobType": row.job_type, "archiveOnAppError": spec.get("archiveOnAppError"),
        "execSystemId": row.exec_system_id, "execSystemExecDir": spec.get("execSystemExecDir"),
        "execSystemInputDir": spec.get("execSystemInputDir"), "execSystemOutputDir": spec.get("execSystemOutputDir"),
        "execSystemLogicalQueue": spec.get("execSystemLogicalQueue"), "archiveSystemId": row.archive_system_id,
        "archiveSystemDir": spec.get("archiveSystemDir"), "nodeCount": spec.get("nodeCount"),
        "coresPerNode": spec.get("coresPerNode"), "memoryMB": spec.get("memoryMB"), "maxMinutes": spec.get("maxMinutes"),
        "fileInputs": spec.get("fileInputs", []), "parameterSet": spec.get("parameterSet", {}),
        "blockedCount": row.blocked_count, "remoteJobId": row.remote_job_id, "remoteOutcome": row.remote_outcome,
        "remoteResultInfo": row.remote_result_info if row.remote_result_info is not None else
        (str(row.exit_code) if row.exit_code is not None else None),
        "remoteQueue": row.remote_queue, "remoteSubmitted": repo.when(row.remote_submitted),
        "remoteStarted": repo.when(row.remote_started), "remoteEnded": repo.when(row.remote_ended),
        "remoteChecksSuccess": row.remote_checks_success, "remoteChecksFailed": row.remote_checks_failed,
        "remoteLastStatusCheck": repo.when(row.remote_last_status_check), "visible": row.visible,
        "tags": spec.get("tags", []), "exitCode": row.exit_code, "remoteNode": row.remote_node,
        "parentJobUuid": row.parent_uuid,
    }


def event_to_dict(event: JobEventRow) -> dict[str, Any]:
    return {"event": event.event, "created": repo.when(event.created), "oldStatus": event.old_status,
            "newStatus": event.new_status, "eventDetail": event.new_status or event.event, "description": event.message}


def get(job_uuid: str) -> dict[str, Any]:
    with session_scope() as session:
        return job_to_dict(repo.get_job(session, job_uuid))


def history(job_uuid: str) -> list[dict[str, Any]]:
    with session_scope() as session:
        repo.get_job(session, job_uuid)
        return [event_to_dict(e) for e in repo.job_history(session, job_uuid)]


def list_all(*, owner: str | None = None, status: Iterable[str] | None = None, limit: int = 100,
             skip: int = 0) -> list[dict[str, Any]]:
    with session_scope() as session:
        return [job_to_dict(r) for r in repo.list_jobs(session, owner=owner, status=status, limit=limit, skip=skip)]


def cancel(job_uuid: str, dispatcher: Dispatcher) -> dict[str, Any]:
    """Cancel from any non-terminal state: CANCELLED is recorded here at once; if the app may be alive
    on a host, a worker is asked to stop it (the API never talks to hosts itself)."""
    from dlws_flow.stages import mark_cancelled

    changed, needs_kill = mark_cancelled(job_uuid, "Job cancelled by its owner")
    job = get(job_uuid)
    if not changed and job["status"] in TERMINAL_STATES:
        raise ValidationError(f"job {job_uuid} is already {job['status']}")
    if needs_kill:
        dispatcher.cancel(job_uuid)  # only enqueues: the job read above is still current
    return job
