"""Every route refuses a missing, expired or forged token (401), and another user's private system, app,
job and file paths with 404 (or 403 once they can see the resource). No hosts needed: the database only."""

from __future__ import annotations

import re
from datetime import timedelta

import jwt
import pytest
from fastapi.testclient import TestClient

#: Routes anyone may call: health, token issuing, and the tenant/site lookups tapipy makes before it has a token.
PUBLIC = {"/healthz", "/v3/oauth2/tokens", "/v3/tenants", "/v3/tenants/{tenant_id}", "/v3/sites", "/v3/sites/{site_id}",
          "/v3/jobs/healthcheck", "/v3/systems/healthcheck", "/v3/apps/healthcheck", "/v3/files/healthcheck",
          "/metrics", "/api/v1/token"}


@pytest.fixture(scope="module")
def client():
    from api.app import create_app

    with TestClient(create_app()) as test_client:
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
    from dlws_flow.services.auth import create_user, issue_token, set_password, Principal

    create_user("carol_m", "carol-password", replace=True)
    token = issue_token(Principal("carol_m", "dlws"))["access_token"]
    assert client.get("/v3/oauth2/userinfo", headers={"X-Tapis-Token": token}).status_code == 200
    import time

    time.sleep(1.1)  # token iat has one-second resolution; the change must be strictly later
    set_password("carol_m", "carol-new-password")
    assert client.get("/v3/oauth2/userinfo", headers={"X-Tapis-Token": token}).status_code == 401


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
