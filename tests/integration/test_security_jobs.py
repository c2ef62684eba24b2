"""Attacks on archives, outputs, family tokens and job events, through the real API (tapipy and requests),
worker and sshd; each is refused.

alice owns a storage system (rootDir: a folder of her own on the test host) and shares READ on it with
mallory. mallory has an exec system and an app of her own on the same host.
"""

from __future__ import annotations

import io
import uuid
import zipfile
from pathlib import Path

import pytest
import requests

from tests.integration.conftest import api_user, script_args, tapis_client

pytestmark = [pytest.mark.ssh]
TOKEN = uuid.uuid4().hex[:6]
ALICE_ROOT = f"/home/hpcuser/alice-{TOKEN}"
ENDED = {"FINISHED", "FAILED", "CANCELLED"}


def _system(hosts: dict, system_id: str, root: str) -> dict:
    return {"id": system_id, "systemType": "LINUX", "host": hosts["DLWS_TEST_SSH_HOST"],
            "port": int(hosts["DLWS_TEST_SSH_PORT"]), "effectiveUserId": hosts["DLWS_TEST_SSH_USER"],
            "defaultAuthnMethod": "PKI_KEYS", "rootDir": root, "canExec": True,
            "authnCredential": {"privateKey": Path(hosts["DLWS_TEST_SSH_KEY"]).read_text()},
            "notes": {"hostKey": hosts["DLWS_TEST_SSH_HOST_KEY"]}}


@pytest.fixture(scope="module")
def alice(api_server):
    return tapis_client(api_server, f"alice_{TOKEN}", api_user(f"alice_{TOKEN}"))


@pytest.fixture(scope="module")
def mallory(api_server):
    return tapis_client(api_server, f"mallory_{TOKEN}", api_user(f"mallory_{TOKEN}"))


@pytest.fixture(scope="module")
def stores(alice, mallory, hosts, host_shell):
    """alice's storage system (READ shared with mallory) and mallory's own exec system and app."""
    host_shell(f"mkdir -p {ALICE_ROOT}/.ssh {ALICE_ROOT}/shared/out {ALICE_ROOT}.outside "
               f"&& echo alice-private > {ALICE_ROOT}/private.txt "
               f"&& echo alice-in-out > {ALICE_ROOT}/shared/out/alice-secret.txt "
               f"&& ln -s {ALICE_ROOT}.outside {ALICE_ROOT}/shared/link-out")
    store, vm, app = f"alice-store-{TOKEN}", f"mallory-vm-{TOKEN}", f"mallory-app-{TOKEN}"
    alice.systems.createSystem(**_system(hosts, store, ALICE_ROOT))
    alice.systems.grantUserPerms(systemId=store, userName=f"mallory_{TOKEN}", permissions=["READ"])
    alice.files.grantPermissions(systemId=store, path="/shared", username=f"mallory_{TOKEN}", permission="MODIFY")
    mallory.systems.createSystem(**{**_system(hosts, vm, f"/home/hpcuser/mallory-{TOKEN}"), "jobWorkingDir": "/work"})
    host_shell(f"mkdir -p /home/hpcuser/mallory-{TOKEN}")
    mallory.apps.createAppVersion(id=app, version="1.0", containerImage=hosts["DLWS_TEST_SIF"], runtime="SINGULARITY",
                                  jobAttributes={"execSystemId": vm})
    yield {"store": store, "vm": vm, "app": app}
    host_shell(f"rm -rf {ALICE_ROOT} {ALICE_ROOT}.outside /home/hpcuser/mallory-{TOKEN}")


def _wait(client, job_uuid: str, timeout: float = 120) -> object:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.jobs.getJob(jobUuid=job_uuid)
        if job.status in ENDED:
            return job
        time.sleep(0.3)
    raise AssertionError(f"job {job_uuid} did not end")


