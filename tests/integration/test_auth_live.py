"""The login and token attacks against the running API (uvicorn, its own process), with clients nobody here
wrote (tapipy, requests); tests/api/test_auth_hardening.py covers the same rules in detail in-process."""

from __future__ import annotations

import uuid

import pytest
import requests

from tests.integration.conftest import ADMIN_PASSWORD, api_user, tapis_client

pytestmark = [pytest.mark.ssh]


def _token(base_url: str, username: str, password: str) -> requests.Response:
    return requests.post(f"{base_url}/v3/oauth2/tokens", timeout=30,
                         json={"username": username, "password": password, "grant_type": "password"})


def test_password_guessing_is_throttled_with_retry_after_and_others_still_log_in(api_server):
    victim, bystander = f"victim_{uuid.uuid4().hex[:6]}", f"bystander_{uuid.uuid4().hex[:6]}"
    password, other = api_user(victim), api_user(bystander)
    answers = [_token(api_server, victim, f"guess-{n}") for n in range(8)]
    assert {a.status_code for a in answers[:5]} == {401}
    throttled = answers[-1]
    assert throttled.status_code == 429 and int(throttled.headers["Retry-After"]) > 0
    assert _token(api_server, victim, password).status_code == 429  # even the right password, for a while
    assert tapis_client(api_server, bystander, other).access_token  # tapipy, another user: unaffected
    unknown = [_token(api_server, f"ghost_{uuid.uuid4().hex[:6]}", "x").status_code for _ in range(2)]
    assert unknown == [401, 401]  # an unknown name answers as a wrong password


def test_a_re_created_users_old_token_is_refused_by_the_running_api(api_server):
    username = f"recreated_{uuid.uuid4().hex[:6]}"
    client = tapis_client(api_server, username, api_user(username))
    old = client.access_token.access_token
    headers = {"X-Tapis-Token": old}
    assert requests.get(f"{api_server}/v3/oauth2/userinfo", headers=headers, timeout=30).status_code == 200
    admin = _token(api_server, "admin", ADMIN_PASSWORD).json()["result"]["access_token"]["access_token"]
    gone = requests.delete(f"{api_server}/api/v1/user", json={"username": username}, timeout=30,
                           headers={"Authorization": f"Bearer {admin}"})
    assert gone.status_code == 200, gone.text
    api_user(username)  # the same name again, within the same second
    assert requests.get(f"{api_server}/v3/oauth2/userinfo", headers=headers, timeout=30).status_code == 401


def test_json_nested_too_deep_is_a_400_through_uvicorn(api_server):
    username = f"deep_{uuid.uuid4().hex[:6]}"
    token = tapis_client(api_server, username, api_user(username)).access_token.access_token
    body = '{"id": "deep", "notes": ' + "[" * 400 + "]" * 400 + "}"
    answer = requests.post(f"{api_server}/v3/systems", data=body, timeout=30,
                           headers={"X-Tapis-Token": token, "Content-Type": "application/json"})
    assert answer.status_code == 400 and "deep" in answer.json()["message"]
