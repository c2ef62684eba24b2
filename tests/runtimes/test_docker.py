"""The DOCKER runtime's command line, and what bash makes of it inside a real launch script.

The script tests run the launch script (``ForkScheduler.build_script``) with bash, with a ``docker`` on PATH
that records its arguments and the values of the variables it is told to pass (``-e NAME``): that is the
shell's half of the contract (quoting, the environment, the exit code, the trap). A real engine answering
the ``docker`` CLI runs the other half in tests/integration/test_docker_runtime.py.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import time
from pathlib import Path

import pytest

from dlws_flow.adapters.registry import create
from dlws_flow.adapters.runtimes import LaunchRequest
from dlws_flow.adapters.runtimes.docker import container_name
from dlws_flow.adapters.schedulers import ScriptRequest
from dlws_flow.domain.environment import render_env_file
from dlws_flow.domain.records import ArgSpec
from dlws_flow.errors import ValidationError

UUID = "0b6f6e3c-8a4e-4a55-9a57-2f4c1d0e9b11-007"


def request(**changes) -> LaunchRequest:
    values = {"image": "localhost/busybox:latest", "env_file": "/jobs/x/tapisjob.env", "job_uuid": UUID,
              "exec_dir": "/jobs/x", "input_dir": "/jobs/x", "output_dir": "/jobs/x/output",
              "env_names": ["_tapisJobUUID", "MY_VAR"]}
    return LaunchRequest(**{**values, **changes})


def docker_words(command: str) -> list[str]:
    """The words of the ``docker run`` part (before the ``&`` that backgrounds it)."""
    run, _, rest = command.partition(" & ")
    assert rest.startswith("trap ") and rest.endswith("; wait $!")
    return shlex.split(run)


def test_command_line_as_tapis_launches_it():
    words = ArgSpec(arg="sh -c 'echo $MY_VAR; $(rm -rf ~)' ;reboot").words()
    command = create("runtime", "DOCKER").build_command(
        request(app_args=words, container_args=ArgSpec(arg="-w /TapisOutput --network none").words()))
    assert docker_words(command) == [
        "docker", "run", "--rm", "--name", UUID, "--user", "$(id -u):$(id -g)",
        "-v", "/jobs/x:/TapisExec", "-v", "/jobs/x:/TapisInput", "-v", "/jobs/x/output:/TapisOutput",
        "-e", "_tapisJobUUID", "-e", "MY_VAR",
        "-w", "/TapisOutput", "--network", "none",  # containerArgs before the image,
        "localhost/busybox:latest",
        "sh", "-c", "echo $MY_VAR; $(rm -rf ~)", ";reboot",  # appArgs after it, each word quoted
    ]
    assert '--user "$(id -u):$(id -g)"' in command  # the one word the shell expands: the login's ids
    assert f"trap 'docker stop -t 5 {UUID} >/dev/null 2>&1' HUP INT TERM" in command


@pytest.mark.parametrize("args", [
    ["--name", "x"], ["--name=x"], ["--rm"], ["-d"], ["--detach"], ["-dit"], ["-itd"], ["-e", "A=1"], ["-eA=1"],
    ["--env", "A=1"], ["--env=A=1"], ["-u", "0"], ["-u0"], ["--user=root"], ["--cidfile", "/tmp/c"],
])
def test_reserved_options_are_refused(args):
    with pytest.raises(ValidationError, match="containerArgs: .* reserved"):
        create("runtime", "DOCKER").build_command(request(container_args=args))


@pytest.mark.parametrize("args", [
    ["-it"], ["-w", "/TapisOutput"], ["-w/data"], ["--workdir=/d"], ["--env-file", "my.env"], ["-v", "/a:/b"],
    ["--network=none"], ["-m", "512m"], ["--entrypoint", "/bin/sh"],
])
def test_other_options_pass(args):
    command = create("runtime", "DOCKER").build_command(request(container_args=args))
    words = docker_words(command)
    assert words[words.index("localhost/busybox:latest") - len(args):words.index("localhost/busybox:latest")] == args


def test_refusals_name_what_is_wrong():
    runtime = create("runtime", "DOCKER")
    with pytest.raises(ValidationError, match="mounted .* without ':'"):
        runtime.build_command(request(output_dir="/jobs/a:b"))
    with pytest.raises(ValidationError, match="absolute"):
        runtime.build_command(request(input_dir="relative/dir"))
    with pytest.raises(ValidationError, match="containerImage"):
        runtime.build_command(request(image="--privileged"))
    with pytest.raises(ValidationError, match="environment variable name"):
        runtime.build_command(request(env_names=["A B"]))


def test_container_name_and_stop_command():
    assert container_name(UUID) == UUID
    assert container_name("-x y") == "tapis--x_y"
    stop = create("runtime", "DOCKER").build_stop_command(UUID)
    assert stop == (f"docker stop -t 10 {UUID} >/dev/null 2>&1; docker rm -f {UUID} >/dev/null 2>&1; true")
    for other in ("SINGULARITY", "APPTAINER", "ZIP"):
        assert create("runtime", other).build_stop_command(UUID) is None


# A stand-in for the ``docker`` CLI: ``run`` records its argument words and the values of the ``-e`` names
# (from its own environment, as docker does), then sleeps $FAKE_SLEEP and exits $FAKE_EXIT; ``stop`` records
# that it was called.
FAKE_DOCKER = r"""#!/usr/bin/env python3
import json, os, sys, time
log = os.environ["FAKE_LOG"]
if sys.argv[1] == "stop":
    open(log + ".stop", "w").write(" ".join(sys.argv[1:]))
    sys.exit(0)
