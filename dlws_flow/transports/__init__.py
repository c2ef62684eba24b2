"""Transports reach an execution host. Chosen by the system's ``transport`` field through one registry."""

from __future__ import annotations

import importlib

from dlws_flow.errors import ConfigurationError
from dlws_flow.transports.base import STATS, CommandResult, FileEntry, Transport

TRANSPORTS: dict[str, str] = {
    "SSH": "dlws_flow.transports.ssh:SSHTransport",
    "LOCAL": "dlws_flow.transports.local:LocalTransport",
}


def transport_class(name: str) -> type[Transport]:
    try:
        module, _, attr = TRANSPORTS[name.upper()].partition(":")
    except KeyError as exc:
        raise ConfigurationError(f"unknown transport {name!r}; known: {', '.join(TRANSPORTS)}") from exc
    return getattr(importlib.import_module(module), attr)


__all__ = ["STATS", "TRANSPORTS", "CommandResult", "FileEntry", "Transport", "transport_class"]
