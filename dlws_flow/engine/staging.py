"""The first two stages: fix the job's directories on the host (HOST_EVAL), then create them and bring the inputs in."""

from __future__ import annotations

import logging

from dlws_flow.adapters.staging.inputs import check_in_place, parse_source, stage_input
from dlws_flow.adapters.transports import Transport
from dlws_flow.domain import macros
from dlws_flow.domain.job_spec import JobSpecView
from dlws_flow.domain.paths import host_path, join, root_relative
from dlws_flow.domain.records import SystemSpec
from dlws_flow.domain.states import JobStatus
from dlws_flow.engine.hosts import login_for, open_transport
from dlws_flow.engine.lifecycle import Outcome, enter, systems_of
from dlws_flow.errors import ValidationError
from dlws_flow.store import repositories as repo
from dlws_flow.store.db import session_scope

log = logging.getLogger(__name__)

DIR_MACROS = ("JobWorkingDir", "ExecSystemExecDir", "ExecSystemInputDir", "ExecSystemOutputDir", "ArchiveSystemDir")
FIELD_OF_MACRO = {"ExecSystemExecDir": "execSystemExecDir", "ExecSystemInputDir": "execSystemInputDir",
                  "ExecSystemOutputDir": "execSystemOutputDir", "ArchiveSystemDir": "archiveSystemDir"}


def process_inputs(uuid: str) -> Outcome:
    """Expand HOST_EVAL in the job's directories and check every input source."""
    with session_scope() as session:
        job = enter(session, uuid, JobStatus.PROCESSING_INPUTS, "process_inputs", "Identifying input files for staging")
        if job is None:
            return Outcome.STOP
        exec_system, archive_system = systems_of(session, job)
        spec = dict(job.spec)
        for item in JobSpecView.of(spec).fileInputs:
            source = parse_source(item.sourceUrl)
            if source.kind == "tapis":
                repo.get_system(session, source.system_id)
        needed = host_eval_names(spec)
        transport = open_transport(session, exec_system, job.owner) if needed else None
        login = login_for(session, exec_system, job.owner)

    host_values = read_host_values(transport, needed, exec_system) if transport is not None else {}
    host_dirs, spec = resolve_directories(spec, host_values, exec_system, archive_system)
    with session_scope() as session:
        repo.update_job_fields(session, uuid, host_dirs=host_dirs, spec=spec, exec_login=login)
    return Outcome.CONTINUE


def _dir_templates(spec: dict) -> dict[str, str]:
    return {m: spec["macros"][m] if m == "JobWorkingDir" else spec[FIELD_OF_MACRO[m]] for m in DIR_MACROS}


def host_eval_names(spec: dict) -> list[str]:
    """The host variables the job's directories name in HOST_EVAL(...)."""
    return sorted({v for value in _dir_templates(spec).values() for v in macros.host_eval_variables(value)})


def host_values_command(needed: list[str]) -> str:
    return "; ".join(f"printf '%s\\n' \"${{{name}}}\"" for name in needed)


def parse_host_values(lines: list[str], needed: list[str], exec_system: SystemSpec) -> dict[str, str]:
    host_values: dict[str, str] = {}
    for name, value in zip(needed, lines, strict=False):
        if not value.startswith("/"):
            raise ValidationError(f"HOST_EVAL(${name}) is {value!r} on {exec_system.host}, not an absolute path")
        host_values[name] = value
    missing = [n for n in needed if n not in host_values]
    if missing:
        raise ValidationError(f"HOST_EVAL: {', '.join(missing)} not set on {exec_system.host}")
    return host_values


def read_host_values(transport: Transport, needed: list[str], exec_system: SystemSpec) -> dict[str, str]:
    """The values of ``needed`` in the login's shell on the exec host (one command)."""
    if not needed:
        return {}
    return parse_host_values(transport.run(host_values_command(needed)).check().stdout.splitlines(), needed, exec_system)


