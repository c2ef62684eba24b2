"""Turn a job request into a complete job: app defaults merged under request values, paths assigned,
macros substituted. Pure: the caller supplies the app and system records and the new job's UUID.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from dlws_flow.domain import macros
from dlws_flow.domain.file_inputs import array_inputs, check_env_keys, merge_file_inputs, merge_input_arrays
from dlws_flow.domain.job_request import JobRequest
from dlws_flow.domain.merge import launch_prefix, merge_args, merge_env
from dlws_flow.domain.paths import clean_relative
from dlws_flow.domain.records import (
    AppSpec,
    ArchiveFilter,
    ArgSpec,
    FileInput,
    JobType,
    KeyValuePair,
    LogConfig,
    LogicalQueue,
    ParameterSet,
    Runtime,
    SystemSpec,
)
from dlws_flow.errors import ValidationError

DEFAULT_EXEC_DIR = "${JobWorkingDir}/jobs/${JobUUID}"
DEFAULT_OUTPUT_DIR = "${JobWorkingDir}/jobs/${JobUUID}/output"
#: The archive dir on an archive system other than the exec system. Archiving to the exec system (no
#: ``archiveSystemId``, or that one) defaults to the output dir itself, as in Tapis: the outputs stay in place.
DEFAULT_ARCHIVE_DIR = "/jobs/${JobUUID}/archive"
#: Tapis' limit on a job's ``notes`` (its JSON text).
MAX_NOTES_BYTES = 65536
#: Runtimes a system's ``jobRuntimes`` entry also covers: APPTAINER is Singularity's new name (our addition).
SAME_RUNTIMES = {Runtime.SINGULARITY: {Runtime.APPTAINER}, Runtime.APPTAINER: {Runtime.SINGULARITY}}
#: What one ``#SBATCH`` word may hold (the Slurm adapter checks it again when it writes the script): checked
#: at submission, so a word Slurm's script header cannot carry is a 400 rather than a job that fails while staging.
SBATCH_WORD = re.compile(r"[^\s'\"\\\x00-\x1f]+")
#: The job directory fields and the macro each is the value of.
MACRO_OF_DIR_FIELD = {"execSystemExecDir": "ExecSystemExecDir", "execSystemInputDir": "ExecSystemInputDir",
                      "execSystemOutputDir": "ExecSystemOutputDir", "archiveSystemDir": "ArchiveSystemDir"}


@dataclass
class ResolvedJob:
    """Everything the stages need, fixed at submission (HOST_EVAL aside)."""

    uuid: str
    name: str
    owner: str
    tenant: str
    description: str | None
    appId: str
    appVersion: str
    runtime: str
    runtimeOptions: list[str]
    containerImage: str
    jobType: str
    execSystemId: str
    execSystemExecDir: str
    execSystemInputDir: str
    execSystemOutputDir: str
    execSystemLogicalQueue: str | None
    archiveSystemId: str
    archiveSystemDir: str
    archiveOnAppError: bool
    nodeCount: int
    coresPerNode: int
    memoryMB: int
    maxMinutes: int
    created: str
    gpuCount: int = 0
    fileInputs: list[dict[str, Any]] = field(default_factory=list)
    fileInputArrays: list[dict[str, Any]] = field(default_factory=list)
    parameterSet: dict[str, Any] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    macros: dict[str, str] = field(default_factory=dict)
    #: Tapis' launch prefix: ``mpiCmd`` runs before the app when ``isMpi``, else ``cmdPrefix`` (never both).
    isMpi: bool = False
    mpiCmd: str | None = None
    cmdPrefix: str | None = None
    notes: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _pick(*values: Any) -> Any:
    return next((v for v in values if v is not None), None)


def _check_queue_limits(queue: LogicalQueue, **values: int) -> None:
    """Tapis refuses a batch job outside its logical queue's bounds rather than letting Slurm reject it."""
    bounds = {"nodeCount": ("minNodeCount", "maxNodeCount"), "coresPerNode": ("minCoresPerNode", "maxCoresPerNode"),
              "memoryMB": ("minMemoryMB", "maxMemoryMB"), "maxMinutes": ("minMinutes", "maxMinutes")}
    for quantity, value in values.items():
        low, high = (getattr(queue, name) for name in bounds[quantity])
        if (low is not None and value < low) or (high is not None and value > high):
            raise ValidationError(f"{quantity} {value} is outside logical queue {queue.name}'s range "
                                  f"[{low if low is not None else '-'}, {high if high is not None else '-'}]")


