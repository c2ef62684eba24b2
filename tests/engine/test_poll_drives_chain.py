"""The poll that sees a job end starts its archive at once, for every job of the (system, login) it covered,
not only the one whose monitor task ran it; that job's own monitor task, when it comes round, does nothing.
A real poll: a LOCAL system (this machine's shell), the fork scheduler's status command, real exit-code files."""

from __future__ import annotations

import os
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import insert, update

SYSTEM = f"poll-local-{uuid.uuid4().hex[:6]}"


@pytest.fixture(scope="module")
def system(tmp_path_factory):
    from dlws_flow.services.catalog import add_system
    from dlws_flow.store.db import migrate

    migrate()
    root = tmp_path_factory.mktemp("poll")
    add_system({"id": SYSTEM, "host": "localhost", "effectiveUserId": "pollster", "transport": "LOCAL",
                "rootDir": str(root), "jobWorkingDir": str(root), "canExec": True}, owner="pollster", replace=True)
    yield root
    end_all(SYSTEM)


def end_all(system_id: str) -> None:
    """Leave no job of these tests active: the suite's later worker (same database) would keep watching it."""
    from dlws_flow.domain.states import JobStatus
    from dlws_flow.store import repositories as repo
    from dlws_flow.store.db import session_scope
    from dlws_flow.store.models import JobRow

    with session_scope() as session:
        for row in session.query(JobRow).filter(JobRow.exec_system_id == system_id):
            if row.status in ("RUNNING", "ARCHIVING"):
                repo.transition(session, row.uuid, JobStatus(row.status), JobStatus.CANCELLED, "test over")


@pytest.fixture
def sent():
    from dlws_flow.engine import hooks

    seen: list[tuple[str, str]] = []

    def record(job_uuid: str, stage: str) -> None:
        seen.append((job_uuid, stage))

    hooks.on_stage_due(record)
    yield seen
    hooks._on_stage_due.remove(record)


def launched_job(root, exit_code: int | None) -> str:
    """A RUNNING fork job of SYSTEM, launched long ago: ended with ``exit_code``, or still running (None)."""
    from dlws_flow.store.db import session_scope
    from dlws_flow.store.models import JobRow, utcnow

    job_uuid, long_ago = f"{uuid.uuid4()}-007", utcnow() - timedelta(hours=1)
    exec_dir = root / job_uuid
    exec_dir.mkdir()
    if exit_code is not None:
        (exec_dir / "tapisjob.exitcode").write_text(f"{exit_code}\n")
    pid = str(os.getpid()) if exit_code is None else "999999999"
    spec = {"uuid": job_uuid, "name": "polled", "owner": "pollster", "tenant": "dlws", "appId": "a", "appVersion": "1",
            "runtime": "ZIP", "containerImage": "/bin/sh", "jobType": "FORK", "execSystemId": SYSTEM,
            "execSystemExecDir": str(exec_dir), "execSystemInputDir": str(exec_dir), "execSystemOutputDir": str(exec_dir),
            "archiveSystemId": SYSTEM, "archiveSystemDir": str(exec_dir), "nodeCount": 1, "coresPerNode": 1,
            "memoryMB": 100, "maxMinutes": 10, "created": long_ago.isoformat(), "fileInputs": [], "parameterSet": {},
            "macros": {}}
    with session_scope() as session:
        session.execute(insert(JobRow), [{
            "uuid": job_uuid, "name": "polled", "owner": "pollster", "tenant": "dlws", "status": "RUNNING",
            "app_id": "a", "app_version": "1", "job_type": "FORK", "exec_system_id": SYSTEM, "archive_system_id": SYSTEM,
            "exec_login": "pollster", "remote_job_id": pid, "request": {}, "spec": spec, "created": long_ago,
            "last_updated": long_ago, "remote_started": long_ago, "visible": True,
            "host_dirs": {"ExecSystemExecDir": str(exec_dir)}}])
    return job_uuid


def status_of(job_uuid: str) -> str:
    from dlws_flow.store import repositories as repo
    from dlws_flow.store.db import session_scope

    with session_scope() as session:
        return repo.get_job(session, job_uuid).status


