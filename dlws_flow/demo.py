"""``dlws-flow demo``: the first thing a newcomer runs. Registers this machine as an execution system
and a small app, runs one job through every state with a worker of its own, and prints the output.
"""

from __future__ import annotations

import getpass
import os
import shlex
import shutil
import subprocess
from pathlib import Path

from dlws_flow.settings import get_settings

DEMO_SCRIPT = (
    'echo "Hello from dlws-flow job $_tapisJobUUID"; '
    'echo "app $_tapisAppId $_tapisAppVersion ran as $(id -un) in $(pwd)"; '
    'echo "the answer is 42" > "$_tapisExecSystemOutputDir/answer.txt"'
)


def _container_image(data_dir: Path) -> tuple[str, str, str]:
    """(runtime, image, note): Apptainer with a locally built busybox image when possible, else ZIP."""
    binary = shutil.which("apptainer") or shutil.which("singularity")
    image = os.environ.get("DLWS_DEMO_IMAGE")
    if binary and image and Path(image).exists():
        return "SINGULARITY", image, f"using {binary} with {image}"
    busybox = shutil.which("busybox")
    if binary and busybox:
        target = data_dir / "images" / "demo-busybox.sif"
        if not target.exists():
            rootfs = data_dir / "images" / "rootfs"
            shutil.rmtree(rootfs, ignore_errors=True)
            (rootfs / "bin").mkdir(parents=True)
            shutil.copy2(busybox, rootfs / "bin" / "busybox")
            for applet in ("sh", "echo", "id", "pwd", "cat", "ls"):
                (rootfs / "bin" / applet).symlink_to("busybox")
            (rootfs / ".singularity.d").mkdir()
            runscript = rootfs / ".singularity.d" / "runscript"
            runscript.write_text('#!/bin/sh\nexec "$@"\n')
            runscript.chmod(0o755)
            built = subprocess.run([binary, "-s", "build", str(target), str(rootfs)], capture_output=True,
                                   env={**os.environ, "APPTAINER_USERNS": "1"})
            if built.returncode != 0:
                target.unlink(missing_ok=True)
        if target.exists():
            return "SINGULARITY", str(target), f"using {binary} with an image built from {busybox}"
    return "ZIP", "/bin/sh", ("no container runtime (apptainer/singularity) found: running the app's command "
                              "directly on this host, as Tapis' ZIP runtime does")


def demo_records() -> tuple[dict, dict, str]:
    settings = get_settings()
    data_dir = settings.ensure_data_dir()
    root = data_dir / "local-host"
    root.mkdir(exist_ok=True)
    runtime, image, note = _container_image(data_dir)
    system = {
        "id": "local", "description": "this machine, reached without SSH", "host": "localhost",
        "transport": "LOCAL", "effectiveUserId": getpass.getuser(), "rootDir": str(root), "jobWorkingDir": "/workdir",
        "canExec": True,
    }
    args = ["-c", DEMO_SCRIPT]
    app = {
        "id": "dlws-demo", "version": "1.0", "description": "prints a greeting and writes answer.txt",
        "runtime": runtime, "containerImage": image,
        "jobAttributes": {"execSystemId": "local", "parameterSet": {
            "appArgs": ([{"name": "shell", "arg": "sh"}] if runtime != "ZIP" else [])
            + [{"name": "script", "arg": " ".join(shlex.quote(a) for a in args)}],
        }},
    }
    return system, app, note
