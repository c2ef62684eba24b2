from datetime import UTC, datetime

import pytest

from dlws_flow.domain.job_request import JobRequest
from dlws_flow.domain.records import AppSpec, SystemSpec
from dlws_flow.domain.resolve import resolve_job
from dlws_flow.errors import ValidationError

SYSTEM = SystemSpec(id="vm", host="h.example.org", effectiveUserId="alice", rootDir="/home/alice",
                    jobWorkingDir="/work", hostKey="ssh-ed25519 AAAA")
APP = AppSpec(id="app", version="1", containerImage="/img.sif", jobAttributes={
    "execSystemId": "vm", "maxMinutes": 7, "memoryMB": 512,
    "parameterSet": {"appArgs": [{"name": "tail", "arg": "--app-arg"}, {"name": "shared", "arg": "--from-app"}],
                     "envVariables": [{"key": "A", "value": "app"}, {"key": "B", "value": "app"}]}})


def resolve(**request):
    req = JobRequest(**{"name": "j", "appId": "app", "appVersion": "1", **request})
    return resolve_job(req, APP, SYSTEM, SYSTEM, uuid="u-1", owner="alice", tenant="t",
                       created=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))


def test_defaults_merged_under_request_values():
    job = resolve(maxMinutes=3)
    assert job.maxMinutes == 3 and job.memoryMB == 512 and job.nodeCount == 1
    assert job.execSystemId == "vm" and job.archiveSystemId == "vm"


def test_app_args_appended_after_request_args_and_named_args_overridden():
    job = resolve(parameterSet={"appArgs": [{"arg": "--first"}, {"name": "shared", "arg": "--from-request"}]})
    # Issue 16, as Tapis: an app argument the request names keeps the app's place (a FIXED flag stays before
    # the value that follows it); the request's own arguments still come first, as the seed says.
    assert [a["arg"] for a in job.parameterSet["appArgs"]] == ["--first", "--app-arg", "--from-request"]


def test_env_request_wins_and_reserved_prefix_refused():
    job = resolve(parameterSet={"envVariables": [{"key": "B", "value": "req"}]})
    assert {e["key"]: e["value"] for e in job.parameterSet["envVariables"]} == {"A": "app", "B": "req"}
    with pytest.raises(ValidationError, match="reserved"):
        resolve(parameterSet={"envVariables": [{"key": "_tapisJobUUID", "value": "x"}]})


def test_default_dirs_and_macros():
    job = resolve()
    assert job.execSystemExecDir == "/work/jobs/u-1"
    assert job.execSystemInputDir == "/work/jobs/u-1"
    assert job.execSystemOutputDir == "/work/jobs/u-1/output"
    # Issue 16, as Tapis: archiving to the exec system leaves the outputs in place (the archive dir is the
    # output dir); only another archive system gets /jobs/${JobUUID}/archive.
    assert job.archiveSystemDir == "/work/jobs/u-1/output"
    other = SYSTEM.model_copy(update={"id": "store", "canExec": False})
    req = JobRequest(name="j", appId="app", appVersion="1")
    assert resolve_job(req, APP, SYSTEM, other, uuid="u-1", owner="alice", tenant="t",
                       created=datetime(2026, 1, 2, tzinfo=UTC)).archiveSystemDir == "/jobs/u-1/archive"
    job = resolve(execSystemOutputDir="${ExecSystemExecDir}/out-${JobName}",
                  parameterSet={"appArgs": [{"arg": "--dir ${ExecSystemOutputDir} --date ${JobCreateDate}"}]})
    assert job.execSystemOutputDir == "/work/jobs/u-1/out-j"
    assert job.parameterSet["appArgs"][0]["arg"] == "--dir /work/jobs/u-1/out-j --date 2026-01-02"


