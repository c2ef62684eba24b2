"""A sweep launched as job arrays (ours): its elements staged together and submitted with one ``sbatch --array``.

The elements are normal jobs, each with its own directories, ``tapisjob.env``, ``tapisjob.sh``, history and
outputs; only the way in differs. Instead of six stage tasks and a dozen round trips per element, one launch:

1. claim: the sweep's elements still waiting (an element paused before the launch leaves the array and goes
   its own way when resumed; a cancelled one is left out);
2. HOST_EVAL and the host's ``MaxArraySize``, in one command, for all of them;
3. every element's directories, env file and script, plus the arrays' scripts and per-task links, in one
   uploaded tar (``adapters.transports.bundle``), each element moving through PROCESSING_INPUTS,
   STAGING_INPUTS and STAGING_JOB with its history as it would alone;
4. SUBMITTING_JOB recorded with the arrays it goes out as, then one idempotent submit command for them all
   (each array at most once however often it runs), then QUEUED with each element's task id (``123_4``).

A launch interrupted anywhere is simply run again (the reconciler re-sends it): elements already staged are
restaged (idempotent), and elements recorded SUBMITTING_JOB are submitted with the arrays recorded for them,
never a second time. Elements that cannot share an array (a system without arrays, a scheduler header that
differs between elements) leave it and run their own stages from where they are.

The sweep's elements are then watched by one monitor (:func:`monitor_sweep`), not one per element: it runs the
system's batched poll, which moves each element and sends its archive the moment its end is seen.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy.orm import Session

from dlws_flow.adapters.schedulers import ArrayLauncher, ArraySubmission, ScriptRequest
from dlws_flow.adapters.transports import Transport
from dlws_flow.adapters.transports.bundle import FileBundle, upload
from dlws_flow.domain import job_arrays
from dlws_flow.domain.environment import render_env_file
from dlws_flow.domain.job_spec import JobSpecView
from dlws_flow.domain.paths import join
from dlws_flow.domain.polling import next_check_delay
from dlws_flow.domain.records import SystemSpec
from dlws_flow.domain.states import REMOTE_STATES, JobStatus
from dlws_flow.engine import hooks
from dlws_flow.engine.hosts import login_for, open_transport
from dlws_flow.engine.launch import environment_of, script_request
from dlws_flow.engine.lifecycle import MonitorResult, Outcome, fail_job, pause_at_boundary, scheduler_of, systems_of
from dlws_flow.engine.monitoring import claim_poll, run_claimed_poll
from dlws_flow.engine.staging import host_eval_names, host_values_command, parse_host_values, resolve_directories
from dlws_flow.errors import JobRejectedError
from dlws_flow.settings import get_settings
from dlws_flow.store import repositories as repo
from dlws_flow.store.db import session_scope
from dlws_flow.store.models import JobRow, utcnow
from dlws_flow.store.models_sweeps import SweepRow

log = logging.getLogger(__name__)

WAITING = (JobStatus.PENDING, JobStatus.PROCESSING_INPUTS, JobStatus.STAGING_INPUTS, JobStatus.STAGING_JOB,
           JobStatus.SUBMITTING_JOB)
#: The stage an element that leaves the array runs next, from where it is.
OWN_STAGE = {JobStatus.PENDING: "process_inputs", JobStatus.PROCESSING_INPUTS: "process_inputs",
             JobStatus.STAGING_INPUTS: "stage_inputs", JobStatus.STAGING_JOB: "stage_job"}
SEPARATOR = "--dlws-array-limit--"
#: The shortest wait between two looks of a sweep's monitor (a look is one squeue for all its elements).
SWEEP_FIRST_INTERVAL = 0.25


@dataclass
class _Launch:
    sweep: SweepRow
    exec_system: SystemSpec
    transport: Transport
    scheduler: ArrayLauncher
    sweep_dir: str = ""
    #: The arrays recorded for the sweep (``sweeps.arrays``), as this launch knows them.
    recorded_arrays: list[dict] | None = None


def sweep_host_dir(job_working_dir: str, sweep_id: str) -> str:
    """Where a sweep's array scripts, per-task links and Slurm's log live on the exec host."""
    return join(job_working_dir, "sweeps", sweep_id)


def launch_sweep(sweep_id: str) -> Outcome:
    own: list[tuple[str, str]] = []
    try:
        return _launch(sweep_id, own)
    finally:
        for job_uuid, stage in own:  # after their commit: elements that left the array run their own stages
            hooks.stage_due(job_uuid, stage)


def _launch(sweep_id: str, own: list[tuple[str, str]]) -> Outcome:
    with session_scope() as session:
        sweep = repo.get_sweep(session, sweep_id)
        elements = _leave_paused(session, list(repo.array_elements(session, sweep_id, [s.value for s in WAITING])))
        if not elements:
            return Outcome.STOP
        first = elements[0]
        exec_system, _ = systems_of(session, first)
        scheduler = scheduler_of(first, exec_system)
        if sweep.arrays is not None or not isinstance(scheduler, ArrayLauncher):
            # Launched already (or no arrays here): what is not recorded as submitted with an array goes alone.
            recorded = [e for e in elements if e.status == JobStatus.SUBMITTING_JOB and sweep.arrays is not None]
            own += _leave_array(session, [e for e in elements if e not in recorded])
            if not recorded:
                return Outcome.STOP
            elements = recorded
        launch = _Launch(sweep, exec_system, open_transport(session, exec_system, first.owner), scheduler,
                         recorded_arrays=sweep.arrays)
        login = login_for(session, exec_system, first.owner)
        session.expunge_all()
    if launch.recorded_arrays is None:
        elements = _stage(launch, elements, login, own)
        if not elements:
            return Outcome.STOP
    _submit(launch, elements)
    return Outcome.CONTINUE


def _leave_paused(session: Session, elements: list[JobRow]) -> list[JobRow]:
    """Elements whose owner asked for a pause before the launch pause now, and will run alone when resumed."""
    kept = []
    for job in elements:
        if job.pause_requested and job.status == JobStatus.PENDING:
            repo.update_job_fields(session, job.uuid, in_array=False)
            pause_at_boundary(session, job, "process_inputs")
        else:
            kept.append(job)
    return kept


def _leave_array(session: Session, elements: list[JobRow]) -> list[tuple[str, str]]:
    """Take ``elements`` out of the array; returns the stage each runs next (to send after the commit)."""
    repo.update_jobs(session, [{"uuid": job.uuid, "in_array": False} for job in elements])
    return [(job.uuid, OWN_STAGE[JobStatus(job.status)]) for job in elements if JobStatus(job.status) in OWN_STAGE]


def _advance(session: Session, status: dict[str, JobStatus], old: JobStatus, new: JobStatus, message: str) -> None:
    """Move the elements of ``status`` that are in ``old`` to ``new``; one that moved elsewhere meanwhile (its
    owner cancelled it) is dropped from ``status``."""
    waiting = [uuid for uuid, current in status.items() if current == old]
    moved = set(repo.transition_many(session, waiting, old, new, message))
    for uuid in waiting:
        if uuid in moved:
            status[uuid] = new
        else:
            del status[uuid]


def _host_facts(launch: _Launch, elements: list[JobRow]) -> tuple[dict[str, str], int]:
    """HOST_EVAL's values for every element's directories and the host's largest array, in one command."""
    needed = sorted({name for job in elements for name in host_eval_names(job.spec)})
    command = "; ".join([*([host_values_command(needed)] if needed else []), f"echo {SEPARATOR}",
                         launch.scheduler.build_array_limit_command()])
    values_part, _, limit_part = launch.transport.run(command).check().stdout.partition(SEPARATOR + "\n")
    return (parse_host_values(values_part.splitlines(), needed, launch.exec_system),
            launch.scheduler.parse_array_limit(limit_part))


