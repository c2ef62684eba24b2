"""Every route refuses a missing, expired or forged token (401), and another user's private system, app,
job and file paths with 404 (or 403 once they can see the resource). No hosts needed: the database only.

The authorization matrix (``TABLE``) has one row per operation of the OpenAPI document and calls each as
anonymous, another user, a user alice shared with, the owner (alice), an admin and a foreign family token.
The API's dispatchers and file gateways are fakes here: nothing is enqueued and no host is reached.
"""

from __future__ import annotations

import re
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from functools import cache, cached_property
from typing import Any, ClassVar

import jwt
import pytest
from fastapi.testclient import TestClient

#: Routes anyone may call: health, token issuing, and the tenant/site lookups tapipy makes before it has a token.
PUBLIC = {"/healthz", "/v3/oauth2/tokens", "/v3/tenants", "/v3/tenants/{tenant_id}", "/v3/sites", "/v3/sites/{site_id}",
          "/v3/jobs/healthcheck", "/v3/systems/healthcheck", "/v3/apps/healthcheck", "/v3/files/healthcheck",
          "/v3/jobs/ready", "/v3/jobs/readycheck", "/v3/jobs/hello", "/v3/systems/readycheck", "/v3/apps/readycheck",
          "/v3/files/readycheck", "/v3/files/postits/redeem/{postitId}",
          "/metrics", "/api/v1/token",
          # Holding the token in the body is the credential (refresh, revoke); hello, ready and server metadata.
          "/v3/tokens", "/v3/oauth2/tokens/revoke", "/v3/tokens/revoke", "/v3/oauth2/hello", "/v3/oauth2/ready",
          "/v3/tokens/hello", "/v3/tokens/ready", "/v3/oauth2/.well-known/oauth-authorization-server"}


class FakeHost:
    """The API's dispatcher and file gateway: writes down each call (``calls``) and answers like a worker."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def start(self, job_uuid: str, queue: str | None = None) -> None:
        self.calls.append(("start", job_uuid))

    def cancel(self, job_uuid: str) -> None:
        self.calls.append(("cancel", job_uuid))

    def pause(self, job_uuid: str) -> None:
        self.calls.append(("pause", job_uuid))

    def resume_paused(self, job_uuid: str) -> None:
        self.calls.append(("resume_paused", job_uuid))

    def start_sweep(self, sweep_id: str, queue: str | None = None) -> None:
        self.calls.append(("start_sweep", sweep_id))

    def cancel_sweep(self, sweep_id: str) -> None:
        self.calls.append(("cancel_sweep", sweep_id))

    def send_parent(self, parent_id: int, token: str) -> None:
        self.calls.append(("transfer", parent_id))

    def run(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        self.calls.append((operation, kwargs.get("path")))
        if operation == "list":
            return {"kind": "dir", "entries": [{"name": "a.txt", "path": "shared/a.txt", "type": "file", "size": 1,
                                                "mtime": 0.0, "mode": "-rw-r--r--", "owner": "hpc", "group": "hpc"}]}
        if operation == "download":
            return {"filename": "a.txt", "content": b"a", "media_type": "text/plain"}
        if operation == "tail":
            return {"offset": 0, "size": 1, "content": b"a"}
        if operation == "host_eval":
            return {"value": "/home/hpc"}
        if operation == "get_facl":
            return {"entries": []}
        if operation == "open_job_ssh":
            return {"ready": True, "login": "hpc", "message": None, "verified": True, "refused": False}
        return {}


DISPATCHER = GATEWAY = FakeHost()


@pytest.fixture(scope="module")
def client():
    from api.app import create_app
    from api.dependencies import get_dispatcher, get_file_gateway
    from api.tapis.transfers import get_transfer_sender

    app = create_app()
    app.dependency_overrides[get_dispatcher] = lambda: DISPATCHER
    app.dependency_overrides[get_file_gateway] = lambda: GATEWAY
    app.dependency_overrides[get_transfer_sender] = lambda: DISPATCHER.send_parent
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def users(client):
    from dlws_flow.services.auth import create_user

    for name in ("alice_m", "bob_m"):
        create_user(name, f"{name}-password", replace=True)
    return {name: client.post("/v3/oauth2/tokens", json={"username": name, "password": f"{name}-password",
                                                         "grant_type": "password"}).json()["result"]["access_token"]["access_token"]
            for name in ("alice_m", "bob_m")}


def protected_routes(app):
    """Every operation of the OpenAPI document (the same list schemathesis and tapipy see)."""
    for path, operations in app.openapi()["paths"].items():
        if path not in PUBLIC and not path.startswith("/child/"):  # family-token routes: test below
            for method in operations:
                yield method.upper(), re.sub(r"\{[^}]+\}", "x1", path)


def forged_token() -> str:
    return jwt.encode({"tapis/username": "alice_m", "iat": 0, "exp": 4102444800}, "not-our-key", algorithm="HS256")


def expired_token() -> str:
    from dlws_flow.services.auth import Principal, issue_token

    return issue_token(Principal("alice_m", "dlws"), ttl=timedelta(seconds=-10))["access_token"]


def test_every_protected_route_refuses_bad_tokens(client, users):
    routes = list(protected_routes(client.app))
    assert len(routes) > 40
    for headers in ({}, {"X-Tapis-Token": forged_token()}, {"X-Tapis-Token": expired_token()},
                    {"Authorization": "Bearer not-a-jwt"}):
        for method, path in routes:
            response = client.request(method, path, headers=headers, json={})
            assert response.status_code == 401, (method, path, headers, response.text)
            body = response.json()  # Tapis' envelope, or OpenPAI's {"error", "message"} under /api/v1
            assert (body.get("status") == "error" or body.get("error")) and body["message"]


def test_wrong_password_and_unknown_user_get_the_same_401(client, users):
    for body in ({"username": "alice_m", "password": "wrong-password"}, {"username": "nobody", "password": "whatever"}):
        response = client.post("/v3/oauth2/tokens", json={**body, "grant_type": "password"})
        assert response.status_code == 401 and response.json()["message"] == "authentication failed"


def test_password_change_revokes_old_tokens(client, users):
    from dlws_flow.services.auth import (
        Principal,
        create_user,
        issue_token,
        set_password,
    )

    create_user("carol_m", "carol-password", replace=True)
    token = issue_token(Principal("carol_m", "dlws"))["access_token"]
    assert client.get("/v3/oauth2/userinfo", headers={"X-Tapis-Token": token}).status_code == 200
    time.sleep(1.1)  # token iat has one-second resolution; the change must be strictly later
    set_password("carol_m", "carol-new-password")
    assert client.get("/v3/oauth2/userinfo", headers={"X-Tapis-Token": token}).status_code == 401


def _change_user_row_elsewhere(username: str, **values) -> None:
    """What the CLI or another API worker does: write the user row, unseen by this process's cache."""
    from sqlalchemy import update

    from dlws_flow.store.db import session_scope
    from dlws_flow.store.models import UserRow

    with session_scope() as session:
        session.execute(update(UserRow).where(UserRow.username == username).values(**values))


