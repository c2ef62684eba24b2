"""Tapis' job semantics at submission, through the API on the real database (no hosts; the dispatcher only
records): ``inputMode`` on arguments, variables and file inputs, ``!tapis_not_set``, ``strictFileInputs``,
``fileInputArrays``, ``envKey``, ``tapislocal``, ``isMpi``/``mpiCmd``/``cmdPrefix``, ``jobRuntimes``,
``notes`` and the default archive directory (issue 16, items 3, 5 and 6). What runs on a host is in
``tests/integration/test_job_semantics.py``."""

from __future__ import annotations

import json
import uuid

import pytest
from fastapi.testclient import TestClient

from tests.api.test_families import HOST_KEY, RecordingDispatcher

USER = "sem_uma"
RUN = uuid.uuid4().hex[:6]
VM, STORE, MPI_VM, ZIP_ONLY = (f"sem-{name}-{RUN}" for name in ("vm", "store", "mpi", "zip"))


@pytest.fixture(scope="module")
def client():
    from api.app import create_app
    from api.dependencies import get_dispatcher
    from dlws_flow.services.auth import create_user

    app = create_app()
    app.dependency_overrides[get_dispatcher] = RecordingDispatcher
    with TestClient(app) as test_client:
        create_user(USER, f"{USER}-password", replace=True)
        yield test_client


@pytest.fixture(scope="module")
def headers(client) -> dict[str, str]:
    from dlws_flow.services.auth import get_user, issue_token

    return {"X-Tapis-Token": issue_token(get_user(USER))["access_token"]}


def system_def(system_id: str, **fields) -> dict:
    return {"id": system_id, "systemType": "LINUX", "host": "127.0.0.1", "effectiveUserId": "hpc", "canExec": True,
            "rootDir": "/home/hpc", "jobWorkingDir": "/work", "notes": {"hostKey": HOST_KEY}, **fields}


@pytest.fixture(scope="module")
def records(client, headers):
    """The systems every test submits to; apps are made per test (``new_app``)."""
    for record in (system_def(VM, jobEnvVariables=[{"key": "SITE_FIXED", "value": "1", "inputMode": "FIXED"}]),
                   system_def(STORE, canExec=False),
                   system_def(MPI_VM, mpiCmd="mpirun -np 2", enableCmdPrefix=True),
                   system_def(ZIP_ONLY, jobRuntimes=[{"runtimeType": "ZIP"}])):
        response = client.post("/v3/systems", json=record, headers=headers)
        assert response.status_code == 201, response.text
    return VM


def new_app(client, headers, runtime: str = "SINGULARITY", app_fields: dict | None = None, **attributes) -> str:
    app_id = f"sem-app-{uuid.uuid4().hex[:8]}"
    record = {"id": app_id, "version": "1", "runtime": runtime, "containerImage": "/img.sif",
              "jobAttributes": {"execSystemId": VM, **attributes}, **(app_fields or {})}
    response = client.post("/v3/apps", json=record, headers=headers)
    assert response.status_code == 201, response.text
    return app_id


def submit(client, headers, app_id: str, **request):
    return client.post("/v3/jobs/submit", json={"name": "sem", "appId": app_id, "appVersion": "1", **request},
                       headers=headers)


def accepted(client, headers, app_id: str, **request) -> dict:
    response = submit(client, headers, app_id, **request)
    assert response.status_code == 200, response.text
    return response.json()["result"]


def refused(client, headers, app_id: str, *words: str, **request) -> str:
    response = submit(client, headers, app_id, **request)
    assert response.status_code == 400, response.text
    message = response.json()["message"]
    for word in words:
        assert word in message, message
    return message


def parsed(job: dict, field: str):
    """A field Tapis' Job keeps as JSON text (parameterSet, fileInputs, notes), as the structure it holds."""
    return json.loads(job[field])


def args_of(job: dict, kind: str = "appArgs") -> list[str]:
    return [a["arg"] for a in parsed(job, "parameterSet")[kind]]


