"""PostIts through tapipy against the running API, redeemed with ``curl`` and no token: the real worker reads the
file (or zips the folder) from the SSH test host, the last use is the last, and an expired PostIt is refused."""

from __future__ import annotations

import io
import json
import subprocess
import uuid
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.integration.conftest import api_user, tapis_client

pytestmark = [pytest.mark.ssh]
OWNER = "postit_owner"


def curl(url: str) -> tuple[int, bytes]:
    """GET ``url`` with curl, as someone holding only the link would; (HTTP status, body)."""
    done = subprocess.run(["curl", "-sS", "-o", "-", "-w", "\n%{http_code}", url], check=True, capture_output=True,
                          timeout=60)
    body, _, status = done.stdout.rpartition(b"\n")
    return int(status), body


@pytest.fixture(scope="module")
def client(api_server):
    return tapis_client(api_server, OWNER, api_user(OWNER))


@pytest.fixture(scope="module")
def system_id(client, hosts, host_shell):
    root = f"/home/hpcuser/postits-{uuid.uuid4().hex[:6]}"
    host_shell(f"mkdir -p {root}/folder/sub && echo 'shared by link' > {root}/note.txt && echo inner > {root}/folder/sub/i.txt")
    system = f"postit-vm-{uuid.uuid4().hex[:6]}"
    client.systems.createSystem(
        id=system, systemType="LINUX", host=hosts["DLWS_TEST_SSH_HOST"], port=int(hosts["DLWS_TEST_SSH_PORT"]),
        effectiveUserId=hosts["DLWS_TEST_SSH_USER"], defaultAuthnMethod="PKI_KEYS", rootDir=root, canExec=True,
        authnCredential={"privateKey": Path(hosts["DLWS_TEST_SSH_KEY"]).read_text()},
        notes={"hostKey": hosts["DLWS_TEST_SSH_HOST_KEY"]})
    yield system
    host_shell(f"rm -rf {root}")


def test_a_postit_is_redeemed_with_curl_until_its_last_use(client, system_id, api_server):
    postit = client.files.createPostIt(systemId=system_id, path="/note.txt", allowedUses=2, validSeconds=600)
    assert postit.redeemUrl == f"{api_server}/v3/files/postits/redeem/{postit.postitId}"
    for _ in range(2):
        assert curl(postit.redeemUrl) == (200, b"shared by link\n")
    status, body = curl(postit.redeemUrl)
    assert status == 403
    refused = json.loads(body)
    assert refused["status"] == "error" and "redeemed the 2 times it allowed" in refused["message"]
    assert client.files.getPostIt(postitId=postit.postitId).timesUsed == 2


def test_an_expired_postit_is_refused(client, system_id):
    postit = client.files.createPostIt(systemId=system_id, path="/note.txt", allowedUses=-1)
    assert curl(postit.redeemUrl)[0] == 200
    past = (datetime.now(UTC) - timedelta(seconds=5)).isoformat().replace("+00:00", "Z")
    client.files.updatePostIt(postitId=postit.postitId, expiration=past)
    status, body = curl(postit.redeemUrl)
    assert status == 403 and "expired" in json.loads(body)["message"]


def test_a_folder_postit_comes_as_zip(client, system_id):
    postit = client.files.createPostIt(systemId=system_id, path="/folder", allowedUses=3)
    status, body = curl(postit.redeemUrl)
    assert status == 200
    assert zipfile.ZipFile(io.BytesIO(body)).read("folder/sub/i.txt") == b"inner\n"
    status, body = curl(f"{postit.redeemUrl}?zip=false")  # a folder cannot come unzipped; the use is given back
    assert status == 400 and "zip" in json.loads(body)["message"]
    assert client.files.getPostIt(postitId=postit.postitId).timesUsed == 1
    status, body = curl(f"{postit.redeemUrl.replace(postit.postitId, str(uuid.uuid4()))}")
    assert status == 404
