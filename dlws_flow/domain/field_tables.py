"""The data of :mod:`dlws_flow.domain.field_support`: for every field of Tapis' ``ReqPostSystem``,
``ReqPostApp`` and ``ReqSubmitJob`` (``shared/tapis-openapi``) and of the objects they hold, whether we act on
it, refuse it, or ignore it on input as Tapis does; and our own optional fields.

One table per object. A row's ``nested`` names the table of the object (or list of objects) the field holds;
the schema walk in ``tests/domain/test_field_support.py`` checks that every property of Tapis' schemas has a
row here, so a field Tapis adds cannot go unnoticed.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Support(StrEnum):
    ACTED = "acted on"
    OURS = "ours, optional"
    READ_ONLY = "read-only"
    REFUSED = "refused"


@dataclass(frozen=True)
class Row:
    support: Support
    #: What it does (acted on, ours), why it is refused, or how a read-only field is ignored.
    what: str
    #: The table of the object, or list of objects, the field holds.
    nested: str | None = None
    #: Values of a refused field that are accepted, because they ask for nothing (Tapis' defaults).
    defaults: tuple[Any, ...] = ()


def acted(what: str, nested: str | None = None) -> Row:
    return Row(Support.ACTED, what, nested)


def ours(what: str, nested: str | None = None) -> Row:
    return Row(Support.OURS, what, nested)


def refused(why: str, *defaults: Any) -> Row:
    return Row(Support.REFUSED, f"not supported: {why}", None, defaults)


def read_only(what: str = "computed here; ignored on input as Tapis does, so a GET can be sent back") -> Row:
    return Row(Support.READ_ONLY, what)


SHOWN = "kept and shown back (its whole purpose)"
DTN = refused("data transfer nodes (DTN) are not used; inputs and outputs move over the exec system", "!tapis_not_set")
_RO_TAPIS = "ignored on input, as Tapis documents, so a GET can be sent back"

# --- systems (ReqPostSystem) ---------------------------------------------------------------------
SYSTEM: dict[str, Row] = {
    "id": acted("the system's id: 1-80 letters, digits, `.`, `_`, `-`"),
    "description": acted(SHOWN),
    "systemType": acted("`LINUX` (S3, IRODS and GLOBUS are refused)"),
    "owner": acted("the system's owner: the caller when created through the API (give it away with changeOwner)"),
    "host": acted("where jobs run and files are reached (SSH)"),
    "enabled": acted("a disabled system takes no jobs"),
    "effectiveUserId": acted("the login on the host (`${apiUserId}`: each user's own, from their credential)"),
    "defaultAuthnMethod": acted("`PKI_KEYS` or `PASSWORD` (others refused)"),
    "authnCredential": acted("the owner's login, stored encrypted, never returned", "Credential"),
    "bucketName": refused("S3 systems", ""),
    "rootDir": acted("the root of every path on the system (Files API, `tapis://`, job directories)"),
    "port": acted("the SSH port"),
    "useProxy": refused("SSH proxies", False),
    "proxyHost": refused("SSH proxies", ""),
    "proxyPort": refused("SSH proxies", -1, 0),
    "dtnSystemId": DTN,
    "canExec": acted("whether jobs may run here"),
    "canRunBatch": acted("whether BATCH (Slurm) jobs may run here"),
    "enableCmdPrefix": acted("whether jobs here may have a `cmdPrefix`"),
    "allowChildren": acted("whether users who may read it may create child systems of it (createChildSystem)"),
    "mpiCmd": acted("the MPI launcher of `isMpi` jobs whose app and request name none"),
    "jobRuntimes": acted("the runtimes jobs here may use; another app runtime is refused at submit", "JobRuntime"),
    "jobWorkingDir": acted("the base of the job directories (`HOST_EVAL(...)` evaluated on the host)"),
    "jobEnvVariables": acted("variables of every job here, under the app's and the request's", "SystemKeyValuePair"),
    "jobMaxJobs": acted("active jobs on the system at most (more wait, BLOCKED)"),
    "jobMaxJobsPerUser": acted("active jobs of one user on the system at most"),
    "batchScheduler": acted("`SLURM` (required with `canRunBatch`)"),
    "batchLogicalQueues": acted("the queues BATCH jobs may name, with their limits", "LogicalQueue"),
    "batchDefaultLogicalQueue": acted("the queue of BATCH jobs that name none"),
    "batchSchedulerProfile": acted("the scheduler profile of BATCH jobs that name none"),
    "jobCapabilities": refused("capability matching (there is no dynamic exec system selection)"),
    "tags": acted("kept and shown back (its whole purpose; not searchable, as in Tapis)"),
    "notes": acted("kept and shown back; read for our additions below and a virtual cluster's resources"),
    "transport": ours("`SSH` (default) or `LOCAL` (this machine, admins only)"),
    "hostKey": ours("the host's public key; every connection must show it (left out: trusted on first use)"),
    "schedulerProfiles": ours("scheduler profiles carried in the record (Tapis keeps them in their own resource)"),
    "recoveryPolicy": ours("how long BLOCKED jobs here keep being probed (`COUNTxSECONDS,...`)"),
    "maxConnections": ours("SSH connections to the host across all workers"),
    "connectIntervalSeconds": ours("seconds between two new SSH connections to the host"),
    "workerQueue": ours("the Celery queue of this system's jobs"),
    "tenant": read_only(_RO_TAPIS),
    "uuid": read_only(_RO_TAPIS),
    "deleted": read_only(_RO_TAPIS),
    "created": read_only(_RO_TAPIS),
    "updated": read_only(_RO_TAPIS),
    "isPublic": read_only("part of Tapis' system view; ignored on input (share with the share routes)"),
    "sharedWithUsers": read_only("part of Tapis' system view; ignored on input (share with the share routes)"),
    "hasCredentials": read_only("part of Tapis' system view; ignored on input"),
    "parentId": read_only("the parent of a child system (set by createChildSystem); ignored on input"),
    "isDynamicEffectiveUser": read_only("part of Tapis' system view; computed from effectiveUserId"),
    "hostKeyFingerprint": read_only("our view: the pinned key's fingerprint; ignored on input"),
    "hostKeyOffered": read_only("our view: a changed host's key waiting to be accepted; ignored on input"),
}

CREDENTIAL: dict[str, Row] = {
    "password": acted("the login's password (`PASSWORD`)"),
    "privateKey": acted("the login's private key (`PKI_KEYS`)"),
    "publicKey": acted("the private key's public half"),
    "accessKey": refused("S3 credentials", ""),
    "accessSecret": refused("S3 credentials", ""),
    "accessToken": refused("token authentication", ""),
    "refreshToken": refused("token authentication", ""),
    "certificate": refused("certificate authentication", ""),
    "loginUser": ours("the login on the host for this credential (else effectiveUserId)"),
}

JOB_RUNTIME: dict[str, Row] = {
    "runtimeType": acted("a runtime jobs here may use"),
    "version": refused("runtime versions are not checked", ""),
}

ENV_BASE: dict[str, Row] = {
    "key": acted("the variable's name"),
    "value": acted("its value, exported as given (nothing evaluated)"),
    "description": acted(SHOWN),
    "notes": acted(SHOWN),
}
DEFINED_ENV: dict[str, Row] = {
    **ENV_BASE,
    "inputMode": acted("REQUIRED, FIXED, INCLUDE_ON_DEMAND or INCLUDE_BY_DEFAULT (default)"),
    "include": ours("`false`: left out unless a job request names it"),
}

LOGICAL_QUEUE: dict[str, Row] = {
    "name": acted("the name jobs give as `execSystemLogicalQueue`"),
    "description": acted(SHOWN),
    "hpcQueueName": acted("the Slurm partition (`#SBATCH --partition`)"),
    "maxJobs": acted("active jobs in the queue at most (more wait, BLOCKED)"),
    "maxJobsPerUser": acted("active jobs of one user in the queue at most"),
    **{f"{bound}{name}": acted(f"{'lower' if bound == 'min' else 'upper'} bound of a job's {what} (else a 400)")
       for name, what in (("NodeCount", "nodeCount"), ("CoresPerNode", "coresPerNode"),
                          ("MemoryMB", "memoryMB"), ("Minutes", "maxMinutes"))
       for bound in ("min", "max")},
}

# --- apps (ReqPostApp) and jobs (ReqSubmitJob): arguments, variables, inputs -----------------------
ARG_BASE: dict[str, Row] = {
    "name": acted("names the entry; a job request's entry of the same name changes it"),
    "description": acted(SHOWN),
    "arg": acted("shell-word text, every word quoted before it reaches a shell"),
    "notes": acted(SHOWN),
}
APP_ARG: dict[str, Row] = {
    **ARG_BASE,
    "inputMode": acted("REQUIRED, FIXED, INCLUDE_ON_DEMAND or INCLUDE_BY_DEFAULT (default)"),
    "include": ours("`false`: left out unless a job request names it"),
}
BY_THE_APP = refused("inputMode is set by the app, a job request cannot set it (name the app's entry, and use "
                     "include for arguments and variables)")
JOB_ARG: dict[str, Row] = {**ARG_BASE, "include": acted("`false` drops the app's entry, `true` adds an "
                                                        "INCLUDE_ON_DEMAND one"), "inputMode": BY_THE_APP}
JOB_ENV: dict[str, Row] = {**ENV_BASE, "include": acted("`false` drops the app's or system's variable"),
                           "inputMode": BY_THE_APP}

ARCHIVE_FILTER: dict[str, Row] = {
    "includes": acted("globs or `REGEX(...)` of the output files archived (empty: all)"),
    "excludes": acted("globs or `REGEX(...)` of the output files not archived"),
    "includeLaunchFiles": acted("whether `tapisjob.sh` and `tapisjob.env` are archived"),
}
LOG_CONFIG: dict[str, Row] = {
    "stdoutFilename": acted("the job's standard output file in its output directory"),
    "stderrFilename": acted("the job's standard error file (the same name: one file)"),
}
PARAMETER_SET = {"archiveFilter": acted("which outputs are archived", "ArchiveFilter"),
                 "logConfig": acted("where the job's output goes", "LogConfig")}
APP_PARAMETER_SET: dict[str, Row] = {
    "appArgs": acted("arguments after the image", "AppArgSpec"),
    "containerArgs": acted("options of the container command", "AppArgSpec"),
    "schedulerOptions": acted("`#SBATCH` options (and `--tapis-profile`)", "AppArgSpec"),
    "envVariables": acted("the job's variables", "AppKeyValuePair"),
    **PARAMETER_SET,
}
JOB_PARAMETER_SET: dict[str, Row] = {
    "appArgs": acted("merged with the app's by name", "JobArgSpec"),
    "containerArgs": acted("merged with the app's by name", "JobArgSpec"),
    "schedulerOptions": acted("merged with the app's by name", "JobArgSpec"),
    "envVariables": acted("merged over the system's and the app's by key", "JobKeyValuePair"),
    **PARAMETER_SET,
}

AUTO_MOUNT = refused("tapislocal inputs are used in place; a container sees only the job directories", True)
INPUT_BASE: dict[str, Row] = {
    "name": acted("names the input; a job request's input of the same name fills it"),
    "description": acted(SHOWN),
    "envKey": acted("a variable holding where the input is on the exec host"),
    "notes": acted(SHOWN),
}
APP_INPUT_MODE = acted("REQUIRED, OPTIONAL (default) or FIXED")
APP_FILE_INPUT: dict[str, Row] = {
    **INPUT_BASE, "inputMode": APP_INPUT_MODE, "autoMountLocal": AUTO_MOUNT,
    "sourceUrl": acted("http(s), `tapis://`, `tapislocal://` (used in place) or a host path"),
    "targetPath": acted("where it is staged under the exec system's input directory"),
}
ARRAY_FIELDS = {"sourceUrls": acted("every URL staged into targetDir under its own base name"),
                "targetDir": acted("the directory under the exec system's input directory")}
APP_FILE_INPUT_ARRAY: dict[str, Row] = {**INPUT_BASE, "inputMode": APP_INPUT_MODE, **ARRAY_FIELDS}
JOB_FILE_INPUT: dict[str, Row] = {**APP_FILE_INPUT, "inputMode": BY_THE_APP}
JOB_FILE_INPUT_ARRAY: dict[str, Row] = {**APP_FILE_INPUT_ARRAY, "inputMode": BY_THE_APP}

# --- the fields a job request and an app's jobAttributes share ------------------------------------
_DTN_INPUT = {"dtnSystemInputDir": DTN, "dtnSystemOutputDir": DTN}
JOB_COMMON: dict[str, Row] = {
    "description": acted("the job's description (the app's and the request's, joined)"),
    "dynamicExecSystem": refused("dynamic exec system selection; name execSystemId", False),
    "execSystemConstraints": refused("dynamic exec system selection; name execSystemId"),
    "execSystemId": acted("where the job runs"),
    "execSystemExecDir": acted("the job's exec directory (macros allowed)"),
    "execSystemInputDir": acted("where inputs are staged"),
    "execSystemOutputDir": acted("where the job writes its outputs"),
    **_DTN_INPUT,
    "execSystemLogicalQueue": acted("the BATCH job's queue (one of the system's)"),
    "archiveSystemId": acted("where outputs are archived (left out: the exec system, outputs stay in place)"),
    "archiveSystemDir": acted("the archive directory (left out: the output directory, or /jobs/<uuid>/archive "
                              "on another system)"),
    "archiveOnAppError": acted("whether a failed job's outputs are archived too"),
    "isMpi": acted("run the app under the MPI launcher"),
    "mpiCmd": acted("the MPI launcher"),
    "cmdPrefix": acted("words run before the app (the system must have enableCmdPrefix)"),
    "nodeCount": acted("`#SBATCH --nodes`; `_tapisNodes`"),
    "coresPerNode": acted("`#SBATCH --ntasks-per-node`; `_tapisCoresPerNode`"),
    "memoryMB": acted("`#SBATCH --mem`; `_tapisMemoryMB`"),
    "maxMinutes": acted("`#SBATCH --time`; FORK jobs are ended FAILED past it"),
    "gpuCount": ours("GPUs per node: `#SBATCH --gres=gpu:N` and `--nv` (Singularity/Apptainer) or `--gpus N` "
                     "(Docker); refused for a FORK job of a ZIP app and beyond a system's `notes.gpu`"),
    "tags": acted("kept and shown back (its whole purpose; not searchable, as in Tapis)"),
}
JOB_ATTRIBUTES: dict[str, Row] = {
    **JOB_COMMON,
    "archiveMode": refused("use archiveOnAppError"),
    "parameterSet": acted("the job's arguments, variables, archive filter and log files", "AppParameterSet"),
    "fileInputs": acted("the job's inputs", "AppFileInput"),
    "fileInputArrays": acted("the job's input arrays", "AppFileInputArray"),
    "subscriptions": refused("an app's subscriptions; subscribe in the job request or with /v3/jobs/subscribe"),
}

APP: dict[str, Row] = {
    "id": acted("the app's id"),
    "version": acted("the app's version"),
    "description": acted(SHOWN),
    "owner": acted("the app's owner: the caller when created through the API (give it away with changeOwner)"),
    "enabled": acted("a disabled app takes no jobs"),
    "versionEnabled": refused("enabling single versions by record; use the enable and disable routes", True),
    "locked": acted("a locked version cannot be changed"),
    "runtime": acted("SINGULARITY (APPTAINER), DOCKER or ZIP: how the job is launched"),
    "runtimeVersion": refused("runtime versions are not checked", ""),
    "runtimeOptions": acted("runtime options (SINGULARITY_RUN, SINGULARITY_START, ...)"),
    "containerImage": acted("the image the job runs"),
    "jobType": acted("FORK or BATCH (left out: BATCH on a system with canRunBatch, else FORK)"),
    "maxJobs": refused("app job limits; set jobMaxJobs or a queue's maxJobs on the system", -1, 2147483647),
    "maxJobsPerUser": refused("app job limits; set jobMaxJobsPerUser or a queue's maxJobsPerUser on the system",
                              -1, 2147483647),
    "strictFileInputs": acted("every input of a job request must name one of the app's"),
    "jobAttributes": acted("defaults of every job of the app", "JobAttributes"),
    "tags": acted("kept and shown back (its whole purpose; not searchable, as in Tapis)"),
    "notes": acted("kept and shown back; a job's notes when its request gives none"),
    **{name: read_only(_RO_TAPIS) for name in ("tenant", "uuid", "isPublic", "sharedWithUsers", "sharedAppCtx",
                                                "deleted", "created", "updated")},
}

DELIVERY_TARGET: dict[str, Row] = {
    "deliveryMethod": acted("WEBHOOK or EMAIL"),
    "deliveryAddress": acted("the URL or address notified"),
}
SUBSCRIPTION: dict[str, Row] = {
    "description": acted(SHOWN),
    "enabled": acted("a disabled subscription sends nothing"),
    "eventCategoryFilter": acted("the events notified (ALL, JOB_NEW_STATUS, ...)"),
    "deliveryTargets": acted("where notifications go", "NotifDeliveryTarget"),
    "ttlminutes": acted("minutes until the subscription expires (0 or less: never)"),
    "ttlMinutes": ours("the same as ttlminutes, spelled as the subscribe route spells it"),
}

JOB: dict[str, Row] = {
    "name": acted("the job's name"),
    "owner": acted("the job's owner: through the API the caller (another user is a 400); in the Python API and "
                   "CLI, when owner= is not given"),
    "tenant": acted("this deployment's tenant; any other is a 400"),
    "appId": acted("the app run"),
    "appVersion": acted("its version"),
    "jobType": acted("FORK or BATCH, over the app's"),
    **JOB_COMMON,
    "parameterSet": acted("merged with the app's", "JobParameterSet"),
    "fileInputs": acted("merged with the app's inputs by name", "JobFileInput"),
    "fileInputArrays": acted("merged with the app's input arrays by name", "JobFileInputArray"),
    "subscriptions": acted("stored with the job, as if sent to /v3/jobs/subscribe", "ReqSubscribe"),
    "notes": acted("returned on the job (the app's when left out)"),
}

#: Every table by name (the names ``Row.nested`` uses).
TABLES: dict[str, dict[str, Row]] = {
    "ReqPostSystem": SYSTEM, "Credential": CREDENTIAL, "JobRuntime": JOB_RUNTIME,
    "SystemKeyValuePair": DEFINED_ENV, "LogicalQueue": LOGICAL_QUEUE,
    "ReqPostApp": APP, "JobAttributes": JOB_ATTRIBUTES, "AppParameterSet": APP_PARAMETER_SET,
    "AppArgSpec": APP_ARG, "AppKeyValuePair": DEFINED_ENV, "AppFileInput": APP_FILE_INPUT,
    "AppFileInputArray": APP_FILE_INPUT_ARRAY, "ArchiveFilter": ARCHIVE_FILTER, "LogConfig": LOG_CONFIG,
    "ReqSubmitJob": JOB, "JobParameterSet": JOB_PARAMETER_SET, "JobArgSpec": JOB_ARG,
    "JobKeyValuePair": JOB_ENV, "JobFileInput": JOB_FILE_INPUT, "JobFileInputArray": JOB_FILE_INPUT_ARRAY,
    "ReqSubscribe": SUBSCRIPTION, "NotifDeliveryTarget": DELIVERY_TARGET,
}
