"""Tapis Systems hostEval and checkUserCredential through the HTTP routes (FastAPI's TestClient), the host
side run in this process (``DirectFileGateway``) on the real SSH test host: a variable resolved for the
caller's login, a name that is not one refused before anything runs, a working and a refused credential."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

pytestmark = [pytest.mark.ssh, pytest.mark.once]

RUN = uuid.uuid4().hex[:6]
OWNER, USER, STRANGER = (f"sh_{name}_{RUN}" for name in ("owner", "user", "stranger"))
SYSTEM = f"sh-vm-{RUN}"


def wrong_key() -> str:
    """A well-formed private key the test host has never seen."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    return ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()).decode()


@pytest.fixture(scope="module")
def client(hosts):
    from api.app import create_app
    from api.dependencies import get_file_gateway
    from dlws_flow.services.auth import create_user
    from dlws_flow.services.file_ops import DirectFileGateway

    app = create_app()
    app.dependency_overrides[get_file_gateway] = DirectFileGateway
    with TestClient(app) as test_client:
        for name in (OWNER, USER, STRANGER):
            create_user(name, f"{name}-password", replace=True)
        system = {"id": SYSTEM, "systemType": "LINUX", "host": hosts["DLWS_TEST_SSH_HOST"],
                  "port": int(hosts["DLWS_TEST_SSH_PORT"]), "effectiveUserId": "${apiUserId}",
                  "defaultAuthnMethod": "PKI_KEYS", "rootDir": "/home/hpcuser", "canExec": True,
                  "hostKey": hosts["DLWS_TEST_SSH_HOST_KEY"]}
        assert test_client.post("/v3/systems", json=system, headers=auth(OWNER)).status_code == 201
        key = Path(hosts["DLWS_TEST_SSH_KEY"]).read_text()
        login = hosts["DLWS_TEST_SSH_USER"]
        for user, private_key in ((OWNER, key), (USER, wrong_key())):
            response = test_client.post(f"/v3/systems/credential/{SYSTEM}/user/{user}", headers=auth(user if user == OWNER else OWNER),
                                        json={"privateKey": private_key, "loginUser": login})
            assert response.status_code == 200, response.text
        response = test_client.post(f"/v3/systems/perms/{SYSTEM}/user/{USER}", headers=auth(OWNER),
                                    json={"permissions": ["READ", "EXECUTE"]})
        assert response.status_code == 200, response.text
        yield test_client


def auth(username: str) -> dict[str, str]:
    from dlws_flow.services.auth import get_user, issue_token

    return {"X-Tapis-Token": issue_token(get_user(username))["access_token"]}


def test_host_eval_resolves_a_variable_for_the_callers_login(client):
    response = client.get(f"/v3/systems/{SYSTEM}/hostEval/HOME", headers=auth(OWNER))
    assert response.status_code == 200, response.text
    assert response.json()["result"] == {"name": "/home/hpcuser"}
    unset = client.get(f"/v3/systems/{SYSTEM}/hostEval/DLWS_NOT_SET_{RUN}", headers=auth(OWNER))
    assert unset.status_code == 200 and unset.json()["result"] == {"name": ""}


@pytest.mark.parametrize("name", ["HOME;id", "1HOME", "HOME}$(id)", "A-B"])
def test_host_eval_refuses_what_is_no_variable_name(client, name):
    response = client.get(f"/v3/systems/{SYSTEM}/hostEval/{name}", headers=auth(OWNER))
    assert response.status_code == 400 and "envVarName" in response.json()["message"], response.text


def test_host_eval_needs_execute(client):
    assert client.get(f"/v3/systems/{SYSTEM}/hostEval/HOME", headers=auth(STRANGER)).status_code == 404


def test_check_user_credential_logs_in_with_that_users_own_credential(client):
    good = client.post(f"/v3/systems/credential/{SYSTEM}/user/{OWNER}/check", headers=auth(OWNER))
    assert good.status_code == 200 and good.json()["result"]["valid"] is True, good.text
    # USER's stored key is not one the host knows: refused, although the owner's would work.
    bad = client.post(f"/v3/systems/credential/{SYSTEM}/user/{USER}/check", headers=auth(USER))
    assert bad.status_code == 400 and "refused" in bad.json()["message"], bad.text
    other = client.post(f"/v3/systems/credential/{SYSTEM}/user/{OWNER}/check", headers=auth(USER))
    assert other.status_code == 403
    none = client.post(f"/v3/systems/credential/{SYSTEM}/user/{STRANGER}/check", headers=auth(OWNER))
    assert none.status_code == 404
