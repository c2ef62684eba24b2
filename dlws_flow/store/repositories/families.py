"""Writes to ``job_families``: a job's DLWorkspace family (root, token) and the DLWS parameters of a child."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from dlws_flow.store.models import JobFamilyRow


def add_job_family(session: Session, job_uuid: str, *, root_uuid: str, token_hash: str, token_encrypted: bytes) -> None:
    """Record a job's family (a new family's root names itself as ``root_uuid``)."""
    session.add(JobFamilyRow(job_uuid=job_uuid, root_uuid=root_uuid, token_hash=token_hash,
                             token_encrypted=token_encrypted))


def set_family_params(session: Session, job_uuid: str, params: dict[str, Any]) -> None:
    """The DLWS parameters a ``/child/SubmitJob`` request gave (``jobParams`` of JobDetail)."""
    session.get(JobFamilyRow, job_uuid).params = params
