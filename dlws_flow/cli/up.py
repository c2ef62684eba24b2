"""``dlws-flow up`` (the API, a worker and its beat under one supervisor), ``worker`` and ``flower``, and the
child-process plumbing they and ``demo`` share: spawning in a process group of its own, restarts, signals.
The commands are plain functions; ``dlws_flow.cli`` registers them on the app.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from typing import Annotated, Any

import typer

from dlws_flow.cli.common import console, err
from dlws_flow.errors import ValidationError
from dlws_flow.settings import get_settings

# ``migrate`` is imported inside the commands that run it, on purpose: it loads SQLAlchemy, which
# ``dlws-flow --help`` must not pay for.

#: A child that dies is started again after this many seconds, as systemd's ``Restart=always`` would; one
#: that keeps dying (more than ``_MAX_RESTARTS`` times in ``_RESTART_WINDOW`` seconds) stops ``up``.
_RESTART_DELAY, _MAX_RESTARTS, _RESTART_WINDOW = 1.0, 5, 60.0


def celery_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "celery", "-A", "workers", *args]


def spawn(command: list[str], **kwargs: Any) -> subprocess.Popen:
    return subprocess.Popen(command, start_new_session=True, **kwargs)


def exit_on_sigterm() -> None:
    """A process manager stops us with SIGTERM: leave through ``finally`` so the children stop too."""

    def handler(_signum, _frame):
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, handler)


def _signal_group(proc: subprocess.Popen, signum: int) -> None:
    """Signal the child's whole process group, even when the child itself is gone: a worker killed with
    SIGKILL leaves its embedded beat process behind in the group."""
    try:
        os.killpg(proc.pid, signum)
    except ProcessLookupError:
        pass


def stop(*processes: subprocess.Popen, wait: float = 15.0) -> None:
    """SIGTERM each child's process group, wait up to ``wait`` seconds, then SIGKILL what is left.

    A second Ctrl-C (or SIGTERM) while waiting kills at once: whoever presses it twice means it."""
    for proc in processes:
        _signal_group(proc, signal.SIGTERM)
    deadline = time.monotonic() + wait
    try:
        for proc in processes:
            try:
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
    except (KeyboardInterrupt, SystemExit):
        pass
    for proc in processes:
        _signal_group(proc, signal.SIGKILL)
        proc.wait()


def up_worker_command(concurrency: int, pool: str = "threads") -> list[str]:
    """The worker (with its embedded beat) exactly as ``dlws-flow up`` starts it; the tests start the same.

    The beat's schedule file lives in the data directory, not in whatever directory ``up`` was run from.
    """
    schedule = get_settings().ensure_data_dir() / "celerybeat-schedule"
    return celery_command("worker", "-B", "-s", str(schedule), "-l", "info", "--pool", pool, "-c", str(concurrency))


def up_api_command(host: str, port: int) -> list[str]:
    return [sys.executable, "-m", "uvicorn", "--factory", "api.app:create_app", "--host", host, "--port", str(port)]


def up(
    host: str = "127.0.0.1",
    port: int = 8000,
    concurrency: Annotated[int, typer.Option(min=1, help=(
        "Stages the worker runs at once. With the thread pool they share one SSH connection per host and "
        "login, each using its own channel: keep it at or below the hosts' sshd MaxSessions (10 by default; "
        "DLWS_SSH_MAX_SESSIONS caps the channels one connection opens)."))] = 4,
    pool: Annotated[str, typer.Option(
        help="Celery pool: threads (one process) or prefork (one process per stage).")] = "threads",
) -> None:
    """Run the API, a worker and beat in the foreground on the configured (or embedded) backends.

    Ctrl-C or SIGTERM stops all three: running stages get DLWS_WORKER_STOP_GRACE seconds to finish."""
    from dlws_flow.store.db import migrate

    if pool not in ("threads", "prefork"):
        raise ValidationError(f"--pool {pool!r}: choose threads or prefork")
    migrate()
    exit_on_sigterm()
    commands = {"API": up_api_command(host, port), "worker": up_worker_command(concurrency, pool)}
    children = {name: spawn(command) for name, command in commands.items()}
    console.print(f"dlws-flow up: API on http://{host}:{port} (docs at /docs), worker ({pool}, {concurrency}) "
                  "and beat running; Ctrl-C stops")
    try:
        _supervise(children, commands)
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        # The worker needs its grace period plus a little to hand back its messages.
        stop(*children.values(), wait=get_settings().worker_stop_grace + 15)


def _supervise(children: dict[str, subprocess.Popen], commands: dict[str, list[str]]) -> None:
    """Keep the API and the worker running: a worker killed under its stages (the OOM killer) comes back,
    and the stages it held are re-delivered (acks_late) or re-sent by the reconciler."""
    restarts: dict[str, list[float]] = {name: [] for name in children}
    while True:
        time.sleep(0.5)
        for name, proc in children.items():
            if proc.poll() is None:
                continue
            now = time.monotonic()
            recent = [t for t in restarts[name] if now - t < _RESTART_WINDOW]
            if len(recent) >= _MAX_RESTARTS:
                err.print(f"[red]dlws-flow up: the {name} keeps exiting (status {proc.returncode}); stopping[/red]")
                raise typer.Exit(1)
            err.print(f"dlws-flow up: the {name} exited with status {proc.returncode}; starting it again")
            stop(proc, wait=5)  # what it left behind in its process group (the worker's beat)
            time.sleep(_RESTART_DELAY)
            restarts[name] = [*recent, now]
            children[name] = spawn(commands[name])


def worker(ctx: typer.Context) -> None:
    """Run a Celery worker (extra arguments go to ``celery worker``, e.g. ``-Q queue -c 4``)."""
    from dlws_flow.store.db import migrate

    migrate()
    os.execv(sys.executable, celery_command("worker", "-l", "info", *ctx.args))


def flower(ctx: typer.Context, port: int = 5555) -> None:
    """Run Flower on our Celery app: every stage task of every job, with its job UUID."""
    os.execv(sys.executable, celery_command("flower", f"--port={port}", *ctx.args))
