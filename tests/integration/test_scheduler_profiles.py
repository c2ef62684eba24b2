"""Tapis scheduler profiles on the real Slurm, driven through tapipy as a Tapis user would: a profile created
with ``createSchedulerProfile`` and named by ``--tapis-profile`` (or by the system's ``batchSchedulerProfile``)
puts its module loads into the batch script and leaves out the ``#SBATCH`` lines its ``hiddenOptions`` hide.

The test host has no Lmod, so the profiles' ``moduleLoadCommand`` is ``export``: the job's output shows the
line ran, and the value's space shows each word reached the shell quoted."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest

from tests.integration.conftest import api_user, script_args, tapis_client

pytestmark = [pytest.mark.ssh, pytest.mark.slurm]
MARK = "PROFILE_MODULES=loaded by a tapis profile"


@pytest.fixture(scope="module")
def user(api_server):
    return tapis_client(api_server, "prof_tapis_user", api_user("prof_tapis_user"))


def create_hpc_system(user, hosts, **fields) -> str:
    system_id = f"prof-hpc-{uuid.uuid4().hex[:6]}"
    user.systems.createSystem(
        id=system_id, systemType="LINUX", host=hosts["DLWS_TEST_SSH_HOST"], port=int(hosts["DLWS_TEST_SSH_PORT"]),
        effectiveUserId=hosts["DLWS_TEST_SSH_USER"], defaultAuthnMethod="PKI_KEYS", rootDir="/home/hpcuser",
        jobWorkingDir="/hpcwork", canExec=True, canRunBatch=True, batchScheduler="SLURM",
        batchLogicalQueues=[{"name": "dev", "hpcQueueName": "debug"}], batchDefaultLogicalQueue="dev",
        authnCredential={"privateKey": Path(hosts["DLWS_TEST_SSH_KEY"]).read_text()},
        notes={"hostKey": hosts["DLWS_TEST_SSH_HOST_KEY"]}, **fields)
    return system_id


def create_app(user, hosts, system_id: str) -> str:
    app_id = f"prof-app-{uuid.uuid4().hex[:6]}"
    user.apps.createAppVersion(id=app_id, version="0.1", containerImage=hosts["DLWS_TEST_SIF"], runtime="SINGULARITY",
                               jobType="BATCH", jobAttributes={"execSystemId": system_id, "maxMinutes": 5})
    return app_id


def create_profile(user, hidden: list[str]) -> str:
    name = f"prof-{uuid.uuid4().hex[:6]}"
    user.systems.createSchedulerProfile(name=name, description="exports a mark instead of loading modules",
                                        moduleLoads=[{"moduleLoadCommand": "export", "modulesToLoad": [MARK]}],
                                        hiddenOptions=hidden)
    return name


def wait_ended(user, job_uuid: str, timeout: float = 150.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = user.jobs.getJob(jobUuid=job_uuid)
        if job.status in ("FINISHED", "FAILED", "CANCELLED"):
            return job
        time.sleep(0.3)
    raise AssertionError(f"job {job_uuid} still {job.status}")


def sbatch_lines(host_shell, job_uuid: str) -> tuple[list[str], list[str]]:
    script = host_shell(f"cat ~/hpcwork/jobs/{job_uuid}/tapisjob.sh").splitlines()
    return script, [line for line in script if line.startswith("#SBATCH")]


def test_a_profile_named_by_the_job_loads_and_hides_mem(user, hosts, host_shell):
    system_id = create_hpc_system(user, hosts)
    app_id = create_app(user, hosts, system_id)
    name = create_profile(user, ["MEM"])
    shown = user.systems.getSchedulerProfile(name=name)
    assert shown.owner == "prof_tapis_user" and shown.hiddenOptions == ["MEM"]
    assert name in [p.name for p in user.systems.getSchedulerProfiles()]

    job = user.jobs.submitJob(name="profiled-hpc", appId=app_id, appVersion="0.1", execSystemId=system_id,
                              parameterSet={**script_args('echo "profile says: $PROFILE_MODULES"'),
                                            "schedulerOptions": [{"arg": f"--tapis-profile {name}"}]})
    done = wait_ended(user, job.uuid)
    assert done.status == "FINISHED", done.lastMessage
    output = user.jobs.getJobOutputDownload(jobUuid=job.uuid, outputPath="tapisjob.out")
    assert b"profile says: loaded by a tapis profile" in output
    script, sbatch = sbatch_lines(host_shell, job.uuid)
    assert f"export '{MARK}'" in script
    assert not [line for line in sbatch if line.startswith("#SBATCH --mem")], sbatch
    assert "#SBATCH --partition=debug" in sbatch and not [line for line in script if "tapis-profile" in line]


def test_the_systems_batch_scheduler_profile_hides_the_partition(user, hosts, host_shell):
    name = create_profile(user, ["PARTITION"])
    system_id = create_hpc_system(user, hosts, batchSchedulerProfile=name)
    app_id = create_app(user, hosts, system_id)
    job = user.jobs.submitJob(name="defaulted-profile", appId=app_id, appVersion="0.1", execSystemId=system_id,
                              parameterSet=script_args('echo "profile says: $PROFILE_MODULES"'))
    done = wait_ended(user, job.uuid)
    assert done.status == "FINISHED", done.lastMessage
    assert b"profile says: loaded by a tapis profile" in user.jobs.getJobOutputDownload(jobUuid=job.uuid,
                                                                                       outputPath="tapisjob.out")
    _, sbatch = sbatch_lines(host_shell, job.uuid)
    assert not [line for line in sbatch if line.startswith("#SBATCH --partition")], sbatch
    assert "#SBATCH --mem=100M" in sbatch


def test_a_missing_or_deleted_profile_is_refused_at_submit(user, hosts):
    from tapipy import errors

    system_id = create_hpc_system(user, hosts)
    app_id = create_app(user, hosts, system_id)
    name = create_profile(user, [])
    with pytest.raises(errors.BaseTapyException, match="already exists"):
        user.systems.createSchedulerProfile(name=name, moduleLoads=[{"moduleLoadCommand": "export"}])
    assert user.systems.deleteSchedulerProfile(name=name).changes == 1
    with pytest.raises(errors.NotFoundError):
        user.systems.getSchedulerProfile(name=name)
    with pytest.raises(errors.BadRequestError, match=f"scheduler profile '{name}' does not exist"):
        user.jobs.submitJob(name="no-profile", appId=app_id, appVersion="0.1", execSystemId=system_id,
                            parameterSet={"schedulerOptions": [{"arg": f"--tapis-profile {name}"}]})
