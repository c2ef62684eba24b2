"""Singularity / Apptainer: ``singularity run [containerArgs] --env-file tapisjob.env <image> [appArgs]``."""

from __future__ import annotations

import shlex

from dlws_flow.runtimes.base import ContainerRuntime, LaunchRequest, quote_all


class SingularityRuntime(ContainerRuntime):
    name = "SINGULARITY"
    binary = "singularity"

    def build_command(self, request: LaunchRequest) -> str:
        # ``run`` honours the image's runscript, as Tapis does; SINGULARITY_RUN is the only option it defines.
        parts = [self.binary, "run"]
        command = " ".join(parts)
        if request.container_args:
            command += " " + quote_all(request.container_args)
        command += f" --env-file {shlex.quote(request.env_file)} {shlex.quote(request.image)}"
        if request.app_args:
            command += " " + quote_all(request.app_args)
        return command


class ApptainerRuntime(SingularityRuntime):
    name = "APPTAINER"
    binary = "apptainer"
