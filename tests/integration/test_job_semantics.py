"""Tapis' job semantics where they run: on the real SSH test host, with a real SIF image, worker, broker and
database (issue 16, items 3, 5 and 6). An INCLUDE_BY_DEFAULT argument dropped by ``include: false``,
``fileInputArrays`` staged into their ``targetDir``, ``envKey`` variables the app reads, a ``tapislocal`` input
read where it is, ``isMpi``/``mpiCmd`` and ``cmdPrefix`` in ``tapisjob.sh`` and run, a FORK job stopped at
``maxMinutes``, and a ``rootDir: "/"`` system whose jobs archive in place. Submission-time refusals are in
``tests/api/test_job_semantics.py``.

Every job is submitted by one fixture, so they run side by side; the ``maxMinutes`` one takes about a minute.
"""

from __future__ import annotations

import shlex
import uuid

import pytest

from tests.integration.conftest import script_args, wait_status

pytestmark = pytest.mark.ssh

RUN = uuid.uuid4().hex[:6]
SLEEP = f"sleep {300 + uuid.uuid4().int % 97}"  # a command line no other test runs, to look for on the host
ENDED = {"FINISHED", "FAILED", "CANCELLED"}


@pytest.fixture(scope="module")
def systems(vm_system):
    """The VM again, allowing command prefixes; and again with ``rootDir: "/"`` and no ``jobWorkingDir``."""
    from dlws_flow import add_system

    prefixed = {**vm_system, "id": f"vm-sem-{RUN}", "enableCmdPrefix": True}
    slash = {key: value for key, value in vm_system.items() if key != "jobWorkingDir"}
    slash.update(id=f"vm-slash-{RUN}", rootDir="/")
    for record in (prefixed, slash):
        add_system(record, replace=True)
    return {"prefixed": prefixed["id"], "slash": slash["id"]}


@pytest.fixture(scope="module")
def apps(hosts, vm_system):
    """An app whose arguments and variables have each ``inputMode``, and a plain one."""
    from dlws_flow import add_app

    report = 'echo "args:$*"; echo "env:$BY_DEFAULT:${ON_DEMAND:-none}:$NEEDED"'
    modes = {"id": f"sem-modes-{RUN}", "version": "1", "runtime": "SINGULARITY", "containerImage": hosts["DLWS_TEST_SIF"],
             "jobAttributes": {"execSystemId": vm_system["id"], "maxMinutes": 5, "parameterSet": {
                 "appArgs": [{"name": "report", "arg": f"sh -c {shlex.quote(report)} sh", "inputMode": "FIXED"},
                             {"name": "verbose", "arg": "--verbose", "inputMode": "INCLUDE_BY_DEFAULT"},
                             {"name": "demand", "arg": "--demand", "inputMode": "INCLUDE_ON_DEMAND"}],
                 "envVariables": [{"key": "NEEDED", "value": "!tapis_not_set", "inputMode": "REQUIRED"},
                                  {"key": "BY_DEFAULT", "value": "bd", "inputMode": "INCLUDE_BY_DEFAULT"},
                                  {"key": "ON_DEMAND", "value": "od", "inputMode": "INCLUDE_ON_DEMAND"}]}}}
    plain = {"id": f"sem-plain-{RUN}", "version": "1", "runtime": "SINGULARITY", "containerImage": hosts["DLWS_TEST_SIF"],
             "jobAttributes": {"execSystemId": vm_system["id"], "maxMinutes": 5}}
    for record in (modes, plain):
        add_app(record, replace=True)
    return {"modes": modes["id"], "plain": plain["id"]}


@pytest.fixture(scope="module")
def jobs(systems, apps, http_files, host_shell):
    """Every job of this module, submitted at once: name -> job as submitted. (The VM's rootDir is the test
    user's home, so the tapislocal path is relative to it.)"""
    from dlws_flow import submit_job

    folder, base_url = http_files
    for name in ("web.txt", "a.txt", "b.txt"):
        (folder / f"sem-{RUN}-{name}").write_text(f"content-of-{name}\n")
    host_shell(f"mkdir -p ~/sem-inplace-{RUN} && printf 'in-place-data\\n' > ~/sem-inplace-{RUN}/data.txt")

    def plain(name: str, script: str, **fields):
        return submit_job(name=name, appId=apps["plain"], appVersion="1", parameterSet=script_args(script), **fields)

    def modes(name: str, **parameters):
        return submit_job(name=name, appId=apps["modes"], appVersion="1", parameterSet=parameters)

    inputs_script = ('cat "$WEB_FILE"; echo "local=$LOCAL"; cat "$LOCAL"; echo "batch=$BATCH_DIR"; '
                     'cat "$BATCH_DIR/sem-' + RUN + '-a.txt" "$BATCH_DIR/sem-' + RUN + '-b.txt"; '
                     'echo "inputdir:$(ls "$_tapisExecSystemInputDir" | tr "\\n" " ")"')
    submitted = {
        "defaults": modes("sem-defaults", envVariables=[{"key": "NEEDED", "value": "n1"}]),
        "chosen": modes("sem-chosen", appArgs=[{"name": "verbose", "include": False}, {"name": "demand"}],
                        envVariables=[{"key": "NEEDED", "value": "n2"}, {"key": "BY_DEFAULT", "include": False},
                                      {"key": "ON_DEMAND"}]),
        "inputs": plain("sem-inputs", inputs_script, fileInputs=[
            {"name": "web", "sourceUrl": f"{base_url}/sem-{RUN}-web.txt", "envKey": "WEB_FILE"},
            {"name": "here", "sourceUrl": f"tapislocal://exec.tapis/sem-inplace-{RUN}/data.txt",
             "envKey": "LOCAL"}],
            fileInputArrays=[{"name": "batch", "targetDir": "batch", "envKey": "BATCH_DIR",
                              "sourceUrls": [f"{base_url}/sem-{RUN}-a.txt", f"{base_url}/sem-{RUN}-b.txt"]}]),
        "mpi": plain("sem-mpi", 'echo "mark=$MPI_MARK"', execSystemId=systems["prefixed"], isMpi=True,
                     mpiCmd="env MPI_MARK=mpi-on"),
        "prefix": plain("sem-prefix", 'echo "prefix=$PREFIX_MARK"', execSystemId=systems["prefixed"],
                        cmdPrefix="env PREFIX_MARK=prefix-on"),
        "slash": plain("sem-slash", 'echo kept > "$_tapisExecSystemOutputDir/result.txt"; echo slash-ran',
                       execSystemId=systems["slash"]),
        "timeout": plain("sem-timeout", SLEEP, maxMinutes=1),
    }
    return submitted