def env_of(job: dict) -> dict[str, str]:
    return {e["key"]: e["value"] for e in parsed(job, "parameterSet")["envVariables"]}


APP_ARGS = [{"name": "first", "arg": "--required", "inputMode": "REQUIRED"},
            {"name": "blank", "arg": "!tapis_not_set", "inputMode": "REQUIRED"},
            {"name": "fixed", "arg": "--fixed", "inputMode": "FIXED"},
            {"name": "demand", "arg": "--demand", "inputMode": "INCLUDE_ON_DEMAND"},
            {"name": "default", "arg": "--default", "inputMode": "INCLUDE_BY_DEFAULT"},
            {"name": "later", "arg": "!tapis_not_set", "inputMode": "INCLUDE_BY_DEFAULT"}]


def test_app_args_follow_their_input_mode(client, headers, records):
    app_id = new_app(client, headers, parameterSet={"appArgs": APP_ARGS})
    refused(client, headers, app_id, "appArgs", "'blank'", "REQUIRED")  # the app leaves its value to the request
    blank = {"name": "blank", "arg": "--blank-given"}
    job = accepted(client, headers, app_id, parameterSet={"appArgs": [blank]})
    # The app's entries in the app's order (one the request names keeps its place); INCLUDE_ON_DEMAND left out;
    # the INCLUDE_BY_DEFAULT entry still !tapis_not_set dropped.
    assert args_of(job) == ["--required", "--blank-given", "--fixed", "--default"]
    job = accepted(client, headers, app_id, parameterSet={"appArgs": [
        blank, {"name": "demand"}, {"name": "default", "include": False}, {"arg": "--anonymous"}]})
    assert args_of(job) == ["--anonymous", "--required", "--blank-given", "--fixed", "--demand"]  # the request's own first
    job = accepted(client, headers, app_id, parameterSet={"appArgs": [
        blank, {"name": "first", "arg": "--required-replaced"}, {"name": "fixed", "arg": "--fixed"}]})
    assert args_of(job) == ["--required-replaced", "--blank-given", "--fixed", "--default"]
    assert "!tapis_not_set" not in str(job["parameterSet"])
    refused(client, headers, app_id, "appArgs", "'fixed'", "FIXED",
            parameterSet={"appArgs": [blank, {"name": "fixed", "arg": "--other"}]})
    refused(client, headers, app_id, "'fixed'", "FIXED", parameterSet={"appArgs": [blank, {"name": "fixed", "include": False}]})
    refused(client, headers, app_id, "'first'", "REQUIRED", parameterSet={"appArgs": [blank, {"name": "first", "include": False}]})
    refused(client, headers, app_id, "inputMode", parameterSet={"appArgs": [{**blank, "inputMode": "FIXED"}]})
    refused(client, headers, app_id, "twice", parameterSet={"appArgs": [blank, blank]})


def test_container_args_and_scheduler_options_follow_their_input_mode(client, headers, records):
    app_id = new_app(client, headers, parameterSet={
        "containerArgs": [{"name": "bind", "arg": "!tapis_not_set", "inputMode": "REQUIRED"},
                          {"name": "quiet", "arg": "--quiet", "inputMode": "INCLUDE_BY_DEFAULT"}],
        "schedulerOptions": [{"name": "account", "inputMode": "REQUIRED"},
                             {"name": "qos", "arg": "--qos debug", "inputMode": "INCLUDE_ON_DEMAND"}]})
    refused(client, headers, app_id, "containerArgs", "'bind'", "REQUIRED",
            parameterSet={"schedulerOptions": [{"name": "account", "arg": "--account A"}]})
    refused(client, headers, app_id, "schedulerOptions", "'account'", "REQUIRED",
            parameterSet={"containerArgs": [{"name": "bind", "arg": "--bind /scratch"}]})
    job = accepted(client, headers, app_id, parameterSet={
        "containerArgs": [{"name": "bind", "arg": "--bind /scratch"}, {"name": "quiet", "include": False}],
        "schedulerOptions": [{"name": "account", "arg": "--account A"}, {"name": "qos"}]})
    assert args_of(job, "containerArgs") == ["--bind /scratch"]
    assert args_of(job, "schedulerOptions") == ["--account A", "--qos debug"]


