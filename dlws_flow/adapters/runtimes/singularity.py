"""Singularity / Apptainer: ``singularity run [containerArgs] <image> [appArgs]``.

Why no ``--env-file tapisjob.env`` (Tapis' form): Apptainer 1.4 evaluates env-file values (and
``APPTAINERENV_*`` values) a second time inside the container, so a user value such as ``$(touch x)``
would run as a command (verified against the test host). The launch script instead exports
``tapisjob.env`` into its own environment with POSIX quoting, and the runtime passes the inherited
environment into the container unchanged; that is exact for any value.
"""

from __future__ import annotations

import shlex

from dlws_flow.adapters.runtimes.base import ContainerRuntime, LaunchRequest, launcher_prefix, quote_all, shell_lines


class SingularityRuntime(ContainerRuntime):
    name = "SINGULARITY"
    binary = "singularity"

    def build_command(self, request: LaunchRequest) -> str:
        # ``run`` honours the image's runscript, as Tapis does; SINGULARITY_RUN is the only option it defines.
        parts = [self.binary, "run", *(["--nv"] if request.gpu_count > 0 else [])]
        command = launcher_prefix(request) + " ".join(parts)
        if request.container_args:
            command += " " + quote_all(request.container_args)
        command += f" {shlex.quote(request.image)}"
        if request.app_args:
            command += " " + quote_all(request.app_args)
        return command

    def build_shell_command(self, image: str, job_uuid: str) -> str:
        # A new container of the job's image (Singularity keeps no running container to join), sharing the
        # job's directories and environment as the job's own does.
        return shell_lines(f"{self.binary} exec {shlex.quote(image)} /bin/sh")


class ApptainerRuntime(SingularityRuntime):
    name = "APPTAINER"
    binary = "apptainer"