def _stage(launch: _Launch, elements: list[JobRow], login: str, own: list[tuple[str, str]]) -> list[JobRow]:
    """Steps 2 and 3: directories, files and array scripts on the host; returns the elements staged.
    No transaction stays open while the host is written to."""
    system, scheduler = launch.exec_system, launch.scheduler
    host_values, max_size = _host_facts(launch, elements)
    status = {job.uuid: JobStatus(job.status) for job in elements}
    with session_scope() as session:
        archive_system = systems_of(session, elements[0])[1]
        updates = []
        for job in elements:
            if status[job.uuid] in (JobStatus.PENDING, JobStatus.PROCESSING_INPUTS):
                host_dirs, spec = resolve_directories(job.spec, host_values, system, archive_system)
                updates.append({"uuid": job.uuid, "host_dirs": host_dirs, "spec": spec, "exec_login": login})
        _advance(session, status, JobStatus.PENDING, JobStatus.PROCESSING_INPUTS, "Identifying input files for staging")
        repo.update_jobs(session, [u for u in updates if u["uuid"] in status])
        _advance(session, status, JobStatus.PROCESSING_INPUTS, JobStatus.STAGING_INPUTS,
                 "Transferring job input data to execution system")
        _advance(session, status, JobStatus.STAGING_INPUTS, JobStatus.STAGING_JOB,
                 "Staging runtime assets to execution system")
    bundle, header, profiles = FileBundle(), None, {}
    with session_scope() as session:
        elements = [job for job in repo.array_elements(session, launch.sweep.id,
                                                      [JobStatus.STAGING_JOB.value, JobStatus.SUBMITTING_JOB.value])
                    if job.uuid in status]
        if not elements:
            return []
        launch.sweep_dir = sweep_host_dir(elements[0].host_dirs["JobWorkingDir"], launch.sweep.id)
        for job in elements:
            env = environment_of(session, job)
            request = script_request(job, system, env_names=env, profiles=profiles)
            element_header = scheduler.array_header(request)
            if header is not None and element_header != header:
                log.info("sweep %s: element %s asks the scheduler for other resources; the elements run alone",
                         launch.sweep.id, job.sweep_index)
                own += _leave_array(session, elements)
                return []
            header = element_header
            _add_element(bundle, job, request, render_env_file(env), scheduler.build_element_script(request))
        session.expunge_all()
    chunks = job_arrays.chunks([e.sweep_index for e in elements], max_size)
    entries = _arrays(launch, elements, chunks, header or [], bundle)
    launch.transport.makedirs(launch.sweep_dir)
    upload(launch.transport, bundle, launch.sweep_dir)
    with session_scope() as session:
        _advance(session, status, JobStatus.STAGING_JOB, JobStatus.SUBMITTING_JOB, "Submitting job to execution system")
        repo.set_sweep_arrays(session, launch.sweep.id, entries)
    launch.recorded_arrays = entries
    log.info("sweep %s: %d elements staged as %d arrays", launch.sweep.id, len(status), len(entries))
    return [job for job in elements if job.uuid in status]


