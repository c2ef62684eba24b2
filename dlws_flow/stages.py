"""One idempotent function per lifecycle stage; the Celery tasks in ``workers/`` are thin wrappers.

Every stage follows the same shape:

1. *Enter*: read the job; skip if it is terminal, suspended, or already past this stage (a duplicate
   delivery); otherwise move it into the stage's status (compare-and-set, with a history row).
2. *Work*: talk to hosts through transports, outside any database transaction.
3. *Record*: persist what the work produced (host dirs, remote job id, exit code).

Re-running a stage is always safe: directory creation and file writes are idempotent, the launch is
guarded by an atomic marker on the host, and state changes are compare-and-set, so a job never moves
backwards and an app is never started twice.
"""

from __future__ import annotations

import logging
import os
import shlex
import signal
import time
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy.orm import Session

from dlws_flow.adapters import registry
from dlws_flow.adapters.runtimes import LaunchRequest
from dlws_flow.adapters.schedulers import RemoteJob, RemoteState, RemoteStatus, Scheduler, ScriptRequest
from dlws_flow.adapters.schedulers.slurm import split_profile
from dlws_flow.adapters.staging import archive as archiving
from dlws_flow.adapters.staging.inputs import parse_source, stage_input
from dlws_flow.adapters.transports import Transport
from dlws_flow.domain import macros
from dlws_flow.domain.environment import job_environment, render_env_file, without_secrets
from dlws_flow.domain.paths import host_path, join, root_relative
from dlws_flow.domain.polling import next_check_delay
from dlws_flow.domain.records import ArgSpec, SystemSpec
from dlws_flow.domain.recovery import Condition
from dlws_flow.domain.states import REMOTE_STATES, TERMINAL_STATES, JobStatus, lifecycle_position
from dlws_flow.engine import limits
from dlws_flow.engine.families import environment as family_environment
from dlws_flow.engine.hooks import job_ended
from dlws_flow.engine.hosts import login_for, open_transport
from dlws_flow.errors import ValidationError
from dlws_flow.recovery import block_in_session
from dlws_flow.settings import get_settings
from dlws_flow.store import repositories as repo
from dlws_flow.store.db import session_scope
from dlws_flow.store.models import JobRow, utcnow

log = logging.getLogger(__name__)

DIR_MACROS = ("JobWorkingDir", "ExecSystemExecDir", "ExecSystemInputDir", "ExecSystemOutputDir", "ArchiveSystemDir")
FIELD_OF_MACRO = {"ExecSystemExecDir": "execSystemExecDir", "ExecSystemInputDir": "execSystemInputDir",
                  "ExecSystemOutputDir": "execSystemOutputDir", "ArchiveSystemDir": "archiveSystemDir"}


class Outcome(StrEnum):
    CONTINUE = "continue"
    """The stage did its work (or re-did it); the chain goes on."""
    STOP = "stop"
    """Nothing for this delivery to do: terminal, suspended, or another delivery is ahead."""
    POLL = "poll"
    """Monitoring only: the job is still on the host; look again later."""


@dataclass(frozen=True)
class MonitorResult:
    outcome: Outcome
    delay: float = 0.0


# --- helpers -------------------------------------------------------------------------------------


def _enter(session: Session, uuid: str, stage_status: JobStatus, message: str, stage: str) -> JobRow | None:
    """Load the job and move it into ``stage_status``; None when this delivery should do nothing.

    A job whose owner asked for a pause stops here, at the stage boundary, and remembers where it was."""
    job = repo.get_job(session, uuid)
    status = JobStatus(job.status)
    if status in TERMINAL_STATES or status in (JobStatus.BLOCKED, JobStatus.PAUSED):
        return None
    redo = status == stage_status  # a re-delivery of an interrupted stage: redo it
    if not redo and lifecycle_position(status) != lifecycle_position(stage_status) - 1:
        return None  # already past this stage (duplicate delivery) or not there yet
    if job.pause_requested:
        pause_at_boundary(session, job, stage)
        return None
    if not redo and not repo.transition(session, uuid, status, stage_status, message):
        return None
    session.refresh(job)
    return job


def pause_at_boundary(session: Session, job: JobRow, stage: str) -> bool:
    return repo.transition(session, job.uuid, job.status, JobStatus.PAUSED,
                           f"Paused by its owner before {stage}; resume continues from there",
                           resume_status=job.status, resume_stage=stage)


