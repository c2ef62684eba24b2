"""Tapis v3 Files through tapipy against the running API (uvicorn), with every host operation run by the
real Celery worker on the real SSH test host."""

from __future__ import annotations

import io
import uuid
import zipfile
from pathlib import Path

import pytest
import requests

from tests.integration.conftest import api_user, tapis_client

pytestmark = [pytest.mark.ssh]

ROOT = f"/home/hpcuser/files-test-{uuid.uuid4().hex[:6]}"


@pytest.fixture(scope="module")
def owner(api_server):
    return tapis_client(api_server, "files_owner", api_user("files_owner"))


@pytest.fixture(scope="module")
def reader(api_server):
    return tapis_client(api_server, "files_reader", api_user("files_reader"))


@pytest.fixture(scope="module")
def system_id(owner, hosts, host_shell):
    """A system owned by ``files_owner`` whose rootDir is a fresh folder holding a symlink to /etc."""
    host_shell(f"mkdir -p {ROOT} && ln -s /etc {ROOT}/escape && echo outside > {ROOT}.outside.txt "
               f"&& ln -s {ROOT}.outside.txt {ROOT}/sneaky.txt")
    system = f"files-vm-{uuid.uuid4().hex[:6]}"
    owner.systems.createSystem(
        id=system, systemType="LINUX", host=hosts["DLWS_TEST_SSH_HOST"], port=int(hosts["DLWS_TEST_SSH_PORT"]),
        effectiveUserId=hosts["DLWS_TEST_SSH_USER"], defaultAuthnMethod="PKI_KEYS", rootDir=ROOT, canExec=True,
        authnCredential={"privateKey": Path(hosts["DLWS_TEST_SSH_KEY"]).read_text()},
        notes={"hostKey": hosts["DLWS_TEST_SSH_HOST_KEY"]})
    yield system
    host_shell(f"rm -rf {ROOT} {ROOT}.outside.txt")


def upload(client, system: str, path: str, content: bytes):
    return client.files.insert(systemId=system, path=path, file=io.BytesIO(content))


def test_owner_mkdir_upload_list_download_delete(owner, system_id, host_shell):
    owner.files.mkdir(systemId=system_id, path="/data/empty")
    upload(owner, system_id, "/data/sub/hello.txt", b"hello files\n")  # insert creates data/sub
    upload(owner, system_id, "/data/blob.bin", bytes(range(256)) * 10)
    assert host_shell(f"cat {ROOT}/data/sub/hello.txt") == "hello files\n"

    listing = {f.name: f for f in owner.files.listFiles(systemId=system_id, path="/data")}
    assert set(listing) == {"empty", "sub", "blob.bin"}
    blob = listing["blob.bin"]
    assert (blob.type, blob.size, blob.path, blob.url) == ("file", 2560, "data/blob.bin", f"tapis://{system_id}/data/blob.bin")
    assert blob.nativePermissions == "rw-r--r--" and blob.owner == "hpcuser" and blob.lastModified.endswith("Z")
    assert listing["sub"].type == "dir"
    (single,) = owner.files.listFiles(systemId=system_id, path="/data/sub/hello.txt")
    assert (single.name, single.size, single.mimeType) == ("hello.txt", 12, "text/plain")
    root_names = [f.name for f in owner.files.listFiles(systemId=system_id, path="/")]
    assert "data" in root_names and "escape" in root_names

    assert owner.files.getContents(systemId=system_id, path="/data/blob.bin") == bytes(range(256)) * 10
    archive = zipfile.ZipFile(io.BytesIO(owner.files.getContents(systemId=system_id, path="/data", zip=True)))
    assert archive.read("data/sub/hello.txt") == b"hello files\n"
    assert "data/blob.bin" in archive.namelist()

    upload(owner, system_id, "/data/sub/hello.txt", b"replaced\n")
    assert owner.files.getContents(systemId=system_id, path="data/sub/hello.txt") == b"replaced\n"
    owner.files.delete(systemId=system_id, path="/data/sub")
    assert {f.name for f in owner.files.listFiles(systemId=system_id, path="/data")} == {"empty", "blob.bin"}