def _check_sbatch_words(options: list[dict[str, Any]], output_dir: str, log_config: LogConfig) -> None:
    """Slurm reads ``#SBATCH`` lines itself, word by word: no spaces, quotes or control characters in them."""
    for option in options:
        for word in shlex.split(option.get("arg") or ""):
            if not SBATCH_WORD.fullmatch(word):
                raise ValidationError(f"schedulerOptions word {word!r} may not contain spaces, quotes or control characters")
    for name in (log_config.stdoutFilename, log_config.stderrFilename):
        if not SBATCH_WORD.fullmatch(f"{output_dir}/{name}"):
            raise ValidationError(f"execSystemOutputDir {output_dir!r} of a batch job may not contain spaces or quotes "
                                  "(Slurm's --output line cannot carry them)")


@dataclass(frozen=True)
class _Settings:
    """The job's scalar settings: request values, else the app's, else the system's or the service's defaults."""

    job_type: str
    logical_queue: str | None
    node_count: int
    cores_per_node: int
    memory_mb: int
    max_minutes: int
    gpu_count: int
    description: str | None
    archive_on_app_error: bool
    tags: list[str]
    #: Directory templates by macro name (``ExecSystemExecDir`` ...), macros not yet substituted.
    dir_templates: dict[str, str]


def _merge_settings(request: JobRequest, app: AppSpec, exec_system: SystemSpec,
                    archive_system: SystemSpec) -> _Settings:
    attrs = app.jobAttributes
    archive_default = "${ExecSystemOutputDir}" if archive_system.id == exec_system.id else DEFAULT_ARCHIVE_DIR
    return _Settings(
        job_type=_pick(request.jobType, app.jobType) or (JobType.BATCH if exec_system.canRunBatch else JobType.FORK),
        logical_queue=_pick(request.execSystemLogicalQueue, attrs.execSystemLogicalQueue,
                            exec_system.batchDefaultLogicalQueue),
        node_count=_pick(request.nodeCount, attrs.nodeCount, 1),
        cores_per_node=_pick(request.coresPerNode, attrs.coresPerNode, 1),
        memory_mb=_pick(request.memoryMB, attrs.memoryMB, 100),
        max_minutes=_pick(request.maxMinutes, attrs.maxMinutes, 10),
        gpu_count=_pick(request.gpuCount, attrs.gpuCount, 0),
        description=_pick(request.description, attrs.description),
        archive_on_app_error=_pick(request.archiveOnAppError, attrs.archiveOnAppError, True),
        tags=list(request.tags or attrs.tags),
        dir_templates={
            "ExecSystemExecDir": _pick(request.execSystemExecDir, attrs.execSystemExecDir) or DEFAULT_EXEC_DIR,
            "ExecSystemInputDir": _pick(request.execSystemInputDir, attrs.execSystemInputDir) or "${ExecSystemExecDir}",
            "ExecSystemOutputDir": _pick(request.execSystemOutputDir, attrs.execSystemOutputDir) or DEFAULT_OUTPUT_DIR,
            "ArchiveSystemDir": _pick(request.archiveSystemDir, attrs.archiveSystemDir) or archive_default,
        },
    )