def test_a_change_made_elsewhere_applies_once_the_cached_row_expires(client, users, monkeypatch):
    from datetime import UTC, datetime

    import dlws_flow.services.auth as auth

    auth.create_user("dave_m", "dave-password", replace=True)
    headers = {"X-Tapis-Token": auth.issue_token(auth.Principal("dave_m", "dlws"))["access_token"]}
    assert client.get("/v3/oauth2/userinfo", headers=headers).status_code == 200  # the row is now cached
    _change_user_row_elsewhere("dave_m", tokens_valid_after=datetime(2100, 1, 1, tzinfo=UTC))
    assert client.get("/v3/oauth2/userinfo", headers=headers).status_code == 200
    later = time.monotonic() + auth.get_settings().auth_cache_seconds + 1
    monkeypatch.setattr(auth._users, "clock", lambda: later)
    assert client.get("/v3/oauth2/userinfo", headers=headers).status_code == 401


def test_without_the_cache_a_change_made_elsewhere_applies_at_once(client, users, monkeypatch):
    import dlws_flow.services.auth as auth

    monkeypatch.setattr(auth.get_settings(), "auth_cache_seconds", 0)
    auth.create_user("erin_m", "erin-password", admin=True, replace=True)
    headers = {"X-Tapis-Token": auth.issue_token(auth.Principal("erin_m", "dlws"))["access_token"]}
    assert client.get("/v3/oauth2/userinfo", headers=headers).json()["result"]["admin"] is True
    _change_user_row_elsewhere("erin_m", is_admin=False)
    assert client.get("/v3/oauth2/userinfo", headers=headers).json()["result"]["admin"] is False
    auth.delete_user("erin_m")
    assert client.get("/v3/oauth2/userinfo", headers=headers).status_code == 401


def test_replacing_a_users_password_revokes_old_tokens(client, users):
    import dlws_flow.services.auth as auth

    auth.create_user("frank_m", "frank-password", replace=True)
    headers = {"X-Tapis-Token": auth.issue_token(auth.Principal("frank_m", "dlws"))["access_token"]}
    assert client.get("/v3/oauth2/userinfo", headers=headers).status_code == 200
    time.sleep(1.1)  # token iat has one-second resolution; the change must be strictly later
    auth.create_user("frank_m", "frank-new-password", replace=True)
    assert client.get("/v3/oauth2/userinfo", headers=headers).status_code == 401


