"""Users, passwords and access tokens, shared by every API surface (Tapis /v3, OpenPAI /api/v1, /child).

Passwords are argon2id hashes. Access tokens are JWTs signed (HS256) with a key derived from
``DLWS_SECRET_KEY``; their claims follow Tapis (``tapis/username``, ``tapis/tenant_id``, ...) so tapipy
reads them unchanged. A token is refused when it is expired, forged, issued by another deployment
(``iss``) or for another tenant (``tapis/tenant_id`` other than ``DLWS_TENANT``), or issued before the user's
``tokens_valid_after`` (set by a password change, and by creating the user, so a user removed and added
again under the same name gets none of the old tokens back). That comparison is in microseconds: ``iat``
stays whole seconds for other clients, and our own claim ``dlws/issued_us`` carries the instant; a token
without it is refused. No token lives longer than ``DLWS_TOKEN_MAX_SECONDS``.

Password checks are throttled per user name and per client address (``services.login_throttle``, HTTP 429
before any hash is computed). An unknown user costs the same argon2 verification as a wrong password, so
the answer's timing does not tell which users exist.

Each API process remembers a user's row for ``DLWS_AUTH_CACHE_SECONDS`` (default 5): without it, every
request paid a database transaction before its own work (a fifth of a job submit's CPU, bench/ P1). A
change made through this process (password, admin flag, removal) takes effect at once; one made by another
process (the CLI, another API worker) takes effect on this one within those seconds.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import re
import threading
import time
import uuid as uuidlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from dlws_flow import secrets
from dlws_flow.errors import AuthenticationError, NotFoundError, ValidationError
from dlws_flow.services import login_throttle
from dlws_flow.settings import get_settings
from dlws_flow.store import repositories as repo
from dlws_flow.store.db import session_scope
from dlws_flow.store.models import UserRow

USERNAME = re.compile(r"^[_A-Za-z0-9]{1,64}$")  # OpenPAI's rule; also safe in paths and shells
MIN_PASSWORD = 6
DEFAULT_TTL = timedelta(hours=4)  # Tapis' default access token lifetime
ISSUED_US = "dlws/issued_us"  # the claim with the instant a token was issued, in microseconds since the epoch
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_hasher = PasswordHasher()
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Principal:
    """Who is calling."""

    username: str
    tenant: str
    is_admin: bool = False


def _signing_key() -> str:
    # A key of its own, derived from the deployment secret: a token never decrypts a credential.
    return hashlib.sha256(b"dlws-flow jwt\0" + secrets.secret().encode()).hexdigest()


def _microseconds(instant: datetime) -> int:
    """Microseconds since the epoch, exactly (a float timestamp can be off by one)."""
    return (instant - _EPOCH) // _MICROSECOND


def _issuer() -> str:
    return f"{get_settings().api_base_url.rstrip('/')}/v3/tokens"


class _UserCache:
    """username -> (tenant, is_admin, tokens_valid_after in epoch microseconds), each kept for a few seconds."""

    def __init__(self, clock=time.monotonic) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._rows: dict[str, tuple[float, tuple[str, bool, int]]] = {}

    def get(self, username: str) -> tuple[str, bool, int] | None:
        with self._lock:
            kept = self._rows.get(username)
        if kept is None or kept[0] < self.clock():
            return None
        return kept[1]

    def put(self, username: str, facts: tuple[str, bool, int], seconds: float) -> None:
        if seconds > 0:
            with self._lock:
                if len(self._rows) > 10_000:  # bounded: a flood of distinct users only costs queries
                    self._rows.clear()
                self._rows[username] = (self.clock() + seconds, facts)

    def forget(self, username: str) -> None:
        with self._lock:
            self._rows.pop(username, None)


_users = _UserCache()


def validate_username(username: str) -> str:
    if not isinstance(username, str) or not USERNAME.fullmatch(username):
        raise ValidationError("username must be 1-64 characters of letters, digits and underscores")
    return username


def validate_password(password: str) -> str:
    if not isinstance(password, str) or len(password) < MIN_PASSWORD:
        raise ValidationError(f"password must be at least {MIN_PASSWORD} characters")
    if len(password) > 1024:
        raise ValidationError("password must be at most 1024 characters")
    return password


def create_user(username: str, password: str, *, admin: bool = False, replace: bool = False) -> Principal:
    """Add a user (or, with ``replace``, set an existing user's password and admin flag)."""
    settings = get_settings()
    validate_username(username)
    validate_password(password)
    with session_scope() as session:
        row = session.get(UserRow, username)
        if row is not None and not replace:
            raise ValidationError(f"user {username} already exists")
        password_hash = _hasher.hash(password)
        if row is None:  # ValidationError too when another process added it since we looked (API workers at start)
            row = repo.add_user(session, username, settings.tenant, password_hash, is_admin=admin)
        else:  # a new password revokes earlier tokens, as set_password does
            repo.set_user_password(session, row, password_hash, revoke_tokens=bool(row.password_hash))
            repo.set_user_admin(session, row, admin)
    _users.forget(username)
    return Principal(username, row.tenant, admin)


def set_password(username: str, password: str) -> None:
    """Change a password; tokens issued before the change stop working."""
    validate_password(password)
    with session_scope() as session:
        repo.set_user_password(session, _user(session, username), _hasher.hash(password), revoke_tokens=True)
    _users.forget(username)


def set_admin(username: str, admin: bool) -> None:
    with session_scope() as session:
        repo.set_user_admin(session, _user(session, username), admin)
    _users.forget(username)


def delete_user(username: str) -> None:
    with session_scope() as session:
        repo.delete_user(session, _user(session, username))
    _users.forget(username)


def get_user(username: str) -> Principal:
    with session_scope() as session:
        row = _user(session, username)
        return Principal(row.username, row.tenant, row.is_admin)


def user_exists(username: str) -> bool:
    with session_scope() as session:
        return session.get(UserRow, username) is not None


def list_users() -> list[Principal]:
    with session_scope() as session:
        return [Principal(r.username, r.tenant, r.is_admin) for r in session.query(UserRow).order_by(UserRow.username)]


def _user(session, username: str) -> UserRow:
    row = session.get(UserRow, username) if isinstance(username, str) else None
    if row is None:
        raise NotFoundError(f"user {username} not found")
    return row


@functools.cache
def _dummy_hash() -> str:
    """A hash of a random password, verified for unknown users so that they cost what a wrong password does."""
    return _hasher.hash(os.urandom(16).hex())


def prepare_logins() -> None:
    """Check the throttle settings and compute the dummy hash once, at API start (not on a first login).

    Raises:
        ConfigurationError: a ``DLWS_LOGIN_LIMIT_*`` setting cannot be used.
    """
    login_throttle.check_settings()
    _dummy_hash()


def authenticate(username: str, password: str, client: str | None = None) -> Principal:
    """The user, if the password is right.

    Args:
        client: the caller's address; its failures are counted besides the user name's.

    Raises:
        LoginThrottled: too many failed logins with this name or from this address; no password is checked.
        AuthenticationError: unknown user or wrong password (one message and one cost for both).
    """
    keys = login_throttle.keys(username, client)
    login_throttle.refuse_if_throttled(keys)
    principal = _check_password(username, password)
    if principal is None:
        login_throttle.failed(keys)
        raise AuthenticationError("authentication failed")
    return principal


def _check_password(username: str, password: str) -> Principal | None:
    with session_scope() as session:
        known = isinstance(username, str) and USERNAME.fullmatch(username) is not None
        row = session.get(UserRow, username) if known else None
        stored = row.password_hash if row is not None else ""
        try:
            _hasher.verify(stored or _dummy_hash(), password or "")
        except (VerificationError, InvalidHashError):
            return None
        if not stored:  # only the dummy hash was checked (and a random password cannot match it)
            return None
        if _hasher.check_needs_rehash(stored):
            repo.set_user_password(session, row, _hasher.hash(password), revoke_tokens=False)
        return Principal(row.username, row.tenant, row.is_admin)


def token_lifetime(seconds: int | None) -> timedelta:
    """The lifetime a caller asked for, checked against ``DLWS_TOKEN_MAX_SECONDS`` (None: the default).

    Raises:
        ValidationError: less than one second, or longer than the maximum (never shortened silently).
    """
    cap = get_settings().token_max_seconds
    if seconds is None:
        return min(DEFAULT_TTL, timedelta(seconds=cap))
    if not 1 <= seconds <= cap:
        raise ValidationError(f"a token lifetime must be 1 to {cap} seconds (DLWS_TOKEN_MAX_SECONDS); "
                              f"{seconds} was asked for")
    return timedelta(seconds=seconds)


def issue_token(principal: Principal, ttl: timedelta | None = None) -> dict[str, Any]:
    """A signed access token, in the shape Tapis' authenticator returns it.

    Raises:
        ValidationError: ``ttl`` is longer than ``DLWS_TOKEN_MAX_SECONDS``.
    """
    cap = get_settings().token_max_seconds
    ttl = ttl or min(DEFAULT_TTL, timedelta(seconds=cap))
    if ttl > timedelta(seconds=cap):
        raise ValidationError(f"a token lifetime must be at most {cap} seconds (DLWS_TOKEN_MAX_SECONDS)")
    now = datetime.now(UTC)
    expires = now + ttl
    jti = str(uuidlib.uuid4())
    claims = {
        "jti": jti, "iss": _issuer(), "sub": f"{principal.username}@{principal.tenant}",
        "iat": int(now.timestamp()), ISSUED_US: _microseconds(now), "exp": int(expires.timestamp()),
        "tapis/tenant_id": principal.tenant, "tapis/username": principal.username, "tapis/token_type": "access",
        "tapis/account_type": "user", "tapis/delegation": False, "tapis/delegation_sub": None,
        "tapis/client_id": None, "tapis/grant_type": "password", "tapis/target_site": "dlws",
        "tapis/admin": principal.is_admin,
    }
    token = jwt.encode(claims, _signing_key(), algorithm="HS256")
    return {"access_token": token, "expires_at": expires.isoformat(), "expires_in": int(ttl.total_seconds()), "jti": jti}


def verify_token(token: str | None) -> Principal:
    """The caller a token names.

    Raises:
        AuthenticationError: missing, malformed, forged, expired, issued by another issuer or for another
            tenant, or issued before the user's last password change or creation; or the user no longer exists.
    """
    if not token:
        raise AuthenticationError("no access token: send X-Tapis-Token (or Authorization: Bearer)")
    try:
        claims = jwt.decode(token, _signing_key(), algorithms=["HS256"], issuer=_issuer(),
                            options={"require": ["exp", "iat", "iss", ISSUED_US, "tapis/username", "tapis/tenant_id"]})
    except jwt.ExpiredSignatureError as exc:
        raise AuthenticationError("the access token has expired") from exc
    except jwt.PyJWTError as exc:
        raise AuthenticationError("the access token is not valid") from exc
    username, issued_us = claims["tapis/username"], claims[ISSUED_US]
    if claims["tapis/tenant_id"] != get_settings().tenant:
        raise AuthenticationError("the access token is for another tenant")
    if not isinstance(username, str) or type(issued_us) is not int:
        raise AuthenticationError("the access token is not valid")
    facts = _users.get(username)
    if facts is None:
        with session_scope() as session:
            row = session.get(UserRow, username)
            if row is None:
                raise AuthenticationError("the access token is no longer valid")
            facts = (row.tenant, row.is_admin, _microseconds(row.tokens_valid_after))
        _users.put(username, facts, get_settings().auth_cache_seconds)
    tenant, is_admin, valid_after = facts
    if issued_us <= valid_after:  # issued before (or at) the password change or the user's creation
        raise AuthenticationError("the access token is no longer valid")
    return Principal(username, tenant, is_admin)


def ensure_admin() -> None:
    """Create the admin user named by ``DLWS_ADMIN_USER``/``DLWS_ADMIN_PASSWORD`` on first start."""
    settings = get_settings()
    if settings.admin_password and not user_exists(settings.admin_user):
        try:
            create_user(settings.admin_user, settings.admin_password, admin=True)
        except ValidationError:
            if not user_exists(settings.admin_user):  # another API process created it first: fine
                raise
