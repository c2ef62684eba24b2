"""The seed's OpenPAI curl flow against our running server (uvicorn, a real worker, the SSH test host), and the
virtual-cluster quota: with room for two jobs a third waits and starts by itself when one ends."""

from __future__ import annotations

import time
import uuid

import httpx
import pytest

from tests.integration.conftest import ADMIN_PASSWORD, api_user

pytestmark = [pytest.mark.ssh]


def token(base_url: str, username: str, password: str) -> dict[str, str]:
    # As the seed's curl: a form post.
    response = httpx.post(f"{base_url}/api/v1/token", data={"username": username, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}


@pytest.fixture(scope="module")
def pai(api_server, vm_system):
    """An admin and a user, and a VC on the SSH test host with 4 cores and 4 GB (2 jobs of 2 cores fit)."""
    from dlws_flow import add_system

    system_id = f"pai-vm-{uuid.uuid4().hex[:6]}"
    add_system({**vm_system, "id": system_id, "notes": {"cpu": 4, "memoryMB": 4096, "gpu": 0}}, replace=True)
    admin = token(api_server, "admin", ADMIN_PASSWORD)
    user = token(api_server, "pai_flow", api_user("pai_flow"))
    vc = f"flow_{uuid.uuid4().hex[:6]}"
    response = httpx.put(f"{api_server}/api/v1/virtual-clusters/{vc}", headers=admin,
                         json={"capacity": 100, "maxCapacity": 100, "systems": [system_id]})
    assert response.status_code == 201, response.text
    response = httpx.put(f"{api_server}/api/v1/user/pai_flow/virtualClusters", headers=admin, json={"virtualClusters": vc})
    assert response.status_code == 201, response.text
    return {"url": api_server, "admin": admin, "user": user, "vc": vc, "system": vm_system}


def example_job(name: str, vc: str, sif: str, command: str, cpu: int = 2) -> dict:
    """The seed's exampleJob.json, adapted: an image the test host can run, and our virtual cluster."""
    return {"jobName": name, "image": sif, "virtualCluster": vc, "retryCount": 0,
            "taskRoles": [{"name": "main", "taskNumber": 1, "cpuNumber": cpu, "memoryMB": 1024, "gpuNumber": 0,
                           "command": command}]}


def state(pai, name: str) -> str:
    response = httpx.get(f"{pai['url']}/api/v1/jobs/{name}", headers=pai["user"])
    assert response.status_code == 200, response.text
    return response.json()["state"]


def wait_state(pai, name: str, wanted: set[str], timeout: float = 90.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        current = state(pai, name)
        if current in wanted:
            return current
        time.sleep(0.2)
    raise AssertionError(f"OpenPAI job {name} did not reach {wanted}: still {current}")


def vc_figures(pai) -> dict:
    response = httpx.get(f"{pai['url']}/api/v1/virtual-clusters/{pai['vc']}", headers=pai["user"])
    assert response.status_code == 200, response.text
    return response.json()


def submit(pai, config: dict) -> None:
    response = httpx.post(f"{pai['url']}/api/v1/jobs", headers=pai["user"], json=config)
    assert response.status_code == 201, response.text
    assert response.json() == {"message": f"update job {config['jobName']} successfully"}


def test_seed_curl_flow(pai, hosts, host_shell):
    url, user = pai["url"], pai["user"]
    name = f"exampleJob-{uuid.uuid4().hex[:6]}"
    config = example_job(name, pai["vc"], hosts["DLWS_TEST_SIF"],
                         'echo "task $PAI_TASK_ROLE_NAME $PAI_TASK_INDEX of $PAI_JOB_NAME"; sleep 600', cpu=1)
    submit(pai, config)
    duplicate = httpx.post(f"{url}/api/v1/jobs", headers=user, json=config)
    assert duplicate.status_code == 400 and duplicate.json() == {"error": "JobUpdateError", "message": "job update error"}

    assert name in [j["name"] for j in httpx.get(f"{url}/api/v1/jobs", headers=user).json()]
    assert wait_state(pai, name, {"RUNNING", "FAILED"}) == "RUNNING"
    status = httpx.get(f"{url}/api/v1/jobs/{name}", headers=user).json()
    assert status["name"] == name and status["appLaunchedTime"] and status["completedTime"] is None
    assert httpx.get(f"{url}/api/v1/jobs/{name}/config", headers=user).json() == config

    # This VC's host is the service's port 2222, whose sshd forces its own command on every login: the job's
    # key would get a plain shell there, so it is taken out again and no key is handed out (test below: 2223).
    ssh = httpx.get(f"{url}/api/v1/jobs/{name}/ssh", headers=user).json()
    (container,) = ssh["containers"]
    assert (container["id"], container["sshIp"], container["sshPort"]) == (
        status["appId"], hosts["DLWS_TEST_SSH_HOST"], str(hosts["DLWS_TEST_SSH_PORT"]))
    assert container["ready"] is False and "ForceCommand" in container["message"]
    assert ssh["keyPair"]["folderPath"] and ssh["keyPair"]["publicKey"].startswith("ssh-ed25519 ")
    assert ssh["keyPair"]["privateKeyDirectDownloadLink"] is None and "ForceCommand" in ssh["keyPair"]["message"]
    assert f"dlws-flow-job:{status['appId']}" not in host_shell("cat ~/.ssh/authorized_keys")

    missing = httpx.get(f"{url}/api/v1/jobs/no-such-job", headers=user)
    assert missing.status_code == 404 and missing.json() == {"error": "JobNotFound", "message": "could not find job no-such-job"}

    stopped = httpx.put(f"{url}/api/v1/jobs/{name}/executionType", headers=user, json={"value": "STOP"})
    assert stopped.status_code == 200 and stopped.json() == {"message": f"execute job {name} successfully"}
    assert wait_state(pai, name, {"STOPPED"}) == "STOPPED"
    tapis_job = httpx.get(f"{url}/v3/jobs/{status['appId']}", headers=user).json()["result"]
    assert tapis_job["status"] == "CANCELLED"


def test_quota_admits_the_third_job_when_one_ends(pai, hosts):
    sif, vc = hosts["DLWS_TEST_SIF"], pai["vc"]
    tag = uuid.uuid4().hex[:6]
    first, second, third = f"short-{tag}", f"long-{tag}", f"third-{tag}"
    submit(pai, example_job(first, vc, sif, "sleep 8"))
    submit(pai, example_job(second, vc, sif, "sleep 600"))
    submit(pai, example_job(third, vc, sif, "sleep 600"))

    figures = vc_figures(pai)
    assert (figures["numActiveJobs"], figures["numPendingJobs"], figures["numJobs"]) == (2, 1, 3)
    assert figures["usedCapacity"] == 100.0 and figures["resourcesUsed"] == {"memory": 2048, "vCores": 4, "GPUs": 0}
    assert state(pai, third) == "WAITING"
    assert wait_state(pai, second, {"RUNNING"}) == "RUNNING"
    time.sleep(2)
    assert state(pai, third) == "WAITING"  # still no room: it has not been dispatched

    assert wait_state(pai, first, {"SUCCEEDED", "FAILED"}) == "SUCCEEDED"
    assert wait_state(pai, third, {"RUNNING", "FAILED"}, timeout=60) == "RUNNING"  # admitted by itself
    figures = vc_figures(pai)
    assert (figures["numActiveJobs"], figures["numPendingJobs"], figures["numJobs"]) == (2, 0, 2)
    assert figures["usedCapacity"] == 100.0 and figures["resourcesUsed"]["vCores"] == 4

    for name in (second, third):
        assert httpx.put(f"{pai['url']}/api/v1/jobs/{name}/executionType", headers=pai["user"],
                         json={"value": "STOP"}).status_code == 200
        assert wait_state(pai, name, {"STOPPED"}) == "STOPPED"
    figures = vc_figures(pai)
    assert (figures["numActiveJobs"], figures["numPendingJobs"], figures["numJobs"], figures["usedCapacity"]) == (0, 0, 0, 0.0)
    assert figures["resourcesUsed"] == {"memory": 0, "vCores": 0, "GPUs": 0}


def test_the_ssh_key_enters_its_running_task_only_and_leaves_with_it(pai, hosts, host_shell, vm_system):
    """On a login port without ForceCommand (2223), as a site's is: the key handed out logs in to the task's
    container in its exec dir, can do nothing else (no forwarding), and stops working when the job stops."""
    import io

    import paramiko

    from dlws_flow import add_system

    url, admin, user = pai["url"], pai["admin"], pai["user"]
    system_id = f"pai-login-{uuid.uuid4().hex[:6]}"
    add_system({**vm_system, "id": system_id, "port": int(hosts["DLWS_TEST_SSH_LOGIN_PORT"]),
                "notes": {"cpu": 4, "memoryMB": 4096, "gpu": 0}}, replace=True)
    vc = f"login_{uuid.uuid4().hex[:6]}"
    assert httpx.put(f"{url}/api/v1/virtual-clusters/{vc}", headers=admin,
                     json={"capacity": 100, "maxCapacity": 100, "systems": [system_id]}).status_code == 201
    assert httpx.put(f"{url}/api/v1/user/pai_flow/virtualClusters", headers=admin,
                     json={"virtualClusters": f"{pai['vc']},{vc}"}).status_code == 201
    name = f"sshJob-{uuid.uuid4().hex[:6]}"
    submit(pai, example_job(name, vc, hosts["DLWS_TEST_SIF"], "echo made-by-the-job > marker.txt; sleep 600", cpu=1))
    assert wait_state(pai, name, {"RUNNING", "FAILED"}) == "RUNNING"

    ssh = httpx.get(f"{url}/api/v1/jobs/{name}/ssh", headers=user).json()
    (container,) = ssh["containers"]
    assert container["ready"] is True and container["sshPort"] == hosts["DLWS_TEST_SSH_LOGIN_PORT"], container
    assert container["sshUser"] == hosts["DLWS_TEST_SSH_USER"]
    line = next(l for l in host_shell("cat ~/.ssh/authorized_keys").splitlines() if container["id"] in l)
    assert line.startswith('restrict,pty,expiry-time="') and 'command="/bin/sh ' in line
    private = httpx.get(ssh["keyPair"]["privateKeyDirectDownloadLink"], headers=user)
    assert private.status_code == 200 and "BEGIN OPENSSH PRIVATE KEY" in private.text
    assert httpx.get(ssh["keyPair"]["privateKeyDirectDownloadLink"], headers=user).status_code == 410

    def login() -> paramiko.SSHClient:
        client = paramiko.SSHClient()
        client.set_missing_host_key_policy(paramiko.AutoAddPolicy())  # the test's own client, as a user's ssh
        client.connect(container["sshIp"], port=int(container["sshPort"]), username=container["sshUser"],
                       pkey=paramiko.Ed25519Key.from_private_key(io.StringIO(private.text)), look_for_keys=False,
                       allow_agent=False, timeout=10)
        return client

    client = login()
    try:
        # Whatever command the client asks for runs in the task: its exec dir, its environment, its container.
        _, out, _ = client.exec_command("pwd; cat marker.txt; echo job=$PAI_JOB_NAME")
        text = out.read().decode()
        assert f"/jobs/{container['id']}" in text and "made-by-the-job" in text and f"job={name}" in text
        with pytest.raises(paramiko.ChannelException):  # restrict: no port forwarding through the job's key
            client.get_transport().open_channel("direct-tcpip", ("127.0.0.1", 5432), ("127.0.0.1", 0))
    finally:
        client.close()

    assert httpx.put(f"{url}/api/v1/jobs/{name}/executionType", headers=user, json={"value": "STOP"}).status_code == 200
    assert wait_state(pai, name, {"STOPPED"}) == "STOPPED"
    deadline = time.monotonic() + 30
    while container["id"] in host_shell("cat ~/.ssh/authorized_keys") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert container["id"] not in host_shell("cat ~/.ssh/authorized_keys")
    with pytest.raises(paramiko.AuthenticationException):
        login()
