"""The tenant and site lookups tapipy makes when created with a ``base_url`` (no token needed).

The tenant record publishes ``public_key``: the PEM of the key pair our tokens are signed with (RS256), with
which tapipy and other Tapis services verify them.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from api.envelope import EnvelopeRoute, ok
from dlws_flow.errors import NotFoundError
from dlws_flow.services import signing_keys
from dlws_flow.services.tokens import SITE_ID
from dlws_flow.settings import get_settings

router = APIRouter(prefix="/v3", tags=["tenants"], route_class=EnvelopeRoute)


def base_url(request: Request) -> str:
    # tapipy matches a tenant by base_url equal to the one it was given; answer with what it called.
    return str(request.base_url).rstrip("/")


def _tenant(request: Request) -> dict[str, Any]:
    # security_kernel is required by the document; there is none here (permissions are ours): it is empty.
    settings, url = get_settings(), base_url(request)
    return {"tenant_id": settings.tenant, "base_url": url, "site_id": SITE_ID, "status": "active",
            "description": "dlws-flow", "owner": "admin", "public_key": signing_keys.public_key_pem(settings.tenant),
            "token_service": f"{url}/v3/tokens", "security_kernel": "", "authenticator": f"{url}/v3/oauth2",
            "admin_user": settings.admin_user, "token_gen_services": [], "service_ldap_connection_id": None,
            "user_ldap_connection_id": None}


def _site(request: Request) -> dict[str, Any]:
    return {"site_id": SITE_ID, "primary": True, "base_url": base_url(request), "tenant_base_url_template": None,
            "site_admin_tenant_id": get_settings().tenant,
            "services": ["jobs", "apps", "systems", "files", "tokens", "authenticator"]}


@router.get("/tenants", summary="List tenants (one: this deployment)")
def list_tenants(request: Request) -> dict[str, Any]:
    return ok([_tenant(request)])


@router.get("/tenants/{tenant_id}", summary="Get a tenant (with the public key tokens are signed with)")
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
