"""``dlws-flow jobs``: submit a job, follow it through its states, read its status, history and outputs,
and cancel, pause or resume it."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from dlws_flow.cli.common import console, read_json
from dlws_flow.domain.states import TERMINAL_STATES
from dlws_flow.errors import NotFoundError

# ``dlws_flow.client`` is imported inside the commands, on purpose: it loads SQLAlchemy and Celery, which
# ``dlws-flow --help`` must not pay for.

jobs_app = typer.Typer(help="Submit and follow jobs.", no_args_is_help=True)

STATUS_STYLE = {"FINISHED": "bold green", "FAILED": "bold red", "CANCELLED": "yellow", "BLOCKED": "magenta"}


def _print_status(job: dict[str, Any]) -> None:
    style = STATUS_STYLE.get(job["status"], "cyan")
    console.print(f"  [{style}]{job['status']:<18}[/{style}] {job.get('lastMessage') or ''}", highlight=False)


def follow(job_uuid: str, timeout: float) -> dict[str, Any]:
    """Print each new status of the job until it ends (or ``timeout``); returns the job as it ended."""
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
    file: Annotated[Path | None, typer.Argument(help="A Tapis job request JSON file.")] = None,
    app_id: Annotated[str | None, typer.Option("--app", help="App id (instead of a file).")] = None,
    app_version: Annotated[str | None, typer.Option("--version")] = None,
    name: str | None = None,
    exec_system: Annotated[str | None, typer.Option("--system")] = None,
    arg: Annotated[list[str] | None, typer.Option("--arg", help="An app argument (repeatable).")] = None,
    wait: Annotated[bool, typer.Option(help="Follow the job through its states until it ends.")] = False,
    timeout: float = 3600.0,
) -> None:
    from dlws_flow import client

    request = read_json(file) if file else {}
    for key, value in (("appId", app_id), ("appVersion", app_version), ("name", name), ("execSystemId", exec_system)):
        if value:
            request[key] = value
    request.setdefault("name", request.get("appId", "job"))
    if arg:
        request.setdefault("parameterSet", {}).setdefault("appArgs", []).extend({"arg": a} for a in arg)
    job = client.submit_job(request)
    console.print(f"job [bold]{job['uuid']}[/bold] submitted")
    if wait:
        job = follow(job["uuid"], timeout)
        raise typer.Exit(0 if job["status"] == "FINISHED" else 1)


@jobs_app.command("sweep")
def jobs_sweep(
    file: Annotated[Path, typer.Argument(help='A sweep JSON file: {"name", "job", "parameters", "combine"}.')],
) -> None:
    """Submit a parameter sweep: one job per combination of the parameters' values."""
    from dlws_flow import client

    sweep = client.submit_sweep(read_json(file))
    console.print(f"sweep [bold]{sweep['id']}[/bold] submitted: {sweep['size']} jobs")
    for job in sweep["jobs"]:
        console.print(f"  {job['index']:>5}  {job['uuid']}  {job['status']}", highlight=False)


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
def jobs_output(
    job_uuid: str,
    path: Annotated[str, typer.Argument(help="Output path; a folder comes as a zip.")] = "",
    out: Annotated[Path | None, typer.Option("-o", help="Write to this file instead of stdout.")] = None,
    list_only: Annotated[bool, typer.Option("--list", help="List the outputs instead of downloading.")] = False,
) -> None:
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


@jobs_app.command("logs")
def jobs_logs(
    job_uuid: str,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing what the job writes until it ends.")] = False,
    path: Annotated[str | None, typer.Option(help="Another output file than the job's stdout.")] = None,
    interval: Annotated[float, typer.Option(help="Seconds between two looks while following.")] = 1.0,
) -> None:
    """Print the job's output (tapisjob.out), from the host while it runs, from the archive after."""
    from dlws_flow import client

    offset = 0
    while True:
        try:
            answer = client.tail_job_output(job_uuid, offset, path)
        except NotFoundError:
            if not follow or client.get_job(job_uuid)["status"] in TERMINAL_STATES:
                raise
            time.sleep(interval)  # not written yet: the job has not started
            continue
        sys.stdout.write(answer["text"])
        sys.stdout.flush()
        progressed, offset = answer["nextOffset"] > offset, answer["nextOffset"]
        if progressed and offset < answer["size"]:
            continue  # more is there already
        if not follow or answer["ended"]:
            return
        time.sleep(interval)


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
