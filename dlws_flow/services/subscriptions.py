"""Tapis job subscriptions: who hears about a job's events, and where.

A subscription names one event category (or ``ALL``) and delivery targets (``WEBHOOK`` to an http(s)
URL, ``EMAIL`` to an address, sent through ``DLWS_SMTP_HOST``; a deployment without a mail server refuses
EMAIL targets, 400). Events are queued in the
notification outbox in the event's own transaction (``dlws_flow.store.outbox``) and delivered by a worker.

Only the job's owner (or an admin) may subscribe or delete subscriptions; whoever may read the job may
list them.

A WEBHOOK whose host is an address the deployment refuses (loopback, private, metadata, ...: see
``dlws_flow.domain.address_policy``), or a name on ``DLWS_FETCH_DENY``, is refused here (400, "address not
allowed"). A host name is not resolved here: the worker checks what it resolves to at every delivery.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.orm import Session

from dlws_flow.domain.address_policy import AddressNotAllowedError, host_as_written, policy_from_lists
from dlws_flow.errors import NotFoundError, ValidationError
from dlws_flow.services import permissions as perms
from dlws_flow.services.auth import Principal
from dlws_flow.settings import get_settings
from dlws_flow.store import outbox
from dlws_flow.store import repositories as repo
from dlws_flow.store.db import session_scope
from dlws_flow.store.models import JobRow, SubscriptionRow

METHODS = ("WEBHOOK", "EMAIL")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MAX_TARGETS = 20


def validate(data: Any) -> dict[str, Any]:
    """A ``ReqSubscribe`` checked and normalised (``ttlMinutes`` and the spec's ``ttlminutes`` both accepted).

    Raises:
        ValidationError: an unknown category or method, a bad address, no targets.
        AddressNotAllowedError: a WEBHOOK to a refused address literal or a denied host name.
    """
    if not isinstance(data, dict):
        raise ValidationError("a subscription must be an object")
    category = data.get("eventCategoryFilter")
    if category not in outbox.CATEGORIES:
        raise ValidationError(f"eventCategoryFilter must be one of {', '.join(outbox.CATEGORIES)}; got {category!r}")
    targets = data.get("deliveryTargets")
    if not isinstance(targets, list) or not targets or len(targets) > MAX_TARGETS:
        raise ValidationError(f"deliveryTargets must list 1 to {MAX_TARGETS} targets")
    checked = []
    for target in targets:
        if not isinstance(target, dict):
            raise ValidationError("each delivery target must be an object with deliveryMethod and deliveryAddress")
        method, address = target.get("deliveryMethod"), target.get("deliveryAddress")
        if method not in METHODS:
            raise ValidationError(f"deliveryMethod must be one of {', '.join(METHODS)}; got {method!r}")
        if not isinstance(address, str) or not address or len(address) > 2048:
            raise ValidationError("deliveryAddress is required (at most 2048 characters)")
        if method == "WEBHOOK":
            parts = urlsplit(address)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValidationError(f"a WEBHOOK deliveryAddress must be an http(s) URL; got {address!r}")
            _check_webhook_host(address, parts.hostname)
        elif not EMAIL.fullmatch(address):
            raise ValidationError(f"an EMAIL deliveryAddress must be an email address; got {address!r}")
        elif not get_settings().smtp_host:
            raise ValidationError("EMAIL delivery is not available: this deployment has no mail server "
                                  "(DLWS_SMTP_HOST); use a WEBHOOK target")
        checked.append({"deliveryMethod": method, "deliveryAddress": address})
    ttl = data.get("ttlMinutes", data.get("ttlminutes"))
    if ttl is not None and (isinstance(ttl, bool) or not isinstance(ttl, int)):
        raise ValidationError("ttlMinutes must be an integer (0 or less: no expiry)")
    enabled = data.get("enabled", True)
    if not isinstance(enabled, bool):
        raise ValidationError("enabled must be true or false")
    description = data.get("description")
    if description is not None and (not isinstance(description, str) or len(description) > 2048):
        raise ValidationError("description must be a string of at most 2048 characters")
    return {"description": description, "enabled": enabled, "category_filter": category, "targets": checked,
            "ttl_minutes": ttl}


def _check_webhook_host(address: str, hostname: str) -> None:
    settings = get_settings()
    reason = policy_from_lists(settings.fetch_allow, settings.fetch_deny).literal_refusal(hostname)
    if reason is not None:
        raise AddressNotAllowedError(host_as_written(address), reason, subject=f"WEBHOOK deliveryAddress {address!r}")


def to_dict(row: SubscriptionRow) -> dict[str, Any]:
    """The Tapis ``TapisSubscription`` shape."""
    category = row.event_categories
    return {
        "uuid": row.uuid, "name": row.uuid, "tenant": row.tenant, "owner": row.owner, "description": row.description,
        "enabled": row.enabled, "typeFilter": f"jobs.{'*' if category == 'ALL' else category}.*",
        "subjectFilter": row.job_uuid, "deliveryTargets": row.delivery_targets, "ttlMinutes": row.ttl_minutes,
        "expiry": repo.when(row.expires), "created": repo.when(row.created), "updated": repo.when(row.updated),
    }


def add(session: Session, job: JobRow, owner: str, data: Any) -> SubscriptionRow:
    """Create one subscription inside the caller's transaction (also used by job submission)."""
    values = validate(data)
    row = outbox.add_subscription(session, job_uuid=job.uuid, owner=owner, tenant=job.tenant, **values)
    repo.add_job_event(session, job.uuid, "JOB_SUBSCRIPTION", f"Subscription {row.uuid} created")
    return row


def add_for_new_job(session: Session, job: JobRow, requests: list[Any] | None) -> None:
    """The ``subscriptions`` of a job request, created in the transaction that inserts the job."""
    for data in requests or []:
        add(session, job, job.owner, data)


def _job(session: Session, principal: Principal, job_uuid: str, *, owner_only: bool) -> JobRow:
    row = repo.get_job(session, job_uuid)
    perms.require(session, principal, "job", job_uuid, row.owner, "READ", what=f"job {job_uuid}")
    if owner_only:
        perms.require_owner(principal, row.owner, f"only the owner of job {job_uuid} may change its subscriptions")
    return row


def subscribe(principal: Principal, job_uuid: str, request: Any) -> dict[str, Any]:
    with session_scope() as session:
        job = _job(session, principal, job_uuid, owner_only=True)
        return to_dict(add(session, job, principal.username, request))


def list_for_job(principal: Principal, job_uuid: str, limit: int = 100, skip: int = 0) -> list[dict[str, Any]]:
    with session_scope() as session:
        _job(session, principal, job_uuid, owner_only=True)  # webhook URLs can hold secrets: the owner's alone
        limit = 10_000 if limit < 0 else max(1, min(limit, 10_000))
        return [to_dict(r) for r in outbox.list_subscriptions(session, job_uuid, limit=limit, skip=max(0, skip))]


def delete(principal: Principal, uuid: str) -> int:
    """Delete one subscription (by its UUID) or, given a job UUID, all of that job's. Returns the count."""
    with session_scope() as session:
        subscription = outbox.get_subscription(session, uuid)
        if subscription is not None:
            job_uuid, selector = subscription.job_uuid, {"subscription_uuid": uuid}
        elif session.get(JobRow, uuid) is not None:
            job_uuid, selector = uuid, {"job_uuid": uuid}
        else:
            raise NotFoundError(f"subscription {uuid} not found")
        _job(session, principal, job_uuid, owner_only=True)
        changes = outbox.delete_subscriptions(session, **selector)
        if changes:
            repo.add_job_event(session, job_uuid, "JOB_SUBSCRIPTION", f"{changes} subscription(s) deleted")
        return changes
