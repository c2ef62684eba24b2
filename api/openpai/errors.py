"""OpenPAI error bodies. A route raises :class:`OpenPaiError` with the seed's name and status; anything
else (a service error, a body that does not validate) is named by its HTTP status."""

from __future__ import annotations

from typing import Any

from starlette.exceptions import HTTPException

from dlws_flow.errors import AuthenticationError

#: Status -> the name OpenPAI uses when the route gives none.
NAME_FOR_STATUS = {400: "InvalidParametersError", 401: "UnauthorizedUserError", 403: "ForbiddenUserError",
                   404: "NotFoundError", 409: "ConflictError", 413: "RequestTooLargeError",
                   422: "InvalidParametersError", 500: "InternalServerError", 502: "BadGatewayError"}


class OpenPaiError(HTTPException):
    """An error with OpenPAI's name for it (``UpdateFailed``, ``JobNotFound``...)."""

    def __init__(self, status: int, name: str, message: str) -> None:
        super().__init__(status, message)
        self.name = name
        self.message = message


def openpai_error(status: int, message: str, exc: Exception | None = None) -> dict[str, Any]:
    if isinstance(exc, OpenPaiError):
        return {"error": exc.name, "message": exc.message}
    if isinstance(exc, AuthenticationError):
        return {"error": "AuthenticationFailed", "message": message}
    if status >= 500:
        return {"error": "InternalServerError", "message": "internal server error"}
    return {"error": NAME_FOR_STATUS.get(status, "InvalidParametersError"), "message": message}


NOT_AUTHORIZED = (401, "NotAuthorized", "not authorized")


def not_authorized() -> OpenPaiError:
    return OpenPaiError(*NOT_AUTHORIZED)
