"""``dlws-flow demo``: one job through every state with a worker of its own (the records are ``dlws_flow.demo``'s)."""

from __future__ import annotations

import subprocess

import typer

from dlws_flow.cli.common import console, err
from dlws_flow.cli.jobs import follow
from dlws_flow.cli.up import celery_command, exit_on_sigterm, spawn, stop
from dlws_flow.demo import demo_records
from dlws_flow.settings import get_settings

# ``dlws_flow.client`` is imported inside the command, on purpose: it loads SQLAlchemy and Celery, which
# ``dlws-flow --help`` must not pay for.


def demo(timeout: float = 180.0) -> None:
    """Register this machine and a small app, run one job through every state, print its output."""
    from dlws_flow import client

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
    exit_on_sigterm()
    with open(worker_log, "wb") as log_file:
        worker_proc = spawn(celery_command("worker", "-l", "info", "--pool", "threads", "-c", "2", "-n", "demo@%h"),
                            stdout=log_file, stderr=subprocess.STDOUT)
    try:
        job = client.submit_job(name="demo-job", appId=app_record["id"], appVersion=app_record["version"],
                                parameterSet={"envVariables": [{"key": "DEMO_GREETING", "value": "hello"}]})
        console.print(f"job [bold]{job['uuid']}[/bold] submitted; following its states:")
        job = follow(job["uuid"], timeout)
    finally:
        stop(worker_proc)
    if job["status"] != "FINISHED":
        err.print(f"[red]job ended {job['status']}[/red]: {job.get('lastMessage')} (worker log: {worker_log})")
        raise typer.Exit(1)
    console.rule("tapisjob.out")
    console.print(client.download_job_output(job["uuid"], "tapisjob.out").decode(errors="replace"), highlight=False)
    console.rule("outputs")
    for entry in client.list_job_outputs(job["uuid"]):
        console.print(f"  {entry['path']}  ({entry.get('size', 0)} bytes)")
    console.print(f"[bold green]job {job['uuid']} FINISHED[/bold green]")
