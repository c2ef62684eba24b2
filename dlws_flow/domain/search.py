"""The Tapis search grammar, as text: what a list or search request asks for, before any field is known.

Three forms reach it (``tapis-shared-searchlib``'s ``SearchUtils`` and ``ASTParser`` are the reference):

* terms ``(field.op.value)``, joined by ``~`` in the ``search`` query parameter (all must hold); one term may
  go without its parentheses;
* query parameters ``field.op=value`` on the dedicated search routes (``field=value`` means ``eq``);
* a POST body ``{"search": [...]}``: strings concatenated into one SQL-like ``WHERE`` clause
  (``(owner = 'jdoe' AND port < 1024) OR name LIKE 'x%'``), or a list of terms as above.

In a term's value the characters ``~ , ( )`` are special and must be escaped with ``\\``; ``in``, ``nin``,
``between`` and ``nbetween`` take a comma list (``between`` exactly two). ``like``/``nlike`` patterns use ``*``
(any run) and ``!`` (one character); ``\\*`` and ``\\!`` are literal. In the SQL-like form strings are quoted
``'...'`` (``''`` for a quote), LIKE patterns use SQL's ``%`` and ``_``, and ``IS NULL``, ``NOT`` on its own,
``ESCAPE`` and arithmetic are refused, as Tapis refuses them.

The result is a tree of :class:`Term` (field, operator, raw values) and :class:`Junction` (AND/OR); binding the
field names and typing the values is ``domain.listing``'s. Every malformed input is a ``ValidationError``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from dlws_flow.errors import ValidationError

OPERATORS = ("eq", "neq", "gt", "gte", "lt", "lte", "in", "nin", "like", "nlike", "between", "nbetween")
#: Operators whose value is a comma list.
LIST_OPERATORS = frozenset({"in", "nin", "between", "nbetween"})
LIKE_OPERATORS = frozenset({"like", "nlike"})
#: Characters a term's value must escape with a backslash.
SPECIAL = "~,()"
FIELD_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")


@dataclass(frozen=True)
class Like:
    """A LIKE pattern in SQL syntax (``%``, ``_``) whose escape character is a backslash."""

    pattern: str


@dataclass(frozen=True)
class Term:
    """One condition: ``field`` as the caller spelled it, a lower-case operator, its raw values (one, or a
    list for the list operators; a :class:`Like` for like/nlike)."""

    field: str
    op: str
    values: tuple[str | Like, ...]


@dataclass(frozen=True)
class Junction:
    """All (``AND``) or any (``OR``) of its parts."""

    op: str
    parts: tuple[Term | Junction, ...]


Expr = Term | Junction


def all_of(parts: Iterable[Expr]) -> Expr | None:
    """The AND of ``parts`` (None when there are none)."""
    items = tuple(parts)
    if not items:
        return None
    return items[0] if len(items) == 1 else Junction("AND", items)


# --- terms: (field.op.value) ------------------------------------------------------------------------


def _split_unescaped(text: str, separator: str) -> list[str]:
    """``text`` split on ``separator`` where no backslash escapes it (the escapes stay in the pieces)."""
    pieces, current, index = [], [], 0
    while index < len(text):
        char = text[index]
        if char == "\\" and index + 1 < len(text):
            current.append(text[index:index + 2])
            index += 2
            continue
        if char == separator:
            pieces.append("".join(current))
            current = []
        else:
            current.append(char)
        index += 1
    pieces.append("".join(current))
    return pieces


def _unescape(value: str) -> str:
    return re.sub(r"\\([~,()])", r"\1", value)


def _like(value: str) -> Like:
    """A Tapis wildcard value (``*``, ``!``, backslash escapes) as a SQL LIKE pattern escaped by a backslash."""
    out, index = [], 0
    while index < len(value):
        char = value[index]
        if char == "\\" and index + 1 < len(value):
            literal, index = value[index + 1], index + 2
        elif char in "*!":
            out.append("%" if char == "*" else "_")
            index += 1
            continue
        else:
            literal, index = char, index + 1
        out.append("\\" + literal if literal in "%_\\" else literal)
    return Like("".join(out))


def term_values(op: str, raw: str, where: str) -> tuple[str | Like, ...]:
    """The values of a term's raw value text (see the module docstring for the escapes)."""
    pieces = _split_unescaped(raw, ",") if op in LIST_OPERATORS else [raw]
    for piece in pieces:
        if any(char in SPECIAL for char in re.sub(r"\\.", "", piece)):
            raise ValidationError(f"search condition {where!r}: escape the characters ~ , ( ) in a value "
                                  "with a backslash")
    if op in ("between", "nbetween") and len(pieces) != 2:
        raise ValidationError(f"search condition {where!r}: {op} takes two values, as low,high")
    if op in LIKE_OPERATORS:
        return (_like(raw),)
    return tuple(_unescape(piece) for piece in pieces)


