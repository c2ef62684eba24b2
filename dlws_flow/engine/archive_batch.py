"""The archive of many jobs of one host at once: the elements of a sweep's job array that one poll saw end.

Each job is archived exactly as its own ``archive`` stage would (``engine.archiving``) in the default case
this covers: the archive dir is the job's output dir on the exec system, so the outputs stay in place, the
launch script is copied in and the archived ``tapisjob.env`` (without service secrets) is written. Instead
of two or three round trips per job: one command lists every job's outputs and copies its launch script, and
one upload writes every archived env file. A job this path does not cover (another archive system or dir)
is left to its own stage, and so is every job of a batch whose host does not answer (its stage retries and
blocks as usual).
"""

from __future__ import annotations

import logging
import posixpath
import shlex
from dataclasses import dataclass

from dlws_flow.adapters.staging import archive as archiving
from dlws_flow.adapters.transports import Transport
from dlws_flow.adapters.transports.base import FileEntry
from dlws_flow.adapters.transports.bundle import FileBundle, upload
from dlws_flow.domain.job_spec import JobSpecView
from dlws_flow.domain.states import JobStatus
from dlws_flow.engine.archiving import archived_env_file, record_archived
from dlws_flow.engine.hooks import job_ended
from dlws_flow.engine.hosts import open_transport
from dlws_flow.engine.lifecycle import enter, fail_job, systems_of
from dlws_flow.store.db import session_scope

log = logging.getLogger(__name__)


@dataclass
class _Archive:
    uuid: str
    output_dir: str
    exec_dir: str
    log_files: list[str]
    includes: list[str]
    excludes: list[str]
    include_launch: bool
    archived_env: str
    guard: str
    outcome: str | None
    exit_code: int | None
    reason: str | None


def archive_together(uuids: list[str]) -> list[str]:
    """Archive ``uuids`` (jobs in ARCHIVING) together where this path covers them; returns the ones left to
    their own ``archive`` stage."""
    if len(uuids) < 2:
        return uuids
    plans, left, transport = _plan(uuids)
    if not plans or transport is None:
        return left
    listings, refused = _list_and_copy(transport, plans)
    bundle = FileBundle()
    for plan in plans:
        if plan.uuid not in refused and plan.include_launch:
            bundle.add_file(posixpath.join(plan.output_dir, "tapisjob.env"), plan.archived_env.encode(), mode=0o600)
    if bundle.count:
        upload(transport, bundle, plans[0].exec_dir)
    for plan in plans:
        if plan.uuid in refused:
            fail_job(plan.uuid, f"archive failed: archive directory {plan.output_dir} resolves outside the root "
                                "directory of its system")
        else:
            _finish(plan, listings.get(plan.uuid, []))
    return left


def _plan(uuids: list[str]) -> tuple[list[_Archive], list[str], Transport | None]:
    plans: list[_Archive] = []
    left: list[str] = []
    transport, host_of = None, None
    with session_scope() as session:
        for uuid in uuids:
            job = enter(session, uuid, JobStatus.ARCHIVING, "archive")
            if job is None:
                continue  # archived meanwhile, paused or cancelled: nothing for this batch to do
            dirs, spec = job.host_dirs or {}, JobSpecView.of(job.spec)
            in_place = job.archive_system_id == job.exec_system_id and \
                dirs["ArchiveSystemDir"].rstrip("/") == dirs["ExecSystemOutputDir"].rstrip("/")
            if not in_place or host_of not in (None, (job.exec_system_id, job.owner)):
                left.append(uuid)
                continue
            if transport is None:
                exec_system, _ = systems_of(session, job)
                transport, host_of = open_transport(session, exec_system, job.owner), (job.exec_system_id, job.owner)
                root = exec_system.rootDir or "/"
            plans.append(_Archive(
                uuid=uuid, output_dir=dirs["ExecSystemOutputDir"], exec_dir=dirs["ExecSystemExecDir"],
                log_files=sorted({spec.log_config.stdoutFilename, spec.log_config.stderrFilename}),
                includes=spec.archive_filter.includes, excludes=spec.archive_filter.excludes,
                include_launch=spec.archive_filter.includeLaunchFiles, archived_env=archived_env_file(session, job),
                guard=archiving.root_guard(root, dirs["ExecSystemOutputDir"]), outcome=job.remote_outcome,
                exit_code=job.exit_code, reason=job.remote_result_info))
    return plans, left, transport


def _list_and_copy(transport: Transport, plans: list[_Archive]) -> tuple[dict[str, list[FileEntry]], set[str]]:
    """One command: for each job, the listing of its output dir (as ``Transport.walk``: links not followed),
    then (as ``archive_outputs`` in place) the root check and the copy of its launch script."""
    parts = []
    for index, plan in enumerate(plans):
        out = shlex.quote(plan.output_dir)
        copy = ""
        if plan.include_launch and posixpath.normpath(plan.exec_dir) != posixpath.normpath(plan.output_dir):
            launch = " ".join(shlex.quote(posixpath.join(plan.exec_dir, f)) for f in archiving.COPIED_LAUNCH_FILES)
            copy = f" && for f in {launch}; do if [ -f \"$f\" ]; then cp -p -- \"$f\" {out}/ || exit 1; fi; done"
        parts.append(f"printf '\\0J %s\\0' {index}; [ -d {out} ] && find {out} -mindepth 1 -printf '%y\\t%s\\t%T@\\t%P\\0'; "
                     f"({plan.guard} && mkdir -p -- {out}{copy}); printf '\\0R %s %s\\0' {index} $?")
    stdout = transport.run("; ".join(parts)).check().stdout
    listings: dict[str, list[FileEntry]] = {}
    refused: set[str] = set()
    current: list[FileEntry] | None = None
    for record in stdout.split("\0"):
        if record.startswith("J ") and record[2:].isdigit():
            current = listings.setdefault(plans[int(record[2:])].uuid, [])
        elif record.startswith("R "):
            index, code = record[2:].split(" ", 1)
            if code.strip() == str(archiving.OUTSIDE_ROOT):
                refused.add(plans[int(index)].uuid)
            elif code.strip() != "0":
                raise RuntimeError(f"archiving {plans[int(index)].uuid} answered {code.strip()}")
        elif record and current is not None:
            kind, size, mtime, path = record.split("\t", 3)
            current.append(FileEntry(path, int(size), kind == "d", float(mtime), kind == "l"))
    return listings, refused


def _finish(plan: _Archive, entries: list[FileEntry]) -> None:
    files = [e.path for e in entries if not e.is_dir]
    chosen = archiving.plan_archive(files, plan.includes, plan.excludes, plan.log_files, plan.include_launch)
    copied = list(chosen)
    if plan.include_launch:  # copied in by the command, or there already (the exec dir is the output dir)
        copied += [*archiving.COPIED_LAUNCH_FILES, "tapisjob.env"]
    if record_archived(plan.uuid, copied, plan.outcome, plan.exit_code, plan.reason):
        job_ended(plan.uuid)