def _systems(session: Session, job: JobRow) -> tuple[SystemSpec, SystemSpec]:
    exec_system = repo.system_spec(repo.get_system(session, job.exec_system_id))
    archive_system = (exec_system if job.archive_system_id == job.exec_system_id
                      else repo.system_spec(repo.get_system(session, job.archive_system_id)))
    return exec_system, archive_system


def _remote_job(job: JobRow) -> RemoteJob:
    """How the scheduler names the job on the host: its remote id and exec dir."""
    return RemoteJob(job.remote_job_id or "", (job.host_dirs or {}).get("ExecSystemExecDir", ""))


def _scheduler(job: JobRow, system: SystemSpec) -> Scheduler:
    return registry.create("scheduler", system.batchScheduler or "SLURM" if job.job_type == "BATCH" else "FORK")


def end_job(uuid: str, final: JobStatus, message: str, attempts: int) -> tuple[bool, JobRow]:
    """Move a job to ``final`` from whatever non-terminal state it is in, retrying the compare-and-set
    (up to ``attempts`` times) when a worker moves it meanwhile. Returns whether it changed and the job
    as read just before the last attempt."""
    for _ in range(attempts):
        with session_scope() as session:
            job = repo.get_job(session, uuid)
            if JobStatus(job.status) in TERMINAL_STATES:
                return False, job
            changed = repo.transition(session, uuid, job.status, final, message[:4000])
        if changed:
            job_ended(uuid)  # after the commit
            return True, job
    return False, job


def fail_job(uuid: str, message: str) -> bool:
    """Move a job to FAILED from whatever non-terminal state it is in. Returns whether it changed."""
    return end_job(uuid, JobStatus.FAILED, message, attempts=5)[0]


def _words(args: list[dict]) -> list[str]:
    return [word for arg in args for word in ArgSpec.model_validate(arg).words()]


def crash_point(name: str) -> None:
    """Fault injection for crash-safety tests: if ``$DLWS_FAULT_DIR/<name>`` exists, remove it and die
    with SIGKILL right here, as a worker killed by the OOM killer or an operator would. One-shot."""
    fault_dir = os.environ.get("DLWS_FAULT_DIR")
    if fault_dir:
        marker = os.path.join(fault_dir, name)
        try:
            os.unlink(marker)
        except FileNotFoundError:
            return
        log.warning("fault injection: killing this worker process at %s", name)
        os.kill(os.getpid(), signal.SIGKILL)


# --- stages --------------------------------------------------------------------------------------


def process_inputs(uuid: str) -> Outcome:
    """Expand HOST_EVAL in the job's directories and check every input source."""
    with session_scope() as session:
        job = _enter(session, uuid, JobStatus.PROCESSING_INPUTS, "Identifying input files for staging", "process_inputs")
        if job is None:
            return Outcome.STOP
        exec_system, archive_system = _systems(session, job)
        spec = dict(job.spec)
        for item in spec["fileInputs"]:
            source = parse_source(item["sourceUrl"])
            if source.kind == "tapis":
                repo.get_system(session, source.system_id)
        templates = {m: spec["macros"][m] if m == "JobWorkingDir" else spec[FIELD_OF_MACRO[m]] for m in DIR_MACROS}
        needed = sorted({v for value in templates.values() for v in macros.host_eval_variables(value)})
        transport = open_transport(session, exec_system, job.owner) if needed else None
        login = login_for(session, exec_system, job.owner)

    host_values: dict[str, str] = {}
    if transport is not None:
        script = "; ".join(f"printf '%s\\n' \"${{{name}}}\"" for name in needed)
        lines = transport.run(script).check().stdout.splitlines()
        for name, value in zip(needed, lines, strict=False):
            if not value.startswith("/"):
                raise ValidationError(f"HOST_EVAL(${name}) is {value!r} on {exec_system.host}, not an absolute path")
            host_values[name] = value
        missing = [n for n in needed if n not in host_values]
        if missing:
            raise ValidationError(f"HOST_EVAL: {', '.join(missing)} not set on {exec_system.host}")

    host_dirs: dict[str, str] = {}
    tapis_dirs: dict[str, str] = {}
    for macro_name, template in templates.items():
        system = archive_system if macro_name == "ArchiveSystemDir" else exec_system
        expanded = macros.expand_host_eval(template, host_values)
        relative = root_relative(system.rootDir, expanded) if template.startswith("HOST_EVAL(") else expanded
        host_dirs[macro_name] = host_path(system.rootDir, relative, macro_name)
        tapis_dirs[macro_name] = "/" + relative.lstrip("/")

    with session_scope() as session:
        spec.update({FIELD_OF_MACRO[m]: d for m, d in tapis_dirs.items() if m in FIELD_OF_MACRO})
        spec["macros"] = {**spec["macros"], **{m: tapis_dirs[m] for m in DIR_MACROS}}
        repo.update_job_fields(session, uuid, host_dirs=host_dirs, spec=spec, exec_login=login)
    return Outcome.CONTINUE


