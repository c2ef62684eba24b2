"""The notification outbox against the run's real database: matching, same-transaction recording, the
post-commit wake-up, the delivery claim, and ordered delivery with retries to a real local HTTP server."""

from __future__ import annotations

import http.server
import itertools
import json
import threading
import time
import uuid
from datetime import timedelta

import pytest

from dlws_flow.errors import ValidationError
from dlws_flow.services import subscriptions
from dlws_flow.store import outbox
from dlws_flow.store import repositories as repo
from dlws_flow.store.db import migrate, session_scope
from dlws_flow.store.models import JobRow, NotificationRow, utcnow


@pytest.fixture(scope="module", autouse=True)
def schema():
    migrate()


@pytest.fixture
def wakeups():
    calls: list[int] = []
    outbox.set_wakeup(lambda: calls.append(1))
    yield calls
    outbox.set_wakeup(None)


def make_job(status: str = "PENDING") -> str:
    job_uuid = f"{uuid.uuid4()}-007"
    now = utcnow()
    with session_scope() as session:
        repo.insert_job(session, JobRow(
            uuid=job_uuid, name="outbox-test", owner="alice", tenant="dlws", status=status, app_id="a", app_version="1",
            job_type="FORK", exec_system_id="s", archive_system_id="s", visible=True, request={}, spec={},
            created=now, last_updated=now, remote_checks_success=0, remote_checks_failed=0, blocked_count=0))
    return job_uuid


def subscribe(job_uuid: str, category: str = "JOB_NEW_STATUS", address: str = "http://127.0.0.1:9/hook", **extra) -> str:
    with session_scope() as session:
        job = repo.get_job(session, job_uuid)
        return subscriptions.add(session, job, "alice", {"eventCategoryFilter": category, "deliveryTargets": [
            {"deliveryMethod": "WEBHOOK", "deliveryAddress": address}], **extra}).uuid


def rows(job_uuid: str) -> list[NotificationRow]:
    from sqlalchemy import select

    with session_scope() as session:
        return list(session.scalars(select(NotificationRow).where(NotificationRow.job_uuid == job_uuid)
                                    .order_by(NotificationRow.id)))


def test_no_subscription_no_rows_and_no_wakeup(wakeups):
    job = make_job()
    with session_scope() as session:
        assert repo.transition(session, job, "PENDING", "PROCESSING_INPUTS", "go")
    assert rows(job) == [] and wakeups == []


def test_filter_matching(wakeups):
    job = make_job()
    status_sub = subscribe(job, "JOB_NEW_STATUS")
    user_sub = subscribe(job, "JOB_USER_EVENT")
    all_sub = subscribe(job, "ALL")
    wakeups.clear()
    with session_scope() as session:
        assert repo.transition(session, job, "PENDING", "PROCESSING_INPUTS", "inputs")
        repo.add_job_event(session, job, "JOB_USER_EVENT", "hello")
    assert wakeups == [1]  # one wake-up per commit
    got = [(r.subscription_uuid, r.event["type"]) for r in rows(job)]
    # ALL hears of its own creation (JOB_SUBSCRIPTION, recorded with it), then of both events.
    assert got == [(all_sub, "jobs.JOB_SUBSCRIPTION.SUBSCRIPTION"),
                   (status_sub, "jobs.JOB_NEW_STATUS.PROCESSING_INPUTS"), (all_sub, "jobs.JOB_NEW_STATUS.PROCESSING_INPUTS"),
                   (user_sub, "jobs.JOB_USER_EVENT.USER_EVENT"), (all_sub, "jobs.JOB_USER_EVENT.USER_EVENT")]
    event = rows(job)[1].event
    data = json.loads(event["data"])
    assert event["subject"] == event["seriesId"] == job
    assert data["oldJobStatus"] == "PENDING" and data["newJobStatus"] == "PROCESSING_INPUTS" and data["message"] == "inputs"
    assert data["jobName"] == "outbox-test"


def test_disabled_and_expired_subscriptions_are_skipped():
    job = make_job()
    subscribe(job, enabled=False)
    expired = subscribe(job, ttlMinutes=5)
    with session_scope() as session:
        row = outbox.get_subscription(session, expired)
        row.expires = utcnow() - timedelta(seconds=1)
    with session_scope() as session:
        assert repo.transition(session, job, "PENDING", "PROCESSING_INPUTS", "go")
    assert rows(job) == []


def test_rolled_back_transition_records_nothing(wakeups):
    job = make_job()
    subscribe(job)
    wakeups.clear()
    with pytest.raises(RuntimeError), session_scope() as session:
        assert repo.transition(session, job, "PENDING", "PROCESSING_INPUTS", "go")
        raise RuntimeError("stage crashed before commit")
    assert rows(job) == [] and wakeups == []
    with session_scope() as session:  # the flag does not leak into the next transaction of a session
        repo.get_job(session, job)
    assert wakeups == []


