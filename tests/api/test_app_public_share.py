"""Public sharing of apps (Tapis shareAppPublic) on the real database, no hosts: the owner shares an app
with every user, who may then read it, list it (SHARED_PUBLIC, ALL) and see it in searches, until it is
unshared; nobody else may share it publicly, and systems are never shared publicly (501)."""

from __future__ import annotations

import uuid

import pytest
from fastapi.testclient import TestClient

OWNER, ANYONE = "pub_olga", "pub_otto"


@pytest.fixture(scope="module")
def client():
    from api.app import create_app
    from dlws_flow.services.auth import create_user

    with TestClient(create_app()) as test_client:
        for name in (OWNER, ANYONE):
            create_user(name, f"{name}-password", replace=True)
        yield test_client


def as_user(username: str) -> dict[str, str]:
    from dlws_flow.services.auth import get_user, issue_token

    return {"X-Tapis-Token": issue_token(get_user(username))["access_token"]}


def listed(client, user: str, list_type: str) -> set[str]:
    response = client.get("/v3/apps", params={"listType": list_type, "limit": -1}, headers=as_user(user))
    assert response.status_code == 200, response.text
    return {app["id"] for app in response.json()["result"]}


def test_a_public_app_is_every_users_to_read_until_unshared(client):
    app_id = f"pub-{uuid.uuid4().hex[:8]}"
    owner, anyone = as_user(OWNER), as_user(ANYONE)
    assert client.post("/v3/apps", json={"id": app_id, "version": "1", "containerImage": "/i.sif"},
                       headers=owner).status_code == 201
    assert client.get(f"/v3/apps/{app_id}", headers=anyone).status_code == 404
    assert client.post(f"/v3/apps/share_public/{app_id}", headers=anyone).status_code == 404

    assert client.post(f"/v3/apps/share_public/{app_id}", headers=owner).status_code == 200
    assert client.get(f"/v3/apps/{app_id}", headers=anyone).status_code == 200
    assert app_id in listed(client, ANYONE, "SHARED_PUBLIC") and app_id in listed(client, ANYONE, "ALL")
    assert app_id not in listed(client, ANYONE, "OWNED")
    info = client.get(f"/v3/apps/share/{app_id}", headers=owner).json()["result"]
    assert info["public"] is True and info["userList"] == []
    assert client.post(f"/v3/apps/share_public/{app_id}", headers=anyone).status_code == 403  # sees it, not owner
    assert client.post(f"/v3/apps/{app_id}/disable", headers=anyone).status_code == 403  # READ + EXECUTE only

    assert client.post(f"/v3/apps/unshare_public/{app_id}", headers=owner).status_code == 200
    assert client.get(f"/v3/apps/{app_id}", headers=anyone).status_code == 404
    assert app_id not in listed(client, ANYONE, "ALL")
    assert client.get(f"/v3/apps/share/{app_id}", headers=owner).json()["result"]["public"] is False
    operations = [e["operation"] for e in client.get(f"/v3/apps/{app_id}/history", headers=owner).json()["result"]]
    assert operations[-2:] == ["GRANT_PERMS", "REVOKE_PERMS"]


def test_systems_are_never_shared_publicly(client):
    response = client.post("/v3/systems/share_public/any-system", headers=as_user(OWNER))
    assert response.status_code == 501 and "not offered" in response.json()["message"]
