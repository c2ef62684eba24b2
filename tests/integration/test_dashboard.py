"""The dashboard in a real browser (Playwright driving Debian's Chromium) against the deployed API and worker:
a person submits jobs through the API, signs in, finds a job, watches its output arrive while it runs and its
history fill in, downloads an output, cancels another job from its page, does not see another user's job, and
reads the overview. `scripts/browser-up.sh` installs the browser; the screenshots of the job list and a job page
go to ``test-artifacts/`` (git-ignored)."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import httpx
import pytest

from tests.integration.conftest import api_user, script_args, wait_status

pytestmark = [pytest.mark.ssh, pytest.mark.once]
CHROMIUM = Path("/usr/bin/chromium")
USER, OTHER = "ui_person", "ui_stranger"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def own_app(principal, hosts, prefix: str) -> str:
    """A VM system and an app on the test host, owned by ``principal``; returns the app's id."""
    from dlws_flow.services import apps, systems

    system_id, app_id = f"{prefix}-vm-{uuid.uuid4().hex[:6]}", f"{prefix}-app-{uuid.uuid4().hex[:6]}"
    systems.create(principal, {
        "id": system_id, "host": hosts["DLWS_TEST_SSH_HOST"], "port": int(hosts["DLWS_TEST_SSH_PORT"]),
        "effectiveUserId": hosts["DLWS_TEST_SSH_USER"], "defaultAuthnMethod": "PKI_KEYS", "rootDir": "/home/hpcuser",
        "jobWorkingDir": "/workdir", "canExec": True, "hostKey": hosts["DLWS_TEST_SSH_HOST_KEY"],
        "authnCredential": {"privateKey": Path(hosts["DLWS_TEST_SSH_KEY"]).read_text()}})
    apps.create(principal, {"id": app_id, "version": "1.0", "runtime": "SINGULARITY",
                            "containerImage": hosts["DLWS_TEST_SIF"], "jobAttributes": {"execSystemId": system_id}})
    return app_id


@pytest.fixture(scope="module")
def person(api_server, hosts):
    from dlws_flow.services.auth import get_user

    password = api_user(USER)
    principal = get_user(USER)
    return {"url": api_server, "password": password, "principal": principal, "app": own_app(principal, hosts, "ui"),
            "token": token(api_server, USER, password)}


@pytest.fixture(scope="module")
def strangers_job(person, hosts):
    """A job of another user, on a system and app of their own."""
    from dlws_flow.services import jobs
    from dlws_flow.services.auth import get_user
    from workers.dispatch import CeleryDispatcher

    api_user(OTHER)
    principal = get_user(OTHER)
    return jobs.submit({"name": "strangers-secret-job", "appId": own_app(principal, hosts, "ui-other"),
                        "appVersion": "1.0", "parameterSet": script_args("true")}, CeleryDispatcher(),
                       principal=principal)["uuid"]


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.fail("Chromium is missing: run scripts/browser-up.sh (make test does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield chromium
        chromium.close()


def token(url: str, username: str, password: str) -> str:
    answer = httpx.post(f"{url}/v3/oauth2/tokens", json={"username": username, "password": password,
                                                        "grant_type": "password"})
    assert answer.status_code == 201, answer.text
    return answer.json()["result"]["access_token"]["access_token"]


def submit(person, name: str, script: str) -> str:
    """Through the API, as any Tapis client does."""
    answer = httpx.post(f"{person['url']}/v3/jobs/submit", headers={"X-Tapis-Token": person["token"]}, timeout=30,
                        json={"name": name, "appId": person["app"], "appVersion": "1.0", "parameterSet": script_args(script)})
    assert answer.status_code == 200, answer.text
    return answer.json()["result"]["uuid"]


def test_a_person_signs_in_follows_a_running_job_downloads_its_output_and_cancels_another(person, browser,
                                                                                         strangers_job):
    from playwright.sync_api import expect

    talker = submit(person, "ui-talker", 'for i in 1 2 3 4 5 6; do echo "line-$i"; sleep 1; done; echo done > "$_tapisExecSystemOutputDir/result.txt"')
    sleeper = submit(person, "ui-sleeper", "sleep 300")
    context = browser.new_context(base_url=person["url"], accept_downloads=True)
    page = context.new_page()
    page.goto("/ui/jobs")
    expect(page).to_have_url(re.compile(r"/ui/login\?next=%2Fui%2Fjobs"))
    page.fill("input[name=username]", USER)
    page.fill("input[name=password]", person["password"])
    page.click("button[type=submit]")
    expect(page).to_have_url(re.compile(r"/ui/jobs$"))
    assert page.evaluate("document.cookie") == ""  # the session cookie is HttpOnly: no script reads it

    expect(page.locator(f"tr[data-uuid='{talker}']")).to_be_visible()
    expect(page.locator(f"tr[data-uuid='{sleeper}']")).to_be_visible()
    expect(page.locator("table.jobs")).not_to_contain_text("strangers-secret-job")
    assert page.locator(f"tr[data-uuid='{strangers_job}']").count() == 0
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard-jobs.png"), full_page=True)
    page.click(f"tr[data-uuid='{talker}'] a")
    expect(page).to_have_url(re.compile(f"/ui/jobs/{talker}$"))
    # The output arrives while the job runs, then the page notices the end by itself.
    expect(page.locator("#output")).to_contain_text("line-2", timeout=60_000)
    expect(page.locator("#status")).to_contain_text("FINISHED", timeout=60_000)
    expect(page.locator("#output")).to_contain_text("line-6")
    expect(page.locator("#live .done")).to_be_visible()
    for state in ("PENDING", "STAGING_JOB", "RUNNING", "ARCHIVING", "FINISHED"):
        expect(page.locator(".timeline")).to_contain_text(state)
    page.reload()
    page.screenshot(path=str(ARTIFACTS / "dashboard-job.png"), full_page=True)
    with page.expect_download() as download:
        page.click("a:has-text('result.txt')")
    assert Path(download.value.path()).read_text() == "done\n"

    page.goto(f"/ui/jobs/{sleeper}")
    expect(page.locator("#status")).to_contain_text("RUNNING", timeout=60_000)
    page.click("#actions button:has-text('Cancel')")
    expect(page.locator("#status")).to_contain_text("CANCELLED", timeout=30_000)
    assert wait_status(sleeper, {"CANCELLED"}, timeout=30)["status"] == "CANCELLED"

    stranger = page.goto(f"/ui/jobs/{strangers_job}")
    assert stranger.status == 404 and "strangers-secret-job" not in page.content()

    page.goto("/ui")
    expect(page.locator("#figures")).to_contain_text("FINISHED")
    expect(page.locator("#figures")).to_contain_text("submit to running")
    page.click("button:has-text('Sign out')")
    expect(page).to_have_url(re.compile(r"/ui/login"))
    page.goto(f"/ui/jobs/{talker}")
    expect(page).to_have_url(re.compile(r"/ui/login"))
    context.close()
