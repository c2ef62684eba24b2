"""Writes to ``system_polls``: who polls a (system, login) next, and when the last poll ran."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import or_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from dlws_flow.store.models import SystemPollRow, utcnow


def claim_poll(session: Session, system_id: str, login_user: str, min_interval: float, lease: float = 0.0) -> bool:
    """True for exactly one caller per ``min_interval`` per (system, login): that caller polls the host.

    The claim stamps ``last_poll`` ``lease`` seconds into the future, so no second poll starts while a long
    one (a status query naming thousands of jobs) is still running; :func:`finish_poll` stamps the real end.
    """
    now = utcnow()
    result = session.execute(update(SystemPollRow)
                             .where(SystemPollRow.system_id == system_id, SystemPollRow.login_user == login_user,
                                    SystemPollRow.last_poll <= now - timedelta(seconds=min_interval))
                             .values(last_poll=now + timedelta(seconds=lease), poll_count=SystemPollRow.poll_count + 1)
                             .execution_options(synchronize_session=False))
    if result.rowcount == 1:
        return True
    if session.get(SystemPollRow, (system_id, login_user)) is not None:
        return False
    try:
        with session.begin_nested():
            session.add(SystemPollRow(system_id=system_id, login_user=login_user,
                                      last_poll=now + timedelta(seconds=lease), poll_count=1))
        return True
    except IntegrityError:
        return False


def finish_poll(session: Session, system_id: str, login_user: str, rest: float = 0.0) -> None:
    """End a claimed poll. The next may start ``rest`` seconds (the time this one took) plus the minimum
    interval from now: a host whose status query grows slow (thousands of jobs) is polled less often, never
    more than half the time."""
    session.execute(update(SystemPollRow).where(SystemPollRow.system_id == system_id, SystemPollRow.login_user == login_user)
                    .values(last_poll=utcnow() + timedelta(seconds=max(0.0, rest)))
                    .execution_options(synchronize_session=False))


def poll_count(session: Session, system_id: str, login_user: str) -> int:
    row = session.get(SystemPollRow, (system_id, login_user))
    return row.poll_count if row else 0


def add_poll_stamp(session: Session, system_id: str, login_user: str, now: datetime) -> None:
    """Record a (system, login) never polled yet as polled ``now`` (the reconciler's re-enqueued monitors poll
    it), without counting a poll."""
    session.add(SystemPollRow(system_id=system_id, login_user=login_user, last_poll=now, poll_count=0))


def restamp_stale_poll(session: Session, system_id: str, login_user: str, now: datetime, stale_before: datetime) -> bool:
    """Compare-and-set ``last_poll`` to ``now`` if the pair was last polled before ``stale_before``: true for
    exactly one caller (the reconciler sweep that re-enqueues its monitors)."""
    claimed = session.execute(update(SystemPollRow).where(
        SystemPollRow.system_id == system_id, SystemPollRow.login_user == login_user,
        SystemPollRow.last_poll < stale_before).values(last_poll=now).execution_options(synchronize_session=False))
    return claimed.rowcount == 1


# --- the pair's poller --------------------------------------------------------------------------------


def claim_poller(session: Session, system_id: str, login_user: str, token: str, stale_before: datetime) -> bool:
    """Make ``token`` the pair's poller if it has none, or one not seen since ``stale_before`` (it died, or its
    message was lost). True for exactly one caller; its first run is run 0."""
    now = utcnow()
    values = {"poller_token": token, "poller_run": 0, "poller_seen": now}
    result = session.execute(update(SystemPollRow).where(
        SystemPollRow.system_id == system_id, SystemPollRow.login_user == login_user,
        or_(SystemPollRow.poller_token.is_(None), SystemPollRow.poller_seen.is_(None),
            SystemPollRow.poller_seen < stale_before)).values(**values).execution_options(synchronize_session=False))
    if result.rowcount == 1:
        return True
    if session.get(SystemPollRow, (system_id, login_user)) is not None:
        return False
    try:
        # Never polled: the pair's row starts with its poller, stamped now, as a poll just claimed would be (the
        # reconciler reads an old stamp on a pair with active jobs as a pair nobody polls); the poller's first
        # run comes after the minimum interval between polls.
        with session.begin_nested():
            session.add(SystemPollRow(system_id=system_id, login_user=login_user, last_poll=now, poll_count=0, **values))
        return True
    except IntegrityError:
        return False


def advance_poller(session: Session, system_id: str, login_user: str, token: str, run: int) -> bool:
    """Run ``run`` of poller ``token`` starts: true once, for the current poller's expected run (a message
    delivered twice, or of a replaced poller, gets false and stops)."""
    result = session.execute(update(SystemPollRow).where(
        SystemPollRow.system_id == system_id, SystemPollRow.login_user == login_user,
        SystemPollRow.poller_token == token, SystemPollRow.poller_run == run)
        .values(poller_run=run + 1, poller_seen=utcnow()).execution_options(synchronize_session=False))
    return result.rowcount == 1


def release_poller(session: Session, system_id: str, login_user: str, token: str) -> bool:
    """Poller ``token`` stops (its pair has no active jobs). Returns whether it was still the pair's poller."""
    result = session.execute(update(SystemPollRow).where(
        SystemPollRow.system_id == system_id, SystemPollRow.login_user == login_user,
        SystemPollRow.poller_token == token).values(poller_token=None).execution_options(synchronize_session=False))
    return result.rowcount == 1


def poller_seen_since(session: Session, system_id: str, login_user: str, since: datetime) -> bool:
    """Whether the pair has a poller that ran at ``since`` or later."""
    row = session.get(SystemPollRow, (system_id, login_user))
    return bool(row and row.poller_token and row.poller_seen and row.poller_seen >= since)