args = sys.argv[1:]
names = [args[i + 1] for i, word in enumerate(args) if word == "-e"]
json.dump({"args": args, "env": {n: os.environ.get(n) for n in names}}, open(log, "w"))
print("app output"); sys.stdout.flush()
time.sleep(float(os.environ.get("FAKE_SLEEP", "0")))
sys.exit(int(os.environ.get("FAKE_EXIT", "0")))
"""


def launch_script(tmp_path: Path, env: dict[str, str], app_args: list[str]) -> Path:
    (tmp_path / "bin").mkdir()
    fake = tmp_path / "bin" / "docker"
    fake.write_text(FAKE_DOCKER)
    fake.chmod(0o755)
    exec_dir = tmp_path / "exec"
    (exec_dir / "output").mkdir(parents=True)
    (exec_dir / "tapisjob.env").write_text(render_env_file(env))
    command = create("runtime", "DOCKER").build_command(LaunchRequest(
        image="localhost/busybox:latest", env_file=str(exec_dir / "tapisjob.env"), app_args=app_args,
        job_uuid=UUID, exec_dir=str(exec_dir), input_dir=str(exec_dir), output_dir=str(exec_dir / "output"),
        env_names=list(env)))
    script = create("scheduler", "FORK").build_script(ScriptRequest(
        job_uuid=UUID, job_name="t", exec_dir=str(exec_dir), stdout_path=str(exec_dir / "output/tapisjob.out"),
        stderr_path=str(exec_dir / "output/tapisjob.out"), container_command=command,
        env_file=str(exec_dir / "tapisjob.env")))
    path = exec_dir / "tapisjob.sh"
    path.write_text(script)
    path.chmod(0o700)
    return path


def run_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {"PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}", "FAKE_LOG": str(tmp_path / "docker.json"), **extra}


def test_script_passes_values_exactly_and_records_the_exit_code(tmp_path):
    tricky = "it's $(touch /tmp/pwned) `id` \"q\" \\ ; a\nsecond line $HOME"
    env = {"_tapisJobUUID": UUID, "MY_VAR": tricky, "EMPTY": ""}
    script = launch_script(tmp_path, env, ["sh", "-c", "echo $MY_VAR"])
    done = subprocess.run(["bash", str(script)], env=run_env(tmp_path, FAKE_EXIT="7"), capture_output=True, text=True,
                          check=False)
    assert done.returncode == 7, done.stderr
    assert done.stdout == "app output\n"  # the container's output is the script's (FORK: tapisjob.out)
    seen = json.loads((tmp_path / "docker.json").read_text())
    assert seen["env"] == env  # every value as given: nothing was evaluated on the way
    assert seen["args"][-3:] == ["sh", "-c", "echo $MY_VAR"]
    assert seen["args"][seen["args"].index("--user") + 1] == f"{os.getuid()}:{os.getgid()}"
    assert (script.parent / "tapisjob.exitcode").read_text() == "7\n"


def test_a_signalled_script_stops_its_container(tmp_path):
    script = launch_script(tmp_path, {"_tapisJobUUID": UUID}, ["sleep", "60"])
    proc = subprocess.Popen(["bash", str(script)], env=run_env(tmp_path, FAKE_SLEEP="60"), start_new_session=True)
    try:
        deadline = time.monotonic() + 10
        while not (tmp_path / "docker.json").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)  # the script only, as Slurm's first signal reaches it
        proc.wait(timeout=10)
        assert (tmp_path / "docker.json.stop").read_text() == f"stop -t 5 {UUID}"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
