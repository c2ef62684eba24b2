"""Time bounds for remote work: a stage's own deadline, and a watchdog for waits that have no timeout.

Paramiko bounds reads with a channel timeout, but several of its waits have none (the answer to an exec or
subsystem request, an exit status, a window to send in). A host that accepts a connection and then stops
answering (a frozen VM, a stopped sshd) leaves such a wait blocked forever. The ``WATCHDOG`` runs one
thread per process that calls a callback (closing the connection, which wakes every wait on it) when an
operation outlives its bound, so no thread of a worker waits longer than its operation's timeout.

A stage sets a deadline for everything it does (``stage_deadline``); each operation is capped to what is
left of it, so a stage that runs past its time limit ends with ``StageTimeoutError`` under any pool (the
thread pool has no Celery time limits).
"""

from __future__ import annotations

import itertools
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from dlws_flow.errors import StageTimeoutError

_local = threading.local()


@contextmanager
def stage_deadline(seconds: float | None, label: str = "stage") -> Iterator[None]:
    """Bound every remote operation of the enclosed code (in this thread) to ``seconds`` from now."""
    previous = getattr(_local, "deadline", None)
    _local.deadline = None if not seconds else (time.monotonic() + seconds, seconds, label)
    try:
        yield
    finally:
        _local.deadline = previous


def capped(timeout: float) -> float:
    """``timeout``, shortened to what is left of this thread's stage deadline; raises once it has passed."""
    deadline = getattr(_local, "deadline", None)
    if deadline is None:
        return timeout
    ends, seconds, label = deadline
    left = ends - time.monotonic()
    if left <= 0:
        raise StageTimeoutError(f"{label} ran past its time limit of {seconds:g} s")
    return min(timeout, left)


class Watchdog:
    """Calls ``on_expiry`` of an operation still running at its deadline; one thread per process."""

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self._lock = threading.Condition()
        self._watched: dict[int, tuple[float, Callable[[], None]]] = {}
        self._tokens = itertools.count()
        self._thread: threading.Thread | None = None

    def watch(self, seconds: float, on_expiry: Callable[[], None]) -> int:
        with self._lock:
            token = next(self._tokens)
            self._watched[token] = (time.monotonic() + seconds, on_expiry)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="dlws-watchdog", daemon=True)
                self._thread.start()
            self._lock.notify()
            return token

    def unwatch(self, token: int) -> None:
        with self._lock:
            self._watched.pop(token, None)

    def _run(self) -> None:
        while True:
            with self._lock:
                while not self._watched:
                    self._lock.wait()
                now = time.monotonic()
                expired = [token for token, (ends, _) in self._watched.items() if ends <= now]
                callbacks = [self._watched.pop(token)[1] for token in expired]
                wait = min((ends for ends, _ in self._watched.values()), default=now + 1.0) - now
            for callback in callbacks:
                try:
                    callback()
                except Exception:  # a failing close must not stop the watchdog for everyone else
                    pass
            if not callbacks:
                with self._lock:
                    self._lock.wait(timeout=max(0.05, min(wait, 1.0)))


WATCHDOG = Watchdog()
os.register_at_fork(after_in_child=WATCHDOG._reset)
