"""Logging in to a running job with its OpenPAI key pair (``GET /api/v1/jobs/NAME/ssh``): the
``authorized_keys`` line and the small script it forces, and the shell commands that install and remove them.
Pure: the engine runs the commands (``engine.job_ssh``).

The line lets the key do one thing, enter its job: ``restrict`` (no port, agent or X11 forwarding, no
``~/.ssh/rc``), ``pty`` (an interactive shell still gets a terminal), ``expiry-time`` (the job's time limit and
a margin: a line left behind by a host that was unreachable at the job's end stops working by itself) and
``command=`` (whatever the client asks, the enter script runs). The script enters the job's exec dir with the
job's environment, refuses once the job has written its exit code, and starts a shell in the job's container
(the runtime says how: ``ContainerRuntime.build_shell_command``), running the client's command there when it
gave one. The key logs in as the system's login, the one the job itself runs as: nothing the job could not do.

Each line ends with ``dlws-flow-job:<uuid>``, which is how removal finds it; both edits of
``authorized_keys`` hold a lock (``flock``, where the host has it) so concurrent jobs do not lose each other's
lines.
"""

from __future__ import annotations

import re
import shlex
from datetime import datetime, timedelta

#: What the enter script answers to this command (instead of entering the job): proof that a login with the
#: key reaches our script, not a shell or a command the host's sshd forces for every login (ForceCommand).
PROBE_COMMAND = "dlws-flow-probe"
ENTER_SCRIPT = ".dlws-ssh-enter"
#: Minutes a line outlives the job's time limit (counted from when the line was installed).
EXPIRY_MARGIN_MINUTES = 30
_SAFE_PATH = re.compile(r"^/[A-Za-z0-9._/+-]*$")
_PUBLIC_KEY = re.compile(r"^(ssh-ed25519|ecdsa-sha2-nistp256|ssh-rsa) [A-Za-z0-9+/]+={0,2}$")
_UUID = re.compile(r"^[A-Za-z0-9-]{1,64}$")
_LOCK = '{ command -v flock >/dev/null 2>&1 && flock 9; %s; } 9>>"$HOME/.ssh/.dlws-flow.lock"'


class JobSshError(ValueError):
    """The job cannot be given an SSH entry (its exec dir or key cannot be written into a key line)."""


def comment(job_uuid: str) -> str:
    return f"dlws-flow-job:{job_uuid}"


def probe_answer(job_uuid: str) -> str:
    return f"dlws-flow-enter:{job_uuid}"


def enter_script_path(exec_dir: str) -> str:
    return f"{exec_dir.rstrip('/')}/{ENTER_SCRIPT}"


def _check(job_uuid: str, exec_dir: str, public_key: str) -> None:
    if not _UUID.fullmatch(job_uuid):
        raise JobSshError(f"job uuid {job_uuid!r} cannot name a key line")
    if not _SAFE_PATH.fullmatch(exec_dir) or "/../" in f"{exec_dir}/":
        raise JobSshError(f"the job's exec dir {exec_dir!r} cannot be named in an authorized_keys line "
                          "(letters, digits and ._/+- only)")
    if not _PUBLIC_KEY.fullmatch(public_key.strip()):
        raise JobSshError("the job's public key is not an OpenSSH public key")


def key_line(job_uuid: str, exec_dir: str, public_key: str, expires: datetime) -> str:
    """The ``authorized_keys`` line (``expires`` in UTC)."""
    _check(job_uuid, exec_dir, public_key)
    options = ["restrict", "pty", f'expiry-time="{expires:%Y%m%d%H%M}Z"',
               f'command="/bin/sh {enter_script_path(exec_dir)}"']
    return f"{','.join(options)} {public_key.strip()} {comment(job_uuid)}"


def expiry(installed: datetime, max_minutes: int) -> datetime:
    return installed + timedelta(minutes=max_minutes + EXPIRY_MARGIN_MINUTES)


def enter_script(job_uuid: str, exec_dir: str, shell_command: str) -> str:
    """The script the key line forces; ``shell_command`` starts the job's shell (``$SSH_ORIGINAL_COMMAND``,
    when set, is what that shell runs)."""
    quoted = shlex.quote(exec_dir)
    return "\n".join([
        "#!/bin/sh",
        f"# dlws-flow: enter job {job_uuid} with its OpenPAI key; removed when the job ends",
        f"cd {quoted} || exit 1",
        f'if [ "${{SSH_ORIGINAL_COMMAND-}}" = {PROBE_COMMAND} ]; then echo {probe_answer(job_uuid)}; exit 0; fi',
        f'if [ -e tapisjob.exitcode ]; then echo "job {job_uuid} has ended" >&2; exit 1; fi',
        "set -a; . ./tapisjob.env; set +a",
        shell_command,
        "",
    ])


def install_command(job_uuid: str, exec_dir: str, line: str, script: str) -> str:
    """Write the enter script and add the key line (once: a second install of the same job adds nothing)."""
    keys = '"$HOME/.ssh/authorized_keys"'
    append = (f"grep -q {shlex.quote(' ' + comment(job_uuid) + '$')} {keys} 2>/dev/null || "
              f"printf '%s\\n' {shlex.quote(line)} >> {keys}")
    return (f"umask 077 && mkdir -p \"$HOME/.ssh\" && printf '%s' {shlex.quote(script)} > "
            f"{shlex.quote(enter_script_path(exec_dir))} && " + _LOCK % append)


def remove_command(job_uuid: str, exec_dir: str | None) -> str:
    """Take the job's key line out (the file keeps its inode, owner and mode) and its enter script away."""
    keys = '"$HOME/.ssh/authorized_keys"'
    # grep -v answers 1 when no line is left; anything more is a failure that must not empty the file.
    edit = (f"if [ -f {keys} ]; then grep -v {shlex.quote(' ' + comment(job_uuid) + '$')} {keys} "
            f"> {keys}.dlws-tmp; if [ $? -le 1 ]; then cat {keys}.dlws-tmp > {keys}; fi; rm -f {keys}.dlws-tmp; fi")
    command = "mkdir -p \"$HOME/.ssh\" && " + _LOCK % edit
    if exec_dir and _SAFE_PATH.fullmatch(exec_dir):
        command += f"; rm -f {shlex.quote(enter_script_path(exec_dir))}"
    return command


__all__ = ["PROBE_COMMAND", "JobSshError", "comment", "enter_script", "expiry", "install_command", "key_line",
           "probe_answer", "remove_command"]
