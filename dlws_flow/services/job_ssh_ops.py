"""The host operation that opens a running OpenPAI task's SSH entry (``engine.job_ssh.open_entry``), run by a
worker through the file gateway like a file operation (the API opens no SSH connections). The worker reads
the job's key pair itself: the private key, needed to prove the entry, never travels through the broker."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from dlws_flow import secrets
from dlws_flow.adapters.transports import Transport
from dlws_flow.engine import job_ssh
from dlws_flow.errors import NotFoundError
from dlws_flow.store.db import session_scope
from dlws_flow.store.quota_models import OpenPaiJobRow


def op_open_job_ssh(transport: Transport, *, root: str, path: str, job_uuid: str, openpai_owner: str,
                    openpai_name: str) -> dict[str, Any]:
    with session_scope() as session:
        row = session.get(OpenPaiJobRow, (openpai_owner, openpai_name))
        if row is None or job_uuid not in (row.job_uuids or []):
            raise NotFoundError(f"job {job_uuid} is not a task of OpenPAI job {openpai_name}")
        public_key = row.public_key
        private_key = secrets.decrypt(row.private_key) if row.private_key is not None and not row.key_downloaded else None
    return asdict(job_ssh.open_entry(transport, job_uuid, public_key, private_key))


JOB_SSH_OPERATIONS: dict[str, Callable[..., dict[str, Any]]] = {"open_job_ssh": op_open_job_ssh}
