"""Host keys trusted on first use, on the real database through the API (no hosts: the keys a host would show
are handed to the engine's pin as the SSH pool hands them): a system without ``hostKey`` is accepted, the
first key is pinned once (compare-and-set) with a system and a job event, another key is refused and offered,
and only the owner (or an admin) accepts it. ``DLWS_HOST_KEY_TRUST=strict`` refuses keyless systems.
tests/integration/test_host_key_trust.py does the same against a real sshd whose key is replaced."""

from __future__ import annotations

import uuid

import pytest
from fastapi.testclient import TestClient

from dlws_flow.domain.host_keys import fingerprint

KEY_1 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOKDFfyMMM5ORnm92TcBX9Etl7a52d6xv5p+3U6VJtT5"
KEY_2 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIL5kiTrvCiUDt+hhMjmJ7hdKEAZqpLI+Dny1C09xTucr"
OWNER, READER, EDITOR, STRANGER, ADMIN = "hk_olga", "hk_rita", "hk_mona", "hk_bob", "hk_adam"


@pytest.fixture(scope="module")
def client():
    from api.app import create_app
    from dlws_flow.services.auth import create_user

    with TestClient(create_app()) as test_client:
        for name in (OWNER, READER, EDITOR, STRANGER, ADMIN):
            create_user(name, f"{name}-password", admin=name == ADMIN, replace=True)
        yield test_client


def as_user(username: str) -> dict[str, str]:
    from dlws_flow.services.auth import get_user, issue_token

    return {"X-Tapis-Token": issue_token(get_user(username))["access_token"]}


def new_system(client, **fields) -> str:
    """A Tapis system as Tapis' documentation writes it (no hostKey), rita with READ, mona with MODIFY."""
    system_id = f"hk-{uuid.uuid4().hex[:8]}"
    record = {"id": system_id, "systemType": "LINUX", "host": "192.0.2.10", "effectiveUserId": "hpc",
              "defaultAuthnMethod": "PASSWORD", "canExec": True, "rootDir": "/home/hpc", "jobWorkingDir": "/work",
              "authnCredential": {"password": "olga-pw"}, **fields}
    response = client.post("/v3/systems", json=record, headers=as_user(OWNER))
    assert response.status_code == 201, response.text
    for user, permissions in ((READER, ["READ"]), (EDITOR, ["READ", "MODIFY"])):
        assert client.post(f"/v3/systems/perms/{system_id}/user/{user}", json={"permissions": permissions},
                           headers=as_user(OWNER)).status_code == 200
    return system_id


def view(client, system_id: str) -> dict:
    response = client.get(f"/v3/systems/{system_id}", headers=as_user(OWNER))
    assert response.status_code == 200, response.text
    return response.json()["result"]


def history(client, system_id: str, user: str = OWNER) -> list[dict]:
    """The host key entries of the system's history, as {operation: HOST_KEY_*, ...}: Tapis' OperationTypeEnum
    has no such names, so they are MODIFY entries whose description starts with the event."""
    response = client.get(f"/v3/systems/{system_id}/history", headers=as_user(user))
    assert response.status_code == 200, response.text
    entries = [e for e in response.json()["result"] if e["description"].startswith("HOST_KEY_")]
    assert all(e["operation"] == "MODIFY" for e in entries)
    return [{**e, "operation": e["description"].split(":", 1)[0]} for e in entries]


def pins(system_id: str, job_uuid: str | None = None):
    """The trust the engine gives a transport to the system (as a stage of ``job_uuid`` opens it)."""
    from contextlib import nullcontext

    from dlws_flow.engine.hosts import first_connection_of, open_transport
    from dlws_flow.store import repositories as repo
    from dlws_flow.store.db import session_scope

    with session_scope() as session, first_connection_of(job_uuid) if job_uuid else nullcontext():
        transport = open_transport(session, repo.system_spec(repo.get_system(session, system_id)), OWNER)
    assert transport.target.host_key is None  # nothing pinned yet: the connection would trust on first use
    return transport.trust


def a_job_on(system_id: str) -> str:
    from dlws_flow.store import repositories as repo
    from dlws_flow.store.db import session_scope
    from dlws_flow.store.models import JobRow, utcnow

    job_uuid = f"{uuid.uuid4()}-007"
    with session_scope() as session:
        repo.insert_job(session, JobRow(uuid=job_uuid, name="j", owner=OWNER, tenant="dlws", status="STAGING_INPUTS",
                                        app_id="a", app_version="1", job_type="FORK", exec_system_id=system_id,
                                        archive_system_id=system_id, request={}, spec={}, created=utcnow(),
                                        last_updated=utcnow(), visible=True))
    return job_uuid


