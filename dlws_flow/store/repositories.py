"""Repositories: the only code that writes to the database.

Status changes go through :func:`transition`, a compare-and-set UPDATE (``WHERE status = old``) plus
a history row in the same transaction. Two workers (or a worker and a cancel request) racing on one
job therefore cannot both win: the loser sees ``False`` and re-reads the job.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from dlws_flow import secrets
from dlws_flow.domain.records import AppSpec, Credential, SystemSpec
from dlws_flow.domain.recovery import WAITING_CONDITIONS
from dlws_flow.domain.states import TERMINAL_STATES, JobStatus, advance
from dlws_flow.errors import ConflictError, NotFoundError, ValidationError
from dlws_flow.store import outbox
from dlws_flow.store.models import (
    AppRow,
    CredentialRow,
    GrantRow,
    JobEventRow,
    JobRow,
    RecoveryRow,
    SystemPollRow,
    SystemRow,
    utcnow,
)

# --- systems -------------------------------------------------------------------------------------


def add_system(session: Session, spec: SystemSpec, owner: str, tenant: str, *, replace: bool = False) -> SystemRow:
    """Insert a system, replace a live one (``replace``), or bring a deleted id back as a new record.

    A new or re-created id starts with no stored credential and no grant: whatever the id's earlier record
    left behind (a deleted system's logins, its shares) never reaches its new owner or anyone else.
    """
    row = session.get(SystemRow, spec.id)
    if row is not None and not row.deleted and not replace:
        raise ConflictError(f"system {spec.id} already exists")
    if row is None or row.deleted:
        forget_system_access(session, spec.id)
    data = spec.public_dict()
    data["owner"] = owner
    if row is None:
        row = SystemRow(id=spec.id)
        session.add(row)
    row.tenant, row.owner, row.host, row.port = tenant, owner, spec.host, spec.port
    row.enabled, row.deleted, row.host_key, row.spec = spec.enabled, False, spec.hostKey, data
    if spec.authnCredential is not None:
        set_credential(session, spec.id, owner, spec.authnCredential, static_login(spec))
    session.flush()
    return row


def static_login(spec: SystemSpec) -> str | None:
    """The one login every user of the system shares, or None when each logs in as themselves (``${apiUserId}``)."""
    return None if spec.effectiveUserId == "${apiUserId}" else spec.effectiveUserId


def get_system(session: Session, system_id: str) -> SystemRow:
    row = session.get(SystemRow, system_id)
    if row is None or row.deleted:
        raise NotFoundError(f"system {system_id} not found")
    return row


def system_spec(row: SystemRow) -> SystemSpec:
    return SystemSpec.model_validate({**row.spec, "hostKey": row.host_key})


def list_systems(session: Session) -> Sequence[SystemRow]:
    return session.scalars(select(SystemRow).where(SystemRow.deleted.is_(False)).order_by(SystemRow.id)).all()


def set_credential(session: Session, system_id: str, username: str, credential: Credential, login_user: str | None) -> None:
    if not (credential.privateKey or credential.password):
        raise ValidationError("a credential needs a privateKey or a password")
    row = session.get(CredentialRow, (system_id, username)) or CredentialRow(system_id=system_id, username=username)
    row.login_user = credential.loginUser or login_user
    row.private_key = secrets.encrypt(credential.privateKey)
    row.password = secrets.encrypt(credential.password)
    session.merge(row)


def get_credential(session: Session, system_id: str, username: str) -> CredentialRow | None:
    return session.get(CredentialRow, (system_id, username))


def delete_credentials(session: Session, system_id: str, username: str | None = None) -> int:
    """Remove the stored logins of a system: ``username``'s, or every user's. Returns how many went."""
    query = delete(CredentialRow).where(CredentialRow.system_id == system_id)
    if username is not None:
        query = query.where(CredentialRow.username == username)
    return session.execute(query.execution_options(synchronize_session="fetch")).rowcount


def forget_system_access(session: Session, system_id: str) -> None:
    """Remove every stored login of a system and every grant on it (system and file permissions, shares)."""
    delete_credentials(session, system_id)
    session.execute(delete(GrantRow).where(GrantRow.kind.in_(("system", "file")), GrantRow.resource_id == system_id)
                    .execution_options(synchronize_session="fetch"))


# --- apps ----------------------------------------------------------------------------------------


def add_app(session: Session, spec: AppSpec, owner: str, tenant: str, *, replace: bool = False) -> AppRow:
    row = session.get(AppRow, (spec.id, spec.version))
    if row is not None and not row.deleted and not replace:
        raise ConflictError(f"app {spec.id} version {spec.version} already exists")
    data = spec.model_dump(mode="json")
    data["owner"] = owner
    if row is None:
        row = AppRow(id=spec.id, version=spec.version)
        session.add(row)
    row.tenant, row.owner, row.enabled, row.deleted, row.spec = tenant, owner, spec.enabled, False, data
    session.flush()
    return row


def get_app(session: Session, app_id: str, version: str | None = None) -> AppRow:
    query = select(AppRow).where(AppRow.id == app_id, AppRow.deleted.is_(False))
    if version:
        query = query.where(AppRow.version == version)
    rows = session.scalars(query).all()
    if not rows:
        raise NotFoundError(f"app {app_id}" + (f" version {version}" if version else "") + " not found")
    return max(rows, key=lambda r: r.created)


def list_apps(session: Session) -> Sequence[AppRow]:
    return session.scalars(select(AppRow).where(AppRow.deleted.is_(False)).order_by(AppRow.id, AppRow.version)).all()


# --- jobs ----------------------------------------------------------------------------------------


def insert_job(session: Session, row: JobRow) -> JobRow:
    session.add(row)
    try:
        session.flush()  # the job row first: the event row's foreign key needs it
    except IntegrityError as exc:
        raise ValidationError(f"job {row.uuid} already exists") from exc
    # Rows that refer to the job (this event, its family) go out together at the next flush or commit.
    session.add(JobEventRow(job_uuid=row.uuid, event="JOB_NEW_STATUS", old_status=None, new_status=row.status,
                            message="Job created and queued for processing", created=row.created))
    return row


def get_job(session: Session, uuid: str) -> JobRow:
    row = session.get(JobRow, uuid)
    if row is None:
        raise NotFoundError(f"job {uuid} not found")
    return row


def list_jobs(session: Session, *, owner: str | None = None, status: Iterable[str] | None = None,
              limit: int = 100, skip: int = 0, include_hidden: bool = False) -> Sequence[JobRow]:
    query = select(JobRow)
    if owner:
        query = query.where(JobRow.owner == owner)
    if status:
        query = query.where(JobRow.status.in_(list(status)))
    if not include_hidden:
        query = query.where(JobRow.visible.is_(True))
    return session.scalars(query.order_by(JobRow.created.desc()).offset(skip).limit(limit)).all()


def search_jobs(session: Session, *, owner: str | None, shared: set[str], conditions: list[tuple[str, str, Any]],
                include_hidden: bool, limit: int, skip: int, order_by: tuple[str, bool]) -> Sequence[JobRow]:
    """Jobs owned by ``owner`` (any owner when None) or shared with them, matching every condition."""
    query = select(JobRow)
    if owner is not None:
        query = query.where(or_(JobRow.owner == owner, JobRow.uuid.in_(shared)) if shared else JobRow.owner == owner)
    if not include_hidden:
        query = query.where(JobRow.visible.is_(True))
    for column_name, op, value in conditions:
        column = getattr(JobRow, column_name)
        clause = {"eq": lambda: column == value, "neq": lambda: column != value, "lt": lambda: column < value,
                  "gt": lambda: column > value, "lte": lambda: column <= value, "gte": lambda: column >= value,
                  "like": lambda: column.like(str(value).replace("*", "%")), "in": lambda: column.in_(value)}[op]()
        query = query.where(clause)
    column_name, descending = order_by
    column = getattr(JobRow, column_name)
    # The tie-break runs in the same direction, so one index (owner, created, uuid) read backwards serves the
    # default newest-first list without sorting the caller's jobs (100 of 100,000 in milliseconds; bench P5).
    query = query.order_by(column.desc() if descending else column.asc(),
                           JobRow.uuid.desc() if descending else JobRow.uuid.asc())
    return session.scalars(query.offset(skip).limit(limit)).all()


def job_history(session: Session, uuid: str) -> Sequence[JobEventRow]:
    return session.scalars(select(JobEventRow).where(JobEventRow.job_uuid == uuid).order_by(JobEventRow.id)).all()


def transition(session: Session, uuid: str, old: JobStatus | str, new: JobStatus | str, message: str,
               **fields: Any) -> bool:
    """Move a job from ``old`` to ``new`` if it is still in ``old``; record the event. Returns success."""
    advance(old, new)
    now = utcnow()
    values: dict[str, Any] = {"status": str(new), "last_message": message, "last_updated": now, **fields}
    if JobStatus(new) in TERMINAL_STATES:
        values.setdefault("ended", now)
    result = session.execute(update(JobRow).where(JobRow.uuid == uuid, JobRow.status == str(old)).values(**values)
                             .execution_options(synchronize_session=False))
    if result.rowcount != 1:
        return False
    session.add(JobEventRow(job_uuid=uuid, event="JOB_NEW_STATUS", old_status=str(old), new_status=str(new),
                            message=message, created=now))
    outbox.record_event(session, uuid, "JOB_NEW_STATUS", str(old), str(new), message, now=now)
    session.flush()
    return True


def update_job_fields(session: Session, uuid: str, **fields: Any) -> None:
    session.execute(update(JobRow).where(JobRow.uuid == uuid).values(last_updated=utcnow(), **fields)
                    .execution_options(synchronize_session=False))


def add_job_event(session: Session, uuid: str, event: str, message: str) -> None:
    now = utcnow()
    session.add(JobEventRow(job_uuid=uuid, event=event, message=message, created=now))
    outbox.record_event(session, uuid, event, None, None, message, now=now)


def active_remote_jobs(session: Session, system_id: str, statuses: Iterable[str]) -> Sequence[JobRow]:
    return session.scalars(select(JobRow).where(JobRow.exec_system_id == system_id,
                                                JobRow.status.in_(list(statuses)),
                                                JobRow.remote_job_id.is_not(None))).all()


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


def when(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def poll_count(session: Session, system_id: str, login_user: str) -> int:
    row = session.get(SystemPollRow, (system_id, login_user))
    return row.poll_count if row else 0


def open_condition(session: Session, system_id: str, login: str) -> RecoveryRow | None:
    """A fault condition (not a job-limit wait) open for (system, login), if any."""
    return session.scalars(select(RecoveryRow).where(
        RecoveryRow.system_id == system_id, RecoveryRow.login_user == login,
        RecoveryRow.condition.not_in([c.value for c in WAITING_CONDITIONS])).limit(1)).first()
