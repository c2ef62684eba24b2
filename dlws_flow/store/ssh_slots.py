"""SSH connection slots of a host, shared by every worker process of the deployment through the database.

A process claims a slot before it opens a connection to a gated host (a system with ``maxConnections`` or
``connectIntervalSeconds``, or the deployment's defaults) and frees it when it closes the connection.
Slots are leases: a process killed with its connections open loses them when the lease ends, or at once
when another process on the same machine sees the holder's pid is gone. Spacing between new connections
is a compare-and-set on slot 0's ``last_connect``.
"""

from __future__ import annotations

import os
import socket
import time
from datetime import timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError

from dlws_flow.errors import ConnectionLimitError
from dlws_flow.store.db import session_scope
from dlws_flow.store.models import SshSlotRow, utcnow

LEASE_SECONDS = 180.0


def _holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _holder_is_dead(holder: str) -> bool:
    """True only for a holder on this machine whose process is gone (others are left to their lease)."""
    hostname, _, pid = holder.rpartition(":")
    if hostname != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


class DatabaseGate:
    """The ``ConnectionGate`` of ``dlws_flow.adapters.transports.ssh``, kept in the ``ssh_slots`` table."""

    def __init__(self, wait_seconds: float = 60.0, poll_seconds: float = 0.2) -> None:
        self.wait_seconds = wait_seconds
        self.poll_seconds = poll_seconds

    def acquire(self, host: str, port: int, limit: int, interval: float) -> int:
        deadline = time.monotonic() + self.wait_seconds
        slot: int | None = None
        while True:
            if slot is None:
                slot = self._claim(host, port, limit)
            if slot is not None and self._spaced(host, port, interval):
                return slot
            if time.monotonic() > deadline:
                if slot is not None:
                    self.release(host, port, slot)
                raise ConnectionLimitError(
                    f"no SSH connection slot to {host}:{port} became free in {self.wait_seconds:g} s "
                    f"(maxConnections {limit or 'unlimited'}, {interval:g} s between connections)")
            time.sleep(self.poll_seconds)

    def _claim(self, host: str, port: int, limit: int) -> int | None:
        slots = range(limit) if limit > 0 else range(1)
        now = utcnow()
        with session_scope() as session:
            rows = {r.slot: r for r in session.scalars(select(SshSlotRow).where(
                SshSlotRow.host == host, SshSlotRow.port == port, SshSlotRow.slot.in_(list(slots)))).all()}
            for number in slots:
                if number not in rows:
                    try:
                        with session.begin_nested():
                            session.add(SshSlotRow(host=host, port=port, slot=number, holder=None))
                    except IntegrityError:
                        pass
            if limit <= 0:
                return -1  # spacing only: no slot to hold
            for number in slots:
                row = rows.get(number)
                if row is not None and row.holder and not (row.expires and row.expires < now) \
                        and not _holder_is_dead(row.holder):
                    continue
                same_holder = (SshSlotRow.holder.is_(None) if row is None or row.holder is None
                               else SshSlotRow.holder == row.holder)  # compare-and-set on what we read
                claimed = session.execute(
                    update(SshSlotRow).where(SshSlotRow.host == host, SshSlotRow.port == port, SshSlotRow.slot == number,
                                             same_holder)
                    .values(holder=_holder(), expires=now + timedelta(seconds=LEASE_SECONDS))
                    .execution_options(synchronize_session=False))
                if claimed.rowcount == 1:
                    return number
        return None

    def _spaced(self, host: str, port: int, interval: float) -> bool:
        if interval <= 0:
            return True
        now = utcnow()
        with session_scope() as session:
            result = session.execute(
                update(SshSlotRow).where(SshSlotRow.host == host, SshSlotRow.port == port, SshSlotRow.slot == 0,
                                         or_(SshSlotRow.last_connect.is_(None),
                                             SshSlotRow.last_connect <= now - timedelta(seconds=interval)))
                .values(last_connect=now).execution_options(synchronize_session=False))
            return result.rowcount == 1

    def release(self, host: str, port: int, slot: int) -> None:
        self._update_mine(host, port, slot, holder=None, expires=None)

    def renew(self, host: str, port: int, slot: int) -> None:
        self._update_mine(host, port, slot, expires=utcnow() + timedelta(seconds=LEASE_SECONDS))

    def _update_mine(self, host: str, port: int, slot: int, **values) -> None:
        """Change a slot this process holds (slot -1: spacing only, nothing held)."""
        if slot < 0:
            return
        with session_scope() as session:
            session.execute(update(SshSlotRow).where(SshSlotRow.host == host, SshSlotRow.port == port,
                                                     SshSlotRow.slot == slot, SshSlotRow.holder == _holder())
                            .values(**values).execution_options(synchronize_session=False))


def held(host: str, port: int) -> int:
    """Slots of (host, port) held now (tests, metrics)."""
    now = utcnow()
    with session_scope() as session:
        rows = session.scalars(select(SshSlotRow).where(SshSlotRow.host == host, SshSlotRow.port == port,
                                                        SshSlotRow.holder.is_not(None))).all()
        return sum(1 for r in rows if not (r.expires and r.expires < now))