def test_listing_pages(owner, system_id):
    for name in ("a.txt", "b.txt", "c.log"):
        upload(owner, system_id, f"/paged/{name}", b"x")
    names = lambda **kw: [f.name for f in owner.files.listFiles(systemId=system_id, path="/paged", **kw)]  # noqa: E731
    assert names() == ["a.txt", "b.txt", "c.log"]
    assert names(limit=1, offset=1) == ["b.txt"]
    assert names(pattern="glob:*.txt") == ["a.txt", "b.txt"]


def test_errors_are_tapis_shaped(owner, system_id):
    from tapipy import errors

    with pytest.raises(errors.NotFoundError):
        owner.files.listFiles(systemId=system_id, path="/no/such/dir")
    with pytest.raises(errors.NotFoundError):
        owner.files.getContents(systemId=system_id, path="/no-such-file")
    with pytest.raises(errors.NotFoundError):
        owner.files.delete(systemId=system_id, path="/no-such-file")
    upload(owner, system_id, "/folder/f.txt", b"f")
    with pytest.raises(errors.BadRequestError, match="zip"):
        owner.files.getContents(systemId=system_id, path="/folder")
    with pytest.raises(errors.NotFoundError):
        owner.files.listFiles(systemId="no-such-system", path="/")


def test_grants_open_a_subtree_only(owner, reader, system_id):
    from tapipy import errors

    upload(owner, system_id, "/shared/project/notes.txt", b"shared notes\n")
    upload(owner, system_id, "/private/secret.txt", b"secret\n")
    with pytest.raises(errors.NotFoundError):  # nothing granted: the system does not exist for them
        reader.files.listFiles(systemId=system_id, path="/shared")
    with pytest.raises(errors.NotFoundError):
        reader.files.getContents(systemId=system_id, path="/shared/project/notes.txt")

    granted = owner.files.grantPermissions(systemId=system_id, path="/shared", username="files_reader", permission="READ")
    assert (granted.permission, granted.path, granted.username) == ("READ", "shared", "files_reader")
    assert [f.name for f in reader.files.listFiles(systemId=system_id, path="/shared/project")] == ["notes.txt"]
    assert reader.files.getContents(systemId=system_id, path="/shared/project/notes.txt") == b"shared notes\n"
    archive = zipfile.ZipFile(io.BytesIO(reader.files.getContents(systemId=system_id, path="/shared", zip=True)))
    assert archive.namelist() == ["shared/project/notes.txt"]
    assert reader.files.getPermissions(systemId=system_id, path="/shared/project").permission == "READ"
    assert owner.files.getPermissions(systemId=system_id, path="/shared", username="files_reader").permission == "READ"

    for call in (lambda: reader.files.listFiles(systemId=system_id, path="/private"),
                 lambda: reader.files.listFiles(systemId=system_id, path="/"),
                 lambda: reader.files.getContents(systemId=system_id, path="/private/secret.txt"),
                 lambda: upload(reader, system_id, "/shared/project/new.txt", b"no"),
                 lambda: reader.files.mkdir(systemId=system_id, path="/shared/newdir"),
                 lambda: reader.files.delete(systemId=system_id, path="/shared/project/notes.txt"),
                 lambda: reader.files.grantPermissions(systemId=system_id, path="/shared", username="files_reader",
                                                       permission="MODIFY"),
                 lambda: reader.files.getPermissions(systemId=system_id, path="/shared", username="files_owner")):
        with pytest.raises(errors.ForbiddenError):
            call()

    with pytest.raises(errors.NotFoundError):
        owner.files.grantPermissions(systemId=system_id, path="/shared", username="nobody_here", permission="READ")

    owner.files.grantPermissions(systemId=system_id, path="/shared/project", username="files_reader", permission="MODIFY")
    upload(reader, system_id, "/shared/project/new.txt", b"mine\n")
    with pytest.raises(errors.ForbiddenError):
        upload(reader, system_id, "/shared/elsewhere.txt", b"no")
    owner.files.deletePermissions(systemId=system_id, path="/shared/project", username="files_reader")
    with pytest.raises(errors.ForbiddenError):
        upload(reader, system_id, "/shared/project/again.txt", b"no")

    owner.files.deletePermissions(systemId=system_id, path="/shared", username="files_reader")
    with pytest.raises(errors.NotFoundError):
        reader.files.listFiles(systemId=system_id, path="/shared/project")


