"""A sweep on the real single-node Slurm goes out as one job array: one ``sbatch --array`` for all its
elements, each element still a job of its own (its UUID, history, exit code, outputs), one ``squeue`` for the
array per poll, and cancelling the sweep cancels the array on Slurm."""

from __future__ import annotations

import pytest

from tests.integration.conftest import script_args, wait_for, wait_status

pytestmark = [pytest.mark.ssh, pytest.mark.slurm]
ENDED = {"FINISHED", "FAILED", "CANCELLED"}


def _sweep(sif_app, hpc_system, script: str, **extra) -> dict:
    from dlws_flow import submit_sweep

    return submit_sweep({"name": "array-it", **extra,
                         "job": {"appId": sif_app["id"], "appVersion": sif_app["version"],
                                 "execSystemId": hpc_system["id"], "parameterSet": script_args(script)},
                         "parameters": {"N": {"start": 0, "stop": 4}}})


def test_a_slurm_sweep_is_one_array_of_jobs_with_their_own_history_and_outputs(sif_app, hpc_system, ssh_commands,
                                                                                host_shell):
    from dlws_flow import download_job_output, get_job, get_job_history, get_sweep

    mark = ssh_commands.mark()
    sweep = _sweep(sif_app, hpc_system, 'echo "n=$N index=$DLWS_SWEEP_INDEX"; [ "$N" != 2 ] || exit 3')
    assert sweep["launch"] == "array" and sweep["size"] == 4
    done = [wait_status(e["uuid"], ENDED, timeout=180) for e in sweep["jobs"]]
    assert [d["status"] for d in done] == ["FINISHED", "FINISHED", "FAILED", "FINISHED"], [d["lastMessage"] for d in done]
    assert done[2]["exitCode"] == 3
    array_ids = {d["remoteJobId"].split("_")[0] for d in done}
    assert len(array_ids) == 1 and [d["remoteJobId"].split("_")[1] for d in done] == ["0", "1", "2", "3"]
    for index, element in enumerate(sweep["jobs"]):
        states = [e["newStatus"] for e in get_job_history(element["uuid"]) if e.get("newStatus")]
        assert states[:6] == ["PENDING", "PROCESSING_INPUTS", "STAGING_INPUTS", "STAGING_JOB", "SUBMITTING_JOB",
                              "QUEUED"], states
        output = download_job_output(element["uuid"], "tapisjob.out").decode().strip().splitlines()[-1]
        assert output == f"n={index} index={index}"
        # Archived together by the poll that saw them end, as each job's own archive would: the launch files
        # in its outputs, the env file without the family token.
        archived_env = download_job_output(element["uuid"], "tapisjob.env").decode()
        assert f"N={index}" in archived_env and "FAMILY_TOKEN" not in archived_env
        assert b"tapisjob.out" in download_job_output(element["uuid"], "tapisjob.sh")
        assert get_job(element["uuid"])["remoteNode"]
    commands = [c.command for c in ssh_commands.since(mark)]
    assert sum(c.count("sbatch --parsable") for c in commands) == 1, "one sbatch for the whole sweep"
    squeues = [c for c in commands if "squeue -h -a -r -t all -j" in c]
    assert squeues and all(f"-j {next(iter(array_ids))} " in c or f",{next(iter(array_ids))} " in c for c in squeues)
    assert get_sweep(sweep["id"])["statusCounts"] == {"FINISHED": 3, "FAILED": 1}
    script = host_shell(f"cat ~/hpcwork/sweeps/{sweep['id']}/array-0.sh")
    assert "#SBATCH --array=0-3" in script and "#SBATCH --partition=debug" in script


def test_cancelling_the_sweep_cancels_its_array_on_slurm(sif_app, hpc_system, host_shell):
    from dlws_flow import get_sweep
    from dlws_flow.client import cancel_sweep

    sweep = _sweep(sif_app, hpc_system, "sleep 300", maxConcurrent=1)
    assert sweep["launch"] == "array" and sweep["maxConcurrent"] == 1
    running = wait_status(sweep["jobs"][0]["uuid"], {"RUNNING"}, timeout=120)
    array_id = running["remoteJobId"].split("_")[0]
    assert "%1" in host_shell(f"cat ~/hpcwork/sweeps/{sweep['id']}/array-0.sh")
    # Throttled to one: the other three wait in Slurm's queue as tasks of the same array.
    assert host_shell(f"squeue -h -r -j {array_id} -t PENDING -o %i | wc -l").strip() == "3"
    assert cancel_sweep(sweep["id"])["changed"] == 4
    for element in sweep["jobs"]:
        assert wait_status(element["uuid"], ENDED, timeout=30)["status"] == "CANCELLED"
    wait_for(lambda: host_shell(f"squeue -h -r -j {array_id} -t PENDING,RUNNING -o %i").strip() == "",
             "the array to leave Slurm's queue", timeout=60)
    assert get_sweep(sweep["id"])["statusCounts"] == {"CANCELLED": 4}


class LostMessages:
    """A dispatcher whose messages never arrive, as when the broker restarts without them."""

    def start(self, job_uuid: str, queue: str | None = None) -> None:
        pass

    def start_sweep(self, sweep_id: str, queue: str | None = None) -> None:
        pass


def test_a_lost_launch_is_sent_again_once_for_the_sweep_and_submits_once(sif_app, hpc_system, ssh_commands):
    from dlws_flow.client import _operator
    from dlws_flow.engine import reconcile
    from dlws_flow.services import sweeps
    from workers.dispatch import CeleryDispatcher

    sweep = sweeps.submit_sweep(_operator(None), {
        "name": "lost-launch", "job": {"appId": sif_app["id"], "appVersion": sif_app["version"],
                                       "execSystemId": hpc_system["id"], "parameterSet": script_args("echo $N")},
        "parameters": {"N": [1, 2, 3]}}, LostMessages())
    elements = {e["uuid"] for e in sweep["jobs"]}
    restarts = [r for r in reconcile.find_stalled(stall_seconds=0) if r.job_uuid in elements]
    assert [(r.stage, r.sweep_id) for r in restarts] == [("launch_sweep", sweep["id"])]
    mark = ssh_commands.mark()
    CeleryDispatcher().sweep_stage(sweep["id"], "launch_sweep")
    CeleryDispatcher().sweep_stage(sweep["id"], "launch_sweep")  # a duplicate is harmless
    for element in sweep["jobs"]:
        assert wait_status(element["uuid"], ENDED, timeout=120)["status"] == "FINISHED"
    assert sum(c.command.count("sbatch --parsable") for c in ssh_commands.since(mark)) == 1
