"""Tapis Files moveCopy, getStatInfo, runLinuxNativeOp and sharing through the HTTP routes (FastAPI's
TestClient), with every host operation run in this process (``DirectFileGateway``) on the real SSH test host."""

from __future__ import annotations

import io
import uuid
import zipfile
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

pytestmark = [pytest.mark.ssh, pytest.mark.once]

RUN = uuid.uuid4().hex[:6]
ROOT = f"/home/hpcuser/ops-test-{RUN}"
OWNER, GRANTEE, FRIEND, STRANGER = (f"fo_{name}_{RUN}" for name in ("owner", "grantee", "friend", "stranger"))
SYSTEM = f"ops-vm-{RUN}"


@pytest.fixture(scope="module")
def client(hosts, host_shell):
    """The API with the in-process file gateway, four users, and a system owned by OWNER whose rootDir
    holds a link out of it (``escape`` -> /etc) and, under ``shared``, a link to its private part."""
    from api.app import create_app
    from api.dependencies import get_file_gateway
    from dlws_flow.services.auth import create_user
    from dlws_flow.services.file_ops import DirectFileGateway

    host_shell(f"mkdir -p {ROOT}/shared/docs {ROOT}/private && echo secret > {ROOT}/private/secret.txt "
               f"&& echo notes > {ROOT}/shared/docs/notes.txt && ln -s /etc {ROOT}/escape "
               f"&& ln -s ../private {ROOT}/shared/to-private")
    app = create_app()
    app.dependency_overrides[get_file_gateway] = DirectFileGateway
    with TestClient(app) as test_client:
        for name in (OWNER, GRANTEE, FRIEND, STRANGER):
            create_user(name, f"{name}-password", replace=True)
        system = {"id": SYSTEM, "systemType": "LINUX", "host": hosts["DLWS_TEST_SSH_HOST"],
                  "port": int(hosts["DLWS_TEST_SSH_PORT"]), "effectiveUserId": hosts["DLWS_TEST_SSH_USER"],
                  "defaultAuthnMethod": "PKI_KEYS", "rootDir": ROOT, "canExec": True,
                  "authnCredential": {"privateKey": Path(hosts["DLWS_TEST_SSH_KEY"]).read_text()},
                  "notes": {"hostKey": hosts["DLWS_TEST_SSH_HOST_KEY"]}}
        response = test_client.post("/v3/systems", json=system, headers=auth(OWNER))
        assert response.status_code == 201, response.text
        yield test_client
    host_shell(f"rm -rf {ROOT}")


def auth(username: str) -> dict[str, str]:
    from dlws_flow.services.auth import get_user, issue_token

    return {"X-Tapis-Token": issue_token(get_user(username))["access_token"]}


def call(client, method: str, url: str, user: str = OWNER, status: int = 200, **kwargs):
    response = client.request(method, f"/v3/files/{url}", headers=auth(user), **kwargs)
    assert response.status_code == status, (url, response.text)
    return response.json() if "json" in response.headers.get("content-type", "") else response.content


def upload(client, path: str, content: bytes, user: str = OWNER, status: int = 200):
    return call(client, "POST", f"ops/{SYSTEM}/{path}", user, status, files={"file": ("f", io.BytesIO(content))})


