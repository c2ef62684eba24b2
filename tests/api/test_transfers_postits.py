"""Transfer tasks and PostIts through the API on the real database, without hosts: who may create, see,
change and cancel them, what is refused and how, and the PostIt use counter under concurrent redeems.

Nothing here reaches a host: transfers are recorded and their messages caught (``Sends``), and the only
redeems that get as far as a download use ``RecordingGateway``, which answers like a worker. The copies and
real redeems run against the SSH test host in ``tests/integration/test_transfers.py`` and ``test_postits.py``.
"""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from dlws_flow.errors import TransportError

HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOKDFfyMMM5ORnm92TcBX9Etl7a52d6xv5p+3U6VJtT5"
OWNER, OTHER, READER, ADMIN = "tp_olga", "tp_otto", "tp_rita", "tp_adam"


class Sends(list):
    """The transfer sender: writes down each (parent id, token) instead of enqueueing it."""

    def __call__(self, parent_id: int, token: str) -> None:
        self.append((parent_id, token))


class RecordingGateway:
    """The file gateway: answers a download like a worker would, or fails like an unreachable host."""

    def __init__(self) -> None:
        self.calls: list[dict] = []
        self.fail = False

    def run(self, operation: str, **kwargs):
        self.calls.append({"operation": operation, **kwargs})
        if self.fail:
            raise TransportError("host unreachable")
        return {"filename": "a.txt", "content": b"hello", "media_type": "application/octet-stream"}


SENDS, GATEWAY = Sends(), RecordingGateway()


@pytest.fixture(scope="module")
def client():
    from api.app import create_app
    from api.dependencies import get_file_gateway
    from api.tapis.transfers import get_transfer_sender
    from dlws_flow.services.auth import create_user

    app = create_app()
    app.dependency_overrides[get_transfer_sender] = lambda: SENDS
    app.dependency_overrides[get_file_gateway] = lambda: GATEWAY
    with TestClient(app) as test_client:
        for name in (OWNER, OTHER, READER, ADMIN):
            create_user(name, f"{name}-password", admin=name == ADMIN, replace=True)
        yield test_client


def as_user(username: str) -> dict[str, str]:
    from dlws_flow.services.auth import get_user, issue_token

    return {"X-Tapis-Token": issue_token(get_user(username))["access_token"]}


@pytest.fixture(scope="module")
def system_id(client) -> str:
    """OWNER's system; READER holds READ on ``shared/`` only."""
    system = f"tp-{uuid.uuid4().hex[:8]}"
    record = {"id": system, "systemType": "LINUX", "host": "127.0.0.1", "effectiveUserId": "hpc", "canExec": True,
              "rootDir": "/home/hpc", "jobWorkingDir": "/work", "hostKey": HOST_KEY,
              "authnCredential": {"password": "pw"}}
    assert client.post("/v3/systems", json=record, headers=as_user(OWNER)).status_code == 201
    assert client.post(f"/v3/files/permissions/{system}/shared", json={"username": READER, "permission": "READ"},
                       headers=as_user(OWNER)).status_code == 200
    return system


def transfer(client, user: str, source: str, destination: str, **extra):
    return client.post("/v3/files/transfers", headers=as_user(user),
                       json={"tag": "t", "elements": [{"sourceURI": source, "destinationURI": destination, **extra}]})


# --- transfers ---------------------------------------------------------------------------------------------


def test_transfer_permissions_are_those_of_the_files_api(client, system_id):
    sys = f"tapis://{system_id}"
    # no grant at all: the system does not exist for OTHER
    assert transfer(client, OTHER, f"{sys}/private/a", f"{sys}/shared/b").status_code == 404
    # READ on shared/ but not on private/: refused by name
    response = transfer(client, READER, f"{sys}/private/a", f"{sys}/shared/b")
    assert response.status_code == 403 and "READ" in response.json()["message"]
    # READ is not MODIFY: the destination is refused
    response = transfer(client, READER, f"{sys}/shared/a", f"{sys}/shared/b")
    assert response.status_code == 403 and "MODIFY" in response.json()["message"]
    # an http(s) source needs no permission, but its destination does
    assert transfer(client, READER, "https://example.org/x", f"{sys}/shared/x").status_code == 403
    assert SENDS == []


