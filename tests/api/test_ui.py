"""The dashboard's pages and its login, through the app as a browser calls it (cookies, forms, redirects): no
hosts (the jobs here are never launched; tests/integration/test_dashboard.py drives a browser at real ones)."""

from __future__ import annotations

import re
import uuid

import pytest
from fastapi.testclient import TestClient

from tests.api.test_families import HOST_KEY, RecordingDispatcher

PASSWORD = "ui-password-1"


@pytest.fixture(scope="module")
def dispatcher() -> RecordingDispatcher:
    return RecordingDispatcher()


@pytest.fixture(scope="module")
def app(dispatcher):
    from api.app import create_app
    from api.dependencies import get_dispatcher

    app = create_app()
    app.dependency_overrides[get_dispatcher] = lambda: dispatcher
    with TestClient(app):
        yield app


@pytest.fixture(scope="module")
def world(app, dispatcher):
    from dlws_flow.services import apps, jobs, systems
    from dlws_flow.services.auth import create_user

    alice = create_user("ui_alice", PASSWORD, replace=True)
    create_user("ui_bob", PASSWORD, replace=True)
    suffix = uuid.uuid4().hex[:6]
    systems.create(alice, {"id": f"ui-vm-{suffix}", "systemType": "LINUX", "host": "127.0.0.1", "effectiveUserId": "u",
                           "defaultAuthnMethod": "PKI_KEYS", "canExec": True, "rootDir": "/home/u", "jobWorkingDir": "/w",
                           "notes": {"hostKey": HOST_KEY}})
    apps.create(alice, {"id": f"ui-app-{suffix}", "version": "1", "runtime": "SINGULARITY", "containerImage": "/i.sif",
                        "jobAttributes": {"execSystemId": f"ui-vm-{suffix}"}})
    job = jobs.submit({"name": "ui <b>job</b>", "appId": f"ui-app-{suffix}", "appVersion": "1"}, dispatcher,
                      principal=alice)
    return {"job": job["uuid"], "system": f"ui-vm-{suffix}", "app": f"ui-app-{suffix}"}


def browser(app) -> TestClient:
    return TestClient(app, base_url="http://testserver", follow_redirects=False)


def sign_in(app, username: str = "ui_alice", password: str = PASSWORD, next: str = "/ui") -> TestClient:
    client = browser(app)
    form = client.get("/ui/login")
    nonce = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)
    response = client.post("/ui/login", data={"username": username, "password": password, "csrf": nonce, "next": next})
    client.last = response
    return client


def csrf_of(page: str) -> str:
    return re.search(r'"X-CSRF-Token": "([0-9a-f]+)"', page).group(1)


def test_every_page_asks_for_a_login_and_every_action_refuses_without_one(app, world):
    client = browser(app)
    for path in ("/ui", "/ui/jobs", f"/ui/jobs/{world['job']}", "/ui/systems", "/ui/apps", "/ui/vcs", "/ui/sweeps",
                 f"/ui/jobs/{world['job']}/live", "/ui/overview/live"):
        response = client.get(path)
        assert response.status_code == 303 and response.headers["location"].startswith("/ui/login?next="), path
    for path in (f"/ui/jobs/{world['job']}/cancel", f"/ui/systems/{world['system']}/disable", "/ui/logout"):
        assert client.post(path).status_code == 401, path
    assert client.get("/ui/jobs/rows", headers={"HX-Request": "true"}).headers["HX-Redirect"] == "/ui/login"


def test_signing_in_sets_a_cookie_scripts_cannot_read_and_the_api_never_takes(app, world):
    wrong = sign_in(app, password="not-it")
    assert wrong.last.status_code == 401 and "wrong user name or password" in wrong.last.text
    assert "dlws_session" not in wrong.cookies
    client = sign_in(app, next="https://evil.example/steal")
    assert client.last.status_code == 303 and client.last.headers["location"] == "/ui"  # never another site
    cookie = client.last.headers["set-cookie"]
    assert "dlws_session=" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/ui" in cookie
    token = client.cookies["dlws_session"]
    assert token not in client.last.headers["location"]
    # The API routes take bearer tokens only: the session cookie alone is no credential there.
    assert client.get("/v3/jobs/list", cookies={"dlws_session": token}).status_code == 401
    # A sign-in form posted without its own nonce (from another site, say) is refused.
    assert browser(app).post("/ui/login", data={"username": "ui_alice", "password": PASSWORD, "csrf": "x"}).status_code == 403


