"""Real components for integration tests: the SSH/Slurm/Apptainer test hosts (scripts/testhosts), a real
Celery worker process on the chosen broker, the chosen database, and a local HTTP server for inputs."""

from __future__ import annotations

import functools
import http.server
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import paramiko
import pytest

ROOT = Path(__file__).resolve().parents[2]
TESTHOSTS = os.environ.get("DLWS_TESTHOSTS_DIR", "/tmp/dlws-test-hosts")
WORKER_PROCESSES = 2  # the test worker's prefork concurrency; each process holds its own SSH connections


@pytest.fixture(scope="session")
def hosts() -> dict[str, str]:
    """Bring the test hosts up (a no-op when they already are) and return hosts.env as a dict."""
    subprocess.run(["bash", str(ROOT / "scripts/testhosts/up.sh"), TESTHOSTS], check=True, stdout=subprocess.DEVNULL)
    values: dict[str, str] = {}
    for line in Path(TESTHOSTS, "hosts.env").read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            values[key] = value.strip("'\"")
    return values


class HostShell:
    """A direct Paramiko connection as the test user, for checks the tests make on the host itself.

    Reconnects after the fault tests stop sshd (which drops every open session)."""

    def __init__(self, hosts: dict[str, str]) -> None:
        self.hosts = hosts
        self.client: paramiko.SSHClient | None = None
        self._sftp: paramiko.SFTPClient | None = None

    def _connected(self) -> paramiko.SSHClient:
        transport = self.client.get_transport() if self.client else None
        if transport is None or not transport.is_active():
            hosts = self.hosts
            self.client = paramiko.SSHClient()
            self.client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
            self.client.connect(hosts["DLWS_TEST_SSH_HOST"], port=int(hosts["DLWS_TEST_SSH_PORT"]),
                                username=hosts["DLWS_TEST_SSH_USER"], key_filename=hosts["DLWS_TEST_SSH_KEY"],
                                allow_agent=False, look_for_keys=False)
            self._sftp = None
        return self.client

    def __call__(self, command: str) -> str:
        _, out, _ = self._connected().exec_command(command)
        text = out.read().decode()
        out.channel.recv_exit_status()
        return text

    @property
    def sftp(self) -> paramiko.SFTPClient:
        client = self._connected()
        if self._sftp is None:
            self._sftp = client.open_sftp()
        return self._sftp

    @property
    def connection(self) -> str:
        """This shell's client address:port, as the host's command log names it."""
        local_ip, local_port = self._connected().get_transport().sock.getsockname()[:2]
        return f"{local_ip}:{local_port}"

    def close(self) -> None:
        if self.client:
            self.client.close()


@pytest.fixture(scope="session")
def host_shell(hosts):
    shell = HostShell(hosts)
    yield shell
    shell.close()


def host_service(action: str, service: str) -> None:
    """Stop or start one test-host service (sshd, slurmctld, ...) with the recipe's own script."""
    subprocess.run(["bash", str(ROOT / "scripts/testhosts/ctl.sh"), action, service, TESTHOSTS], check=True,
                   stdout=subprocess.DEVNULL)


@pytest.fixture(scope="session")
def fault_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("faults")


#: The test worker's embedded beat runs the reconciler and the recovery sweep on a test's time scale:
#: a recovery probe every second for two minutes, lost stages found after 30 s of no progress, and a
#: connection to a host with a connection limit closed after 3 s unused.
WORKER_ENV = {"DLWS_RECOVERY_INTERVAL": "1", "DLWS_RECOVERY_POLICY": "120x1", "DLWS_RECONCILE_INTERVAL": "3",
              "DLWS_RECONCILE_STALL_SECONDS": "30", "DLWS_RECONCILE_POLL_SECONDS": "20", "DLWS_SSH_IDLE_SECONDS": "3",
              "DLWS_FETCH_ALLOW": "127.0.0.1"}


#: How the suite starts the deployment (``make test`` runs each way once):
#: ``up``: exactly as ``dlws-flow up`` (API + thread-pool worker with its embedded beat, one command);
#: ``units``: exactly as the systemd units in docs/operations.md (``dlws-flow worker``, prefork, and a
#: separate ``celery beat``).
DEPLOYMENT = os.environ.get("DLWS_TEST_DEPLOYMENT", "units")
if DEPLOYMENT not in ("up", "units"):
    raise RuntimeError(f"DLWS_TEST_DEPLOYMENT={DEPLOYMENT!r}: choose up or units")
UP_CONCURRENCY = 4


