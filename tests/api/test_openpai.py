"""OpenPAI REST v1: every route of the seed with its status codes and error bodies, admin-only routes as a
non-admin, and the virtual-cluster figures. The database only: the VC's system is a record (no host is
reached), and the jobs submitted here stay PENDING behind the quota or are stopped before any worker runs."""

from __future__ import annotations

import uuid

import pytest
from fastapi.testclient import TestClient

PASSWORD = "openpai-pw-1"


@pytest.fixture(scope="module")
def client():
    from api.app import create_app

    with TestClient(create_app()) as test_client:
        yield test_client


def token_for(client, username: str, password: str = PASSWORD) -> dict[str, str]:
    response = client.post("/api/v1/token", data={"username": username, "password": password})
    assert response.status_code == 200, response.text
    assert response.json()["user"] == username
    return {"Authorization": f"Bearer {response.json()['token']}"}


@pytest.fixture(scope="module")
def people(client):
    from dlws_flow.services.auth import create_user

    create_user("pai_admin", PASSWORD, admin=True, replace=True)
    create_user("pai_user", PASSWORD, replace=True)
    create_user("pai_other", PASSWORD, replace=True)
    return {name: token_for(client, name) for name in ("pai_admin", "pai_user", "pai_other")}


def vc_system(prefix: str, gpu: int) -> str:
    """A system record (never reached) with 4 cores, 4 GB and ``gpu`` GPUs, owned by the admin."""
    from dlws_flow.services.auth import get_user
    from dlws_flow.services.systems import create

    system_id = f"{prefix}-{uuid.uuid4().hex[:6]}"
    create(get_user("pai_admin"), {
        "id": system_id, "systemType": "LINUX", "host": "127.0.0.1", "port": 1, "effectiveUserId": "nobody",
        "defaultAuthnMethod": "PKI_KEYS", "canExec": True, "rootDir": "/tmp", "jobWorkingDir": "/work",
        "notes": {"hostKey": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOKDFfyMMM5ORnm92TcBX9Etl7a52d6xv5p+3U6VJtT5",
                  "cpu": 4, "memoryMB": 4096, "gpu": gpu}})
    return system_id


@pytest.fixture(scope="module")
def vc(client, people):
    """A VC on one system record with 4 cores, 4 GB and no GPU; capacity 50% (2 cores), max 50%."""
    system_id = vc_system("pai-sys", gpu=0)
    name = f"vc_{uuid.uuid4().hex[:6]}"
    response = client.put(f"/api/v1/virtual-clusters/{name}", json={"capacity": 50, "maxCapacity": 50, "systems": [system_id]},
                          headers=people["pai_admin"])
    assert response.status_code == 201, response.text
    return name


def job_config(name: str, vc: str, cpu: int = 2, tasks: int = 1) -> dict:
    return {"jobName": name, "image": "/images/busybox.sif", "virtualCluster": vc,
            "taskRoles": [{"name": "main", "taskNumber": tasks, "cpuNumber": cpu, "memoryMB": 512, "gpuNumber": 0,
                           "command": "sleep 600"}]}


def test_token(client, people):
    assert client.post("/api/v1/token", json={"username": "pai_user", "password": PASSWORD}).status_code == 200
    for body in ({"username": "pai_user", "password": "wrong-password"}, {"username": "nobody_x", "password": "whatever"}):
        response = client.post("/api/v1/token", data=body)
        assert response.status_code == 401
        assert response.json() == {"error": "AuthenticationFailed", "message": "authentication failed"}
    short = client.post("/api/v1/token", data={"username": "pai_user", "password": PASSWORD, "expiration": "60"})
    assert short.status_code == 200
    # One token on every surface: the OpenPAI token reads Tapis routes too.
    assert client.get("/v3/oauth2/userinfo", headers={"Authorization": f"Bearer {short.json()['token']}"}).status_code == 200
    for body in ({"username": "pai_user"}, {"username": "pai_user", "password": PASSWORD, "expiration": "soon"},
                 {"username": "pai_user", "password": PASSWORD, "expiration": "-5"}):
        response = client.post("/api/v1/token", data=body)
        assert response.status_code == 400 and response.json()["error"] == "InvalidParametersError", body
    assert client.post("/api/v1/token", content=b"[1]", headers={"Content-Type": "application/json"}).status_code == 400


