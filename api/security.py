"""Who is calling: the access token on the request (an RS256 JWT of ours), checked by ``services.tokens``."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from dlws_flow.errors import PermissionDeniedError
from dlws_flow.services import tokens
from dlws_flow.services.tokens import Principal

tapis_token = APIKeyHeader(name="X-Tapis-Token", auto_error=False, description="Tapis access token (JWT)")
bearer = HTTPBearer(auto_error=False, description="The same token as Authorization: Bearer (OpenPAI style)")


def current_user(x_tapis_token: Annotated[str | None, Depends(tapis_token)],
                 credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> Principal:
    """The caller named by ``X-Tapis-Token`` or ``Authorization: Bearer``; 401 otherwise."""
    return tokens.verify_token(x_tapis_token or (credentials.credentials if credentials else None))


def admin_user(user: Annotated[Principal, Depends(current_user)]) -> Principal:
    if not user.is_admin:
        raise PermissionDeniedError("this needs an admin")
    return user


User = Annotated[Principal, Depends(current_user)]
Admin = Annotated[Principal, Depends(admin_user)]
