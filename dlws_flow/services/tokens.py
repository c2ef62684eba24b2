"""Access and refresh tokens: issuing, checking, refreshing and revoking them (every API surface).

Tokens are RS256 JWTs under the tenant's key pair (``services.signing_keys``), with Tapis' claims
(``iss`` = our base URL + ``/v3/tokens``, ``sub`` = ``user@tenant``, ``tapis/tenant_id``, ``tapis/username``,
``tapis/token_type`` access or refresh, ``tapis/account_type`` user), so tapipy and other Tapis services read
and verify them with the tenant's published public key. A token is refused when it is expired, forged,
signed with another key or algorithm, issued by another deployment (``iss``) or for another tenant, of the
other type (a refresh token is no access token), revoked (its ``jti``), or issued before its user's
``tokens_valid_after`` (set by a password change and by creating the user, so a user removed and added again
under the same name gets none of the old tokens back). That comparison is in microseconds: ``iat`` stays
whole seconds for other clients, and our own claim ``dlws/issued_us`` carries the instant; a token without it
is refused. No access token lives longer than ``DLWS_TOKEN_MAX_SECONDS``.

A refresh token (``DLWS_REFRESH_TOKEN_SECONDS``) is used once: refreshing hands out a new access token and a
new refresh token of the same login's chain (``refresh_tokens.session_id``); presenting a used one again ends
the chain, since two parties held it.

Each API process remembers a user's row, and the set of revoked jtis, for ``DLWS_AUTH_CACHE_SECONDS``
(default 5): without it, every request paid a database transaction before its own work (a fifth of a job
submit's CPU, bench/ P1). A change made through this process (password, admin flag, removal, revocation)
takes effect here at once; one made by another process takes effect on this one within those seconds.
"""

from __future__ import annotations

import threading
import time
import uuid as uuidlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt

from dlws_flow.errors import AuthenticationError, ValidationError
from dlws_flow.services import signing_keys
from dlws_flow.settings import get_settings
from dlws_flow.store import repositories as repo
from dlws_flow.store.db import session_scope
from dlws_flow.store.models import UserRow

DEFAULT_TTL = timedelta(hours=4)  # Tapis' default access token lifetime
ISSUED_US = "dlws/issued_us"  # the claim with the instant a token was issued, in microseconds since the epoch
ACCESS_TTL = "dlws/access_ttl"  # in a refresh token: the lifetime of the access tokens it gives
SITE_ID = "dlws"
_REQUIRED = ["exp", "iat", "iss", "jti", ISSUED_US, "tapis/username", "tapis/tenant_id", "tapis/token_type"]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


class _OtherTenant(jwt.InvalidTokenError):
    """Signed by us, for a tenant other than this deployment's."""


@dataclass(frozen=True)
class Principal:
    """Who is calling."""

    username: str
    tenant: str
    is_admin: bool = False


def _microseconds(instant: datetime) -> int:
    """Microseconds since the epoch, exactly (a float timestamp can be off by one)."""
    return (instant - _EPOCH) // _MICROSECOND


def issuer() -> str:
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


class _RevokedTokens:
    """The jtis of revoked, unexpired access tokens, read again every ``DLWS_AUTH_CACHE_SECONDS``.

    The whole set is read (revocations are rare and each row leaves at its token's expiry), so no revocation
    is missed however transactions interleave. ``add`` holds the lock a reload holds, so a reload that read
    the table just before a revocation committed cannot drop it from this process again."""

    def __init__(self, clock=time.monotonic) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._jtis: frozenset[str] = frozenset()
        self._fresh_until = float("-inf")

    def __contains__(self, jti: str) -> bool:
        if self.clock() >= self._fresh_until:
            with self._lock:
                if self.clock() >= self._fresh_until:
                    with session_scope() as session:
                        self._jtis = frozenset(repo.revoked_token_ids(session, datetime.now(UTC)))
                    self._fresh_until = self.clock() + get_settings().auth_cache_seconds
        return jti in self._jtis

    def add(self, jti: str) -> None:
        with self._lock:
            self._jtis = self._jtis | {jti}


user_cache = _UserCache()
_revoked = _RevokedTokens()


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


