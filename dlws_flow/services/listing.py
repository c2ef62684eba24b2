"""The job, app and system lists and searches, Tapis-style: check the request against what the resource
offers (``domain.listing``), run it as one SQL statement limited to what the caller may see
(``repo.search_records``), show each row as its resource shows it, keep the selected attributes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from dlws_flow.domain.listing import ListRequest, Resource, build_query, metadata, project
from dlws_flow.services.auth import Principal
from dlws_flow.store import repositories as repo
from dlws_flow.store.db import session_scope


@dataclass(frozen=True)
class Page:
    """One page of a list: the records (their selected attributes) and the envelope's ``metadata``."""

    records: list[dict[str, Any]]
    metadata: dict[str, Any]


def list_page(principal: Principal, resource: Resource, request: ListRequest, view: Callable[[Any], dict[str, Any]]
              ) -> Page:
    """The page of ``resource`` that ``request`` asks for, of the records ``principal`` may see.

    Raises:
        ValidationError: anything in the request the resource does not offer, named.
    """
    query = build_query(resource, request)
    plain = query.select is not None and set(query.select) <= repo.PLAIN_FIELDS.get(resource.kind, frozenset())
    with session_scope() as session:
        rows, total = repo.search_records(session, resource, query, username=principal.username,
                                          is_admin=principal.is_admin, fields=query.select if plain else None)
        if plain:
            records = [{name: _plain(value) for name, value in zip(query.select, row, strict=True)} for row in rows]
        else:
            records = [project(view(row), query.select) for row in rows]
    return Page(records, metadata(request, query, len(records), total))


def _plain(value: Any) -> Any:
    return repo.when(value) if isinstance(value, datetime) else value
