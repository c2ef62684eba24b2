"""Adaptive polling: fast just after submit and start, slower as a job ages, never past the maximum."""

from __future__ import annotations

import pytest

from dlws_flow.domain.polling import next_check_delay


def delays(ages: list[float]) -> list[float]:
    return [next_check_delay(age, first=0.05, maximum=10.0, fraction=0.25) for age in ages]


def test_a_young_job_is_looked_at_when_it_turns_the_first_interval():
    assert delays([0.0, 0.01, 0.049]) == pytest.approx([0.05, 0.04, 0.001])


def test_the_interval_grows_with_time_in_state_up_to_the_maximum():
    assert delays([0.05, 0.1, 0.2, 4.0, 40.0, 3600.0]) == pytest.approx([0.05, 0.05, 0.05, 1.0, 10.0, 10.0])


def test_looks_over_a_long_run_are_few():
    age, looks = 0.0, 0
    while age < 3600:
        age += next_check_delay(age, first=0.05, maximum=10.0, fraction=0.25)
        looks += 1
    # Geometric growth to the 10 s cap (about 40 s of age), then one look per 10 s: ~380 in an hour, 26 early.
    assert 360 < looks < 400
