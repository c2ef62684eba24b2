"""Container runtimes turn a job into the command line that runs its app. They never run anything."""

from __future__ import annotations

from dlws_flow.adapters.runtimes.base import ContainerRuntime, LaunchRequest

__all__ = ["ContainerRuntime", "LaunchRequest"]
