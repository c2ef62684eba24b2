"""Host keys trusted on first use, against a real sshd of this test's own whose host key it replaces.

A Tapis user creates a system as Tapis' documentation writes it (no ``hostKey``, no ``notes``) through tapipy;
its first job's first connection pins the key the host shows (in the system's history and the job's); the
host's key is then replaced and sshd restarted: the next job FAILS naming both fingerprints and how to
accept, the Files API is refused the same way, and once the owner accepts the offered key through the
route, the next job runs. The shared test sshd on 2222 is not touched: this sshd listens on a port of its
own, with its own generated key, and logs in the test host's ``hpcuser`` with the test client key.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path

import pytest
import requests

from tests.integration.conftest import TESTHOSTS, _free_port, api_user, script_args, tapis_client, wait_status

pytestmark = [pytest.mark.ssh]

SSHD_CONFIG = """\
Port {port}
ListenAddress 127.0.0.1
HostKey {folder}/host_key
PidFile {folder}/sshd.pid
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
AllowUsers hpcuser
Subsystem sftp internal-sftp
MaxStartups 100:30:200
MaxSessions 50
SetEnv PATH={testhosts}/bin:/usr/local/bin:/usr/bin:/bin
"""


def host_key_events(history: list[dict]) -> list[dict]:
    """The host key entries of a system's history, with the event as their operation: Tapis' OperationTypeEnum
    has no such names, so they are MODIFY entries whose description starts with the event."""
    entries = [e for e in history if e["description"].startswith("HOST_KEY_")]
    assert all(e["operation"] == "MODIFY" for e in entries)
    return [{**e, "operation": e["description"].split(":", 1)[0]} for e in entries]


def _children(pid: int) -> list[int]:
    """Every process below ``pid`` (sshd's per-connection processes leave its process group)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            parents.setdefault(ppid, []).append(int(entry.name))
    found, pending = [], [pid]
    while pending:
        for child in parents.get(pending.pop(), []):
            found.append(child)
            pending.append(child)
    return found


class OwnSshd:
    """``/usr/sbin/sshd -D`` on a free port with a host key of its own; ``new_host_key()`` replaces the key and
    restarts it, ending every connection it served (as a reinstalled host would)."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.port = folder, _free_port()
        self.proc: subprocess.Popen | None = None
        (folder / "sshd_config").write_text(SSHD_CONFIG.format(port=self.port, folder=folder, testhosts=TESTHOSTS))

    @property
    def key_line(self) -> str:
        return " ".join((self.folder / "host_key.pub").read_text().split()[:2])

    @property
    def fingerprint(self) -> str:
        printed = subprocess.run(["ssh-keygen", "-l", "-E", "sha256", "-f", str(self.folder / "host_key.pub")],
                                 check=True, capture_output=True, text=True).stdout
        return printed.split()[1]

    def start(self) -> None:
        config = str(self.folder / "sshd_config")
        subprocess.run(["/usr/sbin/sshd", "-t", "-f", config], check=True)
        self.proc = subprocess.Popen(["/usr/sbin/sshd", "-D", "-f", config, "-E", str(self.folder / "sshd.log")],
                                     start_new_session=True)
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"sshd did not start: {(self.folder / 'sshd.log').read_text()[-2000:]}")
                time.sleep(0.1)

    def stop(self) -> None:
        if self.proc is None:
            return
        for pid in [*_children(self.proc.pid), self.proc.pid]:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        self.proc.wait(timeout=20)
        self.proc = None

    def new_host_key(self) -> None:
        self.stop()
        for name in ("host_key", "host_key.pub"):
            (self.folder / name).unlink(missing_ok=True)
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(self.folder / "host_key")], check=True)
        self.start()


@pytest.fixture(scope="module")
def own_sshd(hosts, tmp_path_factory):
    folder = tmp_path_factory.mktemp("own-sshd")
    folder.chmod(0o700)
    Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege separation directory
    sshd = OwnSshd(folder)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(folder / "host_key")], check=True)
    sshd.start()
    yield sshd
    sshd.stop()


@pytest.fixture(scope="module")
def owner(api_server):
    return tapis_client(api_server, "hostkey_owner", api_user("hostkey_owner"))


@pytest.fixture(scope="module")
def system_id(owner, own_sshd, hosts):
    """The system exactly as Tapis' documentation writes one: no hostKey, nothing in notes."""
    system = f"tofu-vm-{uuid.uuid4().hex[:6]}"
    owner.systems.createSystem(
        id=system, systemType="LINUX", host="127.0.0.1", port=own_sshd.port, effectiveUserId=hosts["DLWS_TEST_SSH_USER"],
        defaultAuthnMethod="PKI_KEYS", rootDir="/home/hpcuser", jobWorkingDir="/hostkey-work", canExec=True,
        authnCredential={"privateKey": Path(hosts["DLWS_TEST_SSH_KEY"]).read_text()})
    return system


@pytest.fixture(scope="module")
def app_id(owner, system_id, hosts):
    app = f"tofu-app-{uuid.uuid4().hex[:6]}"
    owner.apps.createAppVersion(id=app, version="0.1", containerImage=hosts["DLWS_TEST_SIF"], runtime="SINGULARITY",
                                jobType="FORK", jobAttributes={"execSystemId": system_id, "maxMinutes": 5})
    return app


def call(api_server: str, client, method: str, path: str, **kwargs) -> requests.Response:
    """Our routes that tapipy does not know (the system's history, accepting a key), with the user's token."""
    return requests.request(method, f"{api_server}{path}", timeout=30,
                            headers={"X-Tapis-Token": client.access_token.access_token}, **kwargs)


def system_view(api_server: str, client, system_id: str) -> dict:
    response = call(api_server, client, "GET", f"/v3/systems/{system_id}")
    assert response.status_code == 200, response.text
    return response.json()["result"]


def run_job(owner, app_id: str, name: str, script: str) -> dict:
    job = owner.jobs.submitJob(name=name, appId=app_id, appVersion="0.1", parameterSet=script_args(script))
    return wait_status(job.uuid, {"FINISHED", "FAILED", "CANCELLED"}, timeout=120)


def test_first_use_pins_a_changed_key_fails_and_accepting_it_runs_the_next_job(api_server, owner, own_sshd, system_id,
                                                                             app_id):
    from dlws_flow import get_job_history

    assert "hostKeyFingerprint" not in system_view(api_server, owner, system_id)
    first_key = own_sshd.fingerprint
    job = run_job(owner, app_id, "first-use", "echo first")
    assert job["status"] == "FINISHED", job["lastMessage"]
    assert system_view(api_server, owner, system_id)["hostKeyFingerprint"] == first_key
    events = host_key_events(call(api_server, owner, "GET", f"/v3/systems/{system_id}/history").json()["result"])
    assert [e["operation"] for e in events] == ["HOST_KEY_PINNED"]
    assert first_key in events[0]["description"] and job["uuid"] in events[0]["description"]
    [pinned] = [e for e in get_job_history(job["uuid"]) if e["event"] == "JOB_HOST_KEY_PINNED"]
    assert first_key in pinned["description"]
    # Later jobs connect with the pinned key (strictly) and add nothing to either history.
    again = run_job(owner, app_id, "pinned", "echo again")
    assert again["status"] == "FINISHED" and not [e for e in get_job_history(again["uuid"])
                                                  if e["event"] == "JOB_HOST_KEY_PINNED"]

    own_sshd.new_host_key()
    second_key = own_sshd.fingerprint
    assert second_key != first_key
    refused = run_job(owner, app_id, "changed", "echo must not run")
    assert refused["status"] == "FAILED"
    message = refused["lastMessage"]
    assert "host key" in message and "changed" in message and first_key in message and second_key in message
    assert f"POST /v3/systems/{system_id}/hostKey/accept" in message
    assert f"dlws-flow systems accept-host-key {system_id} --fingerprint {second_key}" in message
    shown = system_view(api_server, owner, system_id)
    assert shown["hostKeyFingerprint"] == first_key and shown["hostKeyOffered"] == second_key

    # The Files API (its operations run on a worker through engine.hosts) is refused the same way.
    response = call(api_server, owner, "GET", f"/v3/files/ops/{system_id}/")
    assert response.status_code >= 400 and second_key in response.json()["message"], response.text

    path = f"/v3/systems/{system_id}/hostKey/accept"
    response = call(api_server, owner, "POST", path, json={"fingerprint": first_key})
    assert response.status_code == 409, response.text
    response = call(api_server, owner, "POST", path, json={"fingerprint": second_key})
    assert response.status_code == 200, response.text
    assert response.json()["result"]["hostKeyFingerprint"] == second_key
    events = host_key_events(call(api_server, owner, "GET", f"/v3/systems/{system_id}/history").json()["result"])
    assert [e["operation"] for e in events] == ["HOST_KEY_PINNED", "HOST_KEY_CHANGED", "HOST_KEY_ACCEPTED"]

    accepted = run_job(owner, app_id, "accepted", "echo after accept")
    assert accepted["status"] == "FINISHED", accepted["lastMessage"]
    output = owner.jobs.getJobOutputDownload(jobUuid=accepted["uuid"], outputPath="tapisjob.out")
    assert b"after accept" in output
    assert "hostkey-work" in [f.name for f in owner.files.listFiles(systemId=system_id, path="/")]


def test_the_files_api_pins_on_first_use_too(api_server, owner, own_sshd, hosts):
    """A system whose first connection is a Files API listing (run by a worker): pinned, in its history."""
    system = f"tofu-files-{uuid.uuid4().hex[:6]}"
    owner.systems.createSystem(
        id=system, systemType="LINUX", host="127.0.0.1", port=own_sshd.port, effectiveUserId=hosts["DLWS_TEST_SSH_USER"],
        defaultAuthnMethod="PKI_KEYS", rootDir="/home/hpcuser", canExec=True,
        authnCredential={"privateKey": Path(hosts["DLWS_TEST_SSH_KEY"]).read_text()})
    owner.files.listFiles(systemId=system, path="/")
    assert system_view(api_server, owner, system)["hostKeyFingerprint"] == own_sshd.fingerprint
    events = host_key_events(call(api_server, owner, "GET", f"/v3/systems/{system}/history").json()["result"])
    assert [e["operation"] for e in events] == ["HOST_KEY_PINNED"] and own_sshd.fingerprint in events[0]["description"]


def test_strict_refuses_a_system_without_host_key(own_sshd, hosts, monkeypatch):
    """``DLWS_HOST_KEY_TRUST=strict`` (here in this process's services, as an API started so would answer)."""
    from dlws_flow.errors import ValidationError
    from dlws_flow.services import systems
    from dlws_flow.services.auth import create_user
    from dlws_flow.settings import reset_settings_cache

    principal = create_user("hostkey_strict", "hostkey-strict-pw", replace=True)
    record = {"id": f"strict-vm-{uuid.uuid4().hex[:6]}", "systemType": "LINUX", "host": "127.0.0.1",
              "port": own_sshd.port, "effectiveUserId": hosts["DLWS_TEST_SSH_USER"], "canExec": True}
    monkeypatch.setenv("DLWS_HOST_KEY_TRUST", "strict")
    reset_settings_cache()
    try:
        with pytest.raises(ValidationError, match="hostKey is required"):
            systems.create(principal, record)
        assert systems.create(principal, {**record, "hostKey": own_sshd.key_line})["hostKeyFingerprint"] == \
            own_sshd.fingerprint
    finally:
        monkeypatch.delenv("DLWS_HOST_KEY_TRUST")
        reset_settings_cache()
