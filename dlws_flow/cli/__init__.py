"""The ``dlws-flow`` command line (Typer + Rich). Thin: every command calls the Python API or a service.

This module is the app and its wiring; the commands are in ``up`` (``up``, ``worker``, ``flower``),
``records`` (``users``, ``systems``, ``apps``), ``jobs`` and ``demo``.
"""

from __future__ import annotations

import sys

import typer

from dlws_flow.cli import demo, jobs, records, up
from dlws_flow.cli.common import err
from dlws_flow.errors import DlwsFlowError, NotFoundError, ValidationError

#: ``worker`` and ``flower`` hand the arguments they do not know to Celery.
_PASS_THROUGH = {"allow_extra_args": True, "ignore_unknown_options": True}

app = typer.Typer(help="Run containerized apps on VMs and Slurm clusters, Tapis-style.", no_args_is_help=True,
                  pretty_exceptions_enable=False)
app.command()(up.up)
app.command(context_settings=_PASS_THROUGH)(up.worker)
app.command(context_settings=_PASS_THROUGH)(up.flower)
app.command()(demo.demo)
app.add_typer(records.systems_app, name="systems")
app.add_typer(records.apps_app, name="apps")
app.add_typer(jobs.jobs_app, name="jobs")
app.add_typer(records.users_app, name="users")


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