def test_a_system_without_host_key_is_accepted_and_pinned_at_its_first_connection(client):
    from dlws_flow.services import jobs

    system_id = new_system(client)
    shown = view(client, system_id)
    # No value is no field: the Tapis documents have no nullable fields (api.envelope.without_nulls).
    assert {"hostKey", "hostKeyFingerprint", "hostKeyOffered"}.isdisjoint(shown)
    job_uuid = a_job_on(system_id)
    late = pins(system_id)  # another transport, opened before the first connection pinned the key
    pins(system_id, job_uuid).first_use(KEY_1)
    assert view(client, system_id)["hostKeyFingerprint"] == fingerprint(KEY_1)
    [event] = history(client, system_id, READER)
    assert event["operation"] == "HOST_KEY_PINNED" and fingerprint(KEY_1) in event["description"]
    assert job_uuid in event["description"] and event["jwtUser"] == OWNER
    [job_event] = [e for e in jobs.history(job_uuid) if e["event"] == "JOB_HOST_KEY_PINNED"]
    assert fingerprint(KEY_1) in job_event["description"] and system_id in job_event["description"]

    # The same key again (another worker's first connection, a transport opened before the pin): nothing new.
    late.first_use(KEY_1)
    assert len(history(client, system_id)) == 1
    from dlws_flow.engine.hosts import open_transport
    from dlws_flow.store import repositories as repo
    from dlws_flow.store.db import session_scope

    with session_scope() as session:  # transports opened from now on must see the pinned key
        transport = open_transport(session, repo.system_spec(repo.get_system(session, system_id)), OWNER)
    assert transport.target.host_key == KEY_1


def test_the_pin_is_a_compare_and_set(client):
    from dlws_flow.errors import HostKeyMismatchError
    from dlws_flow.store import repositories as repo
    from dlws_flow.store.db import session_scope

    system_id = new_system(client)
    first, second = pins(system_id), pins(system_id)  # two first connections racing
    with session_scope() as session:
        assert repo.pin_host_key(session, system_id, KEY_1) is True
        assert repo.pin_host_key(session, system_id, KEY_2) is False
        assert repo.host_key_of(session, system_id) == (KEY_1, None)
        session.rollback()
    first.first_use(KEY_1)
    with pytest.raises(HostKeyMismatchError) as refused:
        second.first_use(KEY_2)  # its host showed another key than the one the first pinned
    assert fingerprint(KEY_1) in str(refused.value) and fingerprint(KEY_2) in str(refused.value)
    shown = view(client, system_id)
    assert shown["hostKeyFingerprint"] == fingerprint(KEY_1) and shown["hostKeyOffered"] == fingerprint(KEY_2)
    assert [e["operation"] for e in history(client, system_id)] == ["HOST_KEY_PINNED", "HOST_KEY_CHANGED"]


def test_a_changed_key_is_refused_naming_both_and_accepted_by_the_owner_only(client):
    system_id = new_system(client)
    trust = pins(system_id)
    trust.first_use(KEY_1)
    error = trust.changed(KEY_1, KEY_2)
    message = str(error)
    assert "host key" in message and "changed" in message
    assert fingerprint(KEY_1) in message and fingerprint(KEY_2) in message
    assert f"POST /v3/systems/{system_id}/hostKey/accept" in message
    assert f"dlws-flow systems accept-host-key {system_id} --fingerprint {fingerprint(KEY_2)}" in message
    trust.changed(KEY_1, KEY_2)  # the next job refused the same way: one history entry for the offer

    url = f"/v3/systems/{system_id}/hostKey/accept"
    assert client.post(url, headers=as_user(STRANGER)).status_code == 404
    for user in (READER, EDITOR):
        response = client.post(url, headers=as_user(user))
        assert response.status_code == 403 and "only the owner" in response.json()["message"]
    response = client.post(url, json={"fingerprint": fingerprint(KEY_1)}, headers=as_user(OWNER))
    assert response.status_code == 409 and fingerprint(KEY_2) in response.json()["message"]
    response = client.post(url, json={"fingerprint": "SHA256:short"}, headers=as_user(OWNER))
    assert response.status_code == 400 and "fingerprint" in response.json()["message"]
    response = client.post(url, json={"fingerprint": fingerprint(KEY_2), "key": KEY_2}, headers=as_user(OWNER))
    assert response.status_code == 400 and "key" in response.json()["message"]
    assert view(client, system_id)["hostKeyFingerprint"] == fingerprint(KEY_1)

    response = client.post(url, json={"fingerprint": fingerprint(KEY_2)}, headers=as_user(OWNER))
    assert response.status_code == 200, response.text
    assert response.json()["result"] == {"systemId": system_id, "hostKeyFingerprint": fingerprint(KEY_2),
                                         "previousFingerprint": fingerprint(KEY_1)}
    shown = view(client, system_id)
    assert shown["hostKeyFingerprint"] == fingerprint(KEY_2) and "hostKeyOffered" not in shown
    assert [e["operation"] for e in history(client, system_id)] == ["HOST_KEY_PINNED", "HOST_KEY_CHANGED",
                                                                    "HOST_KEY_ACCEPTED"]
    assert client.post(url, headers=as_user(OWNER)).status_code == 404  # nothing offered any more


