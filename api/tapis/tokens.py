"""Tapis' Authenticator (``/v3/oauth2``) and Tokens (``/v3/tokens``) routes that users script against.

Served: the password and refresh_token grants, revocation, userinfo and profiles, server metadata, the
health routes, and key rotation. Not served (501, ``api/tapis/unbuilt.py``): OAuth2 clients, the
authorization_code and device_code grants, admin config, v2 tokens, and service tokens (``POST /v3/tokens``).

The token routes take JSON or a form (``application/x-www-form-urlencoded``, as OAuth2 clients send), and
every field is acted on or refused with a 400 naming it. tapipy sends its client credentials as
``Authorization: Basic`` with every refresh; there are no OAuth2 clients here to check them against, so that
header is not a credential on these routes: the refresh token is (docs/security.md).
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from api.envelope import THROTTLED_RESPONSES, EnvelopeRoute, ok
from api.security import Admin, User
from api.tapis.tenants import base_url
from dlws_flow.errors import NotFoundError, ValidationError
from dlws_flow.services import auth, health, signing_keys, tokens
from dlws_flow.services.auth import Principal
from dlws_flow.settings import get_settings

router = APIRouter(prefix="/v3", tags=["tokens"], route_class=EnvelopeRoute)

GRANTS = ("password", "refresh_token")
#: Fields of Tapis' NewToken for grants and clients dlws-flow does not have: refused when given a value.
NO_CLIENTS = ("client_id", "client_key", "redirect_uri", "code", "device_code")
TOKEN_FIELDS = {"grant_type", "username", "password", "refresh_token", "access_token_ttl", *NO_CLIENTS}


def _schema(properties: dict[str, str], required: list[str] | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "additionalProperties": False,
                              "properties": {name: {"type": kind} for name, kind in properties.items()}}
    return {**schema, "required": required} if required else schema


def _body_doc(schema: dict[str, Any]) -> dict[str, Any]:
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema},
                                                          "application/x-www-form-urlencoded": {"schema": schema}}}}


NEW_TOKEN = _body_doc(_schema({"grant_type": "string", "username": "string", "password": "string",
                               "refresh_token": "string", "access_token_ttl": "integer"}))
REFRESH = _body_doc(_schema({"refresh_token": "string"}, ["refresh_token"]))
REVOKE = _body_doc(_schema({"token": "string"}, ["token"]))
NEW_KEYS = {"requestBody": {"required": False, "content": {"application/json": {
    "schema": _schema({"tenant_id": "string"})}}}}


async def _fields(request: Request, allowed: set[str]) -> dict[str, Any]:
    """The body's fields (a JSON object or a form), without empty ones; an unknown field is a 400."""
    raw = await request.body()
    content_type = request.headers.get("content-type", "")
    if "application/x-www-form-urlencoded" in content_type:
        pairs = parse_qs(raw.decode(errors="replace"), keep_blank_values=True)
        if twice := sorted(name for name, values in pairs.items() if len(values) > 1):
            raise ValidationError(f"{twice[0]}: given more than once")
        data: Any = {name: values[0] for name, values in pairs.items()}
    else:
        try:
            data = json.loads(raw or b"{}")
        except ValueError as exc:
            raise ValidationError("the body is neither JSON nor a form (application/x-www-form-urlencoded)") from exc
        if not isinstance(data, dict):
            raise ValidationError("the body must be a JSON object")
    if unknown := sorted(set(data) - allowed):
        raise ValidationError(f"{unknown[0]}: not a field of this request (fields: {', '.join(sorted(allowed))})")
    return {name: value for name, value in data.items() if value not in (None, "")}


def _text(data: dict[str, Any], name: str) -> str | None:
    value = data.get(name)
    if value is not None and not isinstance(value, str):
        raise ValidationError(f"{name}: must be a string")
    return value


def _seconds(data: dict[str, Any], name: str) -> int | None:
    """A whole number of seconds: a JSON integer, or the digits of one in a form."""
    value = data.get(name)
    if isinstance(value, str) and re.fullmatch(r"[+-]?[0-9]{1,12}", value.strip()):
        return int(value)
    if value is None or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    raise ValidationError(f"{name}: must be a whole number of seconds")


def _client(request: Request) -> str | None:
    return request.client.host if request.client else None


@router.post("/oauth2/tokens", status_code=201, summary="Get tokens (password or refresh_token grant)",
             openapi_extra=NEW_TOKEN, responses=THROTTLED_RESPONSES)
async def create_token(request: Request) -> dict[str, Any]:
    # The body is read here; the password or refresh token check runs in a thread, off the event loop.
    return await run_in_threadpool(_create_token, await _fields(request, TOKEN_FIELDS), _client(request))


