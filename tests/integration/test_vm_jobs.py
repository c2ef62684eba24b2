"""The spine, end to end on the real SSH test host with a real SIF image, worker, broker and database."""

from __future__ import annotations

import io
import uuid
import zipfile

import pytest

from tests.integration.conftest import script_args, wait_for, wait_status

pytestmark = pytest.mark.ssh

LIFECYCLE = ["PENDING", "PROCESSING_INPUTS", "STAGING_INPUTS", "STAGING_JOB", "SUBMITTING_JOB", "RUNNING",
             "ARCHIVING", "FINISHED"]


@pytest.fixture(scope="module")
def store_system(hosts, vm_system, host_shell):
    """A second registered system (a storage area on the same host) for tapis:// inputs."""
    from dlws_flow import add_system

    host_shell("mkdir -p ~/store/data && printf 'from-tapis-system\\n' > ~/store/data/in.txt")
    record = {**vm_system, "id": "store-test", "rootDir": "/home/hpcuser/store", "canExec": False}
    add_system(record, replace=True)
    return record


def test_full_job_on_vm(sif_app, store_system, http_files, host_shell):
    from dlws_flow import download_job_output, get_job_history, list_job_outputs, submit_job

    folder, base_url = http_files
    (folder / "greeting.txt").write_text("from-http\n")
    script = (
        'echo "uuid=$_tapisJobUUID"; echo "myvar=$MY_VAR"; echo "outdir=$_tapisExecSystemOutputDir"; '
        'cat "$_tapisExecSystemInputDir/greeting.txt" "$_tapisExecSystemInputDir/sub/in.txt"; '
        'cd "$_tapisExecSystemOutputDir" && echo kept > result.txt && echo skipped > skip-me.txt '
        '&& echo log > notes.log && mkdir -p deep && echo nested > deep/more.txt'
    )
    job = submit_job(
        name="spine-full", appId=sif_app["id"], appVersion=sif_app["version"],
        execSystemExecDir="${JobWorkingDir}/runs/${JobUUID}",
        execSystemOutputDir="${ExecSystemExecDir}/results",
        # Archiving to the exec system now leaves outputs in place by default (issue 16); this test is about
        # copying them, with filters, into an archive dir.
        archiveSystemDir="/jobs/${JobUUID}/archive",
        fileInputs=[{"name": "web", "sourceUrl": f"{base_url}/greeting.txt"},
                    {"name": "stored", "sourceUrl": "tapis://store-test/data/in.txt", "targetPath": "sub/in.txt"}],
        parameterSet={**script_args(script), "envVariables": [{"key": "MY_VAR", "value": "it's $(not) run; really"}],
                      "archiveFilter": {"includes": ["*.txt"], "excludes": ["skip-*"], "includeLaunchFiles": True}},
    )
    uuid_ = job["uuid"]
    assert job["execSystemExecDir"] == f"/workdir/runs/{uuid_}"
    assert job["execSystemOutputDir"] == f"/workdir/runs/{uuid_}/results"
    assert job["archiveSystemDir"] == f"/jobs/{uuid_}/archive"
    done = wait_status(uuid_, {"FINISHED", "FAILED", "CANCELLED"})
    assert done["status"] == "FINISHED", done["lastMessage"]
    assert [e["newStatus"] for e in get_job_history(uuid_)] == LIFECYCLE

    out = download_job_output(uuid_, "tapisjob.out").decode()
    assert f"uuid={uuid_}" in out
    assert "myvar=it's $(not) run; really" in out
    assert f"outdir=/home/hpcuser/workdir/runs/{uuid_}/results" in out
    assert "from-http" in out and "from-tapis-system" in out

    names = {entry["path"] for entry in list_job_outputs(uuid_)}
    assert {"result.txt", "deep/more.txt", "tapisjob.out", "tapisjob.sh", "tapisjob.env"} <= names
    assert "skip-me.txt" not in names and "notes.log" not in names
    assert host_shell(f"cat ~/jobs/{uuid_}/archive/result.txt").strip() == "kept"

    archive = zipfile.ZipFile(io.BytesIO(download_job_output(uuid_, "")))
    zipped = set(archive.namelist())
    assert "archive/result.txt" in zipped and "archive/deep/more.txt" in zipped
    assert archive.read("archive/deep/more.txt") == b"nested\n"
    assert download_job_output(uuid_, "deep/more.txt") == b"nested\n"


