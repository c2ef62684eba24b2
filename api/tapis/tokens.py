"""Tokens and the tenant/site lookups tapipy makes when created with a ``base_url``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from api.envelope import THROTTLED_RESPONSES, EnvelopeRoute, ok
from api.security import User
from dlws_flow.errors import NotFoundError, ValidationError
from dlws_flow.services import auth
from dlws_flow.settings import get_settings

router = APIRouter(prefix="/v3", tags=["tokens"], route_class=EnvelopeRoute)
SITE_ID = "dlws"


class TokenRequest(BaseModel):
    grant_type: str = Field("password", description="Only the password grant is supported.")
    username: str | None = None
    password: str | None = None
    access_token_ttl: int | None = Field(None, strict=True, description=(
        "Token lifetime in seconds (Tapis' name for it), 1 to DLWS_TOKEN_MAX_SECONDS; default 4 hours. "
        "A longer one is refused, never shortened."))


def _base_url(request: Request) -> str:
    # tapipy matches a tenant by base_url equal to the one it was given; answer with what it called.
    return str(request.base_url).rstrip("/")


def _tenant(request: Request) -> dict[str, Any]:
    tenant = get_settings().tenant
    return {"tenant_id": tenant, "base_url": _base_url(request), "site_id": SITE_ID, "status": "active",
            "description": "dlws-flow", "owner": "admin", "public_key": None, "token_service": f"{_base_url(request)}/v3/tokens",
            "security_kernel": None, "authenticator": f"{_base_url(request)}/v3/oauth2", "admin_user": get_settings().admin_user,
            "token_gen_services": [], "service_ldap_connection_id": None, "user_ldap_connection_id": None}


def _site(request: Request) -> dict[str, Any]:
    return {"site_id": SITE_ID, "primary": True, "base_url": _base_url(request), "tenant_base_url_template": None,
            "site_admin_tenant_id": get_settings().tenant, "services": ["jobs", "apps", "systems", "files", "tokens", "authenticator"]}


@router.post("/oauth2/tokens", summary="Get an access token (password grant)", responses=THROTTLED_RESPONSES)
def create_token(body: TokenRequest, request: Request) -> dict[str, Any]:
    if body.grant_type != "password":
        raise ValidationError(f"grant_type {body.grant_type!r} is not supported; use password")
    if not body.username or not body.password:
        raise ValidationError("username and password are required")
    ttl = auth.token_lifetime(body.access_token_ttl)  # refused before any password is checked
    principal = auth.authenticate(body.username, body.password, request.client.host if request.client else None)
    return ok({"access_token": auth.issue_token(principal, ttl)}, "Token created")


@router.get("/oauth2/userinfo", summary="The calling user")
def userinfo(user: User) -> dict[str, Any]:
    return ok({"username": user.username, "tenant_id": user.tenant, "admin": user.is_admin})


@router.get("/tenants", summary="List tenants (one: this deployment)")
def list_tenants(request: Request) -> dict[str, Any]:
    return ok([_tenant(request)])


@router.get("/tenants/{tenant_id}", summary="Get a tenant")
def get_tenant(tenant_id: str, request: Request) -> dict[str, Any]:
    if tenant_id != get_settings().tenant:
        raise NotFoundError(f"tenant {tenant_id} not found")
    return ok(_tenant(request))


@router.get("/sites", summary="List sites (one)")
def list_sites(request: Request) -> dict[str, Any]:
    return ok([_site(request)])


@router.get("/sites/{site_id}", summary="Get a site")
def get_site(site_id: str, request: Request) -> dict[str, Any]:
    if site_id != SITE_ID:
        raise NotFoundError(f"site {site_id} not found")
    return ok(_site(request))
