"""Submitting, reading and cancelling jobs. Synchronous up to the response, as Tapis does:
authorize -> validate and resolve -> write the job row -> enqueue -> return the job.

The shapes jobs are shown in are in ``services.job_views``; lists and searches go through ``services.listing``.
"""

from __future__ import annotations

import uuid as uuidlib
from collections.abc import Iterable
from datetime import datetime
from typing import Any, Protocol

from pydantic import ValidationError as PydanticValidationError
from sqlalchemy import select

from dlws_flow.adapters import registry
from dlws_flow.adapters.staging.inputs import parse_source
from dlws_flow.domain.field_support import check_submitter
from dlws_flow.domain.job_request import JobRequest
from dlws_flow.domain.listing import ListRequest
from dlws_flow.domain.listing_resources import JOBS
from dlws_flow.domain.records import AppSpec
from dlws_flow.domain.resolve import ResolvedJob, resolve_job
from dlws_flow.domain.states import TERMINAL_STATES, JobStatus
from dlws_flow.engine.control import mark_cancelled
from dlws_flow.engine.families import attach as attach_family
from dlws_flow.errors import ConflictError, NotFoundError, ValidationError
from dlws_flow.services import permissions as perms
from dlws_flow.services import subscriptions
from dlws_flow.services.auth import Principal, user_exists
from dlws_flow.services.catalog import checked_request, pydantic_message
from dlws_flow.services.job_views import event_to_dict, job_to_dict
from dlws_flow.services.listing import Page, list_page
from dlws_flow.services.scheduler_profiles import check_job_profile
from dlws_flow.services.systems import worker_queue
from dlws_flow.settings import get_settings
from dlws_flow.store import repositories as repo
from dlws_flow.store.db import session_scope
from dlws_flow.store.models import AppRow, JobRow, utcnow


class Dispatcher(Protocol):
    """How a service hands work to the workers (implemented in ``workers.dispatch``)."""

    def start(self, job_uuid: str, queue: str | None = None) -> None:
        """Enqueue the first stage (on ``queue``, the exec system's worker queue; None: look it up)."""

    def cancel(self, job_uuid: str) -> None: ...

    def pause(self, job_uuid: str) -> None: ...

    def resume_paused(self, job_uuid: str) -> None: ...


def parse_request(data: dict[str, Any] | JobRequest) -> JobRequest:
    if isinstance(data, JobRequest):
        return data
    try:
        return JobRequest.model_validate(checked_request(data, "job", "job request"))
    except PydanticValidationError as exc:
        raise ValidationError(f"invalid job request: {pydantic_message(exc)}") from exc


def submit(data: dict[str, Any] | JobRequest, dispatcher: Dispatcher, *, owner: str | None = None,
           parent_uuid: str | None = None, principal: Principal | None = None,
           sweep: tuple[str, int] | None = None) -> dict[str, Any]:
    """Authorize (when ``principal`` is given: the in-process API is trusted), validate, store, enqueue.

    The caller needs READ on the app, EXECUTE on the exec system, READ on the system path of every
    ``tapis://`` input, and, to archive to another system, READ on it and file MODIFY on the archive
    directory (owning the system or a grant on the path): archiving writes there with the system's login.
    Archiving to the exec system needs nothing more, since EXECUTE already runs the job as its login.
    ``sweep`` is (sweep id, index) of a sweep's element (``services.sweeps``).
    """
    with session_scope() as session:
        row, queue = store_job(session, data, owner=owner, parent_uuid=parent_uuid, principal=principal, sweep=sweep)
        result = job_to_dict(row)
    dispatcher.start(result["uuid"], queue=queue)
    return result


