"""``dlws-flow users``, ``systems`` and ``apps``: add and list the records jobs run with."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from dlws_flow.cli.common import console, read_json

# ``dlws_flow.client`` and the services are imported inside the commands, on purpose: they load SQLAlchemy
# and Celery, which ``dlws-flow --help`` must not pay for.

users_app = typer.Typer(help="API users (Tapis tokens, OpenPAI, /child).", no_args_is_help=True)
systems_app = typer.Typer(help="Execution and storage systems.", no_args_is_help=True)
apps_app = typer.Typer(help="Applications (Tapis app records).", no_args_is_help=True)


@users_app.command("add")
def users_add(
    username: str,
    admin: Annotated[bool, typer.Option(help="Give the user admin rights.")] = False,
    replace: Annotated[bool, typer.Option(help="Reset the password (and admin flag) of an existing user.")] = False,
    password_stdin: Annotated[bool, typer.Option("--password-stdin",
                                                 help="Read the password from stdin instead of a prompt.")] = False,
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


@systems_app.command("add")
def systems_add(
    file: Path,
    replace: Annotated[bool, typer.Option(help="Replace an existing system of the same id.")] = False,
    fetch_host_key: Annotated[bool, typer.Option(
        help="Ask the host for its key now and record it with the system (without it, and without hostKey, "
             "the key is pinned at the first connection).")] = False,
    private_key_file: Annotated[Path | None, typer.Option(
        help="Private key for the system's login (stored encrypted).")] = None,
) -> None:
    """Register a system from a Tapis system JSON file."""
    from dlws_flow import client

    data = read_json(file)
    if private_key_file:
        data["authnCredential"] = {**data.get("authnCredential", {}), "privateKey": private_key_file.read_text()}
    record = client.add_system(data, replace=replace, fetch_host_key=fetch_host_key)
    console.print(f"system [bold]{record['id']}[/bold] registered ({record['host']}:{record['port']})")


@systems_app.command("accept-host-key")
def systems_accept_host_key(
    system_id: str,
    fingerprint: Annotated[str | None, typer.Option(
        help="Accept only if the offered key has this fingerprint (SHA256:..., as the refusal names it).")] = None,
) -> None:
    """Accept the host key a changed host offered in place of the pinned one (the next job connects with it)."""
    from dlws_flow.client import _ensure_schema
    from dlws_flow.services import host_keys

    _ensure_schema()
    accepted = host_keys.accept_as_operator(system_id, fingerprint)
    console.print(f"system [bold]{system_id}[/bold]: host key {accepted['hostKeyFingerprint']} accepted "
                  f"(was {accepted['previousFingerprint']})")


@systems_app.command("list")
def systems_list() -> None:
    from dlws_flow import client

    table = Table("id", "host", "port", "user", "batch", "enabled")
    for s in client.list_systems():
        table.add_row(s["id"], s["host"], str(s["port"]), s["effectiveUserId"], str(s.get("batchScheduler") or "-"),
                      str(s["enabled"]))
    console.print(table)


@apps_app.command("add")
def apps_add(file: Path, replace: Annotated[bool, typer.Option(help="Replace an existing app version.")] = False) -> None:
    """Register an app from a Tapis app JSON file."""
    from dlws_flow import client

    record = client.add_app(read_json(file), replace=replace)
    console.print(f"app [bold]{record['id']}[/bold] version {record['version']} registered")


@apps_app.command("list")
def apps_list() -> None:
    from dlws_flow import client

    table = Table("id", "version", "runtime", "image", "exec system")
    for a in client.list_apps():
        table.add_row(a["id"], a["version"], a["runtime"], a["containerImage"], str(a["jobAttributes"].get("execSystemId")))
    console.print(table)