def test_env_variables_follow_their_input_mode(client, headers, records):
    app_id = new_app(client, headers, parameterSet={"envVariables": [
        {"key": "NEEDED", "value": "!tapis_not_set", "inputMode": "REQUIRED"},
        {"key": "ON_DEMAND", "value": "d", "inputMode": "INCLUDE_ON_DEMAND"},
        {"key": "BY_DEFAULT", "value": "x", "inputMode": "INCLUDE_BY_DEFAULT"},
        {"key": "UNSET", "value": "!tapis_not_set"},
        {"key": "EMPTY", "value": ""}]})
    refused(client, headers, app_id, "envVariables", "'NEEDED'", "REQUIRED")
    job = accepted(client, headers, app_id, parameterSet={"envVariables": [{"key": "NEEDED", "value": "given"}]})
    # The system's FIXED variable, the app's, then the request's; UNSET dropped; the empty string is a value.
    assert env_of(job) == {"SITE_FIXED": "1", "NEEDED": "given", "BY_DEFAULT": "x", "EMPTY": ""}
    job = accepted(client, headers, app_id, parameterSet={"envVariables": [
        {"key": "NEEDED", "value": "given"}, {"key": "ON_DEMAND"}, {"key": "BY_DEFAULT", "include": False},
        {"key": "SITE_FIXED", "value": "1"}, {"key": "MINE", "value": "m"}]})
    assert env_of(job) == {"SITE_FIXED": "1", "NEEDED": "given", "ON_DEMAND": "d", "EMPTY": "", "MINE": "m"}
    assert "!tapis_not_set" not in str(job["parameterSet"])
    refused(client, headers, app_id, "'SITE_FIXED'", "FIXED", parameterSet={"envVariables": [
        {"key": "NEEDED", "value": "given"}, {"key": "SITE_FIXED", "value": "2"}]})
    refused(client, headers, app_id, "'NEEDED'", "REQUIRED", parameterSet={"envVariables": [
        {"key": "NEEDED", "value": "given", "include": False}]})
    refused(client, headers, app_id, "'NEEDED'", "REQUIRED", parameterSet={"envVariables": [
        {"key": "NEEDED", "value": "!tapis_not_set"}]})
    fixed_by_app = new_app(client, headers, parameterSet={"envVariables": [{"key": "SITE_FIXED", "value": "9"}]})
    refused(client, headers, fixed_by_app, "'SITE_FIXED'", "FIXED by the system")


def test_file_inputs_follow_their_input_mode(client, headers, records):
    app_id = new_app(client, headers, fileInputs=[
        {"name": "needed", "inputMode": "REQUIRED", "targetPath": "needed.dat"},
        {"name": "maybe", "inputMode": "OPTIONAL"},
        {"name": "given", "sourceUrl": "https://example.org/given.csv"},
        {"name": "fixed", "inputMode": "FIXED", "sourceUrl": f"tapis://{STORE}/data/fixed.txt", "targetPath": "f.txt"}])
    refused(client, headers, app_id, "fileInputs", "'needed'", "sourceUrl")
    needed = {"name": "needed", "sourceUrl": "https://example.org/needed.dat"}
    job = accepted(client, headers, app_id, fileInputs=[needed])
    by_name = {i["name"]: i for i in parsed(job, "fileInputs")}
    assert set(by_name) == {"needed", "given", "fixed"}  # the OPTIONAL input without a source is skipped
    assert by_name["needed"]["targetPath"] == "needed.dat" and by_name["fixed"]["targetPath"] == "f.txt"
    job = accepted(client, headers, app_id, fileInputs=[needed, {"name": "maybe", "sourceUrl": "https://example.org/m"},
                                                        {"sourceUrl": "https://example.org/extra.txt"}])
    assert {i.get("name") for i in parsed(job, "fileInputs")} == {"needed", "maybe", None, "given", "fixed"}
    refused(client, headers, app_id, "'fixed'", "FIXED", fileInputs=[needed, {"name": "fixed", "targetPath": "g.txt"}])
    refused(client, headers, app_id, "inputMode", fileInputs=[{**needed, "inputMode": "OPTIONAL"}])
    refused(client, headers, app_id, "twice", fileInputs=[needed, needed])