def store_job(session, data: dict[str, Any] | JobRequest, *, owner: str | None = None,
              parent_uuid: str | None = None, principal: Principal | None = None,
              sweep: tuple[str, int] | None = None, in_array: bool = False) -> tuple[JobRow, str]:
    """:func:`submit` without the enqueue, in the caller's transaction (a sweep stores all its elements in
    one): the new job's row and its worker queue."""
    settings = get_settings()
    request = parse_request(data)
    owner = principal.username if principal else owner or request.owner or settings.default_user
    check_submitter(request.owner, request.tenant, owner, settings.tenant)
    job_uuid = f"{uuidlib.uuid4()}-007"  # Tapis job UUIDs end in a type suffix; 007 is "job"
    created = utcnow()
    app_row, app = _launchable_app(session, request)
    exec_id = request.execSystemId or app.jobAttributes.execSystemId
    if not exec_id:
        raise ValidationError("execSystemId is required: neither the request nor the app names one")
    exec_row = repo.get_system(session, exec_id)
    if principal:
        perms.require(session, principal, "app", app_row.id, app_row.owner, "READ", what=f"app {app_row.id}")
        perms.require(session, principal, "system", exec_id, exec_row.owner, "EXECUTE", what=f"system {exec_id}")
    if not exec_row.enabled:
        raise ValidationError(f"system {exec_id} is disabled")
    exec_system = repo.system_spec(exec_row)
    archive_id = request.archiveSystemId or app.jobAttributes.archiveSystemId or exec_id
    archive_row = exec_row if archive_id == exec_id else repo.get_system(session, archive_id)
    if principal:
        perms.require(session, principal, "system", archive_id, archive_row.owner, "READ", what=f"system {archive_id}")
    archive_system = exec_system if archive_id == exec_id else repo.system_spec(archive_row)
    resolved = resolve_job(request, app, exec_system, archive_system, uuid=job_uuid, owner=owner,
                           tenant=settings.tenant, created=created)
    if principal and archive_id != exec_id:
        archive_dir = resolved.archiveSystemDir
        perms.require(session, principal, "file", archive_id, archive_row.owner, "MODIFY",
                      what=f"{archive_id}:{archive_dir} (archiveSystemDir)", path=archive_dir)
    _check_tapis_inputs(session, principal, resolved.fileInputs)
    check_job_profile(session, resolved, exec_system, exec_row.owner)  # its scheduler profile exists, may be used
    row = _job_row(request, resolved, app, uuid=job_uuid, owner=owner, tenant=settings.tenant, exec_id=exec_id,
                   archive_id=archive_id, parent_uuid=parent_uuid, created=created, sweep=sweep, in_array=in_array)
    repo.insert_job(session, row)
    attach_family(session, row)  # a new family's token, or the parent's
    subscriptions.add_for_new_job(session, row, request.subscriptions)  # same transaction as the job
    return row, worker_queue(exec_system)


def _launchable_app(session, request: JobRequest) -> tuple[AppRow, AppSpec]:
    """The requested app version, refused when it is disabled or its runtime cannot launch here."""
    app_row = repo.get_app(session, request.appId, request.appVersion)
    if not app_row.enabled:
        raise ValidationError(f"app {request.appId} is disabled")
    app = AppSpec.model_validate(app_row.spec)
    registry.adapter_class("runtime", str(app.runtime))  # refuses runtimes this deployment cannot launch
    return app_row, app


def _check_tapis_inputs(session, principal: Principal | None, file_inputs: list[dict[str, Any]]) -> None:
    """Every ``tapis://`` input's system must exist, and a named caller must see its files and READ the path."""
    for item in file_inputs:
        source = parse_source(item["sourceUrl"])
        if source.kind == "tapis":
            source_row = repo.get_system(session, source.system_id)
            if principal:
                perms.require_files_visible(session, principal, source.system_id, source_row.owner)
                perms.require(session, principal, "file", source.system_id, source_row.owner, "READ",
                              what=f"{source.system_id}:{source.path}", path=source.path)


def _job_row(request: JobRequest, resolved: ResolvedJob, app: AppSpec, *, uuid: str, owner: str, tenant: str,
             exec_id: str, archive_id: str, parent_uuid: str | None, created: datetime,
             sweep: tuple[str, int] | None = None, in_array: bool = False) -> JobRow:
    """The new job's row, PENDING, as ``resolve_job`` resolved it."""
    return JobRow(
        uuid=uuid, name=resolved.name, owner=owner, tenant=tenant, description=resolved.description,
        status=JobStatus.PENDING.value, last_message="Job created and queued for processing",
        app_id=app.id, app_version=app.version, job_type=resolved.jobType, exec_system_id=exec_id,
        archive_system_id=archive_id, visible=True, parent_uuid=parent_uuid,
        request=request.model_dump(mode="json", exclude_unset=True), spec=resolved.as_dict(), created=created,
        last_updated=created, remote_checks_success=0, remote_checks_failed=0, blocked_count=0,
        sweep_id=sweep[0] if sweep else None, sweep_index=sweep[1] if sweep else None, in_array=in_array,
    )


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


