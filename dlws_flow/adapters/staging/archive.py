"""Archiving: copy the chosen outputs (and launch files) to the archive system and directory.

When the archive dir is the output dir on the exec system (Tapis' default without another archive system),
the outputs stay where they are: nothing is copied onto itself, the chosen files are still the job's
``archivedPaths`` (what its outputs serve), and the launch files are copied in when ``includeLaunchFiles``.
"""

from __future__ import annotations

import posixpath
import shlex

from dlws_flow.adapters.staging.inputs import copy_between
from dlws_flow.adapters.transports.base import CommandResult, Transport
from dlws_flow.domain.archive_filter import select_outputs
from dlws_flow.errors import PermissionDeniedError

#: Launch files copied as they are; ``tapisjob.env`` is archived as the caller renders it (no secrets).
COPIED_LAUNCH_FILES = ("tapisjob.sh",)
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


#: Exit status of the archive command when the archive dir resolves outside the system's root.
OUTSIDE_ROOT = 86


def root_guard(root: str, target: str) -> str:
    """Shell that exits ``OUTSIDE_ROOT`` unless ``target`` (symlinks resolved, as far as it exists) is
    ``root`` or below it: a link in the archive system must not let a job write outside its rootDir."""
    return (f"r=$(realpath -m -- {shlex.quote(root)}) && r=${{r%/}} && d=$(realpath -m -- {shlex.quote(target)}) && "
            f"case \"$d/\" in \"$r/\"*) ;; *) exit {OUTSIDE_ROOT} ;; esac")


def archive_outputs(exec_host: Transport, output_dir: str, exec_dir: str, archive_host: Transport, archive_dir: str,
                    files: list[str], include_launch_files: bool, *, same_host: bool, links: frozenset[str],
                    archived_env: str, archive_root: str, in_place: bool = False) -> list[str]:
    """Copy ``files`` (relative to ``output_dir``) into ``archive_dir``; safe to repeat. Returns the
    archive-relative path of each file copied: what the job's outputs serve once it is archived.

    ``archive_root`` is the archive system's rootDir on its host: an ``archive_dir`` resolving outside it
    fails with ``PermissionDeniedError``. ``links`` are the output files that are symlinks (from the
    caller's walk of ``output_dir``). With launch files, ``archived_env`` is written as the archive's
    ``tapisjob.env``: the job's own holds service secrets (``FAMILY_TOKEN``) that whoever may read the
    archive must not get. ``in_place``: ``archive_dir`` is ``output_dir`` on the same host, see the module
    docstring."""
    same_dir = same_host and posixpath.normpath(exec_dir) == posixpath.normpath(archive_dir)
    launch = [posixpath.join(exec_dir, f) for f in COPIED_LAUNCH_FILES] if include_launch_files and not same_dir else []
    guard = root_guard(archive_root, archive_dir)
    if in_place:
        copied = _copy_on_host(exec_host, output_dir, archive_dir, [], launch, guard) + list(files)
    elif same_host:
        copied = _copy_on_host(exec_host, output_dir, archive_dir, files, launch, guard)
    else:
        _checked(archive_host.run(guard), archive_dir)
        copied = _copy_across(exec_host, output_dir, archive_host, archive_dir, [f for f in files if f not in links],
                              launch)
    if include_launch_files:
        copied += list(COPIED_LAUNCH_FILES) if same_dir else []  # already in the archive dir: nothing to copy
        archive_host.put_bytes(archived_env.encode(), posixpath.join(archive_dir, "tapisjob.env"), mode=0o600)
        copied.append("tapisjob.env")
    return copied


def _copy_on_host(host: Transport, output_dir: str, archive_dir: str, files: list[str], launch: list[str],
                  guard: str) -> list[str]:
    """One ssh exec per BATCH files: the first also checks and makes the archive dir, the last also copies the
    launch files, so a typical job archives with a single command."""
    target = shlex.quote(archive_dir)
    # --parents keeps sub-directories; -P copies a symlink as a link, never what it points to.
    commands = [f"(cd {shlex.quote(output_dir)} && cp -P --parents -p -- "
                f"{' '.join(shlex.quote(f) for f in files[start:start + BATCH])} {target}/)"
                for start in range(0, len(files), BATCH)] or ["true"]
    commands[0] = f"{guard} && mkdir -p -- {target} && {commands[0]}"
    if launch:
        existing = " ".join(shlex.quote(p) for p in launch)
        commands[-1] += f" && for f in {existing}; do if [ -f \"$f\" ]; then cp -p -- \"$f\" {target}/ || exit 1; fi; done"
    for command in commands:
        _checked(host.run(command), archive_dir)
    return [*files, *(posixpath.basename(path) for path in launch)]


def _copy_across(exec_host: Transport, output_dir: str, archive_host: Transport, archive_dir: str, files: list[str],
                 launch: list[str]) -> list[str]:
    """Through the worker. ``files`` leaves the symlinks out: one cannot be copied as a link to another host,
    and reading it would copy what it points to."""
    archive_host.makedirs(archive_dir, *{posixpath.join(archive_dir, posixpath.dirname(f)) for f in files if "/" in f})
    for name in files:
        copy_between(exec_host, posixpath.join(output_dir, name), archive_host, posixpath.join(archive_dir, name))
    for path in launch:
        if exec_host.exists(path):
            copy_between(exec_host, path, archive_host, posixpath.join(archive_dir, posixpath.basename(path)))
    return [*files, *(posixpath.basename(path) for path in launch)]


def _checked(result: CommandResult, archive_dir: str) -> None:
    if result.exit_code == OUTSIDE_ROOT:
        raise PermissionDeniedError(f"archive directory {archive_dir} resolves outside the root directory of "
                                    "its system")
    result.check()
