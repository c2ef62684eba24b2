"""The query parameters the Tapis list and search routes share, read into a ``domain.listing.ListRequest``.

Parameters a route does not name are search conditions (``field.op=value``, ``field=value``) where the route
takes them (the dedicated GET search routes, and getApps/getSystems as before), and a 400 naming them
elsewhere. ``pretty`` is accepted and changes nothing (responses are JSON either way).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Annotated, Any

from fastapi import Depends, Query, Request

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