def cancel(job_uuid: str, dispatcher: Dispatcher, *, kill: bool = True) -> dict[str, Any]:
    """Cancel from any non-terminal state: CANCELLED is recorded here at once; if the app may be alive
    on a host, a worker is asked to stop it (the API never talks to hosts itself). ``kill=False``: the
    caller stops it another way (a sweep's elements, by cancelling their job arrays)."""
    changed, needs_kill = mark_cancelled(job_uuid, "Job cancelled by its owner")
    job = get(job_uuid)
    if not changed and job["status"] in TERMINAL_STATES:
        raise ValidationError(f"job {job_uuid} is already {job['status']}")
    if needs_kill and kill:
        dispatcher.cancel(job_uuid)  # only enqueues: the job read above is still current
    _cancel_descendants(job_uuid, dispatcher)
    return job


def pause(job_uuid: str, dispatcher: Dispatcher) -> dict[str, Any]:
    """Ask the job to stop at its next stage boundary (an addition of ours; Tapis has no pause).

    A job waiting in a batch queue is held there at once (``scontrol hold``, by a worker); a running app
    runs to its end and the job pauses before archiving. Pausing a paused job changes nothing.

    Raises:
        ConflictError: the job has already ended.
    """
    with session_scope() as session:
        row = repo.get_job(session, job_uuid)
        if JobStatus(row.status) in TERMINAL_STATES:
            raise ConflictError(f"job {job_uuid} is {row.status}: only an active job can be paused")
        already = row.pause_requested or row.status == JobStatus.PAUSED
        if not already:
            repo.update_job_fields(session, job_uuid, pause_requested=True)
            repo.add_job_event(session, job_uuid, "JOB_USER_EVENT", "Pause requested by its owner")
    if not already:
        dispatcher.pause(job_uuid)
    return get(job_uuid)


def resume(job_uuid: str, dispatcher: Dispatcher) -> dict[str, Any]:
    """Continue a paused job from where it stopped (or withdraw a pause it has not reached yet).

    Raises:
        ConflictError: the job is neither paused nor waiting to pause.
    """
    with session_scope() as session:
        row = repo.get_job(session, job_uuid)
        if row.status != JobStatus.PAUSED and not row.pause_requested:
            raise ConflictError(f"job {job_uuid} is {row.status} and not paused: nothing to resume")
        repo.update_job_fields(session, job_uuid, pause_requested=False)
        paused = row.status == JobStatus.PAUSED
    if paused:
        dispatcher.resume_paused(job_uuid)  # a worker releases a held batch job, then re-enqueues the stage
    return get(job_uuid)


def _cancel_descendants(job_uuid: str, dispatcher: Dispatcher) -> None:
    """Killing a job kills every job it started (DLWS job families), at any depth, whichever API killed it.
    Ended children are walked too: their own children may still run."""
    seen, todo = {job_uuid}, [job_uuid]
    while todo:
        parent = todo.pop()
        with session_scope() as session:
            children = session.execute(select(JobRow.uuid, JobRow.status).where(JobRow.parent_uuid == parent)).all()
        for child, status in children:
            if child in seen:
                continue
            seen.add(child)
            todo.append(child)
            if status not in TERMINAL_STATES:
                _, needs_kill = mark_cancelled(child, f"Job cancelled: its parent job {parent} was cancelled")
                if needs_kill:
                    dispatcher.cancel(child)


# --- the same, as a named caller sees them (the HTTP APIs) -----------------------------------------


def _readable(session, principal: Principal, job_uuid: str) -> JobRow:
    row = repo.get_job(session, job_uuid)
    perms.require(session, principal, "job", job_uuid, row.owner, "READ", what=f"job {job_uuid}")
    return row


def _owned(session, principal: Principal, job_uuid: str) -> JobRow:
    row = _readable(session, principal, job_uuid)
    perms.require_owner(principal, row.owner, f"only the owner of job {job_uuid} may do this")
    return row


def get_for(principal: Principal, job_uuid: str) -> dict[str, Any]:
    with session_scope() as session:
        return job_to_dict(_readable(session, principal, job_uuid))


def history_for(principal: Principal, job_uuid: str) -> list[dict[str, Any]]:
    with session_scope() as session:
        _readable(session, principal, job_uuid)
        return [event_to_dict(e) for e in repo.job_history(session, job_uuid)]


