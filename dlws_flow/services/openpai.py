"""OpenPAI jobs on top of ours (``../shared/seeds/openpai-rest-server.txt``).

An OpenPAI job config (``jobName, image, virtualCluster, taskRoles[...]``) becomes one Tapis job per
task-role instance, all grouped under the OpenPAI name (unique per user) in ``openpai_jobs``:

* ``image`` maps onto an app created on first use, owned by the admin: runtime SINGULARITY with the
  image as given when it is a host path or has a scheme (``docker://``, ``library://``, ``oras://``...),
  else ``docker://<image>`` (Singularity pulls it; the host needs the network for that).
* each instance runs ``sh -c <command>`` in that image (FORK job) on a system of the virtual cluster,
  with ``PAI_JOB_NAME, PAI_USER_NAME, PAI_TASK_ROLE_NAME, PAI_TASK_INDEX, PAI_VIRTUAL_CLUSTER``, and asks
  for ``cpuNumber`` cores, ``memoryMB`` and ``gpuNumber`` GPUs against the VC's quota (see ``quotas``);
  ``gpuNumber`` is the job's ``gpuCount`` (the container's ``--nv``/``--gpus``).
  Instances are admitted one by one: there is no gang scheduling.
* the OpenPAI state is derived from the instances: any FAILED -> FAILED, else any CANCELLED -> STOPPED,
  else all FINISHED -> SUCCEEDED, else any RUNNING/ARCHIVING -> RUNNING, else WAITING.
* STOP cancels every unfinished instance; START runs the stored config again as a new run (new Tapis
  jobs) once the previous run has ended.

VC membership authorises the VC's systems: the jobs are submitted as trusted (no per-system grant).
"""

from __future__ import annotations

import hashlib
import re
import shlex
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic import ValidationError as PydanticValidationError
from sqlalchemy import select

from dlws_flow import secrets
from dlws_flow.domain.records import AppSpec
from dlws_flow.domain.states import TERMINAL_STATES, JobStatus
from dlws_flow.engine.hosts import login_for
from dlws_flow.errors import (
    ConfigurationError,
    ConflictError,
    DuplicateJobError,
    HostError,
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
)
from dlws_flow.services import jobs as job_service
from dlws_flow.services import permissions as perms
from dlws_flow.services import quotas
from dlws_flow.services.auth import Principal
from dlws_flow.services.catalog import pydantic_message
from dlws_flow.services.files import FileGateway
from dlws_flow.settings import get_settings
from dlws_flow.store import repositories as repo
from dlws_flow.store.db import session_scope
from dlws_flow.store.models import JobRow, SystemRow
from dlws_flow.store.quota_models import OpenPaiJobRow

JOB_NAME = re.compile(r"^[A-Za-z0-9\-._~]{1,40}$")
ROLE_NAME = re.compile(r"^[A-Za-z0-9._~]{1,16}$")
MAX_INSTANCES = 64
STATE_OF = {JobStatus.FINISHED: "SUCCEEDED", JobStatus.CANCELLED: "STOPPED", JobStatus.FAILED: "FAILED",
            JobStatus.RUNNING: "RUNNING", JobStatus.ARCHIVING: "RUNNING"}  # everything else: WAITING


