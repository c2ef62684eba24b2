"""Every operation of the seven Tapis documents, called with tapipy as a Tapis user calls it, against the service
as the README starts it: each is either served, answering 2xx with a status code the document names and a body
that validates against the document's schema, or answers 501 with the envelope. Nothing 404s or 405s as if the
route were unknown, and the served/501 split is the one docs/tapis-coverage.md shows.

The operations come from the documents (``api.tapis.documents.operations()``, the files tapipy is built from);
what is written here is only how to fill an operation's parameters and body for one user's world: a system on
the SSH test host with the user's credential, an app, a finished job, files. An operation that destroys what
it names (delete, disable, lock, change owner, cancel, hide) gets a fresh resource of its own.
"""

from __future__ import annotations

import itertools
import time
import uuid
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from openapi_schema_validator import OAS30Validator

from api.tapis.documents import Operation, document, operations
from api.tapis_coverage import served_operations
from tests.integration.conftest import ADMIN_PASSWORD, api_user, tapis_client

pytestmark = [pytest.mark.ssh]
RUN = uuid.uuid4().hex[:6]
OWNER, OTHER = f"walk_owner_{RUN}", f"walk_other_{RUN}"
BINARY = {"getContents", "getJobOutputDownload", "redeemPostIt"}
#: Operations that use up or hide what they name: they get a resource of their own.
CONSUMING = {"deleteSystem", "undeleteSystem", "changeSystemOwner", "disableSystem", "deleteApp", "undeleteApp",
             "changeAppOwner", "disableApp", "disableAppVersion", "lockApp", "cancelJob", "hideJob", "delete",
             "moveCopy", "deletePostIt", "cancelTransferTask", "deleteSchedulerProfile", "revoke_token", "sendEvent"}
#: Operations only an admin may call; the admin calls them.
ADMIN_ONLY = {"list_profiles", "update_keys"}
_counter = itertools.count()


class World:
    """One user's resources, made through tapipy, and fresh ones on demand."""

    def __init__(self, base_url: str, hosts: dict[str, str]) -> None:
        self.base_url, self.hosts = base_url, hosts
        self.password = api_user(OWNER)
        api_user(OTHER)
        self.client = tapis_client(base_url, OWNER, self.password)
        self.admin = tapis_client(base_url, "admin", ADMIN_PASSWORD)
        self.folder = f"walk-{RUN}"
        self.system = self.new_system(with_credential=True)
        self.client.files.mkdir(systemId=self.system, path=self.folder)
        self.file = self.new_file()
        self.app = self.new_app()
        self.job = self.new_job(wait=True)
        self.lazy: dict[str, Any] = {}

    def name(self, prefix: str) -> str:
        return f"{prefix}-{RUN}-{next(_counter)}"

    def system_def(self, system_id: str) -> dict[str, Any]:
        return {"id": system_id, "description": "walk", "systemType": "LINUX", "host": self.hosts["DLWS_TEST_SSH_HOST"],
                "port": int(self.hosts["DLWS_TEST_SSH_PORT"]), "effectiveUserId": self.hosts["DLWS_TEST_SSH_USER"],
                "defaultAuthnMethod": "PKI_KEYS", "rootDir": "/home/hpcuser", "canExec": True,
                "jobWorkingDir": "HOST_EVAL($HOME)/walk-jobs", "hostKey": self.hosts["DLWS_TEST_SSH_HOST_KEY"],
                "allowChildren": True}

    def credential(self) -> dict[str, str]:
        key = Path(self.hosts["DLWS_TEST_SSH_KEY"])
        return {"privateKey": key.read_text(), "publicKey": Path(f"{key}.pub").read_text()}

    def new_system(self, with_credential: bool = False) -> str:
        system_id = self.name("walk-sys")
        self.client.systems.createSystem(**self.system_def(system_id))
        if with_credential:
            self.client.systems.createUserCredential(systemId=system_id, userName=OWNER, **self.credential())
        return system_id

    def app_def(self, app_id: str) -> dict[str, Any]:
        return {"id": app_id, "version": "0.0.1", "description": "walk", "runtime": "SINGULARITY",
                "containerImage": self.hosts["DLWS_TEST_SIF"],
                "jobAttributes": {"execSystemId": self.system, "maxMinutes": 5,
                                  "parameterSet": {"appArgs": [{"name": "command", "arg": "true"}]}}}

    def new_app(self) -> str:
        app_id = self.name("walk-app")
        self.client.apps.createAppVersion(**self.app_def(app_id))
        return app_id

    def new_file(self) -> str:
        path = f"{self.folder}/{self.name('f')}.txt"
        self.client.files.insert(systemId=self.system, path=path, file=b"walk\n")
        return path

    def new_job(self, wait: bool = False) -> str:
        job = self.client.jobs.submitJob(name=self.name("walk-job"), appId=self.app, appVersion="0.0.1")
        deadline = time.monotonic() + 120
        while wait and self.client.jobs.getJobStatus(jobUuid=job.uuid).status not in ("FINISHED", "FAILED"):
            assert time.monotonic() < deadline, f"job {job.uuid} did not end"
            time.sleep(0.3)
        return job.uuid

    def once(self, key: str, make):
        if key not in self.lazy:
            self.lazy[key] = make()
        return self.lazy[key]

    def profile(self) -> str:
        name = self.name("walk-prof")
        self.client.systems.createSchedulerProfile(name=name, description="walk", hiddenOptions=["MEM"])
        return name

    def refresh_token(self) -> str:
        answer = self.client.authenticator.create_token(username=OWNER, password=self.password, grant_type="password")
        return answer.refresh_token.refresh_token

    def access_token(self) -> str:
        answer = self.client.authenticator.create_token(username=OWNER, password=self.password, grant_type="password")
        return answer.access_token.access_token


