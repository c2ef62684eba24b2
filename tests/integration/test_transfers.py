"""Transfer tasks run by real Celery workers between two systems of the SSH test host (two records, two
rootDirs), with a folder tree, an http(s) source from a local HTTP server, and a worker killed mid-file.

The kill is deterministic: a worker of this test's own (a queue of its own, which the destination system's
``workerQueue`` names) carries the one-shot fault marker ``transfer_mid_file`` and SIGKILLs itself right after it
recorded the first chunk of the first file larger than a chunk. The test then restarts that worker, as systemd
would; the reconciler's beat sweep finds the element's lease expired and sends it again.
"""

from __future__ import annotations

import os
import sys
import uuid
from pathlib import Path

import pytest

from tests.integration.conftest import WORKER_ENV, _start, api_user, stop_process, tapis_client, wait_for

pytestmark = [pytest.mark.ssh]
OWNER = "transfer_owner"
ENDED = {"COMPLETED", "FAILED", "CANCELLED"}


def _system(hosts, system_id: str, root: str, **fields) -> dict:
    from dlws_flow.services import catalog

    record = {"id": system_id, "host": hosts["DLWS_TEST_SSH_HOST"], "port": int(hosts["DLWS_TEST_SSH_PORT"]),
              "effectiveUserId": hosts["DLWS_TEST_SSH_USER"], "defaultAuthnMethod": "PKI_KEYS", "rootDir": root,
              "canExec": False, "hostKey": hosts["DLWS_TEST_SSH_HOST_KEY"],
              "authnCredential": {"privateKey": Path(hosts["DLWS_TEST_SSH_KEY"]).read_text()}, **fields}
    catalog.add_system(record, owner=OWNER, replace=True)
    return record


@pytest.fixture(scope="module")
def token() -> str:
    return uuid.uuid4().hex[:8]


@pytest.fixture(scope="module")
def roots(host_shell, token):
    base = f"/home/hpcuser/transfers-{token}"
    host_shell(f"mkdir -p {base}/left {base}/right")
    yield f"{base}/left", f"{base}/right"
    host_shell(f"rm -rf {base}")


def _checksums(host_shell, folder: str) -> str:
    return host_shell(f"cd {folder} && find . -type f -print0 | sort -z | xargs -0 sha256sum")


def _wait_transfer(client, task_uuid: str, timeout: float = 120.0):
    from dlws_flow.services import transfers
    from dlws_flow.services.auth import get_user

    def ended() -> bool:
        return transfers.get_transfer(get_user(OWNER), task_uuid)["status"] in ENDED

    wait_for(ended, f"transfer {task_uuid} to end", timeout=timeout)
    return client.files.getTransferTaskDetails(transferTaskId=task_uuid)


def test_a_folder_and_an_http_file_are_copied_between_two_systems(api_server, hosts, host_shell, roots, token,
                                                                  http_files):
    left, right = roots
    host_shell(f"mkdir -p {left}/tree/sub/deeper {left}/tree/empty && echo one > {left}/tree/one.txt && "
               f"head -c 2500000 /dev/urandom > {left}/tree/sub/blob.bin && echo deep > {left}/tree/sub/deeper/d.txt && "
               f"ln -s /etc/passwd {left}/tree/link-out && mkfifo {left}/tree/pipe")
    folder, base_url = http_files
    (folder / f"web-{token}.txt").write_text("from the web\n")
    source, destination = f"tr-left-{token}", f"tr-right-{token}"
    _system(hosts, source, left)
    _system(hosts, destination, right)
    client = tapis_client(api_server, OWNER, api_user(OWNER))

    task = client.files.createTransferTask(tag="two-systems", elements=[
        {"sourceURI": f"tapis://{source}/tree", "destinationURI": f"tapis://{destination}/copy"},
        {"sourceURI": f"{base_url}/web-{token}.txt", "destinationURI": f"tapis://{destination}/web/page.txt"}])
    details = _wait_transfer(client, task.uuid)
    assert details.status == "COMPLETED", details

    expected = _checksums(host_shell, f"{left}/tree")
    assert _checksums(host_shell, f"{right}/copy") == expected and "blob.bin" in expected
    assert host_shell(f"test -d {right}/copy/empty && echo yes") == "yes\n"
    # symbolic links and special files are not copied: a link could point anywhere on the host
    assert host_shell(f"ls -A {right}/copy | sort") == "empty\none.txt\nsub\n"
    assert host_shell(f"cat {right}/web/page.txt") == "from the web\n"

    tree, web = details.parentTasks
    assert (tree.status, tree.bytesTransferred, tree.totalBytes) == ("COMPLETED", 2500000 + 4 + 5, 2500000 + 4 + 5)
    files = {c.sourceURI.rsplit("/tree", 1)[1]: c for c in tree.children}
    assert set(files) == {"", "/one.txt", "/sub", "/sub/blob.bin", "/sub/deeper", "/sub/deeper/d.txt", "/empty"}
    assert files["/sub"].dir and not files["/one.txt"].dir
    assert files["/sub/blob.bin"].destinationURI == f"tapis://{destination}/copy/sub/blob.bin"
    assert all(c.status == "COMPLETED" and c.retries == 0 for c in tree.children)
    assert (web.status, web.bytesTransferred) == ("COMPLETED", 13)
    summary = client.files.getTransferTask(transferTaskId=task.uuid, includeSummary=True)
    assert (summary.totalTransfers, summary.completeTransfers) == (8, 8)
    assert task.uuid in [t.uuid for t in client.files.getRecentTransferTasks()]