def test_claim_is_exclusive_until_the_lease_ends():
    job = make_job()
    subscribe(job)
    with session_scope() as session:
        repo.transition(session, job, "PENDING", "PROCESSING_INPUTS", "go")
    (row,) = rows(job)
    now = utcnow()
    with session_scope() as session:
        assert outbox.claim(session, row.id, now, lease=30)
    with session_scope() as session:
        assert not outbox.claim(session, row.id, now + timedelta(seconds=1), lease=30)
        assert outbox.claim(session, row.id, now + timedelta(seconds=31), lease=30)


@pytest.mark.parametrize("request_body, message", [
    ({"eventCategoryFilter": "NOPE", "deliveryTargets": [{"deliveryMethod": "WEBHOOK", "deliveryAddress": "http://x"}]},
     "eventCategoryFilter"),
    ({"eventCategoryFilter": "ALL", "deliveryTargets": []}, "deliveryTargets"),
    ({"eventCategoryFilter": "ALL", "deliveryTargets": [{"deliveryMethod": "WEBHOOK", "deliveryAddress": "ftp://x/y"}]},
     "http"),
    ({"eventCategoryFilter": "ALL", "deliveryTargets": [{"deliveryMethod": "EMAIL", "deliveryAddress": "not-an-address"}]},
     "email"),
    ({"eventCategoryFilter": "ALL", "deliveryTargets": [{"deliveryMethod": "QUEUE", "deliveryAddress": "q"}]},
     "deliveryMethod"),
    ({"eventCategoryFilter": "ALL", "ttlMinutes": "soon",
      "deliveryTargets": [{"deliveryMethod": "EMAIL", "deliveryAddress": "a@b.org"}]}, "ttlMinutes"),
])
def test_validation(request_body, message):
    with pytest.raises(ValidationError, match=message):
        subscriptions.validate(request_body)


def test_validation_accepts_the_specs_ttlminutes():
    checked = subscriptions.validate({"eventCategoryFilter": "ALL", "ttlminutes": 60, "deliveryTargets": [
        {"deliveryMethod": "EMAIL", "deliveryAddress": "a@b.org"}]})
    assert checked["ttl_minutes"] == 60


class Hook:
    """A real HTTP server recording the JSON bodies POSTed to it; answers 500 to the first ``fail`` POSTs."""

    def __init__(self, fail: int = 0) -> None:
        self.bodies: list[dict] = []
        self.fail = fail
        hook = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if hook.fail > 0:
                    hook.fail -= 1
                    self.send_response(500)
                else:
                    hook.bodies.append(body)
                    self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def close(self) -> None:
        self.server.shutdown()


def test_ordered_delivery_with_retries(monkeypatch):
    from dlws_flow.settings import reset_settings_cache
    from workers import notification_tasks

    monkeypatch.setenv("DLWS_NOTIFY_RETRY_BASE", "0.2")
    reset_settings_cache()
    hook = Hook(fail=2)
    try:
        job = make_job()
        sub = subscribe(job, address=hook.url)
        path = ["PENDING", "PROCESSING_INPUTS", "STAGING_INPUTS", "STAGING_JOB"]
        for old, new in zip(path, path[1:]):
            with session_scope() as session:
                repo.transition(session, job, old, new, f"to {new}")
        notification_tasks.deliver_due()
        assert hook.bodies == [] and [r.attempts for r in rows(job)] == [1, 0, 0]  # the first failed, the rest waited
        deadline = time.monotonic() + 10
        while len(hook.bodies) < 3 and time.monotonic() < deadline:
            time.sleep(0.1)
            notification_tasks.deliver_due()
        assert [json.loads(b["event"]["data"])["newJobStatus"] for b in hook.bodies] == path[1:]
        assert all(b["subscriptionName"] == sub for b in hook.bodies)
        assert [r.status for r in rows(job)] == ["DELIVERED"] * 3
        assert rows(job)[0].attempts == 3
    finally:
        hook.close()
        reset_settings_cache()


def test_gives_up_after_max_attempts_then_sends_the_next(monkeypatch):
    from dlws_flow.settings import reset_settings_cache
    from workers import notification_tasks

    monkeypatch.setenv("DLWS_NOTIFY_RETRY_BASE", "0.05")
    monkeypatch.setenv("DLWS_NOTIFY_MAX_ATTEMPTS", "2")
    reset_settings_cache()
    hook = Hook(fail=2)
    try:
        job = make_job()
        subscribe(job, address=hook.url)
        for old, new in (("PENDING", "PROCESSING_INPUTS"), ("PROCESSING_INPUTS", "STAGING_INPUTS")):
            with session_scope() as session:
                repo.transition(session, job, old, new, new)
        notification_tasks.deliver_due()
        time.sleep(0.1)
        notification_tasks.deliver_due()
        assert [r.status for r in rows(job)] == ["FAILED", "DELIVERED"]
        assert [json.loads(b["event"]["data"])["newJobStatus"] for b in hook.bodies] == ["STAGING_INPUTS"]
    finally:
        hook.close()
        reset_settings_cache()


