"""One poller per (system, login): the claim, the numbered runs and the hand-back, on the real database."""

from __future__ import annotations

import uuid
from datetime import timedelta

from dlws_flow.store import repositories as repo
from dlws_flow.store.db import migrate, session_scope
from dlws_flow.store.models import utcnow


def pair() -> tuple[str, str]:
    migrate()
    return f"sys-{uuid.uuid4().hex[:8]}", "login"


def test_one_claim_wins_until_the_poller_goes_stale_and_runs_are_taken_once_in_order():
    system, login = pair()
    long_ago = utcnow() - timedelta(hours=1)
    with session_scope() as session:
        assert repo.claim_poller(session, system, login, "a", long_ago)  # the pair's first row
        assert not repo.claim_poller(session, system, login, "b", long_ago)  # "a" ran just now
        assert repo.poller_seen_since(session, system, login, long_ago)
    with session_scope() as session:
        assert repo.advance_poller(session, system, login, "a", 0)
        assert not repo.advance_poller(session, system, login, "a", 0)  # the same message again: stops
        assert not repo.advance_poller(session, system, login, "b", 1)  # not the pair's poller
        assert repo.advance_poller(session, system, login, "a", 1)
    with session_scope() as session:  # "a" has not run since a moment from now: stale, "b" takes over
        assert repo.claim_poller(session, system, login, "b", utcnow() + timedelta(seconds=1))
        assert not repo.advance_poller(session, system, login, "a", 2)  # the replaced poller's next message
        assert repo.advance_poller(session, system, login, "b", 0)


def test_a_released_pair_has_no_poller_and_the_next_claim_starts_over():
    system, login = pair()
    long_ago = utcnow() - timedelta(hours=1)
    with session_scope() as session:
        assert repo.claim_poller(session, system, login, "a", long_ago)
        assert repo.release_poller(session, system, login, "a")
        assert not repo.release_poller(session, system, login, "a")
        assert not repo.poller_seen_since(session, system, login, long_ago)
        assert not repo.advance_poller(session, system, login, "a", 0)
        assert repo.claim_poller(session, system, login, "c", long_ago)
        assert repo.advance_poller(session, system, login, "c", 0)
        # The pair's row still takes its polls (one per interval, whoever asks).
        assert repo.claim_poll(session, system, login, 0.0)
