"""A fork job's ``maxMinutes``: the watchdog the launch script starts, and the TIMEOUT its status command reports.
The script runs here under a real bash with a short limit (the real one is a minute and more: see
``tests/integration/test_job_semantics.py``)."""

import os
import signal
import subprocess
import time

from dlws_flow.adapters.schedulers.base import RemoteJob, RemoteState, ScriptRequest
from dlws_flow.adapters.schedulers.fork import TIMEOUT_FILE, ForkScheduler
from tests.schedulers.answers import answer


def request(exec_dir: str, command: str, max_minutes: int = 1) -> ScriptRequest:
    return ScriptRequest(job_uuid="u", job_name="n", exec_dir=exec_dir, stdout_path=f"{exec_dir}/out",
                         stderr_path=f"{exec_dir}/out", container_command=command, env_file=f"{exec_dir}/tapisjob.env",
                         max_minutes=max_minutes)


def launch(tmp_path, command: str, seconds: int) -> subprocess.Popen:
    """``tapisjob.sh`` with its limit cut to ``seconds``, started as the fork launch starts it (its own session)."""
    (tmp_path / "tapisjob.env").write_text("")
    script = ForkScheduler().build_script(request(str(tmp_path), command)).replace("SECONDS + 60", f"SECONDS + {seconds}")
    (tmp_path / "tapisjob.sh").write_text(script)
    return subprocess.Popen(["bash", str(tmp_path / "tapisjob.sh")], start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def test_script_starts_a_watchdog_for_the_limit_before_the_app():
    script = ForkScheduler().build_script(request("/tmp/x y", "singularity run img", max_minutes=7))
    assert "end=$((SECONDS + 420))" in script and "kill -TERM -- -$$" in script
    assert script.index("kill -TERM -- -$$") < script.index("singularity run img")
    assert "_tapisTimeoutMark='/tmp/x y/.tapisjob.timedout'" in script
    assert "SECONDS" not in ForkScheduler().build_script(request("/tmp/x", "true", max_minutes=0))


def test_job_past_its_limit_is_stopped_and_reported_naming_it(tmp_path):
    proc = launch(tmp_path, "sleep 120", seconds=1)
    try:
        proc.wait(timeout=30)  # the watchdog looks every 5 s, then stops the whole process group
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert (tmp_path / TIMEOUT_FILE).read_text().strip() == "1"
    assert not (tmp_path / "tapisjob.exitcode").exists()
    jobs = [RemoteJob(str(proc.pid), str(tmp_path))]
    out = subprocess.run(["bash", "-c", ForkScheduler().build_status_command(jobs)], check=False, capture_output=True, text=True).stdout
    assert out.split() == [str(proc.pid), "TIMEOUT", "1"]
    status = ForkScheduler().parse_status_output(answer(out), jobs)[str(proc.pid)]
    assert status.state == RemoteState.FAILED and "maxMinutes (1)" in status.reason


def test_job_within_its_limit_ends_normally_and_the_watchdog_leaves(tmp_path):
    proc = launch(tmp_path, "true", seconds=60)
    proc.wait(timeout=10)
    assert (tmp_path / "tapisjob.exitcode").read_text().strip() == "0"
    time.sleep(0.5)
    group = subprocess.run(["pgrep", "-g", str(proc.pid), "-f", "tapisjob.sh"], check=False, capture_output=True, text=True).stdout
    assert group.strip() == "", f"the watchdog outlived its job: {group}"
    assert not (tmp_path / TIMEOUT_FILE).exists()
