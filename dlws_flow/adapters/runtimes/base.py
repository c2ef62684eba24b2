"""The runtime interface."""

from __future__ import annotations

import abc
import shlex
from dataclasses import dataclass, field


@dataclass(frozen=True)
class LaunchRequest:
    image: str
    env_file: str
    """Absolute path of ``tapisjob.env`` on the host."""
    app_args: list[str] = field(default_factory=list)
    """Argument *words* (already split from Tapis arg text); quoted by the runtime."""
    container_args: list[str] = field(default_factory=list)
    runtime_options: list[str] = field(default_factory=list)
    job_uuid: str = ""
    """Names the job's container where the runtime has one (DOCKER: ``--name``)."""
    exec_dir: str = ""
    input_dir: str = ""
    output_dir: str = ""
    """Absolute host paths of the job's three directories (DOCKER mounts them at /TapisExec, /TapisInput, /TapisOutput)."""
    env_names: list[str] = field(default_factory=list)
    """The names ``tapisjob.env`` defines, for runtimes that must name what they pass on (DOCKER: ``-e NAME``)."""
    launcher: list[str] = field(default_factory=list)
    """Words run before the program the runtime starts (Tapis' ``mpiCmd`` when ``isMpi``, else ``cmdPrefix``):
    before ``singularity run`` or ``docker run``, before the ZIP program. Quoted by the runtime."""
    gpu_count: int = 0
    """GPUs the job asked for (ours: ``gpuCount``): the runtime makes the host's GPUs visible in the container
    (Singularity/Apptainer ``--nv``, Docker ``--gpus N``); which GPUs is the scheduler's business (Slurm's
    ``--gres`` sets ``CUDA_VISIBLE_DEVICES``, which the container inherits)."""


def quote_all(words: list[str]) -> str:
    return " ".join(shlex.quote(w) for w in words)


def launcher_prefix(request: LaunchRequest) -> str:
    """``request.launcher`` quoted and followed by a space, or nothing."""
    return quote_all(request.launcher) + " " if request.launcher else ""


class ContainerRuntime(abc.ABC):
    name: str

    @abc.abstractmethod
    def build_command(self, request: LaunchRequest) -> str:
        """One shell command line, every user-supplied word quoted."""

    def build_stop_command(self, job_uuid: str) -> str | None:
        """A command that stops (and removes) the job's container on the host, run after the scheduler's
        cancel. None (the default) when stopping the launch script stops the app: the app is the script's
        child (Singularity, Apptainer, ZIP). A container engine runs the app under its own monitor process,
        outside the script's process group and Slurm's process tracking, so DOCKER names one."""
        return None

    def build_shell_command(self, image: str, job_uuid: str) -> str:
        """What a login with the job's SSH key runs in the job's exec dir, with its environment exported
        (``domain.job_ssh``): a shell in the job's container, running ``$SSH_ORIGINAL_COMMAND`` when the client
        gave one. The default, for a runtime without a container (ZIP): the login's shell, there."""
        return shell_lines('"${SHELL:-/bin/sh}"')

    def describe(self) -> str:
        return self.name


def shell_lines(shell: str) -> str:
    """``shell`` started interactively, or with ``-c`` and the client's command when there is one."""
    return (f'if [ -n "${{SSH_ORIGINAL_COMMAND-}}" ]; then exec {shell} -c "$SSH_ORIGINAL_COMMAND"; fi\n'
            f"exec {shell}")
