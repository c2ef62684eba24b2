"""The rules that keep a system's logins its owner's, through the API on the real database (no hosts):
what deleting, re-creating and giving a system away do to its stored credentials and grants, which stored
login a user's work is given (``engine.hosts``), and the record fields only the owner may change."""

from __future__ import annotations

import uuid

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOKDFfyMMM5ORnm92TcBX9Etl7a52d6xv5p+3U6VJtT5"
OWNER, OTHER, GRANTEE, ADMIN = "sec_olga", "sec_otto", "sec_gina", "sec_adam"


@pytest.fixture(scope="module")
def client():
    from api.app import create_app
    from dlws_flow.services.auth import create_user

    with TestClient(create_app()) as test_client:  # its startup brings the database's tables up
        for name in (OWNER, OTHER, GRANTEE, ADMIN):
            create_user(name, f"{name}-password", admin=name == ADMIN, replace=True)
        yield test_client


def as_user(username: str) -> dict[str, str]:
    from dlws_flow.services.auth import get_user, issue_token

    return {"X-Tapis-Token": issue_token(get_user(username))["access_token"]}


def principal(username: str):
    from dlws_flow.services.auth import get_user

    return get_user(username)


def system_def(system_id: str, **fields) -> dict:
    return {"id": system_id, "systemType": "LINUX", "host": "127.0.0.1", "effectiveUserId": "hpc", "canExec": True,
            "rootDir": "/home/hpc", "jobWorkingDir": "/work", "hostKey": HOST_KEY, **fields}


def new_system(client, **fields) -> str:
    """A system of OWNER's with her login stored, GRANTEE holding MODIFY and EXECUTE, and a file grant."""
    system_id = f"sec-{uuid.uuid4().hex[:8]}"
    response = client.post("/v3/systems", json=system_def(system_id, authnCredential={"password": "olga-pw"}, **fields),
                           headers=as_user(OWNER))
    assert response.status_code == 201, response.text
    assert client.post(f"/v3/systems/perms/{system_id}/user/{GRANTEE}", json={"permissions": ["MODIFY", "EXECUTE"]},
                       headers=as_user(OWNER)).status_code == 200
    assert client.post(f"/v3/files/permissions/{system_id}/shared", json={"username": GRANTEE, "permission": "READ"},
                       headers=as_user(OWNER)).status_code == 200
    assert client.post(f"/v3/systems/credential/{system_id}/user/{GRANTEE}", json={"password": "gina-pw"},
                       headers=as_user(GRANTEE)).status_code == 200
    return system_id


def logins(system_id: str) -> list[str]:
    from dlws_flow.store.db import session_scope
    from dlws_flow.store.models import CredentialRow

    with session_scope() as session:
        return sorted(session.scalars(select(CredentialRow.username).where(CredentialRow.system_id == system_id)))


def grants(kind: str, resource_id: str) -> list[tuple[str, str]]:
    from dlws_flow.store.db import session_scope
    from dlws_flow.store.models import GrantRow

    with session_scope() as session:
        return sorted(session.execute(select(GrantRow.username, GrantRow.permission)
                                      .where(GrantRow.kind == kind, GrantRow.resource_id == resource_id)).all())


def credential_used(system_id: str, username: str) -> str | None:
    """The password of the stored login ``username``'s work on the system would use."""
    from dlws_flow import secrets
    from dlws_flow.engine.hosts import credential_for
    from dlws_flow.store import repositories as repo
    from dlws_flow.store.db import session_scope

    with session_scope() as session:
        found = credential_for(session, repo.system_spec(repo.get_system(session, system_id)), username)
        return secrets.decrypt(found.password) if found else None


# --- deleting, re-creating, giving away ------------------------------------------------------------------


def test_deleting_a_system_removes_every_users_login_and_undeleting_brings_none_back(client):
    system_id = new_system(client)
    assert logins(system_id) == sorted([OWNER, GRANTEE])
    assert client.post(f"/v3/systems/{system_id}/delete", headers=as_user(OWNER)).status_code == 200
    assert logins(system_id) == []
    assert client.post(f"/v3/systems/{system_id}/undelete", headers=as_user(OWNER)).status_code == 200
    assert logins(system_id) == []
    assert grants("system", system_id)  # Tapis keeps grants for an undelete; only the logins went


