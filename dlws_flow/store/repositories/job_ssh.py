"""Writes to ``job_ssh_entries``: which running jobs have their OpenPAI key installed on the exec host."""

from __future__ import annotations

from sqlalchemy.orm import Session

from dlws_flow.store.quota_models import JobSshEntryRow


def job_ssh_entry(session: Session, job_uuid: str) -> JobSshEntryRow | None:
    return session.get(JobSshEntryRow, job_uuid)


def record_job_ssh_entry(session: Session, job_uuid: str, *, system_id: str, exec_dir: str, verified: bool | None,
                         problem: str | None) -> None:
    """The outcome of installing the job's entry (replacing an earlier one)."""
    row = session.get(JobSshEntryRow, job_uuid)
    if row is None:
        session.add(JobSshEntryRow(job_uuid=job_uuid, system_id=system_id, exec_dir=exec_dir, verified=verified,
                                   problem=problem))
    else:
        row.system_id, row.exec_dir, row.verified, row.problem = system_id, exec_dir, verified, problem


def drop_job_ssh_entry(session: Session, job_uuid: str) -> bool:
    """Forget the job's entry (it was removed from the host). Returns whether there was one."""
    row = session.get(JobSshEntryRow, job_uuid)
    if row is None:
        return False
    session.delete(row)
    return True
