"""Tokens another Tapis service can verify, and the token routes Tapis users script against.

A token we sign verifies with the tenant's published public key and PyJWT alone; forged ones (HS256, the
public key used as an HMAC secret, another key pair, no signature) are refused; refresh tokens work once;
revoked tokens are refused everywhere; the token route takes forms as OAuth2 clients send them; and tapipy's
own ``get_tokens`` / ``refresh_tokens`` work against a real HTTP server.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import threading
import time
import uuid

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi.testclient import TestClient

PASSWORD = "rs256-password-1"


@pytest.fixture(scope="module")
def app():
    from api.app import create_app

    application = create_app()
    with TestClient(application):  # the lifespan: migration, admin, throttle settings
        yield application


@pytest.fixture
def client(app) -> TestClient:
    return TestClient(app, client=(f"198.18.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250 + 1}", 50000))


def make_user(prefix: str = "rs", admin: bool = False) -> str:
    from dlws_flow.services.auth import create_user

    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    create_user(name, PASSWORD, admin=admin)
    return name


def login(client: TestClient, username: str, **body) -> dict:
    response = client.post("/v3/oauth2/tokens", json={"username": username, "password": PASSWORD, **body})
    assert response.status_code == 201, response.text
    return response.json()["result"]


def whoami(client: TestClient, token: str):
    return client.get("/v3/oauth2/userinfo", headers={"X-Tapis-Token": token})


def public_key(client: TestClient) -> str:
    from dlws_flow.settings import get_settings

    return client.get(f"/v3/tenants/{get_settings().tenant}").json()["result"]["public_key"]


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_a_token_verifies_with_the_published_public_key_and_pyjwt_alone(client):
    from dlws_flow.settings import get_settings

    name = make_user()
    result = login(client, name)
    access, refresh = result["access_token"], result["refresh_token"]
    assert set(access) == {"access_token", "expires_at", "expires_in", "jti"}
    assert set(refresh) == {"refresh_token", "expires_at", "expires_in", "jti"}
    pem = public_key(client)
    assert pem.startswith("-----BEGIN PUBLIC KEY-----")
    assert client.get("/v3/tenants").json()["result"][0]["public_key"] == pem
    claims = jwt.decode(access["access_token"], pem, algorithms=["RS256"])
    tenant = get_settings().tenant
    assert claims["iss"] == f"{get_settings().api_base_url.rstrip('/')}/v3/tokens"
    assert claims["sub"] == f"{name}@{tenant}" and claims["jti"] == access["jti"]
    assert (claims["tapis/tenant_id"], claims["tapis/username"]) == (tenant, name)
    assert (claims["tapis/token_type"], claims["tapis/account_type"]) == ("access", "user")
    assert claims["exp"] - claims["iat"] == access["expires_in"] == 4 * 3600
    assert jwt.decode(refresh["refresh_token"], pem, algorithms=["RS256"])["tapis/token_type"] == "refresh"


def test_forged_tokens_are_refused(client):
    name = make_user("forge")
    genuine = login(client, name)["access_token"]["access_token"]
    claims = jwt.decode(genuine, options={"verify_signature": False})
    pem = public_key(client)
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    kid = jwt.get_unverified_header(genuine)["kid"]
    header = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": kid}).encode())
    body = b64(json.dumps(claims).encode())
    # The public key used as an HMAC secret (the classic algorithm confusion); PyJWT would not sign it.
    confused = f"{header}.{body}." + b64(hmac.new(pem.encode(), f"{header}.{body}".encode(), hashlib.sha256).digest())
    unsigned = b64(json.dumps({"alg": "none", "typ": "JWT"}).encode()) + f".{body}."
    forged = [jwt.encode(claims, "a-guessed-secret-long-enough-for-sha256", algorithm="HS256"), confused, unsigned,
              jwt.encode(claims, other_key, algorithm="RS256", headers={"kid": kid}),
              jwt.encode(claims, other_key, algorithm="RS256")]
    for token in forged:
        response = whoami(client, token)
        assert response.status_code == 401, response.text
        assert response.json()["message"] == "the access token is not valid"
    assert whoami(client, genuine).status_code == 200


def test_refresh_gives_new_tokens_once_and_a_reused_refresh_token_ends_its_chain(client):
    name = make_user("refresh")
    first = login(client, name, access_token_ttl=600)
    again = client.post("/v3/oauth2/tokens", json={"grant_type": "refresh_token",
                                                    "refresh_token": first["refresh_token"]["refresh_token"]})
    assert again.status_code == 201, again.text
    second = again.json()["result"]
    assert second["access_token"]["expires_in"] == 600  # the login's lifetime, kept
    assert whoami(client, second["access_token"]["access_token"]).json()["result"]["username"] == name
    third = client.put("/v3/tokens", json={"refresh_token": second["refresh_token"]["refresh_token"]})
    assert third.status_code == 201, third.text
    assert set(third.json()["result"]) == {"access_token", "refresh_token"}
    newest = third.json()["result"]["refresh_token"]["refresh_token"]
    # The first one again: refused, and with it every refresh token of the login (a copy is in other hands).
    reused = client.put("/v3/tokens", json={"refresh_token": first["refresh_token"]["refresh_token"]})
    assert reused.status_code == 401 and "used already" in reused.json()["message"]
    assert client.put("/v3/tokens", json={"refresh_token": newest}).status_code == 401
    assert whoami(client, second["access_token"]["access_token"]).status_code == 200  # access tokens live on


def test_a_refresh_token_is_no_access_token_and_an_access_token_refreshes_nothing(client):
    tokens = login(client, make_user("types"))
    response = whoami(client, tokens["refresh_token"]["refresh_token"])
    assert response.status_code == 401 and "refresh token" in response.json()["message"]
    response = client.put("/v3/tokens", json={"refresh_token": tokens["access_token"]["access_token"]})
    assert response.status_code == 401


def test_a_password_change_ends_refresh_tokens_too(client):
    from dlws_flow.services.auth import set_password

    name = make_user("pwchange")
    refresh = login(client, name)["refresh_token"]["refresh_token"]
    set_password(name, "rs256-password-2")
    response = client.put("/v3/tokens", json={"refresh_token": refresh})
    assert response.status_code == 401 and response.json()["message"] == "the refresh token is no longer valid"


@pytest.mark.parametrize("route", ["/v3/oauth2/tokens/revoke", "/v3/tokens/revoke"])
def test_revoked_access_and_refresh_tokens_are_refused(client, route):
    tokens = login(client, make_user("revoke"))
    access, refresh = tokens["access_token"]["access_token"], tokens["refresh_token"]["refresh_token"]
    # Holding the token is enough: no other credential is sent; form or JSON.
    response = client.post(route, data={"token": access})
    assert response.status_code == 200 and response.json()["message"] == "the access token is revoked"
    refused = whoami(client, access)
    assert refused.status_code == 401 and refused.json()["message"] == "the access token has been revoked"
    assert client.get("/v3/systems", headers={"X-Tapis-Token": access}).status_code == 401
    assert client.post(route, json={"token": access}).status_code == 200  # again: nothing changes
    assert client.post(route, json={"token": refresh}).json()["message"] == "the refresh token is revoked"
    assert client.put("/v3/tokens", json={"refresh_token": refresh}).status_code == 401
    forged = jwt.encode(jwt.decode(access, options={"verify_signature": False}), "a-secret-long-enough-for-hmac-sha256", algorithm="HS256")
    assert client.post(route, json={"token": forged}).status_code == 400  # no jti of someone else's choosing
    assert client.post(route, json={}).status_code == 400


def test_a_revocation_made_by_another_process_applies_once_the_cache_expires(client, monkeypatch):
    from datetime import UTC, datetime, timedelta

    from dlws_flow.services import tokens
    from dlws_flow.settings import get_settings
    from dlws_flow.store import repositories as repo
    from dlws_flow.store.db import session_scope

    access = login(client, make_user("elsewhere"))["access_token"]
    assert whoami(client, access["access_token"]).status_code == 200  # the revoked set is fresh now
    with session_scope() as session:  # what another API process does
        repo.add_revoked_token(session, access["jti"], datetime.now(UTC) + timedelta(hours=1))
    later = time.monotonic() + get_settings().auth_cache_seconds + 1
    monkeypatch.setattr(tokens._revoked, "clock", lambda: later)
    assert whoami(client, access["access_token"]).status_code == 401


def test_form_bodies_and_refused_fields(client):
    name = make_user("form")
    response = client.post("/v3/oauth2/tokens", data={"grant_type": "password", "username": name,
                                                      "password": PASSWORD, "access_token_ttl": "120"})
    assert response.status_code == 201 and response.json()["result"]["access_token"]["expires_in"] == 120
    refresh = response.json()["result"]["refresh_token"]["refresh_token"]
    for body, field in (({"username": name, "password": PASSWORD, "scope": "all"}, "scope"),
                        ({"username": name, "password": PASSWORD, "client_id": "cli"}, "client_id"),
                        ({"grant_type": "authorization_code", "code": "x"}, "code"),
                        ({"grant_type": "device_code"}, "grant_type"),
                        ({"grant_type": "refresh_token", "refresh_token": refresh, "username": name}, "username"),
                        ({"username": name, "password": PASSWORD, "refresh_token": refresh}, "refresh_token"),
                        ({"username": name, "password": PASSWORD, "access_token_ttl": "soon"}, "access_token_ttl")):
        for send in ({"data": body}, {"json": body}):
            answer = client.post("/v3/oauth2/tokens", **send)
            assert answer.status_code == 400 and answer.json()["message"].startswith(field), (send, answer.text)
    assert client.post("/v3/oauth2/tokens", data={"grant_type": "refresh_token",
                                                  "refresh_token": refresh}).status_code == 201


def test_userinfo_and_profiles(client):
    user, admin = make_user("prof"), make_user("profadm", admin=True)
    user_token = login(client, user)["access_token"]["access_token"]
    admin_token = login(client, admin)["access_token"]["access_token"]
    mine, theirs = {"X-Tapis-Token": user_token}, {"X-Tapis-Token": admin_token}
    assert whoami(client, user_token).json()["result"]["username"] == user
    assert [p["username"] for p in client.get("/v3/oauth2/profiles", headers=mine).json()["result"]] == [user]
    assert client.get(f"/v3/oauth2/profiles/{user}", headers=mine).json()["result"]["username"] == user
    assert client.get(f"/v3/oauth2/profiles/{admin}", headers=mine).status_code == 404  # as for nobody
    assert client.get("/v3/oauth2/profiles/nobody_here", headers=mine).status_code == 404
    everyone = [p["username"] for p in client.get("/v3/oauth2/profiles", headers=theirs).json()["result"]]
    assert {user, admin} <= set(everyone)
    assert client.get(f"/v3/oauth2/profiles/{user}", headers=theirs).json()["result"]["admin"] is False
    page = client.get("/v3/oauth2/profiles", headers=theirs, params={"limit": 1, "offset": 1}).json()["result"]
    assert [p["username"] for p in page] == everyone[1:2]


def test_server_metadata_and_health(client):
    from dlws_flow.services.tokens import issuer

    metadata = client.get("/v3/oauth2/.well-known/oauth-authorization-server").json()["result"]
    assert metadata["issuer"] == issuer() and metadata["grant_types_supported"] == ["password", "refresh_token"]
    assert metadata["token_endpoint"].endswith("/v3/oauth2/tokens")
    for path in ("/v3/oauth2/hello", "/v3/oauth2/ready", "/v3/tokens/hello", "/v3/tokens/ready"):
        response = client.get(path)
        assert response.status_code == 200 and response.json()["status"] == "success", path


def test_rotating_the_keys_refuses_every_earlier_token(client, monkeypatch):
    from dlws_flow.settings import get_settings

    monkeypatch.setattr(get_settings(), "tenant", f"rot{uuid.uuid4().hex[:6]}")  # the shared tenant keeps its key
    admin, user = make_user("rotadm", admin=True), make_user("rotusr")
    admin_token = login(client, admin)["access_token"]["access_token"]
    user_tokens = login(client, user)
    old_key = public_key(client)
    refused = client.put("/v3/tokens/keys", json={}, headers={"X-Tapis-Token": user_tokens["access_token"]["access_token"]})
    assert refused.status_code == 403
    headers = {"X-Tapis-Token": admin_token}
    assert client.put("/v3/tokens/keys", json={"tenant_id": "elsewhere"}, headers=headers).status_code == 404
    response = client.put("/v3/tokens/keys", json={"tenant_id": get_settings().tenant}, headers=headers)
    assert response.status_code == 201, response.text
    new_key = response.json()["result"]["public_key"]
    assert new_key != old_key and public_key(client) == new_key
    assert whoami(client, admin_token).status_code == 401
    assert whoami(client, user_tokens["access_token"]["access_token"]).status_code == 401
    assert client.put("/v3/tokens", json={"refresh_token": user_tokens["refresh_token"]["refresh_token"]}).status_code == 401
    fresh = login(client, user)["access_token"]["access_token"]
    assert jwt.decode(fresh, new_key, algorithms=["RS256"])["tapis/username"] == user


def test_processes_needing_a_key_at_once_end_with_one_pair(app):
    from dlws_flow.services import signing_keys

    tenant, count = f"race{uuid.uuid4().hex[:6]}", 8
    barrier, keys, errors = threading.Barrier(count), [], []

    def first_need() -> None:
        barrier.wait()
        try:
            keys.append(signing_keys.signing_key(tenant).public_pem)
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=first_need) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and len(keys) == count and len(set(keys)) == 1


@pytest.fixture(scope="module")
def live_server(app):
    """The app behind a real uvicorn on a free port, in a thread (tapipy speaks HTTP, not to a TestClient)."""
    import uvicorn

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.01)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def test_tapipy_gets_and_refreshes_tokens(live_server):
    from tapipy.tapis import Tapis

    name = make_user("tapipy")
    # tapipy refreshes only with client credentials set; there are no OAuth2 clients here to check them.
    client = Tapis(base_url=live_server, username=name, password=PASSWORD, client_id="cli", client_key="key")
    client.get_tokens()
    first = client.access_token.access_token
    assert client.access_token.claims["tapis/username"] == name
    assert client.access_token.expires_in().total_seconds() > 3600  # expires_at parsed from the claims
    assert client.refresh_token.claims["tapis/token_type"] == "refresh"  # verified with the published key
    client.refresh_tokens()
    assert client.access_token.access_token != first
    assert client.authenticator.get_userinfo().username == name