def resolve_directories(spec: dict, host_values: dict[str, str], exec_system: SystemSpec,
                        archive_system: SystemSpec) -> tuple[dict[str, str], dict]:
    """(the job's directories on their hosts, its spec with the directories as Tapis paths)."""
    host_dirs: dict[str, str] = {}
    tapis_dirs: dict[str, str] = {}
    for macro_name, template in _dir_templates(spec).items():
        system = archive_system if macro_name == "ArchiveSystemDir" else exec_system
        expanded = macros.expand_host_eval(template, host_values)
        relative = root_relative(system.rootDir, expanded) if template.startswith("HOST_EVAL(") else expanded
        host_dirs[macro_name] = host_path(system.rootDir, relative, macro_name)
        tapis_dirs[macro_name] = "/" + relative.lstrip("/")
    spec = dict(spec)
    spec.update({FIELD_OF_MACRO[m]: d for m, d in tapis_dirs.items() if m in FIELD_OF_MACRO})
    spec["macros"] = {**spec["macros"], **{m: tapis_dirs[m] for m in DIR_MACROS}}
    spec["parameterSet"] = with_input_variables(spec, host_dirs["ExecSystemInputDir"], exec_system)
    return host_dirs, spec


def input_variables(spec: dict, input_dir: str, exec_system: SystemSpec) -> dict[str, str]:
    """``envKey`` -> where that input is on the exec host (``domain.file_inputs``): a staged input's path in
    the input dir, an array's ``targetDir``, a ``tapislocal`` input's own path."""
    view = JobSpecView.of(spec)
    values = {}
    for item in view.fileInputs:
        if item.envKey:
            source = parse_source(item.sourceUrl)
            values[item.envKey] = (host_path(exec_system.rootDir, source.path, "sourceUrl path")
                                   if source.kind == "local" else join(input_dir, item.targetPath or source.default_name))
    for array in view.fileInputArrays:
        if array.envKey:
            values[array.envKey] = join(input_dir, array.targetDir) if array.targetDir else input_dir
    return values


def with_input_variables(spec: dict, input_dir: str, exec_system: SystemSpec) -> dict:
    """``spec``'s parameter set with the input variables last in ``envVariables`` (as Tapis adds them); a
    re-run replaces the ones an earlier run added (submission made sure no other variable has their names)."""
    values = input_variables(spec, input_dir, exec_system)
    params = dict(spec["parameterSet"])
    kept = [pair for pair in params.get("envVariables", []) if pair["key"] not in values]
    params["envVariables"] = kept + [{"key": key, "value": value, "description": "envKey of a file input"}
                                     for key, value in values.items()]
    return params


def stage_inputs(uuid: str) -> Outcome:
    """Create the job's directories on the exec host and transfer its inputs."""
    with session_scope() as session:
        job = enter(session, uuid, JobStatus.STAGING_INPUTS, "stage_inputs",
                    "Transferring job input data to execution system")
        if job is None:
            return Outcome.STOP
        exec_system, _ = systems_of(session, job)
        transport = open_transport(session, exec_system, job.owner)
        dirs = job.host_dirs or {}
        inputs = JobSpecView.of(job.spec).fileInputs
        owner = job.owner

    transport.makedirs(dirs["ExecSystemExecDir"], dirs["ExecSystemInputDir"], dirs["ExecSystemOutputDir"])

    def source_host(system_id: str, path: str) -> tuple[Transport, str, str]:
        with session_scope() as session:
            system = repo.system_spec(repo.get_system(session, system_id))
            return (open_transport(session, system, owner), host_path(system.rootDir, "/"),
                    host_path(system.rootDir, path, "sourceUrl path"))

    for item in inputs:
        source = parse_source(item.sourceUrl)
        if source.kind == "local":  # tapislocal: used in place, nothing to copy
            check_in_place(source, transport, host_path(exec_system.rootDir, "/"),
                           host_path(exec_system.rootDir, source.path, "sourceUrl path"))
            continue
        target = join(dirs["ExecSystemInputDir"], item.targetPath or source.default_name)
        if "/" in (item.targetPath or ""):
            transport.makedirs(target.rsplit("/", 1)[0])
        stage_input(source, target, transport, exec_system.id, source_host)
    return Outcome.CONTINUE

