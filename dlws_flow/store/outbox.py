"""Job subscriptions and the notification outbox.

Every job event (a status change through ``repositories.transition``, or ``repositories.add_job_event``)
calls :func:`record_event` in the event's own transaction. It writes one ``notifications`` row per
matching subscription and delivery target, so a committed event is never lost and a rolled-back
transition is never announced. Delivery happens later, in a Celery task (``workers/notification_tasks``):

* rows of one subscription are delivered in ``id`` order, and a failed row blocks the later ones of its
  subscription until it is delivered or given up on, so events never overtake each other;
* ``next_attempt`` is both the retry time and the claim: a deliverer takes a row with a compare-and-set
  ``UPDATE ... SET next_attempt = now + lease WHERE id = ? AND status = 'PENDING' AND next_attempt <= now``,
  so two workers never send one row at the same time;
* after a commit that recorded rows, the registered wake-up callable (``set_wakeup``) enqueues the task.

This module holds no delivery code (no HTTP): it is store code, the workers deliver.
"""

from __future__ import annotations

import json
import logging
import uuid as uuidlib
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, event, func, select, update
from sqlalchemy.orm import Session

from dlws_flow.domain.states import TERMINAL_STATES
from dlws_flow.store.models import JobEventRow, JobRow, NotificationRow, SubscriptionRow, utcnow

log = logging.getLogger(__name__)

#: Tapis ``eventCategoryFilter`` values; ``ALL`` matches every category.
CATEGORIES = ("JOB_NEW_STATUS", "JOB_INPUT_TRANSACTION_ID", "JOB_ARCHIVE_TRANSACTION_ID", "JOB_SUBSCRIPTION",
              "JOB_SHARE_EVENT", "JOB_ERROR_MESSAGE", "JOB_USER_EVENT", "ALL")
TERMINAL_VALUES = frozenset(str(s) for s in TERMINAL_STATES)
PENDING, DELIVERED, FAILED = "PENDING", "DELIVERED", "FAILED"
#: ``session.info`` key: this transaction wrote notifications, wake the deliverer after the commit.
_PENDING_KEY = "dlws_notifications_pending"

_wakeup: Callable[[], None] | None = None


def set_wakeup(callback: Callable[[], None] | None) -> None:
    """Register what runs after a commit that recorded notifications (the worker side enqueues the task)."""
    global _wakeup
    _wakeup = callback


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    if session.info.pop(_PENDING_KEY, False) and _wakeup is not None:
        try:
            _wakeup()
        except Exception:  # the event is committed; a lost wake-up is recovered by the next one
            log.exception("could not enqueue notification delivery")


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop(_PENDING_KEY, None)


# --- recording -----------------------------------------------------------------------------------


def matches(category_filter: str, category: str) -> bool:
    return category_filter == "ALL" or category_filter == category


def record_event(session: Session, job_uuid: str, category: str, old: str | None, new: str | None,
                 message: str | None, *, now: datetime | None = None) -> int:
    """Queue ``category`` (``JOB_NEW_STATUS``, ``JOB_USER_EVENT``, ...) for the job's matching subscriptions.

    Costs one indexed query when the job has no subscriptions. Returns the number of rows written.
    """
    now = now or utcnow()
    subscriptions = session.scalars(select(SubscriptionRow).where(SubscriptionRow.job_uuid == job_uuid,
                                                                  SubscriptionRow.enabled.is_(True))
                                    .order_by(SubscriptionRow.created, SubscriptionRow.uuid)).all()
    subscriptions = [s for s in subscriptions if matches(s.event_categories, category)
                     and (s.expires is None or s.expires > now)]
    if not subscriptions:
        return 0
    job = session.get(JobRow, job_uuid)
    detail = new if category == "JOB_NEW_STATUS" and new else category.removeprefix("JOB_")
    data = {"jobUuid": job_uuid, "jobName": job.name if job else None, "jobOwner": job.owner if job else None,
            "oldJobStatus": old, "newJobStatus": new, "message": message}
    # seriesSeqCount: the position of this event in the job's history (the series is the job).
    sequence = session.scalar(select(func.count()).select_from(JobEventRow).where(JobEventRow.job_uuid == job_uuid)) or 0
    event_body = {
        "source": "dlws-flow/jobs", "type": f"jobs.{category}.{detail}", "subject": job_uuid,
        "timestamp": now.isoformat(), "data": json.dumps(data), "seriesId": job_uuid, "seriesSeqCount": sequence,
        "tenant": job.tenant if job else None, "user": job.owner if job else None, "uuid": str(uuidlib.uuid4()),
        "deleteSubscriptionsMatchingSubject": category == "JOB_NEW_STATUS" and new in TERMINAL_VALUES,
    }
    written = 0
    for subscription in subscriptions:
        for target in subscription.delivery_targets:
            session.add(NotificationRow(subscription_uuid=subscription.uuid, job_uuid=job_uuid, event=event_body,
                                        target=dict(target), status=PENDING, attempts=0, next_attempt=now,
                                        created=now))
            written += 1
    session.info[_PENDING_KEY] = True
    return written


