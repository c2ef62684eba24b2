"""Tapis transfer tasks: create, read, list and cancel them (workers run them: ``dlws_flow.engine.transfers``).

Who may do what is decided at creation, from the database, exactly as the Files API decides it
(``services.files``): READ on every ``tapis://`` source path, MODIFY on every destination path. http(s) sources
need no permission; the worker fetches them through the SSRF guard of job inputs. A task is its creator's:
only they (and admins) see or cancel it; to anyone else it does not exist (404). The worker uses the
creator's stored login on each system, as their jobs do.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from dlws_flow.adapters.staging import safe_http
from dlws_flow.domain.address_policy import AddressNotAllowedError, host_as_written
from dlws_flow.domain.transfers import MAX_ELEMENTS, TERMINAL, TransferStatus, TransferUri, parse_uri
from dlws_flow.errors import ConflictError, NotFoundError, PermissionDeniedError, ValidationError
from dlws_flow.services import files
from dlws_flow.services.auth import Principal
from dlws_flow.services.systems import worker_queue
from dlws_flow.settings import get_settings
from dlws_flow.store import repositories as repo
from dlws_flow.store.db import session_scope
from dlws_flow.store.models import utcnow
from dlws_flow.store.models_transfers import TransferChildRow, TransferParentRow, TransferTaskRow

log = logging.getLogger(__name__)

#: ``send(parent id, token)``: hand one element to a worker (``workers.transfer_tasks.send_parent``).
Sender = Callable[[int, str], None]
_TRANSFER_TYPES = (None, "TRANSFER")


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def _element(principal: Principal, element: dict[str, Any], index: int) -> tuple[TransferUri, TransferUri, bool]:
    """Parse and authorize one element; refuses what dlws-flow does not do rather than ignoring it."""
    where = f"elements[{index}]"
    if element.get("transferType") not in _TRANSFER_TYPES:
        raise ValidationError(f"{where}.transferType {element['transferType']!r}: only TRANSFER is supported (the "
                              "SERVICE_MOVE_* types are not offered)")
    for context in ("srcSharedCtx", "destSharedCtx"):
        if element.get(context) is not None:
            raise ValidationError(f"{where}.{context}: shared contexts are not supported; the transfer runs as you")
    source = parse_uri(element["sourceURI"], f"{where}.sourceURI", http_allowed=True)
    destination = parse_uri(element["destinationURI"], f"{where}.destinationURI", http_allowed=False)
    if source.is_http:
        _refuse_literal_address(source.uri, f"{where}.sourceURI")
    else:
        files._authorize(principal, source.system_id, source.path, "READ")
        if source.system_id == destination.system_id and (
                destination.path == source.path or destination.path.startswith(source.path + "/") or not source.path):
            raise ValidationError(f"{where}: the destination lies inside the source")
    files._authorize(principal, destination.system_id, destination.path, "MODIFY")
    return source, destination, bool(element.get("optional") or False)


def _refuse_literal_address(url: str, field: str) -> None:
    """Refuse at once what the SSRF guard would refuse without DNS (a private address written out, a denied
    name); names are resolved and checked by the worker when it connects (``safe_http``)."""
    host = urlsplit(url).hostname or ""
    reason = safe_http.deployment_policy().literal_refusal(host)
    if reason is not None:
        log.warning("refused transfer source %s: %s", url, reason)
        raise AddressNotAllowedError(host_as_written(url), reason, subject=field)


def create_transfer(principal: Principal, request: dict[str, Any], send: Sender) -> dict[str, Any]:
    """Record a task with one parent per element (ACCEPTED) and hand each parent to a worker.

    Each parent's lease is given to the message that carries it (a token), until the lease time: if that
    message is lost, the reconciler sends another once it has passed.
    """
    elements = request.get("elements") or []
    if not elements:
        raise ValidationError("elements: give at least one element (sourceURI, destinationURI)")
    if len(elements) > MAX_ELEMENTS:
        raise ValidationError(f"elements: at most {MAX_ELEMENTS} in one transfer task")
    parsed = [_element(principal, element, i) for i, element in enumerate(elements)]
    now = utcnow()
    until = now + timedelta(seconds=get_settings().transfer_lease_seconds)
    tokens = [f"create-{uuid.uuid4().hex}" for _ in parsed]
    with session_scope() as session:
        task = TransferTaskRow(uuid=str(uuid.uuid4()), tenant=principal.tenant, username=principal.username,
                               tag=request.get("tag"), status=TransferStatus.ACCEPTED.value, created=now)
        parents = [TransferParentRow(uuid=str(uuid.uuid4()), source_uri=source.uri, destination_uri=destination.uri,
                                     optional=optional, status=TransferStatus.ACCEPTED.value, total_bytes=0,
                                     bytes_transferred=0, lease_holder=token, lease_expires=until, runs=0, created=now)
                   for (source, destination, optional), token in zip(parsed, tokens, strict=True)]
        repo.add_transfer(session, task, parents)
        view = _task_view(task, summary=(0, 0, parents), parents=parents)
        sends = [(parent.id, token) for parent, token in zip(parents, tokens, strict=True)]
    for parent_id, token in sends:
        send(parent_id, token)
    return view


def _visible(session, principal: Principal, task_uuid: str) -> TransferTaskRow:
    task = repo.get_transfer(session, task_uuid)
    if task.tenant != principal.tenant or (task.username != principal.username and not principal.is_admin):
        raise NotFoundError(f"transfer task {task_uuid} not found")
    return task


def _refuse_impersonation(impersonation_id: str | None) -> None:
    if impersonation_id:
        raise PermissionDeniedError("impersonationId is reserved to Tapis services; dlws-flow has none")


def get_transfer(principal: Principal, task_uuid: str, *, include_summary: bool = False, details: bool = False,
                 impersonation_id: str | None = None) -> dict[str, Any]:
    """The task's top-level attributes; with ``include_summary`` its totals; with ``details`` also every parent
    with its children."""
    _refuse_impersonation(impersonation_id)
    with session_scope() as session:
        task = _visible(session, principal, task_uuid)
        if not (include_summary or details):
            return _task_view(task)
        parents = repo.transfer_parents(session, [task.id])
        total, complete = repo.child_counts(session, [task.id]).get(task.id, (0, 0))
        children = repo.transfer_children(session, [p.id for p in parents]) if details else None
        return _task_view(task, summary=(total, complete, parents), parents=parents if details else None,
                          children=children)


def list_transfers(principal: Principal, limit: int = 1000, offset: int = 0) -> list[dict[str, Any]]:
    """The caller's tasks, most recent first (top-level attributes, as Tapis lists them)."""
    if offset < 0 or limit < -1:
        raise ValidationError("limit and offset must not be negative")
    with session_scope() as session:
        return [_task_view(task) for task in repo.list_transfers(session, principal.username, limit, offset)]


