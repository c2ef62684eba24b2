"""DLWS job families end to end: a job on the SSH test host runs the seed's ``submit_child``, ``job_detail``,
``job_ip`` and ``kill_job`` against our running server (uvicorn), and killing the root job ends its child and
grandchild, CANCELLED in the database and gone from the host.

How the seed's Python runs: the seed's functions need ``python3`` and ``requests``, which the busybox SIF image
lacks and the test host has (Debian's python3-requests, installed by scripts/testhosts/up.sh). The app is
therefore a ZIP app (no container): its "image" is ``/usr/bin/env`` on the host, so its arguments are the
host command, here ``python3 root.py``. Children of a ZIP app run in the same app (see docs/architecture.md,
"DLWS job families"): the seed's child command ``export HOME=/job && jupyter notebook ...`` runs with the
host's ``sh``. The host has no Jupyter; a stand-in ``jupyter`` on the app's ``PATH`` (an app environment
variable, which children inherit with the app) plays the child: it starts a grandchild through
``/child/SubmitJob`` with ``parentJobId`` (the seed's ``submit_child`` cannot name a parent: its token names
the family) and then waits, as a notebook server would.

The seed's functions are copied as written, with one change: ``job_ip``'s last four lines are indented with
tabs after four-space lines, which Python 3 refuses (TabError); the tabs are expanded to four spaces.
"""

from __future__ import annotations

import ast
import contextlib
import random
import uuid
from pathlib import Path

import pytest
import requests

from tests.integration.conftest import api_user, wait_for

pytestmark = [pytest.mark.ssh]

SEED_FUNCTIONS = '''
def submit_child(error_handler, succes_handler):
    import os
    import requests

    jobSettings = {
        "resourcegpu": 0,
        "jobName": "tensorflow-ipython-cpu",
        "dataPath": "imagenet",
        "image": "tensorflow/tensorflow:latest",
        "cmd": "export HOME=/job && jupyter notebook --no-browser --port=8888 --ip=0.0.0.0 --notebook-dir=/",
        "interactivePort": "8888",
        "jobType": "training",
        "jobtrainingtype": "RegularJob",
        "runningasroot": "0",
        "familyToken": os.environ["FAMILY_TOKEN"]
    }

    api_url = os.environ["DLWS_REST_API"] + "/child"
    submit_child_resp = requests.get(api_url + "/SubmitJob", params=jobSettings, timeout=3)
    submit_child_resp.raise_for_status()
    submit_child_resp = submit_child_resp.json()
    if "error" in submit_child_resp:
        error_handler(submit_child_resp["error"])
    else:
        succes_handler(submit_child_resp["jobId"])

def kill_job(jobId, error_handler, succes_handler):
    import os
    import requests
  
    api_url = os.environ["DLWS_REST_API"]
    family_token = os.environ["FAMILY_TOKEN"]

    submit_child_resp = requests.get(api_url + "KillJob", timeout=3,
                                     params=dict(familyToken=family_token, jobId=jobId))
    submit_child_resp.raise_for_status()
    submit_child_resp = submit_child_resp.json()
    result = submit_child_resp["result"]
    if "Success" not in submit_child_resp:
        succes_handler()
    else:
        error_handler(jobId)

def job_detail(jobId, succes_handler):
    import os
    import requests
  
    api_url = os.environ["DLWS_REST_API"]
    family_token = os.environ["FAMILY_TOKEN"]

    submit_child_resp = requests.get(api_url + "JobDetail", timeout=3,
                                     params=dict(familyToken=family_token, jobId=jobId))
    submit_child_resp.raise_for_status()
    detail = submit_child_resp.json()
    succes_handler(detail)

def job_ip(jobId, succes_handler, error_handler):
    import os
    import requests
  
    api_url = os.environ["DLWS_REST_API"]
    family_token = os.environ["FAMILY_TOKEN"]

    submit_child_resp = requests.get(api_url + "GetJobIP", timeout=3,
                                     params=dict(familyToken=family_token, jobId=jobId))
    submit_child_resp.raise_for_status()
    submit_child_resp = submit_child_resp.json()
    if "error" in submit_child_resp:
        error_handler(jobId)
    else:
        succes_handler(submit_child_resp["IP"])
'''

