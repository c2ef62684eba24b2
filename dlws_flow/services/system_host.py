"""Systems operations that reach the host: ``hostEval`` and ``checkUserCredential``.

Authorized here from the database, performed by a worker through the file gateway (the API opens no SSH
connection): ``services.host_probes`` holds the host side.

- ``hostEval`` runs a command on the host as the caller's login (their own credential, else the owner's, as
  a job of theirs would): it needs EXECUTE, what a job needs.
- ``checkUserCredential`` logs in with ``userName``'s own stored credential, never the owner's in its place:
  the owner (or an admin) checks anyone's, any other user only their own, as they manage them.
"""

from __future__ import annotations

from typing import Any

from dlws_flow.errors import AuthenticationFailedError, NotFoundError, ValidationError
from dlws_flow.services.auth import Principal
from dlws_flow.services.files import FileGateway
from dlws_flow.services.host_probes import check_variable_name
from dlws_flow.services.systems import may_manage_credential, visible_system
from dlws_flow.store import repositories as repo
from dlws_flow.store.db import session_scope


def host_eval(principal: Principal, system_id: str, name: str, *, gateway: FileGateway) -> str:
    """The value of ``$name`` on the system's host for the caller's login."""
    check_variable_name(name)
    with session_scope() as session:
        root = repo.system_spec(visible_system(session, principal, system_id, "EXECUTE")).rootDir or "/"
    answer = gateway.run("host_eval", system_id=system_id, username=principal.username, root=root, name=name)
    return answer["value"]


def check_credential(principal: Principal, system_id: str, username: str, authn_method: str | None, *,
                     gateway: FileGateway) -> dict[str, Any]:
    """Log in with ``username``'s stored credential; a refused one is a 400 naming the host's answer."""
    with session_scope() as session:
        row = visible_system(session, principal, system_id)
        may_manage_credential(principal, row, username)
        spec = repo.system_spec(row)
        if authn_method is not None and authn_method != spec.defaultAuthnMethod:
            raise ValidationError(f"authnMethod {authn_method}: system {system_id} logs in with "
                                  f"{spec.defaultAuthnMethod}, the only method checked here")
        if spec.transport != "LOCAL" and repo.get_credential(session, system_id, username) is None:
            raise NotFoundError(f"no credential for {username} on {system_id}")
    try:
        gateway.run("check_login", system_id=system_id, username=username, root=spec.rootDir or "/")
    except AuthenticationFailedError as exc:
        raise ValidationError(f"the credential of {username} on {system_id} was refused: {exc}") from exc
    return {"systemId": system_id, "userName": username, "authnMethod": spec.defaultAuthnMethod, "valid": True}