def test_strict_file_inputs_refuse_inputs_the_app_does_not_define(client, headers, records):
    app_id = new_app(client, headers, app_fields={"strictFileInputs": True},
                     fileInputs=[{"name": "data", "sourceUrl": "https://example.org/d"}],
                     fileInputArrays=[{"name": "many", "targetDir": "many"}])
    accepted(client, headers, app_id, fileInputs=[{"name": "data", "sourceUrl": "https://example.org/e"}])
    refused(client, headers, app_id, "strictFileInputs", "(unnamed)", fileInputs=[{"sourceUrl": "https://example.org/x"}])
    refused(client, headers, app_id, "strictFileInputs", "'other'",
            fileInputs=[{"name": "other", "sourceUrl": "https://example.org/x"}])
    refused(client, headers, app_id, "strictFileInputs", "fileInputArrays",
            fileInputArrays=[{"name": "else", "sourceUrls": ["https://example.org/x"]}])


def test_file_input_arrays_become_one_input_per_source_in_target_dir(client, headers, records):
    app_id = new_app(client, headers, fileInputArrays=[
        {"name": "batch", "targetDir": "in/${JobName}", "sourceUrls": ["https://example.org/old.txt"], "envKey": "BATCH_DIR"},
        {"name": "spare", "inputMode": "OPTIONAL", "targetDir": "spare"}])
    job = accepted(client, headers, app_id, fileInputArrays=[
        {"name": "batch", "sourceUrls": ["https://example.org/a.txt", f"tapis://{STORE}/data/b.csv"]},
        {"sourceUrls": ["https://example.org/c.bin"], "targetDir": "*"}])
    targets = {i["sourceUrl"]: i["targetPath"] for i in parsed(job, "fileInputs")}
    assert targets == {"https://example.org/a.txt": "in/sem/a.txt", f"tapis://{STORE}/data/b.csv": "in/sem/b.csv",
                       "https://example.org/c.bin": "c.bin"}  # the request's sourceUrls replaced the app's
    refused(client, headers, app_id, "tapislocal", "fileInputArrays",
            fileInputArrays=[{"name": "batch", "sourceUrls": ["tapislocal://exec.tapis/data/x"]}])
    required = new_app(client, headers, fileInputArrays=[{"name": "must", "inputMode": "REQUIRED", "targetDir": "m"}])
    refused(client, headers, required, "fileInputArrays", "'must'", "sourceUrls")


def test_env_keys_and_tapislocal_inputs_are_checked(client, headers, records):
    app_id = new_app(client, headers, parameterSet={"envVariables": [{"key": "TAKEN", "value": "t"}]})
    job = accepted(client, headers, app_id, fileInputs=[
        {"name": "here", "sourceUrl": "tapislocal://exec.tapis/data/big.dcm", "envKey": "BIG"},
        {"name": "web", "sourceUrl": "https://example.org/w.txt", "envKey": "WEB"}])
    assert {i["name"]: i.get("envKey") for i in parsed(job, "fileInputs")} == {"here": "BIG", "web": "WEB"}
    refused(client, headers, app_id, "envKey", "'TAKEN'",
            fileInputs=[{"name": "x", "sourceUrl": "https://example.org/x", "envKey": "TAKEN"}])
    refused(client, headers, app_id, "envKey", "_tapis",
            fileInputs=[{"name": "x", "sourceUrl": "https://example.org/x", "envKey": "_tapisX"}])
    refused(client, headers, app_id, "envKey", fileInputs=[{"name": "x", "sourceUrl": "https://example.org/x", "envKey": "1-bad"}])
    refused(client, headers, app_id, "envKey", "'TWICE'", fileInputs=[
        {"name": "a", "sourceUrl": "https://example.org/a", "envKey": "TWICE"},
        {"name": "b", "sourceUrl": "https://example.org/b", "envKey": "TWICE"}])
    refused(client, headers, app_id, "sourceUrl", fileInputs=[{"sourceUrl": "tapislocal://exec.tapis/../etc/passwd"}])


