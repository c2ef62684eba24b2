"""Tapis-shaped records for systems and apps, and the argument and input models job requests share.

Field names are the ones in ``shared/tapis-openapi`` so a Tapis JSON document loads unchanged.
What reaches these models from a request has been checked by :mod:`dlws_flow.domain.field_support`
(unknown and refused fields are a 400 there); ``extra="allow"`` only keeps what the store itself adds to a
record (``locked``). The fields this service acts on are typed and validated here, naming the field.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Any

from pydantic import Field, field_validator, model_validator

from dlws_flow.domain import host_keys
from dlws_flow.domain.parameters import (
    ENV_KEY_PATTERN,
    RESERVED_ENV_PREFIX,
    ArchiveFilter,
    ArgSpec,
    FileInput,
    FileInputArray,
    KeyValuePair,
    LogConfig,
    ParameterSet,
    TapisModel,
    refuse_nul,
)
from dlws_flow.domain.recovery import RecoveryPolicy
from dlws_flow.errors import ValidationError

#: The argument and input models live in ``domain.parameters``; they are re-exported here, where callers
#: have always found them.
__all__ = ["ENV_KEY_PATTERN", "ID_PATTERN", "NOTES_ADDITIONS", "RESERVED_ENV_PREFIX", "AppSpec", "ArchiveFilter",
           "ArgSpec", "AuthnMethod", "Credential", "FileInput", "FileInputArray", "JobAttributes", "JobRuntime",
           "JobType", "KeyValuePair", "LogConfig", "LogicalQueue", "ParameterSet", "Runtime", "SystemSpec",
           "TapisModel", "refuse_nul"]

#: GPUs one job may ask for per node (ours: ``gpuCount``); more than any node has is a typo.
MAX_GPUS = 64
ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$")


class AuthnMethod(StrEnum):
    PKI_KEYS = "PKI_KEYS"
    PASSWORD = "PASSWORD"


class Runtime(StrEnum):
    SINGULARITY = "SINGULARITY"
    APPTAINER = "APPTAINER"
    DOCKER = "DOCKER"
    ZIP = "ZIP"


class JobType(StrEnum):
    FORK = "FORK"
    BATCH = "BATCH"


def _check_id(value: str, what: str) -> str:
    if not ID_PATTERN.fullmatch(value or ""):  # fullmatch: ``$`` alone would accept a trailing newline
        raise ValueError(f"{what} must be 1-80 characters of letters, digits, '.', '_' or '-', starting with a letter or digit")
    return value


class LogicalQueue(TapisModel):
    name: str
    hpcQueueName: str
    maxJobs: int | None = None
    maxJobsPerUser: int | None = None
    minNodeCount: int | None = None
    maxNodeCount: int | None = None
    minCoresPerNode: int | None = None
    maxCoresPerNode: int | None = None
    minMemoryMB: int | None = None
    maxMemoryMB: int | None = None
    minMinutes: int | None = None
    maxMinutes: int | None = None


class JobRuntime(TapisModel):
    """One ``jobRuntimes`` entry: a runtime the system runs jobs with (``version`` is informational)."""

    runtimeType: Runtime
    version: str | None = None


class Credential(TapisModel):
    """``authnCredential``: accepted on registration, stored encrypted, never returned."""

    privateKey: str | None = None
    publicKey: str | None = None
    password: str | None = None
    loginUser: str | None = None


#: dlws-flow additions to a Tapis system that may be given inside ``notes`` (e.g. by tapipy).
NOTES_ADDITIONS = ("hostKey", "schedulerProfiles", "transport", "recoveryPolicy", "maxConnections", "connectIntervalSeconds",
                   "workerQueue")


class SystemSpec(TapisModel):
    id: str
    description: str | None = None
    systemType: str = "LINUX"
    owner: str | None = None
    host: str
    port: int = 22
    enabled: bool = True
    effectiveUserId: str
    defaultAuthnMethod: AuthnMethod = AuthnMethod.PKI_KEYS
    authnCredential: Credential | None = Field(default=None, exclude=True)
    rootDir: str = "/"
    canExec: bool = True
    canRunBatch: bool = False
    #: The runtimes jobs here may use; an app of another runtime is refused at submission. Empty: any.
    jobRuntimes: list[JobRuntime] = Field(default_factory=list)
    #: Tapis: the MPI launcher (``mpirun``, ``ibrun -n 4``) of jobs with ``isMpi`` whose app and request set none.
    mpiCmd: str | None = Field(default=None, max_length=126)
    #: Tapis: whether apps and requests may set ``cmdPrefix`` for jobs on this system (it runs before their app).
    enableCmdPrefix: bool = False
    #: Tapis: whether users who may read this system may create child systems of it (``createChildSystem``).
    allowChildren: bool = False
    jobWorkingDir: str = "HOST_EVAL($HOME)"
    jobEnvVariables: list[KeyValuePair] = Field(default_factory=list)
    jobMaxJobs: int = -1
    jobMaxJobsPerUser: int = -1
    batchScheduler: str | None = None
    batchLogicalQueues: list[LogicalQueue] = Field(default_factory=list)
    batchDefaultLogicalQueue: str | None = None
    batchSchedulerProfile: str | None = None
    tags: list[str] = Field(default_factory=list)
    notes: dict[str, Any] | None = None
    #: Scheduler profiles of this system (Tapis keeps them in a separate resource): setup lines run before
    #: the container command, selected by ``--tapis-profile NAME`` or ``batchSchedulerProfile``.
    #: ``[{"name", "moduleLoads": [{"moduleLoadCommand", "modulesToLoad"}], "setupLines": [...]}]``
    schedulerProfiles: list[dict[str, Any]] = Field(default_factory=list)
    #: dlws-flow addition: the transport to reach the host ("SSH", or "LOCAL" for this machine).
    transport: str = "SSH"
    #: dlws-flow addition: the host's public key ("ssh-ed25519 AAAA..."), verified on every connection.
    hostKey: str | None = None
    #: dlws-flow addition: how long jobs BLOCKED on this system keep being probed (``COUNTxSECONDS,...``);
    #: empty: the deployment's ``DLWS_RECOVERY_POLICY``.
    recoveryPolicy: str | None = None
    #: dlws-flow addition: SSH connections to this host across all workers (empty: ``DLWS_SSH_MAX_CONNECTIONS``).
    maxConnections: int | None = Field(default=None, ge=1, le=1000)
    #: dlws-flow addition: seconds between two new SSH connections to this host (empty: the deployment's).
    connectIntervalSeconds: float | None = Field(default=None, ge=0, le=3600)
    #: dlws-flow addition: the Celery queue this system's jobs go to (empty: ``DLWS_QUEUE``); run workers with
    #: ``-Q`` naming it, so a slow system never starves another.
    workerQueue: str | None = Field(default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")

    @field_validator("recoveryPolicy")
    @classmethod
    def _valid_policy(cls, value: str | None) -> str | None:
        if value:
            try:
                RecoveryPolicy.parse(value)
            except ValidationError as exc:  # as ValueError, so pydantic reports it against recoveryPolicy
                raise ValueError(str(exc)) from exc
        return value or None

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: Any) -> Any:
        return refuse_nul(data, "a system")

    @model_validator(mode="before")
    @classmethod
    def _additions_from_notes(cls, data: Any) -> Any:
        """tapipy sends only the fields Tapis defines, so our additions may also come inside ``notes``."""
        if isinstance(data, dict) and isinstance(data.get("notes"), dict):
            data = dict(data)
            for key in NOTES_ADDITIONS:
                if key in data["notes"] and data.get(key) is None:
                    data[key] = data["notes"][key]
        return data

    @field_validator("id")
    @classmethod
    def _valid_id(cls, value: str) -> str:
        return _check_id(value, "system id")

    @field_validator("systemType")
    @classmethod
    def _linux_only(cls, value: str) -> str:
        if value.upper() != "LINUX":
            raise ValueError(f"systemType {value!r} is not supported here: only LINUX systems (S3, IRODS and GLOBUS "
                             "are not)")
        return "LINUX"

    @field_validator("hostKey")
    @classmethod
    def _valid_host_key(cls, value: str | None) -> str | None:
        """Given: the one key every connection must show (strict). Left out: trusted on first use, or refused
        under ``DLWS_HOST_KEY_TRUST=strict`` (``services.host_keys``)."""
        if value is None or not value.strip():
            return None
        host_keys.canonical(value)  # a ValueError names the field
        return value.strip()

    @field_validator("port")
    @classmethod
    def _valid_port(cls, value: int) -> int:
        if not 0 < value < 65536:
            raise ValueError("port must be between 1 and 65535")
        return value

    @field_validator("host")
    @classmethod
    def _valid_host(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9.:_-]{1,253}", value):
            raise ValueError(f"host {value!r} is not a host name or address")
        return value

    @field_validator("effectiveUserId")
    @classmethod
    def _valid_user(cls, value: str) -> str:
        if value != "${apiUserId}" and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9._-]{0,63}", value):
            raise ValueError(f"effectiveUserId {value!r} is not a valid login name")
        return value

    @field_validator("rootDir")
    @classmethod
    def _absolute_root(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError("rootDir must be an absolute path")
        return value

    @field_validator("transport")
    @classmethod
    def _known_transport(cls, value: str) -> str:
        value = value.upper()
        if value not in {"SSH", "LOCAL"}:
            raise ValueError("transport must be SSH or LOCAL")
        return value

    @model_validator(mode="after")
    def _batch_consistent(self) -> SystemSpec:
        if self.canRunBatch:
            if (self.batchScheduler or "").upper() != "SLURM":
                raise ValueError("a system with canRunBatch must set batchScheduler to SLURM")
            names = {q.name for q in self.batchLogicalQueues}
            if self.batchDefaultLogicalQueue and self.batchDefaultLogicalQueue not in names:
                raise ValueError(f"batchDefaultLogicalQueue {self.batchDefaultLogicalQueue!r} is not one of batchLogicalQueues")
        return self

    def public_dict(self) -> dict[str, Any]:
        """The record as any API returns it: never the credential."""
        return self.model_dump(mode="json", exclude={"authnCredential"})


class JobAttributes(TapisModel):
    description: str | None = None
    execSystemId: str | None = None
    execSystemExecDir: str | None = None
    execSystemInputDir: str | None = None
    execSystemOutputDir: str | None = None
    execSystemLogicalQueue: str | None = None
    archiveSystemId: str | None = None
    archiveSystemDir: str | None = None
    archiveOnAppError: bool = True
    parameterSet: ParameterSet = Field(default_factory=ParameterSet)
    fileInputs: list[FileInput] = Field(default_factory=list)
    fileInputArrays: list[FileInputArray] = Field(default_factory=list)
    #: Tapis: run the app under the MPI launcher (``mpiCmd``: request, app, then the system's).
    isMpi: bool | None = None
    mpiCmd: str | None = Field(default=None, max_length=126)
    #: Tapis: words run before the app (``time``, a launcher); the exec system must have ``enableCmdPrefix``.
    cmdPrefix: str | None = Field(default=None, max_length=126)
    nodeCount: int = 1
    coresPerNode: int = 1
    memoryMB: int = 100
    maxMinutes: int = 10
    #: Ours (not Tapis'): GPUs per node, see ``gpu_count`` in ``domain.resolve``.
    gpuCount: int = Field(default=0, ge=0, le=MAX_GPUS)
    tags: list[str] = Field(default_factory=list)


class AppSpec(TapisModel):
    id: str
    version: str
    description: str | None = None
    owner: str | None = None
    enabled: bool = True
    runtime: Runtime = Runtime.SINGULARITY
    runtimeVersion: str | None = None
    runtimeOptions: list[str] = Field(default_factory=list)
    containerImage: str
    jobType: JobType | None = None
    maxJobs: int = -1
    maxJobsPerUser: int = -1
    strictFileInputs: bool = False
    jobAttributes: JobAttributes = Field(default_factory=JobAttributes)
    tags: list[str] = Field(default_factory=list)
    notes: dict[str, Any] | None = None

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: Any) -> Any:
        return refuse_nul(data, "an app")

    @field_validator("id")
    @classmethod
    def _valid_id(cls, value: str) -> str:
        return _check_id(value, "app id")

    @field_validator("version")
    @classmethod
    def _valid_version(cls, value: str) -> str:
        return _check_id(value, "app version")

    @field_validator("containerImage")
    @classmethod
    def _valid_image(cls, value: str) -> str:
        if not value or "\x00" in value or "\n" in value or len(value) > 1024:
            raise ValueError("containerImage must be a non-empty single line")
        return value

