"""Reads for the job, app and system lists: one SQL statement per page (and one COUNT when asked), whatever
the table holds.

A :class:`~dlws_flow.domain.listing.ListQuery` becomes ``SELECT ... WHERE <visible to the caller> AND
<conditions> ORDER BY <orderBy>, <key> LIMIT/OFFSET``. Who sees what is decided here, in SQL, with the rules
``services.permissions`` applies to one record: the owner, anyone granted READ or MODIFY (a share grants READ),
and admins for ``listType=ALL``. Nothing is loaded to be filtered in Python, so a page of 100 of 100,000 jobs
costs what its SELECT costs, and ``totalCount`` is a COUNT over exactly the rows the caller may see.

The columns behind each Tapis field are in ``COLUMNS``; fields kept in the record's JSON ``spec`` are read
with the database's JSON operators (``->>`` in PostgreSQL, ``json_extract`` in SQLite).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, and_, false, func, not_, or_, select
from sqlalchemy.orm import Session, aliased, defer

from dlws_flow.domain.listing import (
    ALL,
    BOOL,
    INT,
    NONE,
    OWNED,
    PUBLIC,
    PUBLIC_GRANTEE,
    SHARED,
    Condition,
    ListQuery,
    Resource,
)
from dlws_flow.domain.search import Junction, Like
from dlws_flow.store.models import AppRow, GrantRow, JobRow, SystemRow

#: Grants that let a user see another user's record (MODIFY implies READ; EXECUTE alone does not).
READ_GRANTS = ("READ", "MODIFY")


def _spec(model: Any, key: str, kind: str) -> Any:
    value = model.spec[key]
    if kind == INT:
        return value.as_integer()
    if kind == BOOL:
        return func.coalesce(value.as_boolean(), False)  # an absent flag is false, as the record shows it
    return value.as_string()


def _columns(model: Any, direct: dict[str, Any], in_spec: dict[str, str]) -> dict[str, Any]:
    return {**direct, **{name: _spec(model, name, kind) for name, kind in in_spec.items()}}


COLUMNS: dict[str, dict[str, Any]] = {
    "job": _columns(JobRow, {
        "uuid": JobRow.uuid, "name": JobRow.name, "owner": JobRow.owner, "tenant": JobRow.tenant,
        "description": JobRow.description, "status": JobRow.status, "condition": JobRow.condition,
        "lastMessage": JobRow.last_message, "created": JobRow.created, "ended": JobRow.ended,
        "lastUpdated": JobRow.last_updated, "appId": JobRow.app_id, "appVersion": JobRow.app_version,
        "jobType": JobRow.job_type, "execSystemId": JobRow.exec_system_id, "archiveSystemId": JobRow.archive_system_id,
        "remoteJobId": JobRow.remote_job_id, "remoteOutcome": JobRow.remote_outcome,
        "remoteResultInfo": JobRow.remote_result_info, "remoteQueue": JobRow.remote_queue,
        "remoteNode": JobRow.remote_node, "remoteSubmitted": JobRow.remote_submitted,
        "remoteStarted": JobRow.remote_started, "remoteEnded": JobRow.remote_ended,
        "remoteLastStatusCheck": JobRow.remote_last_status_check, "remoteChecksSuccess": JobRow.remote_checks_success,
        "remoteChecksFailed": JobRow.remote_checks_failed, "blockedCount": JobRow.blocked_count,
        "exitCode": JobRow.exit_code, "parentJobUuid": JobRow.parent_uuid,
    }, {"nodeCount": INT, "coresPerNode": INT, "memoryMB": INT, "maxMinutes": INT, "execSystemExecDir": "",
        "execSystemInputDir": "", "execSystemOutputDir": "", "execSystemLogicalQueue": "", "archiveSystemDir": ""}),
    "app": _columns(AppRow, {
        "id": AppRow.id, "version": AppRow.version, "owner": AppRow.owner, "tenant": AppRow.tenant,
        "enabled": AppRow.enabled, "deleted": AppRow.deleted, "created": AppRow.created, "updated": AppRow.updated,
    }, {"description": "", "runtime": "", "runtimeVersion": "", "containerImage": "", "jobType": "", "maxJobs": INT,
        "maxJobsPerUser": INT, "strictFileInputs": BOOL, "locked": BOOL}),
    "system": _columns(SystemRow, {
        "id": SystemRow.id, "owner": SystemRow.owner, "tenant": SystemRow.tenant, "host": SystemRow.host,
        "port": SystemRow.port, "enabled": SystemRow.enabled, "deleted": SystemRow.deleted,
        "created": SystemRow.created, "updated": SystemRow.updated,
    }, {"description": "", "systemType": "", "effectiveUserId": "", "defaultAuthnMethod": "", "rootDir": "",
        "jobWorkingDir": "", "canExec": BOOL, "canRunBatch": BOOL, "batchScheduler": "",
        "batchDefaultLogicalQueue": "", "jobMaxJobs": INT, "jobMaxJobsPerUser": INT, "mpiCmd": "",
        "enableCmdPrefix": BOOL, "transport": ""}),
}
MODELS: dict[str, tuple[Any, Any]] = {"job": (JobRow, JobRow.uuid), "app": (AppRow, AppRow.id),
                                      "system": (SystemRow, SystemRow.id)}


def visibility(kind: str, scope: str, username: str, is_admin: bool) -> Any:
    """The records of ``kind`` the caller may list under ``scope`` (None: every record, an admin's ALL)."""
    model, resource_id = MODELS[kind]
    grantees = (username, PUBLIC_GRANTEE) if kind == "app" else (username,)  # apps alone are shared publicly
    granted = select(GrantRow.resource_id).where(GrantRow.kind == kind, GrantRow.username.in_(grantees),
                                                 GrantRow.permission.in_(READ_GRANTS))
    if scope == OWNED:
        return model.owner == username
    if scope == PUBLIC:
        return resource_id.in_(select(GrantRow.resource_id).where(
            GrantRow.kind == kind, GrantRow.username == PUBLIC_GRANTEE, GrantRow.permission.in_(READ_GRANTS)))
    if scope == SHARED:
        return and_(resource_id.in_(granted), model.owner != username)
    if scope == ALL:
        return None if is_admin else or_(model.owner == username, resource_id.in_(granted))
    assert scope == NONE
    return false()


def _condition(column: Any, condition: Condition) -> Any:
    op, values = condition.op, condition.values
    if op in ("like", "nlike"):
        pattern = values[0].pattern if isinstance(values[0], Like) else str(values[0])
        clause = column.like(pattern, escape="\\")
        return clause if op == "like" else not_(clause)
    if op in ("between", "nbetween"):
        clause = column.between(values[0], values[1])
        return clause if op == "between" else not_(clause)
    if op in ("in", "nin"):
        return column.in_(values) if op == "in" else column.not_in(values)
    value = values[0]
    return {"eq": lambda: column == value, "neq": lambda: column != value, "lt": lambda: column < value,
            "lte": lambda: column <= value, "gt": lambda: column > value, "gte": lambda: column >= value}[op]()


def where_clause(kind: str, expr: Any) -> Any:
    """The SQL of a bound condition tree (``domain.listing.bind``)."""
    if isinstance(expr, Junction):
        parts = [where_clause(kind, part) for part in expr.parts]
        return and_(*parts) if expr.op == "AND" else or_(*parts)
    return _condition(COLUMNS[kind][expr.field], expr)


def _resource_rules(kind: str, query: ListQuery) -> list[Any]:
    """What every list of ``kind`` leaves out: hidden jobs; deleted apps and systems (unless showDeleted);
    apps' older versions, unless the search names ``version``."""
    if kind == "job":
        return [JobRow.visible.is_(True)]
    model = MODELS[kind][0]
    rules = [] if query.show_deleted else [model.deleted.is_(False)]
    if kind == "app" and "version" not in query.fields_named:
        newer = aliased(AppRow)
        later = or_(newer.created > AppRow.created, and_(newer.created == AppRow.created, newer.version > AppRow.version))
        rules.append(~select(newer.id).where(newer.id == AppRow.id, later,
                                             *([] if query.show_deleted else [newer.deleted.is_(False)])).exists())
    return rules


def _filtered(resource: Resource, query: ListQuery, username: str, is_admin: bool) -> Select:
    kind = resource.kind
    model = MODELS[kind][0]
    statement = select(model).where(*_resource_rules(kind, query))
    visible = visibility(kind, query.scope, username, is_admin)
    if visible is not None:
        statement = statement.where(visible)
    if query.where is not None:
        statement = statement.where(where_clause(kind, query.where))
    if query.start_after is not None:
        first = query.order[0]
        column = COLUMNS[kind][first.field]
        statement = statement.where(column < query.start_after if first.descending else column > query.start_after)
    return statement


#: Job fields whose record value is their column's (a timestamp as ISO text): a page that selects only these
#: is read as columns, not as rows to build whole records from (``search_records(..., fields=...)``).
PLAIN_FIELDS: dict[str, frozenset[str]] = {"job": frozenset({
    "uuid", "name", "owner", "tenant", "description", "status", "condition", "created", "ended", "lastUpdated",
    "appId", "appVersion", "execSystemId", "archiveSystemId", "remoteStarted", "remoteJobId", "remoteQueue",
    "remoteSubmitted", "remoteEnded", "blockedCount"})}


def search_records(session: Session, resource: Resource, query: ListQuery, *, username: str,
                   is_admin: bool, fields: tuple[str, ...] | None = None) -> tuple[Sequence[Any], int | None]:
    """One page of the records of ``resource`` the caller may see that match ``query``, in its order (the
    resource's keys break ties, in the first order field's direction), and their total when
    ``computeTotal`` asked for it (else None).

    With ``fields`` (all of ``PLAIN_FIELDS``), the page is those columns' values, one tuple per record: a
    summary list of 100 jobs costs what its SQL costs, not 100 records built and cut down again."""
    kind = resource.kind
    statement = _filtered(resource, query, username, is_admin)
    total = None
    if query.compute_total:
        total = session.scalar(select(func.count()).select_from(statement.order_by(None).subquery()))
    columns = COLUMNS[kind]
    descending = query.order[0].descending
    order = [columns[o.field].desc() if o.descending else columns[o.field].asc() for o in query.order]
    order += [columns[key].desc() if descending else columns[key].asc()
              for key in resource.keys if key not in {o.field for o in query.order}]
    statement = statement.order_by(*order).offset(query.skip or None)
    if query.limit is not None:
        statement = statement.limit(query.limit)
    if fields is not None:
        return session.execute(statement.with_only_columns(*(columns[f] for f in fields))).all(), total
    if kind == "job":
        statement = statement.options(defer(JobRow.request))  # the submitted request is never listed
    return session.scalars(statement).all(), total
