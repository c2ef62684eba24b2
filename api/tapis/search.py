"""The query parameters the Tapis list and search routes share, read into a ``domain.listing.ListRequest``.

Parameters a route does not name are search conditions (``field.op=value``, ``field=value``) where the route
takes them (the dedicated GET search routes, and getApps/getSystems as before), and a 400 naming them
elsewhere. ``pretty`` is accepted and changes nothing (responses are JSON either way).
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Request

from api.envelope import ok
from api.security import User
from dlws_flow.domain.listing import ListRequest
from dlws_flow.errors import ValidationError

#: Tapis parameters this deployment does not act on, with why; sending one is a 400.
UNSUPPORTED = {
    "impersonationId": "impersonation is not offered here",
    "hasCredentials": "filtering systems by stored credentials is not offered here",
    "resourceTenant": "one tenant per deployment: resourceTenant is not offered",
}


class Paging:
    """``limit``, ``skip``, ``startAfter``, ``orderBy``, ``computeTotal``, ``listType`` and ``pretty``."""

    NAMES = frozenset({"limit", "skip", "startAfter", "orderBy", "computeTotal", "listType", "pretty"})

    def __init__(self,
                 limit: Annotated[int | None, Query(description="Records per page (default 100; -1: all)")] = None,
                 skip: Annotated[int | None, Query(description="Records to skip (not with startAfter)")] = None,
                 startAfter: Annotated[str | None, Query(description="A value of the first orderBy field to start "
                                                                     "after (needs orderBy)")] = None,
                 orderBy: Annotated[str | None, Query(description="field, field(asc), field(desc); several with "
                                                                  "commas")] = None,
                 computeTotal: Annotated[bool, Query(description="Count every match: metadata.totalCount")] = False,
                 listType: Annotated[str | None, Query(description="Whose records: owned, shared or all")] = None,
                 pretty: bool = False):
        self.limit, self.skip, self.start_after, self.order_by = limit, skip, startAfter, orderBy
        self.compute_total, self.list_type = computeTotal, listType


PagingParams = Annotated[Paging, Depends()]


def list_request(request: Request, paging: Paging, *, select: str | None = None, show_deleted: bool = False,
                 search: str | None = None, body: Any = None, named: Collection[str] = (),
                 conditions: bool = False) -> ListRequest:
    """The list request of a route: ``paging``, the route's own parameters (``named``), and the rest as search
    conditions when the route takes them (``conditions``).

    Raises:
        ValidationError: a parameter the route does not take, or one of ``UNSUPPORTED``.
    """
    known = Paging.NAMES | set(named)
    for name in request.query_params:
        if name in UNSUPPORTED:
            raise ValidationError(f"query parameter {name}: {UNSUPPORTED[name]}")
    rest = [(k, v) for k, v in request.query_params.multi_items() if k not in known]
    if rest and not conditions:
        raise ValidationError(f"unknown query parameter(s): {', '.join(sorted({k for k, _ in rest}))}")
    return ListRequest(limit=paging.limit, skip=paging.skip, start_after=paging.start_after,
                       order_by=paging.order_by, compute_total=paging.compute_total, select=select,
                       list_type=paging.list_type, show_deleted=show_deleted, search=search, params=tuple(rest),
                       body=body)


def add_catalog_search_routes(router: APIRouter, search: Callable[[Any, ListRequest], Any], *, noun: str,
                              body_schema: str) -> None:
    """The list and the two searches of apps or systems (``GET ""``, ``GET /search``, ``POST /search``), on
    ``search(principal, ListRequest)``; mount them before the routes whose first segment is an id."""
    title = f"{noun.capitalize()}s retrieved"

    def list_all(user: User, request: Request, paging: PagingParams, search_: Annotated[
                 str | None, Query(alias="search")] = None, select: str | None = None,
                 showDeleted: bool = False) -> dict[str, Any]:
        page = search(user, list_request(request, paging, select=select, show_deleted=showDeleted, search=search_,
                                         named={"search", "select", "showDeleted"}, conditions=True))
        return ok(page.records, title, page.metadata)

    def search_by_query(user: User, request: Request, paging: PagingParams, select: str | None = None) -> dict[str, Any]:
        page = search(user, list_request(request, paging, select=select, named={"select"}, conditions=True))
        return ok(page.records, title, page.metadata)

    def search_by_body(user: User, request: Request, paging: PagingParams, body: dict[str, Any],
                       select: str | None = None) -> dict[str, Any]:
        page = search(user, list_request(request, paging, select=select, body=body, named={"select"}))
        return ok(page.records, title, page.metadata)

    # Set as an object: a string annotation (this module's ``from __future__``) cannot name ``body_schema``.
    search_by_body.__annotations__["body"] = Annotated[dict[str, Any], Body(description=f"A Tapis {body_schema}")]

    for function, name in ((list_all, f"get_{noun}s"), (search_by_query, f"search_{noun}s_query_parameters"),
                           (search_by_body, f"search_{noun}s_request_body")):
        function.__name__ = name
    router.add_api_route("", list_all, methods=["GET"],
                         summary=f"List the {noun}s the caller may see (search=(field.op.value)~...)")
    router.add_api_route("/search", search_by_query, methods=["GET"],
                         summary=f"Search {noun}s: field.op=value query parameters (field=value means eq)")
    router.add_api_route("/search", search_by_body, methods=["POST"],
                         summary=f"Search {noun}s with a body {{\"search\": [...]}}: SQL-like text, or (field.op.value) terms")
