"""Scheduler profiles: Tapis' ``SchedulerProfile`` resource (``/v3/systems/schedulerProfile``) and the
profiles a system record carries itself (``schedulerProfiles``, our addition), and what a job takes from one.

A profile gives a batch job its setup lines (each module load is one line, every word POSIX-quoted) and the
``#SBATCH`` options the job script leaves out (``hiddenOptions``: ``MEM`` drops ``--mem``, ``PARTITION``
drops ``--partition``). Pure: the store keeps the rows, ``engine.profiles`` picks the profile of a job.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from dlws_flow.domain.records import refuse_nul
from dlws_flow.errors import ValidationError

#: Tapis: letters, digits and ``-._~``, starting with a letter, at most 80 characters.
NAME_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9._~-]{0,79}$")
#: Fields Tapis allows in a create request and ignores, so that a profile read with GET can be posted again.
IGNORED_FIELDS = ("uuid", "created", "updated")


class HiddenOption(StrEnum):
    """An ``#SBATCH`` option the job script leaves out (Tapis' ``SchedulerHiddenOptionEnum``)."""

    MEM = "MEM"
    PARTITION = "PARTITION"


class ModuleLoad(BaseModel):
    """One ``ModuleLoadSpec``: ``moduleLoadCommand`` then ``modulesToLoad``, one line of the job script."""

    model_config = ConfigDict(extra="forbid")

    moduleLoadCommand: str
    modulesToLoad: list[str] = Field(default_factory=list)

    @field_validator("moduleLoadCommand")
    @classmethod
    def _command_given(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("moduleLoadCommand may not be empty")
        return value

    @field_validator("modulesToLoad")
    @classmethod
    def _modules_given(cls, value: list[str]) -> list[str]:
        if any(not module.strip() for module in value):
            raise ValueError("modulesToLoad may not hold an empty name")
        return value

    def line(self) -> str:
        return module_load_line(self.moduleLoadCommand, self.modulesToLoad)


def module_load_line(command: str, modules: list[str]) -> str:
    """The script line of one module load: the command's words and each module, every word quoted, so no
    word is evaluated (``module load 'a b'`` loads one module named ``a b``)."""
    words = command.split() + [str(module) for module in modules]
    return " ".join(shlex.quote(word) for word in words)


class SchedulerProfileSpec(BaseModel):
    """A Tapis ``ReqPostSchedulerProfile``. Unknown fields are refused, naming them."""

    model_config = ConfigDict(extra="forbid", use_enum_values=True)

    name: str
    description: str | None = Field(default=None, max_length=2048)
    owner: str | None = None
    moduleLoads: list[ModuleLoad] = Field(default_factory=list)
    hiddenOptions: list[HiddenOption] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: Any) -> Any:
        return refuse_nul(data, "a scheduler profile")

    @field_validator("name")
    @classmethod
    def _valid_name(cls, value: str) -> str:
        if not NAME_PATTERN.fullmatch(value):
            raise ValueError("name must be 1-80 characters of letters, digits, '-', '.', '_' or '~', "
                             "starting with a letter")
        return value

    @field_validator("hiddenOptions")
    @classmethod
    def _once_each(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))


@dataclass(frozen=True)
class SelectedProfile:
    """What a job takes from its profile: where it came from, its setup lines, the options it hides."""

    name: str
    #: "system": the exec system record's own ``schedulerProfiles``; "tapis": the Tapis resource.
    source: str
    setup_lines: tuple[str, ...] = ()
    hidden_options: frozenset[str] = frozenset()


def from_resource(name: str, module_loads: list[dict[str, Any]], hidden_options: list[str]) -> SelectedProfile:
    """A stored Tapis profile (validated when it was created): its module loads become quoted lines."""
    lines = tuple(ModuleLoad.model_validate(load).line() for load in module_loads)
    return SelectedProfile(name, "tapis", lines, frozenset(hidden_options))


def from_system_record(system_id: str, profile: dict[str, Any]) -> SelectedProfile:
    """A profile of a system record: module loads (quoted), then ``setupLines`` verbatim (the system owner
    writes them; only the owner may), and its ``hiddenOptions`` when it names any.

    Raises:
        ValidationError: a module load or a hidden option the profile cannot mean.
    """
    name = str(profile.get("name"))
    lines = []
    for load in profile.get("moduleLoads", []):
        if not isinstance(load, dict) or not str(load.get("moduleLoadCommand") or "").strip():
            raise ValidationError(f"scheduler profile {name!r} of system {system_id}: each of its moduleLoads "
                                  "needs a moduleLoadCommand")
        lines.append(module_load_line(str(load["moduleLoadCommand"]), list(load.get("modulesToLoad", []))))
    hidden = profile.get("hiddenOptions", [])
    unknown = [option for option in hidden if option not in HiddenOption.__members__]
    if unknown:
        raise ValidationError(f"scheduler profile {name!r} of system {system_id}: hiddenOptions {unknown} are not "
                              f"supported (only {', '.join(HiddenOption)})")
    lines += [str(line) for line in profile.get("setupLines", [])]
    return SelectedProfile(name, "system", tuple(lines), frozenset(hidden))
