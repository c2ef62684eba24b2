"""Scale-out: two more worker processes, each consuming only its own queue, and two systems whose
``workerQueue`` names those queues. Each system's jobs run on its own worker, and all of them finish.

In the PostgreSQL + RabbitMQ pass of ``make test`` this is the production layout in small (docs/operations.md).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.integration.conftest import ROOT, WORKER_ENV, script_args, wait_status

pytestmark = [pytest.mark.ssh]
ENDED = {"FINISHED", "FAILED", "CANCELLED"}
JOBS_PER_SYSTEM = 6


@pytest.fixture(scope="module")
def queue_workers(hosts, worker):
    """One single-process worker per queue, named after its queue, logging to its own file."""
    base = os.environ["DLWS_QUEUE"]
    queues = {side: f"{base}.{side}" for side in ("east", "west")}
    data_dir = Path(os.environ["DLWS_DATA_DIR"])
    procs, logs = {}, {}
    for side, queue in queues.items():
        logs[side] = data_dir / f"worker-{side}.log"
        with open(logs[side], "wb") as log:
            procs[side] = subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "workers", "worker", "-l", "info", "-c", "1", "-Q", queue,
                 "-n", f"{side}-{uuid.uuid4().hex[:6]}@%h"],
                cwd=ROOT, env={**os.environ, **WORKER_ENV}, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    yield queues, logs
    for proc in procs.values():
        os.killpg(proc.pid, signal.SIGTERM)
    for proc in procs.values():
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def test_jobs_of_two_systems_run_on_their_own_workers(sif_app, vm_system, queue_workers):
    from dlws_flow import add_system, submit_job

    queues, logs = queue_workers
    jobs: dict[str, list[str]] = {}
    for side, queue in queues.items():
        add_system({**vm_system, "id": f"vm-{side}", "workerQueue": queue}, replace=True)
    for i in range(JOBS_PER_SYSTEM):  # interleaved, as two user communities would submit
        for side in queues:
            job = submit_job(name=f"{side}-{i}", appId=sif_app["id"], appVersion=sif_app["version"],
                             execSystemId=f"vm-{side}", parameterSet=script_args(f"echo {side}"))
            jobs.setdefault(side, []).append(job["uuid"])
    for uuids in jobs.values():
        for job_uuid in uuids:
            done = wait_status(job_uuid, ENDED, timeout=120)
            assert done["status"] == "FINISHED", done["lastMessage"]

    ran_on: dict[str, set[str]] = {}
    for side, log in logs.items():
        for task, job_uuid in re.findall(r"Task dlws\.(\w+)\[[^]]+\] succeeded in [^:]+: '([^']+)'", log.read_text()):
            ran_on.setdefault(job_uuid, set()).add(side)
            assert task in {"process_inputs", "stage_inputs", "stage_job", "submit", "monitor", "archive"}
    shared_log = (Path(os.environ["DLWS_DATA_DIR"]) / "worker.log").read_text()
    for side, uuids in jobs.items():
        for job_uuid in uuids:
            assert job_uuid not in shared_log, f"job {job_uuid} ran on the default queue's worker"
            assert ran_on.get(job_uuid) == {side}, f"job {job_uuid} of vm-{side} ran on {ran_on.get(job_uuid)}"
    print(f"\nscale-out: {JOBS_PER_SYSTEM} jobs per system; "
          + ", ".join(f"worker {side} ran {sum(1 for u in jobs[side] if ran_on.get(u) == {side})}" for side in queues))