def parameter(world: World, op: Operation, name: str) -> Any:
    fresh = op.operation_id in CONSUMING
    c = world.client
    match name:
        case "systemId" | "parentId" | "childSystemId" | "parentSystemId":
            return world.new_system() if fresh and op.service == "systems" else world.system
        case "appId":
            return world.new_app() if fresh else world.app
        case "appVersion":
            return "0.0.1"
        case "jobUuid":
            return world.new_job() if fresh else world.job
        case "uuid":  # a subscription's
            return world.once("subscription", lambda: c.jobs.subscribe(jobUuid=world.job, **SUBSCRIPTION).url.rsplit("/", 1)[1])
        case "userName" | "user":
            # Credentials: the owner's own (stored by the world); everything else names the other user.
            return OWNER if op.operation_id in ("getUserCredential", "checkUserCredential") else OTHER
        case "username":
            return OWNER
        case "permission":
            return "READ"
        case "path":
            if op.operation_id in ("listFiles", "getShareInfo", "sharePath", "unSharePath", "sharePathPublic",
                                   "unSharePathPublic", "unSharePathAll", "grantPermissions", "getPermissions",
                                   "deletePermissions"):
                return world.folder
            return world.new_file() if fresh or op.operation_id == "insert" else world.file
        case "outputPath":
            return "tapisjob.out"
        case "envVarName":
            return "HOME"
        case "name":
            return world.profile() if fresh else world.once("profile", world.profile)
        case "postitId":
            make = lambda: c.files.createPostIt(systemId=world.system, path=world.file, allowedUses=5).postitId
            return make() if fresh else world.once("postit", make)
        case "transferTaskId":
            make = lambda: c.files.createTransferTask(elements=[{
                "sourceURI": f"tapis://{world.system}/{world.file}",
                "destinationURI": f"tapis://{world.system}/{world.folder}/{world.name('copy')}.txt"}]).uuid
            return make() if fresh else world.once("transfer", make)
        case "tenant_id":
            return world.client.tenant_id
        case "site_id":
            return "dlws"
    return "x1"  # only operations answered 501 are left: client ids, ldaps, owners, Globus codes


SUBSCRIPTION = {"eventCategoryFilter": "ALL",
                "deliveryTargets": [{"deliveryMethod": "EMAIL", "deliveryAddress": "walk@example.org"}]}


def body(world: World, op: Operation) -> dict[str, Any]:
    """The request body's fields, as tapipy takes them (keyword arguments)."""
    bodies = {
        "getJobSearchListByPostSqlStr": lambda: {"request_body": {"search": [f"(appId.eq.{world.app})"]}},
        "shareJob": lambda: {"grantee": OTHER, "jobResource": ["JOB_HISTORY"], "jobPermission": "READ"},
        "sendEvent": lambda: {"eventData": "walk", "eventDetail": "WALK"},
        "submitJob": lambda: {"name": world.name("walk-job"), "appId": world.app, "appVersion": "0.0.1"},
        "subscribe": lambda: SUBSCRIPTION,
        "createAppVersion": lambda: world.app_def(world.name("walk-app")),
        "putApp": lambda: {k: v for k, v in world.app_def(world.app).items() if k not in ("id", "version")},
        "patchApp": lambda: {"description": "patched"},
        "searchAppsRequestBody": lambda: {"search": [f"(id.eq.{world.app})"]},
        "grantUserPerms": lambda: {"permissions": ["READ"]},
        "revokeUserPerms": lambda: {"permissions": ["READ"]},
        "shareApp": lambda: {"users": [OTHER]}, "unShareApp": lambda: {"users": [OTHER]},
        "shareSystem": lambda: {"users": [OTHER]}, "unShareSystem": lambda: {"users": [OTHER]},
        "sharePath": lambda: {"users": [OTHER]}, "unSharePath": lambda: {"users": [OTHER]},
        "createSystem": lambda: world.system_def(world.name("walk-sys")),
        "putSystem": lambda: {k: v for k, v in world.system_def(world.system).items() if k != "id"},
        "patchSystem": lambda: {"description": "patched"},
        "searchSystemsRequestBody": lambda: {"search": [f"(id.eq.{world.system})"]},
        "createUserCredential": world.credential,
        "createChildSystem": lambda: {"id": world.name("walk-child"), "effectiveUserId": world.hosts["DLWS_TEST_SSH_USER"],
                                      "rootDir": "/home/hpcuser"},
        "unlinkChildren": lambda: {"childSystemIds": ["walk-no-such-child"]},
        "createSchedulerProfile": lambda: {"name": world.name("walk-prof"), "hiddenOptions": ["MEM"]},
        "moveCopy": lambda: {"operation": "MOVE", "newPath": f"{world.folder}/{world.name('moved')}.txt"},
        "insert": lambda: {"file": b"inserted\n"},
        "mkdir": lambda: {"path": f"{world.folder}/{world.name('dir')}"},
        "runLinuxNativeOp": lambda: {"operation": "CHMOD", "argument": "644"},
        "setFacl": lambda: {"operation": "ADD", "aclString": f"user:{world.hosts['DLWS_TEST_SSH_USER']}:rw"},
        "createTransferTask": lambda: {"elements": [{
            "sourceURI": f"tapis://{world.system}/{world.file}",
            "destinationURI": f"tapis://{world.system}/{world.folder}/{world.name('copy')}.txt"}]},
        "grantPermissions": lambda: {"username": OTHER, "permission": "READ"},
        "createPostIt": lambda: {"allowedUses": 5, "validSeconds": 600},
        "updatePostIt": lambda: {"allowedUses": 3},
        "create_token": lambda: ({"username": OWNER, "password": world.password, "grant_type": "password"}
                                 if op.service == "authenticator" else placeholder_body(op)),
        "revoke_token": lambda: {"token": world.access_token()},
        "refresh_token": lambda: {"refresh_token": world.refresh_token()},
    }
    if op.operation_id in bodies:
        return bodies[op.operation_id]()
    return placeholder_body(op)