def _start(command: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen:
    with open(log_path, "ab") as log:
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def stop_process(proc: subprocess.Popen, timeout: float = 60) -> float:
    """SIGTERM the process group, as systemd or Ctrl-C would; returns the seconds it took to exit."""
    start = time.monotonic()
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return 0.0
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    return time.monotonic() - start


def dlws_flow_command(*args: str) -> list[str]:
    """The ``dlws-flow`` console script, run by this interpreter."""
    return [sys.executable, "-m", "dlws_flow.cli", *args]


@pytest.fixture(scope="session")
def worker(hosts, fault_dir):
    """The deployment's worker (and beat, and with ``up`` the API) on this run's broker, database and queue."""
    from dlws_flow.store.db import migrate

    migrate()
    data_dir = Path(os.environ["DLWS_DATA_DIR"])
    # Jobs learn where the API is (DLWS_REST_API) from the worker, which starts before the API does.
    env = {**os.environ, **WORKER_ENV, "DLWS_FAULT_DIR": str(fault_dir),
           "DLWS_JOB_API_URL": f"http://127.0.0.1:{api_port()}"}
    log_path = data_dir / "worker.log"
    if DEPLOYMENT == "up":
        env.update(DLWS_API_BASE_URL=f"http://127.0.0.1:{api_port()}", DLWS_ADMIN_USER="admin",
                   DLWS_ADMIN_PASSWORD=ADMIN_PASSWORD)
        processes = [_start(dlws_flow_command("up", "--host", "127.0.0.1", "--port", str(api_port()),
                                              "--concurrency", str(UP_CONCURRENCY)), env, log_path)]
    else:
        processes = [
            _start(dlws_flow_command("worker", "-c", str(WORKER_PROCESSES), "-n", f"test-{uuid.uuid4().hex[:6]}@%h"),
                   env, log_path),
            _start([sys.executable, "-m", "celery", "-A", "workers", "beat", "-l", "info",
                    "--schedule", str(data_dir / "celerybeat-schedule")], env, data_dir / "beat.log"),
        ]
    yield processes[0]
    for proc in processes:
        stop_process(proc)
    if os.environ.get("DLWS_TEST_SHOW_WORKER_LOG"):
        print(log_path.read_text()[-5000:])


@pytest.fixture(scope="session")
def http_files(tmp_path_factory):
    """A real HTTP server on 127.0.0.1 serving a temporary folder: (folder, base URL)."""
    folder = tmp_path_factory.mktemp("http")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield folder, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture(scope="session")
def vm_system(hosts, worker):
    """The SSH test host registered as a VM execution system (rootDir = the test user's home)."""
    from dlws_flow import add_system

    record = {
        "id": "vm-test", "host": hosts["DLWS_TEST_SSH_HOST"], "port": int(hosts["DLWS_TEST_SSH_PORT"]),
        "effectiveUserId": hosts["DLWS_TEST_SSH_USER"], "defaultAuthnMethod": "PKI_KEYS",
        "rootDir": "/home/hpcuser", "jobWorkingDir": "/workdir", "canExec": True,
        "hostKey": hosts["DLWS_TEST_SSH_HOST_KEY"],
        "authnCredential": {"privateKey": Path(hosts["DLWS_TEST_SSH_KEY"]).read_text()},
    }
    add_system(record, replace=True)
    return record


@pytest.fixture(scope="session")
def hpc_system(hosts, worker):
    """The same host registered as a Slurm execution system, with two logical queues and a profile."""
    from dlws_flow import add_system

    record = {
        "id": "hpc-test", "host": hosts["DLWS_TEST_SSH_HOST"], "port": int(hosts["DLWS_TEST_SSH_PORT"]),
        "effectiveUserId": hosts["DLWS_TEST_SSH_USER"], "rootDir": "/home/hpcuser", "jobWorkingDir": "/hpcwork",
        "canExec": True, "canRunBatch": True, "batchScheduler": "SLURM", "batchDefaultLogicalQueue": "dev",
        "batchLogicalQueues": [{"name": "dev", "hpcQueueName": "debug"}, {"name": "normal", "hpcQueueName": "batch"}],
        "schedulerProfiles": [{"name": "tacc", "setupLines": ["export PROFILE_MARK=tacc-profile-loaded"]}],
        "hostKey": hosts["DLWS_TEST_SSH_HOST_KEY"],
        "authnCredential": {"privateKey": Path(hosts["DLWS_TEST_SSH_KEY"]).read_text()},
    }
    add_system(record, replace=True)
    return record


@pytest.fixture(scope="session")
def sif_app(hosts, vm_system):
    from dlws_flow import add_app

    record = {"id": "busybox-app", "version": "1.0", "runtime": "SINGULARITY", "containerImage": hosts["DLWS_TEST_SIF"],
              "jobAttributes": {"execSystemId": vm_system["id"], "maxMinutes": 5}}
    add_app(record, replace=True)
    return record


def wait_status(job_uuid: str, wanted: set[str], timeout: float = 90.0) -> dict:
    from dlws_flow import get_job

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = get_job(job_uuid)
        if job["status"] in wanted:
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_uuid} did not reach {wanted}: {get_job(job_uuid)}")


