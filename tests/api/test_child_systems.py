"""Tapis child systems on the real database, no hosts: a reader of a system that allows children makes one
with their own id, login and rootDir; it follows the parent's changes but for the fields that decide where and
as whom its login connects or run as shell; it inherits no credential; unlinking ends the following."""

from __future__ import annotations

import uuid

import pytest
from fastapi.testclient import TestClient

HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOKDFfyMMM5ORnm92TcBX9Etl7a52d6xv5p+3U6VJtT5"
OWNER, READER, STRANGER = "child_olga", "child_rita", "child_sam"


@pytest.fixture(scope="module")
def client():
    from api.app import create_app
    from dlws_flow.services.auth import create_user

    with TestClient(create_app()) as test_client:
        for name in (OWNER, READER, STRANGER):
            create_user(name, f"{name}-password", replace=True)
        yield test_client


def as_user(username: str) -> dict[str, str]:
    from dlws_flow.services.auth import get_user, issue_token

    return {"X-Tapis-Token": issue_token(get_user(username))["access_token"]}


def call(client, method: str, url: str, user: str = OWNER, status: int = 200, **kwargs):
    response = client.request(method, url, headers=as_user(user), **kwargs)
    assert response.status_code == status, response.text
    return response.json()["result"]


def parent(client, **fields) -> str:
    system_id = f"par-{uuid.uuid4().hex[:8]}"
    call(client, "POST", "/v3/systems", status=201, json={
        "id": system_id, "systemType": "LINUX", "host": "login.example.org", "defaultAuthnMethod": "PASSWORD",
        "effectiveUserId": "hpc", "rootDir": "/", "canExec": True, "jobWorkingDir": "work", "hostKey": HOST_KEY,
        "description": "the parent", "authnCredential": {"password": "olga-pw"}, "allowChildren": True, **fields})
    call(client, "POST", f"/v3/systems/share/{system_id}", json={"users": [READER]})
    return system_id


def test_a_reader_makes_a_child_that_follows_its_parent_but_for_its_own_fields(client):
    from dlws_flow.services import systems

    parent_id = parent(client)
    created = call(client, "POST", f"/v3/systems/{parent_id}/createChildSystem", READER, 201,
                   json={"effectiveUserId": "rita", "rootDir": "/home/rita"})
    child_id = f"{parent_id}-rita"
    assert created["url"].endswith(f"/v3/systems/{child_id}")
    child = call(client, "GET", f"/v3/systems/{child_id}", READER)
    assert (child["parentId"], child["owner"], child["effectiveUserId"], child["rootDir"]) == (
        parent_id, READER, "rita", "/home/rita")
    assert (child["description"], child["jobWorkingDir"], child["hostKey"]) == ("the parent", "work", HOST_KEY)
    from dlws_flow.services.auth import get_user
    assert not systems.has_credential(get_user(READER), child_id, READER)  # no login inherited
    assert not systems.has_credential(get_user(READER), child_id, OWNER)

    call(client, "PATCH", f"/v3/systems/{parent_id}", json={"description": "changed", "host": "evil.example.org"})
    child = call(client, "GET", f"/v3/systems/{child_id}", READER)
    assert (child["description"], child["host"]) == ("changed", "login.example.org")
    history = call(client, "GET", f"/v3/systems/{child_id}/history", READER)
    assert [e["operation"] for e in history] == ["CREATE", "MODIFY"]

    assert call(client, "POST", f"/v3/systems/{child_id}/unlinkFromParent", READER) == {"changes": 1}
    call(client, "PATCH", f"/v3/systems/{parent_id}", json={"description": "again"})
    child = call(client, "GET", f"/v3/systems/{child_id}", READER)
    assert child["description"] == "changed" and "parentId" not in child


def test_who_may_make_children_and_what_a_request_may_hold(client):
    closed = parent(client, allowChildren=False)
    call(client, "POST", f"/v3/systems/{closed}/createChildSystem", READER, 403,
         json={"effectiveUserId": "rita", "rootDir": "/home/rita"})
    parent_id = parent(client)
    call(client, "POST", f"/v3/systems/{parent_id}/createChildSystem", STRANGER, 404,
         json={"effectiveUserId": "sam", "rootDir": "/home/sam"})
    call(client, "POST", f"/v3/systems/{parent_id}/createChildSystem", READER, 400,
         json={"effectiveUserId": "rita", "rootDir": "/home/rita", "host": "elsewhere.example.org"})
    call(client, "POST", f"/v3/systems/{parent_id}/createChildSystem", READER, 400, json={"effectiveUserId": "rita"})
    call(client, "POST", f"/v3/systems/{parent_id}/createChildSystem", READER, 201,
         json={"id": f"{parent_id}-mine", "effectiveUserId": "rita", "rootDir": "/home/rita"})
    call(client, "POST", f"/v3/systems/{parent_id}/createChildSystem", READER, 409,
         json={"id": f"{parent_id}-mine", "effectiveUserId": "rita", "rootDir": "/home/rita"})


def test_the_parents_owner_unlinks_children(client):
    parent_id = parent(client)
    for name in ("a", "b"):
        call(client, "POST", f"/v3/systems/{parent_id}/createChildSystem", READER, 201,
             json={"id": f"{parent_id}-{name}", "effectiveUserId": name, "rootDir": f"/home/{name}"})
    call(client, "POST", f"/v3/systems/{parent_id}/unlinkChildren", READER, 403, json={"childSystemIds": [f"{parent_id}-a"]})
    call(client, "POST", f"/v3/systems/{parent_id}/unlinkChildren", status=400, json={})
    assert call(client, "POST", f"/v3/systems/{parent_id}/unlinkChildren",
                json={"childSystemIds": [f"{parent_id}-a"]}) == {"changes": 1}
    assert call(client, "POST", f"/v3/systems/{parent_id}/unlinkChildren", params={"all": "true"}) == {"changes": 1}