def stage_inputs(uuid: str) -> Outcome:
    """Create the job's directories on the exec host and transfer its inputs."""
    with session_scope() as session:
        job = _enter(session, uuid, JobStatus.STAGING_INPUTS, "Transferring job input data to execution system", "stage_inputs")
        if job is None:
            return Outcome.STOP
        exec_system, _ = _systems(session, job)
        transport = open_transport(session, exec_system, job.owner)
        dirs = job.host_dirs or {}
        inputs = list(job.spec["fileInputs"])
        owner = job.owner

    transport.makedirs(dirs["ExecSystemExecDir"], dirs["ExecSystemInputDir"], dirs["ExecSystemOutputDir"])

    def source_host(system_id: str, path: str) -> tuple[Transport, str, str]:
        with session_scope() as session:
            system = repo.system_spec(repo.get_system(session, system_id))
            return (open_transport(session, system, owner), host_path(system.rootDir, "/"),
                    host_path(system.rootDir, path, "sourceUrl path"))

    for item in inputs:
        source = parse_source(item["sourceUrl"])
        target = join(dirs["ExecSystemInputDir"], item.get("targetPath") or source.default_name)
        if "/" in (item.get("targetPath") or ""):
            transport.makedirs(target.rsplit("/", 1)[0])
        stage_input(source, target, transport, exec_system.id, source_host)
    return Outcome.CONTINUE


def _script_request(job: JobRow, system: SystemSpec) -> ScriptRequest:
    spec, dirs = job.spec, job.host_dirs or {}
    runtime = registry.create("runtime", spec["runtime"])
    env_file = join(dirs["ExecSystemExecDir"], "tapisjob.env")
    command = runtime.build_command(LaunchRequest(
        image=spec["containerImage"], env_file=env_file,
        app_args=_words(spec["parameterSet"]["appArgs"]),
        container_args=_words(spec["parameterSet"]["containerArgs"]),
        runtime_options=spec.get("runtimeOptions", []),
    ))
    log_config = spec["parameterSet"].get("logConfig") or {}
    queue = None
    if spec.get("execSystemLogicalQueue"):
        queue = next((q.hpcQueueName for q in system.batchLogicalQueues if q.name == spec["execSystemLogicalQueue"]), None)
    options = _words(spec["parameterSet"].get("schedulerOptions", []))
    return ScriptRequest(
        setup_lines=profile_setup_lines(system, options) if job.job_type == "BATCH" else [],
        job_uuid=job.uuid, job_name=job.name, exec_dir=dirs["ExecSystemExecDir"],
        stdout_path=join(dirs["ExecSystemOutputDir"], log_config.get("stdoutFilename", "tapisjob.out")),
        stderr_path=join(dirs["ExecSystemOutputDir"], log_config.get("stderrFilename", "tapisjob.out")),
        container_command=command, env_file=env_file, node_count=spec["nodeCount"], cores_per_node=spec["coresPerNode"],
        memory_mb=spec["memoryMB"], max_minutes=spec["maxMinutes"], queue=queue,
        scheduler_options=options,
    )


def profile_setup_lines(system: SystemSpec, options: list[str]) -> list[str]:
    """The setup lines of the scheduler profile the job asks for (``--tapis-profile``) or the system's default."""
    name = split_profile(options)[0] or system.batchSchedulerProfile
    if not name:
        return []
    profile = next((p for p in system.schedulerProfiles if p.get("name") == name), None)
    if profile is None:
        raise ValidationError(f"scheduler profile {name!r} is not defined on system {system.id}")
    lines = []
    for load in profile.get("moduleLoads", []):
        words = load["moduleLoadCommand"].split() + list(load.get("modulesToLoad", []))
        lines.append(" ".join(shlex.quote(w) for w in words))
    # Written by the system's owner, not by job submitters: trusted shell lines.
    lines += list(profile.get("setupLines", []))
    return lines