class TaskRole(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str
    taskNumber: int = Field(1, ge=1, le=MAX_INSTANCES)
    cpuNumber: int = Field(1, ge=1)
    memoryMB: int = Field(100, ge=1)
    gpuNumber: int = Field(0, ge=0)
    command: str = Field(min_length=1, max_length=16384)

    @field_validator("name")
    @classmethod
    def _role_name(cls, value: str) -> str:
        if not ROLE_NAME.match(value):
            raise ValueError("a task role name is 1-16 characters of letters, digits, '.', '_' or '~'")
        return value


class JobConfig(BaseModel):
    model_config = ConfigDict(extra="allow")

    jobName: str
    image: str = Field(min_length=1, max_length=1024)
    virtualCluster: str = quotas.DEFAULT_VC
    taskRoles: list[TaskRole] = Field(min_length=1)

    @field_validator("jobName")
    @classmethod
    def _job_name(cls, value: str) -> str:
        if not JOB_NAME.match(value):
            raise ValueError("jobName is 1-40 characters of letters, digits, '-', '.', '_' or '~'")
        return value

    @field_validator("image")
    @classmethod
    def _image(cls, value: str) -> str:
        if "\n" in value or "\x00" in value or value != value.strip():
            raise ValueError("image must be one line without surrounding spaces")
        return value


def parse_config(data: Any) -> JobConfig:
    try:
        config = JobConfig.model_validate(data)
    except PydanticValidationError as exc:
        raise ValidationError(f"invalid job config: {pydantic_message(exc)}") from exc
    if sum(r.taskNumber for r in config.taskRoles) > MAX_INSTANCES:
        raise ValidationError(f"a job may have at most {MAX_INSTANCES} task instances in all")
    if len({r.name for r in config.taskRoles}) != len(config.taskRoles):
        raise ValidationError("task role names must be unique")
    return config


def container_image(image: str) -> str:
    return image if image.startswith("/") or "://" in image else f"docker://{image}"


def _app_for(image: str) -> tuple[str, str]:
    """The admin-owned app that runs ``image`` (created on first use)."""
    settings = get_settings()
    app_id = "openpai-" + hashlib.sha256(image.encode()).hexdigest()[:16]
    with session_scope() as session:
        try:
            repo.get_app(session, app_id, "1")
            return app_id, "1"
        except NotFoundError:
            pass
    spec = AppSpec.model_validate({"id": app_id, "version": "1", "runtime": "SINGULARITY", "jobType": "FORK",
                                   "containerImage": container_image(image),
                                   "description": f"OpenPAI image {image}", "tags": ["openpai"],
                                   "jobAttributes": {"maxMinutes": 10080}})
    try:
        with session_scope() as session:
            repo.add_app(session, spec, settings.admin_user, settings.tenant)
    except ConflictError:
        pass  # another request created it meanwhile
    return app_id, "1"


def _key_pair() -> tuple[str, str]:
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    return private, public


class _Held:
    """A dispatcher that starts nothing: VC jobs start only when ``quotas.admit`` admits them."""

    def start(self, job_uuid: str, queue: str | None = None) -> None:
        pass

    def cancel(self, job_uuid: str) -> None:
        pass


def _start_run(principal: Principal, config: JobConfig, dispatcher) -> list[str]:
    """Submit one Tapis job per task-role instance (held), then let the VC admit what fits."""
    app_id, app_version = _app_for(config.image)
    uuids: list[str] = []
    for role in config.taskRoles:
        request = quotas.Resources(role.cpuNumber, role.memoryMB, role.gpuNumber)
        system_id = quotas.choose_system(config.virtualCluster, request)
        for index in range(role.taskNumber):
            env = {"PAI_JOB_NAME": config.jobName, "PAI_USER_NAME": principal.username, "PAI_TASK_ROLE_NAME": role.name,
                   "PAI_TASK_INDEX": str(index), "PAI_VIRTUAL_CLUSTER": config.virtualCluster}
            job = job_service.submit({
                "name": f"{config.jobName}-{role.name}-{index}"[:64], "appId": app_id, "appVersion": app_version,
                "execSystemId": system_id, "jobType": "FORK", "coresPerNode": role.cpuNumber, "memoryMB": role.memoryMB,
                "gpuCount": role.gpuNumber,
                "description": f"OpenPAI job {config.jobName}, task role {role.name}, instance {index}",
                "tags": ["openpai", f"openpai:{config.jobName}"],
                "parameterSet": {"appArgs": [{"name": "shell", "arg": "sh -c"},
                                             {"name": "command", "arg": _quote(role.command)}],
                                 "envVariables": [{"key": k, "value": v} for k, v in env.items()]},
            }, _Held(), owner=principal.username)
            with session_scope() as session:
                quotas.hold(session, job["uuid"], config.virtualCluster, system_id, request)
            uuids.append(job["uuid"])
    quotas.admit(config.virtualCluster, dispatcher)
    return uuids


def _quote(text: str) -> str:
    return shlex.quote(text)


def submit(principal: Principal, data: Any, dispatcher) -> str:
    """Create an OpenPAI job and its first run. Returns the job name.

    Raises:
        ValidationError: a bad config, or a request the VC can never hold.
        NotFoundError: no such virtual cluster.
        PermissionDeniedError: the user may not use that virtual cluster.
        DuplicateJobError: the user already has a job of that name.
    """
    config = parse_config(data)
    quotas.status(config.virtualCluster)  # NotFoundError for an unknown VC
    if not quotas.may_use(principal, config.virtualCluster):
        raise PermissionDeniedError(f"user {principal.username} may not use virtual cluster {config.virtualCluster}")
    private, public = _key_pair()
    with session_scope() as session:
        if session.get(OpenPaiJobRow, (principal.username, config.jobName)) is not None:
            raise DuplicateJobError(f"job {config.jobName} already exists")
        repo.add_openpai_job(session, principal.username, config.jobName, vc_name=config.virtualCluster,
                             config=data if isinstance(data, dict) else config.model_dump(), public_key=public,
                             private_key=secrets.encrypt(private))
    try:
        uuids = _start_run(principal, config, dispatcher)
    except BaseException:
        with session_scope() as session:  # nothing ran: free the name again
            repo.delete_unstarted_openpai_job(session, principal.username, config.jobName)
        raise
    with session_scope() as session:
        repo.set_openpai_run_jobs(session, principal.username, config.jobName, uuids)
    return config.jobName


# --- reading ---------------------------------------------------------------------------------------


def _find(session, principal: Principal, name: str) -> OpenPaiJobRow:
    """The caller's job of that name; an admin also finds another user's (when the name is unambiguous)."""
    row = session.get(OpenPaiJobRow, (principal.username, name)) if isinstance(name, str) else None
    if row is None and principal.is_admin:
        rows = session.scalars(select(OpenPaiJobRow).where(OpenPaiJobRow.name == name)).all()
        row = rows[0] if len(rows) == 1 else None
    if row is None:
        raise NotFoundError(f"could not find job {name}")
    return row


def _instances(session, row: OpenPaiJobRow) -> list[JobRow]:
    found = {j.uuid: j for j in session.scalars(select(JobRow).where(JobRow.uuid.in_(row.job_uuids)))}
    return [found[u] for u in row.job_uuids if u in found]


def state_of(instances: list[JobRow]) -> str:
    states = [JobStatus(j.status) for j in instances]
    if not states:
        return "WAITING"
    if JobStatus.FAILED in states:
        return "FAILED"
    if JobStatus.CANCELLED in states:
        return "STOPPED"
    if all(s == JobStatus.FINISHED for s in states):
        return "SUCCEEDED"
    if any(STATE_OF.get(s) == "RUNNING" for s in states):
        return "RUNNING"
    return "WAITING"


def _ms(value) -> int | None:
    return int(value.timestamp() * 1000) if value else None


def _summary(row: OpenPaiJobRow, instances: list[JobRow]) -> dict[str, Any]:
    state = state_of(instances)
    ended = [j.ended for j in instances if j.ended]
    done = state in ("SUCCEEDED", "STOPPED", "FAILED") and all(JobStatus(j.status) in TERMINAL_STATES for j in instances)
    codes = [j.exit_code for j in instances if j.exit_code is not None]
    return {"name": row.name, "username": row.owner, "state": state, "subState": state, "executionType": row.execution_type,
            "retries": row.retries, "createdTime": _ms(row.created), "completedTime": _ms(max(ended)) if done and ended else None,
            "appExitCode": next((c for c in codes if c != 0), codes[0] if codes and done else None),
            "virtualCluster": row.vc_name}


def list_jobs(principal: Principal, username: str | None = None) -> list[dict[str, Any]]:
    """The caller's jobs (an admin: everyone's), optionally only ``username``'s."""
    with session_scope() as session:
        query = select(OpenPaiJobRow).order_by(OpenPaiJobRow.created.desc())
        if not principal.is_admin:
            query = query.where(OpenPaiJobRow.owner == principal.username)
        if username:
            query = query.where(OpenPaiJobRow.owner == username)
        return [_summary(row, _instances(session, row)) for row in session.scalars(query)]


def job_status(principal: Principal, name: str) -> dict[str, Any]:
    settings = get_settings()
    with session_scope() as session:
        row = _find(session, principal, name)
        instances = _instances(session, row)
        summary = _summary(row, instances)
        started = [j.remote_started for j in instances if j.remote_started]
        failed = next((j for j in instances if j.status == JobStatus.FAILED), None)
        first = instances[0] if instances else None
        finished = sum(1 for j in instances if JobStatus(j.status) in TERMINAL_STATES)
        return {
            "name": row.name, "state": summary["state"], "createdTime": summary["createdTime"],
            "completedTime": summary["completedTime"], "appId": first.uuid if first else None,
            "appProgress": f"{finished / len(instances):.2f}" if instances else "0.00",
            "appTrackingUrl": f"{settings.api_base_url.rstrip('/')}/v3/jobs/{first.uuid}" if first else None,
            "appLaunchedTime": _ms(min(started)) if started else None, "appCompletedTime": summary["completedTime"],
            "appExitCode": summary["appExitCode"],
            "appExitDiagnostics": (failed.last_message or "") if failed else "",
            # additions of ours: the Tapis jobs of this run
            "username": row.owner, "executionType": row.execution_type, "retries": row.retries,
            "virtualCluster": row.vc_name,
            "tasks": [{"jobUuid": j.uuid, "name": j.name, "status": j.status, "execSystemId": j.exec_system_id,
                       "exitCode": j.exit_code} for j in instances],
        }


def job_config(principal: Principal, name: str) -> dict[str, Any]:
    with session_scope() as session:
        return dict(_find(session, principal, name).config)


def known_login(session, job: JobRow, system: SystemRow) -> str:
    """The login a task's SSH entry lets its key in as (the one the task runs as)."""
    return login_for(session, repo.system_spec(system), job.owner)


def ssh_info(principal: Principal, name: str, gateway: FileGateway) -> dict[str, Any]:
    """Where the tasks run (the exec hosts' SSH endpoints) and the job's key pair (see ``download_key``).

    A running task's host gets the job's public key, restricted to entering that task (``engine.job_ssh``,
    run by a worker through ``gateway``), at the first ask; ours besides OpenPAI's fields: ``sshUser`` (the login), ``ready`` and, when not ready,
    ``message``. Where no task's host can take the key, the private key is not handed out and ``keyPair``
    says why.
    """
    settings = get_settings()
    with session_scope() as session:
        row = _find(session, principal, name)
        tasks, folder = [], None
        for job in _instances(session, row):
            system = session.get(SystemRow, job.exec_system_id)
            if system is not None:
                known = repo.job_ssh_entry(session, job.uuid)
                tasks.append((job.uuid, job.owner, system.id, system.host, system.port, job.status,
                              None if known is None else {"problem": known.problem, "login": known_login(session, job, system)}))
                folder = folder or (job.host_dirs or {}).get("ExecSystemExecDir")
        public_key, downloaded, job_name, owner = row.public_key, row.key_downloaded, row.name, row.owner
    containers, refusals = [], []
    for job_uuid, job_owner, system_id, host, port, status, known in tasks:
        if known is None and status != JobStatus.RUNNING:  # nothing to install yet: no host is asked
            containers.append({"id": job_uuid, "sshIp": host, "sshPort": str(port), "ready": False,
                               "message": f"the task is {status}: it can be entered while it runs"})
            continue
        try:
            entry = known and {"login": known["login"], "ready": known["problem"] is None, "message": known["problem"],
                               "refused": known["problem"] is not None}
            entry = entry or gateway.run("open_job_ssh", system_id=system_id, username=job_owner, root="",
                                         job_uuid=job_uuid, openpai_owner=owner, openpai_name=job_name)
            status = {"sshUser": entry["login"], "ready": entry["ready"],
                      **({"message": entry["message"]} if entry["message"] else {})}
            if entry["refused"]:
                refusals.append(entry["message"])
        except (HostError, ConfigurationError) as exc:
            status = {"ready": False, "message": f"the key could not be installed on the exec host (asking again "
                                                 f"tries again): {exc}"}
        containers.append({"id": job_uuid, "sshIp": host, "sshPort": str(port), **status})
    key_pair: dict[str, Any] = {
        "folderPath": folder, "publicKeyFileName": f"{job_name}.pub", "privateKeyFileName": job_name,
        "publicKey": public_key,
        "privateKeyDirectDownloadLink": None if downloaded else
        f"{settings.api_base_url.rstrip('/')}/api/v1/jobs/{job_name}/ssh/key",
    }
    if containers and len(refusals) == len(containers):
        key_pair["privateKeyDirectDownloadLink"] = None
        key_pair["message"] = "no task's host lets the job's key in: " + refusals[0]
    elif downloaded:
        key_pair["message"] = "the private key was downloaded already; it is not stored any more"
    return {"containers": containers, "keyPair": key_pair}


def download_key(principal: Principal, name: str) -> str:
    """The job's private key, once, to its owner; afterwards the key is erased.

    Raises:
        PermissionDeniedError: not the owner.
        ConflictError: downloaded already.
    """
    with session_scope() as session:
        row = _find(session, principal, name)
        if row.owner != principal.username:
            raise PermissionDeniedError("only the job's owner may download its private key")
        if row.key_downloaded or row.private_key is None:
            raise ConflictError("the private key was downloaded already")
        private = secrets.decrypt(row.private_key)
        repo.erase_openpai_key(session, row)
        return private


# --- start / stop ----------------------------------------------------------------------------------


def execute(principal: Principal, name: str, value: str, dispatcher) -> None:
    """STOP cancels every unfinished task; START runs the stored config again (the last run must be over)."""
    if value not in ("START", "STOP"):
        raise ValidationError("value must be START or STOP")
    with session_scope() as session:
        row = _find(session, principal, name)
        perms.require_owner(principal, row.owner, "only the job's owner may start or stop it")
        owner, uuids = row.owner, list(row.job_uuids)
        live = [j.uuid for j in _instances(session, row) if JobStatus(j.status) not in TERMINAL_STATES]
        config = dict(row.config)
    if value == "STOP":
        for job_uuid in live:
            try:
                job_service.cancel(job_uuid, dispatcher)
            except ValidationError:
                pass  # it ended meanwhile
        with session_scope() as session:
            repo.mark_openpai_stopped(session, owner, name)
        return
    if live:
        raise ConflictError(f"job {name} is still {'running' if uuids else 'waiting'}; stop it first")
    owner_principal = Principal(owner, principal.tenant, principal.is_admin and owner == principal.username)
    new = _start_run(owner_principal, parse_config(config), dispatcher)
    with session_scope() as session:
        repo.record_openpai_restart(session, owner, name, new)
