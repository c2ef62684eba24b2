"""A list or search request of jobs, apps or systems, checked and typed against what the resource offers.

``domain.search`` reads the conditions as text; here every field name is resolved (Tapis names, in camelCase
or snake_case, any letter case), every operator checked against the field's type, every value typed
(integers, booleans, ISO 8601 timestamps as Tapis writes them, enum members), and ``orderBy``, ``limit``,
``skip``, ``startAfter``, ``computeTotal``, ``select`` and ``listType`` read as the Tapis documents define
them. The store turns the resulting :class:`ListQuery` into one SQL statement (``store.repositories.search``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from dlws_flow.domain.search import (
    LIKE_OPERATORS,
    OPERATORS,
    Expr,
    Junction,
    Like,
    Term,
    all_of,
    parse_body,
    parse_param,
    parse_search_param,
)
from dlws_flow.errors import ValidationError

STRING, INT, BOOL, TIMESTAMP, ENUM = "string", "int", "bool", "timestamp", "enum"
#: The operators each type of field takes (Tapis' ``SearchUtils``: no LIKE on numbers, only eq/neq on booleans).
OPS_BY_KIND = {STRING: frozenset(OPERATORS), ENUM: frozenset(OPERATORS),
               INT: frozenset(OPERATORS) - LIKE_OPERATORS,
               TIMESTAMP: frozenset({"eq", "neq", "gt", "gte", "lt", "lte", "between", "nbetween"}),
               BOOL: frozenset({"eq", "neq"})}
#: Which records a list covers: the caller's own, those shared with them (granted READ or MODIFY, not
#: owned), both (and, for apps, the public ones), the publicly shared ones, or none.
OWNED, SHARED, ALL, PUBLIC, NONE = "OWNED", "SHARED", "ALL", "PUBLIC", "NONE"
#: The grantee of a public share (apps only): no username can be it (``services.auth.USERNAME``).
PUBLIC_GRANTEE = "~public"
DEFAULT_LIMIT = 100


@dataclass(frozen=True)
class Field:
    """A searchable, sortable field: its type, and for an enum its members."""

    kind: str
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class Order:
    field: str
    descending: bool = False


@dataclass(frozen=True)
class Resource:
    """What one resource's lists offer.

    Attributes:
        kind: the grant kind of ``services.permissions`` (job, app, system).
        fields: searchable and sortable fields by Tapis name; the store maps each to a column.
        attributes: what ``select`` may name (every key of the resource's record).
        summary: ``summaryAttributes``, the default selection of a list.
        keys: always selected, and the order's tie-break.
        list_types: Tapis ``listType`` -> OWNED, SHARED, ALL or NONE.
    """

    kind: str
    fields: Mapping[str, Field]
    attributes: frozenset[str]
    summary: tuple[str, ...]
    keys: tuple[str, ...]
    default_order: tuple[Order, ...]
    list_types: Mapping[str, str]
    default_list_type: str

    def _resolve(self, name: str, names, what: str) -> str:
        wanted = name.replace("_", "").lower()
        for known in names:
            if known.lower() == wanted:
                return known
        raise ValidationError(f"{self.kind}s have no {what} {name!r}")

    def field(self, name: str) -> str:
        """The Tapis name of a searchable field given in camelCase or snake_case.

        Raises:
            ValidationError: no such field, or one that cannot be searched (named either way).
        """
        try:
            return self._resolve(name, self.fields, "field")
        except ValidationError:
            if name.replace("_", "").lower() in {a.lower() for a in self.attributes}:
                raise ValidationError(f"{self.kind}s cannot be searched or sorted by {name!r}; searchable fields: "
                                      f"{', '.join(sorted(self.fields))}") from None
            raise ValidationError(f"{self.kind}s have no field {name!r}; searchable fields: "
                                  f"{', '.join(sorted(self.fields))}") from None

    def attribute(self, name: str) -> str:
        return self._resolve(name, self.attributes, "attribute")


@dataclass(frozen=True)
class Condition:
    """A bound term: a Tapis field name, an operator its type takes, typed values (a ``Like`` for like/nlike)."""

    field: str
    op: str
    values: tuple[Any, ...]


@dataclass(frozen=True)
class ListRequest:
    """A list or search request as it came: the query parameters (and the POST body) before any checking."""

    limit: int | None = None
    skip: int | None = None
    start_after: str | None = None
    order_by: str | None = None
    compute_total: bool = False
    select: str | None = None
    list_type: str | None = None
    show_deleted: bool = False
    search: str | None = None
    params: tuple[tuple[str, str], ...] = ()
    body: Any = None


@dataclass(frozen=True)
class ListQuery:
    """A checked request, as the store runs it. ``limit`` None is unlimited; ``select`` None is every attribute."""

    where: Expr | None
    order: tuple[Order, ...]
    limit: int | None
    skip: int
    start_after: Any
    compute_total: bool
    select: tuple[str, ...] | None
    scope: str
    show_deleted: bool
    fields_named: frozenset[str] = field(default_factory=frozenset)


# --- values --------------------------------------------------------------------------------------------

TIMESTAMP_TEXT = re.compile(r"(\d{4})(?:-(\d{2})(?:-(\d{2})(?:[T ](\d{2})(?::(\d{2})(?::(\d{2})(?:[.:](\d{1,9}))?)?)?)?)?)?"
                            r"(Z|[+-]\d{2}(?::?\d{2})?)?")


def parse_timestamp(text: str) -> datetime:
    """A Tapis timestamp: ``2020``, ``2020-04Z``, ``2020-04-29-06:00``, ``2020-04-29T20:15:52.123456Z``...
    (missing parts are their start; no zone is UTC)."""
    match = TIMESTAMP_TEXT.fullmatch(text.strip())
    if match is None:
        raise ValidationError(f"{text!r} is not a timestamp (use ISO 8601, e.g. 2024-05-01T12:00:00Z)")
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    tz = UTC
    if zone and zone != "Z":
        digits = zone[1:].replace(":", "")
        offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:] or 0))
        tz = timezone(offset if zone[0] == "+" else -offset)
    try:
        value = datetime(int(year), int(month or 1), int(day or 1), int(hour or 0), int(minute or 0),
                         int(second or 0), int((fraction or "0").ljust(6, "0")[:6]), tzinfo=tz)
    except ValueError as exc:
        raise ValidationError(f"{text!r} is not a timestamp: {exc}") from exc
    return value.astimezone(UTC)


def typed_value(name: str, spec: Field, raw: str | Like) -> Any:
    """One raw value as the field's type."""
    if isinstance(raw, Like):
        return raw
    if spec.kind == INT:
        try:
            return int(raw)
        except ValueError:
            raise ValidationError(f"{name}: {raw!r} is not an integer") from None
    if spec.kind == BOOL:
        if raw.lower() not in ("true", "false"):
            raise ValidationError(f"{name}: {raw!r} is not true or false")
        return raw.lower() == "true"
    if spec.kind == TIMESTAMP:
        return parse_timestamp(raw)
    if spec.kind == ENUM:
        if raw.upper() not in spec.choices:
            raise ValidationError(f"{name}: {raw!r} is not one of {', '.join(spec.choices)}")
        return raw.upper()
    return raw


def bind(resource: Resource, expr: Expr) -> Expr:
    """``expr`` with every term a :class:`Condition`: field resolved, operator and values checked."""
    if isinstance(expr, Junction):
        return Junction(expr.op, tuple(bind(resource, part) for part in expr.parts))
    assert isinstance(expr, Term)
    name = resource.field(expr.field)
    spec = resource.fields[name]
    if expr.op not in OPS_BY_KIND[spec.kind]:
        raise ValidationError(f"{name} ({spec.kind}) does not take the {expr.op} operator; use one of "
                              f"{', '.join(o for o in OPERATORS if o in OPS_BY_KIND[spec.kind])}")
    return Condition(name, expr.op, tuple(typed_value(name, spec, value) for value in expr.values))


def named_fields(expr: Expr | None) -> frozenset[str]:
    if expr is None:
        return frozenset()
    if isinstance(expr, Junction):
        return frozenset().union(*(named_fields(part) for part in expr.parts))
    return frozenset({expr.field})


# --- order, paging, selection ---------------------------------------------------------------------------

ORDER_ITEM = re.compile(r"\s*([A-Za-z][A-Za-z0-9_]*)\s*(?:\(\s*([A-Za-z]*)\s*\))?\s*")


def parse_order(resource: Resource, order_by: str | None) -> tuple[Order, ...]:
    """``orderBy``: ``field``, ``field(asc)``, ``field(desc)``, several joined by commas; absent: the default."""
    if not order_by or not order_by.strip():
        return resource.default_order
    orders = []
    for item in order_by.split(","):
        match = ORDER_ITEM.fullmatch(item)
        direction = (match.group(2) or "asc").lower() if match else ""
        if match is None or direction not in ("asc", "desc"):
            raise ValidationError(f"orderBy {item.strip()!r}: use field, field(asc) or field(desc)")
        orders.append(Order(resource.field(match.group(1)), direction == "desc"))
    return tuple(orders)


def parse_select(resource: Resource, select: str | None) -> tuple[str, ...] | None:
    """``select``: attribute names, ``allAttributes`` (None: every one) or ``summaryAttributes`` (the default).
    The resource's keys are always selected, as Tapis always returns a record's id."""
    names: list[str] = []
    for item in (select or "summaryAttributes").split(","):
        item = item.strip()
        if item == "allAttributes":
            return None
        if item == "summaryAttributes":
            names.extend(resource.summary)
        elif item:
            names.append(resource.attribute(item))
    return tuple(dict.fromkeys([*resource.keys, *names]))


def parse_scope(resource: Resource, list_type: str | None) -> str:
    wanted = (list_type or resource.default_list_type).strip().upper()
    if wanted not in resource.list_types:
        raise ValidationError(f"listType {list_type!r}: use one of {', '.join(resource.list_types)}")
    return resource.list_types[wanted]


def conditions(request: ListRequest) -> Expr | None:
    """Every condition of the request, all of which must hold: ``search=``, ``field.op=value`` parameters and
    the POST body."""
    parts: list[Expr] = []
    if request.search:
        parts.extend(parse_search_param(request.search))
    parts.extend(parse_param(name, value) for name, value in request.params)
    if request.body is not None:
        body = parse_body(request.body)
        if body is not None:
            parts.append(body)
    return all_of(parts)


def build_query(resource: Resource, request: ListRequest) -> ListQuery:
    """The request checked against ``resource``.

    Raises:
        ValidationError: an unknown field, operator, attribute or listType; a value of the wrong type; a
            negative skip; startAfter without orderBy or together with skip.
    """
    where = conditions(request)
    bound = bind(resource, where) if where is not None else None
    order = parse_order(resource, request.order_by)
    skip = request.skip or 0
    if skip < 0:
        raise ValidationError("skip must be 0 or more")
    start_after = None
    if request.start_after not in (None, ""):
        if not (request.order_by or "").strip():
            raise ValidationError("startAfter needs orderBy: it is a value of the first orderBy field")
        if skip:
            raise ValidationError("use skip or startAfter, not both")
        first = order[0].field
        start_after = typed_value(first, resource.fields[first], request.start_after)
    limit = DEFAULT_LIMIT if request.limit is None else request.limit
    return ListQuery(where=bound, order=order, limit=limit if limit > 0 else None, skip=skip,
                     start_after=start_after, compute_total=request.compute_total,
                     select=parse_select(resource, request.select), scope=parse_scope(resource, request.list_type),
                     show_deleted=request.show_deleted, fields_named=named_fields(bound))


def project(record: Mapping[str, Any], select: tuple[str, ...] | None) -> dict[str, Any]:
    """The selected attributes of a record (those it has; all of them when ``select`` is None)."""
    return dict(record) if select is None else {name: record[name] for name in select if name in record}


def metadata(request: ListRequest, query: ListQuery, count: int, total: int | None) -> dict[str, Any]:
    """The Tapis list envelope's ``metadata``: ``totalCount`` is -1 unless ``computeTotal`` asked for it."""
    return {"recordCount": count, "recordLimit": -1 if query.limit is None else query.limit,
            "recordsSkipped": query.skip, "orderBy": request.order_by or "",
            "startAfter": request.start_after or "", "totalCount": -1 if total is None else total}
