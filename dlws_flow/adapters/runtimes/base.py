"""The runtime interface."""

from __future__ import annotations

import abc
import shlex
from dataclasses import dataclass, field


@dataclass(frozen=True)
class LaunchRequest:
    image: str
    env_file: str
    """Absolute path of ``tapisjob.env`` on the host."""
    app_args: list[str] = field(default_factory=list)
    """Argument *words* (already split from Tapis arg text); quoted by the runtime."""
    container_args: list[str] = field(default_factory=list)
    runtime_options: list[str] = field(default_factory=list)


def quote_all(words: list[str]) -> str:
    return " ".join(shlex.quote(w) for w in words)


class ContainerRuntime(abc.ABC):
    name: str

    @abc.abstractmethod
    def build_command(self, request: LaunchRequest) -> str:
        """One shell command line, every user-supplied word quoted."""

    def describe(self) -> str:
        return self.name