def test_every_route_needs_a_token(client):
    for method, path in [("GET", "/api/v1/jobs"), ("POST", "/api/v1/jobs"), ("GET", "/api/v1/jobs/x"),
                         ("GET", "/api/v1/jobs/x/config"), ("GET", "/api/v1/jobs/x/ssh"), ("GET", "/api/v1/jobs/x/ssh/key"),
                         ("PUT", "/api/v1/jobs/x/executionType"), ("PUT", "/api/v1/user"), ("DELETE", "/api/v1/user"),
                         ("PUT", "/api/v1/user/x/virtualClusters"), ("GET", "/api/v1/virtual-clusters"),
                         ("GET", "/api/v1/virtual-clusters/default"), ("PUT", "/api/v1/virtual-clusters/x"),
                         ("DELETE", "/api/v1/virtual-clusters/x")]:
        for headers in ({}, {"Authorization": "Bearer not-a-jwt"}):
            response = client.request(method, path, json={}, headers=headers)
            assert response.status_code == 401, (method, path, response.text)
            assert response.json()["error"] == "AuthenticationFailed" and response.json()["message"]


def test_put_user(client, people):
    admin, user = people["pai_admin"], people["pai_user"]
    name = f"u_{uuid.uuid4().hex[:6]}"
    created = client.put("/api/v1/user", json={"username": name, "password": "abcdef", "admin": False, "modify": False},
                         headers=admin)
    assert created.status_code == 201 and created.json() == {"message": "update successfully"}
    assert client.post("/api/v1/token", data={"username": name, "password": "abcdef"}).status_code == 200
    again = client.put("/api/v1/user", json={"username": name, "password": "abcdef", "modify": False}, headers=admin)
    assert again.status_code == 409 and again.json()["error"] == "UpdateFailed"
    for body in ({"username": "bad name!", "password": "abcdef"}, {"username": name, "password": "short", "modify": True},
                 {"username": f"n_{uuid.uuid4().hex[:6]}", "modify": False}):
        response = client.put("/api/v1/user", json=body, headers=admin)
        assert response.status_code == 400 and response.json()["error"] == "UpdateFailed" and response.json()["message"], body
    missing = client.put("/api/v1/user", json={"username": "nobody_here", "password": "abcdefg", "modify": True}, headers=admin)
    assert missing.status_code == 404 and missing.json()["error"] == "UpdateFailed"
    assert client.put("/api/v1/user", json={"password": "abcdef"}, headers=admin).status_code == 400
    # The admin changes another user's password and makes them admin.
    assert client.put("/api/v1/user", json={"username": name, "password": "ghijkl", "modify": True, "admin": True},
                      headers=admin).status_code == 201
    assert client.post("/api/v1/token", data={"username": name, "password": "ghijkl"}).status_code == 200
    # A user changes their own password, and nothing else.
    own = token_for(client, name, "ghijkl")
    client.put("/api/v1/user", json={"username": name, "admin": False, "modify": True}, headers=admin)
    own = token_for(client, name, "ghijkl")
    assert client.put("/api/v1/user", json={"username": name, "password": "mnopqr", "modify": True},
                      headers=own).status_code == 201
    for body in ({"username": "pai_other", "password": "mnopqr", "modify": True},
                 {"username": name, "password": "mnopqr", "modify": True, "admin": True},
                 {"username": "newbie_x", "password": "mnopqr", "modify": False}):
        response = client.put("/api/v1/user", json=body, headers=user)
        assert response.status_code == 401
        assert response.json() == {"error": "NotAuthorized", "message": "not authorized"}


def test_delete_user(client, people):
    admin = people["pai_admin"]
    name = f"d_{uuid.uuid4().hex[:6]}"
    client.put("/api/v1/user", json={"username": name, "password": "abcdef"}, headers=admin)
    victim = token_for(client, name, "abcdef")
    refused = client.request("DELETE", "/api/v1/user", json={"username": "pai_other"}, headers=people["pai_user"])
    assert refused.status_code == 401 and refused.json() == {"error": "NotAuthorized", "message": "not authorized"}
    removed = client.request("DELETE", "/api/v1/user", json={"username": name}, headers=admin)
    assert removed.status_code == 200 and removed.json() == {"message": "remove successfully"}
    assert client.get("/api/v1/jobs", headers=victim).status_code == 401  # its tokens die with it
    missing = client.request("DELETE", "/api/v1/user", json={"username": name}, headers=admin)
    assert missing.status_code == 404 and missing.json()["error"] == "RemoveFailed"
    assert client.request("DELETE", "/api/v1/user", json={"username": "pai_admin"}, headers=admin).json()["error"] == "RemoveFailed"
    assert client.request("DELETE", "/api/v1/user", json={}, headers=admin).status_code == 400