def test_refused_elements_name_what_is_wrong(client, system_id):
    sys = f"tapis://{system_id}"
    cases = [
        ({"sourceURI": f"{sys}/a", "destinationURI": f"{sys}/b", "transferType": "SERVICE_MOVE_FILE_OR_DIRECTORY"},
         "transferType"),
        ({"sourceURI": f"{sys}/a", "destinationURI": f"{sys}/b", "srcSharedCtx": "bob"}, "srcSharedCtx"),
        ({"sourceURI": f"{sys}/a", "destinationURI": f"{sys}/b", "surprise": 1}, "surprise"),
        ({"sourceURI": "file:///etc/passwd", "destinationURI": f"{sys}/b"}, "sourceURI"),
        ({"sourceURI": f"{sys}/a", "destinationURI": "https://example.org/b"}, "destinationURI"),
        ({"sourceURI": f"{sys}/../etc", "destinationURI": f"{sys}/b"}, ".."),
        ({"sourceURI": f"{sys}/a", "destinationURI": f"{sys}/a/inside"}, "inside the source"),
        ({"sourceURI": "http://169.254.169.254/latest/meta-data", "destinationURI": f"{sys}/b"}, "address not allowed"),
        ({"sourceURI": "http://10.1.2.3/data", "destinationURI": f"{sys}/b"}, "address not allowed"),
    ]
    for element, named in cases:
        response = client.post("/v3/files/transfers", json={"elements": [element]}, headers=as_user(OWNER))
        assert response.status_code == 400 and named in response.json()["message"], (element, response.text)
    response = client.post("/v3/files/transfers", json={"elements": []}, headers=as_user(OWNER))
    assert response.status_code == 400
    assert SENDS == []


def test_a_transfer_is_its_creators_only(client, system_id):
    sys = f"tapis://{system_id}"
    response = transfer(client, OWNER, f"{sys}/data", f"{sys}/copy")
    assert response.status_code == 200, response.text
    task = response.json()["result"]
    assert (task["status"], task["username"], task["tag"], task["totalTransfers"]) == ("ACCEPTED", OWNER, "t", 0)
    assert [(p["sourceURI"], p["status"]) for p in task["parentTasks"]] == [(f"{sys}/data", "ACCEPTED")]
    assert len(SENDS) == 1
    task_id = task["uuid"]
    for method, path in (("GET", task_id), ("GET", f"{task_id}/details"), ("DELETE", task_id)):
        assert client.request(method, f"/v3/files/transfers/{path}", headers=as_user(OTHER)).status_code == 404
    assert task_id not in [t["uuid"] for t in client.get("/v3/files/transfers", headers=as_user(OTHER)).json()["result"]]
    assert task_id in [t["uuid"] for t in client.get("/v3/files/transfers", headers=as_user(OWNER)).json()["result"]]
    assert client.get(f"/v3/files/transfers/{task_id}", headers=as_user(ADMIN)).status_code == 200
    response = client.get(f"/v3/files/transfers/{task_id}", params={"impersonationId": OTHER}, headers=as_user(OWNER))
    assert response.status_code == 403

    top = client.get(f"/v3/files/transfers/{task_id}", headers=as_user(OWNER)).json()["result"]
    assert "parentTasks" not in top and "totalTransfers" not in top
    summary = client.get(f"/v3/files/transfers/{task_id}", params={"includeSummary": True},
                         headers=as_user(OWNER)).json()["result"]
    assert summary["estimatedTotalBytes"] == 0 and summary["completeTransfers"] == 0
    details = client.get(f"/v3/files/transfers/{task_id}/details", headers=as_user(OWNER)).json()["result"]
    assert details["parentTasks"][0]["children"] == []

    assert client.delete(f"/v3/files/transfers/{task_id}", headers=as_user(OWNER)).status_code == 200
    details = client.get(f"/v3/files/transfers/{task_id}/details", headers=as_user(OWNER)).json()["result"]
    assert details["status"] == "CANCELLED" and details["parentTasks"][0]["status"] == "CANCELLED"
    assert client.delete(f"/v3/files/transfers/{task_id}", headers=as_user(OWNER)).status_code == 409
    # the message sent at creation finds nothing to run: a cancelled element is never claimed
    from dlws_flow.engine.transfers import run_parent

    assert run_parent(*SENDS.pop()) is False


# --- PostIts -----------------------------------------------------------------------------------------------


def create_postit(client, system_id: str, path: str, user: str = OWNER, **body):
    return client.post(f"/v3/files/postits/{system_id}/{path}", json=body, headers=as_user(user))


def test_postit_defaults_and_who_may_see_it(client, system_id):
    response = create_postit(client, system_id, "shared/a.txt", READER)
    assert response.status_code == 200, response.text
    postit = response.json()["result"]
    assert uuid.UUID(postit["postitId"]).version == 4
    assert postit["redeemUrl"] == f"http://testserver/v3/files/postits/redeem/{postit['postitId']}"
    assert (postit["allowedUses"], postit["timesUsed"], postit["owner"], postit["path"]) == (1, 0, READER, "shared/a.txt")
    expires = datetime.fromisoformat(postit["expiration"])
    assert timedelta(days=29, hours=23) < expires - datetime.now(UTC) <= timedelta(days=30)

    postit_id = postit["postitId"]
    for method, body in (("GET", None), ("PATCH", {"allowedUses": 5}), ("DELETE", None)):
        response = client.request(method, f"/v3/files/postits/{postit_id}", json=body, headers=as_user(OTHER))
        assert response.status_code == 404, (method, response.text)
    assert postit_id not in [p["postitId"] for p in client.get("/v3/files/postits", params={"listType": "ALL"},
                                                                 headers=as_user(OTHER)).json()["result"]]
    mine = client.get("/v3/files/postits", headers=as_user(READER)).json()["result"]
    assert [p["postitId"] for p in mine] == [postit_id] and set(mine[0]) == {
        "postitId", "systemId", "owner", "path", "allowedUses", "timesUsed", "redeemUrl", "expiration"}
    everyone = client.get("/v3/files/postits", params={"listType": "ALL", "select": "id,owner"},
                          headers=as_user(ADMIN)).json()["result"]
    assert {"postitId": postit_id, "owner": READER} in everyone
    assert client.get(f"/v3/files/postits/{postit_id}", headers=as_user(ADMIN)).status_code == 200

    updated = client.patch(f"/v3/files/postits/{postit_id}", json={"unlimited": True}, headers=as_user(READER))
    assert updated.status_code == 200 and updated.json()["result"]["allowedUses"] == -1
    assert updated.json()["result"]["expiration"].startswith("9999-")
    response = client.delete(f"/v3/files/postits/{postit_id}", headers=as_user(READER))
    assert response.status_code == 200 and response.json()["result"] == {"changes": 1}
    assert client.get(f"/v3/files/postits/{postit_id}", headers=as_user(READER)).status_code == 404


