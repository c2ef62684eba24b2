"""GPUs (``gpuCount``, OpenPAI's ``gpuNumber``, DLWS' ``resourcegpu``) on hosts that have none: what reaches
the launch script, and Slurm's own refusal of a GPU job on a node without GPUs (docs/configuration.md)."""

from __future__ import annotations

import pytest

from tests.integration.conftest import script_args, wait_status

pytestmark = [pytest.mark.ssh, pytest.mark.slurm, pytest.mark.once]
ENDED = {"FINISHED", "FAILED", "CANCELLED"}


def test_a_gpu_batch_job_on_a_node_without_gres_fails_with_slurms_reason(sif_app, hpc_system, host_shell):
    from dlws_flow import submit_job

    job = submit_job(name="hpc-gpu", appId=sif_app["id"], appVersion=sif_app["version"],
                     execSystemId=hpc_system["id"], gpuCount=1, parameterSet=script_args("nvidia-smi"))
    done = wait_status(job["uuid"], ENDED, timeout=120)
    assert done["status"] == "FAILED" and done["gpuCount"] == 1
    assert "Invalid generic resource (gres) specification" in done["lastMessage"], done["lastMessage"]
    script = host_shell(f"cat ~/hpcwork/jobs/{job['uuid']}/tapisjob.sh")
    assert "#SBATCH --gres=gpu:1\n" in script and "singularity run --nv " in script
    assert done["remoteJobId"] is None  # Slurm never took it


def test_a_gpu_fork_job_runs_with_nv_on_a_system_that_declares_gpus(sif_app, vm_system, host_shell):
    from dlws_flow import add_system, submit_job
    from dlws_flow.errors import ValidationError

    add_system({**vm_system, "id": "vm-gpu", "notes": {"gpu": 1}}, replace=True)
    with pytest.raises(ValidationError, match="does not say how many GPUs"):
        submit_job(name="vm-gpu-undeclared", appId=sif_app["id"], appVersion=sif_app["version"],
                   execSystemId=vm_system["id"], gpuCount=1, parameterSet=script_args("true"))
    job = submit_job(name="vm-gpu", appId=sif_app["id"], appVersion=sif_app["version"], execSystemId="vm-gpu",
                     gpuCount=1, parameterSet=script_args("echo ran"))
    done = wait_status(job["uuid"], ENDED, timeout=90)
    assert done["status"] == "FINISHED", done["lastMessage"]
    # No NVIDIA driver on the test host: --nv binds nothing and the container runs (the system's notes vouch).
    assert "singularity run --nv " in host_shell(f"cat ~/workdir/jobs/{job['uuid']}/tapisjob.sh")
