"""Soak: the deployment as users start it, under concurrency, all on one host and login.

``dlws-flow up --concurrency 8`` (its thread pool in the ``up`` pass of ``make test``; ``--pool prefork``
in the ``units`` pass) runs 200 jobs, half fork jobs on the VM system and half Slurm jobs, every seventh app
exiting 3, both systems on the same sshd and login. Eight client threads submit them over HTTP (requests,
with a Tapis token) and, meanwhile, list folders, upload files and download outputs through the Files and
Jobs APIs. Every job must end in the state its app deserves with its output downloadable, no request may
wait longer than ``REQUEST_BOUND`` seconds, and ``up`` must stop on SIGTERM within the worker's grace
period. The test prints jobs, wall time, the longest API wait and the stop time.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from tests.integration.conftest import (
    DEPLOYMENT,
    _free_port,
    _start,
    api_user,
    dlws_flow_command,
    script_args,
    stop_process,
    wait_healthy,
)

pytestmark = [pytest.mark.ssh, pytest.mark.slurm, pytest.mark.soak, pytest.mark.timeout(900)]
ENDED = {"FINISHED", "FAILED", "CANCELLED"}
JOBS = 200
CLIENTS = 8
REQUEST_BOUND = 60.0
JOBS_BOUND = 480.0
STOP_GRACE = 10.0


@pytest.fixture(scope="module")
def soak_deployment(hosts, worker, tmp_path_factory):
    """Its own ``dlws-flow up`` on this run's database and broker, with a queue and data dir of its own."""
    from dlws_flow.settings import get_settings

    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    data_dir = tmp_path_factory.mktemp("soak")
    queue = f"{os.environ['DLWS_QUEUE']}.soak"
    env = {**os.environ, "DLWS_DATA_DIR": str(data_dir), "DLWS_DATABASE_URL": get_settings().resolved_database_url(),
           "DLWS_QUEUE": queue, "DLWS_API_BASE_URL": base_url, "DLWS_JOB_API_URL": base_url,
           "DLWS_WORKER_STOP_GRACE": str(STOP_GRACE), "DLWS_RECOVERY_INTERVAL": "1", "DLWS_RECONCILE_INTERVAL": "5"}
    pool = "threads" if DEPLOYMENT == "up" else "prefork"
    log_path = data_dir / "up.log"
    proc = _start(dlws_flow_command("up", "--port", str(port), "--concurrency", "8", "--pool", pool), env, log_path)
    wait_healthy(base_url, proc, log_path)
    yield base_url, queue, pool, proc, log_path
    stop_process(proc)


def _token(base_url: str, username: str, password: str) -> str:
    answer = requests.post(f"{base_url}/v3/oauth2/tokens", json={"username": username, "password": password,
                                                               "grant_type": "password"}, timeout=30)
    answer.raise_for_status()
    return answer.json()["result"]["access_token"]["access_token"]


class TimedSession(requests.Session):
    """A requests session that records how long each request waited for its answer."""

    longest: float = 0.0
    lock = threading.Lock()
    counts: Counter = Counter()

    def request(self, method, url, *args, **kwargs):
        kwargs.setdefault("timeout", REQUEST_BOUND * 2)
        start = time.monotonic()
        answer = super().request(method, url, *args, **kwargs)
        took = time.monotonic() - start
        with TimedSession.lock:
            TimedSession.longest = max(TimedSession.longest, took)
            TimedSession.counts[method] += 1
        return answer


def _register(base_url: str, token: str, hosts: dict, queue: str, suffix: str) -> tuple[str, str, str]:
    headers = {"X-Tapis-Token": token}
    common = {"host": hosts["DLWS_TEST_SSH_HOST"], "port": int(hosts["DLWS_TEST_SSH_PORT"]),
              "effectiveUserId": hosts["DLWS_TEST_SSH_USER"], "defaultAuthnMethod": "PKI_KEYS",
              "rootDir": "/home/hpcuser", "canExec": True, "hostKey": hosts["DLWS_TEST_SSH_HOST_KEY"],
              "workerQueue": queue, "authnCredential": {"privateKey": Path(hosts["DLWS_TEST_SSH_KEY"]).read_text()}}
    vm, hpc, app = f"soak-vm-{suffix}", f"soak-hpc-{suffix}", f"soak-app-{suffix}"
    systems = [
        {**common, "id": vm, "systemType": "LINUX", "jobWorkingDir": f"/soak-{suffix}/vm"},
        {**common, "id": hpc, "systemType": "LINUX", "jobWorkingDir": f"/soak-{suffix}/hpc", "canRunBatch": True,
         "batchScheduler": "SLURM", "batchDefaultLogicalQueue": "dev",
         "batchLogicalQueues": [{"name": "dev", "hpcQueueName": "debug"}]},
    ]
    for system in systems:
        answer = requests.post(f"{base_url}/v3/systems", json=system, headers=headers, timeout=30)
        assert answer.status_code in (200, 201), answer.text
    answer = requests.post(f"{base_url}/v3/apps", headers=headers, timeout=30, json={
        "id": app, "version": "1.0", "runtime": "SINGULARITY", "containerImage": hosts["DLWS_TEST_SIF"],
        "jobAttributes": {"execSystemId": vm, "maxMinutes": 10, "archiveOnAppError": False}})
    assert answer.status_code in (200, 201), answer.text
    return vm, hpc, app


