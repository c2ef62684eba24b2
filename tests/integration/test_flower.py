"""Flower, started with ``dlws-flow flower``, lists every stage task of a job with the job's UUID."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest

from tests.integration.conftest import ROOT, script_args, wait_status

pytestmark = [pytest.mark.ssh, pytest.mark.flower]

STAGES = ["dlws.process_inputs", "dlws.stage_inputs", "dlws.stage_job", "dlws.submit", "dlws.monitor", "dlws.archive"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture()
def flower():
    port = _free_port()
    env = {**os.environ, "FLOWER_UNAUTHENTICATED_API": "true"}
    proc = subprocess.Popen([sys.executable, "-m", "dlws_flow.cli", "flower", f"--port={port}", "--address=127.0.0.1"],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/api/workers?refresh=1", timeout=5).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.3)
    else:
        os.killpg(proc.pid, signal.SIGKILL)
        pytest.fail("Flower did not start")
    yield base
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(timeout=20)


def test_flower_lists_stage_tasks_with_job_uuid(flower, sif_app):
    from dlws_flow import submit_job

    job = submit_job(name="flower-visible", appId=sif_app["id"], appVersion=sif_app["version"],
                     parameterSet=script_args("echo seen by flower"))
    assert wait_status(job["uuid"], {"FINISHED", "FAILED"})["status"] == "FINISHED"
    deadline = time.monotonic() + 30
    names: set[str] = set()
    while time.monotonic() < deadline:
        tasks = httpx.get(f"{flower}/api/tasks", params={"limit": 1000}, timeout=10).json()
        names = {t["name"] for t in tasks.values() if job["uuid"] in (t.get("args") or "")}
        if set(STAGES) <= names:
            break
        time.sleep(0.5)
    assert set(STAGES) <= names, f"Flower shows only {sorted(names)} for job {job['uuid']}"