def test_an_admin_accepts_without_a_fingerprint_and_a_given_key_is_replaced_too(client):
    system_id = new_system(client, hostKey=KEY_1)
    pins_given = view(client, system_id)
    assert pins_given["hostKey"] == KEY_1 and pins_given["hostKeyFingerprint"] == fingerprint(KEY_1)
    from dlws_flow.engine.hosts import HostKeyPins
    from dlws_flow.store import repositories as repo
    from dlws_flow.store.db import session_scope

    with session_scope() as session:
        spec = repo.system_spec(repo.get_system(session, system_id))
    HostKeyPins(spec, OWNER, None).changed(KEY_1, KEY_2)
    response = client.post(f"/v3/systems/{system_id}/hostKey/accept", headers=as_user(ADMIN))
    assert response.status_code == 200, response.text
    shown = view(client, system_id)
    assert shown["hostKey"] == KEY_2 and shown["hostKeyFingerprint"] == fingerprint(KEY_2)
    # A later patch of another field keeps the accepted key (it starts from the record, which holds it now).
    assert client.patch(f"/v3/systems/{system_id}", json={"description": "x"}, headers=as_user(OWNER)).status_code == 200
    assert view(client, system_id)["hostKeyFingerprint"] == fingerprint(KEY_2)


def test_changing_other_fields_keeps_the_pin_and_a_new_host_is_trusted_anew(client):
    system_id = new_system(client)
    pins(system_id).first_use(KEY_1)
    # A grantee with MODIFY changes what is theirs to change: the pinned key is no field of the record.
    response = client.patch(f"/v3/systems/{system_id}", json={"description": "by mona"}, headers=as_user(EDITOR))
    assert response.status_code == 200, response.text
    record = {k: v for k, v in view(client, system_id).items() if k not in ("created", "updated", "tenant", "deleted")}
    assert client.put(f"/v3/systems/{system_id}", json=record, headers=as_user(OWNER)).status_code == 200
    assert view(client, system_id)["hostKeyFingerprint"] == fingerprint(KEY_1)
    # The fingerprints are the view's, never stored from a request.
    from dlws_flow.store import repositories as repo
    from dlws_flow.store.db import session_scope

    with session_scope() as session:
        assert "hostKeyFingerprint" not in repo.get_system(session, system_id).spec
    response = client.patch(f"/v3/systems/{system_id}", json={"host": "192.0.2.11"}, headers=as_user(OWNER))
    assert response.status_code == 200, response.text
    assert "hostKeyFingerprint" not in view(client, system_id)  # another host: its first connection pins anew


def test_strict_refuses_a_system_without_host_key(client, monkeypatch):
    from dlws_flow import add_system
    from dlws_flow.errors import ValidationError
    from dlws_flow.settings import reset_settings_cache

    pinned = new_system(client)
    pins(pinned).first_use(KEY_1)
    unpinned = new_system(client)
    monkeypatch.setenv("DLWS_HOST_KEY_TRUST", "strict")
    reset_settings_cache()
    try:
        record = {"id": f"hk-{uuid.uuid4().hex[:8]}", "host": "192.0.2.10", "effectiveUserId": "hpc", "canExec": True}
        response = client.post("/v3/systems", json=record, headers=as_user(OWNER))
        assert response.status_code == 400 and "hostKey" in response.json()["message"]
        assert "DLWS_HOST_KEY_TRUST=strict" in response.json()["message"]
        with pytest.raises(ValidationError, match="hostKey is required"):
            add_system(record)
        assert client.post("/v3/systems", json={**record, "hostKey": KEY_1}, headers=as_user(OWNER)).status_code == 201
        # A system pinned before keeps working and may be changed; one never connected is refused at work.
        assert client.patch(f"/v3/systems/{pinned}", json={"description": "x"}, headers=as_user(OWNER)).status_code == 200
        from dlws_flow.errors import ConfigurationError

        with pytest.raises(ConfigurationError, match="DLWS_HOST_KEY_TRUST=strict"):
            pins(unpinned)
    finally:
        monkeypatch.delenv("DLWS_HOST_KEY_TRUST")
        reset_settings_cache()


def test_the_cli_accepts_the_offered_key(client):
    import os
    import subprocess
    import sys

    system_id = new_system(client)
    trust = pins(system_id)
    trust.first_use(KEY_1)
    trust.changed(KEY_1, KEY_2)

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "dlws_flow.cli", "systems", "accept-host-key", system_id, *args],
                              capture_output=True, text=True, env=os.environ, timeout=120)

    refused = cli("--fingerprint", fingerprint(KEY_1))
    assert refused.returncode == 1 and fingerprint(KEY_2) in refused.stderr, refused.stderr
    assert view(client, system_id)["hostKeyFingerprint"] == fingerprint(KEY_1)
    accepted = cli("--fingerprint", fingerprint(KEY_2))
    assert accepted.returncode == 0, accepted.stderr
    assert fingerprint(KEY_2) in " ".join(accepted.stdout.split())
    assert view(client, system_id)["hostKeyFingerprint"] == fingerprint(KEY_2)
    assert cli().returncode == 3  # nothing offered any more