def test_user_virtual_clusters(client, people, vc):
    admin = people["pai_admin"]
    refused = client.put("/api/v1/user/pai_other/virtualClusters", json={"virtualClusters": vc}, headers=people["pai_user"])
    assert refused.status_code == 401 and refused.json() == {"error": "NotAuthorized", "message": "not authorized"}
    ok = client.put("/api/v1/user/pai_user/virtualClusters", json={"virtualClusters": f"{vc},default"}, headers=admin)
    assert ok.status_code == 201 and ok.json() == {"message": "update user virtual clusters successfully"}
    from dlws_flow.services.quotas import user_vcs

    assert user_vcs("pai_user") == ["default", vc] and user_vcs("pai_other") == ["default"]
    for path, body, status in (("/api/v1/user/pai_user/virtualClusters", {"virtualClusters": "no_such_vc"}, 404),
                               ("/api/v1/user/nobody_y/virtualClusters", {"virtualClusters": vc}, 404)):
        response = client.put(path, json=body, headers=admin)
        assert response.status_code == status and response.json()["error"] == "UpdateVcFailed", response.text
    assert client.put("/api/v1/user/pai_user/virtualClusters", json={}, headers=admin).status_code == 400


def test_virtual_cluster_admin_routes(client, people, vc):
    admin, user = people["pai_admin"], people["pai_user"]
    for method, body in (("PUT", {"capacity": 10}), ("DELETE", None)):
        response = client.request(method, "/api/v1/virtual-clusters/some_vc", json=body, headers=user)
        assert response.status_code == 401 and response.json() == {"error": "NotAuthorized", "message": "not authorized"}
    for body in ({"capacity": 120}, {"capacity": 60, "maxCapacity": 40}, {"capacity": 10, "systems": ["no-such-system"]},
                 {"maxCapacity": 10}):
        response = client.put("/api/v1/virtual-clusters/tmp_vc", json=body, headers=admin)
        assert response.status_code == 400 and response.json()["error"] == "UpdateVcFailed", body
    assert client.put("/api/v1/virtual-clusters/bad-name!", json={"capacity": 1}, headers=admin).status_code == 400
    assert client.put("/api/v1/virtual-clusters/tmp_vc", json={"vcCapacity": 10}, headers=admin).status_code == 201
    assert client.put("/api/v1/virtual-clusters/tmp_vc", json={"capacity": 20}, headers=admin).status_code == 200
    assert client.get("/api/v1/virtual-clusters/tmp_vc", headers=user).json()["capacity"] == 20
    gone = client.delete("/api/v1/virtual-clusters/tmp_vc", headers=admin)
    assert gone.status_code == 200 and gone.json() == {"message": "remove virtual cluster tmp_vc successfully"}
    missing = client.get("/api/v1/virtual-clusters/tmp_vc", headers=user)
    assert missing.status_code == 404
    assert missing.json() == {"error": "VirtualClusterNotFound", "message": "could not find virtual cluster tmp_vc"}
    assert client.delete("/api/v1/virtual-clusters/tmp_vc", headers=admin).json()["error"] == "VirtualClusterNotFound"
    assert client.delete("/api/v1/virtual-clusters/default", headers=admin).json()["error"] == "RemoveVcFailed"
    listed = client.get("/api/v1/virtual-clusters", headers=user).json()
    assert "default" in listed and vc in listed
    assert set(listed[vc]) >= {"capacity", "maxCapacity", "usedCapacity", "numActiveJobs", "numJobs", "numPendingJobs",
                               "resourcesUsed"}


