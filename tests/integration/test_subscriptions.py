"""Job subscriptions end to end: the real API (uvicorn), a real Celery worker, the SSH test host and real
webhook servers. Every status change after PENDING reaches every subscriber, in order, even through a
webhook that fails its first POSTs (retried with backoff)."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import httpx
import pytest

from tests.integration.conftest import api_password, api_user, script_args, wait_for, wait_status
from tests.store.test_outbox import Hook

pytestmark = [pytest.mark.ssh]

# Read by the worker process the session fixture starts after collection: keep retries quick here.
os.environ["DLWS_NOTIFY_RETRY_BASE"] = "0.2"

USER = "subs_user"


@pytest.fixture(scope="module")
def api(api_server):
    password = api_user(USER)
    token = httpx.post(f"{api_server}/v3/oauth2/tokens", json={"username": USER, "password": password,
                                                               "grant_type": "password"}).json()
    client = httpx.Client(base_url=api_server, headers={"X-Tapis-Token": token["result"]["access_token"]["access_token"]},
                          timeout=30)
    yield client
    client.close()


@pytest.fixture(scope="module")
def app_id(api, hosts):
    from dlws_flow.services import apps, systems
    from dlws_flow.services.auth import get_user

    principal = get_user(USER)
    system_id, app_id = f"subs-vm-{uuid.uuid4().hex[:6]}", f"subs-app-{uuid.uuid4().hex[:6]}"
    systems.create(principal, {
        "id": system_id, "host": hosts["DLWS_TEST_SSH_HOST"], "port": int(hosts["DLWS_TEST_SSH_PORT"]),
        "effectiveUserId": hosts["DLWS_TEST_SSH_USER"], "defaultAuthnMethod": "PKI_KEYS", "rootDir": "/home/hpcuser",
        "jobWorkingDir": "/workdir", "canExec": True, "hostKey": hosts["DLWS_TEST_SSH_HOST_KEY"],
        "authnCredential": {"privateKey": Path(hosts["DLWS_TEST_SSH_KEY"]).read_text()}})
    apps.create(principal, {"id": app_id, "version": "1.0", "runtime": "SINGULARITY", "containerImage": hosts["DLWS_TEST_SIF"],
                            "jobAttributes": {"execSystemId": system_id, "maxMinutes": 5}})
    return app_id


def webhook(url: str, category: str = "JOB_NEW_STATUS") -> dict:
    return {"eventCategoryFilter": category, "deliveryTargets": [{"deliveryMethod": "WEBHOOK", "deliveryAddress": url}]}


def statuses(hook: Hook) -> list[str]:
    return [json.loads(body["event"]["data"])["newJobStatus"] for body in hook.bodies
            if body["event"]["type"].startswith("jobs.JOB_NEW_STATUS.")]


def test_webhooks_receive_every_status_in_order(api, app_id):
    steady, flaky, late = Hook(), Hook(fail=2), Hook()
    try:
        response = api.post("/v3/jobs/submit", json={
            "name": "subscribed", "appId": app_id, "appVersion": "1.0", "parameterSet": script_args("sleep 2; echo done"),
            "subscriptions": [webhook(steady.url), webhook(flaky.url, "ALL")]})
        assert response.status_code == 200, response.text
        job_uuid = response.json()["result"]["uuid"]

        created = api.post(f"/v3/jobs/subscribe/{job_uuid}", json=webhook(late.url))
        assert created.status_code == 200, created.text
        late_uuid = created.json()["result"]["url"].rsplit("/", 1)[-1]
        listed = api.get(f"/v3/jobs/subscribe/{job_uuid}").json()["result"]
        assert len(listed) == 3 and late_uuid in {s["uuid"] for s in listed}
        assert {s["typeFilter"] for s in listed} == {"jobs.JOB_NEW_STATUS.*", "jobs.*.*"}

        assert wait_status(job_uuid, {"FINISHED", "FAILED", "CANCELLED"})["status"] == "FINISHED"
        history = api.get(f"/v3/jobs/{job_uuid}/history").json()["result"]
        expected = [e["newStatus"] for e in history if e["event"] == "JOB_NEW_STATUS"][1:]  # after PENDING
        assert expected[-1] == "FINISHED" and "RUNNING" in expected

        for hook in (steady, flaky, late):
            wait_for(lambda hook=hook: "FINISHED" in statuses(hook), f"FINISHED at {hook.url}", timeout=60)
        assert statuses(steady) == expected
        assert statuses(flaky) == expected  # two HTTP 500s first, then everything, in order
        # Subscribed while the job ran: a contiguous tail of the same sequence.
        assert statuses(late) == expected[len(expected) - len(statuses(late)):]
        body = steady.bodies[-1]
        assert body["event"]["subject"] == body["event"]["seriesId"] == job_uuid
        assert body["event"]["type"] == "jobs.JOB_NEW_STATUS.FINISHED"
        assert body["event"]["deleteSubscriptionsMatchingSubject"] is True

        deleted = api.delete(f"/v3/jobs/subscribe/{late_uuid}")
        assert deleted.json()["result"] == {"changes": 1}
        assert len(api.get(f"/v3/jobs/subscribe/{job_uuid}").json()["result"]) == 2
        assert api.delete(f"/v3/jobs/subscribe/{job_uuid}").json()["result"] == {"changes": 2}
    finally:
        for hook in (steady, flaky, late):
            hook.close()


def test_bad_subscriptions_are_refused(api, app_id):
    response = api.post("/v3/jobs/submit", json={"name": "bad-sub", "appId": app_id, "appVersion": "1.0",
                                                 "subscriptions": [webhook("file:///etc/passwd")]})
    assert response.status_code == 400 and "http(s) URL" in response.json()["message"]
    other = api.post("/v3/jobs/subscribe/no-such-job", json=webhook("http://127.0.0.1:9/x"))
    assert other.status_code == 404


def test_tapipy_subscribe_list_delete_and_the_mail_arrives(api, api_server, app_id, mail_server):
    from tapipy.tapis import Tapis

    client = Tapis(base_url=api_server, username=USER, password=api_password(USER))
    client.get_tokens()
    job = client.jobs.submitJob(name="tapipy-sub", appId=app_id, appVersion="1.0", parameterSet=script_args("true"))
    address = f"someone-{job.uuid[:8]}@example.org"
    created = client.jobs.subscribe(jobUuid=job.uuid, description="via tapipy", enabled=True, ttlminutes=60,
                                    eventCategoryFilter="JOB_NEW_STATUS",
                                    deliveryTargets=[{"deliveryMethod": "EMAIL", "deliveryAddress": address}])
    subscription_uuid = created.url.rsplit("/", 1)[-1]
    listed = client.jobs.getSubscriptions(jobUuid=job.uuid)
    assert [s.uuid for s in listed] == [subscription_uuid] and listed[0].ttlMinutes == 60 and listed[0].expiry
    wait_status(job.uuid, {"FINISHED", "FAILED", "CANCELLED"})
    # The deployed worker mails each new status through the test SMTP server (STARTTLS, login), in order.
    mails = mail_server.messages_to(address, until=lambda found: any("is FINISHED" in m["Subject"] for m in found))
    assert all(m["Subject"].startswith("[dlws-flow] job tapipy-sub is ") for m in mails)
    assert f"/ui/jobs/{job.uuid}" in mails[-1].get_content() and mails[-1]["Subject"].endswith("FINISHED")
    assert client.jobs.deleteSubscriptions(uuid=subscription_uuid).changes == 1
