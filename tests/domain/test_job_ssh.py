"""The key line and the install/remove commands of a job's SSH entry, the commands run by a real shell on a
scratch HOME (the exec hosts run them the same way, through the login shell)."""

import os
import stat
import subprocess
from datetime import UTC, datetime

import pytest

from dlws_flow.domain import job_ssh

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOKDFfyMMM5ORnm92TcBX9Etl7a52d6xv5p+3U6VJtT5"
WHEN = datetime(2026, 12, 1, 22, 5, tzinfo=UTC)


def sh(command: str, home) -> subprocess.CompletedProcess:
    return subprocess.run(["/bin/sh", "-c", command], env={"HOME": str(home), "PATH": os.environ["PATH"]},
                          capture_output=True, text=True, check=True)


def test_the_line_restricts_the_key_to_the_enter_script_until_it_expires():
    line = job_ssh.key_line("u-1-007", "/home/h/jobs/u-1-007", KEY, WHEN)
    assert line == (f'restrict,pty,expiry-time="202612012205Z",command="/bin/sh /home/h/jobs/u-1-007/.dlws-ssh-enter" '
                    f"{KEY} dlws-flow-job:u-1-007")
    for exec_dir in ('/x" ,permitopen="*', "/x y", "relative", "/a/../etc"):
        with pytest.raises(job_ssh.JobSshError):
            job_ssh.key_line("u-1", exec_dir, KEY, WHEN)
    with pytest.raises(job_ssh.JobSshError):
        job_ssh.key_line("u-1", "/x", KEY + "\nssh-ed25519 AAAA evil", WHEN)


def test_install_is_once_and_remove_takes_only_that_jobs_line(tmp_path):
    home, exec_dir = tmp_path / "home", tmp_path / "jobs" / "u-1"
    exec_dir.mkdir(parents=True)
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "authorized_keys").write_text("ssh-ed25519 AAAAother someone@laptop\n")
    (home / ".ssh" / "authorized_keys").chmod(0o640)
    lines = {}
    for uuid in ("u-1", "u-11"):
        lines[uuid] = job_ssh.key_line(uuid, str(exec_dir), KEY, WHEN)
        install = job_ssh.install_command(uuid, str(exec_dir), lines[uuid], job_ssh.enter_script(uuid, str(exec_dir), "exec true"))
        sh(install, home)
        sh(install, home)  # a second install (a retried request) adds nothing
    keys = home / ".ssh" / "authorized_keys"
    assert keys.read_text().splitlines() == ["ssh-ed25519 AAAAother someone@laptop", lines["u-1"], lines["u-11"]]
    assert (exec_dir / ".dlws-ssh-enter").read_text().startswith("#!/bin/sh\n")
    sh(job_ssh.remove_command("u-1", str(exec_dir)), home)
    assert keys.read_text().splitlines() == ["ssh-ed25519 AAAAother someone@laptop", lines["u-11"]]
    assert not (exec_dir / ".dlws-ssh-enter").exists()
    assert stat.S_IMODE(keys.stat().st_mode) == 0o640  # the file is edited in place: its mode stays the user's
    sh(job_ssh.remove_command("u-11", None), home)
    sh(job_ssh.remove_command("u-11", None), home)  # nothing left to remove is no error
    assert keys.read_text().splitlines() == ["ssh-ed25519 AAAAother someone@laptop"]


def test_the_enter_script_answers_the_probe_and_refuses_an_ended_job(tmp_path):
    exec_dir = tmp_path / "u-2"
    exec_dir.mkdir()
    (exec_dir / "tapisjob.env").write_text("GREETING='hello from the job'\n")
    script = exec_dir / ".dlws-ssh-enter"
    script.write_text(job_ssh.enter_script("u-2", str(exec_dir), 'exec /bin/sh -c "$SSH_ORIGINAL_COMMAND"'))

    def enter(command: str) -> subprocess.CompletedProcess:
        return subprocess.run(["/bin/sh", str(script)], env={"SSH_ORIGINAL_COMMAND": command, "PATH": os.environ["PATH"]},
                              capture_output=True, text=True, cwd=tmp_path)

    assert enter(job_ssh.PROBE_COMMAND).stdout == "dlws-flow-enter:u-2\n"
    assert enter('pwd; echo "$GREETING"').stdout == f"{exec_dir}\nhello from the job\n"
    (exec_dir / "tapisjob.exitcode").write_text("0\n")
    ended = enter("echo in")
    assert ended.returncode == 1 and ended.stdout == "" and "has ended" in ended.stderr
