"""P6: a Tapis job search through the service the route calls, vs the same SQL sent straight to PostgreSQL.

The search is a user's: ``name.like=p5-fill*``, ``status.eq=FINISHED``, ``listType=ALL_JOBS`` (their own jobs or
those shared with them: the visibility is part of the SQL), ``orderBy=created(desc)``, ``limit=100``, the
summary attributes. ``jobs.search_page`` parses and checks it, builds the statement, runs it, shows each job
and keeps the selected attributes; the baseline runs the hand-written SELECT with the same WHERE and ORDER BY.
"""

from __future__ import annotations

import time
import uuid

from bench.runs import Measure, _median_seconds
from bench.stack import BENCH_USER, Stack

DIRECT = """SELECT * FROM jobs WHERE visible AND (owner = %(user)s OR uuid IN (SELECT resource_id FROM grants
            WHERE kind = 'job' AND username = %(user)s AND permission IN ('READ', 'MODIFY')))
            AND status = 'FINISHED' AND name LIKE 'p5-fill%%' ESCAPE '\\'
            ORDER BY created DESC, uuid DESC LIMIT 100"""


def _fill(ids: dict[str, str], n_rows: int) -> float:
    """Top the jobs table up to ``n_rows`` with finished and failed filler jobs of the bench user (P5's filler,
    when P5 ran first, already is); returns the seconds it took."""
    from sqlalchemy import func, insert, select

    from dlws_flow.store.db import session_scope
    from dlws_flow.store.models import JobRow, utcnow

    with session_scope() as session:
        have = session.scalar(select(func.count()).select_from(JobRow))
    start, now = time.perf_counter(), utcnow()
    for chunk in range(have, n_rows, 5000):
        rows = [{"uuid": f"{uuid.uuid4()}-007", "name": "p5-filler", "owner": BENCH_USER, "tenant": "dlws",
                 "status": "FINISHED" if n % 2 else "FAILED", "app_id": ids["app"], "app_version": "1.0",
                 "job_type": "FORK", "exec_system_id": ids["vm"], "archive_system_id": ids["vm"], "request": {},
                 "spec": {"parameterSet": {}}, "created": now, "last_updated": now, "visible": True}
                for n in range(min(5000, n_rows - chunk))]
        with session_scope() as session:
            session.execute(insert(JobRow), rows)
    return time.perf_counter() - start


def p6_job_search(stack: Stack, ids: dict[str, str], n_rows: int, repeats: int = 20) -> list[Measure]:
    import psycopg

    from dlws_flow.domain.listing import ListRequest
    from dlws_flow.services import jobs as job_service
    from dlws_flow.services.auth import Principal

    fill_seconds = _fill(ids, n_rows)
    caller = Principal(BENCH_USER, "dlws")
    request = ListRequest(params=(("name.like", "p5-fill*"), ("status.eq", "FINISHED")), list_type="ALL_JOBS",
                          order_by="created(desc)", limit=100)
    with psycopg.connect(stack.database_url.replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute("ANALYZE jobs")
        total = conn.execute("SELECT count(*) FROM jobs").fetchone()[0]

        def direct() -> None:
            assert len(conn.execute(DIRECT, {"user": BENCH_USER}).fetchall()) == 100

        baseline = _median_seconds(direct, repeats)

    def searched() -> None:
        assert len(job_service.search_page(caller, request).records) == 100

    ours = _median_seconds(searched, repeats)
    note = f"{total} jobs in the table (topped up in {fill_seconds:.0f} s), median of {repeats}"
    return [Measure(f"P6 job search, 100 of {total // 1000}k", ours, "s", baseline, "lower", note)]
