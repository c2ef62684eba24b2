"""Fault injection for the crash-safety tests: a worker can be told to die at a named point."""

from __future__ import annotations

import logging
import os
import signal

log = logging.getLogger(__name__)


def crash_point(name: str) -> None:
    """Fault injection for crash-safety tests: if ``$DLWS_FAULT_DIR/<name>`` exists, remove it and die
    with SIGKILL right here, as a worker killed by the OOM killer or an operator would. One-shot."""
    fault_dir = os.environ.get("DLWS_FAULT_DIR")
    if fault_dir:
        marker = os.path.join(fault_dir, name)
        try:
            os.unlink(marker)
        except FileNotFoundError:
            return
        log.warning("fault injection: killing this worker process at %s", name)
        os.kill(os.getpid(), signal.SIGKILL)

