"""Tapis scheduler profiles through the API (``/v3/systems/schedulerProfile``) on the real database, no hosts:
create, list, get, delete, who may do each, the 409 and 400 answers, the response shapes of Tapis' own
OpenAPI document (the copy tapipy ships), and what a job submit checks about the profile it names."""

from __future__ import annotations

import uuid
from pathlib import Path

import jsonschema
import pytest
import tapipy
import yaml
from fastapi.testclient import TestClient

HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOKDFfyMMM5ORnm92TcBX9Etl7a52d6xv5p+3U6VJtT5"
OWNER, OTHER, ADMIN = "prof_olga", "prof_otto", "prof_adam"
BASE = "/v3/systems/schedulerProfile"


class FakeDispatcher:
    def start(self, job_uuid: str, queue: str | None = None) -> None: ...

    def cancel(self, job_uuid: str) -> None: ...

    def pause(self, job_uuid: str) -> None: ...

    def resume_paused(self, job_uuid: str) -> None: ...


@pytest.fixture(scope="module")
def client():
    from api.app import create_app
    from dlws_flow.services.auth import create_user

    with TestClient(create_app()) as test_client:  # its startup brings the database's tables up
        for name in (OWNER, OTHER, ADMIN):
            create_user(name, f"{name}-password", admin=name == ADMIN, replace=True)
        yield test_client


def as_user(username: str) -> dict[str, str]:
    from dlws_flow.services.auth import get_user, issue_token

    return {"X-Tapis-Token": issue_token(get_user(username))["access_token"]}


def new_name() -> str:
    return f"prof-{uuid.uuid4().hex[:8]}"


def profile_def(name: str, **fields) -> dict:
    return {"name": name, "description": "TACC-style", "hiddenOptions": ["MEM"],
            "moduleLoads": [{"moduleLoadCommand": "module load", "modulesToLoad": ["tacc-apptainer", "python3"]}],
            **fields}


def create(client, name: str, user: str = OWNER, **fields):
    return client.post(BASE, json=profile_def(name, **fields), headers=as_user(user))


# --- Tapis' response shapes -------------------------------------------------------------------------------

TAPIS_SYSTEMS = yaml.safe_load((Path(tapipy.__file__).parent / "resources" / "openapi_v3-systems.yml").read_text())


def assert_tapis_shape(body: dict, schema_name: str) -> None:
    """``body`` validates against ``#/components/schemas/<schema_name>`` of Tapis' Systems document."""
    schema = {"$ref": f"#/components/schemas/{schema_name}", "components": TAPIS_SYSTEMS["components"]}
    jsonschema.validate(body, schema)


def test_create_get_list_delete_in_tapis_shapes(client):
    name = new_name()
    response = create(client, name)
    assert response.status_code == 201, response.text
    assert_tapis_shape(response.json(), "RespResourceUrl")
    assert response.json()["result"]["url"].endswith(f"{BASE}/{name}")

    got = client.get(f"{BASE}/{name}", headers=as_user(OWNER))
    assert got.status_code == 200, got.text
    assert_tapis_shape(got.json(), "RespSchedulerProfile")
    profile = got.json()["result"]
    assert {k: profile[k] for k in ("name", "description", "owner", "moduleLoads", "hiddenOptions", "tenant")} == {
        "name": name, "description": "TACC-style", "owner": OWNER, "hiddenOptions": ["MEM"], "tenant": "dlws",
        "moduleLoads": [{"moduleLoadCommand": "module load", "modulesToLoad": ["tacc-apptainer", "python3"]}]}

    listed = client.get(BASE, headers=as_user(OWNER))  # the literal path, not /v3/systems/{systemId}
    assert listed.status_code == 200, listed.text
    assert_tapis_shape(listed.json(), "RespSchedulerProfiles")
    assert name in [p["name"] for p in listed.json()["result"]]

    deleted = client.delete(f"{BASE}/{name}", headers=as_user(OWNER))
    assert deleted.status_code == 200, deleted.text
    assert_tapis_shape(deleted.json(), "RespChangeCount")
    assert deleted.json()["result"] == {"changes": 1}
    assert client.get(f"{BASE}/{name}", headers=as_user(OWNER)).status_code == 404
    assert client.delete(f"{BASE}/{name}", headers=as_user(OWNER)).status_code == 404


