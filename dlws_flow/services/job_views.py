"""Jobs as the APIs show them: the Tapis ``Job`` and job-event shapes, and the Tapis search syntax
(``field.op=value``, ``orderBy=field(desc)``) turned into the conditions ``repo.search_jobs`` takes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from dlws_flow.errors import ValidationError
from dlws_flow.store import repositories as repo
from dlws_flow.store.models import JobEventRow, JobRow

#: Search fields: query parameter -> column (compared as the operator says); DATE_FIELDS take ISO 8601 dates.
SEARCH_FIELDS = {"status": "status", "name": "name", "appId": "app_id", "appVersion": "app_version", "owner": "owner",
                 "execSystemId": "exec_system_id", "archiveSystemId": "archive_system_id", "uuid": "uuid",
                 "jobType": "job_type", "tenant": "tenant", "remoteJobId": "remote_job_id"}
DATE_FIELDS = {"created": "created", "ended": "ended", "lastUpdated": "last_updated"}


def job_to_dict(row: JobRow) -> dict[str, Any]:
    """The Tapis ``Job`` shape."""
    spec = row.spec or {}
    return {
        "uuid": row.uuid, "name": row.name, "owner": row.owner, "tenant": row.tenant,
        "description": row.description, "status": row.status, "condition": row.condition,
        "lastMessage": row.last_message, "created": repo.when(row.created), "ended": repo.when(row.ended),
        "lastUpdated": repo.when(row.last_updated), "appId": row.app_id, "appVersion": row.app_version,
        "jobType": row.job_type, "archiveOnAppError": spec.get("archiveOnAppError"),
        "execSystemId": row.exec_system_id, "execSystemExecDir": spec.get("execSystemExecDir"),
        "execSystemInputDir": spec.get("execSystemInputDir"), "execSystemOutputDir": spec.get("execSystemOutputDir"),
        "execSystemLogicalQueue": spec.get("execSystemLogicalQueue"), "archiveSystemId": row.archive_system_id,
        "archiveSystemDir": spec.get("archiveSystemDir"), "nodeCount": spec.get("nodeCount"),
        "coresPerNode": spec.get("coresPerNode"), "memoryMB": spec.get("memoryMB"), "maxMinutes": spec.get("maxMinutes"),
        "gpuCount": spec.get("gpuCount", 0),
        "fileInputs": spec.get("fileInputs", []), "parameterSet": spec.get("parameterSet", {}),
        "blockedCount": row.blocked_count, "remoteJobId": row.remote_job_id, "remoteOutcome": row.remote_outcome,
        "remoteResultInfo": row.remote_result_info if row.remote_result_info is not None else
        (str(row.exit_code) if row.exit_code is not None else None),
        "remoteQueue": row.remote_queue, "remoteSubmitted": repo.when(row.remote_submitted),
        "remoteStarted": repo.when(row.remote_started), "remoteEnded": repo.when(row.remote_ended),
        "remoteChecksSuccess": row.remote_checks_success, "remoteChecksFailed": row.remote_checks_failed,
        "remoteLastStatusCheck": repo.when(row.remote_last_status_check), "visible": row.visible,
        "tags": spec.get("tags", []), "exitCode": row.exit_code, "remoteNode": row.remote_node,
        "parentJobUuid": row.parent_uuid,
        "mpi": spec.get("isMpi", False), "mpiCmd": spec.get("mpiCmd"), "cmdPrefix": spec.get("cmdPrefix"),
        "notes": spec.get("notes", {}),
    }


def event_to_dict(event: JobEventRow) -> dict[str, Any]:
    return {"event": event.event, "created": repo.when(event.created), "oldStatus": event.old_status,
            "newStatus": event.new_status, "eventDetail": event.new_status or event.event, "description": event.message}


def search_order(order_by: str | None) -> tuple[str, bool]:
    """``orderBy`` (``field``, ``field(asc)``, ``field(desc)``) as (column, descending); newest first by default."""
    if not order_by:
        return "created", True
    name, _, direction = order_by.partition("(")
    direction = direction.rstrip(")").lower() or "asc"
    column = SEARCH_FIELDS.get(name) or DATE_FIELDS.get(name)
    if column is None or direction not in ("asc", "desc"):
        raise ValidationError(f"cannot order by {order_by!r}; use a job field, optionally with (asc) or (desc)")
    return column, direction == "desc"


def search_conditions(filters: dict[str, str]) -> list[tuple[str, str, Any]]:
    """Search filters (``field`` or ``field.op`` -> value) as (column, operator, value); dates as aware datetimes."""
    conditions = []
    for key, value in filters.items():
        field, _, op = key.partition(".")
        op = op or "eq"
        if op not in ("eq", "neq", "like", "lt", "gt", "lte", "gte", "in"):
            raise ValidationError(f"unknown search operator {op!r} in {key!r}")
        if field in DATE_FIELDS:
            try:
                # Not redundant (FURB162): the replace also lets a bare date with a zone through, "2024-01-01Z".
                parsed: Any = datetime.fromisoformat(value.replace("Z", "+00:00"))  # noqa: FURB162
            except ValueError as exc:
                raise ValidationError(f"{key}: {value!r} is not an ISO 8601 date") from exc
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=UTC)
            conditions.append((DATE_FIELDS[field], op, parsed))
        elif field in SEARCH_FIELDS:
            conditions.append((SEARCH_FIELDS[field], op, value.split(",") if op == "in" else value))
        else:
            raise ValidationError(f"cannot search jobs by {field!r}; fields: {', '.join(sorted({*SEARCH_FIELDS, *DATE_FIELDS}))}")
    return conditions
