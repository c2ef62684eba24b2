"""Watching launched jobs: one batched status query per (system, login) and interval, and the mapping of a
scheduler's answer onto the job's status.

The clock is one poller per (system, login) (``poller_run``, the task ``dlws.poll_pair``): it polls as often as
its youngest job needs (``domain.polling``), acts on what changed (``poll_system`` starts the archive of a
job seen ending), and stops when the pair has no active job left. It is claimed in the store
(``repo.claim_poller``) by the first look that finds none, and every run is numbered, so a message delivered
twice, or one of a poller that was replaced, stops at once. Each job's own look (``monitor``) is the safety
net: while the pair's poller runs it only comes back every ``DLWS_MONITOR_SAFETY_INTERVAL``; when the poller
has not run for ``3 x DLWS_MONITOR_MAX_INTERVAL + DLWS_SSH_CONNECT_TIMEOUT`` (its worker died, its message
was lost, its host failed) the look polls itself, with the stage's retry and BLOCKED policy, and claims a
new poller.
"""

from __future__ import annotations

import logging
import time
import uuid as uuidlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from dlws_flow.adapters.schedulers import RemoteState, RemoteStatus
from dlws_flow.domain.job_spec import JobSpecView
from dlws_flow.domain.polling import next_check_delay
from dlws_flow.domain.states import REMOTE_STATES, TERMINAL_STATES, JobStatus
from dlws_flow.engine.archive_batch import archive_together
from dlws_flow.engine.control import hold_queued
from dlws_flow.engine.hooks import job_ended, poller_due, stage_due
from dlws_flow.engine.hosts import open_transport
from dlws_flow.engine.lifecycle import MonitorResult, Outcome, remote_job, scheduler_of, stands_still
from dlws_flow.settings import get_settings
from dlws_flow.store import repositories as repo
from dlws_flow.store.db import session_scope
from dlws_flow.store.models import JobRow, utcnow

log = logging.getLogger(__name__)


def apply_status(session: Session, job: JobRow, status: RemoteStatus) -> JobStatus | None:
    """Record one job's remote status; writes only when something changed. Returns the status the job moved
    to, or None when it stayed."""
    current = JobStatus(job.status)
    now = utcnow()

    def move(target: JobStatus, message: str, **fields: object) -> JobStatus | None:
        return target if repo.transition(session, job.uuid, current, target, message, **fields) else None

    if status.state == RemoteState.QUEUED and current == JobStatus.SUBMITTING_JOB:
        return move(JobStatus.QUEUED, "Job queued to execution system queue")
    if status.state == RemoteState.QUEUED and current == JobStatus.RUNNING:
        return move(JobStatus.QUEUED, "Job requeued by the scheduler")
    if status.state == RemoteState.RUNNING and current in (JobStatus.SUBMITTING_JOB, JobStatus.QUEUED):
        return move(JobStatus.RUNNING, "Job running on execution system", remote_started=now, remote_node=status.node)
    if status.state == RemoteState.CANCELLED:
        return move(JobStatus.CANCELLED, status.reason or "Cancelled on the execution system",
                    remote_ended=now, remote_outcome="CANCELLED")
    if status.state in (RemoteState.DONE, RemoteState.FAILED):
        code = status.exit_code
        succeeded = status.state == RemoteState.DONE and code == 0
        outcome = "FINISHED" if succeeded else "FAILED"
        reason = status.reason or (f"the application exited with code {code}" if not succeeded else None)
        fields = dict(remote_ended=now, remote_outcome=outcome, exit_code=code,
                      remote_result_info=reason, **({"remote_node": status.node} if status.node else {}))
        if succeeded or JobSpecView.of(job.spec).archiveOnAppError:
            return move(JobStatus.ARCHIVING, "Transferring job output to archive system", **fields)
        return move(JobStatus.FAILED, f"Job failed: {reason}", **fields)
    return None


