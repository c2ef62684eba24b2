"""Tables of the OpenPAI surface: virtual clusters (real quotas), their members, the quota bookkeeping of
each job submitted into one, and the OpenPAI job records (name -> the Tapis jobs of its current run).

Kept apart from ``models.py`` but on the same ``Base``, so Alembic and ``Base.metadata`` see them once
``dlws_flow.store`` is imported (``models.py`` stays the core schema)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from dlws_flow.store.models import Base, utcnow


class VirtualClusterRow(Base):
    """A share of the cluster formed by ``systems``: ``capacity`` percent guaranteed, ``max_capacity`` percent
    at most (when the systems have room). Admission locks the row (``admission_seq`` is bumped first)."""

    __tablename__ = "virtual_clusters"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    description: Mapped[str | None] = mapped_column(Text)
    capacity: Mapped[float] = mapped_column(Float)
    max_capacity: Mapped[float] = mapped_column(Float)
    systems: Mapped[list[str]] = mapped_column(JSON)
    admission_seq: Mapped[int] = mapped_column(Integer, default=0)
    created: Mapped[datetime] = mapped_column(default=utcnow)
    updated: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class VcMemberRow(Base):
    """A user allowed to submit into a virtual cluster (everyone may use ``default``; admins use all)."""

    __tablename__ = "vc_members"

    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    vc_name: Mapped[str] = mapped_column(ForeignKey("virtual_clusters.name", ondelete="CASCADE"), primary_key=True)


class VcJobRow(Base):
    """One job's request against its virtual cluster. ``admitted`` flips once (compare-and-set under the
    VC row lock); a job holds its resources while admitted and not terminal."""

    __tablename__ = "vc_jobs"
    __table_args__ = (Index("ix_vc_jobs_vc_admitted", "vc_name", "admitted"),)

    job_uuid: Mapped[str] = mapped_column(ForeignKey("jobs.uuid", ondelete="CASCADE"), primary_key=True)
    vc_name: Mapped[str] = mapped_column(String(64))
    system_id: Mapped[str] = mapped_column(String(80))
    cpu: Mapped[int] = mapped_column(Integer)
    memory_mb: Mapped[int] = mapped_column(Integer)
    gpu: Mapped[int] = mapped_column(Integer)
    admitted: Mapped[bool] = mapped_column(Boolean, default=False)
    created: Mapped[datetime] = mapped_column(default=utcnow)
    admitted_at: Mapped[datetime | None]


class OpenPaiJobRow(Base):
    """An OpenPAI job: unique per (owner, name); ``job_uuids`` are the Tapis jobs of its current run
    (one per task-role instance). The SSH private key is stored encrypted until its one download."""

    __tablename__ = "openpai_jobs"

    owner: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    vc_name: Mapped[str] = mapped_column(String(64))
    config: Mapped[dict[str, Any]] = mapped_column(JSON)
    job_uuids: Mapped[list[str]] = mapped_column(JSON)
    execution_type: Mapped[str] = mapped_column(String(8), default="START")
    retries: Mapped[int] = mapped_column(Integer, default=0)
    public_key: Mapped[str] = mapped_column(Text)
    private_key: Mapped[bytes | None] = mapped_column(LargeBinary)
    key_downloaded: Mapped[bool] = mapped_column(Boolean, default=False)
    created: Mapped[datetime] = mapped_column(default=utcnow)
    updated: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class JobSshEntryRow(Base):
    """A running job's SSH entry for its OpenPAI key (``domain.job_ssh``): installed on the exec host
    (``problem`` empty) or refused there (``problem`` says why), and taken out again when the job ends."""

    __tablename__ = "job_ssh_entries"

    job_uuid: Mapped[str] = mapped_column(String(64), primary_key=True)
    system_id: Mapped[str] = mapped_column(String(80))
    exec_dir: Mapped[str] = mapped_column(Text)
    #: Whether a login with the key was tried and reached the job (None: the private key was gone already).
    verified: Mapped[bool | None] = mapped_column(Boolean)
    problem: Mapped[str | None] = mapped_column(Text)
    created: Mapped[datetime] = mapped_column(default=utcnow)
