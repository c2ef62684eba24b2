"""The seed's HPC flow on the real single-node Slurm: same app, an HPC exec system, schedulerOptions."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.conftest import script_args, wait_for, wait_status

pytestmark = [pytest.mark.ssh, pytest.mark.slurm]


@pytest.fixture(scope="module")
def hpc_system(hosts, worker):
    from dlws_flow import add_system

    record = {
        "id": "hpc-test", "host": hosts["DLWS_TEST_SSH_HOST"], "port": int(hosts["DLWS_TEST_SSH_PORT"]),
        "effectiveUserId": hosts["DLWS_TEST_SSH_USER"], "rootDir": "/home/hpcuser", "jobWorkingDir": "/hpcwork",
        "canExec": True, "canRunBatch": True, "batchScheduler": "SLURM", "batchDefaultLogicalQueue": "dev",
        "batchLogicalQueues": [{"name": "dev", "hpcQueueName": "debug"}, {"name": "normal", "hpcQueueName": "batch"}],
        "schedulerProfiles": [{"name": "tacc", "setupLines": ["export PROFILE_MARK=tacc-profile-loaded"]}],
        "hostKey": hosts["DLWS_TEST_SSH_HOST_KEY"],
        "authnCredential": {"privateKey": Path(hosts["DLWS_TEST_SSH_KEY"]).read_text()},
    }
    add_system(record, replace=True)
    return record


def test_seed_hpc_flow_reaches_finished(sif_app, hpc_system, host_shell):
    from dlws_flow import download_job_output, get_job_history, submit_job

    job = submit_job(name="img-classifier-job-hpc", appId=sif_app["id"], appVersion=sif_app["version"],
                     execSystemId=hpc_system["id"], execSystemLogicalQueue="normal",
                     parameterSet={**script_args('echo "in container $_tapisJobUUID profile=$PROFILE_MARK"'),
                                   "schedulerOptions": [{"arg": "--tapis-profile tacc"}, {"arg": "--account Frontera-Training"}]})
    done = wait_status(job["uuid"], {"FINISHED", "FAILED", "CANCELLED"}, timeout=120)
    assert done["status"] == "FINISHED", done["lastMessage"]
    out = download_job_output(job["uuid"], "tapisjob.out").decode()
    assert f"in container {job['uuid']} profile=tacc-profile-loaded" in out
    states = [e["newStatus"] for e in get_job_history(job["uuid"])]
    assert states[:5] == ["PENDING", "PROCESSING_INPUTS", "STAGING_INPUTS", "STAGING_JOB", "SUBMITTING_JOB"]
    assert states[-2:] == ["ARCHIVING", "FINISHED"] and "QUEUED" in states
    script = host_shell(f"cat ~/hpcwork/jobs/{job['uuid']}/tapisjob.sh")
    assert "#SBATCH --account Frontera-Training" in script and "#SBATCH --partition=batch" in script
    assert done["remoteNode"]


def test_slurm_app_exit_code(sif_app, hpc_system):
    from dlws_flow import submit_job

    job = submit_job(name="hpc-exit-3", appId=sif_app["id"], appVersion=sif_app["version"],
                     execSystemId=hpc_system["id"], parameterSet=script_args("exit 3"))
    done = wait_status(job["uuid"], {"FINISHED", "FAILED", "CANCELLED"}, timeout=120)
    assert done["status"] == "FAILED" and done["exitCode"] == 3


def test_scancel_through_cancel(sif_app, hpc_system, host_shell):
    from dlws_flow import cancel_job, submit_job

    job = submit_job(name="hpc-long", appId=sif_app["id"], appVersion=sif_app["version"],
                     execSystemId=hpc_system["id"], parameterSet=script_args("sleep 300"))
    running = wait_status(job["uuid"], {"RUNNING"}, timeout=120)
    cancel_job(job["uuid"])
    assert wait_status(job["uuid"], {"CANCELLED", "FAILED", "FINISHED"})["status"] == "CANCELLED"
    slurm_id = running["remoteJobId"]
    wait_for(lambda: host_shell(f"squeue -h -a -t all -j {slurm_id} -o %T").strip() == "CANCELLED",
             f"Slurm to report job {slurm_id} CANCELLED", timeout=20)
