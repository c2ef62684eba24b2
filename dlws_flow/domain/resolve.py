"""Turn a job request into a complete job: app defaults merged under request values, paths assigned,
macros substituted. Pure: the caller supplies the app and system records and the new job's UUID.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from dlws_flow.domain import macros
from dlws_flow.domain.paths import clean_relative
from dlws_flow.domain.records import (
    RESERVED_ENV_PREFIX,
    AppSpec,
    ArchiveFilter,
    ArgSpec,
    FileInput,
    JobRequest,
    JobType,
    KeyValuePair,
    LogConfig,
    LogicalQueue,
    SystemSpec,
)
from dlws_flow.errors import ValidationError

DEFAULT_EXEC_DIR = "${JobWorkingDir}/jobs/${JobUUID}"
DEFAULT_OUTPUT_DIR = "${JobWorkingDir}/jobs/${JobUUID}/output"
DEFAULT_ARCHIVE_DIR = "/jobs/${JobUUID}/archive"
#: What one ``#SBATCH`` word may hold (the Slurm adapter checks it again when it writes the script): checked
#: at submission, so a word Slurm's script header cannot carry is a 400 rather than a job that fails while staging.
SBATCH_WORD = re.compile(r"[^\s'\"\\\x00-\x1f]+")


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
    fileInputs: list[dict[str, Any]] = field(default_factory=list)
    parameterSet: dict[str, Any] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    macros: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def merge_args(request_args: list[ArgSpec], app_args: list[ArgSpec]) -> list[ArgSpec]:
    """Request args first, then app args (Tapis order); a request arg replaces an app arg of the same name."""
    overridden = {a.name for a in request_args if a.name}
    merged = [a for a in request_args if a.include is not False]
    merged += [a for a in app_args if a.include is not False and not (a.name and a.name in overridden)]
    return merged


def merge_env(*layers: list[KeyValuePair]) -> list[KeyValuePair]:
    """Later layers win per key; keys reserved for injected variables are refused."""
    merged: dict[str, KeyValuePair] = {}
    for layer in layers:
        for pair in layer:
            if pair.key.startswith(RESERVED_ENV_PREFIX):
                raise ValidationError(f"envVariables key {pair.key!r} is reserved: keys may not start with {RESERVED_ENV_PREFIX!r}")
            if pair.include is not False:
                merged[pair.key] = pair
    return list(merged.values())


def merge_inputs(request_inputs: list[FileInput], app_inputs: list[FileInput]) -> list[FileInput]:
    by_name = {i.name: i for i in app_inputs if i.name}
    merged: list[FileInput] = []
    for item in request_inputs:
        base = by_name.pop(item.name, None) if item.name else None
        if base is not None:
            item = base.model_copy(update={k: v for k, v in item.model_dump(exclude_unset=True).items() if v is not None})
        merged.append(item)
    merged += [i for i in app_inputs if not i.name or i.name in by_name]
    for item in merged:
        if not item.sourceUrl:
            raise ValidationError(f"file input {item.name or '(unnamed)'!r} has no sourceUrl")
    return merged


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

    Raises:
        ValidationError: a value is missing, conflicting or improper; the message names it.
    """
    attrs = app.jobAttributes
    if request.appVersion != app.version:
        raise ValidationError(f"app {app.id} has no version {request.appVersion!r}")
    if not exec_system.canExec:
        raise ValidationError(f"system {exec_system.id} cannot execute jobs (canExec is false)")

    job_type = _pick(request.jobType, app.jobType) or (JobType.BATCH if exec_system.canRunBatch else JobType.FORK)
    if job_type == JobType.BATCH and not exec_system.canRunBatch:
        raise ValidationError(f"jobType BATCH needs a system with canRunBatch; {exec_system.id} has none")

    logical_queue = _pick(request.execSystemLogicalQueue, attrs.execSystemLogicalQueue, exec_system.batchDefaultLogicalQueue)
    if job_type == JobType.BATCH and logical_queue and logical_queue not in {q.name for q in exec_system.batchLogicalQueues}:
        raise ValidationError(f"execSystemLogicalQueue {logical_queue!r} is not defined on system {exec_system.id}")

    node_count = _pick(request.nodeCount, attrs.nodeCount, 1)
    cores = _pick(request.coresPerNode, attrs.coresPerNode, 1)
    memory = _pick(request.memoryMB, attrs.memoryMB, 100)
    minutes = _pick(request.maxMinutes, attrs.maxMinutes, 10)
    if job_type == JobType.BATCH and logical_queue:
        queue = next(q for q in exec_system.batchLogicalQueues if q.name == logical_queue)
        _check_queue_limits(queue, nodeCount=node_count, coresPerNode=cores, memoryMB=memory, maxMinutes=minutes)

    request_params, app_params = request.parameterSet, attrs.parameterSet
    parameter_set = {
        "appArgs": merge_args(request_params.appArgs, app_params.appArgs),
        "containerArgs": merge_args(request_params.containerArgs, app_params.containerArgs),
        "schedulerOptions": merge_args(request_params.schedulerOptions, app_params.schedulerOptions),
        "envVariables": merge_env(exec_system.jobEnvVariables, app_params.envVariables, request_params.envVariables),
        "archiveFilter": request_params.archiveFilter or app_params.archiveFilter or ArchiveFilter(),
        "logConfig": request_params.logConfig or app_params.logConfig or LogConfig(),
    }
    for log_name in (parameter_set["logConfig"].stdoutFilename, parameter_set["logConfig"].stderrFilename):
        if "/" in log_name or not clean_relative(log_name, "logConfig file name"):
            raise ValidationError(f"logConfig file name {log_name!r} must be a plain file name")

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
        "ExecSystemExecDir": _pick(request.execSystemExecDir, attrs.execSystemExecDir) or DEFAULT_EXEC_DIR,
        "ExecSystemInputDir": _pick(request.execSystemInputDir, attrs.execSystemInputDir) or "${ExecSystemExecDir}",
        "ExecSystemOutputDir": _pick(request.execSystemOutputDir, attrs.execSystemOutputDir) or DEFAULT_OUTPUT_DIR,
        "ArchiveSystemDir": _pick(request.archiveSystemDir, attrs.archiveSystemDir) or DEFAULT_ARCHIVE_DIR,
        "SysHost": exec_system.host,
        "SysRootDir": exec_system.rootDir,
        "Nodes": str(node_count),
        "CoresPerNode": str(cores),
        "MemoryMB": str(memory),
        "MaxMinutes": str(minutes),
        "JobCreateDate": stamp.strftime("%Y-%m-%d"),
        "JobCreateTime": stamp.strftime("%H:%M:%S%z"),
        "JobCreateTimestamp": stamp.isoformat(),
        "EffectiveUserId": exec_system.effectiveUserId,
        "SysBatchScheduler": exec_system.batchScheduler or "",
    }
    # Free-text values (the job name) may contain "${" literally; only the dir templates are expanded.
    literal_names = {"JobName", "JobOwner", "Tenant", "AppId", "AppVersion", "SysHost", "SysRootDir"}
    values = macros.resolve_macros(
        {k: v for k, v in templates.items() if k not in literal_names},
        {k: v for k, v in templates.items() if k in literal_names},
    )

    dirs: dict[str, str] = {}
    macro_of = {"execSystemExecDir": "ExecSystemExecDir", "execSystemInputDir": "ExecSystemInputDir",
                "execSystemOutputDir": "ExecSystemOutputDir", "archiveSystemDir": "ArchiveSystemDir"}
    for field_name, macro in macro_of.items():
        value = values[macro]
        host_vars = macros.host_eval_variables(value)
        if field_name == "archiveSystemDir" and host_vars and archive_system.id != exec_system.id:
            raise ValidationError("HOST_EVAL in archiveSystemDir is only allowed when archiving to the exec system")
        rest = macros.HOST_EVAL_PATTERN.sub("", value)
        cleaned = clean_relative(rest, field_name)
        dirs[field_name] = (value[: len(value) - len(rest)] if host_vars else "") + "/" + cleaned

    def substitute_args(args: list[ArgSpec]) -> list[dict[str, Any]]:
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

    if job_type == JobType.BATCH:
        _check_sbatch_words(substitute_args(parameter_set["schedulerOptions"]), dirs["execSystemOutputDir"],
                            parameter_set["logConfig"])

    env = [{**pair.model_dump(exclude_none=True), "value": macros.substitute(pair.value, values)}
           for pair in parameter_set["envVariables"]]
    inputs = []
    for item in merge_inputs(request.fileInputs, attrs.fileInputs):
        data = item.model_dump(exclude_none=True)
        data["targetPath"] = clean_relative(macros.substitute(item.targetPath or "", values), "targetPath")
        inputs.append(data)

    return ResolvedJob(
        uuid=uuid,
        name=request.name,
        owner=owner,
        tenant=tenant,
        description=_pick(request.description, attrs.description),
        appId=app.id,
        appVersion=app.version,
        runtime=str(app.runtime),
        runtimeOptions=list(app.runtimeOptions),
        containerImage=app.containerImage,
        jobType=str(job_type),
        execSystemId=exec_system.id,
        execSystemLogicalQueue=logical_queue if job_type == JobType.BATCH else None,
        archiveSystemId=archive_system.id,
        archiveOnAppError=_pick(request.archiveOnAppError, attrs.archiveOnAppError, True),
        nodeCount=node_count,
        coresPerNode=cores,
        memoryMB=memory,
        maxMinutes=minutes,
        created=created.isoformat(),
        fileInputs=inputs,
        parameterSet={
            "appArgs": substitute_args(parameter_set["appArgs"]),
            "containerArgs": substitute_args(parameter_set["containerArgs"]),
            "schedulerOptions": substitute_args(parameter_set["schedulerOptions"]),
            "envVariables": env,
            "archiveFilter": parameter_set["archiveFilter"].model_dump(),
            "logConfig": parameter_set["logConfig"].model_dump(),
        },
        tags=list(request.tags or attrs.tags),
        macros=values,
        **dirs,
    )