def test_private_resources_of_another_user(client, users):
    from dlws_flow.services.auth import Principal
    from dlws_flow.store import repositories as repo
    from dlws_flow.store.db import session_scope
    from dlws_flow.store.models import JobRow, utcnow

    alice, bob = {"X-Tapis-Token": users["alice_m"]}, {"X-Tapis-Token": users["bob_m"]}
    system = {"id": "alice-private", "systemType": "LINUX", "host": "alice.example.org", "effectiveUserId": "alice",
              "defaultAuthnMethod": "PKI_KEYS", "canExec": True, "rootDir": "/home/alice", "jobWorkingDir": "/work",
              "notes": {"hostKey": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOKDFfyMMM5ORnm92TcBX9Etl7a52d6xv5p+3U6VJtT5"}}
    assert client.post("/v3/systems", json=system, headers=alice).status_code == 201
    app = {"id": "alice-app", "version": "1", "containerImage": "/img.sif", "jobAttributes": {"execSystemId": "alice-private"}}
    assert client.post("/v3/apps", json=app, headers=alice).status_code == 201
    job_uuid = "00000000-0000-0000-0000-00000000a11c-007"
    with session_scope() as session:
        repo.insert_job(session, JobRow(uuid=job_uuid, name="j", owner="alice_m", tenant="dlws", status="FINISHED",
                                        app_id="alice-app", app_version="1", job_type="FORK", exec_system_id="alice-private",
                                        archive_system_id="alice-private", request={}, spec={}, created=utcnow(),
                                        last_updated=utcnow(), visible=True))

    for path in ("/v3/systems/alice-private", "/v3/apps/alice-app", "/v3/apps/alice-app/1", f"/v3/jobs/{job_uuid}",
                 f"/v3/jobs/{job_uuid}/status", f"/v3/jobs/{job_uuid}/history", "/v3/systems/perms/alice-private/user/bob_m"):
        assert client.get(path, headers=alice).status_code == 200, path
        response = client.get(path, headers=bob)
        assert response.status_code == 404, (path, response.text)
    for path in (f"/v3/jobs/{job_uuid}/cancel", f"/v3/jobs/{job_uuid}/hide", "/v3/systems/alice-private/disable",
                 "/v3/apps/alice-app/disable", "/v3/systems/alice-private/delete"):
        assert client.post(path, headers=bob).status_code == 404, path
    assert client.post("/v3/systems/perms/alice-private/user/bob_m", json={"permissions": ["READ"]}, headers=bob).status_code == 404
    bob_jobs = client.get("/v3/jobs/list", headers=bob).json()["result"]
    assert job_uuid not in [j["uuid"] for j in bob_jobs]
    assert "alice-private" not in [s["id"] for s in client.get("/v3/systems", headers=bob).json()["result"]]

    # With READ, bob sees the system but may not change it, nor grant himself more.
    assert client.post("/v3/systems/perms/alice-private/user/bob_m", json={"permissions": ["READ"]}, headers=alice).status_code == 200
    assert client.get("/v3/systems/alice-private", headers=bob).status_code == 200
    assert client.post("/v3/systems/alice-private/disable", headers=bob).status_code == 403
    assert client.post("/v3/systems/perms/alice-private/user/bob_m", json={"permissions": ["MODIFY"]}, headers=bob).status_code == 403
    assert client.patch("/v3/systems/alice-private", json={"description": "bob was here"}, headers=bob).status_code == 403
    # A user cannot register a system that runs commands on the service's own machine.
    local = {**system, "id": "bob-local", "transport": "LOCAL"}
    assert client.post("/v3/systems", json=local, headers=bob).status_code == 403
    del Principal


def test_child_routes_refuse_missing_and_forged_family_tokens(client):
    paths = [p for p in client.app.openapi()["paths"] if p.startswith("/child/")]
    assert len(paths) == 4
    for path in paths:
        for params in ({}, {"familyToken": "forged-family-token", "jobId": "x"}):
            response = client.get(path, params=params)
            assert response.status_code == 401 and "error" in response.json(), (path, response.text)


# --- the authorization matrix ----------------------------------------------------------------------------
#
# Callers: nobody (no token); bob, who holds nothing of alice's; rita, to whom alice shared her system and app
# (READ + EXECUTE), her job (READ) and READ on the files under shared/; alice, who owns everything the paths
# name; an admin; and a valid FAMILY_TOKEN of another user's job family. On /v3 and /api/v1 the family token
# is sent as X-Tapis-Token and as Authorization: Bearer and must never name a user. On /child the callers'
# access tokens are sent as familyToken (an access token, even an admin's, is no family token), alice's
# column is her job's own family token, and the foreign token is used against alice's job (refused).
# On the systems routes one more caller: mona, to whom alice granted MODIFY on her system; she may change
# the record, not the owner's credential nor what runs as shell in every user's jobs (``GRANTEE_RULES``).

ALICE, OTHER, READER, ADMIN, TARGET = "mx_alice", "mx_bob", "mx_rita", "mx_admin", "mx_tgt"  # TARGET: named in paths
MODIFIER = "mx_mona"  # MODIFY on alice's systems
CALLERS = ("anonymous", "family", "other", "reader", "modifier", "owner", "admin")
CALLER_NAMES = {"other": OTHER, "reader": READER, "modifier": MODIFIER, "owner": ALICE, "admin": ADMIN}
HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOKDFfyMMM5ORnm92TcBX9Etl7a52d6xv5p+3U6VJtT5"

OK = "2xx"
REFUSED = "refused"  # /child: 200 with the DLWS refusal body, as for a job that does not exist
NOT_AUTHORIZED = "401 NotAuthorized"  # OpenPAI admin routes answer a non-admin so (the seed documents it)


def password(username: str) -> str:
    return f"{username}-pw1"


@dataclass(frozen=True)
class Row:
    """The expected outcome for each caller (``OK``, a status code, ``REFUSED``, ``NOT_AUTHORIZED``;
    ``None``: not called) and what to send. Bodies, parameters and paths are filled from a ``World``."""

    other: Any
    reader: Any
    owner: Any = OK
    admin: Any = OK
    anonymous: Any = 401
    family: Any = 401
    json: Any = None
    params: dict[str, str] | None = None
    upload: bool = False
    #: None: alice's shared resources; a dict: a throwaway World(**fresh) per call (deletes, cancels, owner
    #: changes...), so that no call spoils a later one whatever the order.
    fresh: dict[str, Any] | None = None
    #: mona, MODIFY on alice's system (None: not called; set on the systems routes).
    modifier: Any = None


def public(**kw) -> Row:
    """Anyone, with or without a token (a family token is no reason to refuse either)."""
    return Row(OK, OK, anonymous=OK, family=OK, **kw)


def anyone(**kw) -> Row:
    """Any signed-in user, in their own namespace (lists, create, userinfo...)."""
    return Row(OK, OK, **kw)


def reads(**kw) -> Row:
    """READ on alice's resource: bob (nothing held) 404, rita (shared) may."""
    return Row(404, OK, **kw)


def owner_only(**kw) -> Row:
    """MODIFY or ownership: bob (nothing held) 404, rita (can see it, lacks the permission) 403."""
    return Row(404, 403, **kw)


def openpai_admin(**kw) -> Row:
    return Row(NOT_AUTHORIZED, NOT_AUTHORIZED, owner=NOT_AUTHORIZED, **kw)


def child(**kw) -> Row:
    """/child: the job's own family token only; the foreign family's is refused as for an unknown job."""
    return Row(401, 401, admin=401, family=REFUSED, **kw)


def system_def(system_id: str = "{new_id}", **notes: Any) -> dict[str, Any]:
    return {"id": system_id, "systemType": "LINUX", "host": "127.0.0.1", "effectiveUserId": "hpc",
            "defaultAuthnMethod": "PKI_KEYS", "canExec": True, "rootDir": "/home/hpc", "jobWorkingDir": "/work",
            "allowChildren": True, "notes": {"hostKey": HOST_KEY, **notes}}


def app_def(app_id: str = "{new_id}", system_id: str | None = None, version: str = "1") -> dict[str, Any]:
    attributes = {"jobAttributes": {"execSystemId": system_id}} if system_id else {}
    return {"id": app_id, "version": version, "containerImage": "/img.sif", **attributes}


def pai_config(name: str = "{new_id}", vc: str = "{pai_vc}") -> dict[str, Any]:
    return {"jobName": name, "image": "/img.sif", "virtualCluster": vc,
            "taskRoles": [{"name": "main", "taskNumber": 1, "cpuNumber": 1, "memoryMB": 64, "command": "true"}]}


ALICE_LOGIN = {"username": ALICE, "password": password(ALICE), "grant_type": "password"}
READ_PERMISSION = {"permissions": ["READ"]}
TARGET_USERS = {"users": [TARGET]}
SUBSCRIPTION = {"eventCategoryFilter": "ALL", "deliveryTargets": [{"deliveryMethod": "EMAIL",
                                                                    "deliveryAddress": "alice@example.org"}]}

TABLE: dict[tuple[str, str], Row] = {
    # Health, metrics, tokens, and the tenant/site lookups tapipy makes before it has a token.
    ("GET", "/healthz"): public(),
    ("GET", "/metrics"): public(),
    ("GET", "/v3/apps/healthcheck"): public(),
    ("GET", "/v3/files/healthcheck"): public(),
    ("GET", "/v3/jobs/healthcheck"): public(),
    ("GET", "/v3/systems/healthcheck"): public(),
    ("GET", "/v3/jobs/ready"): public(),
    ("GET", "/v3/jobs/readycheck"): public(),
    ("GET", "/v3/jobs/hello"): public(),
    ("GET", "/v3/apps/readycheck"): public(),
    ("GET", "/v3/files/readycheck"): public(),
    ("GET", "/v3/systems/readycheck"): public(),
    ("POST", "/v3/oauth2/tokens"): public(json=ALICE_LOGIN),
    ("POST", "/api/v1/token"): public(json=ALICE_LOGIN),
    ("GET", "/v3/tenants"): public(),
    ("GET", "/v3/tenants/{tenant_id}"): public(),
    ("GET", "/v3/sites"): public(),
    ("GET", "/v3/sites/{site_id}"): public(),
    ("GET", "/v3/oauth2/userinfo"): anyone(),
    ("GET", "/v3/oauth2/profiles"): anyone(),
    ("GET", "/v3/oauth2/profiles/{username}"): Row(404, 404),  # alice's: herself and admins, as if missing to others
    ("GET", "/v3/oauth2/hello"): public(),
    ("GET", "/v3/oauth2/ready"): public(),
    ("GET", "/v3/tokens/hello"): public(),
    ("GET", "/v3/tokens/ready"): public(),
    ("GET", "/v3/oauth2/.well-known/oauth-authorization-server"): public(),
    # The token in the body is the credential, whoever sends it: a bogus one is refused for every caller.
    ("POST", "/v3/oauth2/tokens/revoke"): Row(400, 400, owner=400, admin=400, anonymous=400, family=400,
                                              json={"token": "not-a-token"}),
    ("POST", "/v3/tokens/revoke"): Row(400, 400, owner=400, admin=400, anonymous=400, family=400,
                                       json={"token": "not-a-token"}),
    ("PUT", "/v3/tokens"): Row(401, 401, owner=401, admin=401, anonymous=401, family=401,
                               json={"refresh_token": "not-a-token"}),
    # Admins only; the admin's call is in test_tokens_rs256.py (a rotation here would end every token of the matrix).
    ("PUT", "/v3/tokens/keys"): Row(403, 403, owner=403, admin=None, json={}),

    # Systems (alice's; rita has READ + EXECUTE).
    ("GET", "/v3/systems"): anyone(params={"owner": ALICE}),
    ("GET", "/v3/systems/search"): anyone(params={"owner.eq": ALICE}),
    ("POST", "/v3/systems/search"): anyone(json={"search": [f"owner = '{ALICE}'"]}),
    ("POST", "/v3/systems"): anyone(json=system_def()),
    ("GET", "/v3/systems/{systemId}"): reads(modifier=OK),
    ("PATCH", "/v3/systems/{systemId}"): owner_only(json={"description": "patched"}, modifier=OK),
    ("PUT", "/v3/systems/{systemId}"): owner_only(json=system_def("{systemId}"), modifier=OK),  # the same record
    ("GET", "/v3/systems/{systemId}/isEnabled"): reads(modifier=OK),
    ("POST", "/v3/systems/{systemId}/enable"): owner_only(fresh={}, modifier=OK),
    ("POST", "/v3/systems/{systemId}/disable"): owner_only(fresh={}, modifier=OK),
    ("POST", "/v3/systems/{systemId}/delete"): owner_only(fresh={}, modifier=403),
    # A deleted system is invisible to everyone but its owner (and admins), rita included.
    ("POST", "/v3/systems/{systemId}/undelete"): Row(404, 404, fresh={"system_deleted": True}, modifier=404),
    ("POST", "/v3/systems/{systemId}/changeOwner/{userName}"): owner_only(fresh={}, modifier=403),
    ("GET", "/v3/systems/{systemId}/history"): reads(modifier=OK),
    # Only the owner (or an admin) accepts a changed host key; this system's host offered none (404 for them).
    ("POST", "/v3/systems/{systemId}/hostKey/accept"): owner_only(owner=404, admin=404, modifier=403),
    # Credentials: the owner manages anyone's, a user their own; rita asks about TARGET's.
    ("POST", "/v3/systems/credential/{systemId}/user/{userName}"): owner_only(json={"password": "target-secret"},
                                                                              modifier=403),
    ("GET", "/v3/systems/credential/{systemId}/user/{userName}"): owner_only(modifier=403),
    ("DELETE", "/v3/systems/credential/{systemId}/user/{userName}"): owner_only(fresh={}, modifier=403),
    # Permissions: callers see their own, the owner anyone's (rita asks about TARGET's); only the owner grants.
    ("GET", "/v3/systems/perms/{systemId}/user/{userName}"): owner_only(modifier=403),
    ("POST", "/v3/systems/perms/{systemId}/user/{userName}"): owner_only(json=READ_PERMISSION, modifier=403),
    ("POST", "/v3/systems/perms/{systemId}/user/{userName}/revoke"): owner_only(json=READ_PERMISSION, modifier=403),
    ("DELETE", "/v3/systems/perms/{systemId}/user/{userName}/{permission}"): owner_only(modifier=403),
    ("GET", "/v3/systems/share/{systemId}"): reads(modifier=OK),
    ("POST", "/v3/systems/share/{systemId}"): owner_only(json=TARGET_USERS, modifier=403),
    ("POST", "/v3/systems/unshare/{systemId}"): owner_only(json=TARGET_USERS, modifier=403),
    # Public sharing is not offered: 400 to whoever can see the system.
    # Scheduler profiles (Tapis): anyone creates one, everyone in the tenant reads them; the owner or an admin deletes.
    ("GET", "/v3/systems/schedulerProfile"): anyone(),
    ("POST", "/v3/systems/schedulerProfile"): anyone(json={"name": "{new_id}", "hiddenOptions": ["MEM"]}),
    ("GET", "/v3/systems/schedulerProfile/{name}"): anyone(),
    ("DELETE", "/v3/systems/schedulerProfile/{name}"): Row(403, 403, fresh={}),

    # Apps (alice's, on her system; rita has READ + EXECUTE).
    ("GET", "/v3/apps"): anyone(params={"owner": ALICE}),
    ("GET", "/v3/apps/search"): anyone(params={"owner.eq": ALICE}),
    ("POST", "/v3/apps/search"): anyone(json={"search": [f"owner = '{ALICE}'"]}),
    ("POST", "/v3/apps"): anyone(json=app_def()),
    ("GET", "/v3/apps/perms/{appId}/user/{userName}"): owner_only(),
    ("POST", "/v3/apps/perms/{appId}/user/{userName}"): owner_only(json=READ_PERMISSION),
    ("POST", "/v3/apps/perms/{appId}/user/{userName}/revoke"): owner_only(json=READ_PERMISSION),
    ("DELETE", "/v3/apps/perms/{appId}/user/{userName}/{permission}"): owner_only(),
    ("GET", "/v3/apps/share/{appId}"): reads(),
    ("POST", "/v3/apps/share/{appId}"): owner_only(json=TARGET_USERS),
    ("POST", "/v3/apps/unshare/{appId}"): owner_only(json=TARGET_USERS),
    ("GET", "/v3/apps/{appId}"): reads(),
    ("GET", "/v3/apps/{appId}/isEnabled"): reads(),
    ("GET", "/v3/apps/{appId}/{appVersion}"): reads(),
    ("PATCH", "/v3/apps/{appId}/{appVersion}"): owner_only(json={"description": "patched"}),
    ("PUT", "/v3/apps/{appId}/{appVersion}"): owner_only(json=app_def("{appId}", "{systemId}")),
    ("POST", "/v3/apps/{appId}/enable"): owner_only(fresh={}),
    ("POST", "/v3/apps/{appId}/disable"): owner_only(fresh={}),
    ("POST", "/v3/apps/{appId}/{appVersion}/enable"): owner_only(fresh={}),
    ("POST", "/v3/apps/{appId}/{appVersion}/disable"): owner_only(fresh={}),
    ("POST", "/v3/apps/{appId}/{appVersion}/lock"): owner_only(fresh={}),
    ("POST", "/v3/apps/{appId}/{appVersion}/unlock"): owner_only(fresh={}),
    ("POST", "/v3/apps/{appId}/delete"): owner_only(fresh={}),
    ("POST", "/v3/apps/{appId}/undelete"): Row(404, 404, fresh={"app_deleted": True}),
    ("POST", "/v3/apps/{appId}/changeOwner/{userName}"): owner_only(fresh={}),

    # Files on alice's system (rita: READ under shared/, through a grant; the paths are shared/a.txt).
    ("GET", "/v3/files/ops/{systemId}/{path}"): reads(),
    ("POST", "/v3/files/ops/{systemId}/{path}"): owner_only(upload=True),
    ("DELETE", "/v3/files/ops/{systemId}/{path}"): owner_only(),
    ("POST", "/v3/files/ops/{systemId}"): owner_only(json={"path": "shared/new"}),
    ("GET", "/v3/files/content/{systemId}/{path}"): reads(),
    ("GET", "/v3/files/permissions/{systemId}/{path}"): reads(),  # the caller's own permission
    ("POST", "/v3/files/permissions/{systemId}/{path}"): owner_only(json={"username": TARGET, "permission": "READ"}),
    ("DELETE", "/v3/files/permissions/{systemId}/{path}"): owner_only(params={"username": TARGET}),
    ("GET", "/v3/apps/{appId}/history"): reads(),
    ("POST", "/v3/jobs/sweep"): reads(json={"job": {"appId": "{app}", "appVersion": "1"}, "parameters": {"N": [1]}}),
    ("GET", "/v3/jobs/sweeps"): anyone(),
    ("GET", "/v3/jobs/sweeps/{sweepId}"): Row(404, 404),
    ("POST", "/v3/jobs/sweeps/{sweepId}/cancel"): Row(404, 404, fresh={}),
    ("POST", "/v3/jobs/sweeps/{sweepId}/pause"): Row(404, 404, fresh={}),
    ("POST", "/v3/jobs/sweeps/{sweepId}/resume"): Row(404, 404, fresh={}),
    ("POST", "/v3/apps/share_public/{appId}"): owner_only(fresh={}),  # throwaway apps: public reaches everyone
    ("POST", "/v3/apps/unshare_public/{appId}"): owner_only(fresh={}),
    ("GET", "/v3/systems/{systemId}/hostEval/{envVarName}"): reads(),
    ("POST", "/v3/systems/{parentId}/createChildSystem"): reads(
        json={"id": "{new_id}", "effectiveUserId": "child", "rootDir": "/home/child"}, modifier=OK),
    ("POST", "/v3/systems/{childSystemId}/unlinkFromParent"): owner_only(modifier=OK),
    ("POST", "/v3/systems/{parentSystemId}/unlinkChildren"): owner_only(json={"childSystemIds": ["none"]}, modifier=OK),  # EXECUTE: rita holds it by the share
    ("POST", "/v3/systems/credential/{systemId}/user/{userName}/check"): owner_only(modifier=403),
    ("POST", "/v3/files/transfers"): owner_only(json={"elements": [{
        "sourceURI": "tapis://{system}/shared/a.txt", "destinationURI": "tapis://{system}/shared/copy.txt"}]}),
    ("GET", "/v3/files/transfers"): anyone(),
    ("GET", "/v3/files/transfers/{transferTaskId}"): Row(404, 404),
    ("GET", "/v3/files/transfers/{transferTaskId}/details"): Row(404, 404),
    ("DELETE", "/v3/files/transfers/{transferTaskId}"): Row(404, 404, fresh={}),
    ("POST", "/v3/files/postits/{systemId}/{path}"): reads(json={"allowedUses": 2}),
    ("GET", "/v3/files/postits"): anyone(),
    ("GET", "/v3/files/postits/{postitId}"): Row(404, 404),
    ("PATCH", "/v3/files/postits/{postitId}"): Row(404, 404, json={"allowedUses": 3}),
    ("DELETE", "/v3/files/postits/{postitId}"): Row(404, 404, fresh={}),
    ("GET", "/v3/files/postits/redeem/{postitId}"): public(fresh={}),
    ("PUT", "/v3/files/ops/{systemId}/{path}"): owner_only(json={"operation": "COPY", "newPath": "shared/copy"}),
    ("GET", "/v3/files/utils/linux/{systemId}/{path}"): reads(),
    ("GET", "/v3/files/utils/linux/facl/{systemId}/{path}"): reads(),
    ("POST", "/v3/files/utils/linux/facl/{systemId}/{path}"): owner_only(json={"operation": "ADD",
                                                                             "aclString": "user:hpc:rw"}),
    ("POST", "/v3/files/utils/linux/{systemId}/{path}"): owner_only(json={"operation": "CHMOD", "argument": "750"}),
    ("GET", "/v3/files/share/{systemId}/{path}"): owner_only(),
    ("POST", "/v3/files/share/{systemId}/{path}"): owner_only(json=TARGET_USERS),
    ("POST", "/v3/files/unshare/{systemId}/{path}"): owner_only(json=TARGET_USERS),
    ("POST", "/v3/files/share_public/{systemId}/{path}"): owner_only(fresh={}),
    ("POST", "/v3/files/unshare_public/{systemId}/{path}"): owner_only(fresh={}),
    ("POST", "/v3/files/unshare_all/{systemId}/{path}"): owner_only(fresh={}),

    # Jobs (alice's, RUNNING, shared READ with rita). Submitting alice's app needs READ/EXECUTE on it.
    ("POST", "/v3/jobs/submit"): reads(json={"name": "mx-job", "appId": "{appId}", "appVersion": "1"}),
    ("GET", "/v3/jobs/list"): anyone(),
    ("GET", "/v3/jobs/search"): anyone(params={"owner": ALICE}),
    ("POST", "/v3/jobs/search"): anyone(json={"search": [f"(owner.eq.{ALICE})"]}),
    ("GET", "/v3/jobs/{jobUuid}"): reads(),
    ("GET", "/v3/jobs/{jobUuid}/output/list/{outputPath}"): reads(),
    ("GET", "/v3/jobs/{jobUuid}/output/download/{outputPath}"): reads(),
    ("GET", "/v3/jobs/{jobUuid}/output/tail"): reads(),
    ("GET", "/v3/jobs/{jobUuid}/status"): reads(),
    ("GET", "/v3/jobs/{jobUuid}/history"): reads(),
    ("POST", "/v3/jobs/{jobUuid}/cancel"): owner_only(fresh={}),
    ("POST", "/v3/jobs/{jobUuid}/pause"): owner_only(fresh={}),
    ("POST", "/v3/jobs/{jobUuid}/resume"): owner_only(fresh={"job_status": "PAUSED"}),
    ("POST", "/v3/jobs/{jobUuid}/hide"): owner_only(fresh={}),
    ("POST", "/v3/jobs/{jobUuid}/unhide"): owner_only(fresh={}),
    ("GET", "/v3/jobs/{jobUuid}/resubmit_request"): reads(),
    ("POST", "/v3/jobs/{jobUuid}/resubmit"): reads(),  # a new job of the caller's (Tapis), rita may run the app
    ("POST", "/v3/jobs/{jobUuid}/sendEvent"): owner_only(json={"eventData": "hello"}),  # events reach the owner's subscribers
    ("POST", "/v3/jobs/{jobUuid}/share"): owner_only(json={"grantee": TARGET}),
    ("GET", "/v3/jobs/{jobUuid}/share"): owner_only(),
    ("DELETE", "/v3/jobs/{jobUuid}/share/{user}"): owner_only(),
    ("POST", "/v3/jobs/subscribe/{jobUuid}"): owner_only(json=SUBSCRIPTION),
    ("GET", "/v3/jobs/subscribe/{jobUuid}"): owner_only(),  # webhook URLs are the owner's
    ("DELETE", "/v3/jobs/subscribe/{uuid}"): owner_only(fresh={}),

    # OpenPAI jobs: by (owner, name), not shared; an admin finds anyone's. alice and rita are members of the
    # VC the configs name, bob is not.
    ("GET", "/api/v1/jobs"): anyone(params={"username": ALICE}),
    ("POST", "/api/v1/jobs"): Row(403, OK, json=pai_config()),
    ("GET", "/api/v1/jobs/{jobName}"): Row(404, 404),
    ("GET", "/api/v1/jobs/{jobName}/config"): Row(404, 404),
    ("GET", "/api/v1/jobs/{jobName}/ssh"): Row(404, 404),
    # The private key goes to the job's owner only, once: an admin is refused too.
    ("GET", "/api/v1/jobs/{jobName}/ssh/key"): Row(404, 404, admin=403, fresh={}),
    ("PUT", "/api/v1/jobs/{jobName}/executionType"): Row(404, 404, json={"value": "STOP"}, fresh={}),
    # OpenPAI users and virtual clusters. A user may change their own password (alice, here), nothing else.
    ("PUT", "/api/v1/user"): Row(NOT_AUTHORIZED, NOT_AUTHORIZED,
                                 json={"username": ALICE, "password": password(ALICE), "modify": True}),
    ("DELETE", "/api/v1/user"): openpai_admin(json={"username": "{removable_user}"}, fresh={}),
    ("PUT", "/api/v1/user/{username}/virtualClusters"): openpai_admin(json={"virtualClusters": "{pai_vc}"}),
    ("GET", "/api/v1/virtual-clusters"): anyone(),
    ("GET", "/api/v1/virtual-clusters/{vcName}"): anyone(),
    ("PUT", "/api/v1/virtual-clusters/{vcName}"): openpai_admin(json={"capacity": 0}, fresh={}),
    ("DELETE", "/api/v1/virtual-clusters/{vcName}"): openpai_admin(fresh={}),

    # The DLWS child API of alice's job.
    ("GET", "/child/SubmitJob"): child(params={"cmd": "true", "parentJobId": "{jobUuid}"}),
    ("GET", "/child/KillJob"): child(params={"jobId": "{jobUuid}"}, fresh={}),
    ("GET", "/child/JobDetail"): child(params={"jobId": "{jobUuid}"}),
    ("GET", "/child/GetJobIP"): child(params={"jobId": "{jobUuid}"}),
}

#: Rights given by the body rather than the route: only an admin may register or turn a system LOCAL (it
#: runs commands as the service's own account), add a version to another user's app, create OpenPAI users
#: or make anyone an admin.
BODY_RULES: list[tuple[str, str, Row]] = [
    ("POST", "/v3/systems", Row(403, 403, owner=403, json={**system_def(), "transport": "LOCAL"})),
    ("PUT", "/v3/systems/{systemId}", Row(404, 403, owner=403, json={**system_def("{systemId}"), "transport": "LOCAL"},
                                          fresh={})),
    ("POST", "/v3/apps", Row(403, 403, json=app_def("{appId}", version="{new_id}"))),
    ("PUT", "/api/v1/user", openpai_admin(json={"username": "{new_name}", "password": "new-user-pw", "modify": False})),
    # alice may change her own password, not make herself an admin (an admin may: not called, it would stick).
    ("PUT", "/api/v1/user", openpai_admin(admin=None, json={"username": ALICE, "password": password(ALICE),
                                                            "admin": True, "modify": True})),
]

#: What a system's owner keeps to themselves (and admins) even from a MODIFY grantee (mona): the owner's
#: credential, whatever runs as shell in every user's jobs (scheduler profiles, the job environment), and
#: where and as whom the owner's login is used (host, host key, rootDir). A grantee stores only their own
#: login. And ids: a deleted system's or app's id stays its owner's; everyone else hears what a live one
#: gets (409 for a system, as Tapis; 403 for an app version).
SHELL_LINE = "touch ~/pwned"
GRANTEE_RULES: list[tuple[str, str, Row]] = [
    ("PUT", "/v3/systems/{systemId}", owner_only(modifier=403, fresh={},
                                                 json={**system_def("{systemId}"), "authnCredential": {"password": "mona-pw"}})),
    ("PATCH", "/v3/systems/{systemId}", owner_only(modifier=403, owner=400, admin=400,  # not patchable (Tapis)
                                                   json={"authnCredential": {"password": "mona-pw"}})),
    ("PATCH", "/v3/systems/{systemId}", owner_only(modifier=403, fresh={},
                                                   json={"schedulerProfiles": [{"name": "p", "setupLines": [SHELL_LINE]}]})),
    ("PATCH", "/v3/systems/{systemId}", owner_only(modifier=403, fresh={}, json={"batchSchedulerProfile": "p"})),
    ("PATCH", "/v3/systems/{systemId}", owner_only(modifier=403, fresh={},
                                                   json={"jobEnvVariables": [{"key": "LD_PRELOAD", "value": "/tmp/x.so"}]})),
    ("PATCH", "/v3/systems/{systemId}", owner_only(modifier=403, fresh={}, json={"host": "198.51.100.7"})),
    ("PATCH", "/v3/systems/{systemId}", owner_only(modifier=403, fresh={}, json={"rootDir": "/"})),
    ("PATCH", "/v3/systems/{systemId}", owner_only(modifier=403, fresh={},
                                                   json={"notes": {"hostKey": HOST_KEY, "schedulerProfiles": [
                                                       {"name": "p", "setupLines": [SHELL_LINE]}]}})),
    ("PUT", "/v3/systems/{systemId}", owner_only(modifier=403, fresh={}, json=system_def(
        "{systemId}", schedulerProfiles=[{"name": "p", "setupLines": [SHELL_LINE]}]))),
    # The per-user credential route: the owner's login is the owner's; anyone who may see the system stores their own.
    ("POST", "/v3/systems/credential/{systemId}/user/" + ALICE, owner_only(modifier=403, json={"password": "mona-pw"})),
    ("POST", "/v3/systems/credential/{systemId}/user/" + MODIFIER, owner_only(modifier=OK, json={"password": "mona-pw"})),
    ("POST", "/v3/systems/credential/{systemId}/user/" + READER, Row(404, OK, modifier=403, json={"password": "rita-pw"})),
    # Taken ids: a live system's and a deleted one's read the same to everyone but its owner (and admins).
    ("POST", "/v3/systems", Row(409, 409, modifier=409, owner=409, admin=409, json=system_def("{systemId}"))),
    ("POST", "/v3/systems", Row(409, 409, modifier=409, json=system_def("{systemId}"), fresh={"system_deleted": True})),
    ("POST", "/v3/apps", Row(403, 403, json=app_def("{appId}", version="{new_id}"), fresh={"app_deleted": True})),
]


def new_id(separator: str = "-") -> str:
    return f"mx{separator}{uuid.uuid4().hex[:10]}"


@cache
def principal(username: str):
    from dlws_flow.services.auth import get_user

    return get_user(username)


def access_token(username: str) -> str:
    """A fresh token per call: a password change made by an earlier call (PUT /api/v1/user) revokes older ones."""
    from dlws_flow.services.auth import issue_token

    return issue_token(principal(username))["access_token"]


def family_token_of(job_uuid: str) -> str:
    from dlws_flow.services import families
    from dlws_flow.store import repositories as repo
    from dlws_flow.store.db import session_scope

    with session_scope() as session:
        return families.environment(session, repo.get_job(session, job_uuid))["FAMILY_TOKEN"]


class World:
    """alice's resources, each created on first use; ``str.format_map(world)`` fills paths and bodies."""

    ALIASES: ClassVar[dict[str, str]] = {"systemId": "system", "parentId": "system", "childSystemId": "system",
                                         "parentSystemId": "system", "appId": "app", "jobUuid": "job", "uuid": "subscription",
                                         "jobName": "pai_job", "vcName": "vc", "name": "profile",
                                         "transferTaskId": "transfer", "postitId": "postit", "sweepId": "sweep"}
    VALUES: ClassVar[dict[str, str]] = {"envVarName": "HOME", "appVersion": "1", "userName": TARGET, "user": TARGET, "username": ALICE, "permission": "READ",
                                        "path": "shared/a.txt", "outputPath": "out.txt", "site_id": "dlws"}

    def __init__(self, *, shared: bool = False, job_status: str = "RUNNING", system_deleted: bool = False,
                 app_deleted: bool = False) -> None:
        self.shared, self.job_status = shared, job_status
        self.system_deleted, self.app_deleted = system_deleted, app_deleted

    def __getitem__(self, key: str) -> str:
        if key == "new_id":
            return new_id()
        if key == "new_name":
            return new_id("_")
        if key in self.VALUES:
            return self.VALUES[key]
        return getattr(self, self.ALIASES.get(key, key))

    @property
    def tenant_id(self) -> str:
        from dlws_flow.settings import get_settings

        return get_settings().tenant

    @cached_property
    def system(self) -> str:
        from dlws_flow.services import files, systems

        alice, system_id = principal(ALICE), new_id()
        systems.create(alice, system_def(system_id))
        systems.share(alice, system_id, [READER])
        systems.grant(alice, system_id, MODIFIER, ["MODIFY"])
        files.grant_permission(alice, system_id, "shared", READER, "READ")
        systems.set_credential(alice, system_id, TARGET, {"password": "target-secret"})
        if self.system_deleted:
            systems.set_deleted(alice, system_id, True)
        return system_id

    @cached_property
    def app(self) -> str:
        from dlws_flow.services import apps

        alice, app_id = principal(ALICE), new_id()
        apps.create(alice, app_def(app_id, self.system))
        apps.share(alice, app_id, [READER])
        if self.app_deleted:
            apps.set_deleted(alice, app_id, True)
        return app_id

    @cached_property
    def job(self) -> str:
        """Running (so it can be paused, cancelled, and has an IP), with outputs, shared READ with rita."""
        from dlws_flow.services import jobs
        from dlws_flow.store import repositories as repo
        from dlws_flow.store.db import session_scope

        alice = principal(ALICE)
        job_uuid = jobs.submit({"name": "mx-job", "appId": self.app, "appVersion": "1"}, DISPATCHER, principal=alice)["uuid"]
        with session_scope() as session:
            repo.update_job_fields(session, job_uuid, status=self.job_status, remote_job_id="4242",
                                   host_dirs={"ExecSystemOutputDir": "/work/out"})
        jobs.share(alice, job_uuid, READER)
        return job_uuid

    @cached_property
    def profile(self) -> str:
        """A Tapis scheduler profile of alice's."""
        from dlws_flow.services import scheduler_profiles

        name = new_id()
        scheduler_profiles.create(principal(ALICE), {"name": name, "moduleLoads": [{"moduleLoadCommand": "module load"}]})
        return name

    @cached_property
    def transfer(self) -> str:
        """alice's copy of a file within her system (nothing runs it: the sender is the fake host)."""
        from dlws_flow.services import transfers

        element = {"sourceURI": f"tapis://{self.system}/shared/a.txt", "destinationURI": f"tapis://{self.system}/b.txt"}
        return transfers.create_transfer(principal(ALICE), {"elements": [element]}, DISPATCHER.send_parent)["uuid"]

    @cached_property
    def sweep(self) -> str:
        """alice's sweep of one element of her app."""
        from dlws_flow.services import sweeps

        request = {"job": {"appId": self.app, "appVersion": "1"}, "parameters": {"N": [1]}}
        return sweeps.submit_sweep(principal(ALICE), request, DISPATCHER)["id"]

    @cached_property
    def postit(self) -> str:
        from dlws_flow.services import postits

        return postits.create(principal(ALICE), self.system, "shared/a.txt", {}, "http://testserver")["postitId"]

    @cached_property
    def subscription(self) -> str:
        from dlws_flow.services import subscriptions

        return subscriptions.subscribe(principal(ALICE), self.job, SUBSCRIPTION)["uuid"]

    @cached_property
    def family_token(self) -> str:
        return family_token_of(self.job)

    @cached_property
    def vc(self) -> str:
        """The shared world's: a VC on a system of the admin's, with alice and rita as members; a throwaway's: empty."""
        from dlws_flow.services import quotas, systems

        name = new_id("_")
        if not self.shared:
            quotas.put_vc(name, capacity=0)
            return name
        system_id = new_id()
        systems.create(principal(ADMIN), system_def(system_id, cpu=1000, memoryMB=1_000_000, gpu=0))
        quotas.put_vc(name, capacity=100, systems=[system_id])
        for member in (ALICE, READER):
            quotas.set_user_vcs(member, [name])
        return name

    @property
    def pai_vc(self) -> str:
        return SHARED.vc

    @cached_property
    def pai_job(self) -> str:
        from dlws_flow.services import openpai

        return openpai.submit(principal(ALICE), pai_config(new_id(), SHARED.vc), DISPATCHER)

    @cached_property
    def removable_user(self) -> str:
        from dlws_flow.services.auth import create_user

        username = new_id("_")
        create_user(username, password(username))
        return username


SHARED = World(shared=True)


@cache
def foreign_family_token() -> str:
    """The FAMILY_TOKEN of a root job of TARGET's: valid, but of another family than any of alice's jobs."""
    from dlws_flow.services import jobs

    return family_token_of(jobs.submit({"name": "foreign", "appId": SHARED.app, "appVersion": "1"}, DISPATCHER,
                                       owner=TARGET)["uuid"])


@pytest.fixture(scope="module")
def matrix(client):
    from dlws_flow.services.auth import create_user

    for name in (ALICE, OTHER, READER, MODIFIER, ADMIN, TARGET):
        create_user(name, password(name), admin=name == ADMIN, replace=True)
    # What bob must never see in an answer that succeeds.
    return [SHARED.system, SHARED.app, SHARED.job, SHARED.pai_job, SHARED.subscription]


def fill(value: Any, world: World) -> Any:
    if isinstance(value, str):
        return value.format_map(world)
    if isinstance(value, dict):
        return {k: fill(v, world) for k, v in value.items()}
    if isinstance(value, list):
        return [fill(v, world) for v in value]
    return value


def requests_of(route: tuple[str, str], row: Row, caller: str, world: World) -> list[dict[str, Any]]:
    """The request(s) ``caller`` makes: keyword arguments of ``TestClient.request`` (the family token twice
    on user routes: as X-Tapis-Token and as a bearer token)."""
    method, template = route
    request: dict[str, Any] = {"method": method, "url": template.format_map(world)}
    params = dict(fill(row.params or {}, world))
    if row.json is not None:
        request["json"] = fill(row.json, world)
    if row.upload:
        request["files"] = {"file": ("a.txt", b"hello")}
    if template.startswith("/child/"):
        if caller == "owner":
            params["familyToken"] = world.family_token
        elif caller == "family":
            params["familyToken"] = foreign_family_token()
        elif caller != "anonymous":
            params["familyToken"] = access_token(CALLER_NAMES[caller])  # no family token, even an admin's
        return [{**request, "params": params}]
    if caller == "anonymous":
        return [{**request, "params": params}]
    if caller == "family":
        token = foreign_family_token()
        return [{**request, "params": params, "headers": headers} for headers in
                ({"X-Tapis-Token": token}, {"Authorization": f"Bearer {token}"})]
    token = access_token(CALLER_NAMES[caller])
    headers = {"Authorization": f"Bearer {token}"} if template.startswith("/api/v1/") else {"X-Tapis-Token": token}
    return [{**request, "params": params, "headers": headers}]


def refused_by_child_api(response) -> bool:
    body = response.json()
    return "error" in body or str(body.get("result", "")).startswith("Cannot")


def outcome(expected: Any, response) -> bool:
    child_api = response.request.url.path.startswith("/child/")
    if expected == OK:
        return 200 <= response.status_code < 300 and not (child_api and refused_by_child_api(response))
    if expected == REFUSED:
        return response.status_code == 200 and refused_by_child_api(response)
    if expected == NOT_AUTHORIZED:
        return response.status_code == 401 and response.json() == {"error": "NotAuthorized", "message": "not authorized"}
    return response.status_code == expected


def check(client, route: tuple[str, str], row: Row, alice_ids: list[str]) -> None:
    for caller in CALLERS:
        expected = getattr(row, caller)
        if expected is None:
            continue
        # Callers without a user token never reach a resource: they use the shared ones.
        world = World(**row.fresh) if row.fresh is not None and caller in CALLER_NAMES else SHARED
        for request in requests_of(route, row, caller, world):
            effects = len(DISPATCHER.calls)
            response = client.request(**request)
            where = f"{caller} {request['method']} {request['url']} {' '.join(request.get('headers', {}))}".rstrip()
            assert outcome(expected, response), f"{where}: expected {expected}, got {response.status_code} {response.text[:300]}"
            if expected != OK:
                assert len(DISPATCHER.calls) == effects, f"{where}: refused, yet reached a worker: {DISPATCHER.calls[effects:]}"
            elif caller == "other":
                leaked = [i for i in alice_ids if i in response.text]
                assert not leaked, f"{where}: bob was shown alice's {leaked}"


def test_the_matrix_has_a_row_for_every_operation(client):
    from fastapi.routing import APIRoute

    documented = {(method.upper(), path) for path, operations in client.app.openapi()["paths"].items()
                  for method in operations}
    assert not documented - set(TABLE), f"operations without a row in TABLE: {sorted(documented - set(TABLE))}"
    assert not set(TABLE) - documented, f"rows of TABLE that are no operation: {sorted(set(TABLE) - documented)}"

    def api_routes(routes):
        for route in routes:
            included = getattr(route, "original_router", None)  # FastAPI keeps an included router whole
            if included is not None:
                yield from api_routes(included.routes)
            elif isinstance(route, APIRoute):
                yield route

    # The only routes left out of the document are the aliases of the /child operations (api/families.py)
    # and the 501 answers to the Tapis operations not offered (api/tapis/unbuilt.py), which need no token.
    # The dashboard's pages (/ui) are no API operations: tests/api/test_ui.py checks their session and CSRF.
    hidden = {r.path for r in api_routes(client.app.routes) if not r.include_in_schema
              and not r.endpoint.__name__.startswith("unbuilt_") and not r.path.startswith("/ui")}
    assert hidden == {f"{prefix}/{op}" for prefix in ("/child/child", "/child//child")
                      for op in ("SubmitJob", "KillJob", "JobDetail", "GetJobIP")}


@pytest.mark.parametrize("route", list(TABLE), ids=" ".join)
def test_authorization_matrix(client, matrix, route):
    check(client, route, TABLE[route], matrix)


@pytest.mark.parametrize("rule", BODY_RULES, ids=lambda rule: f"{rule[0]} {rule[1]} {sorted(rule[2].json)}")
def test_rights_given_by_the_body_need_an_admin(client, matrix, rule):
    method, path, row = rule
    check(client, (method, path), row, matrix)


def test_a_patch_cannot_turn_a_system_local(client, matrix):
    """``transport`` is no patchable field; inside ``notes`` (where tapipy puts our additions) it is read only
    when the record has none of its own, which a stored system always has: the patch is accepted, inert."""
    from dlws_flow.store import repositories as repo
    from dlws_flow.store.db import session_scope

    system_id = World().system
    response = client.patch(f"/v3/systems/{system_id}", json={"transport": "LOCAL"},
                            headers={"X-Tapis-Token": access_token(ALICE)})
    assert response.status_code == 400, response.text
    response = client.patch(f"/v3/systems/{system_id}", json={"notes": {"hostKey": HOST_KEY, "transport": "LOCAL"}},
                            headers={"X-Tapis-Token": access_token(ALICE)})
    assert response.status_code == 200, response.text
    with session_scope() as session:
        assert repo.system_spec(repo.get_system(session, system_id)).transport == "SSH"
    shown = client.get(f"/v3/systems/{system_id}", headers={"X-Tapis-Token": access_token(ALICE)}).json()["result"]
    assert shown["transport"] == "SSH"


@pytest.mark.parametrize("rule", GRANTEE_RULES, ids=lambda rule: f"{rule[0]} {rule[1]} {sorted(rule[2].json)}")
def test_what_the_owner_keeps_from_grantees(client, matrix, rule):
    method, path, row = rule
    check(client, (method, path), row, matrix)


class MissingWorld(World):
    """Ids nobody has: what every route answers for a system or an app that does not exist."""

    system = "mx-missing-system"
    app = "mx-missing-app"


def test_a_hidden_system_or_app_answers_exactly_as_a_missing_one(client, matrix):
    """bob, who holds nothing of alice's, gets from every systems and apps route naming her system or app (live
    or deleted) the status and the message a missing id gets, the id aside: nothing tells him it exists."""
    bob = {"X-Tapis-Token": access_token(OTHER)}
    hidden = (SHARED, World(system_deleted=True, app_deleted=True))
    compared = 0
    for (method, template), row in TABLE.items():
        if not template.startswith(("/v3/systems/", "/v3/apps/")) or template.endswith(("healthcheck", "readycheck", "/search")) \
                or template.startswith("/v3/systems/schedulerProfile"):  # profiles: public in the tenant
            continue
        answers = []
        for world in (MissingWorld(), *hidden):
            resource_id = world.system if template.startswith("/v3/systems/") else world.app
            request = {"method": method, "url": template.format_map(world), "headers": bob}
            if row.json is not None:
                request["json"] = fill(row.json, world)
            response = client.request(**request)
            answers.append((response.status_code, response.json()["message"].replace(resource_id, "<id>")))
        assert answers[0][0] == 404, (method, template, answers[0])
        assert answers[1:] == [answers[0]] * len(hidden), (method, template, answers)
        compared += 1
    assert compared > 35


def test_a_taken_id_is_refused_without_naming_its_owner(client, matrix):
    from sqlalchemy import select

    from dlws_flow.store.db import session_scope
    from dlws_flow.store.models import AppRow, SystemRow

    bob = {"X-Tapis-Token": access_token(OTHER)}
    for world in (SHARED, World(system_deleted=True, app_deleted=True)):
        response = client.post("/v3/systems", json=system_def(world.system), headers=bob)
        assert (response.status_code, response.json()["message"]) == (409, f"system {world.system} already exists")
        response = client.post("/v3/apps", json=app_def(world.app, version="2"), headers=bob)
        assert response.status_code == 403 and ALICE not in response.text, response.text
    with session_scope() as session:  # nothing of bob's was written
        assert session.get(SystemRow, world.system).owner == ALICE
        assert set(session.scalars(select(AppRow.owner).where(AppRow.id == world.app))) == {ALICE}
