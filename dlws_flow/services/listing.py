"""The search and paging of the systems and apps lists, done on the records their callers see."""

from __future__ import annotations

from typing import Any


def search_page(records: list[dict[str, Any]], search: dict[str, str] | None, limit: int | None,
                skip: int) -> list[dict[str, Any]]:
    """The records whose every ``search`` field, as text, equals the value given; of those, ``limit`` from
    ``skip`` on (all from ``skip`` on when ``limit`` is None or negative)."""
    if search:
        records = [r for r in records if all(str(r.get(k)) == v for k, v in search.items())]
    return records[skip:] if limit is None or limit < 0 else records[skip:skip + limit]
