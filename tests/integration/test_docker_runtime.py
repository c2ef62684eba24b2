"""DOCKER apps on the real test host: Debian's podman, rootless as the test user, answering the ``docker`` CLI
(scripts/testhosts/up.sh puts ``docker`` -> podman first on the login's PATH, and a busybox image built
locally into its store). FORK on the VM system and BATCH through Slurm, to FINISHED and cancelled mid-run."""

from __future__ import annotations

import shlex
import uuid

import pytest

from tests.integration.conftest import script_args, wait_for, wait_status

pytestmark = [pytest.mark.ssh, pytest.mark.slurm]
ENDED = {"FINISHED", "FAILED", "CANCELLED"}


@pytest.fixture(scope="module")
def docker_app(hosts, vm_system, hpc_system):
    """Tapis' own kind of app: ``runtime: DOCKER`` and an image reference (here the host's local image)."""
    from dlws_flow import add_app

    record = {"id": "busybox-docker", "version": "1.0", "runtime": "DOCKER",
              "containerImage": hosts["DLWS_TEST_DOCKER_IMAGE"],
              "jobAttributes": {"execSystemId": vm_system["id"], "maxMinutes": 5}}
    add_app(record, replace=True)
    return record


def containers(host_shell, job_uuid: str) -> str:
    """The names of the test user's containers (running or not) named after the job, one a line."""
    name = shlex.quote(f"^{job_uuid}$")
    return host_shell(f"podman ps -a --filter name={name} --format '{{{{.Names}}}}' 2>&1").strip()


APP_SCRIPT = (
    'echo "uuid=$_tapisJobUUID"; echo "myvar=$MY_VAR"; echo "uid=$(id -u)"; echo "cwd=$(pwd)"; '
    'echo kept > /TapisOutput/result.txt; ls /TapisExec/tapisjob.sh; echo "on stderr" >&2'
)


def check_finished_job(job: dict, host_shell, exec_root: str) -> str:
    from dlws_flow import download_job_output, list_job_outputs

    done = wait_status(job["uuid"], ENDED, timeout=180)
    assert done["status"] == "FINISHED", done["lastMessage"]
    out = download_job_output(job["uuid"], "tapisjob.out").decode()
    uid = host_shell("id -u").strip()
    assert f"uuid={job['uuid']}" in out
    assert "myvar=it's $(not) run; \"really\"" in out  # passed by name: nothing evaluated it
    assert f"uid={uid}" in out  # the login's own id, not root
    assert "cwd=/TapisOutput" in out  # containerArgs reached docker run
    assert "/TapisExec/tapisjob.sh" in out and "on stderr" in out
    owner = host_shell(f"stat -c %U {exec_root}/jobs/{job['uuid']}/output/result.txt").strip()
    assert owner == "hpcuser"  # written in the container, owned by the login on the host
    assert "result.txt" in {entry["path"] for entry in list_job_outputs(job["uuid"])}
    assert containers(host_shell, job["uuid"]) == ""  # --rm
    return out


def parameters() -> dict:
    return {**script_args(APP_SCRIPT), "containerArgs": [{"arg": "-w /TapisOutput"}],
            "envVariables": [{"key": "MY_VAR", "value": "it's $(not) run; \"really\""}]}


def test_docker_app_on_the_vm_system(docker_app, host_shell):
    from dlws_flow import submit_job

    job = submit_job(name="docker-vm", appId=docker_app["id"], appVersion=docker_app["version"],
                     jobType="FORK", parameterSet=parameters())
    check_finished_job(job, host_shell, "~/workdir")
    script = host_shell(f"cat ~/workdir/jobs/{job['uuid']}/tapisjob.sh")
    assert f"docker run --rm --name {job['uuid']} --user" in script


def test_docker_app_on_slurm(docker_app, hpc_system, host_shell):
    from dlws_flow import submit_job

    job = submit_job(name="docker-hpc", appId=docker_app["id"], appVersion=docker_app["version"],
                     execSystemId=hpc_system["id"], jobType="BATCH", parameterSet=parameters())
    check_finished_job(job, host_shell, "~/hpcwork")
    assert wait_status(job["uuid"], ENDED)["remoteNode"]


def test_docker_app_exit_code(docker_app):
    from dlws_flow import submit_job

    job = submit_job(name="docker-exit-3", appId=docker_app["id"], appVersion=docker_app["version"],
                     parameterSet=script_args("echo about to fail; exit 3"))
    done = wait_status(job["uuid"], ENDED, timeout=120)
    assert done["status"] == "FAILED" and done["exitCode"] == 3, done


@pytest.mark.parametrize("where", ["vm", "slurm"])
def test_cancel_stops_and_removes_the_container(where, docker_app, hpc_system, host_shell):
    """``sleep`` as the container's PID 1 ignores SIGTERM, and the container runs under podman's conmon,
    outside the launch script's process group and Slurm's process tracking: only a stop by name ends it."""
    from dlws_flow import cancel_job, submit_job

    marker = f"sleep {300 + uuid.uuid4().int % 300}"
    extra = {"execSystemId": hpc_system["id"], "jobType": "BATCH"} if where == "slurm" else {"jobType": "FORK"}
    job = submit_job(name=f"docker-long-{where}", appId=docker_app["id"], appVersion=docker_app["version"],
                     parameterSet=script_args(marker), **extra)
    wait_status(job["uuid"], {"RUNNING"}, timeout=120)
    wait_for(lambda: containers(host_shell, job["uuid"]) == job["uuid"], "the job's container to start", timeout=60)
    cancel_job(job["uuid"])
    done = wait_status(job["uuid"], ENDED, timeout=60)
    assert done["status"] == "CANCELLED", done["lastMessage"]
    wait_for(lambda: containers(host_shell, job["uuid"]) == "", "the job's container to be gone", timeout=60)
    assert marker not in host_shell(f"pgrep -u hpcuser -a sleep | grep -F {shlex.quote(marker)} || true")
