"""Pause and resume on the VM and the Slurm path: a paused job stops at a stage boundary (a queued Slurm job
is held with ``scontrol hold``) and resume continues it to FINISHED, the app having run exactly once."""

from __future__ import annotations

import pytest

from tests.integration.conftest import script_args, status_history, wait_for, wait_status

pytestmark = [pytest.mark.ssh]
ENDED = {"FINISHED", "FAILED", "CANCELLED"}


def test_pause_a_running_vm_job_stops_it_before_archiving(sif_app, host_shell):
    from dlws_flow import get_job, list_job_outputs, pause_job, resume_job, submit_job

    job = submit_job(name="pause-vm", appId=sif_app["id"], appVersion=sif_app["version"],
                     parameterSet=script_args('sleep 2; echo ran >> "$HOME/paused-$_tapisJobUUID"; echo out > "$_tapisExecSystemOutputDir/result.txt"'))
    wait_status(job["uuid"], {"RUNNING"})
    assert pause_job(job["uuid"])["status"] == "RUNNING"  # the app runs on; the job stops at the next boundary
    paused = wait_status(job["uuid"], {"PAUSED"} | ENDED)
    assert paused["status"] == "PAUSED", paused["lastMessage"]
    assert "before archive" in paused["lastMessage"]
    assert host_shell(f"cat ~/paused-{job['uuid']}").splitlines() == ["ran"]
    assert get_job(job["uuid"])["remoteEnded"] is not None

    resume_job(job["uuid"])
    done = wait_status(job["uuid"], ENDED)
    assert done["status"] == "FINISHED", done["lastMessage"]
    assert "result.txt" in [entry["name"] for entry in list_job_outputs(job["uuid"])]
    history = status_history(job["uuid"])
    assert history[-4:] == ["ARCHIVING", "PAUSED", "ARCHIVING", "FINISHED"]
    assert host_shell(f"cat ~/paused-{job['uuid']}").splitlines() == ["ran"]


def test_pause_before_launch_and_resume_through_the_cli(sif_app, host_shell):
    """Paused right after submission, the job stops before some stage; the CLI resumes it."""
    import subprocess
    import sys

    from dlws_flow import pause_job, submit_job

    job = submit_job(name="pause-early", appId=sif_app["id"], appVersion=sif_app["version"],
                     parameterSet=script_args('echo ran >> "$HOME/paused-early-$_tapisJobUUID"'))
    pause_job(job["uuid"])
    paused = wait_status(job["uuid"], {"PAUSED"} | ENDED)
    assert paused["status"] == "PAUSED", paused["lastMessage"]
    result = subprocess.run([sys.executable, "-m", "dlws_flow.cli", "jobs", "resume", job["uuid"]],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    done = wait_status(job["uuid"], ENDED)
    assert done["status"] == "FINISHED", done["lastMessage"]
    assert host_shell(f"cat ~/paused-early-{job['uuid']}").splitlines() == ["ran"]


@pytest.mark.slurm
def test_pause_holds_a_queued_slurm_job_and_resume_releases_it(sif_app, hpc_system, host_shell):
    from dlws_flow import get_job, pause_job, resume_job, submit_job

    blocker = host_shell("sbatch --parsable -p debug -o /dev/null --wrap 'sleep 300'").strip().split(";")[0]
    assert blocker.isdigit(), blocker
    try:
        job = submit_job(name="pause-slurm", appId=sif_app["id"], appVersion=sif_app["version"],
                         execSystemId=hpc_system["id"],
                         parameterSet={**script_args('echo ran >> "$HOME/paused-slurm-$_tapisJobUUID"'),
                                       "schedulerOptions": [{"arg": f"--dependency=afterany:{blocker}"}]})
        wait_status(job["uuid"], {"QUEUED"})
        pause_job(job["uuid"])
        paused = wait_status(job["uuid"], {"PAUSED"} | ENDED)
        assert paused["status"] == "PAUSED", paused["lastMessage"]
        slurm_id = get_job(job["uuid"])["remoteJobId"]
        # held: priority 0 and a user hold, so it stays pending even once its dependency is gone
        assert host_shell(f"squeue -h -j {slurm_id} -o '%t %r'").split()[0] == "PD"
        assert "held" in host_shell(f"scontrol show job {slurm_id} | grep -o 'Reason=[A-Za-z]*'").lower()
    finally:
        host_shell(f"scancel {blocker}")
    wait_for(lambda: host_shell(f"squeue -h -j {blocker} -o %t").strip() in ("", "CG"), "the blocker to end")
    assert host_shell(f"squeue -h -j {slurm_id} -o %t").strip() == "PD"

    resume_job(job["uuid"])
    done = wait_status(job["uuid"], ENDED, timeout=120)
    assert done["status"] == "FINISHED", done["lastMessage"]
    history = status_history(job["uuid"])
    paused_at = history.index("PAUSED")
    assert history[paused_at - 1:paused_at + 2] == ["QUEUED", "PAUSED", "QUEUED"] and history[-1] == "FINISHED"
    assert host_shell(f"cat ~/paused-slurm-{job['uuid']}").splitlines() == ["ran"]