def test_a_taken_name_is_409_with_the_profiles_url(client):
    name = new_name()
    assert create(client, name).status_code == 201
    for user in (OWNER, OTHER, ADMIN):
        response = create(client, name, user=user, description="another")
        assert response.status_code == 409, response.text
        assert_tapis_shape(response.json(), "RespResourceUrl")
        assert response.json()["status"] == "error" and name in response.json()["message"]
        assert response.json()["result"]["url"].endswith(f"{BASE}/{name}")
    assert client.get(f"{BASE}/{name}", headers=as_user(OTHER)).json()["result"]["description"] == "TACC-style"


def test_what_a_get_returns_can_be_posted_again(client):
    """Tapis allows tenant, uuid, created and updated in a create request (and ignores them)."""
    name = new_name()
    assert create(client, name).status_code == 201
    shown = client.get(f"{BASE}/{name}", headers=as_user(OWNER)).json()["result"]
    assert client.delete(f"{BASE}/{name}", headers=as_user(OWNER)).status_code == 200
    response = client.post(BASE, json={**shown, "uuid": str(uuid.uuid4())}, headers=as_user(OWNER))
    assert response.status_code == 201, response.text
    again = client.get(f"{BASE}/{name}", headers=as_user(OWNER)).json()["result"]

    def record(profile: dict) -> dict:
        return {key: value for key, value in profile.items() if key not in ("created", "updated")}

    assert record(again) == record(shown)


def test_a_profile_without_a_description_or_options_shows_in_tapis_shape(client):
    name = new_name()
    assert client.post(BASE, json={"name": name}, headers=as_user(OWNER)).status_code == 201
    shown = client.get(f"{BASE}/{name}", headers=as_user(OWNER)).json()
    assert_tapis_shape(shown, "RespSchedulerProfile")
    assert shown["result"]["moduleLoads"] == [] and shown["result"]["hiddenOptions"] == []
    assert_tapis_shape(client.get(BASE, headers=as_user(OWNER)).json(), "RespSchedulerProfiles")


@pytest.mark.parametrize(("body", "named"), [
    ({"flavour": "x"}, "flavour"),
    ({"moduleLoads": [{"moduleLoadCommand": "module load", "modulesToLoad": ["a"], "shell": "bash"}]},
     "moduleLoads.0.shell"),
    ({"hiddenOptions": ["MEM", "NODES"]}, "hiddenOptions.1"),
    ({"hiddenOptions": "MEM"}, "hiddenOptions"),
    ({"moduleLoads": [{"moduleLoadCommand": "", "modulesToLoad": ["a"]}]}, "moduleLoads.0.moduleLoadCommand"),
    ({"moduleLoads": [{"moduleLoadCommand": "   "}]}, "moduleLoads.0.moduleLoadCommand"),
    ({"moduleLoads": [{"modulesToLoad": ["a"]}]}, "moduleLoads.0.moduleLoadCommand"),
    ({"moduleLoads": [{"moduleLoadCommand": "module load", "modulesToLoad": [""]}]}, "moduleLoads.0.modulesToLoad"),
    ({"name": "9lives"}, "name"),
    ({"name": "has space"}, "name"),
    ({"name": "x" * 81}, "name"),
    ({"description": "d" * 2049}, "description"),
    ({"tenant": "another-tenant"}, "tenant"),
    ({"description": "nul\x00"}, "NUL"),
])
def test_bad_input_is_a_400_naming_the_field(client, body, named):
    response = client.post(BASE, json={**profile_def(new_name()), **body}, headers=as_user(OWNER))
    assert response.status_code == 400, response.text
    assert named in response.json()["message"], response.json()["message"]


def test_a_body_that_is_no_object_is_a_400(client):
    response = client.post(BASE, json=["name"], headers=as_user(OWNER))
    assert response.status_code == 400, response.text


def test_everyone_reads_only_the_owner_or_an_admin_deletes(client):
    name = new_name()
    assert create(client, name).status_code == 201
    assert client.get(f"{BASE}/{name}", headers=as_user(OTHER)).status_code == 200
    assert name in [p["name"] for p in client.get(BASE, headers=as_user(OTHER)).json()["result"]]
    refused = client.delete(f"{BASE}/{name}", headers=as_user(OTHER))
    assert refused.status_code == 403 and OWNER in refused.json()["message"], refused.text
    assert client.delete(f"{BASE}/{name}", headers=as_user(ADMIN)).status_code == 200
    assert client.get(f"{BASE}/{name}", headers={}).status_code == 401


