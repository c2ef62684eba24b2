"""``envKey``: the variables ``process_inputs`` adds to a job's ``envVariables`` (where each input is on the host)."""

from datetime import UTC, datetime

from dlws_flow.domain.job_request import JobRequest
from dlws_flow.domain.records import AppSpec, SystemSpec
from dlws_flow.domain.resolve import resolve_job
from dlws_flow.engine.staging import with_input_variables

SYSTEM = SystemSpec(id="vm", host="h.example.org", effectiveUserId="alice", rootDir="/home/alice", jobWorkingDir="/work")
APP = AppSpec(id="app", version="1", containerImage="/img.sif", jobAttributes={"execSystemId": "vm"})


def test_env_keys_hold_host_paths_and_a_rerun_replaces_them():
    request = JobRequest(name="j", appId="app", appVersion="1", parameterSet={"envVariables": [{"key": "A", "value": "a"}]},
                         fileInputs=[{"name": "web", "sourceUrl": "https://x.org/d/data.csv", "envKey": "DATA"},
                                     {"name": "sub", "sourceUrl": "https://x.org/e", "targetPath": "in/e.txt", "envKey": "E"},
                                     {"name": "here", "sourceUrl": "tapislocal://exec.tapis/big/set", "envKey": "BIG"}],
                         fileInputArrays=[{"name": "many", "sourceUrls": ["https://x.org/1"], "targetDir": "m", "envKey": "M"},
                                          {"sourceUrls": ["https://x.org/2"], "envKey": "ALL"}])
    spec = resolve_job(request, APP, SYSTEM, SYSTEM, uuid="u", owner="alice", tenant="t",
                       created=datetime(2026, 1, 2, tzinfo=UTC)).as_dict()
    input_dir = "/home/alice/work/jobs/u"
    params = with_input_variables(spec, input_dir, SYSTEM)
    assert {e["key"]: e["value"] for e in params["envVariables"]} == {
        "A": "a", "DATA": f"{input_dir}/data.csv", "E": f"{input_dir}/in/e.txt", "BIG": "/home/alice/big/set",
        "M": f"{input_dir}/m", "ALL": input_dir}
    assert with_input_variables({**spec, "parameterSet": params}, input_dir, SYSTEM) == params