def test_two_hundred_jobs_and_file_traffic_against_dlws_flow_up(soak_deployment, hosts, host_shell):
    base_url, queue, pool, proc, log_path = soak_deployment
    suffix = uuid.uuid4().hex[:6]
    username = f"soak_{suffix}"
    token = _token(base_url, username, api_user(username))
    vm, hpc, app = _register(base_url, token, hosts, queue, suffix)
    host_shell(f"mkdir -p ~/soak-{suffix}/files")
    TimedSession.longest = 0.0
    plan = [(i, hpc if i % 2 else vm, i % 7 == 3) for i in range(JOBS)]
    submitted: dict[str, tuple[str, bool]] = {}
    finished: list[str] = []
    lock = threading.Lock()
    errors: list[str] = []

    def files_traffic(session: requests.Session, n: int, i: int) -> None:
        """One listing, one upload and (once some job finished) one output download."""
        body = f"client {n} upload {i}\n".encode()
        answer = session.post(f"{base_url}/v3/files/ops/{vm}/soak-{suffix}/files/c{n}-{i}.txt",
                              files={"file": ("f.txt", body)})
        if answer.status_code != 200:
            errors.append(f"upload: {answer.status_code} {answer.text[:200]}")
        answer = session.get(f"{base_url}/v3/files/ops/{vm}/soak-{suffix}/files")
        if answer.status_code != 200:
            errors.append(f"list: {answer.status_code} {answer.text[:200]}")
        with lock:
            done = finished[-1] if finished else None
        if done:
            answer = session.get(f"{base_url}/v3/jobs/{done}/output/download/tapisjob.out")
            if answer.status_code != 200 or done.encode() not in answer.content:
                errors.append(f"output of {done}: {answer.status_code} {answer.content[:200]!r}")

    def client(n: int) -> None:
        session = TimedSession()
        session.headers["X-Tapis-Token"] = token
        mine = plan[n::CLIENTS]
        for step, (i, system, fails) in enumerate(mine):
            script = 'echo "soak $_tapisJobUUID"' + ("; exit 3" if fails else "")
            answer = session.post(f"{base_url}/v3/jobs/submit", json={
                "name": f"soak-{i}", "appId": app, "appVersion": "1.0", "execSystemId": system,
                "parameterSet": script_args(script)})
            if answer.status_code != 200:
                errors.append(f"submit {i}: {answer.status_code} {answer.text[:200]}")
                continue
            job_uuid = answer.json()["result"]["uuid"]
            with lock:
                submitted[job_uuid] = (system, fails)
            if step % 3 == 0:
                files_traffic(session, n, step)
            for other, _ in list(submitted.items())[-4:]:  # follow a few jobs, as a user's script would
                status = session.get(f"{base_url}/v3/jobs/{other}/status").json()["result"]["status"]
                if status == "FINISHED":
                    with lock:
                        finished.append(other)

    started = time.monotonic()
    with ThreadPoolExecutor(CLIENTS) as executor:
        list(executor.map(client, range(CLIENTS)))
    submit_seconds = time.monotonic() - started

    session = TimedSession()
    session.headers["X-Tapis-Token"] = token
    final: dict[str, dict] = {}
    while time.monotonic() - started < JOBS_BOUND and len(final) < len(submitted):
        for job_uuid in submitted:
            if job_uuid not in final:
                job = session.get(f"{base_url}/v3/jobs/{job_uuid}").json()["result"]
                if job["status"] in ENDED:
                    final[job_uuid] = job
        time.sleep(1)
    wall = time.monotonic() - started

    deserved = {u: "FAILED" if fails else "FINISHED" for u, (_, fails) in submitted.items()}
    wrong = {u: (job["status"], job["lastMessage"]) for u, job in final.items() if job["status"] != deserved[u]}
    missing = []
    for job_uuid in [u for u, state in deserved.items() if state == "FINISHED" and u in final][:40]:
        answer = session.get(f"{base_url}/v3/jobs/{job_uuid}/output/download/tapisjob.out")
        if answer.status_code != 200 or f"soak {job_uuid}".encode() not in answer.content:
            missing.append((job_uuid, submitted[job_uuid][0], answer.status_code, answer.content[:300]))
    stop_seconds = stop_process(proc, timeout=STOP_GRACE + 60)
    states = Counter(job["status"] for job in final.values())
    print(f"\nsoak ({pool} pool, concurrency 8): {len(submitted)} jobs "
          f"({sum(1 for s, _ in submitted.values() if s == vm)} VM fork, "
          f"{sum(1 for s, _ in submitted.values() if s == hpc)} Slurm) in {wall:.0f} s "
          f"(submitted in {submit_seconds:.0f} s); states {dict(states)}; "
          f"{sum(TimedSession.counts.values())} API requests, longest wait {TimedSession.longest:.2f} s; "
          f"worker stopped {stop_seconds:.1f} s after SIGTERM (grace {STOP_GRACE:g} s)")

    assert not errors, errors[:10]
    assert len(submitted) == JOBS
    assert len(final) == JOBS, f"{JOBS - len(final)} jobs not ended after {JOBS_BOUND:g} s"
    assert not wrong, list(wrong.items())[:10]
    assert not missing, missing
    assert TimedSession.longest < REQUEST_BOUND
    assert stop_seconds < STOP_GRACE + 15
    assert "keeps exiting" not in log_path.read_text()