def service_environment(session: Session, job: JobRow) -> dict[str, str]:
    """Variables of ours (not Tapis') that every job receives: ``DLWS_REST_API`` and ``FAMILY_TOKEN``."""
    return family_environment(session, job)


def stage_job(uuid: str) -> Outcome:
    """Write ``tapisjob.env`` and ``tapisjob.sh`` into the exec dir."""
    with session_scope() as session:
        job = _enter(session, uuid, JobStatus.STAGING_JOB, "Staging runtime assets to execution system", "stage_job")
        if job is None:
            return Outcome.STOP
        exec_system, _ = _systems(session, job)
        transport = open_transport(session, exec_system, job.owner)
        scheduler = _scheduler(job, exec_system)
        request = _script_request(job, exec_system)
        env = job_environment(job.spec["macros"], job.host_dirs or {}, job.spec["parameterSet"]["envVariables"], service_environment(session, job))

    # The env file can hold secrets (family tokens): only the job's login may read it.
    transport.put_bytes(render_env_file(env).encode(), join(request.exec_dir, "tapisjob.env"), mode=0o600)
    transport.put_bytes(scheduler.build_script(request).encode(), join(request.exec_dir, "tapisjob.sh"), mode=0o700)
    return Outcome.CONTINUE


def _over_job_limit(session: Session, job: JobRow) -> bool:
    """Block the job on JOB_LIMIT (in this transaction) when its system or queue has no free slot."""
    system = repo.system_spec(repo.get_system(session, job.exec_system_id))
    if not limits.has_limits(system):
        return False
    limits.lock_system(session, system.id)
    session.refresh(job)
    queue = job.spec.get("execSystemLogicalQueue")
    reason = limits.Slots(session, system).reason(job.owner, queue)
    if reason is None:
        repo.update_job_fields(session, job.uuid, remote_queue=queue)
        return False
    block_in_session(session, job, "submit", Condition.JOB_LIMIT, system.id, job.exec_login or job.owner, reason)
    return True


def submit(uuid: str) -> Outcome:
    """Launch the job once: a recorded remote id, or the host's launch marker, means it already was."""
    with session_scope() as session:
        job = repo.get_job(session, uuid)
        if job.status == JobStatus.STAGING_JOB and not job.pause_requested and _over_job_limit(session, job):
            return Outcome.STOP
        job = _enter(session, uuid, JobStatus.SUBMITTING_JOB, "Submitting job to execution system", "submit")
        if job is None:
            return Outcome.STOP
        if job.remote_job_id:
            return Outcome.CONTINUE
        exec_system, _ = _systems(session, job)
        transport = open_transport(session, exec_system, job.owner)
        scheduler = _scheduler(job, exec_system)
        request = _script_request(job, exec_system)

    result = transport.run(scheduler.build_submit_command(request)).check()
    remote_id = scheduler.parse_submit_output(result.stdout)
    crash_point("after_launch")  # launched on the host, not yet recorded: the worst moment to die
    next_status = JobStatus.QUEUED if scheduler.queues_jobs else JobStatus.RUNNING
    now = utcnow()
    with session_scope() as session:
        changed = repo.transition(
            session, uuid, JobStatus.SUBMITTING_JOB, next_status,
            f"Submitted to {exec_system.id} as {'Slurm job' if scheduler.queues_jobs else 'process'} {remote_id}",
            remote_job_id=remote_id, remote_submitted=now,
            **({} if scheduler.queues_jobs else {"remote_started": now}),
        )
        job = repo.get_job(session, uuid)
        cancelled_meanwhile = not changed and job.status == JobStatus.CANCELLED
        if not changed and not job.remote_job_id:
            repo.update_job_fields(session, uuid, remote_job_id=remote_id, remote_submitted=now)
    if cancelled_meanwhile:
        transport.run(scheduler.build_cancel_command(RemoteJob(remote_id, request.exec_dir)))
        return Outcome.STOP
    return Outcome.CONTINUE


