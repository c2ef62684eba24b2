"""SQLAlchemy 2 models. Searchable fields are columns; the rest of a Tapis record lives in ``spec`` (JSON)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, DateTime, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """A timezone-aware timestamp on every database. Every time is written in UTC; SQLite keeps no offset
    and hands back naive values, so they come back marked UTC here, as PostgreSQL returns them."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, datetime: UTCDateTime()}


class SystemRow(Base):
    __tablename__ = "systems"

    id: Mapped[str] = mapped_column(String(80), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(64))
    owner: Mapped[str] = mapped_column(String(64), index=True)
    host: Mapped[str] = mapped_column(String(253))
    port: Mapped[int] = mapped_column(Integer)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    host_key: Mapped[str | None] = mapped_column(Text)
    #: The key the host showed when it no longer matched ``host_key``: what accepting the change would pin.
    offered_host_key: Mapped[str | None] = mapped_column(Text)
    #: A child system's parent (Tapis createChildSystem): the parent's changes reach it until it is unlinked.
    parent_id: Mapped[str | None] = mapped_column(String(80), index=True)
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    created: Mapped[datetime] = mapped_column(default=utcnow)
    updated: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class CredentialRow(Base):
    """A login for one (system, dlws user); secrets are encrypted with the deployment's key."""

    __tablename__ = "credentials"

    system_id: Mapped[str] = mapped_column(ForeignKey("systems.id", ondelete="CASCADE"), primary_key=True)
    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    login_user: Mapped[str | None] = mapped_column(String(64))
    private_key: Mapped[bytes | None] = mapped_column(LargeBinary)
    password: Mapped[bytes | None] = mapped_column(LargeBinary)
    updated: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class AppRow(Base):
    __tablename__ = "apps"

    id: Mapped[str] = mapped_column(String(80), primary_key=True)
    version: Mapped[str] = mapped_column(String(80), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(64))
    owner: Mapped[str] = mapped_column(String(64), index=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    created: Mapped[datetime] = mapped_column(default=utcnow)
    updated: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class JobRow(Base):
    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_owner_created", "owner", "created", "uuid"),  # a user's jobs, newest first
        Index("ix_jobs_created", "created", "uuid"),  # everyone's (admins), newest first
        Index("ix_jobs_system_status", "exec_system_id", "status"),)

    uuid: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    owner: Mapped[str] = mapped_column(String(64))
    tenant: Mapped[str] = mapped_column(String(64))
    description: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(32), index=True)
    condition: Mapped[str | None] = mapped_column(String(64))
    last_message: Mapped[str | None] = mapped_column(Text)
    app_id: Mapped[str] = mapped_column(String(80))
    app_version: Mapped[str] = mapped_column(String(80))
    job_type: Mapped[str] = mapped_column(String(16))
    exec_system_id: Mapped[str] = mapped_column(String(80))
    archive_system_id: Mapped[str] = mapped_column(String(80))
    #: Directories after HOST_EVAL expansion, as absolute host paths (set by process_inputs).
    host_dirs: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    #: The login the job runs as on the exec host (batched polls group jobs by it).
    exec_login: Mapped[str | None] = mapped_column(String(64))
    remote_job_id: Mapped[str | None] = mapped_column(String(64))
    remote_outcome: Mapped[str | None] = mapped_column(String(32))
    remote_result_info: Mapped[str | None] = mapped_column(Text)
    remote_queue: Mapped[str | None] = mapped_column(String(64))
    remote_node: Mapped[str | None] = mapped_column(String(253))
    remote_submitted: Mapped[datetime | None]
    remote_started: Mapped[datetime | None]
    remote_ended: Mapped[datetime | None]
    remote_checks_success: Mapped[int] = mapped_column(Integer, default=0)
    remote_checks_failed: Mapped[int] = mapped_column(Integer, default=0)
    remote_last_status_check: Mapped[datetime | None]
    exit_code: Mapped[int | None] = mapped_column(Integer)
    blocked_count: Mapped[int] = mapped_column(Integer, default=0)
    #: BLOCKED and PAUSED jobs: the state to return to and the stage that moves the job on from there.
    resume_status: Mapped[str | None] = mapped_column(String(32))
    resume_stage: Mapped[str | None] = mapped_column(String(32))
    #: BLOCKED jobs: the (system, login) whose recovery condition holds them.
    blocked_system_id: Mapped[str | None] = mapped_column(String(80))
    blocked_login: Mapped[str | None] = mapped_column(String(64))
    blocked_condition: Mapped[str | None] = mapped_column(String(32))
    #: The owner asked to pause: the job stops at its next stage boundary.
    pause_requested: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    #: The Slurm job is held (``scontrol hold``) while the job is PAUSED.
    remote_held: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    visible: Mapped[bool] = mapped_column(Boolean, default=True)
    parent_uuid: Mapped[str | None] = mapped_column(String(64), index=True)
    sweep_id: Mapped[str | None] = mapped_column(String(64), index=True)  # a sweep's element (models_sweeps)
    sweep_index: Mapped[int | None] = mapped_column(Integer)
    #: A sweep element launched with its sweep's ``sbatch --array`` (``engine.sweep_launch``): until it is
    #: queued only the sweep's launch moves it, never its own stages.
    in_array: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    #: Some subscription names the job (``outbox.add_subscription`` sets it): only then does a status change
    #: look for subscriptions to notify.
    subscribed: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    #: The request as sent (for resubmit) and the resolved job (what the stages run).
    request: Mapped[dict[str, Any]] = mapped_column(JSON)
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    created: Mapped[datetime] = mapped_column(default=utcnow)
    ended: Mapped[datetime | None]
    last_updated: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class JobEventRow(Base):
    """One row per status change (the job's history) and per notable event."""

    __tablename__ = "job_events"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    job_uuid: Mapped[str] = mapped_column(ForeignKey("jobs.uuid", ondelete="CASCADE"), index=True)
    event: Mapped[str] = mapped_column(String(32))
    old_status: Mapped[str | None] = mapped_column(String(32))
    new_status: Mapped[str | None] = mapped_column(String(32))
    message: Mapped[str | None] = mapped_column(Text)
    created: Mapped[datetime] = mapped_column(default=utcnow)


