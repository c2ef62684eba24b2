"""Chaos: more than 100 jobs on the VM and Slurm test systems while the deployment falls over around them.

While the jobs run, the test SIGKILLs a worker pool process three times, restarts the broker once, stops
sshd for 30 s once and restarts slurmctld once. Afterwards every job must have reached the terminal state
its app deserves (exit 0: FINISHED, exit 3: FAILED), every app must have run exactly once (each appends one
line to a per-job file on the host), every finished job's output must be in its archive, and no job may be
left non-terminal. The test prints these counts.

It runs in the PostgreSQL + RabbitMQ pass of ``make test`` (marker ``chaos``): the production stack.
"""

from __future__ import annotations

import subprocess
import time
from collections import Counter

import pytest

from tests.integration.conftest import ROOT, host_service, script_args

pytestmark = [pytest.mark.ssh, pytest.mark.slurm, pytest.mark.chaos, pytest.mark.timeout(900)]
ENDED = {"FINISHED", "FAILED", "CANCELLED"}
WAVES = 4
VM_PER_WAVE = 14
SLURM_PER_WAVE = 13
SSHD_OUTAGE_SECONDS = 30


def _kill_a_pool_process(worker) -> int:
    """SIGKILL one prefork child of the test worker (as the OOM killer would); the master replaces it."""
    from workers.app import app

    # A worker busy with a wave of jobs may answer the broadcast late: ask again, up to six times.
    for _ in range(6):
        stats = app.control.inspect(timeout=5).stats() or {}
        pids = [pid for node in stats.values() for pid in node.get("pool", {}).get("processes", [])]
        if pids:
            break
    assert pids, f"no pool processes reported: {stats}"
    victim = pids[0]
    subprocess.run(["kill", "-KILL", str(victim)], check=True)
    return victim


def _restart_broker() -> str:
    from dlws_flow.settings import get_settings

    url = get_settings().broker_url
    if url.startswith("amqp"):
        subprocess.run(["rabbitmqctl", "stop_app"], check=True, capture_output=True)
        subprocess.run(["rabbitmqctl", "start_app"], check=True, capture_output=True)
        return "rabbitmq"
    if url.startswith("redis"):
        subprocess.run(["redis-cli", "shutdown", "nosave"], capture_output=True)  # queued messages are lost
        subprocess.run(["bash", str(ROOT / "scripts/services-up.sh")], check=True, capture_output=True)
        return "redis"
    pytest.skip(f"no broker restart for {url}")


def _submit_wave(wave: int, sif_app, vm_system, hpc_system) -> list[tuple[dict, bool]]:
    from dlws_flow import submit_job

    jobs = []
    for system, count in ((vm_system, VM_PER_WAVE), (hpc_system, SLURM_PER_WAVE)):
        for i in range(count):
            fails = i % 7 == 3
            script = ('echo ran >> "$HOME/chaos/$_tapisJobUUID"; sleep 2; '
                      'echo "$_tapisJobUUID" > "$_tapisExecSystemOutputDir/result.txt"' + ("; exit 3" if fails else ""))
            job = submit_job(name=f"chaos-{wave}-{i}", appId=sif_app["id"], appVersion=sif_app["version"],
                             execSystemId=system["id"], archiveOnAppError=False, parameterSet=script_args(script))
            jobs.append((job, fails))
    return jobs


def test_jobs_survive_worker_kills_broker_restart_sshd_outage_and_slurmctld_restart(
        sif_app, vm_system, hpc_system, host_shell, worker):
    from dlws_flow import get_job

    host_shell("mkdir -p ~/chaos")
    started = time.monotonic()
    at = lambda: time.monotonic() - started  # noqa: E731
    jobs: list[tuple[dict, bool]] = []
    faults: list[str] = []

    jobs += _submit_wave(0, sif_app, vm_system, hpc_system)
    time.sleep(2)
    faults.append(f"{at():5.1f}s SIGKILL pool process {_kill_a_pool_process(worker)}")
    faults.append(f"{at():5.1f}s restart broker ({_restart_broker()})")
    jobs += _submit_wave(1, sif_app, vm_system, hpc_system)
    time.sleep(3)
    faults.append(f"{at():5.1f}s SIGKILL pool process {_kill_a_pool_process(worker)}")
    host_service("stop", "sshd")
    faults.append(f"{at():5.1f}s sshd stopped")
    try:
        jobs += _submit_wave(2, sif_app, vm_system, hpc_system)
        time.sleep(SSHD_OUTAGE_SECONDS - 2)
    finally:
        host_service("start", "sshd")
    faults.append(f"{at():5.1f}s sshd started")
    jobs += _submit_wave(3, sif_app, vm_system, hpc_system)
    time.sleep(2)
    faults.append(f"{at():5.1f}s SIGKILL pool process {_kill_a_pool_process(worker)}")
    host_service("stop", "slurmctld")
    host_service("start", "slurmctld")
    faults.append(f"{at():5.1f}s slurmctld restarted")

    deadline = time.monotonic() + 420
    final: dict[str, dict] = {}
    while time.monotonic() < deadline and len(final) < len(jobs):
        for job, _ in jobs:
            if job["uuid"] not in final:
                current = get_job(job["uuid"])
                if current["status"] in ENDED:
                    final[job["uuid"]] = current
        time.sleep(1)

    uuids = [job["uuid"] for job, _ in jobs]
    lines = {}
    for line in host_shell("cd ~/chaos && for f in *; do echo \"$f $(wc -l < \"$f\")\"; done").splitlines():
        name, _, count = line.partition(" ")
        lines[name] = int(count)
    archived = set(host_shell("for d in " + " ".join(
        f"/home/hpcuser{final[u]['archiveSystemDir']}" for u in uuids if u in final and final[u]["status"] == "FINISHED")
        + "; do cat \"$d/result.txt\" 2>/dev/null; done").split())

    states = Counter(final[u]["status"] if u in final else get_job(u)["status"] for u in uuids)
    deserved = {job["uuid"]: ("FAILED" if fails else "FINISHED") for job, fails in jobs}
    wrong = {u: (final[u]["status"], final[u]["lastMessage"]) for u in uuids if u in final and final[u]["status"] != deserved[u]}
    ran = Counter(lines.get(u, 0) for u in uuids)
    missing_output = [u for u in uuids if deserved[u] == "FINISHED" and u not in archived]
    blocked_on_the_way = sum(1 for u in uuids if (final.get(u) or {}).get("blockedCount"))
    print(f"\nchaos: {len(jobs)} jobs ({WAVES * VM_PER_WAVE} VM, {WAVES * SLURM_PER_WAVE} Slurm) in {at():.0f} s")
    for fault in faults:
        print(f"  fault {fault}")
    print(f"  final states: {dict(states)}; deserved: {dict(Counter(deserved.values()))}")
    print(f"  app runs per job: {dict(ran)}; jobs blocked on the way: {blocked_on_the_way}")
    print(f"  wrong terminal state: {len(wrong)}; missing outputs: {len(missing_output)}; "
          f"non-terminal: {len(jobs) - len(final)}")

    assert len(final) == len(jobs), f"non-terminal: {[u for u in uuids if u not in final]}"
    assert not wrong, wrong
    assert ran == Counter({1: len(jobs)}), ran
    assert not missing_output, missing_output
