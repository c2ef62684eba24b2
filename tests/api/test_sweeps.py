"""Parameter sweeps through the API on the real database (the dispatcher writes down what it is asked):
each element is a normal job with its own UUID, history and values; the sweep is listed, read, cancelled
and paused as one, only by its owner; a refused first element leaves nothing behind."""

from __future__ import annotations

import json
import uuid

import pytest
from fastapi.testclient import TestClient

from tests.api.test_families import HOST_KEY, RecordingDispatcher

OWNER, OTHER = "sweep_olga", "sweep_otto"


@pytest.fixture(scope="module")
def dispatcher() -> RecordingDispatcher:
    return RecordingDispatcher()


@pytest.fixture(scope="module")
def client(dispatcher):
    from api.app import create_app
    from api.dependencies import get_dispatcher
    from dlws_flow.services.auth import create_user

    app = create_app()
    app.dependency_overrides[get_dispatcher] = lambda: dispatcher
    with TestClient(app) as test_client:
        for name in (OWNER, OTHER):
            create_user(name, f"{name}-password", replace=True)
        yield test_client


def as_user(username: str) -> dict[str, str]:
    from dlws_flow.services.auth import get_user, issue_token

    return {"X-Tapis-Token": issue_token(get_user(username))["access_token"]}


@pytest.fixture(scope="module")
def app_id(client) -> str:
    system_id, app_id = f"sw-{uuid.uuid4().hex[:6]}", f"sw-app-{uuid.uuid4().hex[:6]}"
    assert client.post("/v3/systems", headers=as_user(OWNER), json={
        "id": system_id, "systemType": "LINUX", "host": "127.0.0.1", "effectiveUserId": "hpc",
        "defaultAuthnMethod": "PKI_KEYS", "rootDir": "/home/hpc", "jobWorkingDir": "/work",
        "notes": {"hostKey": HOST_KEY}}).status_code == 201
    assert client.post("/v3/apps", headers=as_user(OWNER), json={
        "id": app_id, "version": "1", "containerImage": "/img.sif",
        "jobAttributes": {"execSystemId": system_id}}).status_code == 201
    return app_id


def sweep_request(app_id: str, **parameters) -> dict:
    return {"name": "fit", "job": {"appId": app_id, "appVersion": "1"},
            "parameters": parameters or {"N": [1, 2], "SEED": {"start": 0, "stop": 3}}}


def test_each_element_is_a_job_of_its_own(client, dispatcher, app_id):
    response = client.post("/v3/jobs/sweep", json=sweep_request(app_id), headers=as_user(OWNER))
    assert response.status_code == 201, response.text
    sweep = response.json()["result"]
    assert sweep["size"] == 6 and [j["index"] for j in sweep["jobs"]] == list(range(6))
    uuids = [j["uuid"] for j in sweep["jobs"]]
    assert len(set(uuids)) == 6 and set(uuids) <= set(dispatcher.started)
    assert sweep["statusCounts"] == {"PENDING": 6}
    for index, job_uuid in enumerate(uuids):
        job = client.get(f"/v3/jobs/{job_uuid}", headers=as_user(OWNER)).json()["result"]
        env = {e["key"]: e["value"] for e in json.loads(job["parameterSet"])["envVariables"]}
        assert job["name"] == f"fit-{index}"
        assert (env["N"], env["SEED"], env["DLWS_SWEEP_INDEX"], env["DLWS_SWEEP_ID"]) == (
            str(1 + index // 3), str(index % 3), str(index), sweep["id"])
        history = client.get(f"/v3/jobs/{job_uuid}/history", headers=as_user(OWNER)).json()["result"]
        assert history, job_uuid
    listed = client.get("/v3/jobs/sweeps", headers=as_user(OWNER)).json()["result"]
    assert sweep["id"] in [s["id"] for s in listed]
    assert client.get(f"/v3/jobs/sweeps/{sweep['id']}", headers=as_user(OTHER)).status_code == 404
    assert sweep["id"] not in [s["id"] for s in client.get("/v3/jobs/sweeps", headers=as_user(OTHER)).json()["result"]]
    assert client.get(f"/v3/jobs/{uuids[0]}", headers=as_user(OTHER)).status_code == 404


def test_a_sweep_is_cancelled_as_one(client, app_id):
    sweep = client.post("/v3/jobs/sweep", json=sweep_request(app_id, K=[1, 2, 3]), headers=as_user(OWNER)).json()["result"]
    assert client.post(f"/v3/jobs/sweeps/{sweep['id']}/cancel", headers=as_user(OTHER)).status_code == 404
    response = client.post(f"/v3/jobs/sweeps/{sweep['id']}/cancel", headers=as_user(OWNER))
    assert response.status_code == 200 and response.json()["result"]["changed"] == 3, response.text
    counts = client.get(f"/v3/jobs/sweeps/{sweep['id']}", headers=as_user(OWNER)).json()["result"]["statusCounts"]
    assert counts == {"CANCELLED": 3}, counts
    again = client.post(f"/v3/jobs/sweeps/{sweep['id']}/cancel", headers=as_user(OWNER)).json()["result"]
    assert (again["changed"], again["unchanged"]) == (0, 3)


def test_a_refused_first_element_leaves_nothing(client, app_id):
    before = client.get("/v3/jobs/sweeps", headers=as_user(OWNER)).json()["result"]
    response = client.post("/v3/jobs/sweep", json={**sweep_request(app_id), "job": {"appId": "no-such-app", "appVersion": "1"}},
                           headers=as_user(OWNER))
    assert response.status_code == 404, response.text
    assert client.get("/v3/jobs/sweeps", headers=as_user(OWNER)).json()["result"] == before
    response = client.post("/v3/jobs/sweep", json={**sweep_request(app_id), "colour": "red"}, headers=as_user(OWNER))
    assert response.status_code == 400 and "colour" in response.json()["message"]


def test_how_a_sweep_launches_is_acted_on_or_refused(client, dispatcher, app_id):
    sweep = client.post("/v3/jobs/sweep", json=sweep_request(app_id, K=[1, 2]), headers=as_user(OWNER)).json()["result"]
    assert (sweep["launch"], sweep["arrays"]) == ("jobs", [])  # a VM: one job each
    for body, words in (({"launch": "array"}, "job arrays are a batch scheduler's"),
                        ({"launch": "jobs", "maxConcurrent": 2}, "throttles a job array"),
                        ({"maxConcurrent": 0}, "positive integer"), ({"launch": "fast"}, "one of auto, array, jobs")):
        response = client.post("/v3/jobs/sweep", json={**sweep_request(app_id, K=[1, 2]), **body}, headers=as_user(OWNER))
        assert response.status_code == 400 and words in response.json()["message"], (body, response.text)
