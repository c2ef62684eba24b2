"""Taking over another user's system or login, attempted through the real API (uvicorn), the real worker and
the real sshd, and refused:

1. a system's stored logins do not outlive it: a deleted id cannot be re-created (or undeleted) by another
   user, the logins go with the deletion, and giving a system away takes its logins and shares with it; a
   job that would have used the old owner's key fails naming the missing credential and never reaches the host;
2. a MODIFY grantee cannot set the owner's credential, nor anything that runs as shell in every user's jobs,
   nor where the owner's login is used; they may store their own login only;
3. another user's private system or app answers exactly as a missing one does.
"""

from __future__ import annotations

import shlex
import time
import uuid
from pathlib import Path

import pytest
import requests

from tests.integration.conftest import api_password, api_user, script_args, tapis_client

pytestmark = [pytest.mark.ssh]

RUN = uuid.uuid4().hex[:6]
ALICE, MALLORY, RITA = f"tko_alice_{RUN}", f"tko_mallory_{RUN}", f"tko_rita_{RUN}"
ENDED = {"FINISHED", "FAILED", "CANCELLED"}


class Api:
    """Plain HTTP against the running API as one user."""

    def __init__(self, base_url: str, username: str) -> None:
        self.base_url, self.username = base_url, username
        login = {"username": username, "password": api_user(username), "grant_type": "password"}
        token = requests.post(f"{base_url}/v3/oauth2/tokens", json=login, timeout=30).json()
        self.headers = {"X-Tapis-Token": token["result"]["access_token"]["access_token"]}

    def call(self, method: str, path: str, **kwargs) -> requests.Response:
        response = requests.request(method, self.base_url + path, headers=self.headers, timeout=60, **kwargs)
        assert response.status_code < 500, (method, path, response.status_code, response.text[:1000])
        return response

    def ok(self, method: str, path: str, **kwargs) -> dict:
        response = self.call(method, path, **kwargs)
        assert 200 <= response.status_code < 300, (method, path, response.status_code, response.text[:1000])
        return response.json()["result"]

    def refused(self, status: int, method: str, path: str, **kwargs) -> str:
        """Assert the answer is ``status`` with Tapis' error envelope; return its message."""
        response = self.call(method, path, **kwargs)
        assert response.status_code == status, (method, path, response.status_code, response.text[:1000])
        body = response.json()
        assert body["status"] == "error" and body["message"], body
        return body["message"]

    def run_job(self, app_id: str, system_id: str, script: str, timeout: float = 120) -> dict:
        job = self.ok("POST", "/v3/jobs/submit", json={"name": "tko", "appId": app_id, "appVersion": "1",
                                                       "execSystemId": system_id, "parameterSet": script_args(script)})
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.ok("GET", f"/v3/jobs/{job['uuid']}")
            if found["status"] in ENDED:
                return found
            time.sleep(0.2)
        raise AssertionError(f"job {job['uuid']} did not end: {found}")


@pytest.fixture(scope="module")
def alice(api_server) -> Api:
    return Api(api_server, ALICE)


@pytest.fixture(scope="module")
def mallory(api_server) -> Api:
    return Api(api_server, MALLORY)


@pytest.fixture(scope="module")
def rita(api_server) -> Api:
    return Api(api_server, RITA)


def system_record(hosts: dict[str, str], system_id: str, *, with_key: bool = True) -> dict:
    """A system on the SSH test host; ``with_key``: with the test host's private key as the owner's login."""
    record = {"id": system_id, "systemType": "LINUX", "host": hosts["DLWS_TEST_SSH_HOST"],
              "port": int(hosts["DLWS_TEST_SSH_PORT"]), "effectiveUserId": hosts["DLWS_TEST_SSH_USER"],
              "defaultAuthnMethod": "PKI_KEYS", "rootDir": "/home/hpcuser", "jobWorkingDir": f"/tko-{RUN}",
              "canExec": True, "hostKey": hosts["DLWS_TEST_SSH_HOST_KEY"]}
    if with_key:
        record["authnCredential"] = {"privateKey": Path(hosts["DLWS_TEST_SSH_KEY"]).read_text()}
    return record