def test_failing_app_ends_failed_with_exit_code(sif_app):
    from dlws_flow import submit_job

    job = submit_job(name="exits-3", appId=sif_app["id"], appVersion=sif_app["version"],
                     parameterSet=script_args("echo about to fail; exit 3"))
    done = wait_status(job["uuid"], {"FINISHED", "FAILED", "CANCELLED"})
    assert done["status"] == "FAILED"
    assert done["exitCode"] == 3
    assert "code 3" in done["lastMessage"]


def test_cancel_running_job_kills_it_on_the_host(sif_app, host_shell):
    from dlws_flow import cancel_job, submit_job

    marker = f"sleep {400 + uuid.uuid4().int % 500}"
    job = submit_job(name="long", appId=sif_app["id"], appVersion=sif_app["version"], parameterSet=script_args(marker))
    wait_status(job["uuid"], {"RUNNING"})
    wait_for(lambda: marker in _processes(host_shell, marker), "the app's process to start")
    cancel_job(job["uuid"])
    done = wait_status(job["uuid"], {"CANCELLED", "FINISHED", "FAILED"})
    assert done["status"] == "CANCELLED"
    assert marker not in _processes(host_shell, marker)


def _processes(host_shell, pattern: str) -> str:
    return host_shell(f"pgrep -u hpcuser -a {pattern.split()[0]} | grep -F '{pattern}' || true")


def test_cancel_pending_job_without_worker_progress(sif_app):
    from dlws_flow import cancel_job, submit_job

    job = submit_job(name="cancel-early", appId=sif_app["id"], appVersion=sif_app["version"],
                     parameterSet=script_args("sleep 30"))
    cancel_job(job["uuid"])
    done = wait_status(job["uuid"], {"CANCELLED", "FINISHED", "FAILED"})
    assert done["status"] == "CANCELLED"


def test_worker_killed_after_launch_does_not_launch_twice(sif_app, host_shell, fault_dir):
    """The worst moment: the app is started on the host, the worker dies before recording it.
    The broker re-delivers the submit task; the stage finds the launch marker and does not start it again."""
    from dlws_flow import submit_job
    from dlws_flow.engine import stages

    (fault_dir / "after_launch").write_text("kill the worker process once")
    job = submit_job(name="crash-after-launch", appId=sif_app["id"], appVersion=sif_app["version"],
                     parameterSet=script_args('echo launched >> "$HOME/launches-$_tapisJobUUID"'))
    done = wait_status(job["uuid"], {"FINISHED", "FAILED", "CANCELLED"}, timeout=180)
    assert done["status"] == "FINISHED", done["lastMessage"]
    assert not (fault_dir / "after_launch").exists(), "the fault was never triggered"
    assert host_shell(f"cat ~/launches-{job['uuid']}").splitlines() == ["launched"]

    # Re-deliver every stage again after the fact: nothing runs twice, nothing moves backwards.
    for stage in (stages.process_inputs, stages.stage_inputs, stages.stage_job, stages.submit, stages.archive):
        assert stage(job["uuid"]) == stages.Outcome.STOP
    assert stages.monitor(job["uuid"]).outcome == stages.Outcome.STOP
    assert host_shell(f"cat ~/launches-{job['uuid']}").splitlines() == ["launched"]
    assert wait_status(job["uuid"], {"FINISHED"})["status"] == "FINISHED"