def _check_gpus(settings: _Settings, runtime: Runtime, exec_system: SystemSpec) -> None:
    """``gpuCount`` (ours) reaches a BATCH job as ``#SBATCH --gres=gpu:N`` (Slurm refuses what its nodes lack)
    and any containerized job as the runtime's GPU option (``--nv``, ``--gpus N``). A FORK job has no
    scheduler to check the GPUs exist, and ``--nv`` on a host without them runs the job without GPUs, so a
    FORK job gets GPUs only from a system whose notes count them (``{"gpu": N}``, as a virtual cluster's
    systems do) and only in a container (a ZIP app has none): anything else is refused here."""
    if settings.gpu_count <= 0 or settings.job_type == JobType.BATCH:
        return
    if runtime == Runtime.ZIP:
        raise ValidationError(f"gpuCount {settings.gpu_count}: a FORK job of a ZIP app has no container or "
                              "scheduler to hand GPUs to; run it as BATCH (#SBATCH --gres) or in a container")
    declared = (exec_system.notes or {}).get("gpu")
    if not isinstance(declared, int) or isinstance(declared, bool):
        raise ValidationError(f"gpuCount {settings.gpu_count}: system {exec_system.id} does not say how many GPUs "
                              'it has (notes {"gpu": N}); a FORK job gets GPUs only where they are declared')
    if settings.gpu_count > declared:
        raise ValidationError(f"gpuCount {settings.gpu_count} is more than system {exec_system.id} has "
                              f"({declared} GPUs in its notes)")


def _check_settings(settings: _Settings, request: JobRequest, app: AppSpec, exec_system: SystemSpec) -> None:
    """Refuse a job the app or the exec system cannot run as merged: wrong version, a runtime the system's
    ``jobRuntimes`` does not list, queue or size."""
    if request.appVersion != app.version:
        raise ValidationError(f"app {app.id} has no version {request.appVersion!r}")
    if not exec_system.canExec:
        raise ValidationError(f"system {exec_system.id} cannot execute jobs (canExec is false)")
    runtime = Runtime(app.runtime)
    listed = {Runtime(r.runtimeType) for r in exec_system.jobRuntimes}
    if listed and not ({runtime} | SAME_RUNTIMES.get(runtime, set())) & listed:
        raise ValidationError(f"app {app.id} runs with runtime {runtime}, which system {exec_system.id} does not list "
                              f"in its jobRuntimes ({', '.join(sorted(listed))})")
    _check_gpus(settings, runtime, exec_system)
    if settings.job_type != JobType.BATCH:
        return
    if not exec_system.canRunBatch:
        raise ValidationError(f"jobType BATCH needs a system with canRunBatch; {exec_system.id} has none")
    if not settings.logical_queue:
        return
    queue = next((q for q in exec_system.batchLogicalQueues if q.name == settings.logical_queue), None)
    if queue is None:
        raise ValidationError(f"execSystemLogicalQueue {settings.logical_queue!r} is not defined on system "
                              f"{exec_system.id}")
    _check_queue_limits(queue, nodeCount=settings.node_count, coresPerNode=settings.cores_per_node,
                        memoryMB=settings.memory_mb, maxMinutes=settings.max_minutes)


def _merge_parameters(request_params: ParameterSet, app_params: ParameterSet,
                      exec_system: SystemSpec) -> ParameterSet:
    """The merged parameter set (``domain.merge``), ``archiveFilter`` and ``logConfig`` always given."""
    return ParameterSet(
        appArgs=merge_args(request_params.appArgs, app_params.appArgs, "appArgs"),
        containerArgs=merge_args(request_params.containerArgs, app_params.containerArgs, "containerArgs"),
        schedulerOptions=merge_args(request_params.schedulerOptions, app_params.schedulerOptions, "schedulerOptions"),
        envVariables=merge_env(exec_system.jobEnvVariables, app_params.envVariables, request_params.envVariables),
        archiveFilter=request_params.archiveFilter or app_params.archiveFilter or ArchiveFilter(),
        logConfig=request_params.logConfig or app_params.logConfig or LogConfig(),
    )


def _notes(request: JobRequest, app: AppSpec) -> dict[str, Any]:
    """The job's ``notes``: the request's, else the app's (Tapis), at most ``MAX_NOTES_BYTES`` of JSON."""
    notes = request.notes if request.notes is not None else (app.notes or {})
    if len(json.dumps(notes)) > MAX_NOTES_BYTES:
        raise ValidationError(f"notes may hold at most {MAX_NOTES_BYTES} bytes of JSON")
    return notes


