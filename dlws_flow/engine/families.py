"""A job's family token and the service variables it runs with (``DLWS_REST_API``, ``FAMILY_TOKEN``): from
stored data, for the stage that writes ``tapisjob.env``, and for ``services.jobs`` when it inserts a job."""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy.orm import Session

from dlws_flow import secrets as stored
from dlws_flow.settings import get_settings
from dlws_flow.store import repositories as repo
from dlws_flow.store.models import JobFamilyRow, JobRow


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def rest_api_url() -> str:
    """``DLWS_REST_API``: our base URL as job hosts reach it, ending in ``/child/``.

    The DLWS examples use it as ``$DLWS_REST_API + "KillJob"`` and as ``$DLWS_REST_API + "/child/SubmitJob"``;
    the API serves both (``/child/KillJob`` and ``/child//child/SubmitJob``), see ``api/families.py``.
    """
    settings = get_settings()
    return f"{(settings.job_api_url or settings.api_base_url).rstrip('/')}/child/"


def attach(session: Session, row: JobRow) -> None:
    """Record a new job's family, in the transaction that inserts it: a job whose parent has a family joins
    it (same token); any other job is the root of a new family."""
    parent = session.get(JobFamilyRow, row.parent_uuid) if row.parent_uuid else None
    if parent is None:
        token = secrets.token_urlsafe(32)
        repo.add_job_family(session, row.uuid, root_uuid=row.uuid, token_hash=token_hash(token),
                            token_encrypted=stored.encrypt(token))
    else:
        repo.add_job_family(session, row.uuid, root_uuid=parent.root_uuid, token_hash=parent.token_hash,
                            token_encrypted=parent.token_encrypted)


def environment(session: Session, job: JobRow) -> dict[str, str]:
    """``DLWS_REST_API`` and ``FAMILY_TOKEN`` for ``tapisjob.env`` (no token for jobs older than families)."""
    env = {"DLWS_REST_API": rest_api_url()}
    family = session.get(JobFamilyRow, job.uuid)
    if family is not None:
        env["FAMILY_TOKEN"] = stored.decrypt(family.token_encrypted) or ""
    return env
