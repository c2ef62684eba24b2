"""BLOCKED jobs and their recovery: block a job on a condition, probe once per condition, resume or expire.

A stage that meets a transient fault calls :func:`block`: the job moves to BLOCKED with the state and
stage it was in, and a ``recovery_conditions`` row for (system, login, condition) is opened (or joined).
While that row is open, every other stage of the same (system, login) blocks at once instead of
connecting (``open_transport`` raises ``SystemBlockedError``), so a down host costs one probe per step of
the policy, not one connection attempt per job.

:func:`sweep` (a beat task) takes the rows whose ``next_probe`` is due, claims each one (so two sweeps
never probe the same row), and probes it once:

- it answers: every job blocked on the row returns to its state and the caller re-enqueues its stage;
- it fails: the next probe is scheduled by the policy's steps; when they are used up, the jobs FAIL with
  a message that says what failed and for how long;
- ``JOB_LIMIT`` rows are not probed over SSH: the database says how many slots are free, and that many
  of the oldest waiting jobs go back to the submit stage (which checks the limit again, under a lock).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import and_, exists, select
from sqlalchemy.orm import Session

from dlws_flow.domain.recovery import TAPIS_CONDITION, WAITING_CONDITIONS, Condition, RecoveryPolicy, expiry_message
from dlws_flow.domain.states import SUSPENDED_STATES, TERMINAL_STATES, JobStatus
from dlws_flow.engine import limits
from dlws_flow.engine.hooks import job_ended
from dlws_flow.engine.hosts import login_for
from dlws_flow.errors import DlwsFlowError, NotFoundError
from dlws_flow.settings import get_settings
from dlws_flow.store import repositories as repo
from dlws_flow.store.db import session_scope
from dlws_flow.store.models import JobRow, RecoveryRow, utcnow

log = logging.getLogger(__name__)

#: How long a sweep owns a row it is probing (a sweep killed mid-probe frees it after this).
CLAIM_SECONDS = 120.0


@dataclass(frozen=True)
class Resume:
    job_uuid: str
    stage: str


def policy_for(session: Session, system_id: str) -> RecoveryPolicy:
    try:
        system = repo.system_spec(repo.get_system(session, system_id))
        text = system.recoveryPolicy
    except NotFoundError:
        text = None
    return RecoveryPolicy.parse(text or get_settings().recovery_policy)


def block_in_session(session: Session, job: JobRow, stage: str, condition: Condition, system_id: str, login: str,
                     error: str) -> bool:
    """Move ``job`` to BLOCKED on (system, login, condition) and open or join that condition's row.

    Returns False when the job is no longer in the state it was read in (another delivery moved it)."""
    status = JobStatus(job.status)
    if status in TERMINAL_STATES or status in SUSPENDED_STATES:
        return False
    settings = get_settings()
    waiting = condition in WAITING_CONDITIONS
    if not waiting and (job.blocked_count or 0) >= settings.recovery_max_blocks:
        return repo.transition(session, job.uuid, status, JobStatus.FAILED,
                               f"{stage} failed: blocked {job.blocked_count} times, the last on {system_id} "
                               f"({condition.value}): {error}"[:4000], condition="JOB_RECOVERY_FAILURE")
    message = (f"Waiting in {stage}: {error}" if waiting
               else f"{stage} blocked on {system_id} ({condition.value}); recovery will retry: {error}")[:4000]
    changed = repo.transition(
        session, job.uuid, status, JobStatus.BLOCKED, message, condition=TAPIS_CONDITION[condition],
        resume_status=status.value, resume_stage=stage, blocked_system_id=system_id, blocked_login=login,
        blocked_condition=condition.value, blocked_count=(job.blocked_count or 0) + (0 if waiting else 1))
    if changed:
        _join_condition(session, system_id, login, condition, job.owner, error, waiting)
    return changed


def _join_condition(session: Session, system_id: str, login: str, condition: Condition, probe_user: str,
                    error: str, waiting: bool) -> None:
    if session.get(RecoveryRow, (system_id, login, condition.value)) is not None:
        return
    now = utcnow()
    first_delay = get_settings().recovery_interval if waiting else policy_for(session, system_id).delay_after(0) or 0
    # False when another job opened it in the meantime: joined either way.
    repo.open_recovery_row(session, system_id, login, condition.value, probe_user=probe_user, first_blocked=now,
                           next_probe=now + timedelta(seconds=first_delay), error=error)


def block(job_uuid: str, stage: str, condition: Condition, error: BaseException | str,
          system_id: str | None = None) -> bool:
    """Block the job (in its own transaction) on ``condition`` of ``system_id`` (default: its exec system)."""

    with session_scope() as session:
        job = repo.get_job(session, job_uuid)
        system_id = system_id or job.exec_system_id
        if system_id == job.exec_system_id and job.exec_login:
            login = job.exec_login
        else:
            login = login_for(session, repo.system_spec(repo.get_system(session, system_id)), job.owner)
        changed = block_in_session(session, job, stage, condition, system_id, login, str(error))
        session.refresh(job)
        ended = changed and JobStatus(job.status) in TERMINAL_STATES  # blocked too often: it failed instead
    if ended:
        job_ended(job_uuid)  # after the commit
    elif changed:
        log.warning("job %s: %s blocked on %s (%s): %s", job_uuid, stage, system_id, condition.value, error)
    return changed


def _blocked_on(row: RecoveryRow):
    return and_(JobRow.status == JobStatus.BLOCKED.value, JobRow.blocked_system_id == row.system_id,
                JobRow.blocked_login == row.login_user, JobRow.blocked_condition == row.condition)


def _unblock(session: Session, job: JobRow, message: str) -> Resume | None:
    target = JobStatus(job.resume_status or JobStatus.PENDING)
    if not repo.transition(session, job.uuid, JobStatus.BLOCKED, target, message, condition=None,
                           blocked_system_id=None, blocked_login=None, blocked_condition=None):
        return None
    return Resume(job.uuid, job.resume_stage or "process_inputs")


def adopt_orphans() -> int:
    """BLOCKED jobs whose condition row is gone (deleted by a sweep racing their block) get it back."""
    opened = 0
    with session_scope() as session:
        orphans = session.execute(
            select(JobRow.blocked_system_id, JobRow.blocked_login, JobRow.blocked_condition, JobRow.owner)
            .where(JobRow.status == JobStatus.BLOCKED.value, JobRow.blocked_condition.is_not(None),
                   ~exists().where(RecoveryRow.system_id == JobRow.blocked_system_id,
                                   RecoveryRow.login_user == JobRow.blocked_login,
                                   RecoveryRow.condition == JobRow.blocked_condition))).all()
        for system_id, login, condition, owner in {(s, lg, c, o) for s, lg, c, o in orphans}:
            condition = Condition(condition)
            _join_condition(session, system_id, login, condition, owner, "re-opened by the recovery sweep",
                            condition in WAITING_CONDITIONS)
            opened += 1
    return opened


def _claim_due() -> list[tuple[str, str, str]]:
    now = utcnow()
    claimed = []
    with session_scope() as session:
        due = session.scalars(select(RecoveryRow).where(RecoveryRow.next_probe <= now)).all()
        for row in due:
            if repo.claim_recovery_row(session, row, now + timedelta(seconds=CLAIM_SECONDS)):
                claimed.append((row.system_id, row.login_user, row.condition))
    return claimed


def sweep(probe) -> list[Resume]:
    """Probe every due condition once; returns the jobs to re-enqueue, each at the stage it blocked in.

    ``probe(system_id, probe_user, condition)`` raises a ``DlwsFlowError`` while the fault holds
    (``dlws_flow.engine.probes.probe_system`` in production)."""
    adopt_orphans()
    resumes: list[Resume] = []
    for key in _claim_due():
        condition = Condition(key[2])
        if condition in WAITING_CONDITIONS:
            resumes += _admit_waiting(key)
            continue
        with session_scope() as session:
            row = session.get(RecoveryRow, key)
            if row is None:
                continue
            probe_user = row.probe_user
        try:
            probe(key[0], probe_user, condition)
        except DlwsFlowError as exc:
            _probe_failed(key, str(exc))
        else:
            resumes += _recovered(key)
    return resumes


def _recovered(key: tuple[str, str, str]) -> list[Resume]:
    resumes = []
    with session_scope() as session:
        row = session.get(RecoveryRow, key)
        if row is None:
            return []
        jobs = session.scalars(select(JobRow).where(_blocked_on(row)).order_by(JobRow.created)).all()
        for job in jobs:
            resume = _unblock(session, job, f"{key[0]} answers again ({key[2]} cleared); resuming at {job.resume_stage}")
            if resume:
                resumes.append(resume)
        repo.close_recovery_row(session, row)
    log.warning("recovery: %s (%s) cleared; resuming %d jobs", key[0], key[2], len(resumes))
    return resumes


def _probe_failed(key: tuple[str, str, str], error: str) -> None:
    expired: list[str] = []
    with session_scope() as session:
        row = session.get(RecoveryRow, key)
        if row is None:
            return
        policy = policy_for(session, key[0])
        delay = policy.delay_after(repo.record_failed_probe(session, row, error))
        if delay is not None:
            repo.reschedule_probe(session, row, utcnow() + timedelta(seconds=delay))
            log.warning("recovery: %s (%s) still failing after %d probes; next in %gs: %s",
                        key[0], key[2], row.attempts, delay, error)
            return
        message = expiry_message(Condition(key[2]), key[0], row.attempts, policy, error)
        for job in session.scalars(select(JobRow).where(_blocked_on(row))).all():
            if repo.transition(session, job.uuid, JobStatus.BLOCKED, JobStatus.FAILED, message,
                               condition="JOB_RECOVERY_TIMEOUT"):
                expired.append(job.uuid)
        repo.close_recovery_row(session, row)
    log.error("recovery: %s (%s) policy expired; %d jobs failed", key[0], key[2], len(expired))

    for job_uuid in expired:
        job_ended(job_uuid)


def _admit_waiting(key: tuple[str, str, str]) -> list[Resume]:
    """Send the oldest jobs waiting for a job slot back to submit, as many as there are free slots."""
    resumes = []
    with session_scope() as session:
        row = session.get(RecoveryRow, key)
        if row is None:
            return []
        system = repo.system_spec(repo.get_system(session, key[0]))
        free = limits.Slots(session, system)
        for job in session.scalars(select(JobRow).where(_blocked_on(row)).order_by(JobRow.created)).all():
            if free.take(job) and (resume := _unblock(session, job, "a job slot is free; submitting")):
                resumes.append(resume)
        if not session.scalars(select(JobRow.uuid).where(_blocked_on(row)).limit(1)).first():
            repo.close_recovery_row(session, row)
        else:
            repo.reschedule_probe(session, row, utcnow() + timedelta(seconds=get_settings().recovery_interval))
    return resumes
