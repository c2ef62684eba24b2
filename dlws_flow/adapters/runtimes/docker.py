"""Docker: ``docker run`` as Tapis launches it (Tapis Jobs, "Container Runtimes: Docker").

The launch line, in the launch script after it has exported ``tapisjob.env``::

    docker run --rm --name <job uuid> --user "$(id -u):$(id -g)"
        -v <execDir>:/TapisExec -v <inputDir>:/TapisInput -v <outputDir>:/TapisOutput
        -e <NAME> ... [containerArgs] <image> [appArgs] &
    trap 'docker stop ...' HUP INT TERM; wait $!

Tapis' conventions, kept: the container is named after the job UUID (``docker ps`` on the host shows which
job a container belongs to, and cancel finds it by that name); it runs as the login that launched it (files
written to the mounted directories belong to that login, not to root); it is removed when it ends
(``--rm``); the three job directories are bind-mounted at the paths Tapis uses in every container (the
``_tapisExecSystem*Dir`` variables still hold the host paths, as in Tapis). ``--cidfile``, ``-d``, ``-e``/``--env``, ``--name``, ``--rm`` and ``--user`` are
Tapis' reserved options: ``containerArgs`` naming one are refused. ``-d`` especially: a detached
``docker run`` returns at once, and the job would "finish" with its app still running.

The environment: ``-e NAME`` without a value makes docker copy NAME's value from its own environment, which
is the launch script's, where ``tapisjob.env`` (POSIX-quoted) was exported with ``set -a``. The value never
passes through another parser, so any value arrives exactly, newlines and ``$(...)`` included, and no second
file of secrets is written. (``--env-file`` would be literal too, but its one-line-per-variable format cannot
hold a value with a newline, and it would be a second copy of the env file with its family token.)

The output: attached (no ``-d``), ``docker run`` streams the container's stdout and stderr to its own, which
the launch script has redirected to ``tapisjob.out`` (FORK) or Slurm's ``--output``; its exit status is the
app's, which the script's epilogue records in ``tapisjob.exitcode``.

Stopping: the container runs under the engine's monitor (dockerd's shim, podman's conmon), not under the
launch script, so killing the script's process group (FORK cancel) or ``scancel`` does not stop it. Two
things do: the ``trap`` above, so a launch script that is signalled (``scancel``, Slurm's time limit, a
FORK cancel's SIGTERM) stops its container on the node it runs on; and :meth:`DockerRuntime.build_stop_command`,
which the cancel runs on the host after the scheduler's cancel, for when the script was killed outright.
"""

from __future__ import annotations

import re
import shlex

from dlws_flow.adapters.runtimes.base import ContainerRuntime, LaunchRequest, launcher_prefix, quote_all, shell_lines
from dlws_flow.errors import ValidationError

#: Where Tapis mounts the job's directories in every Docker container.
MOUNTS = (("exec_dir", "/TapisExec"), ("input_dir", "/TapisInput"), ("output_dir", "/TapisOutput"))
#: Seconds ``docker stop`` lets the app handle SIGTERM before it kills the container: at cancel, docker's own
#: default; in the launch script's trap, less, so the stop is done before whoever signalled the script kills
#: it (the FORK maxMinutes watchdog 10 s later, Slurm after KillWait, 30 s by default).
STOP_GRACE_SECONDS = 10
TRAP_GRACE_SECONDS = 5
#: Tapis' reserved ``docker run`` options (and their other spellings): never taken from ``containerArgs``.
RESERVED_LONG = frozenset({"--cidfile", "--detach", "--env", "--name", "--rm", "--user"})
RESERVED_SHORT = frozenset("deu")
#: Short options that take a value (the rest of a ``-xVALUE`` word is that value, not more options).
SHORT_WITH_VALUE = frozenset("acehlmpuvw")
_CONTAINER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def container_name(job_uuid: str) -> str:
    """The job's container name: the job UUID, as Tapis names it (hex digits and '-', already valid)."""
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", job_uuid)
    if not _CONTAINER_NAME.fullmatch(name):
        name = f"tapis-{name}"
    if not _CONTAINER_NAME.fullmatch(name):
        raise ValueError(f"no container name can be made of job uuid {job_uuid!r}")
    return name


