"""What the benchmarks run against, brought up by the bench itself: the test hosts, the local PostgreSQL and
Redis, a fresh database, a real Celery worker and the real API (each in its own process).

``configure()`` must run before anything imports ``dlws_flow`` or ``celeryconfig``: settings are cached and
Celery binds its broker when the app is configured.
"""

from __future__ import annotations

import base64
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import paramiko

ROOT = Path(__file__).resolve().parents[1]
TESTHOSTS = os.environ.get("DLWS_TESTHOSTS_DIR", "/tmp/dlws-test-hosts")
PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
BENCH_USER = "benchuser"
BENCH_PASSWORD = "bench-user-password"
ADMIN_PASSWORD = "bench-admin-password"


@dataclass
class Stack:
    run_id: str
    data_dir: Path
    db_name: str
    queue: str
    #: A queue no worker consumes: P1's jobs are accepted, not run (see bench/runs.py).
    p1_queue: str
    hosts: dict[str, str] = field(default_factory=dict)
    procs: list[subprocess.Popen] = field(default_factory=list)
    api_pid: int = 0
    worker_pid: int = 0

    @property
    def database_url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:5432/{self.db_name}"


def configure() -> Stack:
    """Start the services, read the test hosts' facts and set every ``DLWS_*`` variable of this run."""
    subprocess.run(["bash", str(ROOT / "scripts/testhosts/up.sh"), TESTHOSTS], check=True, stdout=subprocess.DEVNULL)
    subprocess.run(["bash", str(ROOT / "scripts/services-up.sh")], check=True, stdout=subprocess.DEVNULL)
    run_id = uuid.uuid4().hex[:8]
    stack = Stack(run_id=run_id, data_dir=Path(tempfile.mkdtemp(prefix=f"dlws-bench-{run_id}-")),
                  db_name=f"dlws_bench_{run_id}", queue=f"dlws-bench-{run_id}", p1_queue=f"dlws-bench-p1-{run_id}")
    for line in Path(TESTHOSTS, "hosts.env").read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            stack.hosts[key] = value.strip("'\"")
    os.environ.update({
        "DLWS_DATA_DIR": str(stack.data_dir), "DLWS_QUEUE": stack.queue, "DLWS_SECRET_KEY": f"bench-secret-{run_id}",
        "DLWS_DATABASE_URL": stack.database_url, "DLWS_BROKER_URL": "redis://127.0.0.1:6379/8",
        "DLWS_DEFAULT_USER": BENCH_USER, "DLWS_ADMIN_USER": "admin", "DLWS_ADMIN_PASSWORD": ADMIN_PASSWORD,
    })
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{stack.db_name}"')
    from dlws_flow.services.auth import create_user
    from dlws_flow.store.db import migrate

    migrate()
    create_user(BENCH_USER, BENCH_PASSWORD, replace=True)
    return stack


def _spawn(stack: Stack, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen:
    with open(stack.data_dir / f"{name}.log", "wb") as log:
        proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    stack.procs.append(proc)
    if name == "worker":
        stack.worker_pid = proc.pid
    return proc


def start_worker(stack: Stack, processes: int) -> subprocess.Popen:
    """One Celery worker with ``processes`` pool processes; each holds its own SSH connections."""
    return _spawn(stack, "worker", [sys.executable, "-m", "celery", "-A", "workers", "worker", "-l", "info",
                                    "-c", str(processes), "-n", f"bench-{stack.run_id}@%h"], dict(os.environ))


def start_api(stack: Stack, workers: int) -> str:
    """The real API (uvicorn, ``workers`` processes) enqueueing on the P1 queue; returns its base URL."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    base_url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "DLWS_API_BASE_URL": base_url, "DLWS_QUEUE": stack.p1_queue}
    proc = _spawn(stack, "api", [sys.executable, "-m", "uvicorn", "--factory", "api.app:create_app", "--host", "127.0.0.1",
                                 "--port", str(port), "--log-level", "warning", "--no-access-log",
                                 "--workers", str(workers)], env)
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"{base_url}/healthz", timeout=1).read()
            stack.api_pid = proc.pid
            return base_url
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the API did not start: {(stack.data_dir / 'api.log').read_text()[-3000:]}") from None
            time.sleep(0.1)


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(child) for child in path.read_text().split()] if path.exists() else []


def cpu_seconds(pid: int, *, reaped: bool = False) -> float:
    """User + system CPU time process ``pid`` and its children have used so far (Linux /proc); with ``reaped``,
    also what their ended children left in ``cutime``/``cstime``."""
    total = 0
    for one in [pid, *_children(pid)]:
        try:
            fields = Path(f"/proc/{one}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        # utime, stime (fields 14 and 15 of stat), then cutime, cstime
        total += sum(int(v) for v in fields[11:15 if reaped else 13])
    return total / os.sysconf("SC_CLK_TCK")


def machine_busy_seconds() -> float:
    """CPU seconds all cores have spent busy since boot (Linux /proc/stat: everything but idle and iowait)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def host_client(stack: Stack) -> paramiko.SSHClient:
    """One direct Paramiko connection to the test host as the test user (the baselines' connection)."""
    client = paramiko.SSHClient()
    key_type, key_b64 = stack.hosts["DLWS_TEST_SSH_HOST_KEY"].split()[:2]
    client.get_host_keys().add(f"[{stack.hosts['DLWS_TEST_SSH_HOST']}]:{stack.hosts['DLWS_TEST_SSH_PORT']}", key_type,
                               paramiko.PKey.from_type_string(key_type, base64.b64decode(key_b64)))
    client.connect(stack.hosts["DLWS_TEST_SSH_HOST"], port=int(stack.hosts["DLWS_TEST_SSH_PORT"]),
                   username=stack.hosts["DLWS_TEST_SSH_USER"], key_filename=stack.hosts["DLWS_TEST_SSH_KEY"],
                   allow_agent=False, look_for_keys=False)
    return client


def run(client: paramiko.SSHClient, command: str) -> str:
    _, out, _ = client.exec_command(command)
    text = out.read().decode()
    out.channel.recv_exit_status()
    return text


def teardown(stack: Stack) -> None:
    for proc in reversed(stack.procs):
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=20)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
    from dlws_flow.store import db

    db.get_engine().dispose()
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{stack.db_name}" WITH (FORCE)')
    import redis

    broker = redis.Redis.from_url("redis://127.0.0.1:6379/8")
    broker.delete(stack.queue, stack.p1_queue)