def test_copy_a_tree_then_move_and_delete(client, host_shell):
    upload(client, "work/tree/a.txt", b"a\n")
    upload(client, "work/tree/sub/b.txt", b"b\n")
    body = call(client, "PUT", f"ops/{SYSTEM}/work/tree", json={"operation": "COPY", "newPath": "/work/copy"})
    assert body["status"] == "success"
    assert host_shell(f"cd {ROOT}/work && find copy tree -type f | sort") == (
        "copy/a.txt\ncopy/sub/b.txt\ntree/a.txt\ntree/sub/b.txt\n")
    # newPath an existing directory: the source goes inside it, as with mv
    call(client, "PUT", f"ops/{SYSTEM}/work/copy/a.txt", json={"operation": "MOVE", "newPath": "work/tree/sub"})
    assert host_shell(f"ls {ROOT}/work/copy {ROOT}/work/tree/sub") == f"{ROOT}/work/copy:\nsub\n\n{ROOT}/work/tree/sub:\na.txt\nb.txt\n"
    call(client, "PUT", f"ops/{SYSTEM}/work/tree", json={"operation": "COPY", "newPath": "work/copy/sub"})
    assert host_shell(f"cat {ROOT}/work/copy/sub/tree/sub/a.txt") == "a\n"
    # never merged into an existing tree (it could hold links leading anywhere)
    call(client, "PUT", f"ops/{SYSTEM}/work/tree", status=409, json={"operation": "COPY", "newPath": "work/copy/sub"})
    call(client, "PUT", f"ops/{SYSTEM}/work/tree", status=400, json={"operation": "MOVE", "newPath": "work/tree/sub/x"})
    call(client, "PUT", f"ops/{SYSTEM}/work/tree", status=403, json={"operation": "COPY", "newPath": "escape/tree"})
    call(client, "PUT", f"ops/{SYSTEM}/work/tree", status=400, json={"operation": "COPY", "newPath": "../../tmp/x"})
    call(client, "PUT", f"ops/{SYSTEM}/work/tree", status=400, json={"operation": "RENAME", "newPath": "work/x"})
    call(client, "PUT", f"ops/{SYSTEM}/work/tree", status=400,
         json={"operation": "COPY", "newPath": "work/x", "overwrite": True})
    # a directory is deleted with its whole tree, as Tapis does on LINUX
    call(client, "DELETE", f"ops/{SYSTEM}/work")
    assert host_shell(f"test -e {ROOT}/work || echo gone") == "gone\n"


def test_stat_of_a_file_a_link_and_a_link_out_of_the_root(client, host_shell):
    upload(client, "stat/f.txt", b"12345")
    info = call(client, "GET", f"utils/linux/{SYSTEM}/stat/f.txt")["result"]
    uid = int(host_shell("id -u").strip())
    assert info["uid"] == uid and isinstance(info["gid"], int) and info["size"] == 5
    assert (info["perms"], info["dir"], info["link"], info["absolutePath"]) == ("rw-r--r--", False, False,
                                                                               f"{ROOT}/stat/f.txt")
    assert isinstance(info["accessTime"], int) and isinstance(info["modifyTime"], int)
    assert call(client, "GET", f"utils/linux/{SYSTEM}/stat")["result"]["dir"] is True
    link = call(client, "GET", f"utils/linux/{SYSTEM}/escape")["result"]
    assert link["link"] is True and link["perms"] == "rwxrwxrwx"
    call(client, "GET", f"utils/linux/{SYSTEM}/escape", params={"followLinks": True}, status=403)
    call(client, "GET", f"utils/linux/{SYSTEM}/escape/passwd", status=403)
    call(client, "GET", f"utils/linux/{SYSTEM}/stat/missing", status=404)


def test_chmod_validates_its_argument_and_chown_is_the_owners(client, host_shell):
    upload(client, "modes/run.sh", b"echo hi\n")
    result = call(client, "POST", f"utils/linux/{SYSTEM}/modes/run.sh",
                  json={"operation": "CHMOD", "argument": "750"})["result"]
    assert (result["exitCode"], result["stdErr"]) == (0, "") and result["command"].startswith("chmod -- 750 ")
    assert host_shell(f"stat -c %a {ROOT}/modes/run.sh") == "750\n"
    call(client, "POST", f"utils/linux/{SYSTEM}/modes", params={"recursive": True},
         json={"operation": "CHMOD", "argument": "0700"})
    assert host_shell(f"stat -c %a {ROOT}/modes {ROOT}/modes/run.sh") == "700\n700\n"
    for argument in ("777; rm -rf /", "4755", "u+s", "$(id)", ""):
        call(client, "POST", f"utils/linux/{SYSTEM}/modes/run.sh", status=400,
             json={"operation": "CHMOD", "argument": argument})
    for bad in ({"operation": "CHOWN", "argument": "root;id"}, {"operation": "CHGRP", "argument": "-R"},
                {"operation": "RM", "argument": "x"}, {"operation": "CHMOD", "argument": "700", "x": 1}):
        call(client, "POST", f"utils/linux/{SYSTEM}/modes/run.sh", status=400, json=bad)
    assert host_shell(f"stat -c %a {ROOT}/modes/run.sh") == "700\n"
    call(client, "POST", f"utils/linux/{SYSTEM}/escape/passwd", status=403, json={"operation": "CHMOD", "argument": "777"})
    own = call(client, "POST", f"utils/linux/{SYSTEM}/modes/run.sh",
               json={"operation": "CHOWN", "argument": host_shell("id -un").strip()})["result"]
    assert own["exitCode"] == 0

    call(client, "POST", f"permissions/{SYSTEM}/modes", json={"username": GRANTEE, "permission": "MODIFY"})
    call(client, "POST", f"utils/linux/{SYSTEM}/modes/run.sh", GRANTEE, json={"operation": "CHMOD", "argument": "755"})
    call(client, "POST", f"utils/linux/{SYSTEM}/modes/run.sh", GRANTEE, status=403,
         json={"operation": "CHGRP", "argument": "users"})
    call(client, "POST", f"utils/linux/{SYSTEM}/private/secret.txt", GRANTEE, status=403,
         json={"operation": "CHMOD", "argument": "777"})
    call(client, "DELETE", f"permissions/{SYSTEM}/modes", params={"username": GRANTEE})


