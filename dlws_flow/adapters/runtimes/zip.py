"""Tapis' ZIP runtime: no container. The image is an executable on the host, or an archive holding
``tapisjob_app.sh``; the launch script has already exported the job's environment.
"""

from __future__ import annotations

import shlex

from dlws_flow.adapters.runtimes.base import ContainerRuntime, LaunchRequest, launcher_prefix, quote_all

ARCHIVE_SUFFIXES = (".zip", ".tar.gz", ".tgz", ".tar")


class ZipRuntime(ContainerRuntime):
    name = "ZIP"

    def build_command(self, request: LaunchRequest) -> str:
        if request.image.endswith(ARCHIVE_SUFFIXES):
            unpack = (f"unzip -o -q {shlex.quote(request.image)}" if request.image.endswith(".zip")
                      else f"tar -xf {shlex.quote(request.image)}")
            program = "./tapisjob_app.sh"
            prefix = f"{unpack} && chmod +x {program} && "
        else:
            program, prefix = shlex.quote(request.image), ""
        args = (" " + quote_all(request.app_args)) if request.app_args else ""
        return f"( {prefix}exec {launcher_prefix(request)}{program}{args} )"