def output_of(job: dict, path: str = "tapisjob.out") -> str:
    from dlws_flow import download_job_output

    return download_job_output(job["uuid"], path).decode()


def app_lines(job: dict) -> list[str]:
    """The app's lines of ``tapisjob.out``, without the runtime's own notices (``INFO: ...``)."""
    return [line for line in output_of(job).splitlines() if not line.startswith(("INFO:", "WARNING:"))]


def finished(job: dict) -> dict:
    done = wait_status(job["uuid"], ENDED, timeout=120)
    assert done["status"] == "FINISHED", done["lastMessage"]
    return done


def test_include_by_default_argument_is_dropped_by_include_false(jobs):
    finished(jobs["defaults"])
    assert app_lines(jobs["defaults"]) == ["args:--verbose", "env:bd:none:n1"]
    finished(jobs["chosen"])  # INCLUDE_BY_DEFAULT dropped, INCLUDE_ON_DEMAND named: argument and variable alike
    assert app_lines(jobs["chosen"]) == ["args:--demand", "env::od:n2"]


def test_input_arrays_env_keys_and_tapislocal_inputs(jobs):
    done = finished(jobs["inputs"])
    lines = app_lines(jobs["inputs"])
    input_dir = f"/home/hpcuser{done['execSystemInputDir']}"
    assert lines[:6] == ["content-of-web.txt", f"local=/home/hpcuser/sem-inplace-{RUN}/data.txt", "in-place-data",
                         f"batch={input_dir}/batch", "content-of-a.txt", "content-of-b.txt"], lines
    staged = lines[6].removeprefix("inputdir:").split()
    assert f"sem-{RUN}-web.txt" in staged and "batch" in staged
    assert "data.txt" not in staged  # the tapislocal input was read where it is, not copied
    variables = {e["key"]: e["value"] for e in done["parameterSet"]["envVariables"]}
    assert variables["LOCAL"] == f"/home/hpcuser/sem-inplace-{RUN}/data.txt"
    assert variables["WEB_FILE"] == f"{input_dir}/sem-{RUN}-web.txt"


def test_mpi_command_and_command_prefix_shape_the_launch_line(jobs):
    finished(jobs["mpi"])
    assert app_lines(jobs["mpi"]) == ["mark=mpi-on"]
    assert "\nenv MPI_MARK=mpi-on singularity run " in output_of(jobs["mpi"], "tapisjob.sh")
    finished(jobs["prefix"])
    assert app_lines(jobs["prefix"]) == ["prefix=prefix-on"]
    assert "\nenv PREFIX_MARK=prefix-on singularity run " in output_of(jobs["prefix"], "tapisjob.sh")


def test_root_slash_system_archives_in_place_by_default(jobs, host_shell):
    done = finished(jobs["slash"])
    output_dir = done["execSystemOutputDir"]
    assert done["archiveSystemDir"] == output_dir and output_dir.startswith("/home/hpcuser/jobs/")
    assert app_lines(jobs["slash"]) == ["slash-ran"]
    assert output_of(jobs["slash"], "result.txt") == "kept\n"
    # Outputs stayed where they were; the launch files were copied in beside them.
    assert host_shell(f"ls {shlex.quote(output_dir)}").split() == ["result.txt", "tapisjob.env", "tapisjob.out",
                                                                   "tapisjob.sh"]


@pytest.mark.once  # a minute of waiting for a limit neither the database nor the broker changes
def test_fork_job_past_max_minutes_fails_naming_the_limit(jobs, host_shell):
    started = wait_status(jobs["timeout"]["uuid"], {"RUNNING", *ENDED}, timeout=60)
    assert started["status"] == "RUNNING", started["lastMessage"]
    assert SLEEP in host_shell("ps -eo args")
    done = wait_status(jobs["timeout"]["uuid"], ENDED, timeout=150)
    assert done["status"] == "FAILED", done["lastMessage"]
    assert "maxMinutes (1)" in done["lastMessage"], done["lastMessage"]
    assert SLEEP not in host_shell("ps -eo args")  # the app was stopped with its launch script