class SystemEventRow(Base):
    """A system's history (Tapis SystemHistory): changes to the record and what happened to its host key."""

    __tablename__ = "system_events"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    system_id: Mapped[str] = mapped_column(String(80), index=True)
    tenant: Mapped[str] = mapped_column(String(64))
    username: Mapped[str | None] = mapped_column(String(64))
    operation: Mapped[str] = mapped_column(String(32))
    description: Mapped[str] = mapped_column(Text)
    created: Mapped[datetime] = mapped_column(default=utcnow)


class AppEventRow(Base):
    """An app's history (Tapis AppHistory): every create, change, enable, lock, delete and permission change."""

    __tablename__ = "app_events"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    app_id: Mapped[str] = mapped_column(String(80), index=True)
    app_version: Mapped[str | None] = mapped_column(String(80))
    tenant: Mapped[str] = mapped_column(String(64))
    username: Mapped[str | None] = mapped_column(String(64))
    operation: Mapped[str] = mapped_column(String(32))
    description: Mapped[str] = mapped_column(Text)
    created: Mapped[datetime] = mapped_column(default=utcnow)


class SchedulerProfileRow(Base):
    """A Tapis scheduler profile: module loads and hidden ``#SBATCH`` options that systems and jobs name."""

    __tablename__ = "scheduler_profiles"

    name: Mapped[str] = mapped_column(String(80), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(64))
    owner: Mapped[str] = mapped_column(String(64))
    description: Mapped[str | None] = mapped_column(Text)
    module_loads: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    hidden_options: Mapped[list[str]] = mapped_column(JSON, default=list)
    created: Mapped[datetime] = mapped_column(default=utcnow)