def test_mpi_and_command_prefix_as_tapis_merges_them(client, headers, records):
    app_id = new_app(client, headers)
    refused(client, headers, app_id, "isMpi", "mpiCmd", isMpi=True)
    refused(client, headers, app_id, "cmdPrefix", "enableCmdPrefix", cmdPrefix="time")
    job = accepted(client, headers, app_id, isMpi=True, mpiCmd="mpirun -np 4")
    assert (job["mpi"], job["mpiCmd"], job.get("cmdPrefix")) == (True, "mpirun -np 4", None)
    job = accepted(client, headers, app_id, execSystemId=MPI_VM, isMpi=True)  # the system's mpiCmd
    assert job["mpiCmd"] == "mpirun -np 2"
    refused(client, headers, app_id, "mutually exclusive", execSystemId=MPI_VM, isMpi=True, cmdPrefix="time")
    job = accepted(client, headers, app_id, execSystemId=MPI_VM, cmdPrefix="time -p")
    assert (job["mpi"], job["cmdPrefix"]) == (False, "time -p")
    mpi_app = new_app(client, headers, execSystemId=MPI_VM, isMpi=True, mpiCmd="ibrun -n 4")
    assert accepted(client, headers, mpi_app)["mpiCmd"] == "ibrun -n 4"
    assert accepted(client, headers, mpi_app, isMpi=False)["mpi"] is False
    refused(client, headers, app_id, "mpiCmd", isMpi=True, mpiCmd="mpirun 'unbalanced")


def test_job_runtimes_of_the_exec_system_are_checked(client, headers, records):
    sif = new_app(client, headers)
    refused(client, headers, sif, "jobRuntimes", "SINGULARITY", ZIP_ONLY, execSystemId=ZIP_ONLY)
    accepted(client, headers, new_app(client, headers, runtime="ZIP"), execSystemId=ZIP_ONLY)
    accepted(client, headers, new_app(client, headers, runtime="ZIP"))  # a system without jobRuntimes takes any
    apptainer_ok = system_def(f"sem-sif-{RUN}", jobRuntimes=[{"runtimeType": "SINGULARITY"}])
    assert client.post("/v3/systems", json=apptainer_ok, headers=headers).status_code == 201
    accepted(client, headers, new_app(client, headers, runtime="APPTAINER"), execSystemId=apptainer_ok["id"])
    bad = client.post("/v3/systems", json=system_def(f"sem-bad-{RUN}", jobRuntimes=[{"runtimeType": "PODMAN"}]),
                      headers=headers)
    assert bad.status_code == 400 and "jobRuntimes" in bad.json()["message"], bad.text


def test_notes_are_returned_on_the_job(client, headers, records):
    app_id = new_app(client, headers, app_fields={"notes": {"from": "app"}})
    assert parsed(accepted(client, headers, app_id), "notes") == {"from": "app"}
    job = accepted(client, headers, app_id, notes={"run": 7, "tags": ["a"]})
    assert json.loads(client.get(f"/v3/jobs/{job['uuid']}", headers=headers).json()["result"]["notes"]) == {"run": 7, "tags": ["a"]}
    refused(client, headers, app_id, "notes", notes={"big": "x" * 70000})


def test_archive_dir_defaults_to_the_output_dir_on_the_exec_system(client, headers, records):
    app_id = new_app(client, headers)
    job = accepted(client, headers, app_id)
    assert job["archiveSystemDir"] == job["execSystemOutputDir"] == f"/work/jobs/{job['uuid']}/output"
    job = accepted(client, headers, app_id, archiveSystemId=VM)
    assert job["archiveSystemDir"] == job["execSystemOutputDir"]
    job = accepted(client, headers, app_id, archiveSystemId=STORE)
    assert job["archiveSystemDir"] == f"/jobs/{job['uuid']}/archive"
