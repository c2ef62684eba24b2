import subprocess

import pytest

from dlws_flow.adapters.schedulers.base import RemoteJob, RemoteState, ScriptRequest
from dlws_flow.adapters.schedulers.fork import ForkScheduler
from dlws_flow.errors import SchedulerAnswerError
from tests.schedulers.answers import answer

REQUEST = ScriptRequest(job_uuid="u", job_name="n", exec_dir="/tmp/x y", stdout_path="/tmp/x y/out/tapisjob.out",
                        stderr_path="/tmp/x y/out/tapisjob.out", container_command="singularity run img", env_file="/tmp/x y/tapisjob.env")


def test_script_exports_env_runs_container_and_records_exit_code():
    script = ForkScheduler().build_script(REQUEST)
    assert script.startswith("#!/bin/bash\n")
    assert "cd '/tmp/x y'" in script
    assert "set -a; . '/tmp/x y/tapisjob.env'; set +a" in script
    assert script.index("set -a") < script.index("singularity run img") < script.index("tapisjob.exitcode")


def test_submit_command_is_guarded_and_background_is_a_simple_command():
    command = ForkScheduler().build_submit_command(REQUEST)
    assert "if mkdir .tapisjob.launched" in command
    assert "nohup setsid ./tapisjob.sh > '/tmp/x y/out/tapisjob.out' 2>&1 < /dev/null & echo $! > tapisjob.pid" in command


def test_parse_status_lines():
    jobs = [RemoteJob("11", "/a"), RemoteJob("12", "/b"), RemoteJob("13", "/c")]
    statuses = ForkScheduler().parse_status_output(answer("11 RUNNING\n12 DONE 3\n13 GONE\n"), jobs)
    assert statuses["11"].state == RemoteState.RUNNING
    assert statuses["12"].state == RemoteState.DONE and statuses["12"].exit_code == 3
    assert statuses["13"].state == RemoteState.FAILED


def test_status_command_covers_all_jobs_in_one_shell(tmp_path):
    done, running = tmp_path / "done", tmp_path / "run"
    done.mkdir(), running.mkdir()
    (done / "tapisjob.exitcode").write_text("0\n")
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        jobs = [RemoteJob("999999", str(done)), RemoteJob(str(sleeper.pid), str(running)), RemoteJob("999998", str(tmp_path))]
        out = subprocess.run(["bash", "-c", ForkScheduler().build_status_command(jobs)], capture_output=True, text=True).stdout
        statuses = ForkScheduler().parse_status_output(answer(out), jobs)
    finally:
        sleeper.kill()
    assert statuses["999999"].exit_code == 0
    assert statuses[str(sleeper.pid)].state == RemoteState.RUNNING
    assert statuses["999998"].state == RemoteState.FAILED



def test_a_launch_that_prints_no_process_id_cannot_be_read():
    with pytest.raises(SchedulerAnswerError, match="did not print a process id"):
        ForkScheduler().parse_submit_output(answer("nohup: failed\n"))
    assert ForkScheduler().parse_submit_output(answer("4242\n")) == "4242"