def poll_system(system_id: str, login: str, owner: str) -> int:
    """One status query for every active job of (system, login). Returns how many of them changed status."""
    with session_scope() as session:
        system = repo.system_spec(repo.get_system(session, system_id))
        jobs = [j for j in repo.active_remote_jobs(session, system_id, [s.value for s in REMOTE_STATES])
                if (j.exec_login or login) == login]
        if not jobs:
            return 0
        transport = open_transport(session, system, owner)
    changed = 0
    by_scheduler: dict[str, list[JobRow]] = {}
    for job in jobs:
        by_scheduler.setdefault(job.job_type, []).append(job)
    with session_scope() as session:
        array_dirs = repo.array_dirs(session, {j.sweep_id for j in jobs if j.sweep_id})
    for group in by_scheduler.values():
        scheduler = scheduler_of(group[0], system)
        refs = [remote_job(j, array_dirs) for j in group]
        statuses = scheduler.parse_status_output(transport.run(scheduler.build_status_command(refs)), refs)
        ended, archiving, moved_any = [], [], 0  # ended: without archiving (cancelled on the host, or failed)
        with session_scope() as session:
            for job in group:
                status = statuses.get(job.remote_job_id or "")
                if status is not None and not _same(job, status):
                    fresh = repo.get_job(session, job.uuid)
                    moved = apply_status(session, fresh, status) if JobStatus(fresh.status) in REMOTE_STATES else None
                    moved_any += moved is not None
                    if moved in TERMINAL_STATES:
                        ended.append(job.uuid)
                    elif moved == JobStatus.ARCHIVING:
                        archiving.append(job.uuid)
        changed += moved_any
        for uuid in ended:  # after the commit
            job_ended(uuid)
        # The poll that saw the end starts the archive: no job waits for its own timer. A sweep's array
        # elements are archived here, together; any other job (or one the batch leaves) by its own stage.
        together = [j.uuid for j in group if j.uuid in archiving and j.in_array]
        alone = [uuid for uuid in archiving if uuid not in together]
        try:
            alone += archive_together(together)
        except Exception:  # their own stages archive them instead (each is idempotent)
            log.exception("archiving %d sweep elements together failed; each archives alone", len(together))
            alone += together
        for uuid in alone:
            stage_due(uuid, "archive")
    return changed


def _same(job: JobRow, status: RemoteStatus) -> bool:
    """The host reports what the job's row says already (a job still queued, or still running): nothing to
    re-read or write. Most jobs of most polls are."""
    return (status.state, job.status) in ((RemoteState.QUEUED, JobStatus.QUEUED), (RemoteState.RUNNING, JobStatus.RUNNING))


def claim_poll(session: Session, system_id: str, login: str) -> bool:
    """Whether this caller runs the (system, login)'s next poll (one per ``DLWS_POLL_MIN_INTERVAL``)."""
    settings = get_settings()
    return repo.claim_poll(session, system_id, login, settings.poll_min_interval,
                           lease=settings.ssh_command_timeout + settings.ssh_connect_timeout)


def run_claimed_poll(system_id: str, login: str, owner: str) -> int:
    """The poll this caller claimed; its end is stamped even when it fails. Returns how many jobs changed."""
    started = time.monotonic()
    try:
        return poll_system(system_id, login, owner)
    finally:
        with session_scope() as session:
            repo.finish_poll(session, system_id, login, rest=time.monotonic() - started)


def poller_stale_before() -> datetime:
    """A poller not seen since then is taken for dead (see the module's docstring)."""
    settings = get_settings()
    return utcnow() - timedelta(seconds=3 * settings.monitor_max_interval + settings.ssh_connect_timeout)


def start_poller(system_id: str, login: str, owner: str, delay: float = 0.0) -> bool:
    """Claim the pair's poller unless a live one runs, and have its first run start in ``delay`` seconds.
    Returns whether this call did."""
    token = uuidlib.uuid4().hex
    with session_scope() as session:
        claimed = repo.claim_poller(session, system_id, login, token, poller_stale_before())
    if claimed:
        poller_due(system_id, login, owner, token, delay)
    return claimed


@dataclass(frozen=True)
class NextRun:
    delay: float
    run: int
    #: When the poller last saw a job of the pair change (epoch seconds): it polls fast while they change.
    changed_at: float


