"""The seed's Tapis flow, driven only through tapipy against our running server (uvicorn in its own process)."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest

from tests.integration.conftest import api_password, api_user, script_args, tapis_client

pytestmark = [pytest.mark.ssh]


@pytest.fixture(scope="module")
def owner(api_server):
    return tapis_client(api_server, "tapis_user", api_user("tapis_user"))


@pytest.fixture(scope="module")
def trainee(api_server):
    return tapis_client(api_server, "train301", api_user("train301"))


@pytest.fixture(scope="module")
def tapis_system(owner, hosts):
    system_id = f"tapipy-vm-{uuid.uuid4().hex[:6]}"
    owner.systems.createSystem(
        id=system_id, systemType="LINUX", host=hosts["DLWS_TEST_SSH_HOST"], port=int(hosts["DLWS_TEST_SSH_PORT"]),
        effectiveUserId=hosts["DLWS_TEST_SSH_USER"], defaultAuthnMethod="PKI_KEYS", rootDir="/home/hpcuser",
        jobWorkingDir="/workdir", canExec=True, authnCredential={"privateKey": Path(hosts["DLWS_TEST_SSH_KEY"]).read_text()},
        notes={"hostKey": hosts["DLWS_TEST_SSH_HOST_KEY"]})
    return system_id


@pytest.fixture(scope="module")
def tapis_app(owner, tapis_system, hosts):
    app_id = f"img-classify-{uuid.uuid4().hex[:6]}"
    owner.apps.createAppVersion(id=app_id, version="0.1", containerImage=hosts["DLWS_TEST_SIF"], runtime="SINGULARITY",
                                jobType="FORK", jobAttributes={"execSystemId": tapis_system, "maxMinutes": 5})
    return app_id


def wait_finished(client, job_uuid: str, timeout: float = 90.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = client.jobs.getJobStatus(jobUuid=job_uuid).status
        if status in ("FINISHED", "FAILED", "CANCELLED"):
            return status
        time.sleep(0.2)
    raise AssertionError(f"job {job_uuid} still {status}")


def test_seed_flow_through_tapipy(owner, tapis_system, tapis_app):
    job = owner.jobs.submitJob(name="img-classifier-job", appId=tapis_app, appVersion="0.1", execSystemId=tapis_system,
                               parameterSet=script_args('echo "classified by $_tapisJobOwner"'))
    assert wait_finished(owner, job.uuid) == "FINISHED"
    assert job.uuid in [j.uuid for j in owner.jobs.getJobList()]
    assert job.uuid in [j.uuid for j in owner.jobs.getJobSearchList(status="FINISHED", appId=tapis_app)]
    output = owner.jobs.getJobOutputDownload(jobUuid=job.uuid, outputPath="tapisjob.out")
    assert b"classified by tapis_user" in output
    history = [e.eventDetail for e in owner.jobs.getJobHistory(jobUuid=job.uuid)]
    assert history[0] == "PENDING" and history[-1] == "FINISHED"


def test_grants_change_what_another_user_can_do(owner, trainee, tapis_system, tapis_app, host_shell):
    from tapipy import errors

    host_shell("mkdir -p ~/workdir/shared-with-train301 ~/private && echo hi > ~/workdir/shared-with-train301/note.txt")
    with pytest.raises(errors.NotFoundError):
        trainee.systems.getSystem(systemId=tapis_system)

    owner.systems.grantUserPerms(systemId=tapis_system, userName="train301", permissions=["READ"])
    owner.files.grantPermissions(systemId=tapis_system, path="/workdir", username="train301", permission="READ")

    assert trainee.systems.getSystem(systemId=tapis_system).id == tapis_system
    assert "READ" in trainee.systems.getUserPerms(systemId=tapis_system, userName="train301").names
    listing = trainee.files.listFiles(systemId=tapis_system, path="/workdir/shared-with-train301")
    assert "note.txt" in [f.name for f in listing]
    with pytest.raises(errors.ForbiddenError):
        trainee.files.listFiles(systemId=tapis_system, path="/private")
    owner.apps.shareApp(appId=tapis_app, users=["train301"])  # the app is shared; the system is READ only
    with pytest.raises(errors.ForbiddenError, match="EXECUTE"):
        trainee.jobs.submitJob(name="not-allowed", appId=tapis_app, appVersion="0.1", execSystemId=tapis_system)

    owner.systems.revokeUserPerms(systemId=tapis_system, userName="train301", permissions=["READ"])
    with pytest.raises(errors.NotFoundError):
        trainee.systems.getSystem(systemId=tapis_system)


def test_another_users_job_is_hidden_until_shared(owner, trainee, tapis_system, tapis_app):
    from tapipy import errors

    job = owner.jobs.submitJob(name="private-job", appId=tapis_app, appVersion="0.1", execSystemId=tapis_system,
                               parameterSet=script_args("echo private"))
    with pytest.raises(errors.NotFoundError):
        trainee.jobs.getJob(jobUuid=job.uuid)
    assert job.uuid not in [j.uuid for j in trainee.jobs.getJobList()]
    owner.jobs.shareJob(jobUuid=job.uuid, grantee="train301", jobResource=["JOB_HISTORY"], jobPermission="READ")
    assert trainee.jobs.getJob(jobUuid=job.uuid).uuid == job.uuid
    with pytest.raises(errors.ForbiddenError):
        trainee.jobs.cancelJob(jobUuid=job.uuid)
    assert wait_finished(owner, job.uuid) == "FINISHED"


def test_python_client_over_http(api_server, owner, tapis_system, tapis_app):
    """dlws_flow.Client: the same calls as the in-process API, over HTTP, without tapipy."""
    from dlws_flow import Client

    with Client(api_server, "tapis_user", api_password("tapis_user")) as client:
        job = client.submit_job(name="client-job", appId=tapis_app, appVersion="0.1", execSystemId=tapis_system,
                                parameterSet=script_args("echo over http"))
        assert client.wait_for_job(job["uuid"], timeout=90)["status"] == "FINISHED"
        assert b"over http" in client.download_job_output(job["uuid"], "tapisjob.out")
        assert "tapisjob.out" in [entry["name"] for entry in client.list_job_outputs(job["uuid"])]
        assert [e["eventDetail"] for e in client.get_job_history(job["uuid"])][-1] == "FINISHED"
        assert job["uuid"] in [j["uuid"] for j in client.list_jobs(status=["FINISHED"])]
        assert tapis_system in [s["id"] for s in client.list_systems()]


def test_resubmit_hide_and_user_events(owner, tapis_system, tapis_app, host_shell):

    job = owner.jobs.submitJob(name="to-resubmit", appId=tapis_app, appVersion="0.1", execSystemId=tapis_system,
                               parameterSet=script_args("echo again"))
    assert wait_finished(owner, job.uuid) == "FINISHED"
    request = owner.jobs.getResubmitRequestJson(jobUuid=job.uuid)  # an object, as the document has it
    assert request.name == "to-resubmit" and request.appId == tapis_app
    again = owner.jobs.resubmitJob(jobUuid=job.uuid)
    assert again.uuid != job.uuid and wait_finished(owner, again.uuid) == "FINISHED"

    owner.jobs.hideJob(jobUuid=job.uuid)
    assert job.uuid not in [j.uuid for j in owner.jobs.getJobList()]
    owner.jobs.unhideJob(jobUuid=job.uuid)
    assert job.uuid in [j.uuid for j in owner.jobs.getJobList()]

    # User events go to a job that has not ended (Tapis: an ended job takes no more events).
    release = f"/home/hpcuser/release-events-{uuid.uuid4().hex[:8]}"
    running = owner.jobs.submitJob(name="with-events", appId=tapis_app, appVersion="0.1", execSystemId=tapis_system,
                                   parameterSet=script_args(f"while [ ! -e {release} ]; do sleep 0.2; done"))
    owner.jobs.sendEvent(jobUuid=running.uuid, eventData="checkpoint written")
    assert "checkpoint written" in [e.description for e in owner.jobs.getJobHistory(jobUuid=running.uuid)]
    host_shell(f"touch {release}")
    assert wait_finished(owner, running.uuid) == "FINISHED"
    from tapipy.errors import BadRequestError

    with pytest.raises(BadRequestError, match="has ended"):
        owner.jobs.sendEvent(jobUuid=job.uuid, eventData="too late")
    host_shell(f"rm -f {release}")