ROOT_SCRIPT = SEED_FUNCTIONS + '''
import json, sys, time

def log(*words):
    print(*words, flush=True)

def fail(what):
    log("ERROR", what)
    sys.exit(3)

children = []
submit_child(fail, children.append)
child = children[0]
log("CHILD", child)
details, deadline = [], time.time() + 120
while True:
    job_detail(child, details.append)
    if details[-1].get("jobStatus") == "running":
        break
    if time.time() > deadline or details[-1].get("jobStatus") in (None, "failed", "finished", "killed"):
        fail(details[-1])
    time.sleep(0.5)
log("DETAIL", json.dumps(details[-1]))
job_ip(child, lambda ip: log("IP", ip), fail)
submit_child(fail, children.append)
log("OTHER", children[1])
kill_job(children[1], fail, lambda: log("KILLED", children[1]))
log("READY")
time.sleep(600)
'''

FAKE_JUPYTER = '''#!/usr/bin/env python3
"""Stands in for the seed child's `jupyter notebook`: starts a grandchild, then serves (waits)."""
import os, time, requests

response = requests.get(os.environ["DLWS_REST_API"] + "SubmitJob", timeout=3, params={
    "familyToken": os.environ["FAMILY_TOKEN"], "parentJobId": os.environ["_tapisJobUUID"], "jobName": "grandchild",
    "cmd": "sleep {grandchild_seconds}"})
print("GRANDCHILD", response.json(), flush=True)
time.sleep(600)
'''


@pytest.fixture(scope="module")
def family_user(api_server, hosts, host_shell):
    """A user owning a VM system (the SSH test host) and a ZIP app whose program is ``/usr/bin/env``."""
    from dlws_flow.services import apps, systems
    from dlws_flow.services.auth import get_user

    api_user("family_user")
    user = get_user("family_user")
    tag = uuid.uuid4().hex[:6]
    folder = f"/home/hpcuser/families-{tag}"
    host_shell(f"mkdir -p {folder}/bin")
    grandchild_seconds = random.randint(700, 999)  # names the grandchild's process on the host
    with host_shell.sftp.open(f"{folder}/root.py", "w") as handle:
        handle.write(ROOT_SCRIPT)
    with host_shell.sftp.open(f"{folder}/bin/jupyter", "w") as handle:
        handle.write(FAKE_JUPYTER.replace("{grandchild_seconds}", str(grandchild_seconds)))
    host_shell(f"chmod 755 {folder}/bin/jupyter")
    system_id, app_id = f"family-vm-{tag}", f"family-app-{tag}"
    systems.create(user, {"id": system_id, "systemType": "LINUX", "host": hosts["DLWS_TEST_SSH_HOST"],
                          "port": int(hosts["DLWS_TEST_SSH_PORT"]), "effectiveUserId": hosts["DLWS_TEST_SSH_USER"],
                          "defaultAuthnMethod": "PKI_KEYS", "rootDir": "/home/hpcuser", "jobWorkingDir": "/workdir",
                          "canExec": True, "notes": {"hostKey": hosts["DLWS_TEST_SSH_HOST_KEY"]},
                          "authnCredential": {"privateKey": Path(hosts["DLWS_TEST_SSH_KEY"]).read_text()}})
    apps.create(user, {"id": app_id, "version": "1", "runtime": "ZIP", "containerImage": "/usr/bin/env",
                       "jobAttributes": {"execSystemId": system_id, "maxMinutes": 15, "parameterSet": {
                           "envVariables": [{"key": "PATH", "value": f"{folder}/bin:/usr/local/bin:/usr/bin:/bin"}]}}})
    return {"user": user, "app": app_id, "folder": folder, "grandchild_seconds": grandchild_seconds}


def submit(family_user, args: str) -> str:
    from dlws_flow.services import jobs
    from workers.dispatch import CeleryDispatcher

    request = {"name": "family-root", "appId": family_user["app"], "appVersion": "1",
               "parameterSet": {"appArgs": [{"name": "program", "arg": args}]}}
    return jobs.submit(request, CeleryDispatcher(), principal=family_user["user"])["uuid"]


