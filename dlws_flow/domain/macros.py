"""Tapis macro substitution: ``${JobUUID}``, ``${JobWorkingDir}``, ... and ``HOST_EVAL($VAR)``.

Macros may refer to each other (the default output dir is built from the exec dir, which is built
from the working dir), so values are templates resolved recursively; a reference loop is an error
that names the loop instead of a stack overflow. ``HOST_EVAL($VAR)`` cannot be known before the
exec host is reached, so it survives substitution and is expanded by the first stage that talks to
the host (:func:`expand_host_eval`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from dlws_flow.errors import ValidationError

MACRO_PATTERN = re.compile(r"\$\{([A-Za-z][A-Za-z0-9]*)\}")
HOST_EVAL_PATTERN = re.compile(r"HOST_EVAL\(\$([A-Za-z_][A-Za-z0-9_]*)\)")

#: Every macro a user may reference; each is also exported to the job as ``_tapis<Name>``.
MACRO_NAMES: tuple[str, ...] = (
    "JobUUID", "JobName", "JobOwner", "Tenant", "AppId", "AppVersion",
    "ExecSystemId", "ExecSystemExecDir", "ExecSystemInputDir", "ExecSystemOutputDir",
    "ArchiveSystemId", "ArchiveSystemDir", "JobWorkingDir", "SysHost", "SysRootDir",
    "Nodes", "CoresPerNode", "MemoryMB", "MaxMinutes",
    "JobCreateDate", "JobCreateTime", "JobCreateTimestamp", "EffectiveUserId", "SysBatchScheduler",
)


def resolve_macros(templates: Mapping[str, str], literals: Mapping[str, str] | None = None) -> dict[str, str]:
    """Resolve every template in ``templates`` against the others and against ``literals``.

    ``literals`` are final values that are never expanded themselves (a job name may contain ``${``).

    Raises:
        ValidationError: a template names an unknown macro, or templates refer to each other in a loop.
    """
    resolved: dict[str, str] = dict(literals or {})

    def resolve(name: str, chain: tuple[str, ...]) -> str:
        if name in resolved:
            return resolved[name]
        if name in chain:
            loop = " -> ".join((*chain[chain.index(name):], name))
            raise ValidationError(f"macro reference loop: {loop}")
        if name not in templates:  # literals were already in ``resolved``
            raise ValidationError(f"unknown macro ${{{name}}}; known macros: {', '.join(MACRO_NAMES)}")
        value = MACRO_PATTERN.sub(lambda m: resolve(m.group(1), (*chain, name)), templates[name])
        resolved[name] = value
        return value

    for macro in templates:
        resolve(macro, ())
    return resolved


def substitute(text: str, values: Mapping[str, str]) -> str:
    """Replace ``${Name}`` in free text (arguments, env values) with already-resolved macro values."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise ValidationError(f"unknown macro ${{{name}}} in {text!r}")
        return values[name]

    return MACRO_PATTERN.sub(replace, text)


def host_eval_variables(text: str) -> list[str]:
    """Names of the host variables ``text`` needs; HOST_EVAL is only allowed at the very start."""
    names = HOST_EVAL_PATTERN.findall(text)
    if names and not (text.startswith("HOST_EVAL(") and len(names) == 1):
        raise ValidationError(f"HOST_EVAL may appear only once, at the start of a path: {text!r}")
    return names


def expand_host_eval(text: str, host_values: Mapping[str, str]) -> str:
    return HOST_EVAL_PATTERN.sub(lambda m: host_values[m.group(1)], text)
