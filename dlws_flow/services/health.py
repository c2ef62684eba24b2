"""What the Tapis health and readiness probes report: the database answers, the broker takes connections.

The probes need no token (load balancers and Tapis' own monitors call them), so a probe's result is reused
for ``PROBE_REUSE_SECONDS``: an anonymous caller cannot turn the route into a stream of database and broker
connections.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
from dataclasses import dataclass

from kombu import Connection
from sqlalchemy import text

from dlws_flow.settings import get_settings
from dlws_flow.store.db import session_scope

PROBE_REUSE_SECONDS = 1.0
BROKER_TIMEOUT_SECONDS = 2.0


@dataclass(frozen=True)
class Probe:
    check_num: int
    database: bool
    broker: bool

    @property
    def ready(self) -> bool:
        return self.database and self.broker

    def as_tapis(self) -> dict[str, object]:
        """Tapis' JobsProbe: tenants are this process's own settings, so they are always reachable."""
        return {"checkNum": self.check_num, "databaseAccess": self.database, "tenantsAccess": True,
                "queueAccess": self.broker}


def database_reachable() -> bool:
    try:
        with session_scope() as session:
            session.execute(text("SELECT 1"))
        return True
    except Exception:  # noqa: BLE001 - any failure means "not reachable", which is what the probe reports
        return False


def broker_reachable() -> bool:
    url = get_settings().broker_url
    if not url:  # the embedded filesystem broker: its folder must be there and writable
        folder = get_settings().ensure_data_dir() / "broker" / "queue"
        return folder.is_dir() and os.access(folder, os.W_OK)
    try:
        with Connection(url, connect_timeout=BROKER_TIMEOUT_SECONDS) as connection:
            connection.ensure_connection(max_retries=1, timeout=BROKER_TIMEOUT_SECONDS)
        return True
    except Exception:  # noqa: BLE001 - any failure means "not reachable", which is what the probe reports
        return False


_counter = itertools.count(1)
_lock = threading.Lock()
_last: tuple[float, Probe] | None = None


def probe(now=time.monotonic) -> Probe:
    """The current state of the database and broker, measured at most once per ``PROBE_REUSE_SECONDS``."""
    global _last
    with _lock:
        if _last is not None and now() - _last[0] < PROBE_REUSE_SECONDS:
            return _last[1]
        measured = Probe(next(_counter), database_reachable(), broker_reachable())
        _last = (now(), measured)
        return measured