def app_record(hosts: dict[str, str], app_id: str, system_id: str) -> dict:
    return {"id": app_id, "version": "1", "runtime": "SINGULARITY", "containerImage": hosts["DLWS_TEST_SIF"],
            "jobType": "FORK", "jobAttributes": {"execSystemId": system_id, "maxMinutes": 5}}


def stored_logins(system_id: str) -> list[str]:
    """Who has a login stored for ``system_id``, read from the deployment's database."""
    from sqlalchemy import select

    from dlws_flow.store.db import session_scope
    from dlws_flow.store.models import CredentialRow

    with session_scope() as session:
        return sorted(session.scalars(select(CredentialRow.username).where(CredentialRow.system_id == system_id)))


def reached_the_host(ssh_commands, mark: int, job_uuid: str) -> list[str]:
    return [c.command for c in ssh_commands.since(mark) if job_uuid in c.command]


@pytest.fixture(scope="module", autouse=True)
def _clean_host(host_shell):
    yield
    host_shell(f"rm -rf ~/tko-{RUN}")


# --- 1. stored logins do not outlive their system --------------------------------------------------------


def test_a_deleted_system_can_be_neither_re_created_nor_undeleted_by_another_user(alice, mallory, hosts, ssh_commands,
                                                                                   api_server):
    """The reproduced attack: alice deletes her system; mallory re-creates the id (to hand it back to alice with
    changeOwner and run jobs with alice's key). Refused as for any taken id; alice's key went with the deletion."""
    from tapipy import errors

    system_id, app_id = f"tko-del-{RUN}", f"tko-del-app-{RUN}"
    alice.ok("POST", "/v3/systems", json=system_record(hosts, system_id))
    alice.ok("POST", "/v3/apps", json=app_record(hosts, app_id, system_id))
    assert alice.run_job(app_id, system_id, "echo with alices key")["status"] == "FINISHED"
    assert stored_logins(system_id) == [ALICE]

    alice.ok("POST", f"/v3/systems/{system_id}/delete")
    assert stored_logins(system_id) == []  # every user's login went with the system

    # mallory hears what she would for a live system of someone else's, and nothing about who owns it.
    live_id = f"tko-live-{RUN}"
    alice.ok("POST", "/v3/systems", json=system_record(hosts, live_id, with_key=False))
    for taken in (system_id, live_id):
        message = mallory.refused(409, "POST", "/v3/systems", json=system_record(hosts, taken, with_key=False))
        assert message == f"system {taken} already exists"
    assert mallory.refused(404, "POST", f"/v3/systems/{system_id}/undelete") == f"system {system_id} not found"
    # The same through tapipy, with a key of her own in the request.
    mallory_tapis = tapis_client(api_server, MALLORY, api_password(MALLORY))
    with pytest.raises(errors.BaseTapyException) as refused:
        mallory_tapis.systems.createSystem(**{k: v for k, v in system_record(hosts, system_id).items() if k != "hostKey"},
                                           notes={"hostKey": hosts["DLWS_TEST_SSH_HOST_KEY"]})
    assert refused.value.response.status_code == 409 and ALICE not in refused.value.response.text
    assert stored_logins(system_id) == []

    # alice brings it back; her old login did not survive, so her job fails naming what is missing, and no
    # command of it reaches the host.
    alice.ok("POST", f"/v3/systems/{system_id}/undelete")
    mark = ssh_commands.mark()
    job = alice.run_job(app_id, system_id, "echo must not run")
    assert job["status"] == "FAILED"
    assert f"no credential for user {ALICE} on system {system_id}" in job["lastMessage"]
    assert reached_the_host(ssh_commands, mark, job["uuid"]) == []