def _own_worker(queue: str, fault_dir: Path, log_name: str):
    """A thread-pool worker of this test only (the pool ``dlws-flow up`` runs), with a short transfer lease."""
    env = {**os.environ, **WORKER_ENV, "DLWS_FAULT_DIR": str(fault_dir), "DLWS_TRANSFER_LEASE_SECONDS": "2"}
    command = [sys.executable, "-m", "celery", "-A", "workers", "worker", "-l", "info", "--pool", "threads", "-c", "2",
               "-Q", queue, "-n", f"{queue}@%h"]
    return _start(command, env, Path(os.environ["DLWS_DATA_DIR"]) / log_name)


def test_a_worker_killed_mid_file_is_replaced_and_the_transfer_finishes_copying_nothing_twice(
        worker, hosts, host_shell, roots, token, ssh_commands, tmp_path):
    from dlws_flow.services import transfers
    from dlws_flow.services.auth import get_user
    from dlws_flow.store import repositories as repo
    from dlws_flow.store.db import session_scope
    from workers.transfer_tasks import send_parent

    left, right = roots
    host_shell(f"mkdir -p {left}/crash && for i in 0 1 2 3; do echo small-$i > {left}/crash/a-$i.txt; done && "
               f"head -c 3500000 /dev/urandom > {left}/crash/z-big.bin")
    queue = f"{os.environ['DLWS_QUEUE']}.transfers-{token}"
    source, destination = f"tr-crash-src-{token}", f"tr-crash-dst-{token}"
    _system(hosts, source, left)
    _system(hosts, destination, right, workerQueue=queue)
    (tmp_path / "transfer_mid_file").write_text("kill the worker once, mid-file")
    mark = ssh_commands.mark()
    api_user(OWNER)
    first = _own_worker(queue, tmp_path, f"worker-transfers-{token}.log")
    second = None
    try:
        task = transfers.create_transfer(get_user(OWNER), {"elements": [
            {"sourceURI": f"tapis://{source}/crash", "destinationURI": f"tapis://{destination}/crash"}]}, send_parent)
        first.wait(timeout=120)  # it kills itself at the marker
        assert not (tmp_path / "transfer_mid_file").exists(), "the fault was never triggered"

        with session_scope() as session:
            parent = repo.transfer_parents(session, [repo.get_transfer(session, task["uuid"]).id])[0]
            at_kill = {c.relative: (c.status, c.bytes_transferred) for c in repo.transfer_children(session, [parent.id])}
        assert {name: status for name, (status, _) in at_kill.items() if name.startswith("a-")} == {
            f"a-{i}.txt": "COMPLETED" for i in range(4)}
        status, copied = at_kill["z-big.bin"]
        assert status == "IN_PROGRESS" and 0 < copied < 3500000, at_kill

        second = _own_worker(queue, tmp_path, f"worker-transfers-{token}-restarted.log")
        details = _wait_transfer_service(task["uuid"])
        assert details["status"] == "COMPLETED", details
        assert _checksums(host_shell, f"{right}/crash") == _checksums(host_shell, f"{left}/crash")
        retries = {c["sourceURI"].rsplit("/", 1)[1]: c["retries"] for c in details["parentTasks"][0]["children"]}
        assert retries == {"crash": 0, **{f"a-{i}.txt": 0 for i in range(4)}, "z-big.bin": 1}
        # each file was moved into place exactly once: the completed ones were not copied again
        moves = [c.command for c in ssh_commands.since(mark) if c.command.startswith("mv -f --") and f"{right}/crash/" in c.command]
        assert sorted(m.rsplit("/", 1)[1].strip("'") for m in moves) == [*(f"a-{i}.txt" for i in range(4)), "z-big.bin"]
    finally:
        for proc in (first, second):
            if proc is not None:
                stop_process(proc)


def _wait_transfer_service(task_uuid: str, timeout: float = 120.0) -> dict:
    from dlws_flow.services import transfers
    from dlws_flow.services.auth import get_user

    owner = get_user(OWNER)
    wait_for(lambda: transfers.get_transfer(owner, task_uuid)["status"] in ENDED, f"transfer {task_uuid} to end",
             timeout=timeout)
    return transfers.get_transfer(owner, task_uuid, details=True)