def test_macro_cycles_and_unknown_macros_are_errors():
    with pytest.raises(ValidationError, match="loop"):
        resolve(execSystemInputDir="${ExecSystemOutputDir}/in", execSystemOutputDir="${ExecSystemInputDir}/out")
    with pytest.raises(ValidationError, match="unknown macro"):
        resolve(execSystemExecDir="${NoSuchMacro}/x")


def test_job_name_is_never_expanded():
    job = resolve(name="odd-${JobUUID}", execSystemExecDir="/runs/${JobName}")
    assert job.execSystemExecDir == "/runs/odd-${JobUUID}"


def test_host_eval_only_at_the_start():
    job = resolve(execSystemExecDir="HOST_EVAL($SCRATCH)/runs/${JobUUID}")
    assert job.execSystemExecDir == "HOST_EVAL($SCRATCH)/runs/u-1"
    with pytest.raises(ValidationError, match="HOST_EVAL"):
        resolve(execSystemExecDir="/x/HOST_EVAL($SCRATCH)")


@pytest.mark.parametrize("bad", ["/work/../../etc", "/a/\n/b", "/a\x00b"])
def test_improper_paths_refused(bad):
    with pytest.raises(ValidationError):
        resolve(execSystemExecDir=bad)


def test_unbalanced_quotes_in_args_refused():
    with pytest.raises(Exception, match="shell-word"):
        JobRequest(name="j", appId="app", appVersion="1", parameterSet={"appArgs": [{"arg": "'open"}]})


def test_batch_job_outside_its_logical_queue_limits_is_refused():
    hpc = SYSTEM.model_copy(update={"canRunBatch": True, "batchScheduler": "SLURM", "batchDefaultLogicalQueue": "dev",
                                    "batchLogicalQueues": [{"name": "dev", "hpcQueueName": "debug", "maxMinutes": 30,
                                                            "maxNodeCount": 2}]})
    hpc = SystemSpec.model_validate(hpc.model_dump())
    req = JobRequest(name="j", appId="app", appVersion="1", maxMinutes=30, nodeCount=2)
    assert resolve_job(req, APP, hpc, hpc, uuid="u", owner="a", tenant="t", created=datetime.now(UTC)).maxMinutes == 30
    for over in ({"maxMinutes": 31}, {"nodeCount": 3}):
        req = JobRequest(name="j", appId="app", appVersion="1", **over)
        with pytest.raises(ValidationError, match="outside logical queue dev"):
            resolve_job(req, APP, hpc, hpc, uuid="u", owner="a", tenant="t", created=datetime.now(UTC))


def test_gpu_count_request_over_app_and_fork_jobs_only_where_the_system_counts_gpus():
    gpu_system = SystemSpec(**{**SYSTEM.model_dump(), "notes": {"gpu": 2}})
    gpu_app = AppSpec(**{**APP.model_dump(), "jobAttributes": {**APP.jobAttributes.model_dump(), "gpuCount": 1}})

    def on(system, app=gpu_app, **request):
        req = JobRequest(**{"name": "j", "appId": "app", "appVersion": "1", **request})
        return resolve_job(req, app, system, system, uuid="u-1", owner="alice", tenant="t",
                           created=datetime(2026, 1, 2, tzinfo=UTC))

    assert on(gpu_system).gpuCount == 1 and on(gpu_system, gpuCount=2).gpuCount == 2
    assert resolve().gpuCount == 0 and on(SYSTEM, gpuCount=0).gpuCount == 0
    with pytest.raises(ValidationError, match="more than system vm has"):
        on(gpu_system, gpuCount=3)
    with pytest.raises(ValidationError, match="does not say how many GPUs"):
        on(SYSTEM)
    zip_app = AppSpec(**{**gpu_app.model_dump(), "runtime": "ZIP"})
    with pytest.raises(ValidationError, match="ZIP app"):
        on(gpu_system, app=zip_app)
    with pytest.raises(Exception, match="less than or equal to 64"):
        JobRequest(name="j", appId="app", appVersion="1", gpuCount=65)
