"""DLWorkspace job families: ``FAMILY_TOKEN``, ``DLWS_REST_API`` and the ``/child`` operations.

A root job (one submitted by a user) gets a fresh secret token; every job started from inside the family
(``/child/SubmitJob``) joins it and receives the same token, as the DLWS documentation describes. The token
authenticates the family, not a user: it grants access to the family's own jobs only, and a job of another
family is answered exactly as a job that does not exist. Children run as the submitter's user.

The token names the family, not the job that sent the request, so a child's parent is the job named by
the optional ``parentJobId`` parameter (our addition; a running member of the family), else the family's
root. Cascading kills follow ``parent_uuid`` (see ``jobs.cancel``), so killing the root always ends
the whole family.
"""

from __future__ import annotations

import hashlib
import shlex
import socket
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from dlws_flow.domain.records import MAX_GPUS, AppSpec, Runtime
from dlws_flow.domain.states import TERMINAL_STATES, JobStatus
from dlws_flow.engine.families import attach, environment, rest_api_url, token_hash  # noqa: F401  (re-exported)
from dlws_flow.errors import AuthenticationError, NotFoundError, ValidationError
from dlws_flow.services import jobs
from dlws_flow.services.auth import get_user, user_exists
from dlws_flow.services.job_views import job_to_dict
from dlws_flow.store import repositories as repo
from dlws_flow.store.db import session_scope
from dlws_flow.store.models import JobFamilyRow, JobRow

#: The job parameters ``/child/SubmitJob`` takes besides ``familyToken`` (recorded as the child's ``jobParams``).
SUBMIT_PARAMS = ("resourcegpu", "jobName", "dataPath", "image", "cmd", "interactivePort", "jobType", "jobtrainingtype",
                 "runningasroot")
CONTAINER_RUNTIMES = {Runtime.SINGULARITY, Runtime.APPTAINER}

#: Our states as DLWS names them (``jobStatus`` of JobDetail).
DLWS_STATUS = {
    JobStatus.PENDING: "queued", JobStatus.PROCESSING_INPUTS: "scheduling", JobStatus.STAGING_INPUTS: "scheduling",
    JobStatus.STAGING_JOB: "scheduling", JobStatus.SUBMITTING_JOB: "scheduling", JobStatus.QUEUED: "scheduling",
    JobStatus.RUNNING: "running", JobStatus.ARCHIVING: "running", JobStatus.BLOCKED: "queued",
    JobStatus.PAUSED: "paused", JobStatus.FINISHED: "finished", JobStatus.FAILED: "failed",
    JobStatus.CANCELLED: "killed",
}


def family_root(session: Session, token: str | None) -> str:
    """The root job of the family ``token`` belongs to.

    The token is a job's credential, not a user's: it works while some job of its family has not ended
    (only a running job can call ``/child``), so a copy that leaked after the family ended opens nothing.

    Raises:
        AuthenticationError: no token, one no family has, or one whose family has ended (HTTP 401).
    """
    if not token:
        raise AuthenticationError("familyToken is required")
    root = session.scalars(select(JobFamilyRow.root_uuid).where(JobFamilyRow.token_hash == token_hash(token)).limit(1)).first()
    if root is None:
        raise AuthenticationError("familyToken is not valid")
    unfinished = session.scalars(
        select(JobRow.uuid).join(JobFamilyRow, JobFamilyRow.job_uuid == JobRow.uuid)
        .where(JobFamilyRow.root_uuid == root, JobRow.status.not_in([s.value for s in TERMINAL_STATES])).limit(1)).first()
    if unfinished is None:
        raise AuthenticationError("familyToken is no longer valid: every job of its family has ended")
    return root


def _member(session: Session, root: str, job_id: str | None) -> tuple[JobRow, JobFamilyRow]:
    family = session.get(JobFamilyRow, job_id) if job_id else None
    if family is None or family.root_uuid != root:
        raise NotFoundError(f"Could not find job with id {job_id}")  # another family's job looks absent
    return repo.get_job(session, family.job_uuid), family


def _child_image(runtime: Runtime, image: str) -> str:
    """A DLWS image (a Docker reference) as Singularity/Apptainer pull it; paths and URIs stay as given."""
    return image if "://" in image or image.startswith("/") else f"docker://{image}"


def _child_app(session: Session, parent: JobRow, image: str | None) -> tuple[str, str]:
    """The app a child runs: the parent's app, or for a container app and another image, a derived app
    (``<app>-dlws-<hash of image>``, owned by the job's owner) that differs only in its image and has no
    app-level ``appArgs``. ZIP apps run host programs, where a container image means nothing: their
    children run the parent's app and the image is only recorded."""
    app_row = repo.get_app(session, parent.app_id, parent.app_version)
    base = (app_row.spec.get("notes") or {}).get("dlwsChildOf")  # a derived app: derive from its base
    if base:
        app_row = repo.get_app(session, base["id"], base["version"])
    app = AppSpec.model_validate(app_row.spec)
    if not image or app.runtime not in CONTAINER_RUNTIMES or _child_image(app.runtime, image) == app.containerImage:
        return app.id, app.version
    spec = dict(app_row.spec)
    spec["id"] = f"{app.id[:60]}-dlws-{hashlib.sha256(image.encode()).hexdigest()[:10]}"
    spec["containerImage"] = _child_image(app.runtime, image)
    spec["description"] = f"DLWS child jobs of {app.id} {app.version} in {image}"
    spec["notes"] = {**(spec.get("notes") or {}), "dlwsChildOf": {"id": app.id, "version": app.version}}
    attributes = dict(spec.get("jobAttributes") or {})
    attributes["parameterSet"] = {**(attributes.get("parameterSet") or {}), "appArgs": []}
    spec["jobAttributes"] = attributes
    derived = AppSpec.model_validate(spec)
    existing = session.get(type(app_row), (derived.id, derived.version))
    if existing is None or existing.spec.get("containerImage") != derived.containerImage:
        repo.add_app(session, derived, parent.owner, parent.tenant, replace=True)
    return derived.id, derived.version


