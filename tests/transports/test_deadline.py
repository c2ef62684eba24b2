"""Stage deadlines and the watchdog (no host needed)."""

from __future__ import annotations

import threading
import time

import pytest

from dlws_flow.adapters.transports.deadline import Watchdog, capped, stage_deadline
from dlws_flow.errors import StageTimeoutError, TransportError


def test_operations_are_capped_to_what_is_left_of_the_stage():
    assert capped(120.0) == 120.0  # no stage deadline: the operation's own timeout
    with stage_deadline(5.0, "stage_inputs"):
        assert 4.0 < capped(120.0) <= 5.0
        assert capped(1.0) == 1.0
    assert capped(120.0) == 120.0


def test_a_stage_past_its_deadline_raises_a_transient_error_naming_it():
    with stage_deadline(0.01, "submit"):
        time.sleep(0.02)
        with pytest.raises(StageTimeoutError, match="submit ran past its time limit of 0.01 s"):
            capped(120.0)
    assert issubclass(StageTimeoutError, TransportError)


def test_deadlines_are_per_thread():
    seen = []
    with stage_deadline(0.01, "monitor"):
        time.sleep(0.02)
        thread = threading.Thread(target=lambda: seen.append(capped(3.0)))
        thread.start()
        thread.join()
    assert seen == [3.0]


def test_the_watchdog_calls_back_only_operations_that_outlive_their_bound():
    watchdog = Watchdog()
    fired = threading.Event()
    not_fired = threading.Event()
    watchdog.unwatch(watchdog.watch(0.05, not_fired.set))  # finished in time
    token = watchdog.watch(0.1, fired.set)
    assert fired.wait(5), "the watchdog never fired"
    watchdog.unwatch(token)
    time.sleep(0.2)
    assert not not_fired.is_set()
