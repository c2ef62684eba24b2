"""The typed view reads back exactly what resolve_job stored, as the database hands it back (JSON)."""

import json
from datetime import UTC, datetime

import pydantic
import pytest

from dlws_flow.domain.job_request import JobRequest
from dlws_flow.domain.job_spec import JobSpecView, arg_words
from dlws_flow.domain.records import AppSpec, ArgSpec, FileInput, KeyValuePair, SystemSpec
from dlws_flow.domain.resolve import resolve_job

SYSTEM = SystemSpec(id="vm", host="h.example.org", effectiveUserId="alice", rootDir="/home/alice",
                    jobWorkingDir="/work", hostKey="ssh-ed25519 AAAA")
APP = AppSpec(id="app", version="1", containerImage="/img.sif", runtimeOptions=["--cleanenv"], jobAttributes={
    "execSystemId": "vm",
    "fileInputs": [{"name": "data", "sourceUrl": "https://example.org/d.csv", "targetPath": "in/${JobName}.csv"}],
    "parameterSet": {"appArgs": [{"name": "tail", "arg": "--out ${ExecSystemOutputDir}"}],
                     "containerArgs": [{"arg": "--bind /scratch"}],
                     "envVariables": [{"key": "RUN", "value": "${JobName}"}],
                     "archiveFilter": {"includes": ["*.csv"], "includeLaunchFiles": False},
                     "logConfig": {"stdoutFilename": "run.out", "stderrFilename": "run.err"}}})


def stored_spec(**request) -> dict:
    """What ``JobRow.spec`` holds for the request: resolve_job's dict through JSON, as JSONB returns it."""
    req = JobRequest(**{"name": "j", "appId": "app", "appVersion": "1", **request})
    job = resolve_job(req, APP, SYSTEM, SYSTEM, uuid="u-1", owner="alice", tenant="t",
                      created=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))
    return json.loads(json.dumps(job.as_dict()))


def test_round_trip_from_resolve_job():
    spec = stored_spec(parameterSet={"appArgs": [{"arg": "--name 'two words'"}]})
    view = JobSpecView.of(spec)
    assert view.uuid == "u-1" and view.jobType == "FORK" and view.runtime == "SINGULARITY"
    assert view.runtimeOptions == ["--cleanenv"] and view.execSystemOutputDir == "/work/jobs/u-1/output"
    params = view.parameterSet
    assert all(isinstance(a, ArgSpec) for a in params.appArgs)
    assert arg_words(params.appArgs) == ["--name", "two words", "--out", "/work/jobs/u-1/output"]
    assert arg_words(params.containerArgs) == ["--bind", "/scratch"]
    assert arg_words(params.schedulerOptions) == []
    assert [(e.key, e.value) for e in params.envVariables] == [("RUN", "j")]
    assert isinstance(params.envVariables[0], KeyValuePair)
    assert view.log_config.stdoutFilename == "run.out" and view.log_config.stderrFilename == "run.err"
    assert view.archive_filter.includes == ["*.csv"] and view.archive_filter.includeLaunchFiles is False
    assert isinstance(view.fileInputs[0], FileInput) and view.fileInputs[0].targetPath == "in/j.csv"
    assert view.macros["JobUUID"] == "u-1" and view.archived is False
    # Lossless: the view dumps back to the stored dict, so nothing the stages store is dropped by reading it.
    assert view.model_dump(mode="json", exclude_unset=True) == spec


def test_keys_added_after_submission_are_read_and_unknown_keys_kept():
    spec = {**stored_spec(), "archived": True, "archivedFiles": 2, "archivedPaths": ["a.csv", "b.csv"],
            "addedByANewerRelease": {"x": 1}}
    view = JobSpecView.of(spec)
    assert view.archived is True and view.archivedFiles == 2 and view.archivedPaths == ["a.csv", "b.csv"]
    assert view.model_dump(mode="json", exclude_unset=True) == spec


def test_fallbacks_for_a_spec_stored_without_optional_keys():
    spec = stored_spec()
    for key in ("runtimeOptions", "archiveOnAppError", "execSystemLogicalQueue"):
        del spec[key]
    spec["parameterSet"] = {"appArgs": spec["parameterSet"]["appArgs"]}
    view = JobSpecView.of(spec)
    assert view.runtimeOptions == [] and view.archiveOnAppError is True and view.execSystemLogicalQueue is None
    assert view.log_config.stdoutFilename == "tapisjob.out" and view.archive_filter.includeLaunchFiles is True
    assert view.parameterSet.envVariables == [] and view.parameterSet.schedulerOptions == []


def test_view_is_read_only_and_refuses_a_spec_missing_what_the_stages_need():
    view = JobSpecView.of(stored_spec())
    with pytest.raises(pydantic.ValidationError, match="frozen"):
        view.nodeCount = 4
    spec = stored_spec()
    del spec["macros"]
    with pytest.raises(pydantic.ValidationError, match="macros"):
        JobSpecView.of(spec)