class SystemPollRow(Base):
    """When each (system, login) was last polled: one batched status query per interval, whoever asks."""

    __tablename__ = "system_polls"

    system_id: Mapped[str] = mapped_column(String(80), primary_key=True)
    login_user: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_poll: Mapped[datetime] = mapped_column(default=utcnow)
    # How many polls ran: with the host's command log this shows one status command per poll (tests, bench).
    poll_count: Mapped[int] = mapped_column(default=0, server_default="0")
    #: The pair's poller (``engine.monitoring``): its token, the number of its next run (a message of another
    #: run is stale and stops), and when it last ran; no token: nobody polls the pair by itself.
    poller_token: Mapped[str | None] = mapped_column(String(40))
    poller_run: Mapped[int] = mapped_column(default=0, server_default="0")
    poller_seen: Mapped[datetime | None]


class RecoveryRow(Base):
    """One open recovery condition per (system, login, condition): the jobs BLOCKED on it share its probes."""

    __tablename__ = "recovery_conditions"

    system_id: Mapped[str] = mapped_column(String(80), primary_key=True)
    login_user: Mapped[str] = mapped_column(String(64), primary_key=True)
    condition: Mapped[str] = mapped_column(String(32), primary_key=True)
    #: The dlws user whose credential the probe uses (one of the blocked jobs' owners).
    probe_user: Mapped[str] = mapped_column(String(64))
    first_blocked: Mapped[datetime] = mapped_column(default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_probe: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    last_error: Mapped[str | None] = mapped_column(Text)


class SshSlotRow(Base):
    """Deployment-wide SSH connection slots of one host: a worker process holds a slot per open connection.

    ``holder`` names the process; ``expires`` is renewed while the connection is used, so a killed worker's
    slots free themselves. ``last_connect`` (on slot 0) spaces new connections to the host.
    """

    __tablename__ = "ssh_slots"

    host: Mapped[str] = mapped_column(String(253), primary_key=True)
    port: Mapped[int] = mapped_column(Integer, primary_key=True)
    slot: Mapped[int] = mapped_column(Integer, primary_key=True)
    holder: Mapped[str | None] = mapped_column(String(128))
    expires: Mapped[datetime | None]
    last_connect: Mapped[datetime | None]


class UserRow(Base):
    """An API user (Tapis tokens, OpenPAI, the CLI's admin). Passwords are argon2 hashes."""

    __tablename__ = "users"

    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(64))
    password_hash: Mapped[str] = mapped_column(Text)
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    #: Tokens issued before this instant are refused (password change, user removal, revocation).
    tokens_valid_after: Mapped[datetime] = mapped_column(default=utcnow)
    created: Mapped[datetime] = mapped_column(default=utcnow)
    updated: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class TenantSigningKeyRow(Base):
    """A tenant's RS256 key pair for access and refresh tokens: the newest ``generation`` is in force.

    The primary key makes creation and rotation compare-and-set: of two processes inserting the same
    generation, one wins. The private key is Fernet-encrypted, as credentials are."""

    __tablename__ = "tenant_signing_keys"

    tenant: Mapped[str] = mapped_column(String(64), primary_key=True)
    generation: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_key: Mapped[str] = mapped_column(Text)
    private_key: Mapped[bytes] = mapped_column(LargeBinary)
    created: Mapped[datetime] = mapped_column(default=utcnow)


class RefreshTokenRow(Base):
    """A refresh token issued (looked up by its ``jti``): single use, and revocable with all of its session.

    ``session_id`` is the jti of the first refresh token of a login; every token refreshed from it shares it,
    so a refresh token presented twice ends the whole chain (a copy was used by someone)."""

    __tablename__ = "refresh_tokens"

    jti: Mapped[str] = mapped_column(String(36), primary_key=True)
    session_id: Mapped[str] = mapped_column(String(36), index=True)
    username: Mapped[str] = mapped_column(String(64), index=True)
    tenant: Mapped[str] = mapped_column(String(64))
    expires: Mapped[datetime] = mapped_column(index=True)
    used: Mapped[datetime | None]
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)


class RevokedTokenRow(Base):
    """An access token revoked before its time; kept until it would have expired anyway."""

    __tablename__ = "revoked_tokens"

    jti: Mapped[str] = mapped_column(String(36), primary_key=True)
    expires: Mapped[datetime] = mapped_column(index=True)