# --- subscriptions -------------------------------------------------------------------------------


def add_subscription(session: Session, *, job_uuid: str, owner: str, tenant: str, description: str | None,
                     enabled: bool, category_filter: str, targets: list[dict[str, str]],
                     ttl_minutes: int | None) -> SubscriptionRow:
    now = utcnow()
    row = SubscriptionRow(uuid=str(uuidlib.uuid4()), tenant=tenant, owner=owner, job_uuid=job_uuid,
                          description=description, enabled=enabled, event_categories=category_filter,
                          delivery_targets=targets, ttl_minutes=ttl_minutes,
                          expires=now + timedelta(minutes=ttl_minutes) if ttl_minutes and ttl_minutes > 0 else None,
                          created=now, updated=now)
    session.add(row)
    session.flush()
    # Status changes look for subscriptions only on jobs marked so (repositories.jobs.transition).
    session.execute(update(JobRow).where(JobRow.uuid == job_uuid).values(subscribed=True)
                    .execution_options(synchronize_session=False))
    return row


def get_subscription(session: Session, subscription_uuid: str) -> SubscriptionRow | None:
    return session.get(SubscriptionRow, subscription_uuid)


def list_subscriptions(session: Session, job_uuid: str, *, limit: int = 100, skip: int = 0) -> Sequence[SubscriptionRow]:
    return session.scalars(select(SubscriptionRow).where(SubscriptionRow.job_uuid == job_uuid)
                           .order_by(SubscriptionRow.created, SubscriptionRow.uuid).offset(skip).limit(limit)).all()


def delete_subscriptions(session: Session, *, subscription_uuid: str | None = None, job_uuid: str | None = None) -> int:
    """Delete one subscription or all of a job's; its undelivered notifications are dropped too."""
    where = (SubscriptionRow.uuid == subscription_uuid) if subscription_uuid else (SubscriptionRow.job_uuid == job_uuid)
    uuids = list(session.scalars(select(SubscriptionRow.uuid).where(where)))
    if not uuids:
        return 0
    session.execute(delete(NotificationRow).where(NotificationRow.subscription_uuid.in_(uuids),
                                                  NotificationRow.status == PENDING))
    session.execute(delete(SubscriptionRow).where(SubscriptionRow.uuid.in_(uuids)))
    return len(uuids)


# --- delivery bookkeeping (used by the delivery task) -----------------------------------------------


def pending_heads(session: Session, now: datetime, limit: int = 1000) -> list[NotificationRow]:
    """The oldest PENDING row of each subscription that is due now (not in backoff, not claimed)."""
    heads = (select(NotificationRow.subscription_uuid, func.min(NotificationRow.id).label("head"))
             .where(NotificationRow.status == PENDING).group_by(NotificationRow.subscription_uuid).subquery())
    query = (select(NotificationRow).join(heads, NotificationRow.id == heads.c.head)
             .where(NotificationRow.next_attempt <= now).order_by(NotificationRow.id).limit(limit))
    return list(session.scalars(query))


def next_in_line(session: Session, subscription_uuid: str) -> NotificationRow | None:
    """The oldest PENDING row of a subscription, due or not."""
    return session.scalars(select(NotificationRow).where(NotificationRow.subscription_uuid == subscription_uuid,
                                                         NotificationRow.status == PENDING)
                           .order_by(NotificationRow.id).limit(1)).first()


def claim(session: Session, notification_id: int, now: datetime, lease: float) -> bool:
    """Compare-and-set: true for exactly one caller while the row is due; it then holds it for ``lease`` s."""
    result = session.execute(update(NotificationRow)
                             .where(NotificationRow.id == notification_id, NotificationRow.status == PENDING,
                                    NotificationRow.next_attempt <= now)
                             .values(next_attempt=now + timedelta(seconds=lease))
                             .execution_options(synchronize_session=False))
    return result.rowcount == 1


def mark_delivered(session: Session, notification_id: int, note: str | None = None) -> None:
    session.execute(update(NotificationRow).where(NotificationRow.id == notification_id)
                    .values(status=DELIVERED, attempts=NotificationRow.attempts + 1, delivered=utcnow(),
                            last_error=note).execution_options(synchronize_session=False))


def mark_failed_attempt(session: Session, notification_id: int, error: str, retry_at: datetime | None) -> None:
    """Record a failed attempt: retry at ``retry_at``, or give up (FAILED) when it is None."""
    values: dict[str, Any] = {"attempts": NotificationRow.attempts + 1, "last_error": error[:2000]}
    if retry_at is None:
        values["status"] = FAILED
    else:
        values["next_attempt"] = retry_at
    session.execute(update(NotificationRow).where(NotificationRow.id == notification_id).values(**values)
                    .execution_options(synchronize_session=False))
