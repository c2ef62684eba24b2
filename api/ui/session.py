"""The dashboard's login: the password grant's access token, kept in a cookie the page's scripts cannot read.

* The cookie (``dlws_session``) is ``HttpOnly`` (no script reads it), ``SameSite=Strict`` (no other site's
  page sends it), ``Path=/ui`` (the API's routes never see it: they take bearer tokens only, so a cookie can
  never act on the API) and ``Secure`` when the dashboard is reached over https. It holds an ordinary access
  token, so a password change, a revocation or the token's end ends the session too.
* Every request that changes something (a POST) must carry the session's CSRF token, in the
  ``X-CSRF-Token`` header (htmx sends it from the page's ``hx-headers``) or the ``csrf`` form field: an HMAC of
  the token's id under the deployment's secret, so it is worthless without the cookie and the cookie
  without it. The login form has its own: a random value in a short-lived cookie, echoed by the form.
* Tokens never appear in a URL.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, Request

from dlws_flow.errors import AuthenticationError, PermissionDeniedError
from dlws_flow.services import tokens
from dlws_flow.services.auth import Principal
from dlws_flow.settings import get_settings

SESSION_COOKIE = "dlws_session"
LOGIN_COOKIE = "dlws_login_csrf"
CSRF_HEADER = "X-CSRF-Token"
#: How long a dashboard login lasts (a shorter ``DLWS_TOKEN_MAX_SECONDS`` wins).
SESSION_TTL = timedelta(hours=8)


class LoginRequired(AuthenticationError):
    """No session, or one that ended: the page sends the browser to the login form."""


def csrf_token(token_id: str) -> str:
    key = (get_settings().secret_key or "dlws-flow").encode()
    return hmac.new(key, f"ui-csrf:{token_id}".encode(), hashlib.sha256).hexdigest()


def new_login_nonce() -> str:
    return secrets.token_urlsafe(24)


class Session:
    """The signed-in user of a dashboard request, and the CSRF token their forms carry."""

    def __init__(self, principal: Principal, token: str, token_id: str) -> None:
        self.principal, self.token, self.csrf = principal, token, csrf_token(token_id)

    @property
    def username(self) -> str:
        return self.principal.username


def current_session(request: Request) -> Session:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise LoginRequired("sign in to use the dashboard")
    try:
        principal, token_id = tokens.verified_session(token)
    except AuthenticationError as exc:
        raise LoginRequired(f"your session has ended ({exc}); sign in again") from exc
    return Session(principal, token, token_id)


async def checked_session(request: Request) -> Session:
    """The session of a request that changes something: its CSRF token must match."""
    session = current_session(request)
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        sent = (await request.form()).get("csrf")
    if not isinstance(sent, str) or not hmac.compare_digest(sent, session.csrf):
        raise PermissionDeniedError("the request did not carry this session's CSRF token; reload the page")
    return session


def cookie_options(request: Request) -> dict[str, object]:
    return {"httponly": True, "samesite": "strict", "path": "/ui", "secure": request.url.scheme == "https"}


def session_ttl() -> timedelta:
    return min(SESSION_TTL, timedelta(seconds=get_settings().token_max_seconds))


UiSession = Annotated[Session, Depends(current_session)]
UiAction = Annotated[Session, Depends(checked_session)]
