"""The Tapis search grammar (``domain.search``) and its binding to a resource (``domain.listing``): each
operator, the escapes, the SQL-like body, and the errors that name what is wrong."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from dlws_flow.domain.listing import ALL, OWNED, Condition, ListRequest, build_query, parse_timestamp
from dlws_flow.domain.listing_resources import APPS, JOBS, SYSTEMS
from dlws_flow.domain.search import (
    OPERATORS,
    Junction,
    Like,
    Term,
    parse_body,
    parse_param,
    parse_search_param,
    parse_sql,
    parse_term,
)
from dlws_flow.errors import ValidationError


@pytest.mark.parametrize("op", OPERATORS)
def test_every_operator_parses(op):
    value = "a,b" if op in ("between", "nbetween", "in", "nin") else "a"
    term = parse_term(f"name.{op.upper()}.{value}")
    assert term.field == "name" and term.op == op
    if op in ("like", "nlike"):
        assert term.values == (Like("a"),)
    else:
        assert term.values == tuple(value.split(","))


def test_the_search_parameter_splits_on_unescaped_tildes_and_keeps_escapes():
    terms = parse_search_param(r"(id.like.My*)~(host.eq.a\~b\(c\))~(port.in.1,2)~(note.eq.x\,y)")
    assert terms == [Term("id", "like", (Like("My%"),)), Term("host", "eq", ("a~b(c)",)),
                     Term("port", "in", ("1", "2")), Term("note", "eq", ("x,y",))]
    assert parse_search_param("id.eq.x") == [Term("id", "eq", ("x",))]  # one condition: parentheses optional
    assert parse_search_param("host.eq.a.b.c") == [Term("host", "eq", ("a.b.c",))]  # the value keeps its dots


def test_like_wildcards_and_literals():
    assert parse_term("name.like.a*b!c").values == (Like("a%b_c"),)
    assert parse_term(r"name.like.100%_\*\!").values == (Like(r"100\%\_*!"),)


def test_query_parameter_form():
    assert parse_param("status", "FINISHED") == Term("status", "eq", ("FINISHED",))
    assert parse_param("port.gte", "22") == Term("port", "gte", ("22",))


@pytest.mark.parametrize(("text", "needle"), [
    ("name.near.x", "unknown operator"), (".eq.x", "field.op.value"), ("name.eq.", "no value"),
    ("name.eq.a~b", "escape"), ("name.eq.a(b", "escape"), ("port.between.1", "two values"),
    ("port.between.1,2,3", "two values"), ("9name.eq.x", "field.op.value"),
])
def test_malformed_terms_are_refused(text, needle):
    with pytest.raises(ValidationError, match=needle):
        parse_term(text)


def test_unbalanced_search_parameter_is_refused():
    with pytest.raises(ValidationError, match="parentheses"):
        parse_search_param("(id.eq.x)~host.eq.y")


def test_sql_like_form_builds_and_or_trees():
    expr = parse_sql("(owner = 'jdoe' AND system_type = 'LINUX') OR (owner = 'jsmith' AND port < 1024)")
    assert expr == Junction("OR", (
        Junction("AND", (Term("owner", "eq", ("jdoe",)), Term("system_type", "eq", ("LINUX",)))),
        Junction("AND", (Term("owner", "eq", ("jsmith",)), Term("port", "lt", ("1024",))))))
    assert parse_sql("a <> 'x' and b >= 2 and c <= 3 and d > 4") == Junction("AND", (
        Term("a", "neq", ("x",)), Term("b", "gte", ("2",)), Term("c", "lte", ("3",)), Term("d", "gt", ("4",))))
    assert parse_sql("owner NOT IN ('a', 'b')") == Term("owner", "nin", ("a", "b"))
    assert parse_sql("owner NIN ('a')") == Term("owner", "nin", ("a",))
    assert parse_sql("port NOT BETWEEN '1' AND '9'") == Term("port", "nbetween", ("1", "9"))
    assert parse_sql("name NOT LIKE 'it''s%'") == Term("name", "nlike", (Like("it's%"),))
    assert parse_sql("enabled = TRUE") == Term("enabled", "eq", ("true",))
    # AND binds tighter than OR
    assert parse_sql("a = 1 OR b = 2 AND c = 3") == Junction("OR", (
        Term("a", "eq", ("1",)), Junction("AND", (Term("b", "eq", ("2",)), Term("c", "eq", ("3",))))))


@pytest.mark.parametrize(("text", "needle"), [
    ("owner IS NULL", "IS NULL"), ("NOT owner = 'x'", "NOT on its own"), ("owner = 'x' AND", "ends too early"),
    ("owner != 'x'", "!="), ("name LIKE 'x' ESCAPE '!'", "ESCAPE"), ("port = 1 + 2", "unexpected"),
    ("owner = 'x' port = 1", "unexpected"), ("(owner = 'x'", "ends too early"), ("name LIKE 3", "quoted"),
    ("owner = 'unterminated", "unexpected"),
])
def test_sql_like_form_refuses_what_tapis_does_not_take(text, needle):
    with pytest.raises(ValidationError, match=needle):
        parse_sql(text)


def test_body_forms():
    assert parse_body({"search": ["(owner.eq.x)", "(port.gt.1)"]}) == Junction("AND", (
        Term("owner", "eq", ("x",)), Term("port", "gt", ("1",))))
    assert parse_body({"search": ["owner = 'x' AND", "port > 1"]}) == Junction("AND", (
        Term("owner", "eq", ("x",)), Term("port", "gt", ("1",))))
    for bad in ({}, {"search": []}, {"search": "owner = 'x'"}, {"search": [1]}, {"search": ["a = 1"], "more": 1}):
        with pytest.raises(ValidationError):
            parse_body(bad)


def test_timestamps_as_tapis_writes_them():
    assert parse_timestamp("2020") == datetime(2020, 1, 1, tzinfo=UTC)
    assert parse_timestamp("2020-04Z") == datetime(2020, 4, 1, tzinfo=UTC)
    assert parse_timestamp("2020-04-29-06:00") == datetime(2020, 4, 29, 6, tzinfo=UTC)
    assert parse_timestamp("2020-04-29T20:15:52.123456+02:00") == datetime(
        2020, 4, 29, 20, 15, 52, 123456, tzinfo=timezone(timedelta(hours=2)))
    with pytest.raises(ValidationError, match="timestamp"):
        parse_timestamp("2020-13-01")


def test_binding_resolves_names_and_types_values():
    query = build_query(JOBS, ListRequest(params=(("exit_code.in", "1,2"), ("STATUS", "running"),
                                                  ("created.gt", "2024-01-01"))))
    assert query.where == Junction("AND", (Condition("exitCode", "in", (1, 2)), Condition("status", "eq", ("RUNNING",)),
                                           Condition("created", "gt", (datetime(2024, 1, 1, tzinfo=UTC),))))
    system = build_query(SYSTEMS, ListRequest(search="(canExec.eq.TRUE)~(port.between.1,1024)"))
    assert system.where == Junction("AND", (Condition("canExec", "eq", (True,)), Condition("port", "between", (1, 1024))))
    assert system.scope == OWNED and build_query(APPS, ListRequest(list_type="mine")).scope == ALL


@pytest.mark.parametrize(("request_", "needle"), [
    (ListRequest(params=(("enabled.gt", "true"),)), "does not take"), (ListRequest(params=(("port.like", "2*"),)), "like"),
    (ListRequest(params=(("enabled", "yes"),)), "true or false"), (ListRequest(select="id,secret"), "secret"),
    (ListRequest(select="authnCredential"), "authnCredential"), (ListRequest(skip=-1), "skip"),
    (ListRequest(order_by="port", start_after="x"), "integer"), (ListRequest(list_type="SHARED_DIRECT"), "listType"),
])
def test_binding_errors_name_the_problem(request_, needle):
    with pytest.raises(ValidationError, match=needle):
        build_query(SYSTEMS, request_)


def test_select_order_and_paging_defaults():
    query = build_query(SYSTEMS, ListRequest())
    assert query.select == ("id", "systemType", "owner", "host", "effectiveUserId", "defaultAuthnMethod", "canExec")
    assert query.limit == 100 and query.skip == 0 and query.start_after is None
    assert build_query(SYSTEMS, ListRequest(limit=-1)).limit is None
    assert build_query(SYSTEMS, ListRequest(select="allAttributes")).select is None
    assert build_query(SYSTEMS, ListRequest(select="host")).select == ("id", "host")
    ordered = build_query(JOBS, ListRequest(order_by="name(desc), created", start_after="x"))
    assert [(o.field, o.descending) for o in ordered.order] == [("name", True), ("created", False)]
    assert ordered.start_after == "x"