def parse_term(text: str) -> Term:
    """One condition ``field.op.value`` (no parentheses). The value may hold dots.

    Raises:
        ValidationError: no field, an unknown operator, no value, or an unescaped special character.
    """
    field, _, rest = text.partition(".")
    op, dot, raw = rest.partition(".")
    if not FIELD_NAME.fullmatch(field):
        raise ValidationError(f"search condition {text!r} must look like field.op.value")
    if op.lower() not in OPERATORS:
        raise ValidationError(f"search condition {text!r}: unknown operator {op!r}; use one of {', '.join(OPERATORS)}")
    if not dot or raw.strip() == "":
        raise ValidationError(f"search condition {text!r} has no value")
    return Term(field, op.lower(), term_values(op.lower(), raw, text))


def parse_search_param(search: str) -> list[Term]:
    """The ``search`` query parameter: ``(cond)~(cond)~...``; a single condition may omit its parentheses."""
    if not search.strip():
        return []
    pieces = [p for p in _split_unescaped(search.strip(), "~") if p.strip()]
    if len(pieces) == 1 and not pieces[0].startswith("(") and not pieces[0].endswith(")"):
        pieces = [f"({pieces[0]})"]
    terms = []
    for piece in pieces:
        piece = piece.strip()
        if not (piece.startswith("(") and piece.endswith(")")):
            raise ValidationError(f"search condition {piece!r} must be in parentheses: (field.op.value)")
        inner = piece[1:-1]
        if inner.strip():
            terms.append(parse_term(inner))
    return terms


def parse_param(name: str, value: str) -> Term:
    """A dedicated search route's query parameter: ``field.op=value``, or ``field=value`` meaning eq."""
    field, dot, op = name.partition(".")
    return parse_term(f"{field}.{op if dot else 'eq'}.{value}")


# --- the POST body -----------------------------------------------------------------------------------

TERM_LIST_ITEM = re.compile(rf"\(?\s*{FIELD_NAME.pattern}\.({'|'.join(OPERATORS)})\.", re.IGNORECASE)


def parse_body(body: object) -> Expr | None:
    """A POST search body ``{"search": [str, ...]}``: a list of terms (all must hold), or SQL-like text.

    Raises:
        ValidationError: another shape, another key, or text the grammar does not take (naming it).
    """
    if not isinstance(body, dict) or "search" not in body:
        raise ValidationError('the body must be {"search": ["..."]}')
    unknown = sorted(set(body) - {"search"})
    if unknown:
        raise ValidationError(f"unknown field(s) in the search body: {', '.join(unknown)}")
    items = body["search"]
    if not isinstance(items, list) or not items or not all(isinstance(i, str) for i in items):
        raise ValidationError('"search" must be a non-empty list of strings')
    if all(TERM_LIST_ITEM.match(item.strip()) for item in items):
        return all_of(term for item in items for term in parse_search_param(item))
    return parse_sql(" ".join(items))


# --- the SQL-like form ---------------------------------------------------------------------------------

#: SQL comparison -> Tapis operator.
SQL_COMPARISONS = {"=": "eq", "<>": "neq", "<": "lt", "<=": "lte", ">": "gt", ">=": "gte"}
TOKEN = re.compile(r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<num>[+-]?\d+(?:\.\d+)?)|(?P<op><>|<=|>=|!=|[=<>(),])"
                   r"|(?P<word>[A-Za-z_$][A-Za-z0-9_$]*)|(?P<bad>\S))")
#: Words and symbols Tapis' grammar does not take, with what to say.
REFUSED = {"IS": "IS NULL / IS NOT NULL", "NULL": "NULL", "ESCAPE": "an ESCAPE character for LIKE",
           "!=": "!= (use <>)"}


@dataclass(frozen=True)
class _Token:
    kind: str  # str, num, op, word
    text: str


