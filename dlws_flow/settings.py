"""Deployment settings, read from ``DLWS_*`` environment variables.

Every setting has an embedded default so that ``dlws-flow demo`` works on a machine with nothing else
installed: a SQLite file and a filesystem broker under the user's data directory.
"""

from __future__ import annotations

import functools
import getpass
import os
from pathlib import Path
from typing import Literal

import platformdirs
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from dlws_flow.domain.address_policy import AddressPolicy


def default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("dlws-flow", appauthor=False))


class Settings(BaseSettings):
    """See docs/configuration.md for the meaning of each value."""

    model_config = SettingsConfigDict(env_prefix="DLWS_", extra="ignore")

    data_dir: Path = Field(default_factory=default_data_dir)
    database_url: str = ""
    #: PostgreSQL connections each process keeps open; up to ``db_max_overflow`` more are opened in bursts.
    db_pool_size: int = Field(default=10, ge=1)
    db_max_overflow: int = Field(default=30, ge=0)
    broker_url: str = ""
    result_backend: str = ""
    queue: str = "dlws"
    tenant: str = "dlws"
    default_user: str = Field(default_factory=getpass.getuser)
    secret_key: str = ""
    api_base_url: str = "http://127.0.0.1:8000"
    #: Our base URL as job hosts reach it (DLWS_REST_API in every job); empty: ``api_base_url``.
    job_api_url: str = ""
    admin_user: str = "admin"
    admin_password: str = ""
    #: Seconds an API process trusts a user row it read to check a token (0: read it on every request).
    auth_cache_seconds: float = Field(default=5.0, ge=0)
    #: Longest access token lifetime anyone may ask for (OpenPAI's own maximum: 7 days); longer is a 400.
    token_max_seconds: int = Field(default=604_800, ge=1)
    #: Lifetime of each refresh token (every refresh hands out a new one, single use, with this lifetime).
    refresh_token_seconds: int = Field(default=604_800, ge=1)
    #: Failed logins allowed per user name and per client address, as ``limits`` rate strings: each
    #: window, once full, refuses further tries (429) until its oldest failure leaves it. Empty: no limit.
    login_limit_per_user: str = "5/minute;30/hour;100/day"
    login_limit_per_address: str = "30/minute;300/hour"
    #: Where failures are counted: empty picks the broker's Redis when ``broker_url`` is redis://, else
    #: this process's memory; or a ``limits`` storage URI (``memory://``, ``redis://host:6379/1``).
    login_limit_storage: str = ""
    #: Deepest nesting of objects and arrays a JSON request body may have (pydantic stops near 255).
    max_json_depth: int = Field(default=64, ge=1, le=200)
    max_request_bytes: int = 1_048_576
    max_upload_bytes: int = 104_857_600
    #: A job in QUEUED/RUNNING is looked at again after ``monitor_age_fraction`` of the time it has spent in
    #: that state, kept between the first and the max interval: fast after submit and after it starts.
    monitor_first_interval: float = Field(default=0.05, gt=0)
    monitor_max_interval: float = Field(default=10.0, gt=0)
    monitor_age_fraction: float = Field(default=0.25, ge=0)
    poll_min_interval: float = Field(default=0.05, ge=0)
    #: While jobs of a (system, login) keep changing, its poller looks again this long after a change (then
    #: a quarter of the quiet time, up to monitor_max_interval): a busy cluster's ends are seen within about
    #: this, without a poll every monitor_first_interval.
    poll_busy_interval: float = Field(default=1.0, gt=0)
    #: While a (system, login) has its poller, each job's own look comes this often only: a safety net that
    #: polls, and starts a new poller, when the poller has not run for 3 x monitor_max_interval + connect timeout.
    monitor_safety_interval: float = Field(default=30.0, gt=0)
    ssh_connect_timeout: float = 15.0
    #: Seconds without an answer after which a command or SFTP request is given up (it may have run).
    ssh_command_timeout: float = Field(default=120.0, gt=0)
    #: Channels (commands and SFTP sessions) open at once on one connection: keep it at or below the
    #: hosts' sshd ``MaxSessions`` (10 by default).
    ssh_max_sessions: int = Field(default=10, ge=1)
    #: Seconds one stage task may run (0: no limit); past it, the stage goes the transient path.
    stage_time_limit: float = Field(default=900.0, ge=0)
    #: After SIGTERM, a worker lets running stages finish for this long, then closes its SSH connections
    #: so stages stuck on a hung host end (and are retried) and the worker exits.
    worker_stop_grace: float = Field(default=30.0, ge=0)
    task_max_retries: int = 8
    #: Transient SSH/scheduler errors a stage retries itself before its job goes BLOCKED.
    block_after_retries: int = 2
    recovery_policy: str = "6x10,6x20,10x60,10x120,12x300"
    recovery_interval: float = 5.0
    #: A job that blocked this many times FAILS instead (a fault that clears and comes back forever).
    recovery_max_blocks: int = 20
    #: SSH connections per host across the deployment, unless the system sets ``maxConnections`` (0: no limit).
    ssh_max_connections: int = 0
    #: Seconds between two new SSH connections to one host, unless the system sets ``connectIntervalSeconds``.
    ssh_connect_interval: float = 0.0
    #: A gated connection unused this long is closed, freeing its slot for another worker process.
    ssh_idle_seconds: float = 30.0
    #: How long a stage waits for a free connection slot before it retries later.
    ssh_slot_wait: float = 60.0
    #: SSH systems registered without ``hostKey``: ``first-use`` pins the key the host shows at the first
    #: connection (OpenSSH's ``accept-new``); ``strict`` refuses them (every system must come with its key).
    host_key_trust: Literal["first-use", "strict"] = "first-use"
    reconcile_interval: float = 30.0
    reconcile_stall_seconds: float = 900.0
    reconcile_poll_seconds: float = 120.0
    #: A worker copying a transfer element renews its lease on it at least every third of this; a lease left
    #: to expire (the worker died) is taken over by the reconciler's next sweep.
    transfer_lease_seconds: float = Field(default=60.0, ge=1)
    #: The most elements (jobs) one parameter sweep may fan out into (``POST /v3/jobs/sweep``).
    sweep_max_elements: int = Field(default=10_000, ge=1)
    notify_timeout: float = 10.0
    notify_retry_base: float = 2.0
    notify_retry_max_interval: float = 600.0
    notify_max_attempts: int = 10
    #: The mail server EMAIL notifications go through; empty: this deployment sends no mail, and an EMAIL
    #: subscription is refused (400) rather than accepted and never delivered.
    smtp_host: str = ""
    smtp_port: int = Field(default=587, ge=1, le=65535)
    #: ``starttls``: plain connection upgraded before anything is sent (refused if the server cannot);
    #: ``tls``: TLS from the first byte (port 465); ``none``: no encryption (a relay on the same host only).
    smtp_security: Literal["starttls", "tls", "none"] = "starttls"
    smtp_user: str = ""
    smtp_password: str = ""
    #: Certificates trusted for the mail server besides the system's (a PEM file); empty: the system's only.
    smtp_ca_file: str = ""
    smtp_from: str = "dlws-flow@localhost"
    smtp_timeout: float = Field(default=10.0, gt=0)
    #: Internal addresses http(s) inputs and webhooks may reach after all, and addresses they may never reach
    #: (deny wins): comma-separated networks, addresses and host names (dlws_flow.domain.address_policy).
    fetch_allow: str = ""
    fetch_deny: str = ""

    def model_post_init(self, __context: object) -> None:
        # A bad list entry stops the process at start, not the first job that fetches a URL.
        AddressPolicy.parse(self.fetch_allow, self.fetch_deny)

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'dlws-flow.sqlite'}"

    def ensure_data_dir(self) -> Path:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.data_dir, 0o700)
        return self.data_dir


@functools.cache
def get_settings() -> Settings:
    return Settings()


def reset_settings_cache() -> None:
    """Tests and the CLI change ``DLWS_*`` variables at run time; they call this afterwards."""
    get_settings.cache_clear()