def _apply_status(session: Session, job: JobRow, status: RemoteStatus) -> None:
    """Record one job's remote status; writes only when something changed."""
    current = JobStatus(job.status)
    now = utcnow()
    if status.state == RemoteState.QUEUED and current == JobStatus.SUBMITTING_JOB:
        repo.transition(session, job.uuid, current, JobStatus.QUEUED, "Job queued to execution system queue")
    elif status.state == RemoteState.QUEUED and current == JobStatus.RUNNING:
        repo.transition(session, job.uuid, current, JobStatus.QUEUED, "Job requeued by the scheduler")
    elif status.state == RemoteState.RUNNING and current in (JobStatus.SUBMITTING_JOB, JobStatus.QUEUED):
        repo.transition(session, job.uuid, current, JobStatus.RUNNING, "Job running on execution system",
                        remote_started=now, remote_node=status.node)
    elif status.state == RemoteState.CANCELLED:
        repo.transition(session, job.uuid, current, JobStatus.CANCELLED, status.reason or "Cancelled on the execution system",
                        remote_ended=now, remote_outcome="CANCELLED")
    elif status.state in (RemoteState.DONE, RemoteState.FAILED):
        code = status.exit_code
        succeeded = status.state == RemoteState.DONE and code == 0
        outcome = "FINISHED" if succeeded else "FAILED"
        reason = status.reason or (f"the application exited with code {code}" if not succeeded else None)
        fields = dict(remote_ended=now, remote_outcome=outcome, exit_code=code,
                      remote_result_info=reason, **({"remote_node": status.node} if status.node else {}))
        if succeeded or job.spec.get("archiveOnAppError", True):
            repo.transition(session, job.uuid, current, JobStatus.ARCHIVING,
                            "Transferring job output to archive system", **fields)
        else:
            repo.transition(session, job.uuid, current, JobStatus.FAILED, f"Job failed: {reason}", **fields)


def poll_system(system_id: str, login: str, owner: str) -> int:
    """One status query for every active job of (system, login). Returns the number of jobs covered."""
    with session_scope() as session:
        system = repo.system_spec(repo.get_system(session, system_id))
        jobs = [j for j in repo.active_remote_jobs(session, system_id, [s.value for s in REMOTE_STATES])
                if (j.exec_login or login) == login]
        if not jobs:
            return 0
        transport = open_transport(session, system, owner)
    by_scheduler: dict[str, list[JobRow]] = {}
    for job in jobs:
        by_scheduler.setdefault(job.job_type, []).append(job)
    for job_type, group in by_scheduler.items():
        scheduler = _scheduler(group[0], system)
        refs = [_remote_job(j) for j in group]
        result = transport.run(scheduler.build_status_command(refs)).check()
        statuses = scheduler.parse_status_output(result.stdout, refs)
        with session_scope() as session:
            for job in group:
                status = statuses.get(job.remote_job_id or "")
                if status is not None:
                    fresh = repo.get_job(session, job.uuid)
                    if JobStatus(fresh.status) in REMOTE_STATES:
                        _apply_status(session, fresh, status)
        for job in group:  # may have ended without archiving (cancelled on the host, or failed)
            if getattr(statuses.get(job.remote_job_id or ""), "state", None) in (RemoteState.CANCELLED, RemoteState.FAILED):
                job_ended(job.uuid)
    return len(jobs)


def monitor(uuid: str) -> MonitorResult:
    """Check the job (batched with its system's other jobs, at most once per interval per host)."""
    settings = get_settings()
    with session_scope() as session:
        job = repo.get_job(session, uuid)
        status = JobStatus(job.status)
        if status in TERMINAL_STATES or status in (JobStatus.BLOCKED, JobStatus.PAUSED):
            return MonitorResult(Outcome.STOP)
        if status not in REMOTE_STATES:
            return MonitorResult(Outcome.CONTINUE if status == JobStatus.ARCHIVING else Outcome.STOP)
        hold_now = job.pause_requested and status == JobStatus.QUEUED
        too_young = _seconds_in_state(job) < settings.monitor_first_interval
        system_id, login, owner = job.exec_system_id, job.exec_login or job.owner, job.owner
        # A look that is about to hold the job does not claim the poll: a claim not finished by this look
        # would keep every job of the system unpolled for the whole lease.
        claimed = not too_young and not hold_now and repo.claim_poll(
            session, system_id, login, settings.poll_min_interval,
            lease=settings.ssh_command_timeout + settings.ssh_connect_timeout)
    if hold_now and hold_queued(uuid):
        return MonitorResult(Outcome.STOP)
    if claimed:
        started = time.monotonic()
        try:
            poll_system(system_id, login, owner)
        finally:
            with session_scope() as session:
                repo.finish_poll(session, system_id, login, rest=time.monotonic() - started)
    with session_scope() as session:
        job = repo.get_job(session, uuid)
        status = JobStatus(job.status)
        if status in REMOTE_STATES:
            return MonitorResult(Outcome.POLL, next_check_delay(_seconds_in_state(job), settings.monitor_first_interval,
                                                                settings.monitor_max_interval,
                                                                settings.monitor_age_fraction))
    return MonitorResult(Outcome.CONTINUE if status == JobStatus.ARCHIVING else Outcome.STOP)