def test_facl_entries_are_set_by_the_owner_and_read_by_readers(client, host_shell, hosts):
    login = hosts["DLWS_TEST_SSH_USER"]
    upload(client, "acl/data.txt", b"acl\n")
    body = call(client, "POST", f"utils/linux/facl/{SYSTEM}/acl/data.txt",
                json={"operation": "ADD", "aclString": f"user:{login}:rw,group::r"})
    assert body["result"]["exitCode"] == 0, body
    assert f"user:{login}:rw-" in host_shell(f"getfacl --omit-header {ROOT}/acl/data.txt")
    entries = call(client, "GET", f"utils/linux/facl/{SYSTEM}/acl/data.txt")["result"]
    assert {"defaultAcl": False, "type": "user", "principal": login, "permissions": "rw-"} in entries
    for bad in ("user:x:rwx;id", "user:$(id):r", "", "mask:rwz"):
        call(client, "POST", f"utils/linux/facl/{SYSTEM}/acl/data.txt", status=400,
             json={"operation": "ADD", "aclString": bad})
    call(client, "POST", f"utils/linux/facl/{SYSTEM}/escape/passwd", status=403, json={"operation": "REMOVE_ALL"})
    call(client, "POST", f"permissions/{SYSTEM}/acl", json={"username": GRANTEE, "permission": "MODIFY"})
    assert call(client, "GET", f"utils/linux/facl/{SYSTEM}/acl/data.txt", GRANTEE)["result"]
    call(client, "POST", f"utils/linux/facl/{SYSTEM}/acl/data.txt", GRANTEE, status=403,
         json={"operation": "REMOVE_ALL"})  # an ACL opens files to other host accounts: the owner's call
    call(client, "DELETE", f"permissions/{SYSTEM}/acl", params={"username": GRANTEE})
    assert call(client, "POST", f"utils/linux/facl/{SYSTEM}/acl/data.txt", json={"operation": "REMOVE_ALL"}
                )["result"]["exitCode"] == 0
    assert f"user:{login}" not in host_shell(f"getfacl --omit-header {ROOT}/acl/data.txt")


def test_a_grantee_stays_inside_the_granted_path_and_links_are_never_written_through(client, host_shell):
    """MODIFY on ``granted``, where ``granted/link.txt`` points to the private part of rootDir."""
    host_shell(f"mkdir -p {ROOT}/granted && ln -s ../private/secret.txt {ROOT}/granted/link.txt")
    call(client, "POST", f"permissions/{SYSTEM}/granted", json={"username": GRANTEE, "permission": "MODIFY"})
    upload(client, "granted/x/link.txt", b"mine\n", GRANTEE)
    for operation in ("MOVE", "COPY"):  # would land on the link: refused, for the owner too
        for user in (GRANTEE, OWNER):
            call(client, "PUT", f"ops/{SYSTEM}/granted/x/link.txt", user, status=409,
                 json={"operation": operation, "newPath": "granted"})
    call(client, "GET", f"content/{SYSTEM}/granted/link.txt", GRANTEE, status=403)
    upload(client, "granted/link.txt", b"overwritten\n", GRANTEE, status=403)
    call(client, "PUT", f"ops/{SYSTEM}/granted/x/link.txt", GRANTEE, status=403,
         json={"operation": "MOVE", "newPath": "private/stolen.txt"})
    call(client, "PUT", f"ops/{SYSTEM}/private/secret.txt", GRANTEE, status=403,
         json={"operation": "COPY", "newPath": "granted/copied.txt"})
    call(client, "DELETE", f"ops/{SYSTEM}/granted/link.txt", GRANTEE)  # the link itself, not what it points to
    assert host_shell(f"cat {ROOT}/private/secret.txt") == "secret\n"
    call(client, "DELETE", f"permissions/{SYSTEM}/granted", params={"username": GRANTEE})