def test_escapes_are_refused(owner, system_id, api_server):
    from tapipy import errors

    for path in ("/escape", "/escape/passwd", "/sneaky.txt"):  # symlinks out of rootDir
        with pytest.raises(errors.ForbiddenError):
            owner.files.listFiles(systemId=system_id, path=path)
        with pytest.raises(errors.ForbiddenError):
            owner.files.getContents(systemId=system_id, path=path)
    with pytest.raises(errors.ForbiddenError):
        upload(owner, system_id, "/escape/dlws-was-here", b"x")
    with pytest.raises(errors.ForbiddenError):
        owner.files.mkdir(systemId=system_id, path="/escape/newdir")
    with pytest.raises(errors.BadRequestError):
        owner.files.mkdir(systemId=system_id, path="../outside")

    headers = {"X-Tapis-Token": owner.get_access_jwt()}
    base = f"{api_server}/v3/files"
    for url in (f"{base}/ops/{system_id}/%2E%2E/%2E%2E/etc", f"{base}/content/{system_id}/a/%2e%2e/%2e%2e/etc/passwd",
                f"{base}/permissions/{system_id}/%2E%2E"):
        response = requests.get(url, headers=headers, timeout=30)
        assert 400 <= response.status_code < 500, (url, response.status_code, response.text)
    response = requests.post(f"{base}/ops/{system_id}/%2E%2E/x.txt", headers=headers, files={"file": b"x"}, timeout=30)
    assert response.status_code == 400, response.text
    # the owner may delete the link itself; what it points to stays
    owner.files.delete(systemId=system_id, path="/sneaky.txt")
    assert Path("/etc/passwd").exists()


def test_missing_or_bad_token_is_401(api_server, system_id):
    for headers in ({}, {"X-Tapis-Token": "not-a-token"}):
        response = requests.get(f"{api_server}/v3/files/ops/{system_id}/data", headers=headers, timeout=30)
        assert response.status_code == 401
        assert response.json()["status"] == "error"
    response = requests.get(f"{api_server}/v3/files/content/{system_id}/data", timeout=30)
    assert response.status_code == 401


def test_celery_gateway_enforces_the_size_limit(owner, system_id):
    """In this process, as the API does it: a worker refuses to read more than the limit."""
    from dlws_flow.errors import ValidationError
    from dlws_flow.services import files
    from dlws_flow.services.auth import get_user
    from workers.file_gateway import CeleryFileGateway

    principal = get_user("files_owner")
    gateway = CeleryFileGateway(timeout=60)
    gateway.max_bytes = 10
    files.upload(principal, system_id, "limits/small.txt", b"0123456789", gateway=gateway)
    with pytest.raises(ValidationError, match="DLWS_MAX_UPLOAD_BYTES"):
        files.upload(principal, system_id, "limits/big.txt", b"0123456789!", gateway=gateway)
    assert files.download(principal, system_id, "limits/small.txt", gateway=gateway)["content"] == b"0123456789"
    files.upload(principal, system_id, "limits/second.txt", b"0123456789", gateway=gateway)
    with pytest.raises(ValidationError, match="limit"):
        files.download(principal, system_id, "limits", zip=True, gateway=gateway)


def test_concurrent_requests_each_get_their_own_answer(owner, system_id, api_server):
    """The API waits for results on several threads at once; every thread must get its own result."""
    from concurrent.futures import ThreadPoolExecutor

    for i in range(8):
        upload(owner, system_id, f"/parallel/f{i}.txt", f"content {i}".encode())
    headers = {"X-Tapis-Token": owner.get_access_jwt()}

    def fetch(i: int) -> bytes:
        response = requests.get(f"{api_server}/v3/files/content/{system_id}/parallel/f{i}.txt", headers=headers, timeout=60)
        response.raise_for_status()
        return response.content

    with ThreadPoolExecutor(8) as pool:
        assert list(pool.map(fetch, list(range(8)) * 3)) == [f"content {i}".encode() for i in range(8)] * 3