def _check_log_names(log_config: LogConfig) -> None:
    for log_name in (log_config.stdoutFilename, log_config.stderrFilename):
        if "/" in log_name or not clean_relative(log_name, "logConfig file name"):
            raise ValidationError(f"logConfig file name {log_name!r} must be a plain file name")


def _macro_values(settings: _Settings, request: JobRequest, app: AppSpec, exec_system: SystemSpec,
                  archive_system: SystemSpec, *, uuid: str, owner: str, tenant: str,
                  created: datetime) -> dict[str, str]:
    """Every macro's value, directory templates expanded against each other (HOST_EVAL kept for the host).

    The order of the result is the order of the ``_tapis*`` variables in the job's env file.
    """
    stamp = created.astimezone()
    templates: dict[str, str] = {
        "JobUUID": uuid,
        "JobName": request.name,
        "JobOwner": owner,
        "Tenant": tenant,
        "AppId": app.id,
        "AppVersion": app.version,
        "ExecSystemId": exec_system.id,
        "ArchiveSystemId": archive_system.id,
        "JobWorkingDir": exec_system.jobWorkingDir,
        **settings.dir_templates,
        "SysHost": exec_system.host,
        "SysRootDir": exec_system.rootDir,
        "Nodes": str(settings.node_count),
        "CoresPerNode": str(settings.cores_per_node),
        "MemoryMB": str(settings.memory_mb),
        "MaxMinutes": str(settings.max_minutes),
        "JobCreateDate": stamp.strftime("%Y-%m-%d"),
        "JobCreateTime": stamp.strftime("%H:%M:%S%z"),
        "JobCreateTimestamp": stamp.isoformat(),
        "EffectiveUserId": exec_system.effectiveUserId,
        "SysBatchScheduler": exec_system.batchScheduler or "",
    }
    # Free-text values (the job name) may contain "${" literally; only the dir templates are expanded.
    literal_names = {"JobName", "JobOwner", "Tenant", "AppId", "AppVersion", "SysHost", "SysRootDir"}
    return macros.resolve_macros(
        {k: v for k, v in templates.items() if k not in literal_names},
        {k: v for k, v in templates.items() if k in literal_names},
    )


def _job_dirs(values: dict[str, str], exec_system: SystemSpec, archive_system: SystemSpec) -> dict[str, str]:
    """The four job directories as Tapis paths (``/``-rooted, cleaned), a leading HOST_EVAL kept."""
    dirs: dict[str, str] = {}
    for field_name, macro in MACRO_OF_DIR_FIELD.items():
        value = values[macro]
        host_vars = macros.host_eval_variables(value)
        if field_name == "archiveSystemDir" and host_vars and archive_system.id != exec_system.id:
            raise ValidationError("HOST_EVAL in archiveSystemDir is only allowed when archiving to the exec system")
        rest = macros.HOST_EVAL_PATTERN.sub("", value)
        cleaned = clean_relative(rest, field_name)
        dirs[field_name] = (value[: len(value) - len(rest)] if host_vars else "") + "/" + cleaned
    return dirs


def _substitute_args(args: list[ArgSpec], values: dict[str, str]) -> list[dict[str, Any]]:
    out = []
    for arg in args:
        data = arg.model_dump(exclude_none=True)
        if arg.arg:
            data["arg"] = macros.substitute(arg.arg, values)
            try:  # a macro value (the job name) may hold a quote: the result must still split into words
                shlex.split(data["arg"])
            except ValueError as exc:
                raise ValidationError(f"argument {arg.arg!r} is not valid shell-word text once its macros are "
                                      f"substituted ({data['arg'][:200]!r}): {exc}") from exc
        out.append(data)
    return out


def _substitute_env(pairs: list[KeyValuePair], values: dict[str, str]) -> list[dict[str, Any]]:
    return [{**pair.model_dump(exclude_none=True), "value": macros.substitute(pair.value, values)} for pair in pairs]


