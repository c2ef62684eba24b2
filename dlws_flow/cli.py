"""The ``dlws-flow`` command line (Typer + Rich). Thin: every command calls the Python API or a service."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console
from rich.table import Table

from dlws_flow.errors import DlwsFlowError, NotFoundError, ValidationError
from dlws_flow.settings import get_settings

app = typer.Typer(help="Run containerized apps on VMs and Slurm clusters, Tapis-style.", no_args_is_help=True,
                  pretty_exceptions_enable=False)
systems_app = typer.Typer(help="Execution and storage systems.", no_args_is_help=True)
apps_app = typer.Typer(help="Applications (Tapis app records).", no_args_is_help=True)
jobs_app = typer.Typer(help="Submit and follow jobs.", no_args_is_help=True)
app.add_typer(systems_app, name="systems")
app.add_typer(apps_app, name="apps")
app.add_typer(jobs_app, name="jobs")
users_app = typer.Typer(help="API users (Tapis tokens, OpenPAI, /child).", no_args_is_help=True)
app.add_typer(users_app, name="users")

console = Console()
err = Console(stderr=True)

STATUS_STYLE = {"FINISHED": "bold green", "FAILED": "bold red", "CANCELLED": "yellow", "BLOCKED": "magenta"}


def main() -> None:
    """Entry point: errors become one line on stderr and a non-zero exit, never a traceback."""
    try:
        app()
    except ValidationError as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False)
        sys.exit(2)
    except NotFoundError as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False)
        sys.exit(3)
    except DlwsFlowError as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False)
        sys.exit(1)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise ValidationError(f"{path}: no such file") from exc
    except json.JSONDecodeError as exc:
        raise ValidationError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from exc
    if not isinstance(data, dict):
        raise ValidationError(f"{path}: expected a JSON object")
    return data


def _celery(*args: str) -> list[str]:
    return [sys.executable, "-m", "celery", "-A", "workers", *args]


def _spawn(command: list[str], **kwargs: Any) -> subprocess.Popen:
    return subprocess.Popen(command, start_new_session=True, **kwargs)


def _exit_on_sigterm() -> None:
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


def _stop(*processes: subprocess.Popen, wait: float = 15.0) -> None:
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
    return _celery("worker", "-B", "-s", str(schedule), "-l", "info", "--pool", pool, "-c", str(concurrency))


def up_api_command(host: str, port: int) -> list[str]:
    return [sys.executable, "-m", "uvicorn", "--factory", "api.app:create_app", "--host", host, "--port", str(port)]


# --- services ------------------------------------------------------------------------------------


@app.command()
def up(
    host: str = "127.0.0.1",
    port: int = 8000,
    concurrency: int = typer.Option(4, min=1, help=(
        "Stages the worker runs at once. With the thread pool they share one SSH connection per host and "
        "login, each using its own channel: keep it at or below the hosts' sshd MaxSessions (10 by default; "
        "DLWS_SSH_MAX_SESSIONS caps the channels one connection opens).")),
    pool: str = typer.Option("threads", help="Celery pool: threads (one process) or prefork (one process per stage)."),
) -> None:
    """Run the API, a worker and beat in the foreground on the configured (or embedded) backends.

    Ctrl-C or SIGTERM stops all three: running stages get DLWS_WORKER_STOP_GRACE seconds to finish."""
    from dlws_flow.store.db import migrate

    if pool not in ("threads", "prefork"):
        raise ValidationError(f"--pool {pool!r}: choose threads or prefork")
    migrate()
    _exit_on_sigterm()
    commands = {"API": up_api_command(host, port), "worker": up_worker_command(concurrency, pool)}
    children = {name: _spawn(command) for name, command in commands.items()}
    console.print(f"dlws-flow up: API on http://{host}:{port} (docs at /docs), worker ({pool}, {concurrency}) "
                  "and beat running; Ctrl-C stops")
    try:
        _supervise(children, commands)
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        # The worker needs its grace period plus a little to hand back its messages.
        _stop(*children.values(), wait=get_settings().worker_stop_grace + 15)


#: A child that dies is started again after this many seconds, as systemd's ``Restart=always`` would; one
#: that keeps dying (more than ``_MAX_RESTARTS`` times in ``_RESTART_WINDOW`` seconds) stops ``up``.
_RESTART_DELAY, _MAX_RESTARTS, _RESTART_WINDOW = 1.0, 5, 60.0


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
            _stop(proc, wait=5)  # what it left behind in its process group (the worker's beat)
            time.sleep(_RESTART_DELAY)
            restarts[name] = [*recent, now]
            children[name] = _spawn(commands[name])


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def worker(ctx: typer.Context) -> None:
    """Run a Celery worker (extra arguments go to ``celery worker``, e.g. ``-Q queue -c 4``)."""
    from dlws_flow.store.db import migrate

    migrate()
    os.execv(sys.executable, _celery("worker", "-l", "info", *ctx.args))


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def flower(ctx: typer.Context, port: int = 5555) -> None:
    """Run Flower on our Celery app: every stage task of every job, with its job UUID."""
    os.execv(sys.executable, _celery("flower", f"--port={port}", *ctx.args))


# --- users -----------------------------------------------------------------------------------------


@users_app.command("add")
def users_add(
    username: str,
    admin: bool = typer.Option(False, help="Give the user admin rights."),
    replace: bool = typer.Option(False, help="Reset the password (and admin flag) of an existing user."),
    password_stdin: bool = typer.Option(False, "--password-stdin", help="Read the password from stdin instead of a prompt."),
) -> None:
    """Add an API user; the password is asked for (never taken from the command line)."""
    from dlws_flow.client import _ensure_schema
    from dlws_flow.services import auth

    _ensure_schema()
    password = sys.stdin.readline().rstrip("\n") if password_stdin else typer.prompt("password", hide_input=True,
                                                                                     confirmation_prompt=True)
    auth.create_user(username, password, admin=admin, replace=replace)
    console.print(f"user [bold]{username}[/bold] {'updated' if replace else 'added'}" + (" (admin)" if admin else ""))


@users_app.command("list")
def users_list() -> None:
    from dlws_flow.client import _ensure_schema
    from dlws_flow.services import auth

    _ensure_schema()
    table = Table("username", "admin")
    for user in auth.list_users():
        table.add_row(user.username, str(user.is_admin))
    console.print(table)


# --- systems and apps ------------------------------------------------------------------------------


@systems_app.command("add")
def systems_add(
    file: Path,
    replace: bool = typer.Option(False, help="Replace an existing system of the same id."),
    fetch_host_key: bool = typer.Option(False, help="Ask the host for its key once and record it (trust on first use)."),
    private_key_file: Optional[Path] = typer.Option(None, help="Private key for the system's login (stored encrypted)."),
) -> None:
    """Register a system from a Tapis system JSON file."""
    from dlws_flow import client

    data = _read_json(file)
    if private_key_file:
        data["authnCredential"] = {**data.get("authnCredential", {}), "privateKey": private_key_file.read_text()}
    record = client.add_system(data, replace=replace, fetch_host_key=fetch_host_key)
    console.print(f"system [bold]{record['id']}[/bold] registered ({record['host']}:{record['port']})")


@systems_app.command("list")
def systems_list() -> None:
    from dlws_flow import client

    table = Table("id", "host", "port", "user", "batch", "enabled")
    for s in client.list_systems():
        table.add_row(s["id"], s["host"], str(s["port"]), s["effectiveUserId"], str(s.get("batchScheduler") or "-"),
                      str(s["enabled"]))
    console.print(table)


@apps_app.command("add")
def apps_add(file: Path, replace: bool = typer.Option(False, help="Replace an existing app version.")) -> None:
    """Register an app from a Tapis app JSON file."""
    from dlws_flow import client

    record = client.add_app(_read_json(file), replace=replace)
    console.print(f"app [bold]{record['id']}[/bold] version {record['version']} registered")


@apps_app.command("list")
def apps_list() -> None:
    from dlws_flow import client

    table = Table("id", "version", "runtime", "image", "exec system")
    for a in client.list_apps():
        table.add_row(a["id"], a["version"], a["runtime"], a["containerImage"], str(a["jobAttributes"].get("execSystemId")))
    console.print(table)


# --- jobs ----------------------------------------------------------------------------------------


def _print_status(job: dict[str, Any]) -> None:
    style = STATUS_STYLE.get(job["status"], "cyan")
    console.print(f"  [{style}]{job['status']:<18}[/{style}] {job.get('lastMessage') or ''}", highlight=False)


def _follow(job_uuid: str, timeout: float) -> dict[str, Any]:
    from dlws_flow import client

    seen = 0

    def show(_job: dict[str, Any]) -> None:
        nonlocal seen
        events = client.get_job_history(job_uuid)
        for event in events[seen:]:
            if event["newStatus"]:
                _print_status({"status": event["newStatus"], "lastMessage": event["description"]})
        seen = len(events)

    with console.status("waiting for the job...", spinner="dots"):
        job = client.wait_for_job(job_uuid, timeout=timeout, on_status=show)
    show(job)
    return job


@jobs_app.command("submit")
def jobs_submit(
    file: Optional[Path] = typer.Argument(None, help="A Tapis job request JSON file."),
    app_id: Optional[str] = typer.Option(None, "--app", help="App id (instead of a file)."),
    app_version: Optional[str] = typer.Option(None, "--version"),
    name: Optional[str] = typer.Option(None),
    exec_system: Optional[str] = typer.Option(None, "--system"),
    arg: list[str] = typer.Option([], "--arg", help="An app argument (repeatable)."),
    wait: bool = typer.Option(False, help="Follow the job through its states until it ends."),
    timeout: float = 3600.0,
) -> None:
    from dlws_flow import client

    request = _read_json(file) if file else {}
    for key, value in (("appId", app_id), ("appVersion", app_version), ("name", name), ("execSystemId", exec_system)):
        if value:
            request[key] = value
    request.setdefault("name", request.get("appId", "job"))
    if arg:
        request.setdefault("parameterSet", {}).setdefault("appArgs", []).extend({"arg": a} for a in arg)
    job = client.submit_job(request)
    console.print(f"job [bold]{job['uuid']}[/bold] submitted")
    if wait:
        job = _follow(job["uuid"], timeout)
        raise typer.Exit(0 if job["status"] == "FINISHED" else 1)


@jobs_app.command("status")
def jobs_status(job_uuid: str) -> None:
    from dlws_flow import client

    job = client.get_job(job_uuid)
    console.print_json(data={k: job[k] for k in ("uuid", "name", "status", "lastMessage", "exitCode", "remoteJobId",
                                                 "execSystemId", "created", "ended")})


@jobs_app.command("list")
def jobs_list(limit: int = 20) -> None:
    from dlws_flow import client

    table = Table("uuid", "name", "app", "system", "status", "created")
    for job in client.list_jobs(limit=limit):
        table.add_row(job["uuid"], job["name"], job["appId"], job["execSystemId"], job["status"], job["created"])
    console.print(table)


@jobs_app.command("history")
def jobs_history(job_uuid: str) -> None:
    from dlws_flow import client

    table = Table("when", "status", "message")
    for event in client.get_job_history(job_uuid):
        table.add_row(event["created"], event["newStatus"] or event["event"], event["description"] or "")
    console.print(table)


@jobs_app.command("output")
def jobs_output(job_uuid: str, path: str = typer.Argument("", help="Output path; a folder comes as a zip."),
                out: Optional[Path] = typer.Option(None, "-o", help="Write to this file instead of stdout."),
                list_only: bool = typer.Option(False, "--list", help="List the outputs instead of downloading.")) -> None:
    from dlws_flow import client

    if list_only:
        table = Table("path", "type", "size")
        for entry in client.list_job_outputs(job_uuid, path):
            table.add_row(entry["path"], entry["type"], str(entry.get("size", "")))
        console.print(table)
        return
    data = client.download_job_output(job_uuid, path)
    if out:
        out.write_bytes(data)
        console.print(f"wrote {len(data)} bytes to {out}")
    else:
        sys.stdout.buffer.write(data)


@jobs_app.command("cancel")
def jobs_cancel(job_uuid: str) -> None:
    from dlws_flow import client

    job = client.cancel_job(job_uuid)
    console.print(f"job {job_uuid}: cancel requested (now {job['status']})")


@jobs_app.command("pause")
def jobs_pause(job_uuid: str) -> None:
    """Stop a job at its next stage boundary (a queued Slurm job is held in the queue)."""
    from dlws_flow import client

    job = client.pause_job(job_uuid)
    console.print(f"job {job_uuid}: pause requested (now {job['status']})")


@jobs_app.command("resume")
def jobs_resume(job_uuid: str) -> None:
    """Continue a paused job from the stage it stopped before."""
    from dlws_flow import client

    job = client.resume_job(job_uuid)
    console.print(f"job {job_uuid}: resume requested (now {job['status']})")


# --- demo ----------------------------------------------------------------------------------------


@app.command()
def demo(timeout: float = 180.0) -> None:
    """Register this machine and a small app, run one job through every state, print its output."""
    from dlws_flow import client
    from dlws_flow.demo import demo_records

    settings = get_settings()
    console.rule("dlws-flow demo")
    console.print(f"database: {settings.resolved_database_url()}")
    console.print(f"broker:   {settings.broker_url or 'embedded (kombu filesystem transport under ' + str(settings.data_dir) + ')'}")
    system, app_record, note = demo_records()
    console.print(f"runtime:  {note}")
    client.add_system(system, replace=True)
    client.add_app(app_record, replace=True)
    console.print(f"registered system [bold]{system['id']}[/bold] and app [bold]{app_record['id']}[/bold]")
    worker_log = settings.data_dir / "demo-worker.log"
    _exit_on_sigterm()
    with open(worker_log, "wb") as log_file:
        worker_proc = _spawn(_celery("worker", "-l", "info", "--pool", "threads", "-c", "2", "-n", "demo@%h"),
                             stdout=log_file, stderr=subprocess.STDOUT)
    try:
        job = client.submit_job(name="demo-job", appId=app_record["id"], appVersion=app_record["version"],
                                parameterSet={"envVariables": [{"key": "DEMO_GREETING", "value": "hello"}]})
        console.print(f"job [bold]{job['uuid']}[/bold] submitted; following its states:")
        job = _follow(job["uuid"], timeout)
    finally:
        _stop(worker_proc)
    if job["status"] != "FINISHED":
        err.print(f"[red]job ended {job['status']}[/red]: {job.get('lastMessage')} (worker log: {worker_log})")
        raise typer.Exit(1)
    console.rule("tapisjob.out")
    console.print(client.download_job_output(job["uuid"], "tapisjob.out").decode(errors="replace"), highlight=False)
    console.rule("outputs")
    for entry in client.list_job_outputs(job["uuid"]):
        console.print(f"  {entry['path']}  ({entry.get('size', 0)} bytes)")
    console.print(f"[bold green]job {job['uuid']} FINISHED[/bold green]")


if __name__ == "__main__":
    main()
