"""A worker asked to stop (SIGTERM, Ctrl-C) stops within ``DLWS_WORKER_STOP_GRACE`` seconds, hung hosts or not.

Celery's warm shutdown waits for the running stages. A stage blocked on a host that stopped answering would
hold the worker until its own timeouts ran out; once the grace period has passed, this closes every SSH
connection of the process instead, which ends those stages with a transport error: their messages are
retried (or re-delivered, acks_late) and their idempotent stages pick up where they stopped.

In a prefork pool the signal reaches the main process only; each child ends its stage within the stage's
own bounds (``DLWS_SSH_COMMAND_TIMEOUT`` per remote operation, Celery's hard time limit at worst).
"""

from __future__ import annotations

import logging
import threading

from celery.signals import worker_shutting_down

from dlws_flow.adapters.transports.ssh import POOL
from dlws_flow.settings import get_settings

log = logging.getLogger(__name__)


@worker_shutting_down.connect
def _close_connections_after_grace(**_kwargs) -> None:
    grace = get_settings().worker_stop_grace

    def close() -> None:
        log.warning("worker stop: %g s grace over, closing SSH connections of stages still running", grace)
        POOL.close_all(stopping=True)

    timer = threading.Timer(grace, close)
    timer.daemon = True
    timer.start()