def reserved_option(word: str) -> str | None:
    """The reserved option ``word`` sets (``--name``, ``--name=x``, ``-d``, ``-dit``, ``-eX=1``), or None."""
    if word.startswith("--"):
        option = word.split("=", 1)[0]
        return option if option in RESERVED_LONG else None
    if word.startswith("-") and len(word) > 1:
        for letter in word[1:]:
            if letter in RESERVED_SHORT:
                return f"-{letter}"
            if letter in SHORT_WITH_VALUE or not letter.isalpha():
                return None  # the rest of the word is this option's value
    return None


def check_container_args(words: list[str]) -> None:
    for word in words:
        option = reserved_option(word)
        if option:
            raise ValidationError(
                f"containerArgs: {option} is reserved for Tapis' own use in docker run (reserved: --cidfile, "
                "-d/--detach, -e/--env, --name, --rm, -u/--user); set environment variables with envVariables")


def mount_options(request: LaunchRequest) -> list[str]:
    options = []
    for attribute, target in MOUNTS:
        source = getattr(request, attribute)
        if not source.startswith("/") or ":" in source:
            raise ValidationError(
                f"the job directory {source!r} cannot be mounted into a Docker container at {target}: "
                "it must be an absolute host path without ':'")
        options += ["-v", f"{source}:{target}"]
    return options


class DockerRuntime(ContainerRuntime):
    name = "DOCKER"
    binary = "docker"

    def build_command(self, request: LaunchRequest) -> str:
        check_container_args(request.container_args)
        if not request.image or request.image.startswith("-"):
            raise ValidationError(f"containerImage {request.image!r} is not a Docker image reference")
        for env_name in request.env_names:
            if not _ENV_NAME.fullmatch(env_name):
                raise ValidationError(f"environment variable name {env_name!r} must match [A-Za-z_][A-Za-z0-9_]*")
        name = container_name(request.job_uuid)
        words = ["--rm", "--name", name, *(["--gpus", str(request.gpu_count)] if request.gpu_count > 0 else [])]
        mounts = mount_options(request)
        env = [word for env_name in request.env_names for word in ("-e", env_name)]
        command = (f"{launcher_prefix(request)}{self.binary} run {quote_all(words)} --user \"$(id -u):$(id -g)\" "
                   f"{quote_all(mounts + env)}")
        if request.container_args:
            command += " " + quote_all(request.container_args)
        command += f" {shlex.quote(request.image)}"
        if request.app_args:
            command += " " + quote_all(request.app_args)
        # Backgrounded and waited for, so a signal to the launch script runs the trap at once (bash runs a
        # trap only after the foreground command ends); ``wait`` returns docker's exit status, the app's.
        stop = f"{self.binary} stop -t {TRAP_GRACE_SECONDS} {name} >/dev/null 2>&1"
        return f"{command} & trap {shlex.quote(stop)} HUP INT TERM; wait $!"

    def build_shell_command(self, image: str, job_uuid: str) -> str:
        """Into the job's running container (``docker exec``), with a terminal when the login has one."""
        name = shlex.quote(container_name(job_uuid))
        return 't=; [ -t 0 ] && t=-t\n' + shell_lines(f"{self.binary} exec -i $t {name} /bin/sh")

    def build_stop_command(self, job_uuid: str) -> str:
        """Stop the job's container (SIGTERM, SIGKILL after the grace period) and remove it, by name; a
        container that is already gone is no error (the command always succeeds)."""
        name = container_name(job_uuid)
        return (f"{self.binary} stop -t {STOP_GRACE_SECONDS} {name} >/dev/null 2>&1; "
                f"{self.binary} rm -f {name} >/dev/null 2>&1; true")