def test_giving_a_system_away_takes_its_logins_and_shares_with_it(alice, mallory, rita, hosts, ssh_commands):
    """After changeOwner the new owner's jobs do not use the old owner's key: they fail until the new owner
    stores a login; the old owner's shares are gone too."""
    system_id, app_id = f"tko-give-{RUN}", f"tko-give-app-{RUN}"
    alice.ok("POST", "/v3/systems", json=system_record(hosts, system_id))
    alice.ok("POST", f"/v3/systems/credential/{system_id}/user/{RITA}",
             json={"privateKey": Path(hosts["DLWS_TEST_SSH_KEY"]).read_text()})  # one she stored for rita
    alice.ok("POST", f"/v3/systems/share/{system_id}", json={"users": [RITA]})
    assert rita.ok("GET", f"/v3/systems/{system_id}")["id"] == system_id
    assert stored_logins(system_id) == sorted([ALICE, RITA])

    alice.ok("POST", f"/v3/systems/{system_id}/changeOwner/{MALLORY}")
    assert stored_logins(system_id) == []
    assert rita.refused(404, "GET", f"/v3/systems/{system_id}") == f"system {system_id} not found"
    assert alice.refused(404, "GET", f"/v3/systems/{system_id}") == f"system {system_id} not found"
    assert mallory.ok("GET", f"/v3/systems/share/{system_id}")["userList"] == []
    assert mallory.ok("GET", f"/v3/systems/perms/{system_id}/user/{RITA}")["names"] == []

    mallory.ok("POST", "/v3/apps", json=app_record(hosts, app_id, system_id))
    mark = ssh_commands.mark()
    job = mallory.run_job(app_id, system_id, "echo with alices key")
    assert job["status"] == "FAILED"
    assert f"no credential for user {MALLORY} on system {system_id}" in job["lastMessage"]
    assert reached_the_host(ssh_commands, mark, job["uuid"]) == []

    # Once mallory stores a login of her own, her jobs run with it.
    mallory.ok("POST", f"/v3/systems/credential/{system_id}/user/{MALLORY}",
               json={"privateKey": Path(hosts["DLWS_TEST_SSH_KEY"]).read_text()})
    assert stored_logins(system_id) == [MALLORY]
    assert mallory.run_job(app_id, system_id, "echo with her own")["status"] == "FINISHED"


# --- 2. a MODIFY grantee and the owner's login -----------------------------------------------------------


