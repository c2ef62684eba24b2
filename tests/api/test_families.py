"""DLWS job families without a host: tokens per root job, inherited by children, refused across families,
and cascading kills. The database and the API are real (TestClient); the dispatcher records instead of
enqueuing, so no job leaves PENDING unless a test moves it."""

from __future__ import annotations

import uuid

import pytest
from fastapi.testclient import TestClient

HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOKDFfyMMM5ORnm92TcBX9Etl7a52d6xv5p+3U6VJtT5"


class RecordingDispatcher:
    """The ``Dispatcher`` protocol, writing down what it was asked to do."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self.cancelled: list[str] = []

    def start(self, job_uuid: str, queue: str | None = None) -> None:
        self.started.append(job_uuid)

    def cancel(self, job_uuid: str) -> None:
        self.cancelled.append(job_uuid)

    def pause(self, job_uuid: str) -> None: ...

    def resume_paused(self, job_uuid: str) -> None: ...

    def start_sweep(self, sweep_id: str, queue: str | None = None) -> None:
        self.started.append(sweep_id)

    def cancel_sweep(self, sweep_id: str) -> None:
        self.cancelled.append(sweep_id)


@pytest.fixture(scope="module")
def dispatcher() -> RecordingDispatcher:
    return RecordingDispatcher()


@pytest.fixture(scope="module")
def client(dispatcher):
    from api.app import create_app
    from api.dependencies import get_dispatcher

    app = create_app()
    app.dependency_overrides[get_dispatcher] = lambda: dispatcher
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def family_app(client):
    from dlws_flow.services import apps, systems
    from dlws_flow.services.auth import create_user

    user = create_user("fam_owner", "fam-owner-password", replace=True)
    suffix = uuid.uuid4().hex[:6]
    systems.create(user, {"id": f"fam-vm-{suffix}", "systemType": "LINUX", "host": "127.0.0.1", "effectiveUserId": "hpc",
                          "defaultAuthnMethod": "PKI_KEYS", "canExec": True, "rootDir": "/home/hpc", "jobWorkingDir": "/work",
                          "notes": {"hostKey": HOST_KEY}})
    apps.create(user, {"id": f"fam-app-{suffix}", "version": "1", "runtime": "SINGULARITY", "containerImage": "/img.sif",
                       "jobAttributes": {"execSystemId": f"fam-vm-{suffix}", "maxMinutes": 7,
                                         "parameterSet": {"appArgs": [{"name": "app-level", "arg": "--verbose"}]}}})
    return user, f"fam-app-{suffix}"


def submit_root(family_app, dispatcher) -> str:
    from dlws_flow.services import jobs

    user, app_id = family_app
    return jobs.submit({"name": "root", "appId": app_id, "appVersion": "1"}, dispatcher, principal=user)["uuid"]


def env_of(job_uuid: str) -> dict[str, str]:
    from dlws_flow.services import families
    from dlws_flow.store import repositories as repo
    from dlws_flow.store.db import session_scope

    with session_scope() as session:
        return families.environment(session, repo.get_job(session, job_uuid))


def child_of(client, token: str, path: str = "/child/SubmitJob", **params) -> str:
    settings = {"resourcegpu": 0, "jobName": "child-job", "image": "tensorflow/tensorflow:latest", "cmd": "echo hi && sleep 1",
                "jobType": "training", "familyToken": token, **params}
    body = client.get(path, params=settings).json()
    assert "jobId" in body, body
    return body["jobId"]


def test_every_root_job_gets_its_own_secret_token(family_app, dispatcher, monkeypatch):
    from dlws_flow.settings import reset_settings_cache

    monkeypatch.setenv("DLWS_JOB_API_URL", "http://10.0.0.5:8000/")
    reset_settings_cache()
    try:
        first, second = env_of(submit_root(family_app, dispatcher)), env_of(submit_root(family_app, dispatcher))
    finally:
        monkeypatch.undo()
        reset_settings_cache()
    assert first["DLWS_REST_API"] == "http://10.0.0.5:8000/child/"
    assert len(first["FAMILY_TOKEN"]) >= 40 and first["FAMILY_TOKEN"] != second["FAMILY_TOKEN"]
    assert env_of(submit_root(family_app, dispatcher))["DLWS_REST_API"].endswith("/child/")


def test_a_child_inherits_user_token_and_exec_system(client, family_app, dispatcher):
    from dlws_flow.services import jobs

    root = submit_root(family_app, dispatcher)
    token = env_of(root)["FAMILY_TOKEN"]
    # Both ways the DLWS examples join DLWS_REST_API with the operation name.
    child = child_of(client, token, path="/child//child/SubmitJob")
    assert child in dispatcher.started and env_of(child)["FAMILY_TOKEN"] == token
    job, parent = jobs.get(child), jobs.get(root)
    assert job["owner"] == "fam_owner" and job["parentJobUuid"] == root and job["name"] == "child-job"
    assert job["execSystemId"] == parent["execSystemId"] and job["maxMinutes"] == 7
    # Another image: a derived app in that image, without the parent app's own arguments.
    assert job["appId"].startswith(f"{family_app[1]}-dlws-") and job["appId"] != parent["appId"]
    assert [a["arg"] for a in job["parameterSet"]["appArgs"]] == ["sh -c 'echo hi && sleep 1'"]
    from dlws_flow.services import apps

    assert apps.get(family_app[0], job["appId"])["containerImage"] == "docker://tensorflow/tensorflow:latest"

    detail = client.get("/child/JobDetail", params={"familyToken": token, "jobId": child}).json()
    assert detail["jobId"] == child and detail["userName"] == "fam_owner" and detail["jobStatus"] == "queued"
    assert detail["parentJobId"] == root and detail["rootJobId"] == root
    assert detail["jobParams"]["image"] == "tensorflow/tensorflow:latest" and detail["jobParams"]["resourcegpu"] == "0"

    grandchild = child_of(client, token, path="/child/child/SubmitJob", parentJobId=child, image="/img.sif")
    assert jobs.get(grandchild)["parentJobUuid"] == child and jobs.get(grandchild)["appId"] == family_app[1]


def test_a_token_reaches_its_own_family_only(client, family_app, dispatcher):
    mine, theirs = submit_root(family_app, dispatcher), submit_root(family_app, dispatcher)
    my_token, their_token = env_of(mine)["FAMILY_TOKEN"], env_of(theirs)["FAMILY_TOKEN"]
    their_child = child_of(client, their_token)
    for job_id in (theirs, their_child, "no-such-job"):
        params = {"familyToken": my_token, "jobId": job_id}
        assert client.get("/child/JobDetail", params=params).json() == {"error": f"Could not find job with id {job_id}"}
        assert client.get("/child/GetJobIP", params=params).json() == {"error": f"Could not find job with id {job_id}"}
        assert client.get("/child/KillJob", params=params).json() == {"result": f"Cannot Kill the job. Job ID: {job_id}"}
    body = client.get("/child/SubmitJob", params={"familyToken": my_token, "cmd": "true", "parentJobId": theirs}).json()
    assert body == {"error": f"Could not find job with id {theirs}"}
    from dlws_flow.services import jobs

    assert jobs.get(theirs)["status"] == "PENDING" and jobs.get(their_child)["status"] == "PENDING"


def test_missing_or_unknown_tokens_are_401(client):
    for params in ({}, {"familyToken": "not-a-family"}):
        for op in ("SubmitJob", "KillJob", "JobDetail", "GetJobIP"):
            response = client.get(f"/child/{op}", params={**params, "jobId": "x", "cmd": "true"})
            assert response.status_code == 401 and set(response.json()) == {"error"}, (op, response.text)


def test_submit_needs_a_command_and_a_live_parent(client, family_app, dispatcher):
    from dlws_flow.services import jobs

    root = submit_root(family_app, dispatcher)
    token = env_of(root)["FAMILY_TOKEN"]
    assert client.get("/child/SubmitJob", params={"familyToken": token}).json() == {"error": "cmd is required"}
    jobs.cancel(root, dispatcher)
    assert "error" in client.get("/child/SubmitJob", params={"familyToken": token, "cmd": "true"}).json()


def test_kill_cascades_to_every_descendant(client, family_app, dispatcher):
    from dlws_flow.services import jobs

    root = submit_root(family_app, dispatcher)
    token = env_of(root)["FAMILY_TOKEN"]
    child = child_of(client, token)
    sibling = child_of(client, token)
    grandchild = child_of(client, token, parentJobId=child)
    great = child_of(client, token, parentJobId=grandchild)
    kill = client.get("/child/KillJob", params={"familyToken": token, "jobId": child}).json()
    assert kill == {"result": "Success, the job is scheduled to be terminated."}
    assert {j: jobs.get(j)["status"] for j in (root, child, sibling, grandchild, great)} == {
        root: "PENDING", child: "CANCELLED", sibling: "PENDING", grandchild: "CANCELLED", great: "CANCELLED"}
    assert client.get("/child/KillJob", params={"familyToken": token, "jobId": child}).json() == {
        "result": f"Cannot Kill the job. Job ID: {child}"}
    # The Tapis cancel (and OpenPAI's STOP, which calls it) cascades the same way.
    jobs.cancel(root, dispatcher)
    assert jobs.get(sibling)["status"] == "CANCELLED"
    assert "parent job" in jobs.get(sibling)["lastMessage"]


def test_job_ip_is_the_host_of_a_launched_job(client, family_app, dispatcher):
    from dlws_flow.store import repositories as repo
    from dlws_flow.store.db import session_scope

    root = submit_root(family_app, dispatcher)
    params = {"familyToken": env_of(root)["FAMILY_TOKEN"], "jobId": root}
    assert client.get("/child/GetJobIP", params=params).json() == {"error": f"Could not find job with id {root}"}
    with session_scope() as session:
        repo.update_job_fields(session, root, status="RUNNING", remote_job_id="4242")
    assert client.get("/child/GetJobIP", params=params).json() == {"IP": "127.0.0.1"}
    with session_scope() as session:
        repo.update_job_fields(session, root, remote_node="localhost")
    assert client.get("/child/GetJobIP", params=params).json()["IP"] in ("127.0.0.1", "::1")


def test_resourcegpu_is_the_childs_gpu_count_and_a_bad_or_unplaceable_count_is_refused(client, family_app, dispatcher):
    from dlws_flow.services import apps, jobs, systems

    user, app_id = family_app
    token = env_of(submit_root(family_app, dispatcher))["FAMILY_TOKEN"]
    bad = client.get("/child/SubmitJob", params={"familyToken": token, "cmd": "true", "resourcegpu": "two"})
    assert "resourcegpu must be a whole number" in bad.json()["error"]  # DLWS answers refusals in the body
    # The family's VM does not declare GPUs: a FORK job cannot be given any there.
    undeclared = client.get("/child/SubmitJob", params={"familyToken": token, "cmd": "true", "resourcegpu": "1"})
    assert "does not say how many GPUs" in undeclared.json()["error"]

    suffix = uuid.uuid4().hex[:6]
    systems.create(user, {"id": f"fam-gpu-{suffix}", "systemType": "LINUX", "host": "127.0.0.1", "effectiveUserId": "hpc",
                          "defaultAuthnMethod": "PKI_KEYS", "canExec": True, "rootDir": "/home/hpc",
                          "jobWorkingDir": "/work", "notes": {"hostKey": HOST_KEY, "gpu": 2}})
    apps.create(user, {"id": f"fam-gpu-app-{suffix}", "version": "1", "runtime": "SINGULARITY", "containerImage": "/img.sif",
                       "jobAttributes": {"execSystemId": f"fam-gpu-{suffix}"}})
    root = jobs.submit({"name": "gpu-root", "appId": f"fam-gpu-app-{suffix}", "appVersion": "1"}, dispatcher,
                       principal=user)["uuid"]
    child = child_of(client, env_of(root)["FAMILY_TOKEN"], resourcegpu="2", image="/img.sif")
    assert jobs.get(child)["gpuCount"] == 2 and jobs.get(root)["gpuCount"] == 0