def search_page(principal: Principal, request: ListRequest) -> Page:
    """getJobList and the job searches: the caller's jobs (``listType`` MY_JOBS, the default), those shared with
    them (SHARED_JOBS) or both (ALL_JOBS; an admin's ALL_JOBS is every job); hidden jobs never."""
    return list_page(principal, JOBS, request, job_to_dict)


def search_for(principal: Principal, *, limit: int = 100, skip: int = 0, order_by: str | None = None,
               list_type: str = "ALL_JOBS") -> list[dict[str, Any]]:
    """Every attribute of a page of the jobs the caller may read (``search_page`` for Python callers)."""
    request = ListRequest(limit=limit, skip=skip, order_by=order_by, list_type=list_type, select="allAttributes")
    return search_page(principal, request).records


def cancel_for(principal: Principal, job_uuid: str, dispatcher: Dispatcher, *, kill: bool = True) -> dict[str, Any]:
    with session_scope() as session:
        _owned(session, principal, job_uuid)
    return cancel(job_uuid, dispatcher, kill=kill)


def pause_for(principal: Principal, job_uuid: str, dispatcher: Dispatcher) -> dict[str, Any]:
    with session_scope() as session:
        _owned(session, principal, job_uuid)
    return pause(job_uuid, dispatcher)


def resume_for(principal: Principal, job_uuid: str, dispatcher: Dispatcher) -> dict[str, Any]:
    with session_scope() as session:
        _owned(session, principal, job_uuid)
    return resume(job_uuid, dispatcher)


def set_visible(principal: Principal, job_uuid: str, visible: bool) -> int:
    with session_scope() as session:
        return repo.set_job_visible(session, _owned(session, principal, job_uuid), visible)


def share(principal: Principal, job_uuid: str, username: str) -> None:
    """Share with ``username``; the job is checked first, so a stranger learns nothing about who exists."""
    with session_scope() as session:
        _owned(session, principal, job_uuid)
        if not user_exists(username):
            raise NotFoundError(f"user {username} not found")
        perms.grant(session, "job", job_uuid, username, ["READ"], by=principal.username)


def unshare(principal: Principal, job_uuid: str, username: str) -> int:
    """Stop sharing the job with ``username``: 1 if it was shared with them, else 0."""
    with session_scope() as session:
        _owned(session, principal, job_uuid)
        shared = username in perms.users_with(session, "job", job_uuid)
        perms.revoke(session, "job", job_uuid, username)
        return int(shared)


def share_info(principal: Principal, job_uuid: str) -> list[dict[str, Any]]:
    with session_scope() as session:
        row = _owned(session, principal, job_uuid)
        return [{"jobUuid": job_uuid, "grantor": row.owner, "grantee": user, "jobResource": "JOB_HISTORY",
                 "jobPermission": "READ"} for user in sorted(perms.users_with(session, "job", job_uuid))]


def resubmit_request(principal: Principal, job_uuid: str) -> dict[str, Any]:
    """The job's original request; its subscriptions (webhook URLs can hold secrets) are the owner's alone."""
    with session_scope() as session:
        row = _readable(session, principal, job_uuid)
        request = dict(row.request)
        request.pop("owner", None)  # the new job is the caller's (Tapis), whoever owned the first
        if not perms.owns(principal, row.owner):
            request.pop("subscriptions", None)
        return request


def resubmit(principal: Principal, job_uuid: str, dispatcher: Dispatcher) -> dict[str, Any]:
    """A new job from the original request (as Tapis: same request, new UUID, the caller as owner)."""
    return submit(resubmit_request(principal, job_uuid), dispatcher, principal=principal)


def send_event(principal: Principal, job_uuid: str, event_data: str, event_type: str | None = None) -> None:
    """Tapis' user event: recorded in the job's history (and seen by subscribers of USER events)."""
    if not isinstance(event_data, str) or not event_data or len(event_data) > 16384:
        raise ValidationError("eventData must be 1 to 16384 characters")
    with session_scope() as session:
        # A user event reaches the owner's subscribers: it is the owner's to send, and only while the job runs.
        row = _owned(session, principal, job_uuid)
        if row.status in TERMINAL_STATES:
            raise ValidationError(f"job {job_uuid} has ended ({row.status}): it takes no more events")
        repo.add_job_event(session, job_uuid, "JOB_USER_EVENT", event_data if not event_type else f"{event_type}: {event_data}")