def test_creating_a_postit_needs_read_and_valid_numbers(client, system_id):
    assert create_postit(client, system_id, "private/a.txt", OTHER).status_code == 404
    assert create_postit(client, system_id, "private/a.txt", READER).status_code == 403
    for body, named in (({"allowedUses": 0}, "allowedUses"), ({"allowedUses": -2}, "allowedUses"),
                        ({"validSeconds": 0}, "validSeconds"), ({"validSeconds": -5}, "validSeconds"),
                        ({"validSeconds": 2**31}, "validSeconds"), ({"uses": 3}, "uses")):
        response = create_postit(client, system_id, "shared/a.txt", READER, **body)
        assert response.status_code == 400 and named in response.json()["message"], (body, response.text)
    postit_id = create_postit(client, system_id, "shared/a.txt", READER).json()["result"]["postitId"]
    for body in ({}, {"unlimited": True, "allowedUses": 3}, {"unlimited": False}, {"allowedUses": 0}, {"extra": 1}):
        response = client.patch(f"/v3/files/postits/{postit_id}", json=body, headers=as_user(READER))
        assert response.status_code == 400, (body, response.text)


def test_redeem_needs_no_token_counts_uses_and_refuses_used_up_and_expired(client, system_id):
    GATEWAY.calls.clear()
    postit_id = create_postit(client, system_id, "shared/a.txt", READER, allowedUses=2).json()["result"]["postitId"]
    url = f"/v3/files/postits/redeem/{postit_id}"

    GATEWAY.fail = True  # a download that fails gives its use back
    assert client.get(url).status_code == 502
    GATEWAY.fail = False
    for _ in range(2):
        response = client.get(url, params={"download": True})
        assert response.status_code == 200 and response.content == b"hello"
        assert response.headers["content-disposition"].startswith("attachment;")
    assert {(c["username"], c["path"]) for c in GATEWAY.calls} == {(READER, "shared/a.txt")}  # read as its creator
    used_up = client.get(url)
    assert used_up.status_code == 403 and used_up.json()["status"] == "error"
    assert "redeemed the 2 times it allowed" in used_up.json()["message"]
    assert client.get(f"/v3/files/postits/{postit_id}", headers=as_user(READER)).json()["result"]["timesUsed"] == 2

    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    assert client.patch(f"/v3/files/postits/{postit_id}", json={"expiration": past, "allowedUses": 10},
                        headers=as_user(READER)).status_code == 200
    expired = client.get(url)
    assert expired.status_code == 403 and "expired" in expired.json()["message"]
    assert client.get(f"/v3/files/postits/redeem/{uuid.uuid4()}").status_code == 404

    # the creator losing READ ends the PostIt at its next redeem
    other_id = create_postit(client, system_id, "shared/a.txt", READER).json()["result"]["postitId"]
    assert client.delete(f"/v3/files/permissions/{system_id}/shared", params={"username": READER},
                         headers=as_user(OWNER)).status_code == 200
    try:
        assert client.get(f"/v3/files/postits/redeem/{other_id}").status_code in (403, 404)
    finally:
        assert client.post(f"/v3/files/permissions/{system_id}/shared", json={"username": READER, "permission": "READ"},
                           headers=as_user(OWNER)).status_code == 200


def test_concurrent_redeems_take_exactly_the_uses_there_are(client, system_id):
    from dlws_flow.store import repositories as repo
    from dlws_flow.store.db import session_scope
    from dlws_flow.store.models import utcnow

    postit_id = create_postit(client, system_id, "shared/a.txt", READER, allowedUses=3).json()["result"]["postitId"]
    start, wins = threading.Barrier(12), []

    def redeem() -> None:
        start.wait()
        with session_scope() as session:
            if repo.take_postit_use(session, postit_id, utcnow()):
                wins.append(1)

    threads = [threading.Thread(target=redeem) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(wins) == 3
