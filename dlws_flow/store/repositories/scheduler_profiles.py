"""Writes to ``scheduler_profiles``: Tapis scheduler profiles, created, read and deleted (Tapis has no update)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from dlws_flow.domain.scheduler_profile import SchedulerProfileSpec
from dlws_flow.errors import ConflictError, NotFoundError
from dlws_flow.store.models import SchedulerProfileRow


def add_scheduler_profile(session: Session, spec: SchedulerProfileSpec, owner: str, tenant: str) -> SchedulerProfileRow:
    """Insert a profile. Names are unique (Tapis: within the tenant; a deployment serves one).

    Raises:
        ConflictError: a profile of that name exists.
    """
    if session.get(SchedulerProfileRow, spec.name) is not None:
        raise ConflictError(f"scheduler profile {spec.name} already exists")
    row = SchedulerProfileRow(
        name=spec.name, tenant=tenant, owner=owner, description=spec.description,
        module_loads=[load.model_dump(mode="json") for load in spec.moduleLoads],
        hidden_options=[str(option) for option in spec.hiddenOptions],
    )
    session.add(row)
    try:
        session.flush()  # a concurrent create of the same name fails here, on the primary key
    except IntegrityError as exc:
        raise ConflictError(f"scheduler profile {spec.name} already exists") from exc
    return row


def find_scheduler_profile(session: Session, name: str) -> SchedulerProfileRow | None:
    return session.get(SchedulerProfileRow, name)


def get_scheduler_profile(session: Session, name: str) -> SchedulerProfileRow:
    row = session.get(SchedulerProfileRow, name)
    if row is None:
        raise NotFoundError(f"scheduler profile {name} not found")
    return row


def list_scheduler_profiles(session: Session, tenant: str) -> Sequence[SchedulerProfileRow]:
    return session.scalars(select(SchedulerProfileRow).where(SchedulerProfileRow.tenant == tenant)
                           .order_by(SchedulerProfileRow.name)).all()


def delete_scheduler_profile(session: Session, row: SchedulerProfileRow) -> int:
    """Remove a profile (the row goes: its name is free again). Returns the number of profiles removed."""
    session.delete(row)
    session.flush()
    return 1
