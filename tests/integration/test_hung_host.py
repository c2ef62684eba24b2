"""A host that accepts the connection and then stops answering mid-command (scripts/testhosts:
command-log.sh freezes after a chosen command has run).

Each test runs its own thread-pool worker (the pool ``dlws-flow up`` runs) on a queue of its own, with
short SSH timeouts, and a system whose ``workerQueue`` sends its jobs there.
"""

from __future__ import annotations

import os
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.integration.conftest import (
    WORKER_ENV,
    _start,
    script_args,
    status_history,
    stop_process,
    wait_for,
    wait_status,
)

pytestmark = [pytest.mark.ssh]
ENDED = {"FINISHED", "FAILED", "CANCELLED"}


def _thread_worker(queue: str, log_name: str, **settings: str):
    env = {**os.environ, **WORKER_ENV, **settings}
    command = [sys.executable, "-m", "celery", "-A", "workers", "worker", "-l", "info", "--pool", "threads", "-c", "4",
               "-Q", queue, "-n", f"{queue}@%h"]
    return _start(command, env, Path(os.environ["DLWS_DATA_DIR"]) / log_name)


def _system_on(vm_system: dict, queue: str, token: str) -> dict:
    from dlws_flow import add_system

    record = {**vm_system, "id": f"vm-hung-{token}", "jobWorkingDir": f"/hung-{token}", "workerQueue": queue}
    add_system(record, replace=True)
    return record


def _launches(ssh_commands, mark: int, token: str) -> list:
    return [c for c in ssh_commands.since(mark) if f"hung-{token}" in c.command and "nohup setsid" in c.command]


def test_a_host_that_freezes_mid_launch_blocks_the_job_which_recovers_and_runs_once(
        sif_app, vm_system, host_freezer, host_shell, ssh_commands):
    from dlws_flow import submit_job

    token = uuid.uuid4().hex[:8]
    queue = f"{os.environ['DLWS_QUEUE']}.hung-{token}"
    system = _system_on(vm_system, queue, token)
    proc = _thread_worker(queue, f"worker-hung-{token}.log", DLWS_SSH_COMMAND_TIMEOUT="3", DLWS_BLOCK_AFTER_RETRIES="1")
    try:
        host_freezer.freeze_after(f"*hung-{token}*nohup setsid*")
        mark = ssh_commands.mark()
        job = submit_job(name="hung-launch", appId=sif_app["id"], appVersion=sif_app["version"], execSystemId=system["id"],
                         parameterSet=script_args(f'echo ran >> "$HOME/hung-{token}.runs"'))
        blocked = wait_status(job["uuid"], {"BLOCKED"} | ENDED, timeout=90)
        assert blocked["status"] == "BLOCKED", blocked["lastMessage"]
        assert "no answer within 3 s after sending a command; it may have run" in blocked["lastMessage"]
        assert host_freezer.frozen
        # Two stage attempts (DLWS_BLOCK_AFTER_RETRIES=1), each sent the launch once: never re-sent blindly.
        assert len(_launches(ssh_commands, mark, token)) == 2
        host_freezer.thaw()
        done = wait_status(job["uuid"], ENDED, timeout=120)
        assert done["status"] == "FINISHED", done["lastMessage"]
        history = status_history(job["uuid"])
        assert history[history.index("BLOCKED") + 1:][:1] == ["SUBMITTING_JOB"] and history[-1] == "FINISHED"
        assert host_shell(f"cat ~/hung-{token}.runs") == "ran\n"  # the app ran once, though launched in a freeze
    finally:
        host_freezer.thaw()
        stop_process(proc)


def test_a_worker_stuck_on_a_frozen_host_stops_within_its_grace_and_the_job_goes_on(
        sif_app, vm_system, host_freezer, host_shell):
    """SIGTERM while a stage waits on a host that answers nothing (command timeout 120 s): the worker exits
    within DLWS_WORKER_STOP_GRACE; the stage's message is kept, and a worker started later finishes the job."""
    from dlws_flow import get_job, submit_job

    token = uuid.uuid4().hex[:8]
    queue = f"{os.environ['DLWS_QUEUE']}.stop-{token}"
    system = _system_on(vm_system, queue, token)
    settings = {"DLWS_SSH_COMMAND_TIMEOUT": "120", "DLWS_WORKER_STOP_GRACE": "3"}
    proc = _thread_worker(queue, f"worker-stop-{token}.log", **settings)
    try:
        host_freezer.freeze_after(f"*hung-{token}*nohup setsid*")
        job = submit_job(name="stuck-at-stop", appId=sif_app["id"], appVersion=sif_app["version"], execSystemId=system["id"],
                         parameterSet=script_args(f'echo ran >> "$HOME/hung-{token}.runs"'))
        wait_for(lambda: host_freezer.frozen, "the host to freeze during the launch", timeout=60)
        time.sleep(0.5)
        took = stop_process(proc, timeout=60)
        assert took < 3 + 10, f"the worker took {took:.1f} s to stop (grace 3 s)"
        assert get_job(job["uuid"])["status"] not in ENDED
        host_freezer.thaw()
        proc = _thread_worker(queue, f"worker-stop-{token}.log", **settings)
        done = wait_status(job["uuid"], ENDED, timeout=120)
        assert done["status"] == "FINISHED", done["lastMessage"]
        assert host_shell(f"cat ~/hung-{token}.runs") == "ran\n"
    finally:
        host_freezer.thaw()
        stop_process(proc)