def test_jobs(client, people, vc):
    user, other, admin = people["pai_user"], people["pai_other"], people["pai_admin"]
    client.put("/api/v1/user/pai_user/virtualClusters", json={"virtualClusters": vc}, headers=admin)
    name = f"job-{uuid.uuid4().hex[:6]}"
    # The VC holds 2 cores: the first job takes them, the second (same user) waits.
    created = client.post("/api/v1/jobs", json=job_config(name, vc), headers=user)
    assert created.status_code == 201 and created.json() == {"message": f"update job {name} successfully"}
    duplicate = client.post("/api/v1/jobs", json=job_config(name, vc), headers=user)
    assert duplicate.status_code == 400 and duplicate.json() == {"error": "JobUpdateError", "message": "job update error"}
    waiting = f"{name}-b"
    assert client.post("/api/v1/jobs", json=job_config(waiting, vc), headers=user).status_code == 201
    figures = client.get(f"/api/v1/virtual-clusters/{vc}", headers=user).json()
    assert figures["numActiveJobs"] == 1 and figures["numPendingJobs"] == 1 and figures["numJobs"] == 2
    assert figures["usedCapacity"] == 50.0 and figures["resourcesUsed"] == {"memory": 512, "vCores": 2, "GPUs": 0}
    assert client.get(f"/api/v1/jobs/{waiting}", headers=user).json()["state"] == "WAITING"

    # Bad configs, VCs the user may not use, requests the VC can never hold.
    for config, status, error in ((job_config("x", "no_such_vc"), 404, "VirtualClusterNotFound"),
                                  (job_config("x", vc, cpu=3), 400, "InvalidParametersError"),
                                  ({"jobName": "x"}, 400, "InvalidParametersError"),
                                  ({**job_config("x", vc), "jobName": "bad name"}, 400, "InvalidParametersError"),
                                  ({**job_config("x", vc), "taskRoles": []}, 400, "InvalidParametersError")):
        response = client.post("/api/v1/jobs", json=config, headers=user)
        assert response.status_code == status and response.json()["error"] == error, (config, response.text)
    forbidden = client.post("/api/v1/jobs", json=job_config("x", vc), headers=other)
    assert forbidden.status_code == 403 and forbidden.json()["error"] == "ForbiddenUserError"
    assert client.post("/api/v1/jobs", content=b"[]", headers={**user, "Content-Type": "application/json"}).status_code == 400

    status = client.get(f"/api/v1/jobs/{name}", headers=user).json()
    assert set(status) >= {"name", "state", "createdTime", "completedTime", "appId", "appProgress", "appTrackingUrl",
                           "appLaunchedTime", "appCompletedTime", "appExitCode", "appExitDiagnostics"}
    assert status["name"] == name and status["state"] == "WAITING" and status["appId"].endswith("-007")
    assert client.get(f"/api/v1/jobs/{name}/config", headers=user).json() == job_config(name, vc)
    listed = client.get("/api/v1/jobs", headers=user).json()
    assert {name, waiting} <= {j["name"] for j in listed}
    assert client.get("/api/v1/jobs", params={"username": "pai_other"}, headers=user).json() == []
    assert name in {j["name"] for j in client.get("/api/v1/jobs", params={"username": "pai_user"}, headers=admin).json()}
    for path in (f"/api/v1/jobs/{name}", f"/api/v1/jobs/{name}/config", f"/api/v1/jobs/{name}/ssh", "/api/v1/jobs/nope"):
        response = client.get(path, headers=other)
        job = path.split("/")[4]
        assert response.status_code == 404
        assert response.json() == {"error": "JobNotFound", "message": f"could not find job {job}"}
    assert client.get(f"/api/v1/jobs/{name}", headers=admin).status_code == 200  # an admin finds anyone's job

    ssh = client.get(f"/api/v1/jobs/{name}/ssh", headers=user).json()
    assert ssh["containers"][0]["sshIp"] == "127.0.0.1" and ssh["containers"][0]["sshPort"] == "1"
    link = ssh["keyPair"]["privateKeyDirectDownloadLink"]
    assert link.endswith(f"/api/v1/jobs/{name}/ssh/key") and ssh["keyPair"]["publicKey"].startswith("ssh-ed25519 ")
    not_owner = client.get(f"/api/v1/jobs/{name}/ssh/key", headers=admin)  # an admin finds the job, but the key is the owner's
    assert not_owner.status_code == 403 and not_owner.json()["error"] == "ForbiddenUserError"
    key = client.get(f"/api/v1/jobs/{name}/ssh/key", headers=user)
    assert key.status_code == 200 and "OPENSSH PRIVATE KEY" in key.text
    again = client.get(f"/api/v1/jobs/{name}/ssh/key", headers=user)
    assert again.status_code == 410 and again.json()["error"] == "KeyAlreadyDownloaded"
    after = client.get(f"/api/v1/jobs/{name}/ssh", headers=user).json()["keyPair"]
    assert after["privateKeyDirectDownloadLink"] is None and after["message"] and after["publicKey"] == ssh["keyPair"]["publicKey"]

    # executionType: bad values, other users, STOP, START while running.
    for body in ({"value": "PAUSE"}, {}):
        response = client.put(f"/api/v1/jobs/{name}/executionType", json=body, headers=user)
        assert response.status_code == 400, body
    assert client.put(f"/api/v1/jobs/{name}/executionType", json={"value": "STOP"}, headers=other).json()["error"] == "JobNotFound"
    running = client.put(f"/api/v1/jobs/{name}/executionType", json={"value": "START"}, headers=user)
    assert running.status_code == 400 and running.json()["error"] == "JobExecuteError"
    stopped = client.put(f"/api/v1/jobs/{name}/executionType", json={"value": "STOP"}, headers=user)
    assert stopped.status_code == 200 and stopped.json() == {"message": f"execute job {name} successfully"}
    assert client.get(f"/api/v1/jobs/{name}", headers=user).json()["state"] == "STOPPED"
    # Its cores went back to the VC: the waiting job was admitted.
    figures = client.get(f"/api/v1/virtual-clusters/{vc}", headers=user).json()
    assert figures["numActiveJobs"] == 1 and figures["numPendingJobs"] == 0
    busy = client.delete(f"/api/v1/virtual-clusters/{vc}", headers=admin)
    assert busy.status_code == 409 and busy.json()["error"] == "RemoveVcFailed"
    assert client.put(f"/api/v1/jobs/{waiting}/executionType", json={"value": "STOP"}, headers=user).status_code == 200
    # START runs it again as a new run (which takes the VC again), then STOP ends that.
    restarted = client.put(f"/api/v1/jobs/{name}/executionType", json={"value": "START"}, headers=user)
    assert restarted.status_code == 200
    status = client.get(f"/api/v1/jobs/{name}", headers=user).json()
    assert status["state"] != "STOPPED" and status["retries"] == 1 and status["appId"] != ssh["containers"][0]["id"]
    assert client.put(f"/api/v1/jobs/{name}/executionType", json={"value": "STOP"}, headers=user).status_code == 200
    assert client.get(f"/api/v1/virtual-clusters/{vc}", headers=user).json()["numJobs"] == 0