def test_a_poll_sends_the_archive_of_every_job_it_saw_end(system, sent):
    from dlws_flow.engine.lifecycle import Outcome
    from dlws_flow.engine.monitoring import monitor, poll_system

    polling, other, running = launched_job(system, 0), launched_job(system, 0), launched_job(system, None)
    assert poll_system(SYSTEM, "pollster", "pollster") == 2  # two jobs changed
    assert sorted(sent) == sorted([(polling, "archive"), (other, "archive")])
    assert (status_of(polling), status_of(other), status_of(running)) == ("ARCHIVING", "ARCHIVING", "RUNNING")

    # Their own monitor tasks, when their timers come round, neither poll again nor send another archive.
    assert monitor(polling).outcome == Outcome.STOP and monitor(other).outcome == Outcome.STOP
    assert len(sent) == 2


def test_a_look_that_finds_no_poller_starts_one_instead_of_polling(system, sent):
    from dlws_flow.engine import hooks
    from dlws_flow.engine.lifecycle import Outcome
    from dlws_flow.engine.monitoring import monitor
    from dlws_flow.settings import get_settings
    from dlws_flow.store import repositories as repo
    from dlws_flow.store.db import session_scope
    from dlws_flow.store.models import SystemPollRow

    end_all(SYSTEM)
    with session_scope() as session:  # no live poller for the pair
        session.execute(update(SystemPollRow).where(SystemPollRow.system_id == SYSTEM).values(poller_token=None))
        polls_before = repo.poll_count(session, SYSTEM, "pollster")
    started: list[tuple] = []

    def record(*args) -> None:
        started.append(args)

    hooks.on_poller_due(record)
    try:
        running = launched_job(system, None)
        look = monitor(running)
        assert look.outcome == Outcome.POLL and look.delay == get_settings().monitor_safety_interval
        assert len(started) == 1 and started[0][:3] == (SYSTEM, "pollster", "pollster")
        with session_scope() as session:
            assert repo.poll_count(session, SYSTEM, "pollster") == polls_before  # the poller's first run polls
        assert monitor(running).delay == get_settings().monitor_safety_interval and len(started) == 1
    finally:
        hooks._on_poller_due.remove(record)


def test_a_job_that_failed_without_archiving_gets_no_archive(system, sent):
    from dlws_flow.engine.monitoring import poll_system

    failed = launched_job(system, 3)
    from dlws_flow.store import repositories as repo
    from dlws_flow.store.db import session_scope

    with session_scope() as session:  # archiveOnAppError false: a failed job ends without archiving
        row = repo.get_job(session, failed)
        row.spec = {**row.spec, "archiveOnAppError": False}
    poll_system(SYSTEM, "pollster", "pollster")
    assert status_of(failed) == "FAILED" and (failed, "archive") not in sent


def test_the_pairs_poller_is_the_clock_and_each_jobs_own_look_only_a_safety_net(system, sent):
    from dlws_flow.engine.lifecycle import Outcome
    from dlws_flow.engine.monitoring import monitor, poller_run, poller_stale_before
    from dlws_flow.settings import get_settings
    from dlws_flow.store import repositories as repo
    from dlws_flow.store.db import session_scope
    from dlws_flow.store.models import SystemPollRow, utcnow

    end_all(SYSTEM)
    running = launched_job(system, None)
    with session_scope() as session:  # taking over from any poller an earlier look started
        assert repo.claim_poller(session, SYSTEM, "pollster", "t-1", utcnow() + timedelta(seconds=1))
    following = poller_run(SYSTEM, "pollster", "pollster", "t-1", 0)
    assert following.run == 1 and 0 < following.delay <= get_settings().monitor_max_interval
    assert poller_run(SYSTEM, "pollster", "pollster", "t-1", 0) is None  # that run's message again: it stops

    # While the poller runs, the job's own look neither polls nor starts a poller: it comes back much later.
    look = monitor(running)
    assert look.outcome == Outcome.POLL and look.delay == get_settings().monitor_safety_interval

    # The job ends: the poller's next run sees it, sends its archive, and stops with nothing left to watch.
    exec_dir = system / running
    (exec_dir / "tapisjob.exitcode").write_text("0\n")
    with session_scope() as session:  # the job's process is gone as well (the fork scheduler checks both)
        repo.update_job_fields(session, running, remote_job_id="999999999")
        session.execute(update(SystemPollRow).where(SystemPollRow.system_id == SYSTEM)  # past the interval between polls
                        .values(last_poll=utcnow() - timedelta(hours=1)))
    assert poller_run(SYSTEM, "pollster", "pollster", "t-1", 1) is None
    assert (running, "archive") in sent and status_of(running) == "ARCHIVING"
    with session_scope() as session:
        assert not repo.poller_seen_since(session, SYSTEM, "pollster", poller_stale_before())  # released
