"""What the job, app and system lists offer: searchable fields and their types, the attributes ``select`` may
name, Tapis' summary attributes, the default order and the ``listType`` values of each
(``../shared/tapis-openapi/openapi_v3-{jobs,apps,systems}.yml`` and the Tapis user guide). The columns behind
the fields are ``store.repositories.search``'s (a test checks the two name the same fields)."""

from __future__ import annotations

from dlws_flow.domain.listing import (
    ALL,
    BOOL,
    ENUM,
    INT,
    NONE,
    OWNED,
    PUBLIC,
    SHARED,
    STRING,
    TIMESTAMP,
    Field,
    Order,
    Resource,
)
from dlws_flow.domain.records import AppSpec, AuthnMethod, JobType, Runtime, SystemSpec
from dlws_flow.domain.states import JobStatus

TEXT, NUMBER, FLAG, WHEN = Field(STRING), Field(INT), Field(BOOL), Field(TIMESTAMP)

JOB_FIELDS = {
    "uuid": TEXT, "name": TEXT, "owner": TEXT, "tenant": TEXT, "description": TEXT,
    "status": Field(ENUM, tuple(s.value for s in JobStatus)), "condition": TEXT, "lastMessage": TEXT,
    "created": WHEN, "ended": WHEN, "lastUpdated": WHEN, "appId": TEXT, "appVersion": TEXT,
    "jobType": Field(ENUM, tuple(t.value for t in JobType)), "execSystemId": TEXT, "archiveSystemId": TEXT,
    "remoteJobId": TEXT, "remoteOutcome": TEXT, "remoteResultInfo": TEXT, "remoteQueue": TEXT, "remoteNode": TEXT,
    "remoteSubmitted": WHEN, "remoteStarted": WHEN, "remoteEnded": WHEN, "remoteLastStatusCheck": WHEN,
    "remoteChecksSuccess": NUMBER, "remoteChecksFailed": NUMBER, "blockedCount": NUMBER, "exitCode": NUMBER,
    "parentJobUuid": TEXT, "nodeCount": NUMBER, "coresPerNode": NUMBER, "memoryMB": NUMBER, "maxMinutes": NUMBER,
    "execSystemExecDir": TEXT, "execSystemInputDir": TEXT, "execSystemOutputDir": TEXT,
    "execSystemLogicalQueue": TEXT, "archiveSystemDir": TEXT,
}
#: Every key of ``services.job_views.job_to_dict`` (a test keeps the two equal).
JOB_ATTRIBUTES = frozenset({
    *JOB_FIELDS, "archiveOnAppError", "fileInputs", "parameterSet", "remoteResultInfo", "visible", "tags",
    "mpi", "mpiCmd", "cmdPrefix", "notes", "gpuCount"})

JOBS = Resource(
    kind="job", fields=JOB_FIELDS, attributes=JOB_ATTRIBUTES,
    # JobListDTO, the shape of GET /v3/jobs/list
    summary=("uuid", "name", "owner", "appId", "created", "status", "condition", "remoteStarted", "ended", "tenant",
             "execSystemId", "archiveSystemId", "appVersion", "lastUpdated"),
    keys=("uuid",), default_order=(Order("created", descending=True),),
    list_types={"MY_JOBS": OWNED, "SHARED_JOBS": SHARED, "ALL_JOBS": ALL}, default_list_type="MY_JOBS")

APP_FIELDS = {
    "id": TEXT, "version": TEXT, "owner": TEXT, "tenant": TEXT, "enabled": FLAG, "deleted": FLAG, "created": WHEN,
    "updated": WHEN, "description": TEXT, "runtime": Field(ENUM, tuple(r.value for r in Runtime)),
    "runtimeVersion": TEXT, "containerImage": TEXT, "jobType": Field(ENUM, tuple(t.value for t in JobType)),
    "maxJobs": NUMBER, "maxJobsPerUser": NUMBER, "strictFileInputs": FLAG, "locked": FLAG,
}
APPS = Resource(
    kind="app", fields=APP_FIELDS,
    attributes=frozenset({*AppSpec.model_fields, "owner", "enabled", "deleted", "tenant", "created", "updated",
                          "locked"}),
    summary=("id", "version", "owner"), keys=("id", "version"), default_order=(Order("id"),),
    # Direct shares are READ grants here; public ones are grants to PUBLIC_GRANTEE (shareAppPublic).
    list_types={"OWNED": OWNED, "SHARED_PUBLIC": PUBLIC, "SHARED_DIRECT": SHARED, "READ_PERM": SHARED, "MINE": ALL,
                "ALL": ALL},
    default_list_type="OWNED")

SYSTEM_FIELDS = {
    "id": TEXT, "owner": TEXT, "tenant": TEXT, "host": TEXT, "port": NUMBER, "enabled": FLAG, "deleted": FLAG,
    "created": WHEN, "updated": WHEN, "description": TEXT,
    "systemType": Field(ENUM, ("LINUX", "S3", "IRODS", "GLOBUS")), "effectiveUserId": TEXT,
    "defaultAuthnMethod": Field(ENUM, (*(m.value for m in AuthnMethod), "ACCESS_KEY", "TOKEN", "CERT")),
    "rootDir": TEXT, "jobWorkingDir": TEXT, "canExec": FLAG, "canRunBatch": FLAG, "batchScheduler": TEXT,
    "batchDefaultLogicalQueue": TEXT, "jobMaxJobs": NUMBER, "jobMaxJobsPerUser": NUMBER, "mpiCmd": TEXT,
    "enableCmdPrefix": FLAG, "transport": TEXT,
}
SYSTEMS = Resource(
    kind="system", fields=SYSTEM_FIELDS,
    attributes=frozenset({*SystemSpec.model_fields, "tenant", "deleted", "created", "updated", "hostKeyFingerprint",
                          "hostKeyOffered"} - {"authnCredential"}),
    summary=("id", "systemType", "owner", "host", "effectiveUserId", "defaultAuthnMethod", "canExec"),
    keys=("id",), default_order=(Order("id"),),
    list_types={"OWNED": OWNED, "SHARED_PUBLIC": NONE, "ALL": ALL}, default_list_type="OWNED")