class GrantRow(Base):
    """One permission one user holds on a resource someone else owns (owners hold every permission).

    ``kind`` is ``system``, ``app``, ``job`` or ``file``; ``path`` is only set for ``file`` grants (a
    path relative to the system's rootDir, covering everything below it)."""

    __tablename__ = "grants"
    __table_args__ = (Index("ix_grants_user", "username", "kind"),)

    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    resource_id: Mapped[str] = mapped_column(String(160), primary_key=True)
    path: Mapped[str] = mapped_column(String(1024), primary_key=True, default="")
    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    permission: Mapped[str] = mapped_column(String(16), primary_key=True)
    granted_by: Mapped[str] = mapped_column(String(64))
    created: Mapped[datetime] = mapped_column(default=utcnow)


class FileShareRow(Base):
    """A path of a system shared (Tapis Files sharing): READ on ``path`` and below for ``username``.

    ``path`` is relative to the system's rootDir ("" is the root). ``username`` is "" for a public share,
    which reaches every user of ``tenant`` (no real username is empty: ``services.auth.USERNAME``)."""

    __tablename__ = "file_shares"
    __table_args__ = (Index("ix_file_shares_user", "username", "system_id"),)

    system_id: Mapped[str] = mapped_column(String(80), primary_key=True)
    path: Mapped[str] = mapped_column(String(1024), primary_key=True, default="")
    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(64))
    shared_by: Mapped[str] = mapped_column(String(64))
    created: Mapped[datetime] = mapped_column(default=utcnow)


class SubscriptionRow(Base):
    """A Tapis job subscription: which events of one job go to which delivery targets."""

    __tablename__ = "subscriptions"

    uuid: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(64))
    owner: Mapped[str] = mapped_column(String(64))
    job_uuid: Mapped[str] = mapped_column(ForeignKey("jobs.uuid", ondelete="CASCADE"), index=True)
    description: Mapped[str | None] = mapped_column(Text)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    #: The ``eventCategoryFilter``: one category (``JOB_NEW_STATUS``, ...) or ``ALL``.
    event_categories: Mapped[str] = mapped_column(String(32))
    #: ``[{"deliveryMethod": "WEBHOOK" | "EMAIL", "deliveryAddress": ...}]``.
    delivery_targets: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    ttl_minutes: Mapped[int | None] = mapped_column(Integer)
    expires: Mapped[datetime | None]
    created: Mapped[datetime] = mapped_column(default=utcnow)
    updated: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class NotificationRow(Base):
    """The outbox: one row per (event, subscription, delivery target), written in the event's transaction.

    Rows of one subscription are delivered in ``id`` order; ``next_attempt`` is both the retry time and
    the claim (a worker delivering a row pushes it forward by a lease, compare-and-set)."""

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_pending", "status", "subscription_uuid", "id"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    subscription_uuid: Mapped[str] = mapped_column(String(64), index=True)
    job_uuid: Mapped[str] = mapped_column(String(64))
    #: The Tapis event: ``source, type, subject, seriesId, seriesSeqCount, timestamp, data`` (a JSON string).
    event: Mapped[dict[str, Any]] = mapped_column(JSON)
    target: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default="PENDING")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt: Mapped[datetime] = mapped_column(default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)
    created: Mapped[datetime] = mapped_column(default=utcnow)
    delivered: Mapped[datetime | None]


class JobFamilyRow(Base):
    """A job's DLWorkspace family: the root job's secret token, inherited by every descendant.

    The token is looked up by its SHA-256 (``token_hash``) and kept encrypted (``token_encrypted``) only
    so that the stage writing ``tapisjob.env`` can hand it to the job."""

    __tablename__ = "job_families"

    job_uuid: Mapped[str] = mapped_column(ForeignKey("jobs.uuid", ondelete="CASCADE"), primary_key=True)
    root_uuid: Mapped[str] = mapped_column(String(64), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), index=True)
    token_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    #: The DLWS parameters a ``/child/SubmitJob`` request gave (``jobParams`` of JobDetail); None for roots.
    params: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created: Mapped[datetime] = mapped_column(default=utcnow)