def test_the_owner_is_the_caller_unless_an_admin_names_another(client):
    mine = new_name()
    assert create(client, mine, owner="${apiUserId}").status_code == 201
    assert client.get(f"{BASE}/{mine}", headers=as_user(OWNER)).json()["result"]["owner"] == OWNER
    response = create(client, new_name(), owner=OTHER)
    assert response.status_code == 403 and "admin" in response.json()["message"], response.text
    given = new_name()
    assert create(client, given, user=ADMIN, owner=OTHER).status_code == 201
    assert client.get(f"{BASE}/{given}", headers=as_user(OWNER)).json()["result"]["owner"] == OTHER
    assert client.delete(f"{BASE}/{given}", headers=as_user(OTHER)).status_code == 200  # the new owner's to delete
    response = create(client, new_name(), user=ADMIN, owner="prof_nobody")
    assert response.status_code == 400 and "owner" in response.json()["message"], response.text


# --- what a job submit checks -----------------------------------------------------------------------------


def slurm_system(client, owner: str = OWNER, **fields) -> str:
    system_id = f"prof-hpc-{uuid.uuid4().hex[:8]}"
    record = {"id": system_id, "systemType": "LINUX", "host": "127.0.0.1", "effectiveUserId": "hpc", "canExec": True,
              "rootDir": "/home/hpc", "jobWorkingDir": "/work", "hostKey": HOST_KEY, "canRunBatch": True,
              "batchScheduler": "SLURM", "batchLogicalQueues": [{"name": "dev", "hpcQueueName": "debug"}],
              "batchDefaultLogicalQueue": "dev", **fields}
    response = client.post("/v3/systems", json=record, headers=as_user(owner))
    assert response.status_code == 201, response.text
    app = {"id": f"{system_id}-app", "version": "1", "containerImage": "/img.sif", "jobType": "BATCH",
           "jobAttributes": {"execSystemId": system_id}}
    assert client.post("/v3/apps", json=app, headers=as_user(owner)).status_code == 201
    for permission_call in (f"/v3/systems/perms/{system_id}/user/{OTHER}", ):
        client.post(permission_call, json={"permissions": ["READ", "EXECUTE"]}, headers=as_user(owner))
    client.post(f"/v3/apps/share/{system_id}-app", json={"users": [OTHER]}, headers=as_user(owner))
    return system_id


def submit(client, system_id: str, user: str = OWNER, profile: str | None = None):
    options = [{"arg": f"--tapis-profile {profile}"}] if profile else []
    body = {"name": "profiled", "appId": f"{system_id}-app", "appVersion": "1",
            "parameterSet": {"schedulerOptions": options}}
    return client.post("/v3/jobs/submit", json=body, headers=as_user(user))


@pytest.fixture
def dispatcher(client):
    from api.dependencies import get_dispatcher

    client.app.dependency_overrides[get_dispatcher] = FakeDispatcher
    yield
    client.app.dependency_overrides.pop(get_dispatcher, None)


def test_a_job_naming_a_missing_profile_is_refused_at_submit(client, dispatcher):
    system_id = slurm_system(client)
    response = submit(client, system_id, profile="prof-nowhere")
    assert response.status_code == 400 and "prof-nowhere" in response.json()["message"], response.text
    assert "does not exist" in response.json()["message"]
    defaulted = slurm_system(client, batchSchedulerProfile="prof-nowhere-either")
    response = submit(client, defaulted)
    assert response.status_code == 400 and "prof-nowhere-either" in response.json()["message"], response.text


def test_which_profiles_a_job_may_use(client, dispatcher):
    """A profile's module loads run in the job: its owner's own profiles, an admin's, or the exec system
    owner's. Anyone else's is refused, so nobody can take a name and run commands in other users' jobs."""
    system_id = slurm_system(client)  # OWNER's; OTHER may run jobs on it
    own, admins, others = new_name(), new_name(), new_name()
    assert create(client, own).status_code == 201
    assert create(client, admins, user=ADMIN).status_code == 201
    assert create(client, others, user=OTHER).status_code == 201
    for user, profile, allowed in [(OWNER, own, True), (OWNER, admins, True), (OWNER, others, False),
                                   (OTHER, others, True), (OTHER, own, True),  # OWNER owns the exec system
                                   (OTHER, admins, True)]:
        response = submit(client, system_id, user=user, profile=profile)
        assert (response.status_code == 200) == allowed, (user, profile, response.text)
        if not allowed:
            assert response.status_code == 400 and f"belongs to {OTHER}" in response.json()["message"]


