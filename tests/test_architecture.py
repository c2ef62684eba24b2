"""The import graph of the project's code has no cycle, counting imports inside functions too (grimp, which
import-linter uses, sees those); the layer contracts themselves are `lint-imports` (pyproject.toml).

And database writes happen in ``dlws_flow/store/repositories`` (one place per table), not in the services,
the engine or the entry points, which hold sessions and call repository functions."""

from __future__ import annotations

import ast
from pathlib import Path

import grimp


def _cycles(graph) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    groups: list[list[str]] = []
    counter = 0
    for root in sorted(graph.modules):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.find_modules_directly_imported_by(child)))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    groups.append(sorted(group))
    return groups


def test_the_import_graph_has_no_cycle():
    graph = grimp.build_graph("dlws_flow", "api", "workers")
    assert _cycles(graph) == []


def test_the_cycle_finder_finds_one():
    graph = grimp.ImportGraph()
    for module in ("a", "a.x", "a.y", "a.z"):
        graph.add_module(module)
    graph.add_import(importer="a.x", imported="a.y")
    graph.add_import(importer="a.y", imported="a.x")
    graph.add_import(importer="a.z", imported="a.x")
    assert _cycles(graph) == [["a.x", "a.y"]]


# --- writes go through the store's repositories ----------------------------------------------------------

ROOT = Path(__file__).resolve().parents[1]
#: Where writes must not happen: they go through ``dlws_flow.store.repositories`` (one place per table).
WRITE_FREE = ("dlws_flow/services", "dlws_flow/engine", "api", "workers")
_SESSION_WRITES = {"add", "add_all", "delete", "merge"}
_DML = {"update", "delete", "insert"}


def _is_session(node: ast.expr) -> bool:
    name = node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else ""
    return "session" in name.lower()


def _chain_root(node: ast.expr) -> ast.expr:
    """``a.b(...).c(...)`` -> the innermost call ``a.b(...)`` (or the expression the chain starts from)."""
    while True:
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and isinstance(node.func.value, ast.Call):
            node = node.func.value
        else:
            return node


def _dml_names(tree: ast.Module) -> tuple[set[str], set[str]]:
    """Local names of SQLAlchemy's ``update``/``delete``/``insert``, and names bound to a sqlalchemy module."""
    functions, modules = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "sqlalchemy":
            functions |= {alias.asname or alias.name for alias in node.names if alias.name in _DML}
        elif isinstance(node, ast.Import):
            modules |= {alias.asname or alias.name.split(".")[0] for alias in node.names
                        if alias.name.split(".")[0] == "sqlalchemy"}
    return functions, modules


def _column_assignments(node: ast.stmt, columns: frozenset[str]) -> list[tuple[int, str]]:
    """``row.<column> = ...`` (also in a tuple, or ``+=``) on a name other than self/cls, or on a call's result
    (``session.get(...).<column> = ...``): a write at the next flush when the object is a loaded row."""
    targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AugAssign) else []
    found = []
    for target in targets:
        for item in target.elts if isinstance(target, ast.Tuple) else [target]:
            if not isinstance(item, ast.Attribute) or item.attr not in columns:
                continue
            owner = item.value
            if isinstance(owner, ast.Call) or (isinstance(owner, ast.Name) and owner.id not in ("self", "cls")):
                found.append((node.lineno, f"{ast.unparse(item)} = ... (a column of a loaded row)"))
    return found


def database_writes(source: str, columns: frozenset[str] = frozenset()) -> list[tuple[int, str]]:
    """(line, what) of each database write in ``source``: ``session.add/add_all/delete/merge``, a SQLAlchemy
    ``update``/``delete``/``insert`` statement (whatever executes it), ``session.query(...).update/delete()``,
    and an assignment to one of ``columns`` on a loaded row (by name: a heuristic that the project's code
    satisfies without false hits)."""
    tree = ast.parse(source)
    functions, modules = _dml_names(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign | ast.AugAssign):
            found += _column_assignments(node, columns)
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Name) and func.id in functions:
            found.append((node.lineno, f"{func.id}(...) statement"))
        elif isinstance(func, ast.Attribute):
            if func.attr in _DML and isinstance(func.value, ast.Name) and func.value.id in modules:
                found.append((node.lineno, f"{func.value.id}.{func.attr}(...) statement"))
            elif func.attr in _SESSION_WRITES and _is_session(func.value):
                found.append((node.lineno, f"session.{func.attr}(...)"))
            elif func.attr in ("update", "delete"):
                root = _chain_root(func.value)
                if (isinstance(root, ast.Call) and isinstance(root.func, ast.Attribute) and root.func.attr == "query"
                        and _is_session(root.func.value)):
                    found.append((node.lineno, f"session.query(...).{func.attr}()"))
    return sorted(found)


def _scanned_files() -> list[str]:
    return sorted(str(path.relative_to(ROOT)) for folder in WRITE_FREE for path in (ROOT / folder).rglob("*.py"))


def _mapped_columns() -> frozenset[str]:
    """The attribute names of every mapped column (the models and the quota tables' models)."""
    import dlws_flow.store.models_sweeps
    import dlws_flow.store.models_transfers
    import dlws_flow.store.quota_models  # noqa: F401  (the quota tables)
    from dlws_flow.store.models import Base

    return frozenset(attr.key for mapper in Base.registry.mappers for attr in mapper.column_attrs)


def test_services_engine_and_entry_points_write_through_the_repositories():
    columns = _mapped_columns()
    offences = [f"{relative}:{line}: {what}" for relative in _scanned_files()
                for line, what in database_writes((ROOT / relative).read_text(), columns)]
    assert offences == [], "database writes outside dlws_flow/store/repositories (add a repository function):\n" + \
        "\n".join(offences)


def test_the_write_finder_finds_each_kind():
    source = '''
import sqlalchemy as sa
from sqlalchemy import delete, select, update as sql_update

def f(session, self):
    session.add(row)
    self.session.delete(row)
    session.execute(sql_update(Row).where(Row.id == 1).values(x=2))
    query = delete(Row).where(Row.id == 1)
    session.execute(query)
    session.execute(sa.insert(Row).values(x=1))
    session.query(Row).filter(Row.id == 1).delete()
    session.execute(select(Row))
    session.get(Row, 1)
    items.add(1)
    files.delete("x")
    row.status, other = "DONE", 1
    session.get(Row, 1).attempts += 1
    self.status = "x"
    row.not_a_column = 1
'''
    assert database_writes(source, frozenset({"status", "attempts"})) == [
        (6, "session.add(...)"), (7, "session.delete(...)"), (8, "sql_update(...) statement"),
        (9, "delete(...) statement"), (11, "sa.insert(...) statement"), (12, "session.query(...).delete()"),
        (17, "row.status = ... (a column of a loaded row)"),
        (18, "session.get(Row, 1).attempts = ... (a column of a loaded row)"),
    ]
