"""Tables of the Files service's transfers (task, parents, children) and PostIts.

Kept apart from ``models.py`` (its size) on the same ``Base``, as ``quota_models`` is."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from dlws_flow.store.models import Base, utcnow


class TransferTaskRow(Base):
    """A Tapis transfer task: what a user asked to copy (``transfer_parents``, one per element)."""

    __tablename__ = "transfer_tasks"
    __table_args__ = (Index("ix_transfer_tasks_user_created", "username", "created"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    uuid: Mapped[str] = mapped_column(String(64), unique=True)
    tenant: Mapped[str] = mapped_column(String(64))
    username: Mapped[str] = mapped_column(String(64))
    tag: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    error_message: Mapped[str | None] = mapped_column(Text)
    created: Mapped[datetime] = mapped_column(default=utcnow)
    start_time: Mapped[datetime | None]
    end_time: Mapped[datetime | None]


class TransferParentRow(Base):
    """One element of a transfer (sourceURI -> destinationURI). Whoever runs it holds its lease: ``lease_holder``
    until ``lease_expires``, renewed while it copies; a lease left to expire (its worker died) is taken over."""

    __tablename__ = "transfer_parents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    uuid: Mapped[str] = mapped_column(String(64), unique=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("transfer_tasks.id", ondelete="CASCADE"), index=True)
    source_uri: Mapped[str] = mapped_column(Text)
    destination_uri: Mapped[str] = mapped_column(Text)
    optional: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16), index=True)
    total_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    bytes_transferred: Mapped[int] = mapped_column(BigInteger, default=0)
    error_message: Mapped[str | None] = mapped_column(Text)
    lease_holder: Mapped[str | None] = mapped_column(String(64))
    lease_expires: Mapped[datetime | None]
    #: How many times a worker took the element on: bounded, so a file that kills every worker fails it.
    runs: Mapped[int] = mapped_column(Integer, default=0)
    created: Mapped[datetime] = mapped_column(default=utcnow)
    start_time: Mapped[datetime | None]
    end_time: Mapped[datetime | None]


class TransferChildRow(Base):
    """One file or directory of an element: ``relative`` is its path below the element's source (``""``: itself)."""

    __tablename__ = "transfer_children"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    uuid: Mapped[str] = mapped_column(String(64), unique=True)
    task_id: Mapped[int] = mapped_column(Integer)
    parent_id: Mapped[int] = mapped_column(ForeignKey("transfer_parents.id", ondelete="CASCADE"), index=True)
    source_uri: Mapped[str] = mapped_column(Text)
    destination_uri: Mapped[str] = mapped_column(Text)
    relative: Mapped[str] = mapped_column(Text)
    dir: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16))
    total_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    bytes_transferred: Mapped[int] = mapped_column(BigInteger, default=0)
    #: Times the copy was started again after an interrupted attempt.
    retries: Mapped[int] = mapped_column(Integer, default=0)
    error_message: Mapped[str | None] = mapped_column(Text)
    created: Mapped[datetime] = mapped_column(default=utcnow)
    start_time: Mapped[datetime | None]
    end_time: Mapped[datetime | None]


class PostItRow(Base):
    """A Tapis PostIt: anyone holding ``id`` (random, unguessable) may download the path, ``allowed_uses`` times
    (-1: unlimited) until ``expiration``. ``times_used`` is only raised by a compare-and-set."""

    __tablename__ = "postits"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(64))
    owner: Mapped[str] = mapped_column(String(64), index=True)
    system_id: Mapped[str] = mapped_column(String(80))
    path: Mapped[str] = mapped_column(Text)
    allowed_uses: Mapped[int] = mapped_column(Integer)
    times_used: Mapped[int] = mapped_column(Integer, default=0)
    jwt_user: Mapped[str] = mapped_column(String(64))
    jwt_tenant: Mapped[str] = mapped_column(String(64))
    expiration: Mapped[datetime]
    created: Mapped[datetime] = mapped_column(default=utcnow)
    updated: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