def test_a_fork_job_is_not_checked(client, dispatcher):
    system_id = slurm_system(client)
    body = {"name": "forked", "appId": f"{system_id}-app", "appVersion": "1", "jobType": "FORK",
            "parameterSet": {"schedulerOptions": [{"arg": "--tapis-profile prof-nowhere"}]}}
    response = client.post("/v3/jobs/submit", json=body, headers=as_user(OWNER))
    assert response.status_code == 200, response.text


# --- what the job script gets -----------------------------------------------------------------------------


def staged_script(job_uuid: str) -> str:
    """The tapisjob.sh the stage_job stage would write for the job (no host: the directories are set here)."""
    from dlws_flow.adapters.schedulers.slurm import SlurmScheduler
    from dlws_flow.engine.launch import script_request
    from dlws_flow.store import repositories as repo
    from dlws_flow.store.db import session_scope

    dirs = {"ExecSystemExecDir": f"/work/{job_uuid}", "ExecSystemInputDir": f"/work/{job_uuid}",
            "ExecSystemOutputDir": f"/work/{job_uuid}/output"}
    with session_scope() as session:
        repo.update_job_fields(session, job_uuid, host_dirs=dirs)
        job = repo.get_job(session, job_uuid)
        return SlurmScheduler().build_script(script_request(job, repo.system_spec(repo.get_system(session, job.exec_system_id))))


def test_the_tapis_profile_shapes_the_batch_script(client, dispatcher):
    name = new_name()
    assert create(client, name, hiddenOptions=["MEM", "PARTITION"], moduleLoads=[
        {"moduleLoadCommand": "module load", "modulesToLoad": ["tacc-apptainer", "$(touch ~/pwned)"]}]).status_code == 201
    system_id = slurm_system(client)
    response = submit(client, system_id, profile=name)
    assert response.status_code == 200, response.text
    script = staged_script(response.json()["result"]["uuid"]).splitlines()
    assert "module load tacc-apptainer '$(touch ~/pwned)'" in script  # each word quoted: nothing evaluated
    assert not [line for line in script if line.startswith(("#SBATCH --mem", "#SBATCH --partition"))]
    assert not [line for line in script if "tapis-profile" in line]


def test_the_systems_default_profile_is_the_tapis_one(client, dispatcher):
    name = new_name()
    assert create(client, name, hiddenOptions=["PARTITION"]).status_code == 201
    system_id = slurm_system(client, batchSchedulerProfile=name)
    response = submit(client, system_id)
    assert response.status_code == 200, response.text
    script = staged_script(response.json()["result"]["uuid"]).splitlines()
    assert "module load tacc-apptainer python3" in script and "#SBATCH --mem=100M" in script
    assert not [line for line in script if line.startswith("#SBATCH --partition")]


def test_the_system_records_own_profile_wins_over_a_tapis_one_of_that_name(client, dispatcher):
    name = new_name()
    assert create(client, name).status_code == 201
    system_id = slurm_system(client, schedulerProfiles=[{"name": name, "setupLines": ["export FROM=record"]}])
    response = submit(client, system_id, profile=name)
    assert response.status_code == 200, response.text
    script = staged_script(response.json()["result"]["uuid"]).splitlines()
    assert "export FROM=record" in script and "module load tacc-apptainer python3" not in script
    assert "#SBATCH --mem=100M" in script and "#SBATCH --partition=debug" in script


def test_a_profile_deleted_after_submit_fails_the_job_at_staging(client, dispatcher):
    from dlws_flow.errors import ValidationError

    name = new_name()
    assert create(client, name).status_code == 201
    response = submit(client, slurm_system(client), profile=name)
    assert response.status_code == 200, response.text
    assert client.delete(f"{BASE}/{name}", headers=as_user(OWNER)).status_code == 200
    with pytest.raises(ValidationError, match=f"scheduler profile '{name}' does not exist"):
        staged_script(response.json()["result"]["uuid"])