def _create_token(data: dict[str, Any], client: str | None) -> dict[str, Any]:
    for name in NO_CLIENTS:
        if name in data:
            raise ValidationError(f"{name}: dlws-flow has no OAuth2 clients; use the password or refresh_token grant")
    grant = _text(data, "grant_type") or "password"
    if grant not in GRANTS:
        raise ValidationError(f"grant_type: {grant!r} is not supported; use password or refresh_token")
    ttl_seconds = _seconds(data, "access_token_ttl")
    ttl = auth.token_lifetime(ttl_seconds) if ttl_seconds is not None else None  # refused before any check
    if grant == "refresh_token":
        for name in ("username", "password"):
            if name in data:
                raise ValidationError(f"{name}: not used with grant_type refresh_token")
        if "refresh_token" not in data:
            raise ValidationError("refresh_token: required with grant_type refresh_token")
        return ok(tokens.refresh(_text(data, "refresh_token"), ttl), "Token created")
    if "refresh_token" in data:
        raise ValidationError("refresh_token: only used with grant_type refresh_token")
    username, password = _text(data, "username"), _text(data, "password")
    if not username or not password:
        raise ValidationError("username and password are required")
    principal = auth.authenticate(username, password, client)
    return ok(auth.issue_tokens(principal, ttl), "Token created")


@router.put("/tokens", status_code=201, summary="New tokens from a refresh token (which is used up)",
            openapi_extra=REFRESH)
async def refresh_token(request: Request) -> dict[str, Any]:
    data = await _fields(request, {"refresh_token"})
    if "refresh_token" not in data:
        raise ValidationError("refresh_token: required")
    return ok(await run_in_threadpool(tokens.refresh, _text(data, "refresh_token")), "Token created")


async def _revoke(request: Request) -> dict[str, Any]:
    data = await _fields(request, {"token"})
    if "token" not in data:
        raise ValidationError("token: required")
    return ok(None, await run_in_threadpool(tokens.revoke, _text(data, "token")))


@router.post("/oauth2/tokens/revoke", summary="Revoke a token (holding it is enough)", openapi_extra=REVOKE)
async def revoke_token(request: Request) -> dict[str, Any]:
    return await _revoke(request)


@router.post("/tokens/revoke", summary="Revoke a token (holding it is enough)", openapi_extra=REVOKE)
async def revoke_token_tokens_api(request: Request) -> dict[str, Any]:
    return await _revoke(request)


@router.put("/tokens/keys", status_code=201, summary="Rotate the tenant's signing key pair (admin; every "
            "token issued before is refused)", openapi_extra=NEW_KEYS)
async def update_keys(request: Request, admin: Admin) -> dict[str, Any]:
    data = await _fields(request, {"tenant_id"})
    tenant = _text(data, "tenant_id") or admin.tenant
    if tenant != get_settings().tenant:
        raise NotFoundError(f"tenant {tenant} not found")
    return ok({"public_key": await run_in_threadpool(signing_keys.rotate, tenant)}, "Signing keys updated")


def _profile(user: Principal) -> dict[str, Any]:
    # Tapis' Profile guarantees only username; tenant_id and admin are ours (no email or name is kept).
    return {"username": user.username, "tenant_id": user.tenant, "admin": user.is_admin}


@router.get("/oauth2/userinfo", summary="The calling user's profile")
def userinfo(user: User) -> dict[str, Any]:
    return ok(_profile(user))


@router.get("/oauth2/profiles", summary="Profiles (an admin sees every user, others themselves)")
def list_profiles(user: User, limit: Annotated[int | None, Query(ge=-1)] = None,
                  offset: Annotated[int, Query(ge=0)] = 0) -> dict[str, Any]:
    everyone = auth.list_users() if user.is_admin else [auth.get_user(user.username)]
    chosen = everyone[offset:] if limit is None or limit == -1 else everyone[offset:offset + limit]
    return ok([_profile(p) for p in chosen], metadata={"totalCount": len(everyone), "offset": offset})


@router.get("/oauth2/profiles/{username}", summary="A profile (an admin: anyone's; others: their own)")
def get_profile(username: str, user: User) -> dict[str, Any]:
    if username != user.username and not user.is_admin:  # as for a user who does not exist
        raise NotFoundError(f"user {username} not found")
    return ok(_profile(auth.get_user(username)))


@router.get("/oauth2/.well-known/oauth-authorization-server", summary="OAuth2 server metadata (RFC 8414)")
def server_metadata(request: Request) -> dict[str, Any]:
    url = base_url(request)
    return ok({"issuer": tokens.issuer(), "token_endpoint": f"{url}/v3/oauth2/tokens",
               "jwks_uri": f"{url}/v3/tenants/{get_settings().tenant}", "grant_types_supported": list(GRANTS)})


def _hello(service: str) -> JSONResponse:
    return JSONResponse(ok(f"Hello from dlws-flow {service}", "hello"))


def _ready(service: str) -> JSONResponse:
    """Ready when the database answers and the tenant's signing key is there (made if need be)."""
    reachable = health.probe().database
    if reachable:
        signing_keys.verification_key(get_settings().tenant)
    body = ok(f"dlws-flow {service} ready" if reachable else f"dlws-flow {service} cannot reach its database",
              "ready" if reachable else "not ready")
    if not reachable:
        body["status"] = "error"
    return JSONResponse(body, status_code=200 if reachable else 500)


@router.get("/oauth2/hello", summary="Hello (no checks)")
def authenticator_hello() -> JSONResponse:
    return _hello("authenticator")


@router.get("/oauth2/ready", summary="Ready (database reachable, signing key there)")
def authenticator_ready() -> JSONResponse:
    return _ready("authenticator")


@router.get("/tokens/hello", summary="Hello (no checks)")
def tokens_hello() -> JSONResponse:
    return _hello("tokens")


@router.get("/tokens/ready", summary="Ready (database reachable, signing key there)")
def tokens_ready() -> JSONResponse:
    return _ready("tokens")
