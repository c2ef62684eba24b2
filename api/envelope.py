"""Response shapes and error mapping shared by the API surfaces.

Tapis (/v3) answers ``{"result", "status", "message", "version", "metadata"}``, errors too. Other
surfaces register their own error body for their path prefix (``register_error_format``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.datastructures import DefaultPlaceholder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from sqlalchemy.exc import DataError as DatabaseDataError
from starlette.exceptions import HTTPException as StarletteHTTPException

import dlws_flow
from dlws_flow.errors import (
    AuthenticationError,
    ConfigurationError,
    ConflictError,
    DlwsFlowError,
    HostError,
    InvalidTransition,
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
)
from dlws_flow.services.login_throttle import LoginThrottled

log = logging.getLogger(__name__)

#: (exception class, HTTP status), most specific first.
STATUS_FOR: list[tuple[type[Exception], int]] = [
    (LoginThrottled, 429), (AuthenticationError, 401), (PermissionDeniedError, 403), (NotFoundError, 404),
    (ConflictError, 409), (ValidationError, 400), (InvalidTransition, 409), (ConfigurationError, 422),
    (HostError, 502), (DlwsFlowError, 400),
]

ErrorFormat = Callable[[int, str, Exception | None], dict[str, Any]]


def without_nulls(value: Any) -> Any:
    """``value`` with every ``None``-valued key left out, at any depth.

    The Tapis documents type their fields without ``nullable``: a field with no value is absent, as the Tapis
    services' own serializers leave it out, and a client validating against the documents reads no null.
    """
    if isinstance(value, dict):
        return {k: without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [without_nulls(v) for v in value]
    return value


def ok(result: Any, message: str = "Success", metadata: dict[str, Any] | None = None) -> dict[str, Any]:
    """The Tapis success envelope; no result is ``{}`` (the documents' ``result`` is an object, never null)."""
    return {"result": {} if result is None else without_nulls(result), "status": "success", "message": message,
            "version": dlws_flow.__version__, "commit": "", "build": "", "metadata": without_nulls(metadata or {})}


def tapis_error(status: int, message: str, exc: Exception | None = None) -> dict[str, Any]:
    return {"result": None, "status": "error", "message": message, "version": dlws_flow.__version__,
            "commit": "", "build": "", "metadata": {}}


_formats: list[tuple[str, ErrorFormat]] = []


def register_error_format(prefix: str, formatter: ErrorFormat) -> None:
    """Errors under ``prefix`` get ``formatter``'s body; longest prefix wins; Tapis' envelope otherwise."""
    _formats.append((prefix, formatter))
    _formats.sort(key=lambda item: -len(item[0]))


class EnvelopeRoute(APIRoute):
    """A route whose function returns its finished JSON body.

    FastAPI would otherwise take the return annotation (``dict[str, Any]``) as a response model and
    validate every body against it again, in one more worker-thread hop per request: a tenth of a job
    submit's CPU (bench/ P1) for a check that cannot fail. A route that names a ``response_model`` keeps it.
    """

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        if isinstance(kwargs.get("response_model", DefaultPlaceholder(None)), DefaultPlaceholder):
            kwargs["response_model"] = None
        super().__init__(path, endpoint, **kwargs)


def error_response(request: Request, status: int, message: str, exc: Exception | None = None,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    path = request.url.path
    formatter = next((f for prefix, f in _formats if path.startswith(prefix)), tapis_error)
    return JSONResponse(formatter(status, message, exc), status_code=status, headers=headers)


def status_for(exc: Exception) -> int:
    return next(code for cls, code in STATUS_FOR if isinstance(exc, cls))


_ERROR_BODY = {"application/json": {"schema": {"type": "object", "properties": {"message": {"type": "string"}},
                                                  "description": "Tapis envelope with status error, or the surface's own error body"}}}
#: Every operation may answer these; declared on all of them so clients and schema checkers know.
ERROR_RESPONSES = {
    "400": {"description": "Invalid request (the message says what is wrong)", "content": _ERROR_BODY},
    "401": {"description": "Missing, expired or forged access token", "content": _ERROR_BODY},
    "403": {"description": "The caller may see the resource but not do this", "content": _ERROR_BODY},
    "404": {"description": "No such resource, or not visible to the caller", "content": _ERROR_BODY},
    "405": {"description": "Method not allowed on this path", "content": _ERROR_BODY},
    "409": {"description": "Conflicts with the resource's current state", "content": _ERROR_BODY},
    "413": {"description": "Request body too large", "content": _ERROR_BODY},
    "502": {"description": "A host could not be reached or a remote command failed", "content": _ERROR_BODY},
}
#: Declared by the routes that check a password (``responses=THROTTLED_RESPONSES``).
THROTTLED_RESPONSES: dict[int | str, dict[str, Any]] = {
    "429": {"description": "Too many failed logins for this user name or from this address",
            "headers": {"Retry-After": {"required": True, "description": "Seconds to wait before trying again",
                                        "schema": {"type": "integer"}}},
            "content": _ERROR_BODY},
}


def retry_after_headers(exc: LoginThrottled) -> dict[str, str]:
    return {"Retry-After": str(exc.retry_after)}


def _declare_error_responses(app: FastAPI) -> None:
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        schema = generate()
        if not schema.get("x-dlws-errors"):
            for path_item in schema.get("paths", {}).values():
                for operation in path_item.values():
                    if isinstance(operation, dict) and "responses" in operation:
                        operation["responses"].pop("422", None)  # validation errors are answered as 400
                        for code, spec in ERROR_RESPONSES.items():
                            operation["responses"].setdefault(code, spec)
            schema["x-dlws-errors"] = True
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def install_error_handlers(app: FastAPI) -> None:
    _declare_error_responses(app)
    @app.exception_handler(DlwsFlowError)
    async def _known(request: Request, exc: DlwsFlowError) -> JSONResponse:
        status = status_for(exc)
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        if isinstance(exc, LoginThrottled):
            headers = retry_after_headers(exc)
        return error_response(request, status, str(exc), exc, headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        parts = []
        for error in exc.errors()[:5]:
            where = ".".join(str(p) for p in error.get("loc", ()) if p != "body")
            parts.append(f"{where}: {error.get('msg')}" if where else str(error.get("msg")))
        return error_response(request, 400, "invalid request: " + "; ".join(parts), exc)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return error_response(request, exc.status_code, str(exc.detail), exc, getattr(exc, "headers", None))

    @app.exception_handler(DatabaseDataError)
    async def _unstorable(request: Request, exc: DatabaseDataError) -> JSONResponse:
        # A value the database cannot hold or compare (PostgreSQL: a NUL character in an id, a number out of
        # range) is the request's fault, whichever route passed it on.
        log.info("refused a value the database cannot take on %s %s: %s", request.method, request.url.path, exc.orig)
        return error_response(request, 400, "invalid request: a value in it cannot be stored or looked up "
                                            "(a NUL character, or a number out of range)", exc)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return error_response(request, 500, "internal error; the server log has the details", exc)