def subscribe_email(job: str, address: str) -> None:
    with session_scope() as session:
        subscriptions.add(session, repo.get_job(session, job), "alice", {"eventCategoryFilter": "JOB_NEW_STATUS",
                          "deliveryTargets": [{"deliveryMethod": "EMAIL", "deliveryAddress": address}]})


def test_email_is_mailed_in_order_over_starttls_with_the_jobs_name_state_and_link(mail_server):
    from workers import notification_tasks

    job = make_job()
    address = f"alice-{job[:8]}@example.org"
    subscribe_email(job, address)
    path = ["PENDING", "PROCESSING_INPUTS", "STAGING_INPUTS"]
    for old, new in itertools.pairwise(path):
        with session_scope() as session:
            repo.transition(session, job, old, new, f"now {new}")
    notification_tasks.deliver_due()
    first, second = mail_server.messages_to(address, count=2, timeout=10)
    assert [r.status for r in rows(job)] == ["DELIVERED", "DELIVERED"]
    assert first["Subject"] == "[dlws-flow] job outbox-test is PROCESSING_INPUTS" and second["Subject"].endswith("STAGING_INPUTS")
    assert first["From"] == "jobs@dlws.test" and first["To"] == address and first["X-Dlws-Job"] == job
    body = first.get_content()
    assert f"UUID:    {job}" in body and "PENDING -> PROCESSING_INPUTS" in body and "now PROCESSING_INPUTS" in body
    assert f"/ui/jobs/{job}" in body
    assert mail_server.all_over_tls()


def test_one_mail_per_state_change_in_order_and_a_temporary_refusal_is_retried(monkeypatch, mail_server):
    from dlws_flow.settings import reset_settings_cache
    from workers import notification_tasks

    monkeypatch.setenv("DLWS_NOTIFY_RETRY_BASE", "0.2")
    reset_settings_cache()
    try:
        job = make_job()
        address = f"flaky-{job[:8]}@example.org"
        subscribe_email(job, address)
        path = ["PENDING", "PROCESSING_INPUTS", "STAGING_INPUTS", "STAGING_JOB"]
        for old, new in itertools.pairwise(path):
            with session_scope() as session:
                repo.transition(session, job, old, new, f"now {new}")
        notification_tasks.deliver_due()
        assert address in mail_server.refused_once and mail_server.messages_to(address, count=0) == []
        assert [r.status for r in rows(job)] == ["PENDING"] * 3 and rows(job)[0].attempts == 1  # the rest wait
        deadline = time.monotonic() + 10
        while any(r.status != "DELIVERED" for r in rows(job)) and time.monotonic() < deadline:
            time.sleep(0.1)
            notification_tasks.deliver_due()
        mails = mail_server.messages_to(address, count=3, timeout=5)
        assert [m["Subject"].rsplit(" ", 1)[-1] for m in mails] == path[1:]  # one each, in order, none twice
        assert rows(job)[0].attempts == 2 and [r.status for r in rows(job)] == ["DELIVERED"] * 3
    finally:
        reset_settings_cache()


def test_a_mailbox_the_server_refuses_is_given_up_at_once_and_the_next_row_still_goes(mail_server):
    from workers import notification_tasks

    job = make_job()
    subscribe_email(job, f"ghost-{job[:8]}@nobody.invalid")
    good = f"bob-{job[:8]}@example.org"
    subscribe_email(job, good)
    with session_scope() as session:
        repo.transition(session, job, "PENDING", "PROCESSING_INPUTS", "go")
    notification_tasks.deliver_due()
    assert len(mail_server.messages_to(good, timeout=10)) == 1
    by_address = {r.target["deliveryAddress"]: r for r in rows(job)}
    refused = by_address[f"ghost-{job[:8]}@nobody.invalid"]
    assert refused.status == "FAILED" and refused.attempts == 1 and "550" in refused.last_error


def test_a_wrong_smtp_password_is_a_failed_attempt_retried_later(monkeypatch, mail_server):
    from dlws_flow.settings import reset_settings_cache
    from workers import notification_tasks

    monkeypatch.setenv("DLWS_SMTP_PASSWORD", "wrong")
    reset_settings_cache()
    try:
        job = make_job()
        subscribe_email(job, f"carol-{job[:8]}@example.org")
        with session_scope() as session:
            repo.transition(session, job, "PENDING", "PROCESSING_INPUTS", "go")
        notification_tasks.deliver_due()
        (row,) = rows(job)
        assert row.status == "PENDING" and row.attempts == 1 and "SMTPAuthenticationError" in row.last_error
    finally:
        reset_settings_cache()


def test_email_targets_are_refused_where_no_mail_server_is_configured(monkeypatch):
    from dlws_flow.settings import reset_settings_cache

    monkeypatch.setenv("DLWS_SMTP_HOST", "")
    reset_settings_cache()
    try:
        with pytest.raises(ValidationError, match="no mail server"):
            subscriptions.validate({"eventCategoryFilter": "ALL",
                                    "deliveryTargets": [{"deliveryMethod": "EMAIL", "deliveryAddress": "a@b.org"}]})
    finally:
        reset_settings_cache()

