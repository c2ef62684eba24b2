"""The last stage: copy the chosen outputs to the archive system, then end the job FINISHED or FAILED."""

from __future__ import annotations

import logging

from sqlalchemy.orm import Session

from dlws_flow.adapters.staging import archive as archiving
from dlws_flow.domain.environment import render_env_file, without_secrets
from dlws_flow.domain.job_spec import JobSpecView
from dlws_flow.domain.states import JobStatus
from dlws_flow.engine.hooks import job_ended
from dlws_flow.engine.hosts import open_transport
from dlws_flow.engine.launch import environment_of
from dlws_flow.engine.lifecycle import Outcome, enter, systems_of
from dlws_flow.store import repositories as repo
from dlws_flow.store.db import session_scope
from dlws_flow.store.models import JobRow

log = logging.getLogger(__name__)


def archive(uuid: str) -> Outcome:
    """Copy outputs to the archive system, then end FINISHED (exit 0) or FAILED."""
    with session_scope() as session:
        job = enter(session, uuid, JobStatus.ARCHIVING, "archive")
        if job is None:
            return Outcome.STOP
        exec_system, archive_system = systems_of(session, job)
        exec_host = open_transport(session, exec_system, job.owner)
        archive_host = exec_host if archive_system.id == exec_system.id else open_transport(session, archive_system, job.owner)
        dirs = job.host_dirs or {}
        spec = JobSpecView.of(job.spec)
        log_config, archive_filter = spec.log_config, spec.archive_filter
        outcome, exit_code, reason = job.remote_outcome, job.exit_code, job.remote_result_info
        archive_root = archive_system.rootDir or "/"
        archived_env = archived_env_file(session, job)

    output_dir = dirs["ExecSystemOutputDir"]
    entries = exec_host.walk(output_dir) if exec_host.is_dir(output_dir) else []
    files = [e.path for e in entries if not e.is_dir]
    log_files = sorted({log_config.stdoutFilename, log_config.stderrFilename})
    include_launch = archive_filter.includeLaunchFiles
    chosen = archiving.plan_archive(files, archive_filter.includes, archive_filter.excludes, log_files, include_launch)
    same_host = archive_system.id == exec_system.id
    copied = archiving.archive_outputs(exec_host, output_dir, dirs["ExecSystemExecDir"], archive_host,
                                       dirs["ArchiveSystemDir"], chosen, include_launch, same_host=same_host,
                                       in_place=same_host and dirs["ArchiveSystemDir"].rstrip("/") == output_dir.rstrip("/"),
                                       links=frozenset(e.path for e in entries if e.is_link),
                                       archived_env=archived_env, archive_root=archive_root)
    record_archived(uuid, copied, outcome, exit_code, reason)
    job_ended(uuid)
    return Outcome.CONTINUE


def archived_env_file(session: Session, job: JobRow) -> str:
    """The ``tapisjob.env`` an archive holds: the job's own without the service secrets (``FAMILY_TOKEN``)."""
    return render_env_file(without_secrets(environment_of(session, job)))


def record_archived(uuid: str, copied: list[str], outcome: str | None, exit_code: int | None,
                    reason: str | None) -> bool:
    """Record what was archived (``archivedPaths``, what the outputs serve from now on), then end the job
    FINISHED (its app succeeded) or FAILED; returns whether this call ended it."""
    with session_scope() as session:
        job = repo.get_job(session, uuid)
        spec = {**job.spec, "archived": True, "archivedFiles": len(copied), "archivedPaths": sorted(set(copied))}
        repo.update_job_fields(session, uuid, spec=spec)
        if outcome == "FINISHED":
            return repo.transition(session, uuid, JobStatus.ARCHIVING, JobStatus.FINISHED, "Job completed successfully")
        return repo.transition(session, uuid, JobStatus.ARCHIVING, JobStatus.FAILED,
                               f"Job failed: {reason or f'the application exited with code {exit_code}'}")
