"""Every field of a Tapis request is accounted for: acted on, refused, or (read-only) ignored as Tapis does.

:func:`checked` runs on a system, app or job request before its model sees it (``services.catalog.parse_system``,
``parse_app``, ``services.jobs.parse_request``: the API, the CLI and the Python API all come through those):

* a field in none of Tapis' schemas and not one of ours is a 400 naming it (``unknown field``);
* a refused field set to anything but a value that asks for nothing (null, empty, Tapis' default such as
  ``isMpi: false`` or ``enabled: true``) is a 400 naming it (``jobAttributes.dtnSystemInputDir: ... not
  supported here``);
* read-only fields (``uuid``, ``created``, ``hostKeyFingerprint``, ...) and refused fields at their default are
  dropped, so what a GET returns can be sent back and nothing is stored that is not acted on.

The tables are in :mod:`dlws_flow.domain.field_tables`; ``python -m dlws_flow.domain.field_support --markdown``
prints them as ``docs/configuration.md`` shows them.
"""

from __future__ import annotations

import sys
from typing import Any

from dlws_flow.domain.field_tables import TABLES, Row, Support
from dlws_flow.errors import ValidationError

#: The tables of the three records, by the record's name in errors and docs.
RECORDS = {"system": "ReqPostSystem", "app": "ReqPostApp", "job": "ReqSubmitJob"}
#: Values that set nothing, whatever the field.
_UNSET: tuple[Any, ...] = (None, "", [], {})


def _asks_nothing(value: Any, row: Row) -> bool:
    candidates = (*_UNSET, *row.defaults)
    # type-strict: ``0 == False`` must not make ``proxyPort: 0`` of ``useProxy: false``
    return any(value == default and type(value) is type(default) for default in candidates) or value is None


def checked(data: dict[str, Any], record: str) -> dict[str, Any]:
    """``data`` without its read-only fields and refused fields at their defaults.

    Args:
        record: ``system``, ``app`` or ``job``.

    Raises:
        ValidationError: an unknown field, or a refused field set, named with its path.
    """
    return _checked(data, RECORDS[record], "")


def _checked(data: Any, table_name: str, where: str) -> Any:
    if not isinstance(data, dict):  # not an object: the model's validation says so, naming the field
        return data
    table = TABLES[table_name]
    kept = {}
    for key, value in data.items():
        path = f"{where}{key}"
        row = table.get(key) if isinstance(key, str) else None
        if row is None:
            raise ValidationError(f"{path}: unknown field (neither a field of Tapis' {table_name} nor one of ours)")
        if row.support == Support.READ_ONLY:
            continue
        if row.support == Support.REFUSED:
            if not _asks_nothing(value, row):
                raise ValidationError(f"{path}: not supported here: {row.what.removeprefix('not supported: ')}")
            continue
        if row.nested and isinstance(value, list):
            value = [_checked(item, row.nested, f"{path}[{index}].") for index, item in enumerate(value)]
        elif row.nested:
            value = _checked(value, row.nested, f"{path}.")
        kept[key] = value
    return kept


def check_owner(data: dict[str, Any], caller: str) -> None:
    """A record created through the API is the caller's: an ``owner`` naming anyone else is a 400, not ignored."""
    owner = data.get("owner")
    if owner not in (None, "", "${apiUserId}", caller):
        raise ValidationError(f"owner: {owner!r} is not you ({caller}): a record is created as its caller's; "
                              "give it away afterwards with changeOwner")


def check_submitter(owner_given: str | None, tenant_given: str | None, owner: str, tenant: str) -> None:
    """A job runs as its submitter, in this deployment's tenant: a request naming another is a 400."""
    check_owner({"owner": owner_given}, owner)
    if tenant_given not in (None, "", tenant):
        raise ValidationError(f"tenant: {tenant_given!r} is not this deployment's tenant ({tenant})")


# --- the docs' tables ---------------------------------------------------------------------------

TITLES = {"system": "System record (`ReqPostSystem`)", "app": "App record (`ReqPostApp`)",
          "job": "Job request (`ReqSubmitJob`)"}


def _rows(table_name: str, prefix: str, shown: dict[str, str]) -> list[str]:
    """Rows with dotted names; a table met again (``containerArgs`` after ``appArgs``) points at the first."""
    lines = []
    for name, row in TABLES[table_name].items():
        dotted = f"{prefix}{name}"
        what = row.what.replace("|", "\\|")
        if row.nested and row.nested in shown:
            what += f" (its fields as under `{shown[row.nested]}`)"
        lines.append(f"| `{dotted}` | {row.support.value} | {what} |")
        if row.nested and row.nested not in shown:
            shown[row.nested] = dotted
            lines += _rows(row.nested, f"{dotted}.", shown)
    return lines


def markdown() -> str:
    """One table per record, nested objects as rows with dotted names (``jobAttributes.parameterSet.appArgs.arg``)."""
    parts = []
    for record, table_name in RECORDS.items():
        parts += [f"#### {TITLES[record]}", "", "| field | support | what it does, or why it is refused |",
                  "|---|---|---|", *_rows(table_name, "", {table_name: "the record"}), ""]
    return "\n".join(parts).rstrip("\n") + "\n"


if __name__ == "__main__":  # python -m dlws_flow.domain.field_support --markdown
    if sys.argv[1:] != ["--markdown"]:
        sys.exit("usage: python -m dlws_flow.domain.field_support --markdown")
    sys.stdout.write(markdown())