def _substitute_inputs(inputs: list[FileInput], values: dict[str, str]) -> list[dict[str, Any]]:
    out = []
    for item in inputs:
        data = item.model_dump(exclude_none=True)
        data["targetPath"] = clean_relative(macros.substitute(item.targetPath or "", values), "targetPath")
        out.append(data)
    return out


def _resolve_inputs(request: JobRequest, app: AppSpec, values: dict[str, str],
                    env: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``(fileInputs, fileInputArrays)`` merged (``domain.file_inputs``) and substituted; every array source is
    also one entry of ``fileInputs``, into the array's ``targetDir``."""
    strict = app.strictFileInputs
    inputs = merge_file_inputs(request.fileInputs, app.jobAttributes.fileInputs, strict=strict, app_id=app.id)
    arrays = [array.model_copy(update={"targetDir": clean_relative(macros.substitute(array.targetDir or "", values),
                                                                   "targetDir")})
              for array in merge_input_arrays(request.fileInputArrays, app.jobAttributes.fileInputArrays,
                                              strict=strict, app_id=app.id)]
    check_env_keys(inputs, arrays, {pair["key"] for pair in env})
    return (_substitute_inputs(inputs, values) + _substitute_inputs(array_inputs(arrays), values),
            [array.model_dump(exclude_none=True) for array in arrays])


def resolve_job(
    request: JobRequest,
    app: AppSpec,
    exec_system: SystemSpec,
    archive_system: SystemSpec,
    *,
    uuid: str,
    owner: str,
    tenant: str,
    created: datetime,
) -> ResolvedJob:
    """Merge, assign paths and substitute macros.

    In steps: the request's settings merged over the app's and the system's defaults and checked against
    the app and the system; the parameter set merged; macro values and job directories resolved; macros
    substituted in arguments, env values and input target paths. Of several problems, the first in that
    order is the one reported.

    Raises:
        ValidationError: a value is missing, conflicting or improper; the message names it.
    """
    settings = _merge_settings(request, app, exec_system, archive_system)
    _check_settings(settings, request, app, exec_system)
    is_mpi, mpi_cmd, cmd_prefix = launch_prefix(request, app, exec_system)
    params = _merge_parameters(request.parameterSet, app.jobAttributes.parameterSet, exec_system)
    _check_log_names(params.logConfig)
    values = _macro_values(settings, request, app, exec_system, archive_system,
                           uuid=uuid, owner=owner, tenant=tenant, created=created)
    dirs = _job_dirs(values, exec_system, archive_system)
    is_batch = settings.job_type == JobType.BATCH
    if is_batch:
        _check_sbatch_words(_substitute_args(params.schedulerOptions, values), dirs["execSystemOutputDir"],
                            params.logConfig)
    env = _substitute_env(params.envVariables, values)
    inputs, arrays = _resolve_inputs(request, app, values, env)
    return ResolvedJob(
        uuid=uuid, name=request.name, owner=owner, tenant=tenant, description=settings.description,
        appId=app.id, appVersion=app.version, runtime=str(app.runtime), runtimeOptions=list(app.runtimeOptions),
        containerImage=app.containerImage, jobType=str(settings.job_type),
        execSystemId=exec_system.id, execSystemLogicalQueue=settings.logical_queue if is_batch else None,
        archiveSystemId=archive_system.id, archiveOnAppError=settings.archive_on_app_error,
        nodeCount=settings.node_count, coresPerNode=settings.cores_per_node, memoryMB=settings.memory_mb,
        maxMinutes=settings.max_minutes, gpuCount=settings.gpu_count, created=created.isoformat(), fileInputs=inputs, fileInputArrays=arrays,
        parameterSet={
            "appArgs": _substitute_args(params.appArgs, values),
            "containerArgs": _substitute_args(params.containerArgs, values),
            "schedulerOptions": _substitute_args(params.schedulerOptions, values),
            "envVariables": env,
            "archiveFilter": params.archiveFilter.model_dump(),
            "logConfig": params.logConfig.model_dump(),
        },
        tags=settings.tags, macros=values, isMpi=is_mpi, mpiCmd=mpi_cmd, cmdPrefix=cmd_prefix,
        notes=_notes(request, app), **dirs,
    )
