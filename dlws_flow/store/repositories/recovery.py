"""Writes to ``recovery_conditions``: one open fault or wait per (system, login, condition), shared by the
jobs BLOCKED on it (``engine.recovery`` decides when to open, probe, reschedule and close one)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from dlws_flow.domain.recovery import WAITING_CONDITIONS
from dlws_flow.store.models import RecoveryRow


def open_condition(session: Session, system_id: str, login: str) -> RecoveryRow | None:
    """A fault condition (not a job-limit wait) open for (system, login), if any."""
    return session.scalars(select(RecoveryRow).where(
        RecoveryRow.system_id == system_id, RecoveryRow.login_user == login,
        RecoveryRow.condition.not_in([c.value for c in WAITING_CONDITIONS])).limit(1)).first()


def open_recovery_row(session: Session, system_id: str, login: str, condition: str, *, probe_user: str,
                      first_blocked: datetime, next_probe: datetime, error: str) -> bool:
    """Open the condition's row (in a savepoint). False when another job opened it meanwhile: it is joined."""
    try:
        with session.begin_nested():
            session.add(RecoveryRow(system_id=system_id, login_user=login, condition=condition,
                                    probe_user=probe_user, first_blocked=first_blocked, attempts=0,
                                    next_probe=next_probe, last_error=error[:4000]))
    except IntegrityError:
        return False
    return True


def claim_recovery_row(session: Session, row: RecoveryRow, until: datetime) -> bool:
    """Compare-and-set ``next_probe`` (still what ``row`` was read with) to ``until``: true for exactly one
    sweep, which then owns the row's probe until ``until``."""
    result = session.execute(
        update(RecoveryRow).where(RecoveryRow.system_id == row.system_id, RecoveryRow.login_user == row.login_user,
                                  RecoveryRow.condition == row.condition, RecoveryRow.next_probe == row.next_probe)
        .values(next_probe=until).execution_options(synchronize_session=False))
    return result.rowcount == 1


def record_failed_probe(session: Session, row: RecoveryRow, error: str) -> int:
    """Count one more failed probe of the condition and keep its error. Returns the attempts so far."""
    row.attempts += 1
    row.last_error = error[:4000]
    return row.attempts


def reschedule_probe(session: Session, row: RecoveryRow, next_probe: datetime) -> None:
    row.next_probe = next_probe


def close_recovery_row(session: Session, row: RecoveryRow) -> None:
    """The condition cleared, or expired: its row goes (its jobs were resumed or failed first)."""
    session.delete(row)