def status_history(job_uuid: str) -> list[str]:
    """The job's states in order, from its history."""
    from dlws_flow import get_job_history

    return [event["newStatus"] for event in get_job_history(job_uuid) if event.get("newStatus")]


def wait_for(condition, what: str, timeout: float = 30.0) -> None:
    """Poll ``condition`` until it holds; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def script_args(script: str) -> dict:
    """Tapis appArgs that run ``script`` with the image's shell."""
    import shlex

    return {"appArgs": [{"name": "shell", "arg": "sh -c"}, {"name": "script", "arg": shlex.quote(script)}]}


@dataclass(frozen=True)
class SshCommand:
    """One command as the test host's sshd received it (scripts/testhosts: command-log.sh)."""

    time: float
    connection: str  # client address:port, one per SSH connection
    command: str


@pytest.fixture(scope="session")
def ssh_commands(hosts):
    """The host-side log of every command sent over SSH: ``mark()`` an offset, ``since(mark)`` read on."""
    path = Path(hosts["DLWS_TEST_SSH_COMMAND_LOG"])

    class CommandLog:
        def mark(self) -> int:
            return path.stat().st_size

        def since(self, offset: int) -> list[SshCommand]:
            with path.open("rb") as log:
                log.seek(offset)
                text = log.read().decode(errors="replace")
            entries = []
            for line in text.splitlines():
                fields = line.split("\t", 2)
                if len(fields) == 3:
                    entries.append(SshCommand(float(fields[0]), fields[1], fields[2]))
            return entries

    return CommandLog()


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@functools.cache
def api_port() -> int:
    """The API's port for this run, chosen once, before the worker starts (see ``worker``)."""
    return _free_port()


def wait_healthy(base_url: str, proc: subprocess.Popen, log_path: Path, timeout: float = 60) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(f"{base_url}/healthz", timeout=1).read()
            return
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the API did not start: {log_path.read_text()[-3000:]}")
            time.sleep(0.1)


@pytest.fixture(scope="session")
def api_server(worker) -> str:
    """The real API (uvicorn, its own process) on this run's database and broker; returns its base URL."""
    port = api_port()
    base_url = f"http://127.0.0.1:{port}"
    data_dir = Path(os.environ["DLWS_DATA_DIR"])
    if DEPLOYMENT == "up":  # ``dlws-flow up`` serves it already
        wait_healthy(base_url, worker, data_dir / "worker.log")
        yield base_url
        return
    env = {**os.environ, "DLWS_API_BASE_URL": base_url, "DLWS_ADMIN_USER": "admin", "DLWS_ADMIN_PASSWORD": ADMIN_PASSWORD}
    log_path = data_dir / "api.log"
    proc = _start([sys.executable, "-m", "uvicorn", "--factory", "api.app:create_app", "--host", "127.0.0.1",
                   "--port", str(port), "--log-level", "warning"], env, log_path)
    wait_healthy(base_url, proc, log_path)
    yield base_url
    stop_process(proc, timeout=20)


ADMIN_PASSWORD = "admin-password-for-tests"


def api_user(username: str, password: str | None = None) -> str:
    """Create (or reset) an API user directly in the store, as an operator would; returns the password."""
    from dlws_flow.services.auth import create_user

    password = password or api_password(username)
    create_user(username, password, replace=True)
    return password


def api_password(username: str) -> str:
    """The password ``api_user`` gave ``username``, for a second login that must not reset it: a reset
    revokes the tokens of the first login, which the API notices once its user cache expires."""
    return f"{username}-secret-pw"


def tapis_client(base_url: str, username: str, password: str):
    """A tapipy client with tokens, exactly as a Tapis user creates one."""
    from tapipy.tapis import Tapis

    client = Tapis(base_url=base_url, username=username, password=password)
    client.get_tokens()
    return client


class HostFreezer:
    """Makes the SSH test host stop answering after a command matching a glob has run (scripts/testhosts:
    command-log.sh): the command's answer is held, open SFTP sessions stop, later commands wait unrun."""

    def __init__(self, hosts: dict[str, str]) -> None:
        self.folder = Path(hosts["DLWS_TEST_SSH_COMMAND_LOG"]).parent / "freeze"

    def freeze_after(self, glob: str) -> None:
        (self.folder / "on").write_text(glob)

    @property
    def frozen(self) -> bool:
        return (self.folder / "frozen").exists()

    def thaw(self) -> None:
        (self.folder / "on").unlink(missing_ok=True)
        (self.folder / "frozen").unlink(missing_ok=True)
        subprocess.run(["pkill", "-CONT", "-u", "hpcuser", "-x", "sftp-server"], check=False)


@pytest.fixture
def host_freezer(hosts):
    freezer = HostFreezer(hosts)
    freezer.thaw()
    yield freezer
    freezer.thaw()