def test_gpu_number_is_the_jobs_gpu_count_and_counts_in_the_quota(client, people):
    from dlws_flow.services import jobs

    admin, user = people["pai_admin"], people["pai_user"]
    system_id = vc_system("pai-gpu", gpu=2)
    vc = f"vc_gpu_{uuid.uuid4().hex[:6]}"
    assert client.put(f"/api/v1/virtual-clusters/{vc}", json={"capacity": 100, "maxCapacity": 100, "systems": [system_id]},
                      headers=admin).status_code == 201
    client.put("/api/v1/user/pai_user/virtualClusters", json={"virtualClusters": vc}, headers=admin)
    config = job_config(f"gpu-{uuid.uuid4().hex[:6]}", vc, cpu=1)
    config["taskRoles"][0]["gpuNumber"] = 2
    assert client.post("/api/v1/jobs", json=config, headers=user).status_code == 201
    tapis_uuid = client.get(f"/api/v1/jobs/{config['jobName']}", headers=user).json()["appId"]
    assert jobs.get(tapis_uuid)["gpuCount"] == 2
    assert client.get(f"/api/v1/virtual-clusters/{vc}", headers=user).json()["resourcesUsed"]["GPUs"] == 2
    too_many = job_config(f"gpu-{uuid.uuid4().hex[:6]}", vc, cpu=1)
    too_many["taskRoles"][0]["gpuNumber"] = 3
    response = client.post("/api/v1/jobs", json=too_many, headers=user)
    assert response.status_code == 400 and "GPUs" in response.json()["message"]