def _http_error(call) -> tuple[int, str]:
    from tapipy.errors import BaseTapyException

    with pytest.raises(BaseTapyException) as raised:
        call()
    response = raised.value.response
    return response.status_code, response.text


def test_read_on_a_storage_system_does_not_let_a_job_archive_into_it(mallory, stores, host_shell):
    """The review's attack: READ on alice's system, archiveSystemDir /.ssh (authorized_keys) or / (her files)."""
    for target in ("/.ssh", "/"):
        status, text = _http_error(lambda: mallory.jobs.submitJob(
            name="archive-attack", appId=stores["app"], appVersion="1.0", archiveSystemId=stores["store"],
            archiveSystemDir=target, parameterSet=script_args("echo ssh-ed25519 AAAA attacker > authorized_keys")))
        assert status == 403 and "lacks MODIFY permission" in text, text
    assert host_shell(f"ls -A {ALICE_ROOT}/.ssh") == ""


def test_a_grant_on_a_folder_allows_archiving_there_and_outputs_are_only_the_jobs_own(
        alice, mallory, stores, api_server, host_shell):
    job = mallory.jobs.submitJob(name="archive-granted", appId=stores["app"], appVersion="1.0",
                                 archiveSystemId=stores["store"], archiveSystemDir="/shared/out",
                                 parameterSet=script_args('echo mine > "$_tapisExecSystemOutputDir/result.txt"'))
    done = _wait(mallory, job.uuid)
    assert done.status == "FINISHED", done.lastMessage
    assert host_shell(f"cat {ALICE_ROOT}/shared/out/result.txt") == "mine\n"
    # Archived to another system: the launch files arrive with their own modes, the env file without secrets.
    assert host_shell(f"stat -c %a {ALICE_ROOT}/shared/out/tapisjob.env").strip() == "600"
    archived_env = host_shell(f"cat {ALICE_ROOT}/shared/out/tapisjob.env")
    assert "_tapisJobUUID" in archived_env and "FAMILY_TOKEN" not in archived_env
    headers = {"X-Tapis-Token": mallory.access_token.access_token}
    listing = requests.get(f"{api_server}/v3/jobs/{job.uuid}/output/list/", headers=headers, timeout=30)
    listed = {entry["path"] for entry in listing.json()["result"]}
    assert "result.txt" in listed and "alice-secret.txt" not in listed, listed
    base = f"{api_server}/v3/jobs/{job.uuid}/output/download"
    assert requests.get(f"{base}/alice-secret.txt", headers=headers, timeout=30).status_code == 404
    everything = requests.get(f"{base}/", headers=headers, timeout=60)
    assert everything.status_code == 200
    names = zipfile.ZipFile(io.BytesIO(everything.content)).namelist()
    assert any(n.endswith("result.txt") for n in names) and not any("alice-secret" in n for n in names)


def test_an_archive_dir_through_a_symlink_out_of_the_root_fails_the_job(mallory, stores, host_shell):
    job = mallory.jobs.submitJob(name="archive-escape", appId=stores["app"], appVersion="1.0",
                                 archiveSystemId=stores["store"], archiveSystemDir="/shared/link-out/x",
                                 parameterSet=script_args('echo escaped > "$_tapisExecSystemOutputDir/result.txt"'))
    done = _wait(mallory, job.uuid)
    assert done.status == "FAILED" and "resolves outside the root directory" in done.lastMessage, done.lastMessage
    assert host_shell(f"ls -A {ALICE_ROOT}.outside") == ""