def test_share_gives_read_below_the_path_only_until_unshared(client):
    files = f"ops/{SYSTEM}/shared/docs"
    call(client, "GET", files, FRIEND, status=404)  # nothing shared: the system does not exist for them
    call(client, "POST", f"share/{SYSTEM}/shared", json={"users": [FRIEND]})
    assert [f["name"] for f in call(client, "GET", files, FRIEND)["result"]] == ["notes.txt"]
    assert call(client, "GET", f"content/{SYSTEM}/shared/docs/notes.txt", FRIEND) == b"notes\n"
    archive = zipfile.ZipFile(io.BytesIO(call(client, "GET", f"content/{SYSTEM}/shared", FRIEND, params={"zip": True})))
    assert archive.namelist() == ["shared/docs/notes.txt"]
    assert call(client, "GET", f"utils/linux/{SYSTEM}/shared/docs/notes.txt", FRIEND)["result"]["size"] == 6
    # never a write, never outside the shared path, not even through a link inside it
    upload(client, "shared/docs/new.txt", b"no", FRIEND, status=403)
    call(client, "DELETE", f"{files}/notes.txt", FRIEND, status=403)
    call(client, "PUT", f"{files}/notes.txt", FRIEND, status=403, json={"operation": "COPY", "newPath": "shared/n2"})
    call(client, "POST", f"utils/linux/{SYSTEM}/shared", FRIEND, status=403, json={"operation": "CHMOD", "argument": "777"})
    for path in ("private/secret.txt", "shared/to-private/secret.txt"):
        call(client, "GET", f"content/{SYSTEM}/{path}", FRIEND, status=403)
    call(client, "GET", f"ops/{SYSTEM}/shared/to-private", FRIEND, status=403)
    call(client, "GET", f"ops/{SYSTEM}/", FRIEND, status=403)
    call(client, "POST", f"share/{SYSTEM}/shared", FRIEND, status=403, json={"users": [STRANGER]})
    call(client, "GET", f"share/{SYSTEM}/shared", FRIEND, status=403)
    call(client, "GET", files, STRANGER, status=404)

    info = call(client, "GET", f"share/{SYSTEM}/shared/docs")["result"]
    assert info == {"isPublic": False, "userSet": [FRIEND],
                    "userShareInfoSet": [{"username": FRIEND, "path": "shared"}]}
    call(client, "POST", f"share/{SYSTEM}/shared", status=404, json={"users": ["nobody_here"]})
    call(client, "POST", f"share/{SYSTEM}/shared", status=400, json={"users": []})
    call(client, "POST", f"unshare/{SYSTEM}/shared", json={"users": [FRIEND]})
    call(client, "GET", files, FRIEND, status=404)


def test_public_share_reaches_every_user_of_the_tenant(client):
    call(client, "POST", f"share_public/{SYSTEM}/shared/docs")
    assert call(client, "GET", f"content/{SYSTEM}/shared/docs/notes.txt", STRANGER) == b"notes\n"
    upload(client, "shared/docs/x.txt", b"no", STRANGER, status=403)
    call(client, "GET", f"content/{SYSTEM}/private/secret.txt", STRANGER, status=403)
    info = call(client, "GET", f"share/{SYSTEM}/shared/docs/notes.txt")["result"]
    assert (info["isPublic"], info["isPublicPath"], info["userSet"]) == (True, "shared/docs", [])
    call(client, "POST", f"unshare_public/{SYSTEM}/shared/docs")
    call(client, "GET", f"content/{SYSTEM}/shared/docs/notes.txt", STRANGER, status=404)

    call(client, "POST", f"share_public/{SYSTEM}/shared/docs")
    call(client, "POST", f"share/{SYSTEM}/shared/docs", json={"users": [FRIEND]})
    call(client, "POST", f"unshare_all/{SYSTEM}/shared", params={"recurse": True})
    assert call(client, "GET", f"share/{SYSTEM}/shared/docs")["result"]["isPublic"] is False
    for user in (FRIEND, STRANGER):
        call(client, "GET", f"content/{SYSTEM}/shared/docs/notes.txt", user, status=404)