def test_changed_host_key_is_refused(sif_app, vm_system):
    import paramiko

    from dlws_flow import add_system, submit_job

    other = paramiko.Ed25519Key.from_private_key(io.StringIO(_fresh_ed25519()))
    add_system({**vm_system, "id": "vm-wrong-key", "hostKey": f"{other.get_name()} {other.get_base64()}"}, replace=True)
    job = submit_job(name="bad-key", appId=sif_app["id"], appVersion=sif_app["version"], execSystemId="vm-wrong-key",
                     parameterSet=script_args("echo should not run"))
    done = wait_status(job["uuid"], {"FINISHED", "FAILED", "CANCELLED"})
    assert done["status"] == "FAILED"
    assert "host key" in done["lastMessage"] and "changed" in done["lastMessage"]


def _fresh_ed25519() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    return Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()).decode()


def test_bad_requests_are_refused_with_a_message(sif_app):
    from dlws_flow import list_jobs, submit_job
    from dlws_flow.errors import NotFoundError, ValidationError

    before = len(list_jobs(limit=1000))
    with pytest.raises(ValidationError, match="reserved"):
        submit_job(name="x", appId=sif_app["id"], appVersion="1.0",
                   parameterSet={"envVariables": [{"key": "_tapisJobUUID", "value": "forged"}]})
    with pytest.raises(ValidationError, match="loop"):
        submit_job(name="x", appId=sif_app["id"], appVersion="1.0",
                   execSystemInputDir="${ExecSystemOutputDir}/in", execSystemOutputDir="${ExecSystemInputDir}/out")
    with pytest.raises(ValidationError, match=r"\.\."):
        submit_job(name="x", appId=sif_app["id"], appVersion="1.0", execSystemExecDir="/workdir/../../etc")
    with pytest.raises(NotFoundError):
        submit_job(name="x", appId="no-such-app", appVersion="1.0")
    with pytest.raises(ValidationError, match="appVersion"):
        submit_job(name="x", appId=sif_app["id"])
    assert len(list_jobs(limit=1000)) == before


def test_outputs_cannot_escape_their_root(sif_app):
    from dlws_flow import download_job_output, list_job_outputs, submit_job
    from dlws_flow.errors import DlwsFlowError

    job = submit_job(name="symlinker", appId=sif_app["id"], appVersion=sif_app["version"],
                     parameterSet=script_args('ln -s /etc/passwd "$_tapisExecSystemOutputDir/passwd.txt"; echo ok'))
    assert wait_status(job["uuid"], {"FINISHED", "FAILED"})["status"] == "FINISHED"
    with pytest.raises(DlwsFlowError):
        download_job_output(job["uuid"], "../../../etc/passwd")
    with pytest.raises(DlwsFlowError):
        download_job_output(job["uuid"], "passwd.txt")
    archive = zipfile.ZipFile(io.BytesIO(download_job_output(job["uuid"], "")))
    assert all("root:" not in archive.read(n).decode(errors="replace") for n in archive.namelist())
    assert any(e["path"] == "passwd.txt" for e in list_job_outputs(job["uuid"]))




def test_host_eval_is_expanded_on_the_exec_host(sif_app, host_shell):
    from dlws_flow import get_job, submit_job

    job = submit_job(name="host-eval", appId=sif_app["id"], appVersion=sif_app["version"],
                     execSystemExecDir="HOST_EVAL($HOME)/hosteval/${JobUUID}",
                     parameterSet=script_args('echo "exec=$_tapisExecSystemExecDir"'))
    assert job["execSystemExecDir"].startswith("HOST_EVAL($HOME)/hosteval/")
    done = wait_status(job["uuid"], {"FINISHED", "FAILED"})
    assert done["status"] == "FINISHED", done["lastMessage"]
    assert get_job(job["uuid"])["execSystemExecDir"] == f"/hosteval/{job['uuid']}"
    assert host_shell(f"test -f ~/hosteval/{job['uuid']}/tapisjob.sh && echo yes").strip() == "yes"