def test_the_family_token_is_not_in_archived_files_and_ends_with_its_family(
        alice, mallory, stores, api_server, hosts, host_shell, sif_app, vm_system):
    """A sharee downloads the archive: no FAMILY_TOKEN. The token (read off the exec host, where only the
    job's login can) works in a header while the job runs, and stops working once the family has ended."""
    system = f"alice-vm-{TOKEN}"
    alice.systems.createSystem(**{**_system(hosts, system, "/home/hpcuser"), "jobWorkingDir": f"/alice-work-{TOKEN}"})
    app = f"alice-app-{TOKEN}"
    alice.apps.createAppVersion(id=app, version="1.0", containerImage=hosts["DLWS_TEST_SIF"], runtime="SINGULARITY",
                                jobAttributes={"execSystemId": system})
    release = f"/home/hpcuser/release-{TOKEN}"
    job = alice.jobs.submitJob(name="family", appId=app, appVersion="1.0", execSystemOutputDir="${ExecSystemExecDir}",
                               parameterSet=script_args(f"while [ ! -e {release} ]; do sleep 0.2; done"))
    import time

    deadline = time.monotonic() + 90
    while alice.jobs.getJob(jobUuid=job.uuid).status != "RUNNING":
        assert time.monotonic() < deadline, "the job never ran"
        time.sleep(0.2)
    exec_dir = alice.jobs.getJob(jobUuid=job.uuid).execSystemExecDir
    env_line = [line for line in host_shell(f"cat /home/hpcuser{exec_dir}/tapisjob.env").splitlines()
                if line.startswith("FAMILY_TOKEN=")]
    token = env_line[0].split("=", 1)[1].strip("'")
    detail = requests.get(f"{api_server}/child/JobDetail", params={"jobId": job.uuid},
                          headers={"X-Family-Token": token}, timeout=30)
    assert detail.status_code == 200 and detail.json()["jobId"] == job.uuid
    # While it runs the exec dir's tapisjob.env holds the token, and this job's output dir is its exec dir: a
    # reader of the job's outputs gets everything but that file, by any route.
    alice.jobs.shareJob(jobUuid=job.uuid, grantee=f"mallory_{TOKEN}", jobResource=["JOB_OUTPUT"], jobPermission="READ")
    headers = {"X-Tapis-Token": mallory.access_token.access_token}
    outputs = f"{api_server}/v3/jobs/{job.uuid}/output"
    listed = requests.get(f"{outputs}/list/", headers=headers, timeout=30)
    assert listed.status_code == 200 and "tapisjob.sh" in listed.text and "tapisjob.env" not in listed.text
    for url, params in ((f"{outputs}/download/tapisjob.env", {}), (f"{outputs}/download/./tapisjob.env", {}),
                        (f"{outputs}/tail", {"path": "tapisjob.env"})):
        refused = requests.get(url, headers=headers, params=params, timeout=30)
        assert refused.status_code == 404 and token not in refused.text, (url, refused.status_code)
    folder = requests.get(f"{outputs}/download/", headers=headers, params={"compress": "true"}, timeout=30)
    assert folder.status_code == 200
    names = zipfile.ZipFile(io.BytesIO(folder.content)).namelist()
    assert any(n.endswith("tapisjob.sh") for n in names) and not any(n.endswith("tapisjob.env") for n in names)
    assert token.encode() not in folder.content
    host_shell(f"touch {release}")
    assert _wait(alice, job.uuid).status == "FINISHED"
    env = requests.get(f"{api_server}/v3/jobs/{job.uuid}/output/download/tapisjob.env", headers=headers, timeout=30)
    assert env.status_code == 200 and b"_tapisJobUUID" in env.content
    assert token.encode() not in env.content and b"FAMILY_TOKEN" not in env.content
    for attempt in ({"params": {"familyToken": token, "jobId": job.uuid}}, {"headers": {"X-Family-Token": token},
                                                                             "params": {"jobId": job.uuid}}):
        answer = requests.get(f"{api_server}/child/JobDetail", timeout=30, **attempt)
        assert answer.status_code == 401 and "every job of its family has ended" in answer.text
    submit = requests.get(f"{api_server}/child/SubmitJob", params={"familyToken": token, "cmd": "id"}, timeout=30)
    assert submit.status_code == 401
    host_shell(f"rm -f {release}")


