"""SSH connection slots in the database: a limit per host across processes, spacing, dead holders freed."""

from __future__ import annotations

import socket
import subprocess
import uuid

import pytest

from dlws_flow.errors import ConnectionLimitError


@pytest.fixture
def host() -> str:
    from dlws_flow.store.db import migrate

    migrate()
    return f"gate-{uuid.uuid4().hex[:8]}.example.org"


def test_limit_is_enforced_and_released(host):
    from dlws_flow.store.ssh_slots import DatabaseGate, held

    gate = DatabaseGate(wait_seconds=0.3, poll_seconds=0.05)
    first, second = gate.acquire(host, 22, 2, 0), gate.acquire(host, 22, 2, 0)
    assert {first, second} == {0, 1} and held(host, 22) == 2
    with pytest.raises(ConnectionLimitError, match="maxConnections 2"):
        gate.acquire(host, 22, 2, 0)
    gate.release(host, 22, first)
    assert gate.acquire(host, 22, 2, 0) == first


def test_a_dead_process_slot_is_taken_over(host):
    from dlws_flow.store.db import session_scope
    from dlws_flow.store.models import SshSlotRow, utcnow
    from dlws_flow.store.ssh_slots import DatabaseGate

    gone = subprocess.Popen(["true"])
    gone.wait()
    with session_scope() as session:  # held by a process of this machine that no longer exists
        session.add(SshSlotRow(host=host, port=22, slot=0, holder=f"{socket.gethostname()}:{gone.pid}", expires=utcnow()))
    gate = DatabaseGate(wait_seconds=0.3, poll_seconds=0.05)
    from datetime import timedelta

    with session_scope() as session:
        session.get(SshSlotRow, (host, 22, 0)).expires = utcnow() + timedelta(hours=1)  # the lease alone would hold it
    assert gate.acquire(host, 22, 1, 0) == 0


def test_spacing_between_new_connections(host):
    from dlws_flow.store.ssh_slots import DatabaseGate

    gate = DatabaseGate(wait_seconds=5, poll_seconds=0.05)
    gate.acquire(host, 22, 0, 0.2)
    assert not gate._spaced(host, 22, 60)  # the one just made is too recent for a 60 s spacing
    gate.acquire(host, 22, 0, 0.2)  # waits its turn, then goes
