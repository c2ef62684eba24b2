"""Archiving: copy the chosen outputs (and launch files) to the archive system and directory."""

from __future__ import annotations

import posixpath
import shlex

from dlws_flow.domain.archive_filter import select_outputs
from dlws_flow.staging.inputs import copy_between
from dlws_flow.transports.base import Transport

LAUNCH_FILES = ("tapisjob.sh", "tapisjob.env")
#: Files per ``cp`` command; keeps each command line far below ARG_MAX.
BATCH = 500


def plan_archive(output_files: list[str], includes: list[str], excludes: list[str], log_files: list[str],
                 include_launch_files: bool) -> list[str]:
    """Output-dir-relative files to copy. Log files count as launch files: kept unless excluded from those."""
    regular = [f for f in output_files if f not in log_files]
    chosen = select_outputs(regular, includes, excludes)
    if include_launch_files:
        chosen += [f for f in log_files if f in output_files]
    return sorted(set(chosen))


def archive_outputs(exec_host: Transport, output_dir: str, exec_dir: str, archive_host: Transport, archive_dir: str,
                    files: list[str], include_launch_files: bool, same_host: bool, links: frozenset[str]) -> int:
    """Copy ``files`` (relative to ``output_dir``) into ``archive_dir``; safe to repeat. Returns files copied.

    ``links`` are the output files that are symlinks (from the caller's walk of ``output_dir``)."""
    launch = [posixpath.join(exec_dir, f) for f in LAUNCH_FILES] if include_launch_files else []
    if same_host:
        target = shlex.quote(archive_dir)
        # One ssh exec per BATCH files: the first also makes the archive dir, the last also copies the launch
        # files, so a typical job archives with a single command.
        commands = [f"(cd {shlex.quote(output_dir)} && cp -P --parents -p -- "
                    f"{' '.join(shlex.quote(f) for f in files[start:start + BATCH])} {target}/)"
                    for start in range(0, len(files), BATCH)] or ["true"]
        # --parents keeps sub-directories; -P copies a symlink as a link, never what it points to.
        commands[0] = f"mkdir -p -- {target} && {commands[0]}"
        if launch:
            existing = " ".join(shlex.quote(p) for p in launch)
            commands[-1] += f" && for f in {existing}; do if [ -f \"$f\" ]; then cp -p -- \"$f\" {target}/ || exit 1; fi; done"
        for command in commands:
            exec_host.run(command).check()
        return len(files) + len(launch)
    # Another host: a symlink cannot be copied as a link, and reading it would copy what it points to.
    files = [f for f in files if f not in links]
    archive_host.makedirs(archive_dir, *{posixpath.join(archive_dir, posixpath.dirname(f)) for f in files if "/" in f})
    for name in files:
        copy_between(exec_host, posixpath.join(output_dir, name), archive_host, posixpath.join(archive_dir, name))
    for path in launch:
        if exec_host.exists(path):
            copy_between(exec_host, path, archive_host, posixpath.join(archive_dir, posixpath.basename(path)))
    return len(files) + len(launch)
