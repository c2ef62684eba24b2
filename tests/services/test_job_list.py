"""Job lists: a fixed number of queries however many jobs (no N+1), newest first with a stable tie-break,
so pages never repeat or skip a job even when many share one creation time."""

from __future__ import annotations

import uuid
from contextlib import contextmanager

import pytest
from sqlalchemy import event, insert


@pytest.fixture(autouse=True, scope="module")
def schema():
    from dlws_flow.store.db import migrate

    migrate()


def add_jobs(owner: str, count: int, created=None) -> list[str]:
    from dlws_flow.store.db import session_scope
    from dlws_flow.store.models import JobRow, utcnow

    when = created or utcnow()
    uuids = [f"{uuid.uuid4()}-007" for _ in range(count)]
    with session_scope() as session:
        session.execute(insert(JobRow), [
            {"uuid": u, "name": "listed", "owner": owner, "tenant": "dlws", "status": "FINISHED", "app_id": "a",
             "app_version": "1", "job_type": "FORK", "exec_system_id": "s", "archive_system_id": "s",
             "request": {}, "spec": {"parameterSet": {}}, "created": when, "last_updated": when, "visible": True}
            for u in uuids])
    return uuids


@contextmanager
def counted_queries():
    from dlws_flow.store.db import get_engine

    statements: list[str] = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    engine = get_engine()
    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)


def test_listing_costs_the_same_queries_for_5_or_500_jobs():
    from dlws_flow.services import jobs
    from dlws_flow.services.auth import Principal

    few, many = Principal("list_few", "dlws"), Principal("list_many", "dlws")
    add_jobs(few.username, 5)
    add_jobs(many.username, 500)
    jobs.search_for(few, limit=1000)  # warm: first-use queries of the pool and settings
    with counted_queries() as small:
        assert len(jobs.search_for(few, limit=1000)) == 5
    with counted_queries() as large:
        assert len(jobs.search_for(many, limit=1000)) == 500
    assert len(small) == len(large) <= 3


def test_pages_of_jobs_created_together_neither_repeat_nor_skip():
    from dlws_flow.services import jobs
    from dlws_flow.services.auth import Principal

    caller = Principal("list_pages", "dlws")
    made = set(add_jobs(caller.username, 45))
    seen = []
    for skip in range(0, 45, 10):
        seen += [j["uuid"] for j in jobs.search_for(caller, limit=10, skip=skip)]
    assert len(seen) == 45 and set(seen) == made
    assert seen == sorted(seen, reverse=True)  # same creation time: newest-first ties break by uuid, descending