def _seconds_in_state(job: JobRow) -> float:
    """Since the job reached Slurm's queue (QUEUED) or started (RUNNING): when the host reported it, else
    when we recorded the change."""
    since = (job.remote_started if job.status == JobStatus.RUNNING else job.remote_submitted) or job.last_updated
    return max(0.0, (utcnow() - since).total_seconds())


def archive(uuid: str) -> Outcome:
    """Copy outputs to the archive system, then end FINISHED (exit 0) or FAILED."""
    with session_scope() as session:
        job = repo.get_job(session, uuid)
        if job.status != JobStatus.ARCHIVING:
            return Outcome.STOP
        if job.pause_requested:
            pause_at_boundary(session, job, "archive")
            return Outcome.STOP
        exec_system, archive_system = _systems(session, job)
        exec_host = open_transport(session, exec_system, job.owner)
        archive_host = exec_host if archive_system.id == exec_system.id else open_transport(session, archive_system, job.owner)
        dirs = job.host_dirs or {}
        params = job.spec["parameterSet"]
        log_config = params.get("logConfig") or {}
        archive_filter = params.get("archiveFilter") or {}
        outcome, exit_code, reason = job.remote_outcome, job.exit_code, job.remote_result_info
        archive_root = archive_system.rootDir or "/"
        archived_env = render_env_file(without_secrets(job_environment(
            job.spec["macros"], dirs, params["envVariables"], service_environment(session, job))))

    output_dir = dirs["ExecSystemOutputDir"]
    entries = exec_host.walk(output_dir) if exec_host.is_dir(output_dir) else []
    files = [e.path for e in entries if not e.is_dir]
    log_files = sorted({log_config.get("stdoutFilename", "tapisjob.out"), log_config.get("stderrFilename", "tapisjob.out")})
    include_launch = archive_filter.get("includeLaunchFiles", True)
    chosen = archiving.plan_archive(files, archive_filter.get("includes") or [], archive_filter.get("excludes") or [],
                                    log_files, include_launch)
    copied = archiving.archive_outputs(exec_host, output_dir, dirs["ExecSystemExecDir"], archive_host,
                                       dirs["ArchiveSystemDir"], chosen, include_launch,
                                       same_host=archive_system.id == exec_system.id,
                                       links=frozenset(e.path for e in entries if e.is_link),
                                       archived_env=archived_env, archive_root=archive_root)
    with session_scope() as session:
        job = repo.get_job(session, uuid)
        spec = {**job.spec, "archived": True, "archivedFiles": len(copied), "archivedPaths": sorted(set(copied))}
        repo.update_job_fields(session, uuid, spec=spec)
        if outcome == "FINISHED":
            repo.transition(session, uuid, JobStatus.ARCHIVING, JobStatus.FINISHED, "Job completed successfully")
        else:
            repo.transition(session, uuid, JobStatus.ARCHIVING, JobStatus.FAILED,
                            f"Job failed: {reason or f'the application exited with code {exit_code}'}")
    job_ended(uuid)
    return Outcome.CONTINUE


def mark_cancelled(uuid: str, message: str) -> tuple[bool, bool]:
    """Record CANCELLED first, so a status poll racing the kill cannot report the killed app as failed.

    Returns (changed, needs_kill): whether the job moved to CANCELLED now, and whether a process or
    Slurm job may be alive on the host and must be stopped.
    """
    changed, job = end_job(uuid, JobStatus.CANCELLED, message, attempts=10)
    if changed:
        return True, bool(job.remote_job_id) or JobStatus(job.status) in REMOTE_STATES
    if JobStatus(job.status) not in TERMINAL_STATES:
        return False, False  # still moving after every attempt: as before, give up without a kill
    return False, job.status == JobStatus.CANCELLED and bool(job.remote_job_id) and job.remote_outcome != "CANCELLED"