def placeholder_body(op: Operation) -> dict[str, Any]:
    """The required fields of an unserved operation's body, so that tapipy sends the call at all."""
    content = op.spec.get("requestBody", {}).get("content", {})
    schema = next(iter(content.values()), {}).get("schema", {})
    if "$ref" in schema:
        schema = document(op.service)["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return {name: "x1" for name in schema.get("required", [])}


def call(world: World, op: Operation):
    """(status, json or None, content type) of the call, made by tapipy."""
    client = world.admin if op.operation_id in ADMIN_ONLY else world.client
    kwargs = {name: parameter(world, op, name) for name in
              (p["name"] for p in op.spec.get("parameters", []) if p.get("in") == "path")}
    if op.operation_id == "deletePermissions":
        kwargs["username"] = OTHER
    kwargs.update(body(world, op))
    seen = []
    client.plugin_on_call_post_request_callables.append(lambda _op, response, **_: seen.append(response))
    try:
        getattr(getattr(client, op.service), op.operation_id)(**kwargs)
    except Exception:
        if not seen:
            raise
    finally:
        client.plugin_on_call_post_request_callables.pop()
    response = seen[-1]
    content_type = response.headers.get("content-type", "")
    return response.status_code, response.json() if "json" in content_type else None, content_type


def problems_of(op: Operation, status: int, payload: Any, content_type: str) -> list[str]:
    """What is wrong with a served operation's answer, by its document."""
    responses = op.spec.get("responses", {})
    declared = responses.get(str(status)) or responses.get("default")
    if status >= 300:
        return [f"answered {status}: {str(payload)[:300]}"]
    if declared is None:
        return [f"answered {status}; the document names {sorted(responses)}"]
    content = declared.get("content") or {}
    if op.operation_id in BINARY or "application/json" not in content:
        return [] if payload is None or "application/json" in content else [f"JSON where {list(content)} is named"]
    schema = content["application/json"].get("schema", {})
    validator = OAS30Validator(schema, resolver=jsonschema.RefResolver.from_schema(document(op.service)))
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message[:200]}" for e in validator.iter_errors(payload)][:5]


@pytest.fixture(scope="module")
def world(api_server, hosts):
    return World(api_server, hosts)


def test_every_operation_is_served_to_its_schema_or_answers_501(world):
    served = served_operations()
    failures, answered = [], {"served": 0, "501": 0}
    for op in operations():
        try:
            status, payload, content_type = call(world, op)
        except Exception as exc:  # noqa: BLE001 - a precondition (a PostIt to name) failed: report, go on
            failures.append(f"{op.service}.{op.operation_id}: could not be called: {exc!r}"[:400])
            continue
        if status == 501:
            answered["501"] += 1
            if op in served:
                failures.append(f"{op.operation_id}: served by the table, answered 501")
            elif not (payload and payload.get("status") == "error" and "not offered" in payload.get("message", "")):
                failures.append(f"{op.operation_id}: 501 without the envelope: {payload}")
            continue
        answered["served"] += 1
        if op not in served:
            failures.append(f"{op.operation_id}: answered {status} but the table says 501")
        failures += [f"{op.service}.{op.operation_id}: {p}" for p in problems_of(op, status, payload, content_type)]
    print(f"Tapis operations: {answered}")
    assert not failures, "\n".join(failures)