def _claims(principal: Principal, token_type: str, now: datetime, expires: datetime) -> dict[str, Any]:
    return {"jti": str(uuidlib.uuid4()), "iss": issuer(), "sub": f"{principal.username}@{principal.tenant}",
            "iat": int(now.timestamp()), ISSUED_US: _microseconds(now), "exp": int(expires.timestamp()),
            "tapis/tenant_id": principal.tenant, "tapis/username": principal.username,
            "tapis/token_type": token_type, "tapis/account_type": "user"}


def issue_token(principal: Principal, ttl: timedelta | None = None, *, grant_type: str = "password") -> dict[str, Any]:
    """A signed access token, in the shape Tapis' authenticator returns it (``access_token`` of the result).

    Raises:
        ValidationError: ``ttl`` is longer than ``DLWS_TOKEN_MAX_SECONDS``.
    """
    cap = get_settings().token_max_seconds
    ttl = ttl or min(DEFAULT_TTL, timedelta(seconds=cap))
    if ttl > timedelta(seconds=cap):
        raise ValidationError(f"a token lifetime must be at most {cap} seconds (DLWS_TOKEN_MAX_SECONDS)")
    now = datetime.now(UTC)
    expires = now + ttl
    claims = {**_claims(principal, "access", now, expires), "tapis/delegation": False, "tapis/delegation_sub": None,
              "tapis/client_id": None, "tapis/grant_type": grant_type, "tapis/target_site": SITE_ID}
    return {"access_token": signing_keys.sign(claims, principal.tenant), "expires_at": expires.isoformat(),
            "expires_in": int(ttl.total_seconds()), "jti": claims["jti"]}


def issue_tokens(principal: Principal, ttl: timedelta | None = None, *, grant_type: str = "password",
                 session_id: str | None = None) -> dict[str, Any]:
    """An access token and a refresh token (Tapis' TokenResponse); the refresh token joins ``session_id``'s
    chain, or starts one."""
    access = issue_token(principal, ttl, grant_type=grant_type)
    now = datetime.now(UTC)
    expires = now + timedelta(seconds=get_settings().refresh_token_seconds)
    claims = {**_claims(principal, "refresh", now, expires), ACCESS_TTL: access["expires_in"]}
    with session_scope() as session:
        repo.add_refresh_token(session, claims["jti"], session_id or claims["jti"], principal.username,
                               principal.tenant, expires)
    refresh = {"refresh_token": signing_keys.sign(claims, principal.tenant), "expires_at": expires.isoformat(),
               "expires_in": get_settings().refresh_token_seconds, "jti": claims["jti"]}
    return {"access_token": access, "refresh_token": refresh}


def _decode(token: str, *, verify_exp: bool = True) -> dict[str, Any]:
    """The claims of a token we signed for this tenant, unchecked against users and revocations.

    Raises:
        jwt.PyJWTError: not one of ours (or expired, with ``verify_exp``).
    """
    tenant = get_settings().tenant
    kid = jwt.get_unverified_header(token).get("kid")
    key = signing_keys.verification_key(tenant, kid if isinstance(kid, str) else None)
    claims = jwt.decode(token, key.verifier, algorithms=["RS256"], issuer=issuer(),
                        options={"require": _REQUIRED, "verify_exp": verify_exp})
    if claims["tapis/tenant_id"] != tenant:
        raise _OtherTenant("the token is for another tenant")
    if not isinstance(claims["tapis/username"], str) or type(claims[ISSUED_US]) is not int \
            or not isinstance(claims["jti"], str):
        raise jwt.InvalidTokenError("the token's claims have the wrong types")
    return claims


def _checked(token: str | None, token_type: str) -> dict[str, Any]:
    what = "access token" if token_type == "access" else "refresh token"
    if not token:
        raise AuthenticationError(f"no {what}: send X-Tapis-Token (or Authorization: Bearer)")
    try:
        claims = _decode(token)
    except jwt.ExpiredSignatureError as exc:
        raise AuthenticationError(f"the {what} has expired") from exc
    except _OtherTenant as exc:
        raise AuthenticationError(f"the {what} is for another tenant") from exc
    except jwt.PyJWTError as exc:
        raise AuthenticationError(f"the {what} is not valid") from exc
    if claims["tapis/token_type"] != token_type:
        raise AuthenticationError(f"the {what} is not valid (it is a {claims['tapis/token_type']} token)")
    return claims


