"""The table of parameter sweeps (ours): one request fanned out into jobs (``jobs.sweep_id``).

Kept apart from ``models.py`` (its size) on the same ``Base``, as ``quota_models`` is."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from dlws_flow.store.models import Base, utcnow


class SweepRow(Base):
    """A sweep: its owner, the parameter values it fans out over, and how many elements (jobs) it made."""

    __tablename__ = "sweeps"
    __table_args__ = (Index("ix_sweeps_owner_created", "owner", "created"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    owner: Mapped[str] = mapped_column(String(64))
    tenant: Mapped[str] = mapped_column(String(64))
    #: The request: the job template, the parameters and how they combine.
    request: Mapped[dict[str, Any]] = mapped_column(JSON)
    element_count: Mapped[int] = mapped_column(Integer)
    #: ``array``: one ``sbatch --array`` for the elements (``engine.sweep_launch``); ``jobs``: one job each.
    launch: Mapped[str] = mapped_column(String(16), default="jobs", server_default="jobs")
    #: At most this many elements run at once (``%N`` of the array); None: as many as the scheduler allows.
    throttle: Mapped[int | None] = mapped_column(Integer)
    #: The Slurm arrays it went out as, once launched: ``[{"id", "offset", "tasks"}]``.
    arrays: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    created: Mapped[datetime] = mapped_column(default=utcnow)