def cancel(uuid: str, message: str = "Job cancelled by its owner") -> bool:
    """Mark the job CANCELLED, then stop its process (or Slurm job) on the host. Safe to repeat: a
    re-delivered cancel finds the job CANCELLED but not yet stopped on the host, and stops it."""
    changed, needs_kill = mark_cancelled(uuid, message)
    if not needs_kill:
        return changed
    with session_scope() as session:
        job = repo.get_job(session, uuid)
        if not job.remote_job_id:
            return changed  # not launched yet: the submit stage sees CANCELLED and stops what it started
        exec_system, _ = _systems(session, job)
        transport = open_transport(session, exec_system, job.owner)
        scheduler = _scheduler(job, exec_system)
        ref = _remote_job(job)
    transport.run(scheduler.build_cancel_command(ref))
    with session_scope() as session:
        repo.update_job_fields(session, uuid, remote_outcome="CANCELLED", remote_ended=utcnow())
    return True


# --- pause, resume, recovery probes ---------------------------------------------------------------


def hold_queued(uuid: str) -> bool:
    """Pause a job waiting in the batch queue now: record PAUSED, then ``scontrol hold`` it.

    Returns False when there is nothing to hold (not queued, not batch, or it started meanwhile: a
    running job pauses at its next boundary, before archiving)."""
    with session_scope() as session:
        job = repo.get_job(session, uuid)
        if not (job.pause_requested and job.status == JobStatus.QUEUED and job.remote_job_id):
            return False
        exec_system, _ = _systems(session, job)
        scheduler = _scheduler(job, exec_system)
        ref = _remote_job(job)
        command = scheduler.build_hold_command(ref)
        if command is None:
            return False
        transport = open_transport(session, exec_system, job.owner)
        # PAUSED is recorded before the hold is sent: the pause task and a monitor look may both get here,
        # and only the one that wins this transition holds (a second hold could land after a resume's release).
        if not repo.transition(session, uuid, JobStatus.QUEUED, JobStatus.PAUSED,
                               f"Paused by its owner; Slurm job {ref.remote_id} held in the queue",
                               resume_status=JobStatus.QUEUED.value, resume_stage="monitor", remote_held=True):
            return False
    if transport.run(command).exit_code == 0:
        return True
    with session_scope() as session:  # it left the queue meanwhile: it pauses at its next boundary instead
        repo.transition(session, uuid, JobStatus.PAUSED, JobStatus.QUEUED,
                        f"Slurm job {ref.remote_id} could not be held (it left the queue); pausing at the next stage",
                        remote_held=False, resume_status=None, resume_stage=None)
    return False


def resume_paused(uuid: str) -> str | None:
    """Continue a PAUSED job (releasing its held Slurm job first); returns the stage to re-enqueue."""
    release: tuple[Transport, str] | None = None
    with session_scope() as session:
        job = repo.get_job(session, uuid)
        repo.update_job_fields(session, uuid, pause_requested=False)
        if job.status != JobStatus.PAUSED:
            return None
        if job.remote_held and job.remote_job_id:
            exec_system, _ = _systems(session, job)
            command = _scheduler(job, exec_system).build_release_command(_remote_job(job))
            if command:
                release = (open_transport(session, exec_system, job.owner), command)
    if release is not None:
        transport, command = release
        transport.run(command).check()
    with session_scope() as session:
        job = repo.get_job(session, uuid)
        target = JobStatus(job.resume_status or JobStatus.PENDING)
        if not repo.transition(session, uuid, JobStatus.PAUSED, target, f"Resumed by its owner at {job.resume_stage}",
                               remote_held=False):
            return None
        return job.resume_stage or "process_inputs"


def probe_system(system_id: str, username: str, condition: str) -> None:
    """One probe of a blocked (system, login): raises a ``DlwsFlowError`` while the fault holds."""
    with session_scope() as session:
        system = repo.system_spec(repo.get_system(session, system_id))
        transport = open_transport(session, system, username, probing=True)
    if condition == Condition.SCHEDULER_UNAVAILABLE:
        command = registry.create("scheduler", system.batchScheduler or "SLURM").build_probe_command()
    elif condition == Condition.STORAGE_FULL:
        command = 'f=$(mktemp "${HOME:-/tmp}/.dlws-probe.XXXXXX") && echo probe > "$f"; s=$?; rm -f "$f"; exit $s'
    else:
        command = "true"
    transport.run(command).check()