def cancel_transfer(principal: Principal, task_uuid: str) -> str:
    """Cancel the task, its parents and children not yet final; a worker copying one stops at its next renewal."""
    with session_scope() as session:
        task = _visible(session, principal, task_uuid)
        if TransferStatus(task.status) in TERMINAL or not repo.cancel_transfer(session, task.id, utcnow()):
            raise ConflictError(f"transfer task {task_uuid} is {task.status}: it cannot be cancelled")
    return task_uuid


def queue_of_parent(parent_id: int) -> str:
    """The worker queue of the element's destination system (its ``workerQueue``, else ``DLWS_QUEUE``)."""
    with session_scope() as session:
        parent = session.get(TransferParentRow, parent_id)
        if parent is None:
            return get_settings().queue
        destination = parse_uri(parent.destination_uri, "destinationURI", http_allowed=False)
        try:
            return worker_queue(repo.system_spec(repo.get_system(session, destination.system_id)))
        except NotFoundError:  # deleted meanwhile: any worker can fail it
            return get_settings().queue


# --- views (Tapis TransferTask, TransferTaskParent, TransferTaskChild) --------------------------------------


def _task_view(task: TransferTaskRow, *, summary: tuple[int, int, list[TransferParentRow]] | None = None,
               parents: list[TransferParentRow] | None = None,
               children: list[TransferChildRow] | None = None) -> dict[str, Any]:
    view: dict[str, Any] = {
        "username": task.username, "tenantId": task.tenant, "tag": task.tag, "uuid": task.uuid, "status": task.status,
        "created": _iso(task.created), "startTime": _iso(task.start_time), "endTime": _iso(task.end_time),
        "errorMessage": task.error_message}
    if summary is not None:
        total, complete, summary_parents = summary
        view.update(totalTransfers=total, completeTransfers=complete,
                    estimatedTotalBytes=sum(p.total_bytes for p in summary_parents),
                    totalBytesTransferred=sum(p.bytes_transferred for p in summary_parents))
    if parents is not None:
        by_parent: dict[int, list[TransferChildRow]] = {}
        for child in children or []:
            by_parent.setdefault(child.parent_id, []).append(child)
        view["parentTasks"] = [_parent_view(task, p, by_parent.get(p.id, []) if children is not None else None)
                               for p in parents]
    return view


def _common(task: TransferTaskRow, row: TransferParentRow | TransferChildRow) -> dict[str, Any]:
    return {"tenantId": task.tenant, "username": task.username, "sourceURI": row.source_uri,
            "destinationURI": row.destination_uri, "totalBytes": row.total_bytes,
            "bytesTransferred": row.bytes_transferred, "taskId": task.id, "errorMessage": row.error_message,
            "uuid": row.uuid, "status": row.status, "created": _iso(row.created), "startTime": _iso(row.start_time),
            "endTime": _iso(row.end_time)}


def _parent_view(task: TransferTaskRow, parent: TransferParentRow,
                 children: list[TransferChildRow] | None) -> dict[str, Any]:
    view = _common(task, parent)
    if children is not None:
        view["children"] = [{**_common(task, c), "parentTaskId": parent.id, "retries": c.retries, "dir": c.dir}
                            for c in children]
    return view
