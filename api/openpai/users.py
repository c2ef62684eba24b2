"""OpenPAI tokens and users: ``POST /api/v1/token``, ``PUT``/``DELETE /api/v1/user``,
``PUT /api/v1/user/{username}/virtualClusters``. The token is our JWT, valid on every surface."""

from __future__ import annotations

import json
import re
from typing import Annotated, Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Body, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from api.envelope import THROTTLED_RESPONSES, EnvelopeRoute, retry_after_headers
from api.openpai.errors import OpenPaiError, not_authorized
from api.security import User
from dlws_flow.errors import AuthenticationError, NotFoundError, ValidationError
from dlws_flow.services import auth, quotas
from dlws_flow.services.auth import Principal
from dlws_flow.services.login_throttle import LoginThrottled

router = APIRouter(prefix="/api/v1", tags=["openpai"], route_class=EnvelopeRoute)


def openpai_admin(user: User) -> Principal:
    """Admin-only OpenPAI routes answer a non-admin with 401 NotAuthorized (as the seed documents)."""
    if not user.is_admin:
        raise not_authorized()
    return user


Admin = Annotated[Principal, Depends(openpai_admin)]

_TOKEN_SCHEMA = {"type": "object", "required": ["username", "password"], "properties": {
    "username": {"type": "string"}, "password": {"type": "string"},
    "expiration": {"type": "integer", "minimum": 1,
                   "description": "token lifetime in seconds, at most DLWS_TOKEN_MAX_SECONDS (default 7 days, "
                                  "OpenPAI's own maximum); default 4 hours"}}}
TOKEN_BODY = {"requestBody": {"required": True, "content": {
    "application/x-www-form-urlencoded": {"schema": _TOKEN_SCHEMA}, "application/json": {"schema": _TOKEN_SCHEMA}}}}


async def _fields(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if "application/json" in request.headers.get("content-type", ""):
        try:
            data = json.loads(raw or b"{}")
        except ValueError as exc:
            raise OpenPaiError(400, "InvalidParametersError", "the body is not valid JSON") from exc
        if not isinstance(data, dict):
            raise OpenPaiError(400, "InvalidParametersError", "the body must be a JSON object")
        return data
    return {k: v[-1] for k, v in parse_qs(raw.decode(errors="replace")).items()}


@router.post("/token", openapi_extra=TOKEN_BODY, summary="Get an access token (form or JSON)",
             responses=THROTTLED_RESPONSES)
async def token(request: Request) -> dict[str, str]:
    data = await _fields(request)
    username, password = data.get("username"), data.get("password")
    if not isinstance(username, str) or not isinstance(password, str) or not username or not password:
        raise OpenPaiError(400, "InvalidParametersError", "username and password are required")
    try:
        ttl = auth.token_lifetime(_seconds(data.get("expiration")))
    except ValidationError as exc:
        raise OpenPaiError(400, "InvalidParametersError", f"expiration: {exc}") from exc
    try:
        principal = auth.authenticate(username, password, request.client.host if request.client else None)
    except LoginThrottled as exc:
        throttled = OpenPaiError(429, "TooManyRequests", str(exc))
        throttled.headers = retry_after_headers(exc)
        raise throttled from exc
    except AuthenticationError as exc:
        raise OpenPaiError(401, "AuthenticationFailed", "authentication failed") from exc
    return {"token": auth.issue_token(principal, ttl)["access_token"], "user": principal.username}


def _seconds(value: Any) -> int | None:
    """``expiration`` as whole seconds: an integer, or its digits (a form sends text); None when absent."""
    if value is None or value == "":
        return None
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"[+-]?[0-9]+", value.strip()):
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise OpenPaiError(400, "InvalidParametersError", "expiration must be a whole number of seconds")


class UserUpdate(BaseModel):
    username: str
    password: str | None = None
    admin: bool | None = None
    modify: bool = False


@router.put("/user", status_code=201, summary="Add a user, or change a password (admin: any user)")
def put_user(user: User, body: Annotated[UserUpdate, Body()]) -> dict[str, str]:
    if not user.is_admin:
        # A user may change their own password, nothing else.
        if body.username != user.username or not body.modify or body.admin or body.password is None:
            raise not_authorized()
    try:
        auth.validate_username(body.username)
        if body.password is not None:
            auth.validate_password(body.password)
        if not body.modify:
            if body.password is None:
                raise ValidationError("a new user needs a password")
            if auth.user_exists(body.username):
                raise OpenPaiError(409, "UpdateFailed", f"user {body.username} already exists")
            auth.create_user(body.username, body.password, admin=bool(body.admin))
        else:
            if body.password is not None:
                auth.set_password(body.username, body.password)
            if body.admin is not None:
                auth.set_admin(body.username, body.admin)
            if body.password is None and body.admin is None:
                auth.get_user(body.username)  # 404 for an unknown user, even with nothing to change
    except ValidationError as exc:
        raise OpenPaiError(400, "UpdateFailed", str(exc)) from exc
    except NotFoundError as exc:
        raise OpenPaiError(404, "UpdateFailed", str(exc)) from exc
    return {"message": "update successfully"}


class UserRemoval(BaseModel):
    username: str


@router.delete("/user", summary="Remove a user (admin only)")
def delete_user(admin: Admin, body: Annotated[UserRemoval, Body()]) -> dict[str, str]:
    if body.username == admin.username:
        raise OpenPaiError(400, "RemoveFailed", "an admin cannot remove themselves")
    try:
        auth.delete_user(body.username)
    except NotFoundError as exc:
        raise OpenPaiError(404, "RemoveFailed", str(exc)) from exc
    quotas.remove_user(body.username)
    return {"message": "remove successfully"}


class UserVirtualClusters(BaseModel):
    virtualClusters: str


@router.put("/user/{username}/virtualClusters", status_code=201, summary="Set a user's virtual clusters (admin only)")
def put_user_vcs(admin: Admin, username: str, body: Annotated[UserVirtualClusters, Body()]) -> JSONResponse:
    names = [n.strip() for n in body.virtualClusters.split(",") if n.strip()]
    if not auth.user_exists(username):
        raise OpenPaiError(404, "UpdateVcFailed", f"user {username} not found")
    try:
        quotas.set_user_vcs(username, names)
    except NotFoundError as exc:
        raise OpenPaiError(404, "UpdateVcFailed", str(exc)) from exc
    return JSONResponse({"message": "update user virtual clusters successfully"}, status_code=201)
