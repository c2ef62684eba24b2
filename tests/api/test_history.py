"""The history of systems and apps (Tapis getHistory) on the real database, no hosts: every create, change,
enable/disable, lock, delete, owner change, credential and permission change is an entry, oldest first, with
an operation name from the document's OperationTypeEnum; who may not read the resource reads no history."""

from __future__ import annotations

import uuid

import pytest
from fastapi.testclient import TestClient

HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOKDFfyMMM5ORnm92TcBX9Etl7a52d6xv5p+3U6VJtT5"
OWNER, OTHER, NEXT = "hist_olga", "hist_otto", "hist_nina"


@pytest.fixture(scope="module")
def client():
    from api.app import create_app
    from dlws_flow.services.auth import create_user

    with TestClient(create_app()) as test_client:
        for name in (OWNER, OTHER, NEXT):
            create_user(name, f"{name}-password", replace=True)
        yield test_client


def as_user(username: str) -> dict[str, str]:
    from dlws_flow.services.auth import get_user, issue_token

    return {"X-Tapis-Token": issue_token(get_user(username))["access_token"]}


def call(client, method: str, url: str, user: str = OWNER, **kwargs):
    response = client.request(method, url, headers=as_user(user), **kwargs)
    assert response.status_code < 300, response.text
    return response.json()["result"]


def operations(client, url: str, user: str = OWNER) -> list[str]:
    return [entry["operation"] for entry in call(client, "GET", url, user)]


def test_a_systems_history_has_every_change(client):
    system_id = f"hist-{uuid.uuid4().hex[:8]}"
    call(client, "POST", "/v3/systems", json={"id": system_id, "systemType": "LINUX", "host": "login.example.org",
                                              "defaultAuthnMethod": "PASSWORD", "effectiveUserId": "hpc",
                                              "rootDir": "/", "canExec": True, "jobWorkingDir": "work",
                                              "hostKey": HOST_KEY})
    call(client, "PATCH", f"/v3/systems/{system_id}", json={"description": "patched"})
    call(client, "POST", f"/v3/systems/{system_id}/disable")
    call(client, "POST", f"/v3/systems/{system_id}/enable")
    call(client, "POST", f"/v3/systems/credential/{system_id}/user/{OWNER}", json={"password": "pw"})
    call(client, "POST", f"/v3/systems/perms/{system_id}/user/{OTHER}", json={"permissions": ["READ"]})
    call(client, "POST", f"/v3/systems/perms/{system_id}/user/{OTHER}/revoke", json={"permissions": ["READ"]})
    call(client, "DELETE", f"/v3/systems/credential/{system_id}/user/{OWNER}")
    call(client, "POST", f"/v3/systems/{system_id}/changeOwner/{NEXT}")

    history = call(client, "GET", f"/v3/systems/{system_id}/history", NEXT)
    assert [e["operation"] for e in history] == ["CREATE", "MODIFY", "DISABLE", "ENABLE", "SET_CRED", "MODIFY",
                                                 "REVOKE_PERMS", "REMOVE_CRED", "CHANGE_OWNER"]
    assert history[5]["description"] == f"GRANT_PERMS: granted READ to {OTHER}"  # no such name for systems
    assert "description" in history[1] and "description" in history[1]["description"]  # the patched field
    assert {e["jwtUser"] for e in history} == {OWNER} and all(e["created"] for e in history)
    response = client.get(f"/v3/systems/{system_id}/history", headers=as_user(OTHER))
    assert response.status_code == 404  # no READ any more: the system does not exist for them


def test_an_apps_history_has_every_version_and_permission_change(client):
    app_id = f"hist-app-{uuid.uuid4().hex[:8]}"
    base = {"id": app_id, "containerImage": "/img.sif"}
    call(client, "POST", "/v3/apps", json={**base, "version": "1"})
    call(client, "POST", "/v3/apps", json={**base, "version": "2"})
    call(client, "PATCH", f"/v3/apps/{app_id}/1", json={"description": "patched"})
    call(client, "POST", f"/v3/apps/{app_id}/1/lock")
    call(client, "POST", f"/v3/apps/{app_id}/disable")
    call(client, "POST", f"/v3/apps/share/{app_id}", json={"users": [OTHER]})

    history = call(client, "GET", f"/v3/apps/{app_id}/history", OTHER)  # shared: READ
    assert [(e["operation"], e["appVersion"]) for e in history] == [
        ("CREATE", "1"), ("CREATE", "2"), ("MODIFY", "1"), ("LOCK", "1"), ("DISABLE", ""), ("GRANT_PERMS", "")]
    call(client, "POST", f"/v3/apps/unshare/{app_id}", json={"users": [OTHER]})
    assert operations(client, f"/v3/apps/{app_id}/history")[-1] == "REVOKE_PERMS"
    response = client.get(f"/v3/apps/{app_id}/history", headers=as_user(OTHER))
    assert response.status_code == 404


def test_a_hidden_apps_history_is_not_found(client):
    app_id = f"hist-app-{uuid.uuid4().hex[:8]}"
    call(client, "POST", "/v3/apps", json={"id": app_id, "version": "1", "containerImage": "/img.sif"})
    response = client.get(f"/v3/apps/{app_id}/history", headers=as_user(OTHER))
    assert response.status_code == 404 and "not found" in response.json()["message"]