def token_of(job_uuid: str) -> str:
    from dlws_flow.services import families
    from dlws_flow.store import repositories as repo
    from dlws_flow.store.db import session_scope

    with session_scope() as session:
        return families.environment(session, repo.get_job(session, job_uuid))["FAMILY_TOKEN"]


def output_lines(host_shell, job_uuid: str) -> dict[str, str]:
    from dlws_flow.services import jobs

    text = host_shell(f"cat /home/hpcuser{jobs.get(job_uuid)['execSystemOutputDir']}/tapisjob.out 2>/dev/null")
    return {line.split(" ", 1)[0]: line.partition(" ")[2] for line in text.splitlines() if line}


def test_seed_functions_from_a_job_and_cascading_kill(api_server, family_user, host_shell):
    from dlws_flow.services import jobs
    from workers.dispatch import CeleryDispatcher

    root = submit(family_user, f"python3 {family_user['folder']}/root.py")
    stranger = submit(family_user, "sleep 300")  # another family, for its token
    try:
        wait_for(lambda: "READY" in output_lines(host_shell, root) or "ERROR" in output_lines(host_shell, root)
                 or jobs.get(root)["status"] in ("FAILED", "FINISHED"), "the root job's script", timeout=150)
        lines = output_lines(host_shell, root)
        assert "READY" in lines, (lines, jobs.get(root))
        child, other = lines["CHILD"], lines["OTHER"]
        assert '"jobStatus": "running"' in lines["DETAIL"] and f'"jobId": "{child}"' in lines["DETAIL"]
        assert lines["IP"] == "127.0.0.1"
        assert lines["KILLED"] == other and jobs.get(other)["status"] == "CANCELLED"
        job = jobs.get(child)
        assert job["owner"] == "family_user" and job["parentJobUuid"] == root and job["appId"] == family_user["app"]
        assert token_of(child) == token_of(root) != token_of(stranger)

        # The child (the jupyter stand-in) starts a grandchild, which runs on the host.
        wait_for(lambda: "GRANDCHILD" in output_lines(host_shell, child), "the child's grandchild", timeout=60)
        grandchild = ast.literal_eval(output_lines(host_shell, child)["GRANDCHILD"])["jobId"]  # the printed dict
        assert jobs.get(grandchild)["parentJobUuid"] == child
        wait_for(lambda: jobs.get(grandchild)["status"] == "RUNNING", "the grandchild to run", timeout=90)

        # Another family's token: an error for this family's jobs, and nothing happens to them.
        params = {"familyToken": token_of(stranger), "jobId": child}
        assert requests.get(f"{api_server}/child/JobDetail", params=params, timeout=5).json() == {
            "error": f"Could not find job with id {child}"}
        assert requests.get(f"{api_server}/child/GetJobIP", params=params, timeout=5).json() == {
            "error": f"Could not find job with id {child}"}
        assert requests.get(f"{api_server}/child/KillJob", params=params, timeout=5).json() == {
            "result": f"Cannot Kill the job. Job ID: {child}"}
        assert jobs.get(child)["status"] == "RUNNING"

        # Killing the root (the Tapis cancel) ends the child and the grandchild, on the host too.
        jobs.cancel(root, CeleryDispatcher())
        for job_uuid in (root, child, grandchild):
            assert jobs.get(job_uuid)["status"] == "CANCELLED", job_uuid

        def host_processes() -> str:
            return host_shell("ps -u hpcuser -o args=")

        wait_for(lambda: family_user["folder"] not in host_processes()
                 and f"sleep {family_user['grandchild_seconds']}" not in host_processes(),
                 "the family's processes to end on the host", timeout=60)
        assert jobs.get(stranger)["status"] != "CANCELLED"
    finally:
        for job_uuid in (stranger, root):
            with contextlib.suppress(Exception):  # already ended
                jobs.cancel(job_uuid, CeleryDispatcher())
