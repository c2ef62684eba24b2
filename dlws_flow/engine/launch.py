"""Stage the launch files (``tapisjob.env``, ``tapisjob.sh``) and launch the job once, within its system's job limits."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from sqlalchemy.orm import Session, object_session

from dlws_flow.adapters import registry
from dlws_flow.adapters.runtimes import LaunchRequest
from dlws_flow.adapters.schedulers import RemoteJob, ScriptRequest
from dlws_flow.domain.environment import job_environment, render_env_file
from dlws_flow.domain.job_spec import JobSpecView, arg_words
from dlws_flow.domain.paths import join
from dlws_flow.domain.records import SystemSpec
from dlws_flow.domain.recovery import Condition
from dlws_flow.domain.scheduler_profile import SelectedProfile
from dlws_flow.domain.states import JobStatus
from dlws_flow.engine import limits
from dlws_flow.engine.control import container_stop_command, run_container_stop
from dlws_flow.engine.families import environment as family_environment
from dlws_flow.engine.faults import crash_point
from dlws_flow.engine.hosts import open_transport
from dlws_flow.engine.lifecycle import Outcome, enter, scheduler_of, systems_of
from dlws_flow.engine.profiles import select_profile
from dlws_flow.engine.recovery import block_in_session
from dlws_flow.store import repositories as repo
from dlws_flow.store.db import session_scope
from dlws_flow.store.models import JobRow, utcnow

log = logging.getLogger(__name__)


def script_request(job: JobRow, system: SystemSpec, env_names: Iterable[str] = (),
                   profiles: dict[tuple[str, ...], SelectedProfile | None] | None = None) -> ScriptRequest:
    """What the launch script needs; ``env_names`` are the names ``tapisjob.env`` defines (a DOCKER job's
    container receives exactly those, ``-e NAME``), given where the script is built (``stage_job``).
    ``profiles`` keeps the scheduler profiles already selected (for many jobs of one owner and system)."""
    spec, dirs = JobSpecView.of(job.spec), job.host_dirs or {}
    runtime = registry.create("runtime", spec.runtime)
    env_file = join(dirs["ExecSystemExecDir"], "tapisjob.env")
    command = runtime.build_command(LaunchRequest(
        image=spec.containerImage, env_file=env_file,
        app_args=arg_words(spec.parameterSet.appArgs),
        container_args=arg_words(spec.parameterSet.containerArgs),
        runtime_options=spec.runtimeOptions, job_uuid=job.uuid, exec_dir=dirs["ExecSystemExecDir"],
        input_dir=dirs["ExecSystemInputDir"], output_dir=dirs["ExecSystemOutputDir"], env_names=list(env_names),
        launcher=spec.launcher_words,  # isMpi's mpiCmd, or cmdPrefix (merged at submission)
        gpu_count=spec.gpuCount,
    ))
    queue = None
    if spec.execSystemLogicalQueue:
        queue = next((q.hpcQueueName for q in system.batchLogicalQueues if q.name == spec.execSystemLogicalQueue), None)
    options = arg_words(spec.parameterSet.schedulerOptions)
    profile = None
    if job.job_type == "BATCH":
        known = profiles if profiles is not None else {}
        key = (job.owner, *options)
        if key not in known:
            known[key] = scheduler_profile(job, system, options)
        profile = known[key]
    return ScriptRequest(
        setup_lines=list(profile.setup_lines) if profile else [],
        hidden_options=profile.hidden_options if profile else frozenset(),
        job_uuid=job.uuid, job_name=job.name, exec_dir=dirs["ExecSystemExecDir"],
        stdout_path=join(dirs["ExecSystemOutputDir"], spec.log_config.stdoutFilename),
        stderr_path=join(dirs["ExecSystemOutputDir"], spec.log_config.stderrFilename),
        container_command=command, env_file=env_file, node_count=spec.nodeCount, cores_per_node=spec.coresPerNode,
        memory_mb=spec.memoryMB, max_minutes=spec.maxMinutes, gpu_count=spec.gpuCount, queue=queue,
        scheduler_options=options,
    )


def scheduler_profile(job: JobRow, system: SystemSpec, options: list[str]) -> SelectedProfile | None:
    """The batch job's scheduler profile: its setup lines and hidden ``#SBATCH`` options (``engine.profiles``
    says which profile, from the system record or the Tapis resource, and refuses one the job may not use)."""
    session = object_session(job)
    if session is None:
        with session_scope() as own_session:
            return select_profile(own_session, system, system.owner or "", job.owner, options)
    return select_profile(session, system, system.owner or "", job.owner, options)


def service_environment(session: Session, job: JobRow) -> dict[str, str]:
    """Variables of ours (not Tapis') that every job receives: ``DLWS_REST_API`` and ``FAMILY_TOKEN``."""
    return family_environment(session, job)


def environment_of(session: Session, job: JobRow) -> dict[str, str]:
    """What ``tapisjob.env`` defines for the job: its macros, its variables and ours (service secrets included:
    ``without_secrets`` for what is archived)."""
    spec = JobSpecView.of(job.spec)
    return job_environment(spec.macros, job.host_dirs or {}, spec.parameterSet.envVariables,
                           service_environment(session, job))


def stage_job(uuid: str) -> Outcome:
    """Write ``tapisjob.env`` and ``tapisjob.sh`` into the exec dir."""
    with session_scope() as session:
        job = enter(session, uuid, JobStatus.STAGING_JOB, "stage_job", "Staging runtime assets to execution system")
        if job is None:
            return Outcome.STOP
        exec_system, _ = systems_of(session, job)
        transport = open_transport(session, exec_system, job.owner)
        scheduler = scheduler_of(job, exec_system)
        env = environment_of(session, job)
        request = script_request(job, exec_system, env_names=env)

    # The env file can hold secrets (family tokens): only the job's login may read it.
    transport.put_bytes(render_env_file(env).encode(), join(request.exec_dir, "tapisjob.env"), mode=0o600)
    transport.put_bytes(scheduler.build_script(request).encode(), join(request.exec_dir, "tapisjob.sh"), mode=0o700)
    return Outcome.CONTINUE


def over_job_limit(session: Session, job: JobRow) -> bool:
    """Block the job on JOB_LIMIT (in this transaction) when its system or queue has no free slot."""
    system = repo.system_spec(repo.get_system(session, job.exec_system_id))
    if not limits.has_limits(system):
        return False
    limits.lock_system(session, system.id)
    session.refresh(job)
    queue = JobSpecView.of(job.spec).execSystemLogicalQueue
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
        if job.in_array:
            return Outcome.STOP  # its sweep's array launch submits it (engine.sweep_launch)
        if job.status == JobStatus.STAGING_JOB and not job.pause_requested and over_job_limit(session, job):
            return Outcome.STOP
        job = enter(session, uuid, JobStatus.SUBMITTING_JOB, "submit", "Submitting job to execution system")
        if job is None:
            return Outcome.STOP
        if job.remote_job_id:
            return Outcome.CONTINUE
        exec_system, _ = systems_of(session, job)
        transport = open_transport(session, exec_system, job.owner)
        scheduler = scheduler_of(job, exec_system)
        request = script_request(job, exec_system)

    remote_id = scheduler.parse_submit_output(transport.run(scheduler.build_submit_command(request)))
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
        container_stop = container_stop_command(job) if cancelled_meanwhile else None
        if not changed and not job.remote_job_id:
            repo.update_job_fields(session, uuid, remote_job_id=remote_id, remote_submitted=now)
    if cancelled_meanwhile:
        transport.run(scheduler.build_cancel_command(RemoteJob(remote_id, request.exec_dir)))
        if container_stop:
            run_container_stop(transport, uuid, container_stop)
        return Outcome.STOP
    return Outcome.CONTINUE

