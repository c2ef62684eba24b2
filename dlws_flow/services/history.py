"""The history of systems and apps (Tapis ``getHistory``): who changed what, and when, including grants.

Each service records its change in the transaction that makes it, so a change and its history entry are
one. Entries are shown with the documents' ``OperationTypeEnum`` of each service; what has no name there
(a systems grant, a host key event the engine records) is shown as ``MODIFY``, its description saying what it was.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from dlws_flow.services import permissions as perms
from dlws_flow.services.auth import Principal
from dlws_flow.store import repositories as repo
from dlws_flow.store.db import session_scope

SYSTEM_OPERATIONS = frozenset({"CREATE", "READ", "MODIFY", "EXECUTE", "DELETE", "UNDELETE", "CHANGE_OWNER", "ENABLE",
                               "DISABLE", "GET_PERMS", "REVOKE_PERMS", "SET_CRED", "REMOVE_CRED", "GET_CRED"})
APP_OPERATIONS = frozenset({"CREATE", "READ", "MODIFY", "EXECUTE", "DELETE", "UNDELETE", "HARD_DELETE", "CHANGE_OWNER",
                            "ENABLE", "DISABLE", "LOCK", "UNLOCK", "GET_PERMS", "GRANT_PERMS", "REVOKE_PERMS"})


def record_system(session: Session, system_id: str, tenant: str, principal: Principal, operation: str,
                  description: str) -> None:
    repo.add_system_event(session, system_id, tenant, principal.username, operation, description)


def record_app(session: Session, app_id: str, version: str | None, tenant: str, principal: Principal,
               operation: str, description: str) -> None:
    repo.add_app_event(session, app_id, version, tenant, principal.username, operation, description)


def record(session: Session, kind: str, resource_id: str, tenant: str, principal: Principal, operation: str,
           description: str) -> None:
    """For code shared by both kinds (``services.sharing``)."""
    if kind == "system":
        record_system(session, resource_id, tenant, principal, operation, description)
    else:
        record_app(session, resource_id, None, tenant, principal, operation, description)


def _entry(event: Any, tenant: str, allowed: frozenset[str]) -> dict[str, Any]:
    """One entry in Tapis' shape: an operation the document does not name is MODIFY, named in the description."""
    operation = event.operation if event.operation in allowed else "MODIFY"
    description = event.description if operation == event.operation else f"{event.operation}: {event.description}"
    return {"jwtTenant": event.tenant, "jwtUser": event.username, "oboTenant": tenant, "oboUser": event.username,
            "operation": operation, "description": description, "created": repo.when(event.created)}


def system_history(principal: Principal, system_id: str) -> list[dict[str, Any]]:
    """The system's history, oldest first, for anyone who may read the system."""
    with session_scope() as session:
        row = repo.get_system(session, system_id)
        perms.require(session, principal, "system", row.id, row.owner, "READ", what=f"system {system_id}")
        return [_entry(event, row.tenant, SYSTEM_OPERATIONS) for event in repo.system_history(session, system_id)]


def app_history(principal: Principal, app_id: str) -> list[dict[str, Any]]:
    """The app's history (every version's), oldest first, for anyone who may read the app."""
    with session_scope() as session:
        row = repo.get_app(session, app_id, None)
        perms.require(session, principal, "app", app_id, row.owner, "READ", what=f"app {app_id}")
        return [{**_entry(event, row.tenant, APP_OPERATIONS), "appVersion": event.app_version or ""}
                for event in repo.app_history(session, app_id)]