def test_the_pages_show_the_users_jobs_escaped_and_hide_other_users_jobs(app, world):
    alice = sign_in(app)
    listing = alice.get("/ui/jobs", params={"app": world["app"]})
    assert listing.status_code == 200 and world["job"] in listing.text
    assert "ui &lt;b&gt;job&lt;/b&gt;" in listing.text and "<b>job</b>" not in listing.text
    assert world["job"] not in alice.get("/ui/jobs", params={"status": "FINISHED", "app": world["app"]}).text
    assert alice.get("/ui/jobs", params={"status": "NOPE"}).status_code == 400
    page = alice.get(f"/ui/jobs/{world['job']}")
    assert page.status_code == 200 and "PENDING" in page.text and "has no outputs yet" in page.text
    for path in ("/ui", "/ui/systems", "/ui/apps", "/ui/vcs", "/ui/sweeps", "/ui/overview/live"):
        assert alice.get(path).status_code == 200, path
    assert world["system"] in alice.get("/ui/systems").text
    bob = sign_in(app, "ui_bob")
    assert bob.get(f"/ui/jobs/{world['job']}").status_code == 404
    assert world["job"] not in bob.get("/ui/jobs").text


def test_an_action_needs_the_sessions_csrf_token(app, world, dispatcher):
    from dlws_flow.services import jobs

    client = sign_in(app)
    csrf = csrf_of(client.get("/ui/jobs").text)
    target = world["job"]
    assert client.post(f"/ui/jobs/{target}/cancel").status_code == 403
    assert client.post(f"/ui/jobs/{target}/cancel", headers={"X-CSRF-Token": "0" * 64}).status_code == 403
    assert jobs.get(target)["status"] == "PENDING"
    other = sign_in(app)  # another session's token is not this one's
    assert other.post(f"/ui/jobs/{target}/cancel", data={"csrf": csrf}).status_code == 403
    done = client.post(f"/ui/jobs/{target}/cancel", data={"csrf": csrf})
    assert done.status_code == 303 and done.headers["location"] == f"/ui/jobs/{target}"
    assert jobs.get(target)["status"] == "CANCELLED"
    bob = sign_in(app, "ui_bob")
    bob_csrf = csrf_of(bob.get("/ui").text)
    assert bob.post(f"/ui/systems/{world['system']}/disable", headers={"X-CSRF-Token": bob_csrf}).status_code == 404


def test_signing_out_ends_the_token_not_just_the_cookie(app, world):
    client = sign_in(app)
    token = client.cookies["dlws_session"]
    csrf = csrf_of(client.get("/ui").text)
    assert client.post("/ui/logout", data={"csrf": csrf}).status_code == 303
    replayed = browser(app)
    replayed.cookies.set("dlws_session", token)
    answer = replayed.get("/ui")
    assert answer.status_code == 303 and "why=ended" in answer.headers["location"]
    assert browser(app).get("/v3/jobs/list", headers={"Authorization": f"Bearer {token}"}).status_code == 401  # revoked


def test_pages_cannot_be_framed_or_cached_and_the_login_says_only_its_own_words(app, world):
    client = sign_in(app)
    page = client.get("/ui/jobs")
    assert page.headers["X-Frame-Options"] == "DENY" and "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    assert page.headers["Cache-Control"] == "no-store"
    form = browser(app).get("/ui/login", params={"why": "Your account is locked: call +1 555 0100"})
    assert "555" not in form.text
    assert "Sign in to use the dashboard." in browser(app).get("/ui/login", params={"why": "required"}).text