def test_only_the_owner_or_an_admin_re_creates_a_deleted_id_and_it_starts_clean(client):
    system_id = new_system(client)
    assert client.post(f"/v3/systems/{system_id}/delete", headers=as_user(OWNER)).status_code == 200
    for user in (OTHER, GRANTEE):
        response = client.post("/v3/systems", json=system_def(system_id, authnCredential={"password": "x"}),
                               headers=as_user(user))
        assert (response.status_code, response.json()["message"]) == (409, f"system {system_id} already exists")
        assert client.post(f"/v3/systems/{system_id}/undelete", headers=as_user(user)).status_code == 404
    assert logins(system_id) == []

    response = client.post("/v3/systems", json=system_def(system_id), headers=as_user(OWNER))
    assert response.status_code == 201, response.text
    assert logins(system_id) == [] and grants("system", system_id) == [] and grants("file", system_id) == []
    assert client.get(f"/v3/systems/{system_id}", headers=as_user(GRANTEE)).status_code == 404

    assert client.post(f"/v3/systems/{system_id}/delete", headers=as_user(OWNER)).status_code == 200
    response = client.post("/v3/systems", json=system_def(system_id), headers=as_user(ADMIN))
    assert response.status_code == 201, response.text
    assert client.get(f"/v3/systems/{system_id}", headers=as_user(ADMIN)).json()["result"]["owner"] == ADMIN


def test_an_operator_re_registering_a_deleted_id_gets_none_of_its_old_logins(client):
    """``dlws-flow systems add --replace`` (catalog.add_system) on a deleted id: a new record, no old logins."""
    from dlws_flow.services import catalog

    system_id = new_system(client)
    assert client.post(f"/v3/systems/{system_id}/delete", headers=as_user(OWNER)).status_code == 200
    catalog.add_system(system_def(system_id), owner=OTHER, replace=True)
    assert logins(system_id) == [] and grants("system", system_id) == [] and grants("file", system_id) == []
    assert credential_used(system_id, OTHER) is None


def test_giving_a_system_away_removes_its_logins_and_grants(client):
    system_id = new_system(client)
    response = client.post(f"/v3/systems/{system_id}/changeOwner/{OTHER}", headers=as_user(OWNER))
    assert response.status_code == 200 and response.json()["result"]["changes"] == 1
    assert logins(system_id) == [] and grants("system", system_id) == [] and grants("file", system_id) == []
    assert credential_used(system_id, OTHER) is None  # the new owner's jobs: none of the old owner's key
    for user in (OWNER, GRANTEE):
        assert client.get(f"/v3/systems/{system_id}", headers=as_user(user)).status_code == 404
    # Giving it to its owner changes nothing and removes nothing.
    assert client.post(f"/v3/systems/credential/{system_id}/user/{OTHER}", json={"password": "otto-pw"},
                       headers=as_user(OTHER)).status_code == 200
    response = client.post(f"/v3/systems/{system_id}/changeOwner/{OTHER}", headers=as_user(OTHER))
    assert response.status_code == 200 and response.json()["result"]["changes"] == 0
    assert logins(system_id) == [OTHER]


def test_a_job_without_a_usable_login_fails_naming_the_user_and_the_system(client):
    from dlws_flow.engine.hosts import open_transport
    from dlws_flow.errors import ConfigurationError
    from dlws_flow.store import repositories as repo
    from dlws_flow.store.db import session_scope

    system_id = new_system(client)
    assert client.post(f"/v3/systems/{system_id}/changeOwner/{OTHER}", headers=as_user(OWNER)).status_code == 200
    with session_scope() as session:
        spec = repo.system_spec(repo.get_system(session, system_id))
        with pytest.raises(ConfigurationError, match=f"no credential for user {OTHER} on system {system_id}"):
            open_transport(session, spec, OTHER)


# --- which stored login a user's work uses ---------------------------------------------------------------


def test_a_static_login_is_lent_by_the_current_owner_only(client):
    system_id = new_system(client)
    assert credential_used(system_id, GRANTEE) == "gina-pw"  # her own first
    assert credential_used(system_id, OTHER) == "olga-pw"  # no login of his own: the owner's shared one
    assert client.delete(f"/v3/systems/credential/{system_id}/user/{OWNER}", headers=as_user(OWNER)).status_code == 200
    assert credential_used(system_id, OTHER) is None


def test_on_an_api_user_id_system_each_user_logs_in_with_their_own_login_only(client):
    system_id = new_system(client, effectiveUserId="${apiUserId}")
    assert credential_used(system_id, GRANTEE) == "gina-pw"
    assert credential_used(system_id, OTHER) is None  # never the owner's key under another user's name
    assert credential_used(system_id, OWNER) == "olga-pw"


# --- fields only the owner (or an admin) changes ---------------------------------------------------------


