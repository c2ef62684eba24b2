"""BLOCKED and recovery on the real host: an sshd outage blocks jobs and they finish once it is back; a host
that never comes back fails its jobs when the policy expires; a system's job limit makes jobs wait."""

from __future__ import annotations

import pytest

from tests.integration.conftest import _free_port, host_service, script_args, status_history, wait_status

pytestmark = [pytest.mark.ssh]
ENDED = {"FINISHED", "FAILED", "CANCELLED"}


def _system_like(vm_system: dict, **changes) -> dict:
    from dlws_flow import add_system

    record = {**vm_system, **changes}
    add_system(record, replace=True)
    return record


def test_sshd_outage_blocks_jobs_and_recovery_finishes_them(sif_app, vm_system, host_shell):
    from dlws_flow import get_job, submit_job

    script = 'echo ran >> "$HOME/recovered-$_tapisJobUUID"'
    host_service("stop", "sshd")
    try:
        first = submit_job(name="outage-1", appId=sif_app["id"], appVersion=sif_app["version"],
                           parameterSet=script_args(script))
        blocked = wait_status(first["uuid"], {"BLOCKED"} | ENDED, timeout=60)
        assert blocked["status"] == "BLOCKED", blocked["lastMessage"]
        assert blocked["condition"] == "JOB_REMOTE_ACCESS_ERROR"
        assert "HOST_UNREACHABLE" in blocked["lastMessage"] and "stage_inputs" in blocked["lastMessage"]
        # While the condition is open, a new job of the same system blocks without trying the host itself.
        second = submit_job(name="outage-2", appId=sif_app["id"], appVersion=sif_app["version"],
                            parameterSet=script_args(script))
        assert wait_status(second["uuid"], {"BLOCKED"} | ENDED, timeout=60)["status"] == "BLOCKED"
        assert "is blocked (HOST_UNREACHABLE)" in get_job(second["uuid"])["lastMessage"]
    finally:
        host_service("start", "sshd")

    for job in (first, second):
        done = wait_status(job["uuid"], ENDED, timeout=120)
        assert done["status"] == "FINISHED", done["lastMessage"]
        history = status_history(job["uuid"])
        assert "BLOCKED" in history and history[-1] == "FINISHED"
        # resumed at the stage it blocked in: staging inputs, then on to the end
        assert "STAGING_INPUTS" in history[history.index("BLOCKED"):]
        assert host_shell(f"cat ~/recovered-{job['uuid']}").splitlines() == ["ran"]


def test_recovery_policy_expiry_fails_the_job_with_a_message(sif_app, vm_system):
    from dlws_flow import submit_job

    nowhere = _system_like(vm_system, id="vm-gone", port=_free_port(), recoveryPolicy="2x1")
    job = submit_job(name="never-back", appId=sif_app["id"], appVersion=sif_app["version"],
                     execSystemId=nowhere["id"], parameterSet=script_args("echo never"))
    done = wait_status(job["uuid"], ENDED, timeout=90)
    assert done["status"] == "FAILED"
    assert done["condition"] == "JOB_RECOVERY_TIMEOUT"
    assert "recovery policy 2x1 expired" in done["lastMessage"] and "vm-gone" in done["lastMessage"]
    assert status_history(job["uuid"])[-2:] == ["BLOCKED", "FAILED"]


def test_job_limit_makes_jobs_wait_not_fail(sif_app, vm_system, host_shell):
    """jobMaxJobs 1: three jobs run one after another (their start/end lines never interleave)."""
    from dlws_flow import submit_job

    limited = _system_like(vm_system, id="vm-one-at-a-time", jobMaxJobs=1)
    log = "$HOME/one-at-a-time.log"
    host_shell(f"rm -f {log}")
    script = f'echo "start $_tapisJobUUID" >> {log}; sleep 1; echo "end $_tapisJobUUID" >> {log}'
    jobs = [submit_job(name=f"limited-{i}", appId=sif_app["id"], appVersion=sif_app["version"],
                       execSystemId=limited["id"], parameterSet=script_args(script)) for i in range(3)]
    for job in jobs:
        done = wait_status(job["uuid"], ENDED, timeout=120)
        assert done["status"] == "FINISHED", done["lastMessage"]
    lines = host_shell(f"cat {log}").split("\n")[:-1]
    assert len(lines) == 6
    for start, end in zip(lines[::2], lines[1::2], strict=True):
        assert start.startswith("start ") and end == "end " + start.removeprefix("start ")
    waited = [job for job in jobs if "BLOCKED" in status_history(job["uuid"])]
    assert waited, "with one slot, at least one job must have waited"
    from dlws_flow import get_job_history

    messages = [e["description"] for job in waited for e in get_job_history(job["uuid"]) if e.get("newStatus") == "BLOCKED"]
    assert any("jobMaxJobs 1" in message for message in messages)


def test_connection_limit_holds_across_worker_processes(sif_app, vm_system, ssh_commands, host_shell):
    """maxConnections 1 on a host: the two worker processes take turns; their connections never overlap."""
    from dlws_flow import submit_job

    gated = _system_like(vm_system, id="vm-gated", host="localhost", maxConnections=1)
    mark = ssh_commands.mark()
    jobs = [submit_job(name=f"gated-{i}", appId=sif_app["id"], appVersion=sif_app["version"], execSystemId=gated["id"],
                       parameterSet=script_args("echo gated")) for i in range(4)]
    for job in jobs:
        done = wait_status(job["uuid"], ENDED, timeout=180)
        assert done["status"] == "FINISHED", done["lastMessage"]
    ours = [c for c in ssh_commands.since(mark) if any(job["uuid"] in c.command for job in jobs)]
    spans: dict[str, list[float]] = {}
    for command in ours:
        span = spans.setdefault(command.connection, [command.time, command.time])
        span[1] = command.time
    intervals = sorted(spans.values())
    assert intervals
    for (_, end), (start, _) in zip(intervals, intervals[1:]):
        assert end <= start, f"two connections to the gated host were in use at once: {intervals}"
