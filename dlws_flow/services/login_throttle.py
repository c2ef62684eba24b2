"""Failed logins, counted per user name and per client address, throttle further tries (HTTP 429).

Failures are counted in moving windows (the ``limits`` library; ``DLWS_LOGIN_LIMIT_PER_USER``,
``DLWS_LOGIN_LIMIT_PER_ADDRESS``) in ``DLWS_LOGIN_LIMIT_STORAGE`` (default: the broker's Redis when there is
one, so every API process shares the counts; else this process's memory). While any window of a name or an
address is full, every try with it is refused before a password is checked. ``services.auth`` calls this.
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import logging
import math
import threading
import time
from collections.abc import Callable
from typing import TypeVar

import limits
from limits.errors import ConfigurationError as LimitsConfigurationError
from limits.errors import StorageError
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from dlws_flow.errors import ConfigurationError, DlwsFlowError
from dlws_flow.settings import get_settings

log = logging.getLogger(__name__)
T = TypeVar("T")


class LoginThrottled(DlwsFlowError):
    """Too many failed logins for this user name or from this address (HTTP 429, ``Retry-After``)."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many failed logins; try again in {retry_after} seconds")
        self.retry_after = retry_after


class _LoginThrottle:
    """Failed logins in ``limits`` moving windows, keyed by (deployment queue, "user" or "address", key).

    Counting happens in the configured storage; when a shared Redis cannot be reached, this process counts
    in its own memory for 30 s before trying Redis again, so a broker outage slows nobody's login and still
    leaves a per-process limit.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._limiters: dict[str, MovingWindowRateLimiter] = {}
        self._down_until: dict[str, float] = {}  # shared storage URI -> when to try it again

    def limiter(self, uri: str) -> MovingWindowRateLimiter:
        with self._lock:
            limiter = self._limiters.get(uri)
            if limiter is None:
                options = {} if uri.startswith("memory") else {"socket_connect_timeout": 2, "socket_timeout": 2}
                limiter = self._limiters[uri] = MovingWindowRateLimiter(
                    storage_from_string(uri, wrap_exceptions=True, **options))
        return limiter

    def _run(self, operation: Callable[[MovingWindowRateLimiter], T]) -> T:
        uri = login_limit_storage()
        if uri != "memory://" and time.monotonic() >= self._down_until.get(uri, 0.0):
            try:
                return operation(self.limiter(uri))
            except StorageError as exc:
                log.warning("login throttle: %s cannot be reached (%s); counting in this process for 30 s",
                            uri.split("@")[-1], exc)  # the host part only: the URI may hold a password
                self._down_until[uri] = time.monotonic() + 30
        return operation(self.limiter("memory://"))

    def retry_after(self, keys: list[tuple[str, str]]) -> int:
        """Whole seconds until every window of ``keys`` has room again (0: a try may go ahead now)."""
        namespace = get_settings().queue  # one deployment's counts, apart from another's on the same Redis

        def longest_wait(limiter: MovingWindowRateLimiter) -> float:
            wait = 0.0
            for kind, key in keys:
                for item in login_limits(kind):
                    if not limiter.test(item, namespace, kind, key):
                        reset = limiter.get_window_stats(item, namespace, kind, key).reset_time
                        wait = max(wait, reset - time.time(), 1.0)
            return wait

        return math.ceil(self._run(longest_wait))

    def failed(self, keys: list[tuple[str, str]]) -> None:
        namespace = get_settings().queue

        def hit(limiter: MovingWindowRateLimiter) -> None:
            for kind, key in keys:
                for item in login_limits(kind):
                    limiter.hit(item, namespace, kind, key)

        self._run(hit)


THROTTLE = _LoginThrottle()


@functools.cache
def _parse_limits(text: str) -> tuple[limits.RateLimitItem, ...]:
    return tuple(limits.parse_many(text)) if text.strip() else ()


def login_limits(kind: str) -> tuple[limits.RateLimitItem, ...]:
    """The windows for ``kind`` ("user" or "address") from the settings.

    Raises:
        ConfigurationError: the setting is not a ``limits`` rate string such as ``5/minute;30/hour``.
    """
    settings = get_settings()
    text = settings.login_limit_per_user if kind == "user" else settings.login_limit_per_address
    try:
        return _parse_limits(text)
    except ValueError as exc:
        raise ConfigurationError(f"DLWS_LOGIN_LIMIT_PER_{kind.upper()}={text!r} is not a rate such as "
                                 "'5/minute;30/hour'") from exc


def login_limit_storage() -> str:
    """The ``limits`` storage URI failures are counted in (see ``DLWS_LOGIN_LIMIT_STORAGE``)."""
    settings = get_settings()
    if settings.login_limit_storage:
        return settings.login_limit_storage
    if settings.broker_url.startswith(("redis://", "rediss://")):
        return settings.broker_url
    return "memory://"


def address_key(address: str | None) -> str:
    # An IPv6 client usually holds a whole /64: count the network, not each address in it.
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return (address or "unknown")[:64]
    if ip.version == 6 and ip.ipv4_mapped:
        return str(ip.ipv4_mapped)
    return str(ipaddress.ip_network(f"{ip}/64", strict=False)) if ip.version == 6 else str(ip)


def keys(username: object, client: str | None) -> list[tuple[str, str]]:
    """What a try is counted under: the user name (hashed: any string may arrive) and the client address."""
    name = username if isinstance(username, str) else repr(username)
    counted = [("user", hashlib.sha256(name.encode(errors="replace")).hexdigest()[:32])]
    if client is not None:
        counted.append(("address", address_key(client)))
    return counted


def refuse_if_throttled(counted: list[tuple[str, str]]) -> None:
    """Raises ``LoginThrottled`` while a window of ``counted`` is full."""
    wait = THROTTLE.retry_after(counted)
    if wait:
        raise LoginThrottled(wait)


def failed(counted: list[tuple[str, str]]) -> None:
    THROTTLE.failed(counted)


def check_settings() -> None:
    """Check the limits and build the storage client (at API start, not at a first login).

    Raises:
        ConfigurationError: a ``DLWS_LOGIN_LIMIT_*`` setting cannot be used.
    """
    login_limits("user")
    login_limits("address")
    uri = login_limit_storage()
    try:
        THROTTLE.limiter(uri)  # builds the storage client; connects on first use
    except LimitsConfigurationError as exc:
        raise ConfigurationError(f"DLWS_LOGIN_LIMIT_STORAGE: {uri.split('@')[-1]} cannot be used: {exc}") from exc
