"""How a sweep's elements map onto Slurm job arrays: which array and task each is, the --array spec, its throttle."""

from __future__ import annotations

from dlws_flow.domain.job_arrays import chunks, compress, expand, split_task_id, task_id, throttle


def test_ranges_are_compressed():
    assert compress([0, 1, 2, 3, 5, 7, 8]) == "0-3,5,7-8"
    assert compress([4]) == "4"
    assert compress([]) == ""
    assert expand("0-3,5,7-8") == [0, 1, 2, 3, 5, 7, 8] and expand("") == []


def test_a_sweep_larger_than_max_array_size_is_split_by_index():
    parts = chunks(range(2500), 1001)
    assert [(c.number, c.offset, len(c.tasks)) for c in parts] == [(0, 0, 1001), (1, 1001, 1001), (2, 2002, 498)]
    assert parts[2].spec(None) == "0-497"


def test_only_the_launched_elements_have_tasks():
    (only,) = chunks([0, 1, 3, 4], 1001)
    assert only.spec(2) == "0-1,3-4%2"


def test_throttle_is_the_smallest_limit_shared_between_arrays():
    assert throttle(None, [None, -1], 1) is None
    assert throttle(8, [None, 20], 1) == 8
    assert throttle(None, [6, 10], 3) == 2
    assert throttle(1, [], 4) == 1  # never below one task at a time


def test_task_ids():
    assert task_id("123", 4) == "123_4"
    assert split_task_id("123_4") == ("123", 4)
    assert split_task_id("123") is None and split_task_id("123_[1-3]") is None