def test_a_sharee_sees_no_webhooks_and_sends_no_events(alice, mallory, stores, api_server, hosts):
    job = alice.jobs.submitJob(name="events", appId=f"alice-app-{TOKEN}", appVersion="1.0",
                               parameterSet=script_args("sleep 1"),
                               subscriptions=[{"eventCategoryFilter": "JOB_NEW_STATUS", "enabled": True,
                                               "deliveryTargets": [{"deliveryMethod": "WEBHOOK",
                                                                    "deliveryAddress": "https://hooks.example.org/s3cr3t"}]}])
    alice.jobs.shareJob(jobUuid=job.uuid, grantee=f"mallory_{TOKEN}", jobResource=["JOB_HISTORY"], jobPermission="READ")
    headers = {"X-Tapis-Token": mallory.access_token.access_token}
    listed = requests.get(f"{api_server}/v3/jobs/subscribe/{job.uuid}", headers=headers, timeout=30)
    assert listed.status_code == 403 and "s3cr3t" not in listed.text
    request = requests.get(f"{api_server}/v3/jobs/{job.uuid}/resubmit_request", headers=headers, timeout=30)
    assert request.status_code == 200 and "s3cr3t" not in request.text
    event = requests.post(f"{api_server}/v3/jobs/{job.uuid}/sendEvent", headers=headers, timeout=30,
                          json={"eventData": "from a sharee"})
    assert event.status_code == 403
    assert _wait(alice, job.uuid).status == "FINISHED"
    ended = requests.post(f"{api_server}/v3/jobs/{job.uuid}/sendEvent", timeout=30, json={"eventData": "late"},
                          headers={"X-Tapis-Token": alice.access_token.access_token})
    assert ended.status_code == 400 and "has ended" in ended.text


def test_sharing_with_an_unknown_user_or_reading_an_unseen_system_leaks_nothing(alice, mallory, stores, api_server):
    job = alice.jobs.submitJob(name="leaks", appId=f"alice-app-{TOKEN}", appVersion="1.0", parameterSet=script_args("true"))
    headers = {"X-Tapis-Token": mallory.access_token.access_token}
    shared = requests.post(f"{api_server}/v3/jobs/{job.uuid}/share", headers=headers, timeout=30,
                           json={"grantee": "nobody_at_all", "jobResource": ["JOB_HISTORY"], "jobPermission": "READ"})
    assert shared.status_code == 404 and "nobody_at_all" not in shared.text, shared.text
    unseen = requests.post(f"{api_server}/v3/jobs/submit", headers=headers, timeout=30, json={
        "name": "probe", "appId": stores["app"], "appVersion": "1.0",
        "fileInputs": [{"sourceUrl": f"tapis://alice-vm-{TOKEN}/etc/passwd", "targetPath": "p"}]})
    missing = requests.post(f"{api_server}/v3/jobs/submit", headers=headers, timeout=30, json={
        "name": "probe", "appId": stores["app"], "appVersion": "1.0",
        "fileInputs": [{"sourceUrl": f"tapis://no-such-system-{TOKEN}/etc/passwd", "targetPath": "p"}]})
    assert unseen.status_code == missing.status_code == 404
    assert unseen.json()["message"].replace(f"alice-vm-{TOKEN}", "X") == missing.json()["message"].replace(
        f"no-such-system-{TOKEN}", "X")
    _wait(alice, job.uuid)


def test_the_access_log_never_shows_a_family_token():
    """Uvicorn's access log record, as uvicorn builds it, passes through the API's filter."""
    import logging

    from api.families import RedactFamilyTokens

    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
                               ("127.0.0.1:5000", "GET", "/child/JobDetail?familyToken=s3cr3t-token&jobId=J", "1.1", 200),
                               None)
    assert RedactFamilyTokens().filter(record)
    assert "s3cr3t-token" not in record.getMessage() and "familyToken=REDACTED&jobId=J" in record.getMessage()