def gpu_count(resourcegpu: Any) -> int:
    """DLWS' ``resourcegpu`` (a count, sent as text in a query string) as the job's ``gpuCount``."""
    if resourcegpu is None or resourcegpu == "":
        return 0
    text = str(resourcegpu).strip()
    if not text.isdigit() or int(text) > MAX_GPUS:
        raise ValidationError(f"resourcegpu must be a whole number of GPUs from 0 to {MAX_GPUS}; got {resourcegpu!r}")
    return int(text)


def submit_child(token: str | None, params: dict[str, Any], dispatcher, *, parent_id: str | None = None) -> str:
    """``/child/SubmitJob``: run ``cmd`` (with ``sh -c``) as a child in the parent's app, exec system and queue.

    Returns:
        The child's job id.
    """
    cmd = params.get("cmd")
    with session_scope() as session:
        root = family_root(session, token)  # the token first: a stranger learns nothing, not even "cmd missing"
        if not cmd:
            raise ValidationError("cmd is required")
        parent, _ = _member(session, root, parent_id or root)
        if parent.status in TERMINAL_STATES:
            raise ValidationError(f"job {parent.uuid} is {parent.status}: it cannot start children")
        app_id, app_version = _child_app(session, parent, params.get("image"))
        spec = parent.spec or {}
        request = {
            "name": (params.get("jobName") or f"{parent.name}-child")[:64], "appId": app_id, "appVersion": app_version,
            "execSystemId": parent.exec_system_id, "archiveSystemId": parent.archive_system_id,
            "description": f"DLWS child of job {parent.uuid}" + (f", image {params['image']}" if params.get("image") else ""),
            "parameterSet": {"appArgs": [{"name": "dlwsCmd", "arg": "sh -c " + shlex.quote(cmd)}]},
            "tags": ["dlws-child"],
        }
        for key in ("execSystemLogicalQueue", "maxMinutes"):
            if spec.get(key) is not None:
                request[key] = spec[key]
        gpus = gpu_count(params.get("resourcegpu"))
        if gpus:
            request["gpuCount"] = gpus
        owner = parent.owner
    # As the submitter's user; jobs of the trusted in-process API may belong to a name without an account.
    principal = get_user(owner) if user_exists(owner) else None
    job = jobs.submit(request, dispatcher, owner=owner, parent_uuid=parent.uuid, principal=principal)
    # A cancel of the parent commits CANCELLED before it looks for children: if it missed this child, the
    # parent reads CANCELLED here.
    if jobs.get(parent.uuid)["status"] == JobStatus.CANCELLED:
        jobs.cancel(job["uuid"], dispatcher)
        raise ValidationError(f"job {parent.uuid} was cancelled: it cannot start children")
    with session_scope() as session:
        repo.set_family_params(session, job["uuid"], {k: params[k] for k in SUBMIT_PARAMS if params.get(k) is not None})
    return job["uuid"]


def kill(token: str | None, job_id: str | None, dispatcher) -> None:
    """``/child/KillJob``: cancel a job of the family, and (``jobs.cancel``) all of its descendants.

    Raises:
        NotFoundError: not a job of this family. ValidationError: it has already ended.
    """
    with session_scope() as session:
        row, _ = _member(session, family_root(session, token), job_id)
        uuid = row.uuid
    jobs.cancel(uuid, dispatcher)


def detail(token: str | None, job_id: str | None) -> dict[str, Any]:
    """``/child/JobDetail``: the DLWS fields of a job (``jobId``, ``jobStatus`` ...) and our Tapis job."""
    with session_scope() as session:
        row, family = _member(session, family_root(session, token), job_id)
        return {
            "jobId": row.uuid, "jobName": row.name, "userName": row.owner, "jobStatus": DLWS_STATUS[JobStatus(row.status)],
            "jobTime": repo.when(row.created), "jobParams": family.params or {}, "parentJobId": row.parent_uuid,
            "rootJobId": family.root_uuid, "job": job_to_dict(row),
        }


def job_ip(token: str | None, job_id: str | None) -> str:
    """``/child/GetJobIP``: the address of the host a launched, unfinished job runs on (its Slurm node,
    or the VM's host), resolved to an IP address where this server can resolve it."""
    with session_scope() as session:
        row, _ = _member(session, family_root(session, token), job_id)
        host = row.remote_node
        if not host and row.job_type != "BATCH":
            host = repo.get_system(session, row.exec_system_id).host
        if row.status in TERMINAL_STATES or not row.remote_job_id or not host:
            raise NotFoundError(f"Could not find job with id {job_id}")
    try:
        return socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)[0][4][0]
    except OSError:
        return host
