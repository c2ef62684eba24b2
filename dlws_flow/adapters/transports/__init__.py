"""Transports reach an execution host. Chosen by the system's ``transport`` field through ``adapters.registry``."""

from __future__ import annotations

from dlws_flow.adapters.transports.base import STATS, CommandResult, FileEntry, Transport

__all__ = ["STATS", "CommandResult", "FileEntry", "Transport"]
