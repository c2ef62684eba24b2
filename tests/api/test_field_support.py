"""Every request field is acted on or refused, through the HTTP API on the real database (issue 16, item 7):
a refused field set is a 400 naming it with its path, an unknown field a 400 naming it, a refused field at
Tapis' default is accepted, and what a GET shows goes back through PUT. The CLI and the Python API share the
parsing (``services.catalog``, ``services.jobs.parse_request``): checked here through ``dlws_flow.client``."""

from __future__ import annotations

import uuid

import pytest
from fastapi.testclient import TestClient

from tests.api.test_job_semantics import HOST_KEY, RecordingDispatcher

USER = "fs_fay"
RUN = uuid.uuid4().hex[:6]
SYSTEM = f"fs-vm-{RUN}"


@pytest.fixture(scope="module")
def client():
    from api.app import create_app
    from api.dependencies import get_dispatcher
    from dlws_flow.services.auth import create_user

    app = create_app()
    app.dependency_overrides[get_dispatcher] = RecordingDispatcher
    with TestClient(app) as test_client:
        create_user(USER, f"{USER}-password", replace=True)
        yield test_client


@pytest.fixture(scope="module")
def headers(client) -> dict[str, str]:
    from dlws_flow.services.auth import get_user, issue_token

    return {"X-Tapis-Token": issue_token(get_user(USER))["access_token"]}


def system_def(system_id: str, **fields) -> dict:
    return {"id": system_id, "systemType": "LINUX", "host": "127.0.0.1", "effectiveUserId": "hpc", "canExec": True,
            "defaultAuthnMethod": "PKI_KEYS", "rootDir": "/home/hpc", "jobWorkingDir": "/work", "hostKey": HOST_KEY,
            **fields}


def app_def(app_id: str, **fields) -> dict:
    return {"id": app_id, "version": "1", "runtime": "SINGULARITY", "containerImage": "/img.sif",
            "jobAttributes": {"execSystemId": SYSTEM}, **fields}


@pytest.fixture(scope="module")
def app_id(client, headers) -> str:
    assert client.post("/v3/systems", json=system_def(SYSTEM), headers=headers).status_code == 201
    app_id = f"fs-app-{RUN}"
    response = client.post("/v3/apps", json=app_def(app_id), headers=headers)
    assert response.status_code == 201, response.text
    return app_id


def refused(response, *words: str) -> str:
    assert response.status_code == 400, response.text
    message = response.json()["message"]
    for word in words:
        assert word in message, message
    return message


@pytest.mark.parametrize(("fields", "words"), [
    ({"bucketName": "b"}, ("bucketName: not supported here", "S3")),
    ({"useProxy": True, "proxyHost": "10.0.0.1"}, ("useProxy: not supported here",)),
    ({"dtnSystemId": "dtn"}, ("dtnSystemId: not supported here",)),
    ({"jobCapabilities": [{"category": "OS", "name": "x", "datatype": "STRING"}]}, ("jobCapabilities: not supported",)),
    ({"jobRuntimes": [{"runtimeType": "SINGULARITY", "version": "3.7"}]}, ("jobRuntimes[0].version: not supported",)),
    ({"systemType": "S3"}, ("systemType", "not supported")),
    ({"hostkey": HOST_KEY}, ("hostkey: unknown field",)),
    ({"batchLogicalQueues": [{"name": "q", "hpcQueueName": "debug", "priority": 3}]},
     ("batchLogicalQueues[0].priority: unknown field",)),
    ({"owner": "somebody_else"}, ("owner", "changeOwner")),
])
def test_a_system_with_a_field_we_do_not_act_on_is_refused_naming_it(client, headers, fields, words):
    response = client.post("/v3/systems", json=system_def(f"fs-bad-{uuid.uuid4().hex[:6]}", **fields), headers=headers)
    refused(response, "invalid system" if "owner" not in fields else "owner", *words)


@pytest.mark.parametrize(("fields", "words"), [
    ({"runtimeVersion": "3.7"}, ("runtimeVersion: not supported here",)),
    ({"maxJobs": 5}, ("maxJobs: not supported here", "jobMaxJobs")),
    ({"versionEnabled": False}, ("versionEnabled: not supported here",)),
    ({"jobAttributes": {"execSystemId": SYSTEM, "dtnSystemInputDir": "/dtn"}},
     ("jobAttributes.dtnSystemInputDir: not supported here", "DTN")),
    ({"jobAttributes": {"execSystemId": SYSTEM, "archiveMode": "NEVER"}}, ("jobAttributes.archiveMode: not supported",)),
    ({"jobAttributes": {"fileInputs": [{"name": "in", "targetPath": "in", "autoMountLocal": False}]}},
     ("jobAttributes.fileInputs[0].autoMountLocal: not supported",)),
    ({"jobAttributes": {"parameterSet": {"appArgs": [{"name": "a", "arg": "x", "inputmode": "FIXED"}]}}},
     ("jobAttributes.parameterSet.appArgs[0].inputmode: unknown field",)),
    ({"containerimage": "/other.sif"}, ("containerimage: unknown field",)),
])
def test_an_app_with_a_field_we_do_not_act_on_is_refused_naming_it(client, headers, app_id, fields, words):
    response = client.post("/v3/apps", json=app_def(f"fs-bad-{uuid.uuid4().hex[:6]}", **fields), headers=headers)
    refused(response, "invalid app", *words)


