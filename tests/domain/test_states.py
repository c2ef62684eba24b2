import itertools

import pytest

from dlws_flow.domain.states import (
    ACTIVE_STATES,
    LIFECYCLE,
    TERMINAL_STATES,
    TRANSITIONS,
    JobStatus,
    advance,
    can_transition,
    lifecycle_position,
)
from dlws_flow.errors import InvalidTransition


def test_thirteen_states():
    assert len(JobStatus) == 13
    assert TERMINAL_STATES == {JobStatus.FINISHED, JobStatus.CANCELLED, JobStatus.FAILED}


def test_forward_path_is_legal():
    path = [s for s in LIFECYCLE if s != JobStatus.QUEUED]
    for current, following in itertools.pairwise(path):
        assert advance(current, following) == following


def test_every_active_state_may_block_pause_fail_or_cancel():
    for state in ACTIVE_STATES:
        for side in (JobStatus.BLOCKED, JobStatus.PAUSED, JobStatus.FAILED, JobStatus.CANCELLED):
            assert can_transition(state, side), (state, side)


def test_submitting_may_go_straight_to_running_and_terminal_states_are_final():
    assert can_transition(JobStatus.SUBMITTING_JOB, JobStatus.RUNNING)
    for state in TERMINAL_STATES:
        assert TRANSITIONS[state] == frozenset()
        with pytest.raises(InvalidTransition):
            advance(state, JobStatus.RUNNING)


def test_no_backwards_moves():
    with pytest.raises(InvalidTransition, match="RUNNING to STAGING_JOB"):
        advance(JobStatus.RUNNING, JobStatus.STAGING_JOB)
    assert lifecycle_position(JobStatus.RUNNING) == lifecycle_position(JobStatus.QUEUED)