def poller_run(system_id: str, login: str, owner: str, token: str, run: int,
               changed_at: float | None = None) -> NextRun | None:
    """Run ``run`` of the pair's poller ``token``: poll (at most once per ``DLWS_POLL_MIN_INTERVAL``, as every
    look), then say when the next run is due; None when this poller stops: the pair has no active job left,
    or this message is not the poller's next run.

    The next run comes after the delay the pair's youngest job needs, or, sooner, the one that the time since
    a job of the pair last changed calls for (from ``DLWS_POLL_BUSY_INTERVAL`` on): on a busy cluster short jobs
    start and end between two polls while the others wait long in the queue, and each end is seen soon.

    Raises:
        HostError: the poll failed; the poller is released first, so the jobs' own looks take over.
    """
    with session_scope() as session:
        if not repo.advance_poller(session, system_id, login, token, run):
            return None
        claimed = claim_poll(session, system_id, login)
    now = time.time()
    if claimed:
        try:
            if run_claimed_poll(system_id, login, owner):
                changed_at = now
        except Exception:
            with session_scope() as session:
                repo.release_poller(session, system_id, login, token)
            raise
    delay = pair_delay(system_id, login)
    if delay is not None:
        settings = get_settings()
        quiet = now - (changed_at if changed_at is not None else now)
        busy = next_check_delay(quiet, settings.poll_busy_interval, settings.monitor_max_interval,
                                settings.monitor_age_fraction)
        return NextRun(min(delay, busy), run + 1, changed_at if changed_at is not None else now)
    with session_scope() as session:
        repo.release_poller(session, system_id, login, token)
    # A job may have reached the host between the look and the release: its own look found this poller
    # alive and started none, so this one claims the pair again.
    if pair_delay(system_id, login) is None:
        return None
    with session_scope() as session:
        again = repo.claim_poller(session, system_id, login, token, poller_stale_before())
    return NextRun(get_settings().monitor_first_interval, 0, time.time()) if again else None


def pair_delay(system_id: str, login: str) -> float | None:
    """Seconds until the pair's youngest active job needs a look (None: no active job). One aggregate row,
    however many jobs the pair has (a sweep: thousands)."""
    settings = get_settings()
    with session_scope() as session:
        latest = repo.latest_remote_change(session, system_id, login, [s.value for s in REMOTE_STATES])
    if latest is None:
        return None
    if latest.tzinfo is None:  # SQLite hands back naive UTC
        latest = latest.replace(tzinfo=utcnow().tzinfo)
    youngest = max(0.0, (utcnow() - latest).total_seconds())
    return next_check_delay(youngest, settings.monitor_first_interval, settings.monitor_max_interval,
                            settings.monitor_age_fraction)


def monitor(uuid: str) -> MonitorResult:
    """Check the job: while its (system, login) has a live poller, only come back later (the safety net);
    otherwise poll (batched with its system's other jobs, at most once per interval per host) and start one."""
    settings = get_settings()
    with session_scope() as session:
        job = repo.get_job(session, uuid)
        status = JobStatus(job.status)
        if stands_still(status):
            return MonitorResult(Outcome.STOP)
        if status not in REMOTE_STATES:  # ARCHIVING too: the poll that moved it there sent its archive
            return MonitorResult(Outcome.STOP)
        hold_now = job.pause_requested and status == JobStatus.QUEUED
        system_id, login, owner = job.exec_system_id, job.exec_login or job.owner, job.owner
        polled = not hold_now and repo.poller_seen_since(session, system_id, login, poller_stale_before())
        first_look = next_check_delay(seconds_in_state(job), settings.monitor_first_interval,
                                      settings.monitor_max_interval, settings.monitor_age_fraction)
    if hold_now and hold_queued(uuid):
        return MonitorResult(Outcome.STOP)
    if polled:
        return MonitorResult(Outcome.POLL, settings.monitor_safety_interval)
    # No live poller: this look starts one, whose first run polls when this job first needs a look; only a
    # look that could not claim it (another just did) polls by itself. A look about to hold the job does not
    # claim the poll: a claim not finished by this look would keep every job of the system unpolled for the
    # whole lease.
    if not hold_now and start_poller(system_id, login, owner, first_look):
        return MonitorResult(Outcome.POLL, settings.monitor_safety_interval)
    with session_scope() as session:
        claimed = not hold_now and claim_poll(session, system_id, login)
    if claimed:
        run_claimed_poll(system_id, login, owner)
    with session_scope() as session:
        job = repo.get_job(session, uuid)
        status = JobStatus(job.status)
        if status in REMOTE_STATES:
            return MonitorResult(Outcome.POLL, next_check_delay(seconds_in_state(job), settings.monitor_first_interval,
                                                                settings.monitor_max_interval,
                                                                settings.monitor_age_fraction))
    return MonitorResult(Outcome.STOP)  # ended, or ARCHIVING with its archive sent by the poll


def seconds_in_state(job: JobRow) -> float:
    """Since the job reached Slurm's queue (QUEUED) or started (RUNNING): when the host reported it, else
    when we recorded the change."""
    since = (job.remote_started if job.status == JobStatus.RUNNING else job.remote_submitted) or job.last_updated
    return max(0.0, (utcnow() - since).total_seconds())

