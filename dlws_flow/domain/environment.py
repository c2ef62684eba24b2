"""The environment every job receives: Tapis' ``_tapis*`` variables, then the user's ``envVariables``."""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Mapping

from dlws_flow.domain.records import KeyValuePair

#: Service variables that are credentials: they reach the job's own ``tapisjob.env`` (mode 0600 in its exec
#: dir) and never its archived copy, which the job's sharees can download.
SERVICE_SECRETS = frozenset({"FAMILY_TOKEN"})

#: Macros whose value is a directory: exported as absolute host paths, not rootDir-relative ones.
DIR_MACROS = {"JobWorkingDir", "ExecSystemExecDir", "ExecSystemInputDir", "ExecSystemOutputDir", "ArchiveSystemDir"}


def job_environment(
    macro_values: Mapping[str, str],
    host_dirs: Mapping[str, str],
    user_env: Iterable[KeyValuePair],
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Build the ordered environment for ``tapisjob.env``.

    Args:
        macro_values: resolved macros (``JobUUID`` ...), see :mod:`dlws_flow.domain.macros`.
        host_dirs: macro name -> absolute host path for the directory macros.
        user_env: the merged ``envVariables``, already checked for reserved keys.
        extra: service variables such as ``DLWS_REST_API`` and ``FAMILY_TOKEN``.
    """
    env: dict[str, str] = {}
    for name, value in macro_values.items():
        env[f"_tapis{name}"] = host_dirs.get(name, value) if name in DIR_MACROS else value
    env.update(extra or {})
    for pair in user_env:
        env[pair.key] = pair.value
    return env


def without_secrets(env: Mapping[str, str]) -> dict[str, str]:
    """``env`` as archived: the service secrets left out."""
    return {key: value for key, value in env.items() if key not in SERVICE_SECRETS}


def render_env_file(env: Mapping[str, str]) -> str:
    """``KEY='value'`` lines, exported by the launch script with ``set -a; . tapisjob.env``."""
    return "".join(f"{key}={shlex.quote(value)}\n" for key, value in env.items())