def test_a_modify_grantee_cannot_take_over_the_owners_login_nor_run_shell_in_every_job(alice, mallory, hosts, api_server,
                                                                                      host_shell):
    from tapipy import errors

    system_id, app_id = f"tko-mod-{RUN}", f"tko-mod-app-{RUN}"
    canary = f"tko_canary_{RUN}"
    alice.ok("POST", "/v3/systems", json=system_record(hosts, system_id))
    alice.ok("POST", "/v3/apps", json=app_record(hosts, app_id, system_id))
    alice.ok("POST", f"/v3/systems/perms/{system_id}/user/{MALLORY}", json={"permissions": ["MODIFY", "EXECUTE"]})
    before = alice.ok("GET", f"/v3/systems/{system_id}")
    shell = f"touch ~/{canary}"
    mallory_login = {"password": "mallory-knows-this", "loginUser": "hpcuser"}

    attempts = [
        ("PUT", {**system_record(hosts, system_id, with_key=False), "authnCredential": mallory_login}, "credential"),
        ("PATCH", {"authnCredential": mallory_login}, "credential"),
        ("PATCH", {"schedulerProfiles": [{"name": "p", "setupLines": [shell]}], "batchSchedulerProfile": "p"},
         "schedulerProfiles"),
        ("PATCH", {"schedulerProfiles": [{"name": "p", "moduleLoads": [{"moduleLoadCommand": "sh -c",
                                                                        "modulesToLoad": [shell]}]}]},
         "schedulerProfiles"),
        ("PATCH", {"jobEnvVariables": [{"key": "BASH_ENV", "value": f"/home/hpcuser/{canary}.sh"},
                                       {"key": "TKO_MARK", "value": canary}]}, "jobEnvVariables"),
        ("PATCH", {"host": "198.51.100.7", "hostKey": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMalloryMalloryMallory"},
         "host"),
        ("PATCH", {"rootDir": "/"}, "rootDir"),
        # notes-borne additions: inert in a patch, live in the next PUT that leaves the field out; refused too.
        ("PATCH", {"notes": {"hostKey": hosts["DLWS_TEST_SSH_HOST_KEY"],
                             "schedulerProfiles": [{"name": "p", "setupLines": [shell]}]}}, "notes.schedulerProfiles"),
        ("PUT", {**system_record(hosts, system_id, with_key=False), "hostKey": None,
                 "notes": {"hostKey": hosts["DLWS_TEST_SSH_HOST_KEY"],
                           "schedulerProfiles": [{"name": "p", "setupLines": [shell]}]}}, "schedulerProfiles"),
    ]
    for method, body, what in attempts:
        message = mallory.refused(403, method, f"/v3/systems/{system_id}", json=body)
        assert f"only the owner of system {system_id}" in message and what in message, (body, message)
    # The per-user route: only her own login.
    message = mallory.refused(403, "POST", f"/v3/systems/credential/{system_id}/user/{ALICE}", json=mallory_login)
    assert "only their own credential" in message
    mallory_tapis = tapis_client(api_server, MALLORY, api_password(MALLORY))
    with pytest.raises(errors.ForbiddenError):
        mallory_tapis.systems.createUserCredential(systemId=system_id, userName=ALICE, password="mallory-knows-this")
    assert stored_logins(system_id) == [ALICE]

    # What MODIFY does cover still works: the description, and storing her own login.
    mallory.ok("PATCH", f"/v3/systems/{system_id}", json={"description": "edited by mallory"})
    mallory_tapis.systems.createUserCredential(systemId=system_id, userName=MALLORY, password="mallory-knows-this")
    assert stored_logins(system_id) == sorted([ALICE, MALLORY])

    after = alice.ok("GET", f"/v3/systems/{system_id}")
    for field in ("host", "hostKey", "rootDir", "schedulerProfiles", "batchSchedulerProfile", "jobEnvVariables", "notes"):
        assert after.get(field) == before.get(field), field  # absent when it has no value
    assert after["description"] == "edited by mallory"

    # alice's job runs with her own key (not mallory's password), with none of mallory's environment or shell.
    job = alice.run_job(app_id, system_id, 'echo "mark=[${TKO_MARK:-}] bash_env=[${BASH_ENV:-}]"')
    assert job["status"] == "FINISHED", job["lastMessage"]
    output = requests.get(f"{api_server}/v3/jobs/{job['uuid']}/output/download/tapisjob.out", headers=alice.headers,
                          timeout=60).content
    assert b"mark=[] bash_env=[]" in output
    assert host_shell(f"ls -a ~ | grep -c {shlex.quote(canary)} || true").strip() == "0"


# --- 3. a private id answers as a missing one ------------------------------------------------------------


def test_another_users_private_system_and_app_answer_as_missing_ones(alice, mallory, hosts):
    system_id, app_id = f"tko-priv-{RUN}", f"tko-priv-app-{RUN}"
    alice.ok("POST", "/v3/systems", json=system_record(hosts, system_id, with_key=False))
    alice.ok("POST", "/v3/apps", json=app_record(hosts, app_id, system_id))
    deleted_id, deleted_app = f"tko-gone-{RUN}", f"tko-gone-app-{RUN}"
    alice.ok("POST", "/v3/systems", json=system_record(hosts, deleted_id, with_key=False))
    alice.ok("POST", "/v3/apps", json=app_record(hosts, deleted_app, deleted_id))
    alice.ok("POST", f"/v3/apps/{deleted_app}/delete")
    alice.ok("POST", f"/v3/systems/{deleted_id}/delete")

    system_routes = [("GET", "/v3/systems/{id}", None), ("PATCH", "/v3/systems/{id}", {"description": "x"}),
                     ("PATCH", "/v3/systems/{id}", {"authnCredential": {"password": "x"}}),
                     ("PUT", "/v3/systems/{id}", {"id": "{id}", "host": "127.0.0.1", "effectiveUserId": "x"}),
                     ("GET", "/v3/systems/{id}/isEnabled", None), ("POST", "/v3/systems/{id}/disable", None),
                     ("POST", "/v3/systems/{id}/delete", None), ("POST", "/v3/systems/{id}/undelete", None),
                     ("POST", f"/v3/systems/{{id}}/changeOwner/{MALLORY}", None),
                     ("POST", "/v3/systems/{id}/changeOwner/no-such-user", None),
                     ("POST", f"/v3/systems/credential/{{id}}/user/{MALLORY}", {"password": "x"}),
                     ("GET", f"/v3/systems/credential/{{id}}/user/{ALICE}", None),
                     ("DELETE", f"/v3/systems/credential/{{id}}/user/{ALICE}", None),
                     ("GET", f"/v3/systems/perms/{{id}}/user/{MALLORY}", None),
                     ("POST", f"/v3/systems/perms/{{id}}/user/{MALLORY}", {"permissions": ["MODIFY"]}),
                     ("GET", "/v3/systems/share/{id}", None), ("POST", "/v3/systems/share/{id}", {"users": [MALLORY]})]
    app_routes = [("GET", "/v3/apps/{id}", None), ("GET", "/v3/apps/{id}/1", None),
                  ("PATCH", "/v3/apps/{id}/1", {"description": "x"}), ("PUT", "/v3/apps/{id}/1", {"containerImage": "x"}),
                  ("GET", "/v3/apps/{id}/isEnabled", None), ("POST", "/v3/apps/{id}/1/lock", None),
                  ("POST", "/v3/apps/{id}/disable", None), ("POST", "/v3/apps/{id}/delete", None),
                  ("POST", "/v3/apps/{id}/undelete", None), ("POST", f"/v3/apps/{{id}}/changeOwner/{MALLORY}", None),
                  ("GET", f"/v3/apps/perms/{{id}}/user/{MALLORY}", None), ("GET", "/v3/apps/share/{id}", None),
                  ("POST", "/v3/apps/share/{id}", {"users": [MALLORY]})]

    def answer(method: str, template: str, body: dict | None, resource_id: str) -> tuple[int, str]:
        """mallory's status and message, the id in them written ``<id>``."""
        payload = None if body is None else {k: v.replace("{id}", resource_id) if isinstance(v, str) else v
                                             for k, v in body.items()}
        response = mallory.call(method, template.replace("{id}", resource_id), json=payload)
        return response.status_code, response.json()["message"].replace(resource_id, "<id>")

    for routes, hidden_ids in ((system_routes, (system_id, deleted_id)), (app_routes, (app_id, deleted_app))):
        for method, template, body in routes:
            missing = answer(method, template, body, f"tko-none-{uuid.uuid4().hex[:6]}")
            assert missing[0] == 404, (method, template, missing)
            for hidden in hidden_ids:
                assert answer(method, template, body, hidden) == missing, (method, template, hidden)

    # Creating with a taken id is refused as Tapis does, naming neither the owner nor anything else.
    for taken in (system_id, deleted_id):
        response = mallory.call("POST", "/v3/systems", json=system_record(hosts, taken, with_key=False))
        assert (response.status_code, response.json()["message"]) == (409, f"system {taken} already exists")
    for taken in (app_id, deleted_app):
        response = mallory.call("POST", "/v3/apps", json={**app_record(hosts, taken, system_id), "version": "2"})
        assert response.status_code == 403 and ALICE not in response.text, response.text
        assert response.json()["message"] == f"app {taken} already exists; only its owner may add versions"