@pytest.mark.parametrize(("fields", "words"), [
    ({"dtnSystemOutputDir": "/dtn/out"}, ("dtnSystemOutputDir: not supported here",)),
    ({"dynamicExecSystem": True}, ("dynamicExecSystem: not supported here",)),
    ({"execSystemConstraints": ["Cores >= 4"]}, ("execSystemConstraints: not supported here",)),
    ({"fileInputs": [{"name": "in", "sourceUrl": "tapislocal://exec.tapis/x", "autoMountLocal": False}]},
     ("fileInputs[0].autoMountLocal: not supported",)),
    ({"parameterSet": {"appArgs": [{"arg": "x", "inputMode": "FIXED"}]}},
     ("parameterSet.appArgs[0].inputMode", "set by the app")),
    ({"parameterSet": {"envVariable": [{"key": "A", "value": "1"}]}}, ("parameterSet.envVariable: unknown field",)),
    ({"subscriptions": [{"eventCategoryFilter": "ALL", "deliveryTargets": [
        {"deliveryMethod": "EMAIL", "deliveryAddress": "a@example.org", "format": "html"}]}]},
     ("subscriptions[0].deliveryTargets[0].format: unknown field",)),
    ({"owner": "somebody_else"}, ("owner", "not you")),
    ({"tenant": "other-tenant"}, ("tenant", "not this deployment's tenant")),
])
def test_a_job_request_with_a_field_we_do_not_act_on_is_refused_naming_it(client, headers, app_id, fields, words):
    response = client.post("/v3/jobs/submit", json={"name": "fs", "appId": app_id, "appVersion": "1", **fields},
                           headers=headers)
    refused(response, *words)


def test_defaults_of_refused_fields_are_accepted_as_tapis_users_send_them(client, headers, app_id):
    system = system_def(f"fs-def-{RUN}", useProxy=False, allowChildren=False, enabled=True, jobCapabilities=[],
                        bucketName="", authnCredential={"password": "pw", "accessKey": ""})
    response = client.post("/v3/systems", json=system, headers=headers)
    assert response.status_code == 201, response.text
    assert not {"useProxy", "allowChildren", "jobCapabilities", "bucketName"} & set(response.json()["result"])
    app = app_def(f"fs-def-{RUN}", versionEnabled=True, maxJobs=-1, maxJobsPerUser=-1, runtimeVersion=None,
                  jobAttributes={"execSystemId": SYSTEM, "dynamicExecSystem": False, "execSystemConstraints": [],
                                 "isMpi": False, "dtnSystemInputDir": "!tapis_not_set", "subscriptions": [],
                                 "fileInputs": [{"name": "in", "targetPath": "in", "autoMountLocal": True}]})
    response = client.post("/v3/apps", json=app, headers=headers)
    assert response.status_code == 201, response.text
    assert "versionEnabled" not in response.json()["result"]
    job = {"name": "fs", "appId": app_id, "appVersion": "1", "isMpi": False, "dynamicExecSystem": False,
           "execSystemConstraints": [], "subscriptions": [], "owner": USER}
    response = client.post("/v3/jobs/submit", json=job, headers=headers)
    assert response.status_code == 200, response.text


def test_what_a_get_shows_goes_back_through_put(client, headers, app_id):
    view = client.get(f"/v3/systems/{SYSTEM}", headers=headers).json()["result"]
    assert {"created", "updated", "tenant", "deleted", "hostKeyFingerprint"} <= set(view)
    response = client.put(f"/v3/systems/{SYSTEM}", json={**view, "description": "changed"}, headers=headers)
    assert response.status_code == 200, response.text
    assert client.get(f"/v3/systems/{SYSTEM}", headers=headers).json()["result"]["description"] == "changed"
    app_view = client.get(f"/v3/apps/{app_id}/1", headers=headers).json()["result"]
    response = client.put(f"/v3/apps/{app_id}/1", json={**app_view, "description": "changed", "uuid": "x",
                                                        "isPublic": False, "sharedWithUsers": []}, headers=headers)
    assert response.status_code == 200, response.text
    app_view = client.get(f"/v3/apps/{app_id}/1", headers=headers).json()["result"]
    assert app_view["description"] == "changed" and "uuid" not in app_view
    response = client.patch(f"/v3/apps/{app_id}/1", json={"runtimeVersion": "3.7"}, headers=headers)
    refused(response, "runtimeVersion: not supported here")


def test_the_python_api_and_the_cli_refuse_the_same_fields(client, app_id):
    from dlws_flow import client as api
    from dlws_flow.errors import ValidationError

    with pytest.raises(ValidationError, match=r"invalid app: jobAttributes\.dtnSystemInputDir: not supported here"):
        api.add_app(app_def(f"fs-py-{RUN}", jobAttributes={"dtnSystemInputDir": "/dtn"}))
    with pytest.raises(ValidationError, match="invalid system: hostkey: unknown field"):
        api.add_system(system_def(f"fs-py-{RUN}", hostkey=HOST_KEY))
    with pytest.raises(ValidationError, match="invalid job request: dtnSystemInputDir: not supported here"):
        api.submit_job({"name": "fs", "appId": app_id, "appVersion": "1", "dtnSystemInputDir": "/dtn"})
