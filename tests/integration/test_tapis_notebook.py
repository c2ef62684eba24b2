"""The Tapis seed notebook (../shared/seeds/tapis-jobs.md) as a Tapis user runs it: tapipy only, against the
service started as the README starts it (``dlws-flow up`` in the SQLite + Redis pass, the systemd units'
commands in the PostgreSQL + RabbitMQ pass), with systems, credentials, a scheduler profile and an app written
as the Tapis documentation writes them: no ``hostKey``, no ``notes``, nothing of ours.

What the test hosts cannot copy is the image (no registry: a local Singularity image instead of
``docker://tapis/img-classify:0.1``) and Lmod (the profile's ``module load`` line runs and fails with "command
not found", which the script carries on from, as a Tapis job does)."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest

from tests.integration.conftest import api_user, script_args, tapis_client

pytestmark = [pytest.mark.ssh, pytest.mark.slurm]
RUN = uuid.uuid4().hex[:6]


@pytest.fixture(scope="module")
def client(api_server):
    return tapis_client(api_server, f"nb_user_{RUN}", api_user(f"nb_user_{RUN}"))


def create_system(client, hosts, system_id: str, **batch) -> str:
    client.systems.createSystem(
        id=system_id, description="Tapis training system", systemType="LINUX", host=hosts["DLWS_TEST_SSH_HOST"],
        port=int(hosts["DLWS_TEST_SSH_PORT"]), effectiveUserId=hosts["DLWS_TEST_SSH_USER"],
        defaultAuthnMethod="PKI_KEYS", rootDir="/", canExec=True, jobWorkingDir="HOST_EVAL($HOME)",
        jobRuntimes=[{"runtimeType": "SINGULARITY"}], **batch)
    key = Path(hosts["DLWS_TEST_SSH_KEY"])
    client.systems.createUserCredential(systemId=system_id, userName=client.username, privateKey=key.read_text(),
                                        publicKey=Path(f"{key}.pub").read_text())
    return system_id


@pytest.fixture(scope="module")
def systems(client, hosts):
    vm = create_system(client, hosts, f"nb-vm-{RUN}")
    profile = f"tacc-{RUN}"
    client.systems.createSchedulerProfile(
        name=profile, description="Profile for the training cluster",
        moduleLoads=[{"moduleLoadCommand": "module load", "modulesToLoad": ["tacc-singularity"]}],
        hiddenOptions=["MEM"])
    hpc = create_system(client, hosts, f"nb-hpc-{RUN}", canRunBatch=True, batchScheduler="SLURM",
                        batchLogicalQueues=[{"name": "tapisNormal", "hpcQueueName": "debug", "maxJobs": 50,
                                             "maxJobsPerUser": 10, "minNodeCount": 1, "maxNodeCount": 1,
                                             "minCoresPerNode": 1, "maxCoresPerNode": 2, "minMemoryMB": 1,
                                             "maxMemoryMB": 1024, "minMinutes": 1, "maxMinutes": 60}],
                        batchDefaultLogicalQueue="tapisNormal")
    return vm, hpc, profile


@pytest.fixture(scope="module")
def app_id(client, hosts, systems):
    app_id = f"img-classify-{RUN}"
    client.apps.createAppVersion(
        id=app_id, version="0.0.1", description="Image classifier run as container", runtime="SINGULARITY",
        containerImage=hosts["DLWS_TEST_SIF"],
        jobAttributes={"description": "default job description", "execSystemId": systems[0],
                       "parameterSet": {"appArgs": [], "containerArgs": [], "schedulerOptions": []},
                       "memoryMB": 1, "nodeCount": 1, "coresPerNode": 1, "maxMinutes": 10})
    return app_id


def wait_ended(client, job_uuid: str, timeout: float = 180.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = client.jobs.getJobStatus(jobUuid=job_uuid).status
        if status in ("FINISHED", "FAILED", "CANCELLED"):
            return status
        time.sleep(0.3)
    raise AssertionError(f"job {job_uuid} is still {status}")


def test_the_seed_notebook_runs_unchanged_on_a_vm_and_on_slurm(client, systems, app_id, host_shell):
    vm, hpc, profile = systems
    pa = {"parameterSet": script_args('echo "classified $_tapisJobUUID by $_tapisJobOwner on $(hostname)"')}
    job_vm = client.jobs.submitJob(name="img-classifier-job-vm", description="image classifier", appId=app_id,
                                   execSystemId=vm, appVersion="0.0.1", **pa)
    assert wait_ended(client, job_vm.uuid) == "FINISHED", client.jobs.getJob(jobUuid=job_vm.uuid).lastMessage
    assert job_vm.uuid in [j.uuid for j in client.jobs.getJobList()]
    output_vm = client.jobs.getJobOutputDownload(jobUuid=job_vm.uuid, outputPath="tapisjob.out")
    assert f"classified {job_vm.uuid} by {client.username}".encode() in output_vm

    pa["parameterSet"]["schedulerOptions"] = [{"arg": f"--tapis-profile {profile}"},
                                              {"arg": "--account Frontera-Training"}]
    job_hpc = client.jobs.submitJob(name="img-classifier-job-hpc", description="image classifier", appId=app_id,
                                    execSystemId=hpc, appVersion="0.0.1", **pa)
    assert wait_ended(client, job_hpc.uuid) == "FINISHED", client.jobs.getJob(jobUuid=job_hpc.uuid).lastMessage
    output_hpc = client.jobs.getJobOutputDownload(jobUuid=job_hpc.uuid, outputPath="tapisjob.out")
    assert f"classified {job_hpc.uuid} by {client.username}".encode() in output_hpc

    # The job ran as a Slurm batch job with the profile's module line and without the hidden --mem.
    job = client.jobs.getJob(jobUuid=job_hpc.uuid)
    assert job.jobType == "BATCH" and job.remoteJobId.isdigit()
    script = host_shell(f"cat {job.execSystemExecDir}/tapisjob.sh")
    assert "module load tacc-singularity" in script and "#SBATCH --mem" not in script
    assert "#SBATCH --account=Frontera-Training" in script or "#SBATCH --account Frontera-Training" in script

    # No archive settings: outputs stay in the exec system's output dir (Tapis' default), under rootDir "/".
    assert job.archiveSystemDir == job.execSystemOutputDir
    history = [e.eventDetail for e in client.jobs.getJobHistory(jobUuid=job_hpc.uuid)]
    assert history[0] == "PENDING" and history[-1] == "FINISHED" and "QUEUED" in history


def test_systems_written_without_a_host_key_show_the_key_pinned_at_first_use(client, systems, app_id):
    for system_id in systems[:2]:
        system = client.systems.getSystem(systemId=system_id)
        assert (getattr(system, "hostKeyFingerprint", None) or "").startswith("SHA256:"), system