def _tokens(text: str) -> list[_Token]:
    tokens, position = [], 0
    while position < len(text):
        match = TOKEN.match(text, position)
        if match is None:  # only trailing whitespace is left
            break
        position = match.end()
        kind = match.lastgroup or "bad"
        value = match.group(kind)
        if kind == "bad":
            raise ValidationError(f"search: unexpected {value!r} in {text!r}")
        if kind == "word" and value.upper() in {"AND", "OR", "NOT", "LIKE", "NLIKE", "BETWEEN", "NBETWEEN", "IN",
                                                "NIN", "IS", "NULL", "ESCAPE", "TRUE", "FALSE"}:
            kind, value = "key", value.upper()
        tokens.append(_Token(kind, value))
    return tokens


class _SqlParser:
    """Recursive descent over ``or := and (OR and)*``, ``and := primary (AND primary)*``,
    ``primary := '(' or ')' | field comparison``."""

    def __init__(self, text: str):
        self.text, self.tokens, self.index = text, _tokens(text), 0

    def fail(self, what: str) -> ValidationError:
        return ValidationError(f"search: {what} in {self.text!r}")

    def peek(self) -> _Token | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def take(self) -> _Token:
        token = self.peek()
        if token is None:
            raise self.fail("the condition ends too early")
        self.index += 1
        if token.text in REFUSED and token.kind in ("key", "op"):
            raise self.fail(f"{REFUSED[token.text]} is not supported")
        return token

    def expect(self, text: str) -> None:
        token = self.take()
        if token.text != text:
            raise self.fail(f"expected {text} before {token.text!r}")

    def at(self, *texts: str) -> bool:
        token = self.peek()
        return token is not None and token.kind in ("key", "op") and token.text in texts

    def junction(self, op: str, parse) -> Expr:
        parts = [parse()]
        while self.at(op):
            self.take()
            parts.append(parse())
        return parts[0] if len(parts) == 1 else Junction(op, tuple(parts))

    def disjunction(self) -> Expr:
        return self.junction("OR", self.conjunction)

    def conjunction(self) -> Expr:
        return self.junction("AND", self.primary)

    def primary(self) -> Expr:
        if self.at("("):
            self.take()
            inner = self.disjunction()
            self.expect(")")
            return inner
        token = self.take()
        if token.kind != "word":
            raise self.fail(f"a condition must start with a field name, not {token.text!r}"
                            + (" (NOT on its own is not supported)" if token.text == "NOT" else ""))
        return self.comparison(token.text)

    def literal(self) -> str:
        token = self.take()
        if token.kind == "str":
            return token.text[1:-1].replace("''", "'")
        if token.kind == "num" or token.text in ("TRUE", "FALSE"):
            return token.text.lower() if token.kind == "key" else token.text
        raise self.fail(f"expected a value ('text', a number, true or false), not {token.text!r}")

    def comparison(self, field: str) -> Term:
        token = self.take()
        negated = token.text == "NOT"
        if negated:
            token = self.take()
            if token.text not in ("LIKE", "BETWEEN", "IN"):
                raise self.fail(f"NOT must be followed by LIKE, BETWEEN or IN, not {token.text!r}")
        word = token.text
        if token.kind == "op" and word in SQL_COMPARISONS:
            return Term(field, SQL_COMPARISONS[word], (self.literal(),))
        if word in ("LIKE", "NLIKE"):
            pattern = self.take()
            if pattern.kind != "str":
                raise self.fail(f"{word} takes a quoted pattern")
            like = Like(pattern.text[1:-1].replace("''", "'").replace("\\", "\\\\"))
            return Term(field, "nlike" if negated or word == "NLIKE" else "like", (like,))
        if word in ("BETWEEN", "NBETWEEN"):
            low = self.literal()
            self.expect("AND")
            return Term(field, "nbetween" if negated or word == "NBETWEEN" else "between", (low, self.literal()))
        if word in ("IN", "NIN"):
            self.expect("(")
            values = [self.literal()]
            while self.at(","):
                self.take()
                values.append(self.literal())
            self.expect(")")
            return Term(field, "nin" if negated or word == "NIN" else "in", tuple(values))
        raise self.fail(f"unknown comparison {word!r} after {field}")


def parse_sql(text: str) -> Expr:
    """The SQL-like ``WHERE`` text of a POST search (see the module docstring for what it takes)."""
    parser = _SqlParser(text)
    if not parser.tokens:
        raise ValidationError("search: the condition is empty")
    expr = parser.disjunction()
    leftover = parser.peek()
    if leftover is not None:
        refused = REFUSED.get(leftover.text)
        raise parser.fail(f"{refused} is not supported" if refused else f"unexpected {leftover.text!r}")
    return expr