@pytest.mark.parametrize("changes", [
    {"schedulerProfiles": [{"name": "p", "setupLines": ["touch ~/pwned"]}]},
    {"schedulerProfiles": [{"name": "p", "moduleLoads": [{"moduleLoadCommand": "sh -c", "modulesToLoad": ["id"]}]}]},
    {"batchSchedulerProfile": "p"},
    {"jobEnvVariables": [{"key": "PATH", "value": "/tmp/mine"}]},
    {"host": "198.51.100.7"}, {"port": 2200}, {"hostKey": HOST_KEY.replace("AAAAC3", "AAAAC4")},
    {"effectiveUserId": "root"}, {"rootDir": "/"}, {"mpiCmd": "sh -c id"}, {"enableCmdPrefix": True},
    {"notes": {"schedulerProfiles": [{"name": "p", "setupLines": ["id"]}]}},
], ids=lambda changes: ",".join(changes))
def test_a_grantee_may_not_change_what_runs_as_shell_or_where_the_owners_login_goes(client, changes):
    system_id = new_system(client)
    before = client.get(f"/v3/systems/{system_id}", headers=as_user(OWNER)).json()["result"]
    response = client.patch(f"/v3/systems/{system_id}", json=changes, headers=as_user(GRANTEE))
    assert response.status_code == 403, response.text
    assert response.json()["message"].startswith(f"only the owner of system {system_id} (or an admin) may change")
    assert client.get(f"/v3/systems/{system_id}", headers=as_user(OWNER)).json()["result"] == before
    for user in (OWNER, ADMIN):
        assert client.patch(f"/v3/systems/{system_id}", json=changes, headers=as_user(user)).status_code == 200


def test_a_grantee_sets_neither_the_owners_login_nor_anyone_elses(client):
    system_id = new_system(client)
    for method, body in (("PUT", system_def(system_id, authnCredential={"password": "gina-pw"})),
                         ("PATCH", {"authnCredential": {"password": "gina-pw"}})):
        response = client.request(method, f"/v3/systems/{system_id}", json=body, headers=as_user(GRANTEE))
        assert response.status_code == 403 and "may set its credential" in response.json()["message"], response.text
    for username in (OWNER, OTHER):
        response = client.post(f"/v3/systems/credential/{system_id}/user/{username}", json={"password": "gina-pw"},
                               headers=as_user(GRANTEE))
        assert response.status_code == 403 and "only their own credential" in response.json()["message"]
    assert credential_used(system_id, OWNER) == "olga-pw"
    # The record itself (what MODIFY is for) she may still replace, leaving the owner's fields as they are.
    response = client.put(f"/v3/systems/{system_id}", json=system_def(system_id, description="by gina"),
                          headers=as_user(GRANTEE))
    assert response.status_code == 200, response.text
    assert credential_used(system_id, OWNER) == "olga-pw"


def test_a_queue_name_that_would_end_the_sbatch_line_is_refused(client):
    queues = {"canRunBatch": True, "batchScheduler": "SLURM",
              "batchLogicalQueues": [{"name": "dev", "hpcQueueName": "debug\ntouch ~/pwned"}]}
    response = client.post("/v3/systems", json=system_def(f"sec-{uuid.uuid4().hex[:8]}", **queues), headers=as_user(OWNER))
    assert response.status_code == 400 and "hpcQueueName" in response.json()["message"], response.text
    system_id = new_system(client)
    response = client.patch(f"/v3/systems/{system_id}", json=queues, headers=as_user(OWNER))
    assert response.status_code == 400 and "hpcQueueName" in response.json()["message"], response.text


# --- who learns what -------------------------------------------------------------------------------------


def test_a_grantee_who_may_not_grant_learns_nothing_about_other_users(client):
    system_id = new_system(client)
    for username in (OTHER, "sec-no-such-user"):
        response = client.post(f"/v3/systems/perms/{system_id}/user/{username}", json={"permissions": ["READ"]},
                               headers=as_user(GRANTEE))
        assert response.status_code == 403, response.text
        response = client.post(f"/v3/systems/{system_id}/changeOwner/{username}", headers=as_user(GRANTEE))
        assert response.status_code == 403, response.text


def test_an_app_id_stays_its_owners_and_comes_back_without_its_old_shares(client):
    system_id = new_system(client)
    app_id = f"sec-app-{uuid.uuid4().hex[:8]}"
    app = {"id": app_id, "version": "1", "containerImage": "/img.sif", "jobAttributes": {"execSystemId": system_id}}
    assert client.post("/v3/apps", json=app, headers=as_user(OWNER)).status_code == 201
    assert client.post(f"/v3/apps/share/{app_id}", json={"users": [GRANTEE]}, headers=as_user(OWNER)).status_code == 200
    assert client.post(f"/v3/apps/{app_id}/delete", headers=as_user(OWNER)).status_code == 200
    response = client.post("/v3/apps", json=app, headers=as_user(OTHER))
    assert response.status_code == 403 and OWNER not in response.text, response.text
    assert client.post("/v3/apps", json=app, headers=as_user(OWNER)).status_code == 201
    assert grants("app", app_id) == []
    assert client.get(f"/v3/apps/{app_id}", headers=as_user(GRANTEE)).status_code == 404
    # Given away, every version goes, deleted ones too: the new owner may add versions.
    assert client.post(f"/v3/apps/{app_id}/changeOwner/{OTHER}", headers=as_user(OWNER)).status_code == 200
    assert client.post("/v3/apps", json={**app, "version": "2"}, headers=as_user(OTHER)).status_code == 201
    assert client.post("/v3/apps", json={**app, "version": "3"}, headers=as_user(OWNER)).status_code == 403
