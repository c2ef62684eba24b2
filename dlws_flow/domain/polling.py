"""When to look at a job on its host again (adaptive polling)."""

from __future__ import annotations


def next_check_delay(seconds_in_state: float, first: float, maximum: float, fraction: float) -> float:
    """Seconds until the next look at a QUEUED or RUNNING job: ``fraction`` of the time it has spent in that
    state, kept between ``first`` and ``maximum``; a job younger than ``first`` is looked at when it turns ``first``.

    Most short jobs end within a second of starting, so they are seen at once; a job that has run for an hour
    does not need a look every few seconds. A state change (QUEUED -> RUNNING) starts the clock again. Looks
    are cheap for the host: all jobs of one (system, login) share one status command per poll.
    """
    if seconds_in_state < first:
        return first - seconds_in_state
    return min(maximum, max(first, fraction * seconds_in_state))