def _principal(claims: dict[str, Any], what: str) -> Principal:
    """The user the claims name, if the token was issued after their last password change or creation."""
    username = claims["tapis/username"]
    facts = user_cache.get(username)
    if facts is None:
        with session_scope() as session:
            row = session.get(UserRow, username)
            if row is None:
                raise AuthenticationError(f"the {what} is no longer valid")
            facts = (row.tenant, row.is_admin, _microseconds(row.tokens_valid_after))
        user_cache.put(username, facts, get_settings().auth_cache_seconds)
    tenant, is_admin, valid_after = facts
    if claims[ISSUED_US] <= valid_after:  # issued before (or at) the password change or the user's creation
        raise AuthenticationError(f"the {what} is no longer valid")
    return Principal(username, tenant, is_admin)


def verify_token(token: str | None) -> Principal:
    """The caller an access token names.

    Raises:
        AuthenticationError: missing, malformed, forged, expired, of another issuer, tenant, key or type,
            revoked, or issued before the user's last password change or creation; or the user is gone.
    """
    return verified_session(token)[0]


def verified_session(token: str | None) -> tuple[Principal, str]:
    """``verify_token``'s caller and the token's id (``jti``: what a dashboard session's CSRF token is bound to)."""
    claims = _checked(token, "access")
    if claims["jti"] in _revoked:
        raise AuthenticationError("the access token has been revoked")
    return _principal(claims, "access token"), claims["jti"]


def refresh(refresh_token: str | None, ttl: timedelta | None = None) -> dict[str, Any]:
    """A new access token and refresh token for a refresh token, which is used up.

    The access token lives ``ttl`` if given, else as long as the login's first one did (at most
    ``DLWS_TOKEN_MAX_SECONDS`` as it is now).

    Raises:
        AuthenticationError: the refresh token is not valid (as ``verify_token``'s reasons), revoked, or used
            already, which also revokes every refresh token of its chain.
    """
    claims = _checked(refresh_token, "refresh")
    principal = _principal(claims, "refresh token")
    reused = False
    with session_scope() as session:
        row = repo.use_refresh_token(session, claims["jti"])
        if row is None:
            known = repo.refresh_token(session, claims["jti"])
            if known is not None and known.used is not None and not known.revoked:
                repo.revoke_refresh_session(session, known.session_id)
                reused = True
    if row is None:
        raise AuthenticationError("the refresh token was used already: every refresh token of its login is "
                                  "revoked now" if reused else "the refresh token is no longer valid")
    asked = ttl
    if asked is None and isinstance(claims.get(ACCESS_TTL), int) and claims[ACCESS_TTL] > 0:
        asked = min(timedelta(seconds=claims[ACCESS_TTL]), timedelta(seconds=get_settings().token_max_seconds))
    return issue_tokens(principal, asked, grant_type="refresh_token", session_id=row.session_id)


def revoke(token: str) -> str:
    """Refuse ``token`` (an access or refresh token of ours) from now on; returns what was done.

    Whoever holds a token may revoke it: holding it is what using it needs, so revoking takes nothing more.

    Raises:
        ValidationError: not a token this deployment signed for its tenant.
    """
    try:
        claims = _decode(token, verify_exp=False)
    except jwt.PyJWTError as exc:
        raise ValidationError("token: not a token issued by this deployment for its tenant") from exc
    expires = datetime.fromtimestamp(claims["exp"], UTC)
    if expires <= datetime.now(UTC):
        return "the token had expired already"
    token_type = claims["tapis/token_type"]
    with session_scope() as session:
        if token_type == "access":
            repo.add_revoked_token(session, claims["jti"], expires)
        elif token_type == "refresh":
            repo.revoke_refresh_token(session, claims["jti"])
        else:
            raise ValidationError(f"token: a {token_type!r} token cannot be revoked")
    if token_type == "access":
        _revoked.add(claims["jti"])
    return f"the {token_type} token is revoked"
