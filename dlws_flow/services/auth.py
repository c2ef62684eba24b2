"""Users and passwords, shared by every API surface (Tapis /v3, OpenPAI /api/v1, /child).

Passwords are argon2id hashes. Tokens are ``services.tokens``' (RS256 under the tenant's key pair); its
``Principal``, ``issue_token``, ``verify_token`` and ``token_lifetime`` are re-exported here, where every
surface has always found them. A password change, and creating a user, set ``tokens_valid_after``: tokens
issued before it are refused. A change made here is forgotten at once by this process's user cache
(``tokens.user_cache``); other processes see it within ``DLWS_AUTH_CACHE_SECONDS``.

Password checks are throttled per user name and per client address (``services.login_throttle``, HTTP 429
before any hash is computed). An unknown user costs the same argon2 verification as a wrong password, so
the answer's timing does not tell which users exist.
"""

from __future__ import annotations

import functools
import logging
import os
import re

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from dlws_flow.errors import AuthenticationError, NotFoundError, ValidationError
from dlws_flow.services import login_throttle
from dlws_flow.services.tokens import (
    Principal,
    issue_token,
    issue_tokens,
    token_lifetime,
    user_cache,
    verify_token,
)
from dlws_flow.settings import get_settings
from dlws_flow.store import repositories as repo
from dlws_flow.store.db import session_scope
from dlws_flow.store.models import UserRow

USERNAME = re.compile(r"^[_A-Za-z0-9]{1,64}$")  # OpenPAI's rule; also safe in paths and shells
MIN_PASSWORD = 6
_hasher = PasswordHasher()
_users = user_cache  # the rows token checks keep; forgotten on every change made here
log = logging.getLogger(__name__)


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


def ensure_admin() -> None:
    """Create the admin user named by ``DLWS_ADMIN_USER``/``DLWS_ADMIN_PASSWORD`` on first start."""
    settings = get_settings()
    if settings.admin_password and not user_exists(settings.admin_user):
        try:
            create_user(settings.admin_user, settings.admin_password, admin=True)
        except ValidationError:
            if not user_exists(settings.admin_user):  # another API process created it first: fine
                raise