def _add_element(bundle: FileBundle, job: JobRow, request: ScriptRequest, env_text: str, script: str) -> None:
    dirs = job.host_dirs
    for name in ("ExecSystemExecDir", "ExecSystemInputDir", "ExecSystemOutputDir"):
        bundle.add_dir(dirs[name])
    # The env file can hold secrets (family tokens): only the job's login may read it.
    bundle.add_file(join(request.exec_dir, "tapisjob.env"), env_text.encode(), mode=0o600)
    bundle.add_file(join(request.exec_dir, "tapisjob.sh"), script.encode(), mode=0o700)


def _arrays(launch: _Launch, elements: list[JobRow], chunks: list[job_arrays.ArrayChunk], header: list[str],
            bundle: FileBundle) -> list[dict]:
    """Each array's script and per-task links into ``bundle``; the arrays as the sweep row records them."""
    sweep, system = launch.sweep, launch.exec_system
    limits = [system.jobMaxJobs, system.jobMaxJobsPerUser]
    queue_name = JobSpecView.of(elements[0].spec).execSystemLogicalQueue
    for queue in system.batchLogicalQueues:
        if queue.name == queue_name:
            limits += [queue.maxJobs, queue.maxJobsPerUser]
    throttle = job_arrays.throttle(sweep.throttle, limits, len(chunks))
    exec_dirs = {e.sweep_index: e.host_dirs["ExecSystemExecDir"] for e in elements}
    bundle.add_dir(launch.sweep_dir)
    entries = []
    for chunk in chunks:
        links = join(launch.sweep_dir, f"a{chunk.number}")
        bundle.add_dir(links)
        for task in chunk.tasks:
            bundle.add_link(join(links, str(task)), exec_dirs[chunk.offset + task])
        submission = _submission(sweep.id, chunk.number, chunk.spec(throttle))
        script = launch.scheduler.build_array_script(header, submission, sweep.name, links,
                                                     join(launch.sweep_dir, "slurm-array.log"))
        bundle.add_file(join(launch.sweep_dir, submission.script), script.encode(), mode=0o700)
        entries.append({"number": chunk.number, "offset": chunk.offset, "tasks": job_arrays.compress(chunk.tasks),
                        "spec": submission.spec, "dir": links, "sweepDir": launch.sweep_dir, "id": None})
    return entries


def _submission(sweep_id: str, number: int, spec: str) -> ArraySubmission:
    """Array ``number`` of the sweep: its ``--comment`` (how a re-sent submit finds it in ``squeue``) and script."""
    return ArraySubmission(number, spec, f"dlws-{sweep_id}-{number}", f"array-{number}.sh")


