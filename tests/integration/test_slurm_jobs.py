"""The seed's HPC flow on the real single-node Slurm: same app, an HPC exec system, schedulerOptions."""

from __future__ import annotations

import pytest

from tests.integration.conftest import WORKER_PROCESSES, script_args, wait_for, wait_status

pytestmark = [pytest.mark.ssh, pytest.mark.slurm]
IN_FLIGHT = {"QUEUED", "RUNNING"}
ENDED = {"FINISHED", "FAILED", "CANCELLED"}


@pytest.fixture(scope="module", autouse=True)
def overtime_job(sif_app, hpc_system):
    """Submitted first, checked last: Slurm enforces time limits only every ~30 s, so a job over its one
    minute takes 60-100 s to be killed; the other tests of this module run meanwhile."""
    from dlws_flow import submit_job

    job = submit_job(name="hpc-overtime", appId=sif_app["id"], appVersion=sif_app["version"],
                     execSystemId=hpc_system["id"], maxMinutes=1, parameterSet=script_args("sleep 600"))
    wait_status(job["uuid"], IN_FLIGHT, timeout=60)  # submitted, so no later fault injection can hit it
    return job


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


def test_redelivered_submit_does_not_create_a_second_slurm_job(sif_app, hpc_system, host_shell, fault_dir):
    """The worker dies right after sbatch, before recording the Slurm id; the broker re-delivers the
    submit task, which finds tapisjob.slurmid (or the comment marker) instead of calling sbatch again."""
    from dlws_flow import submit_job
    from dlws_flow.engine import stages

    (fault_dir / "after_launch").write_text("kill the worker process once")
    job = submit_job(name="hpc-crash-after-sbatch", appId=sif_app["id"], appVersion=sif_app["version"],
                     execSystemId=hpc_system["id"],
                     parameterSet=script_args('echo launched >> "$HOME/launches-$_tapisJobUUID"'))
    done = wait_status(job["uuid"], ENDED, timeout=180)
    assert done["status"] == "FINISHED", done["lastMessage"]
    assert not (fault_dir / "after_launch").exists(), "the fault was never triggered"
    assert stages.submit(job["uuid"]) == stages.Outcome.STOP
    comments = host_shell("squeue -h -a -t all -u hpcuser -o %k").split()
    assert comments.count(f"dlws-{job['uuid']}") == 1
    assert host_shell(f"cat ~/launches-{job['uuid']}").splitlines() == ["launched"]


def test_a_submit_retried_after_sbatch_finds_the_job_by_its_comment(sif_app, hpc_system, host_shell):
    """An attempt that got as far as sbatch but never recorded the id (killed mid-command) leaves the
    submitting marker; the retry looks the job up in squeue instead of calling sbatch again."""
    from dlws_flow import submit_job
    from dlws_flow.adapters.schedulers.base import ScriptRequest
    from dlws_flow.adapters.schedulers.slurm import SLURM_ID_FILE, SUBMIT_MARKER, SlurmScheduler
    from dlws_flow.store import repositories as repo
    from dlws_flow.store.db import session_scope

    job = submit_job(name="hpc-lost-id", appId=sif_app["id"], appVersion=sif_app["version"],
                     execSystemId=hpc_system["id"], parameterSet=script_args("true"))
    done = wait_status(job["uuid"], ENDED, timeout=180)
    assert done["status"] == "FINISHED", done["lastMessage"]
    with session_scope() as session:
        exec_dir = repo.get_job(session, job["uuid"]).host_dirs["ExecSystemExecDir"]
    assert host_shell(f"cd {exec_dir} && ls -a").split().count(SUBMIT_MARKER) == 1
    host_shell(f"rm {exec_dir}/{SLURM_ID_FILE}")  # as if the first attempt died between sbatch and the record
    request = ScriptRequest(job_uuid=job["uuid"], job_name="x", exec_dir=exec_dir, stdout_path="o", stderr_path="e",
                            container_command="true")
    again = host_shell(SlurmScheduler().build_submit_command(request)).strip()
    assert again == done["remoteJobId"]
    comments = host_shell("squeue -h -a -t all -u hpcuser -o %k").split()
    assert comments.count(f"dlws-{job['uuid']}") == 1


def test_fifty_jobs_share_one_squeue_per_poll(sif_app, hpc_system, host_shell, ssh_commands, overtime_job):
    """50 jobs in flight on one Slurm system: every status poll is one squeue naming all of them, and
    the number of SSH connections stays at one per worker process (docs/configuration.md)."""
    from dlws_flow import get_job, submit_job
    from dlws_flow.store import repositories as repo
    from dlws_flow.store.db import session_scope

    release = f"/home/hpcuser/release-{overtime_job['uuid']}"
    start = ssh_commands.mark()
    jobs = [submit_job(name=f"fifty-{n}", appId=sif_app["id"], appVersion=sif_app["version"],
                       execSystemId=hpc_system["id"],
                       parameterSet=script_args(f"while [ ! -e {release} ]; do sleep 0.2; done; echo job {n}"))
            for n in range(50)]

    def statuses() -> list[dict]:
        return [get_job(job["uuid"]) for job in jobs]

    wait_for(lambda: all(j["status"] in IN_FLIGHT for j in statuses()), "all 50 jobs queued or running", timeout=180)
    fifty_ids = {j["remoteJobId"] for j in statuses()}
    assert len(fifty_ids) == 50

    def polls() -> int:
        with session_scope() as session:
            return repo.poll_count(session, hpc_system["id"], "hpcuser")

    steady, polls_before = ssh_commands.mark(), polls()
    wait_for(lambda: polls() >= polls_before + 3, "three more polls of the Slurm system", timeout=60)
    polls_after = polls()
    # The host may serve other clients too (a benchmark, another run): only commands about these jobs count.
    status_calls = [c for c in ssh_commands.since(steady) if "squeue -h -a -r -t all -j " in c.command
                    and fifty_ids & set(c.command.split("squeue -h -a -r -t all -j ", 1)[1].split()[0].split(","))]
    # A poll claimed just before the first mark may land after it, one claimed before the last read not yet.
    assert polls_after - polls_before - 1 <= len(status_calls) <= polls_after - polls_before + 1, status_calls
    for call in status_calls:
        named = set(call.command.split("squeue -h -a -r -t all -j ", 1)[1].split()[0].split(","))
        assert fifty_ids <= named, "a poll left some of the 50 jobs out"
    print(f"\n50 jobs in flight: {polls_after - polls_before} polls, {len(status_calls)} squeue status commands")

    host_shell(f"touch {release}")
    wait_for(lambda: all(j["status"] in ENDED for j in statuses()), "all 50 jobs ended", timeout=300)
    assert {j["status"] for j in statuses()} == {"FINISHED"}
    window = ssh_commands.since(start)
    ours = {job["uuid"] for job in jobs}  # exec dirs carry the job uuid
    connections = {c.connection for c in window if any(key in c.command for key in ours)} - {host_shell.connection}
    print(f"50 jobs, whole lifecycle: {len(window)} SSH commands over {len(connections)} connections")
    assert len(connections) <= WORKER_PROCESSES


@pytest.mark.once  # a minute of waiting for a limit neither the database nor the broker changes
def test_over_max_minutes_fails_with_timeout(overtime_job):
    done = wait_status(overtime_job["uuid"], ENDED, timeout=240)
    assert done["status"] == "FAILED"
    assert "TIMEOUT" in done["lastMessage"] and "maxMinutes" in done["lastMessage"], done["lastMessage"]
