"""The Tapis search syntax the list routes share: terms ``(field.op.value)``, joined by ``~`` in the
``search`` query parameter of the systems and apps lists, or a list of them in a job search's body."""

from __future__ import annotations

from collections.abc import Container, Mapping

from dlws_flow.errors import ValidationError


def search_term(term: object) -> tuple[str, str, str]:
    """One term, ``(field.op.value)``, as (field, op, value); a missing part is ``""``. The value may hold dots."""
    text = str(term).strip().removeprefix("(").removesuffix(")")
    field, op, value = (text.split(".", 2) + ["", ""])[:3]
    return field, op, value


def equality_search(params: Mapping[str, str], paging: Container[str], search: str | None) -> dict[str, str]:
    """The conditions of a systems or apps list (field -> value): every query parameter but ``paging`` ones
    (``field=value``), and the terms of ``search`` (``(field.eq.value)~(...)``), where only ``eq`` is offered.

    Raises:
        ValidationError: a search term with another operator, or none.
    """
    conditions = {k: v for k, v in params.items() if k not in paging}
    for term in search.split("~") if search else []:
        field, op, value = search_term(term)
        if op != "eq":
            raise ValidationError(f"search term {term!r}: only (field.eq.value) is supported")
        conditions[field] = value
    return conditions
