"""Writes to ``openpai_jobs``: an OpenPAI job per (owner, name), the Tapis jobs of its current run, its key pair."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from dlws_flow.store.quota_models import OpenPaiJobRow


def add_openpai_job(session: Session, owner: str, name: str, *, vc_name: str, config: dict[str, Any],
                    public_key: str, private_key: bytes | None) -> None:
    """A new job with no run yet (``job_uuids`` empty); ``private_key`` is stored as given (encrypted)."""
    session.add(OpenPaiJobRow(owner=owner, name=name, vc_name=vc_name, config=config, job_uuids=[],
                              execution_type="START", retries=0, public_key=public_key,
                              private_key=private_key, key_downloaded=False))


def delete_unstarted_openpai_job(session: Session, owner: str, name: str) -> bool:
    """Free the name of a job whose first run never started (no Tapis jobs). Returns whether it went."""
    row = session.get(OpenPaiJobRow, (owner, name))
    if row is None or row.job_uuids:
        return False
    session.delete(row)
    return True


def set_openpai_run_jobs(session: Session, owner: str, name: str, job_uuids: list[str]) -> None:
    """The Tapis jobs of the job's first run."""
    session.get(OpenPaiJobRow, (owner, name)).job_uuids = job_uuids


def record_openpai_restart(session: Session, owner: str, name: str, job_uuids: list[str]) -> None:
    """A new run (START again): its Tapis jobs replace the last run's, and the retries count one more."""
    row = session.get(OpenPaiJobRow, (owner, name))
    row.job_uuids, row.execution_type, row.retries = job_uuids, "START", row.retries + 1


def mark_openpai_stopped(session: Session, owner: str, name: str) -> None:
    session.get(OpenPaiJobRow, (owner, name)).execution_type = "STOP"


def erase_openpai_key(session: Session, row: OpenPaiJobRow) -> None:
    """The private key was handed out once: it is not stored any more."""
    row.key_downloaded, row.private_key = True, None
