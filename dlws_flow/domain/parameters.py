"""The argument, variable and input models apps and job requests share (``parameterSet``, ``fileInputs``,
``fileInputArrays``), and :class:`TapisModel`, the base of every Tapis-shaped record.

:mod:`dlws_flow.domain.records` re-exports all of them; the merge of app definitions under a request is in
:mod:`dlws_flow.domain.merge` and :mod:`dlws_flow.domain.file_inputs`.
"""

from __future__ import annotations

import re
import shlex
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from dlws_flow.domain.input_modes import FileInputMode, InputMode

ENV_KEY_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
#: Tapis reserves this prefix for the variables it injects itself.
RESERVED_ENV_PREFIX = "_tapis"


class TapisModel(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True, use_enum_values=True)


def refuse_nul(data: Any, what: str) -> Any:
    """Refuse NUL in any string of ``data`` (keys too): no host path, shell word or database column
    (PostgreSQL text and JSONB) can carry one."""
    pending = [data]
    while pending:
        item = pending.pop()
        if isinstance(item, str) and "\x00" in item:
            raise ValueError(f"{what} may not contain a NUL character")
        if isinstance(item, dict):
            pending += [*item.keys(), *item.values()]
        elif isinstance(item, list | tuple):
            pending += item
    return data


def check_env_key(key: str, what: str = "environment variable name") -> str:
    """A variable name the launch script can export: ``[A-Za-z_][A-Za-z0-9_]*``, not in Tapis' ``_tapis`` space."""
    if not ENV_KEY_PATTERN.fullmatch(key):
        raise ValueError(f"{what} {key!r} must match [A-Za-z_][A-Za-z0-9_]*")
    return key


class ArgSpec(TapisModel):
    """One argument (``appArgs``, ``containerArgs``, ``schedulerOptions``).

    ``arg`` is shell-word text as Tapis users write it (``"--image_file 'https://...'"``); it is split
    with POSIX rules and every word is re-quoted before it reaches a remote shell, so quotes group
    words but ``$(...)``, ``;`` and backticks stay literal. ``inputMode`` is the app's (a request may not
    set it); ``include`` is the request's (see :func:`dlws_flow.domain.merge.merge_args`).
    """

    name: str | None = None
    description: str | None = None
    arg: str | None = None
    include: bool | None = None
    inputMode: InputMode | None = None
    notes: dict[str, Any] | None = None

    @field_validator("arg")
    @classmethod
    def _splittable(cls, value: str | None) -> str | None:
        if value is None:
            return value
        if "\x00" in value:
            raise ValueError("an argument may not contain a NUL character")
        try:
            shlex.split(value)
        except ValueError as exc:
            raise ValueError(f"argument {value!r} is not valid shell-word text: {exc}") from exc
        return value

    def words(self) -> list[str]:
        return shlex.split(self.arg) if self.arg else []


class KeyValuePair(TapisModel):
    key: str
    value: str = ""
    description: str | None = None
    include: bool | None = None
    inputMode: InputMode | None = None
    notes: dict[str, Any] | None = None

    @field_validator("key")
    @classmethod
    def _valid_key(cls, key: str) -> str:
        return check_env_key(key)

    @field_validator("value")
    @classmethod
    def _no_nul(cls, value: str) -> str:
        if "\x00" in value:
            raise ValueError("an environment value may not contain a NUL character")
        return value


class ArchiveFilter(TapisModel):
    includes: list[str] = Field(default_factory=list)
    excludes: list[str] = Field(default_factory=list)
    includeLaunchFiles: bool = True


class LogConfig(TapisModel):
    stdoutFilename: str = "tapisjob.out"
    stderrFilename: str = "tapisjob.out"


class ParameterSet(TapisModel):
    appArgs: list[ArgSpec] = Field(default_factory=list)
    containerArgs: list[ArgSpec] = Field(default_factory=list)
    schedulerOptions: list[ArgSpec] = Field(default_factory=list)
    envVariables: list[KeyValuePair] = Field(default_factory=list)
    archiveFilter: ArchiveFilter | None = None
    logConfig: LogConfig | None = None


class _InputBase(TapisModel):
    name: str | None = None
    description: str | None = None
    #: The app's (a request may not set it); OPTIONAL when left out, as in Tapis.
    inputMode: FileInputMode | None = None
    #: A variable the job receives holding where the input is on the exec host (see ``domain.file_inputs``).
    envKey: str | None = None
    notes: dict[str, Any] | None = None

    @field_validator("envKey")
    @classmethod
    def _valid_env_key(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        if value.startswith(RESERVED_ENV_PREFIX):
            raise ValueError(f"envKey {value!r} may not start with {RESERVED_ENV_PREFIX!r} (reserved for Tapis)")
        return check_env_key(value, "envKey")


class FileInput(_InputBase):
    """One ``fileInputs`` entry: ``sourceUrl`` staged to ``targetPath`` under the exec input dir, or, with a
    ``tapislocal://`` URL, a path already on the exec system that is used where it is."""

    sourceUrl: str | None = None
    targetPath: str | None = None
    #: Tapis: mount a ``tapislocal`` input into containers that need explicit mounts (DOCKER).
    autoMountLocal: bool | None = None


class FileInputArray(_InputBase):
    """One ``fileInputArrays`` entry: every ``sourceUrls`` entry staged into ``targetDir`` (under the exec
    input dir) under its own base name."""

    sourceUrls: list[str] | None = None
    targetDir: str | None = None
