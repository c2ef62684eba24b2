"""Every way a job ends calls the job-end hooks (virtual-cluster admission hangs on them), after the commit:
also a job that failed on its host without archiving, and one blocked once too often."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import insert


@pytest.fixture(autouse=True, scope="module")
def schema():
    from dlws_flow.store.db import migrate

    migrate()


@pytest.fixture
def ended():
    from dlws_flow.engine import hooks

    seen: list[str] = []
    hooks.on_job_end(seen.append)
    yield seen
    hooks._on_job_end.remove(seen.append)


def running_job(**spec_fields) -> str:
    from dlws_flow.store.db import session_scope
    from dlws_flow.store.models import JobRow, utcnow

    job_uuid, now = f"{uuid.uuid4()}-007", utcnow()
    spec = {"uuid": job_uuid, "name": "ends", "owner": "hooked", "tenant": "dlws", "appId": "a", "appVersion": "1",
            "runtime": "ZIP", "containerImage": "/bin/sh", "jobType": "FORK", "execSystemId": "s",
            "execSystemExecDir": "/x", "execSystemInputDir": "/x/in", "execSystemOutputDir": "/x/out",
            "archiveSystemId": "s", "archiveSystemDir": "/x/out", "nodeCount": 1, "coresPerNode": 1, "memoryMB": 100,
            "maxMinutes": 10, "created": now.isoformat(), "fileInputs": [], "parameterSet": {}, "macros": {},
            **spec_fields}
    with session_scope() as session:
        session.execute(insert(JobRow), [{
            "uuid": job_uuid, "name": "ends", "owner": "hooked", "tenant": "dlws", "status": "RUNNING", "app_id": "a",
            "app_version": "1", "job_type": "FORK", "exec_system_id": "s", "archive_system_id": "s",
            "exec_login": "hooked", "remote_job_id": "4242", "request": {}, "spec": spec, "created": now,
            "last_updated": now, "visible": True, "blocked_count": 99}])
    return job_uuid


def status_of(job_uuid: str) -> str:
    from dlws_flow.store import repositories as repo
    from dlws_flow.store.db import session_scope

    with session_scope() as session:
        return repo.get_job(session, job_uuid).status


def test_a_job_blocked_once_too_often_fails_and_calls_the_hooks(ended):
    from dlws_flow.domain.recovery import Condition
    from dlws_flow.engine import recovery

    job_uuid = running_job()
    assert recovery.block(job_uuid, "monitor", Condition.HOST_UNREACHABLE, "host down")
    assert status_of(job_uuid) == "FAILED"
    assert ended == [job_uuid]


def test_a_host_failure_without_archiving_ends_the_job_and_says_so():
    from dlws_flow.adapters.schedulers import RemoteState, RemoteStatus
    from dlws_flow.domain.states import JobStatus
    from dlws_flow.engine.monitoring import apply_status
    from dlws_flow.store import repositories as repo
    from dlws_flow.store.db import session_scope

    failing, archiving = running_job(archiveOnAppError=False), running_job()
    with session_scope() as session:
        moved = [apply_status(session, repo.get_job(session, job_uuid), RemoteStatus(RemoteState.DONE, exit_code=3))
                 for job_uuid in (failing, archiving)]
    assert moved == [JobStatus.FAILED, JobStatus.ARCHIVING]  # poll_system calls the hooks for the first only
    with session_scope() as session:  # no job left active on system "s" (it does not exist) for the suite's worker
        repo.transition(session, archiving, JobStatus.ARCHIVING, JobStatus.CANCELLED, "test over")