def _submit(launch: _Launch, elements: list[JobRow]) -> None:
    """Step 4: submit every recorded array (at most once each) and queue its elements."""
    entries = [dict(e) for e in launch.recorded_arrays or []]
    submissions = [_submission(launch.sweep.id, e["number"], e["spec"]) for e in entries]
    result = launch.transport.run(launch.scheduler.build_array_submit_command(entries[0]["sweepDir"], submissions))
    ids = launch.scheduler.parse_array_submit_output(result, submissions)
    if result.exit_code != 0:
        error = launch.scheduler.command_error(result)
        if isinstance(error, JobRejectedError):
            _refused(launch, elements, list(ids.values()), error)
            return
        raise error
    by_number = {e["number"]: e for e in entries}
    for number, array_id in ids.items():
        by_number[number]["id"] = array_id
    task_of = {}
    for entry in entries:
        for task in job_arrays.expand(entry["tasks"]):
            task_of[entry["offset"] + task] = job_arrays.task_id(entry["id"], task)
    now = utcnow()
    with session_scope() as session:
        repo.set_sweep_arrays(session, launch.sweep.id, entries)
        waiting = [e for e in elements if e.sweep_index in task_of]
        moved = set(repo.transition_many(session, [e.uuid for e in waiting], JobStatus.SUBMITTING_JOB,
                                         JobStatus.QUEUED, "Submitted to its sweep's Slurm job array",
                                         remote_submitted=now))
        repo.update_jobs(session, [{"uuid": e.uuid, "remote_job_id": task_of[e.sweep_index]}
                                   for e in waiting if e.uuid in moved])
        gone = [task_of[e.sweep_index] for e in waiting if e.uuid not in moved]
    if gone:  # cancelled while the arrays went out: their tasks must not run
        launch.transport.run(launch.scheduler.build_array_cancel_command(gone))


def _refused(launch: _Launch, elements: list[JobRow], submitted: list[str], error: JobRejectedError) -> None:
    """Slurm refused an array: none of the sweep's arrays may run, and each element fails saying why."""
    if submitted:
        launch.transport.run(launch.scheduler.build_array_cancel_command(submitted))
    for job in elements:
        fail_job(job.uuid, f"submit failed: {error}")


def monitor_sweep(sweep_id: str) -> MonitorResult:
    """One look for the sweep's queued and running elements: the system's batched poll, when it is due.

    The next look comes after a fraction of the time since any element last changed (not since the sweep
    began): while elements start and end, it looks every fraction of a second; a sweep of long runs settles
    to ``DLWS_MONITOR_MAX_INTERVAL``."""
    settings = get_settings()
    with session_scope() as session:
        active = repo.active_sweep_element(session, sweep_id, [s.value for s in REMOTE_STATES])
        if active is None:
            return MonitorResult(Outcome.STOP)
        system_id, login, owner = active.exec_system_id, active.exec_login or active.owner, active.owner
        claimed = claim_poll(session, system_id, login)
    if claimed:
        run_claimed_poll(system_id, login, owner)
    with session_scope() as session:
        if repo.active_sweep_element(session, sweep_id, [s.value for s in REMOTE_STATES]) is None:
            return MonitorResult(Outcome.STOP)
        quiet = max(0.0, (utcnow() - repo.sweep_last_change(session, sweep_id)).total_seconds())
    return MonitorResult(Outcome.POLL, next_check_delay(quiet, SWEEP_FIRST_INTERVAL, settings.monitor_max_interval,
                                                        settings.monitor_age_fraction))


def cancel_arrays(sweep_id: str) -> bool:
    """Cancel the sweep's arrays on the host (its elements are recorded CANCELLED by the caller first)."""
    with session_scope() as session:
        sweep = repo.get_sweep(session, sweep_id)
        ids = [e["id"] for e in sweep.arrays or [] if e.get("id")]
        element = repo.any_sweep_element(session, sweep_id)
        if not ids or element is None:
            return False
        exec_system, _ = systems_of(session, element)
        scheduler = scheduler_of(element, exec_system)
        transport = open_transport(session, exec_system, element.owner)
    if not isinstance(scheduler, ArrayLauncher):
        return False
    result = transport.run(scheduler.build_array_cancel_command(ids))
    if result.exit_code != 0:  # an array that ended already: nothing left to stop
        log.info("sweep %s: scancel answered %s: %s", sweep_id, result.exit_code, result.stderr[-300:])
    return True
