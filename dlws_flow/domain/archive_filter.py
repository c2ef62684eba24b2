"""Which output files are archived: Tapis' ``archiveFilter`` (glob or ``REGEX(...)`` patterns)."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable


def _matches(path: str, pattern: str) -> bool:
    if pattern.startswith("REGEX(") and pattern.endswith(")"):
        return re.search(pattern[6:-1], path) is not None
    name = path.rsplit("/", 1)[-1]
    return fnmatch.fnmatchcase(path, pattern) or fnmatch.fnmatchcase(name, pattern)


def select_outputs(paths: Iterable[str], includes: list[str], excludes: list[str]) -> list[str]:
    """Paths (relative to the output dir) to archive: included (all when no includes) and not excluded."""
    chosen = []
    for path in paths:
        if includes and not any(_matches(path, p) for p in includes):
            continue
        if any(_matches(path, p) for p in excludes):
            continue
        chosen.append(path)
    return sorted(chosen)
