"""Deliver queued job notifications (the outbox of ``dlws_flow.store.outbox``).

``dlws.deliver_notifications`` takes, for every subscription, its oldest pending notification, and sends
the subscription's rows one after another until one fails: a failed row gets a backoff
(``DLWS_NOTIFY_RETRY_BASE`` × 2^(attempt-1) s, at most ``DLWS_NOTIFY_RETRY_MAX_INTERVAL``) and blocks the
later rows of its subscription, so events arrive in order. After ``DLWS_NOTIFY_MAX_ATTEMPTS`` failed
attempts the row is given up (FAILED, logged) and the next one is sent.

Each row is claimed with a compare-and-set on ``next_attempt`` before it is sent, so two workers never
send one row at the same time. Delivery is at-least-once: a worker that dies after the POST but before
recording it leaves the row to be sent again when its lease ends.

WEBHOOK: an HTTP POST of the Tapis ``Notification`` JSON (the event under ``event``); any 2xx is success.
The target is checked against the deployment's address policy at every attempt, because DNS can change
after the subscription was accepted (``dlws_flow.adapters.staging.safe_http``: resolved once, every address checked,
the checked address connected to, redirects not followed). A refused address fails the row at once
(FAILED, "address not allowed"; retrying would not change the answer) and the next row is sent.
EMAIL: one message per row through the deployment's mail server (``DLWS_SMTP_*``,
``dlws_flow.adapters.mail``): the job's name and new state in the subject, the change, its message and a link
to the job's page in the body (``dlws_flow.domain.notification_mail``). Same outbox, order and retries as a
webhook; a permanent refusal (5xx) fails the row at once.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from celery import Task
from celery.signals import worker_ready

from dlws_flow.adapters import mail
from dlws_flow.adapters.staging import safe_http
from dlws_flow.domain.address_policy import AddressNotAllowedError
from dlws_flow.domain.notification_mail import compose
from dlws_flow.settings import get_settings
from dlws_flow.store import outbox
from dlws_flow.store.db import session_scope
from dlws_flow.store.models import NotificationRow, utcnow
from workers import notification_wakeup  # noqa: F401  (registers the wake-up in the worker too)
from workers.app import app

log = logging.getLogger(__name__)

#: Failures retrying cannot mend: the row is given up at once and the subscription's next row is sent.
PERMANENT = (AddressNotAllowedError, mail.MailRefusedError)
#: Rows sent by one task run before it hands over to a fresh run (keeps a run short).
BATCH = 500


def retry_delay(attempts: int) -> float:
    """Backoff after the ``attempts``-th failed attempt (1, 2, ...)."""
    settings = get_settings()
    return min(settings.notify_retry_max_interval, settings.notify_retry_base * 2.0 ** (attempts - 1))


def notification_body(row: NotificationRow) -> dict[str, Any]:
    """What a webhook receives: Tapis' ``Notification``, wrapping the event."""
    event = row.event
    return {"uuid": f"{event.get('uuid')}-{row.id}", "tenant": event.get("tenant"),
            "subscriptionName": row.subscription_uuid, "eventUuid": event.get("uuid"), "event": event,
            "deliveryTarget": row.target, "created": row.created.isoformat() if row.created else None}


def job_page_url(job_uuid: str) -> str:
    """Where a person reading a notification sees the job: its dashboard page (``api/ui``)."""
    return f"{get_settings().api_base_url.rstrip('/')}/ui/jobs/{job_uuid}"


def send(row: NotificationRow) -> str | None:
    """Deliver one row. Returns a note for the record; raises on failure (``AddressNotAllowedError``,
    ``MailRefusedError``: for good)."""
    method, address = row.target.get("deliveryMethod"), row.target.get("deliveryAddress")
    if method == "WEBHOOK":
        with safe_http.stream("POST", address, timeout=get_settings().notify_timeout, json=notification_body(row),
                              headers={"User-Agent": "dlws-flow-notifications"}) as response:
            if not response.is_success:
                raise RuntimeError(f"webhook answered HTTP {response.status_code}")
        return None
    if method == "EMAIL":
        settings = get_settings()
        mail.send(compose(row.event, sender=settings.smtp_from, recipient=address, job_url=job_page_url(row.job_uuid)))
        return None
    raise RuntimeError(f"unknown delivery method {method!r}")


def _lease() -> float:
    return get_settings().notify_timeout * 3 + 5


def deliver_due(now_fn=utcnow) -> tuple[int, list[datetime]]:
    """Send what is due. Returns (rows handled, retry times of the failures recorded by this run)."""
    settings = get_settings()
    handled, retries = 0, []
    with session_scope() as session:
        heads = [(row.subscription_uuid, row.id) for row in outbox.pending_heads(session, now_fn())]
    for subscription_uuid, row_id in heads:
        while row_id is not None and handled < BATCH:
            with session_scope() as session:
                if not outbox.claim(session, row_id, now_fn(), _lease()):
                    break  # another worker has it (or it is not due): it keeps the subscription's order
                row = session.get(NotificationRow, row_id)
            handled += 1
            try:
                note = send(row)
            except Exception as exc:  # noqa: BLE001  (any failure of the target: retry later, in order)
                attempts = row.attempts + 1
                give_up = attempts >= settings.notify_max_attempts or isinstance(exc, PERMANENT)
                retry_at = None if give_up else now_fn() + timedelta(seconds=retry_delay(attempts))
                with session_scope() as session:
                    outbox.mark_failed_attempt(session, row_id, f"{type(exc).__name__}: {exc}", retry_at)
                if give_up:
                    log.error("notification %s (%s) to %s given up after %d attempts: %s", row_id,
                              row.event.get("type"), row.target.get("deliveryAddress"), attempts, exc)
                else:
                    log.warning("notification %s to %s failed (attempt %d), retrying at %s: %s", row_id,
                                row.target.get("deliveryAddress"), attempts, retry_at, exc)
                    retries.append(retry_at)
                    break  # later rows of this subscription wait for this one
            else:
                with session_scope() as session:
                    outbox.mark_delivered(session, row_id, note)
            with session_scope() as session:
                following = outbox.next_in_line(session, subscription_uuid)
                row_id = following.id if following is not None else None
    return handled, retries


@app.task(name="dlws.deliver_notifications", bind=True, acks_late=True, ignore_result=True)
def deliver_notifications(self: Task) -> int:
    """Deliver due notifications; re-schedule itself for the retries it set up (and if it ran out of batch)."""
    handled, retries = deliver_due()
    now = utcnow()
    if handled >= BATCH:
        self.apply_async()
    for when in sorted(set(retries)):
        self.apply_async(countdown=max(0.0, (when - now).total_seconds()) + 0.05)
    return handled


@worker_ready.connect
def _deliver_leftovers(**_: Any) -> None:
    # Rows left by a worker that stopped mid-delivery (or wake-ups lost with the broker): try once the
    # leases have run out.
    try:
        deliver_notifications.apply_async(countdown=_lease())
    except Exception:
        log.exception("could not schedule notification delivery at worker start")


__all__ = ["deliver_due", "deliver_notifications", "notification_body", "retry_delay"]
