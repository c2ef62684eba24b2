"""Every field of Tapis' request schemas is accounted for (issue 16, item 7): the tables of
``dlws_flow.domain.field_tables`` against the OpenAPI files themselves, the docs' tables against the
generator, and the parsing every entry point shares (``services.catalog.parse_system`` / ``parse_app``,
``services.jobs.parse_request``) on the definitions the Tapis seed tests send."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from dlws_flow.domain.field_support import RECORDS, checked, markdown
from dlws_flow.domain.field_tables import TABLES, Support
from dlws_flow.errors import ValidationError

ROOT = Path(__file__).resolve().parents[2]
OPENAPI = next(p for p in (ROOT.parent / "shared" / "tapis-openapi", Path("/work/shared/tapis-openapi")) if p.is_dir())
FILES = {"system": "openapi_v3-systems.yml", "app": "openapi_v3-apps.yml", "job": "openapi_v3-jobs.yml"}
HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOKDFfyMMM5ORnm92TcBX9Etl7a52d6xv5p+3U6VJtT5"


def _schemas(record: str) -> dict:
    return yaml.safe_load((OPENAPI / FILES[record]).read_text())["components"]["schemas"]


def _ref(prop: dict) -> str | None:
    ref = prop.get("$ref") or prop.get("items", {}).get("$ref")
    return ref.rsplit("/", 1)[-1] if ref else None


def _walk(schemas: dict, schema_name: str, table_name: str, where: str, missing: list[str], seen: set) -> None:
    if (schema_name, table_name) in seen:
        return
    seen.add((schema_name, table_name))
    table, props = TABLES[table_name], schemas[schema_name].get("properties", {})
    for name, prop in props.items():
        row = table.get(name)
        if row is None or row.support == Support.OURS:
            missing.append(f"{where}{name} ({schema_name}) has no row in {table_name}")
            continue
        target = _ref(prop)
        if target and "properties" in schemas[target] and row.support != Support.REFUSED:  # refused: whole object
            if row.nested is None:
                missing.append(f"{where}{name} holds {target} but its row names no table")
            else:
                _walk(schemas, target, row.nested, f"{where}{name}.", missing, seen)
    for name, row in table.items():  # a row claiming a Tapis field acted on must be one of Tapis' fields
        if row.support == Support.ACTED and name not in props:
            missing.append(f"{where}{name} is 'acted on' in {table_name} but no field of {schema_name}")


@pytest.mark.parametrize("record", list(RECORDS))
def test_every_field_of_tapis_request_schemas_is_in_the_table(record):
    """Walks ReqPostSystem, ReqPostApp and ReqSubmitJob through every ``$ref``, as the OpenAPI files have them."""
    missing: list[str] = []
    _walk(_schemas(record), RECORDS[record], RECORDS[record], "", missing, set())
    assert not missing, "\n".join(missing)


def test_every_row_has_a_reason_and_refusals_say_not_supported():
    for table_name, table in TABLES.items():
        for name, row in table.items():
            assert row.what.strip(), f"{table_name}.{name}"
            assert (row.support == Support.REFUSED) == row.what.startswith("not supported: "), f"{table_name}.{name}"
            assert row.nested is None or row.nested in TABLES, f"{table_name}.{name}"


def test_the_docs_tables_are_the_generated_ones():
    text = (ROOT / "docs" / "configuration.md").read_text()
    begin, end = "<!-- field-support:begin -->\n", "<!-- field-support:end -->"
    assert begin in text and end in text
    assert text.split(begin, 1)[1].split(end, 1)[0] == markdown(), \
        "docs/configuration.md: run python -m dlws_flow.domain.field_support --markdown and paste its output"


@pytest.mark.parametrize(("record", "data", "message"), [
    ("job", {"name": "j", "appId": "a", "appVersion": "1", "dtnSystemInputDir": "/dtn"}, "dtnSystemInputDir: not supported"),
    ("app", {"id": "a", "version": "1", "containerImage": "i", "jobAttributes": {"dtnSystemInputDir": "/dtn"}},
     "jobAttributes.dtnSystemInputDir: not supported here"),
    ("app", {"id": "a", "version": "1", "containerImage": "i",
             "jobAttributes": {"parameterSet": {"appArgs": [{"name": "x", "colour": "red"}]}}},
     "jobAttributes.parameterSet.appArgs[0].colour: unknown field"),
    ("system", {"id": "s", "host": "h", "authnCredential": {"accessKey": "AKIA"}}, "authnCredential.accessKey: not supported"),
    ("system", {"id": "s", "host": "h", "jobCapabilities": [{"category": "OS", "name": "x", "datatype": "STRING"}]},
     "jobCapabilities: not supported"),
    ("job", {"name": "j", "appId": "a", "appVersion": "1", "parameterSet": {"envVariables": [{"key": "A", "inputMode": "FIXED"}]}},
     "parameterSet.envVariables[0].inputMode: not supported here: inputMode is set by the app"),
    ("job", {"name": "j", "appId": "a", "appVersion": "1", "nmae": "typo"}, "nmae: unknown field"),
])
def test_refused_and_unknown_fields_are_named_with_their_path(record, data, message):
    with pytest.raises(ValidationError, match=message.replace("[", r"\[").replace("]", r"\]")):
        checked(data, record)


def test_defaults_of_refused_fields_and_read_only_fields_are_accepted_and_dropped():
    data = {"id": "a", "version": "1", "containerImage": "i", "versionEnabled": True, "maxJobs": -1,
            "runtimeVersion": None, "uuid": "u-1", "created": "2024-01-01T00:00:00Z", "isPublic": False,
            "jobAttributes": {"dynamicExecSystem": False, "execSystemConstraints": [], "isMpi": False,
                              "dtnSystemInputDir": "!tapis_not_set", "subscriptions": [],
                              "fileInputs": [{"name": "in", "targetPath": "in", "autoMountLocal": True}]}}
    assert checked(data, "app") == {"id": "a", "version": "1", "containerImage": "i",
                                    "jobAttributes": {"isMpi": False, "fileInputs": [{"name": "in", "targetPath": "in"}]}}
    with pytest.raises(ValidationError, match="useProxy: not supported"):
        checked({"id": "s", "useProxy": True}, "system")
    with pytest.raises(ValidationError, match="proxyPort: not supported"):
        checked({"id": "s", "proxyPort": 3128}, "system")
    assert checked({"id": "s", "useProxy": False, "proxyPort": -1, "enabled": True, "deleted": False}, "system") == \
        {"id": "s", "enabled": True}


# --- the definitions the Tapis seed tests send pass the shared parsing -----------------------------

NOTEBOOK_SYSTEM = {"id": "nb-vm", "description": "Tapis training system", "systemType": "LINUX", "host": "127.0.0.1",
                   "port": 2222, "effectiveUserId": "hpcuser", "defaultAuthnMethod": "PKI_KEYS", "rootDir": "/",
                   "canExec": True, "jobWorkingDir": "HOST_EVAL($HOME)", "jobRuntimes": [{"runtimeType": "SINGULARITY"}]}
NOTEBOOK_HPC = {**NOTEBOOK_SYSTEM, "id": "nb-hpc", "canRunBatch": True, "batchScheduler": "SLURM",
                "batchLogicalQueues": [{"name": "tapisNormal", "hpcQueueName": "debug", "maxJobs": 50,
                                        "maxJobsPerUser": 10, "minNodeCount": 1, "maxNodeCount": 1,
                                        "minCoresPerNode": 1, "maxCoresPerNode": 2, "minMemoryMB": 1,
                                        "maxMemoryMB": 1024, "minMinutes": 1, "maxMinutes": 60}],
                "batchDefaultLogicalQueue": "tapisNormal"}
NOTEBOOK_APP = {"id": "img-classify", "version": "0.0.1", "description": "Image classifier run as container",
                "runtime": "SINGULARITY", "containerImage": "/images/classify.sif",
                "jobAttributes": {"description": "default job description", "execSystemId": "nb-vm",
                                  "parameterSet": {"appArgs": [], "containerArgs": [], "schedulerOptions": []},
                                  "memoryMB": 1, "nodeCount": 1, "coresPerNode": 1, "maxMinutes": 10}}
SCRIPT = {"appArgs": [{"name": "shell", "arg": "sh -c"}, {"name": "script", "arg": "'echo classified'"}]}
NOTEBOOK_JOBS = [
    {"name": "img-classifier-job-vm", "description": "image classifier", "appId": "img-classify",
     "execSystemId": "nb-vm", "appVersion": "0.0.1", "parameterSet": SCRIPT},
    {"name": "img-classifier-job-hpc", "description": "image classifier", "appId": "img-classify",
     "execSystemId": "nb-hpc", "appVersion": "0.0.1",
     "parameterSet": {**SCRIPT, "schedulerOptions": [{"arg": "--tapis-profile tacc"},
                                                     {"arg": "--account Frontera-Training"}]}},
]
API_SYSTEM = {"id": "tapipy-vm", "systemType": "LINUX", "host": "127.0.0.1", "port": 2222, "effectiveUserId": "hpcuser",
              "defaultAuthnMethod": "PKI_KEYS", "rootDir": "/home/hpcuser", "jobWorkingDir": "/workdir", "canExec": True,
              "authnCredential": {"privateKey": "-----BEGIN OPENSSH PRIVATE KEY-----\n..."}, "notes": {"hostKey": HOST_KEY}}
API_APP = {"id": "img-classify", "version": "0.1", "containerImage": "/images/classify.sif", "runtime": "SINGULARITY",
           "jobType": "FORK", "jobAttributes": {"execSystemId": "tapipy-vm", "maxMinutes": 5}}
API_JOB = {"name": "img-classifier-job", "appId": "img-classify", "appVersion": "0.1", "execSystemId": "tapipy-vm",
           "parameterSet": SCRIPT}


def test_the_seed_tests_definitions_pass_validation():
    from dlws_flow.services.catalog import parse_app, parse_system
    from dlws_flow.services.jobs import parse_request

    for system in (NOTEBOOK_SYSTEM, NOTEBOOK_HPC, API_SYSTEM):
        assert parse_system(system).id == system["id"]
    for app in (NOTEBOOK_APP, API_APP):
        assert parse_app(app).id == app["id"]
    for job in (*NOTEBOOK_JOBS, API_JOB):
        assert parse_request(job).name == job["name"]
    # What a GET shows comes back through PUT: views carry read-only fields, stored records every model field.
    view = {**parse_system(NOTEBOOK_HPC).public_dict(), "uuid": "u", "created": "c", "updated": "u", "tenant": "t",
            "deleted": False, "hostKeyFingerprint": None, "hostKeyOffered": None, "isPublic": False,
            "sharedWithUsers": [], "hasCredentials": True}
    assert parse_system(view).public_dict() == parse_system(NOTEBOOK_HPC).public_dict()
    app_view = {**parse_app(NOTEBOOK_APP).model_dump(mode="json"), "uuid": "u", "created": "c", "tenant": "t",
                "deleted": False, "sharedAppCtx": False}
    assert parse_app(app_view).model_dump() == parse_app(NOTEBOOK_APP).model_dump()
