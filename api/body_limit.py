"""Request bodies are bounded before any route parses them: ``DLWS_MAX_REQUEST_BYTES``, and
``DLWS_MAX_UPLOAD_BYTES`` for file uploads (``/v3/files/ops/``).

A plain ASGI middleware rather than ``@app.middleware("http")``: Starlette's ``BaseHTTPMiddleware`` runs
every request through an extra task and memory stream, which was a sixth of the API's CPU under P1
(bench/). Counting the bytes as they arrive also bounds chunked bodies, which carry no Content-Length.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.envelope import error_response
from dlws_flow.settings import get_settings


class BodyLimit:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        settings = get_settings()
        limit = settings.max_upload_bytes if scope["path"].startswith("/v3/files/ops/") else settings.max_request_bytes
        length = next((v for k, v in scope["headers"] if k == b"content-length"), None)
        if length is not None and (not length.isdigit() or int(length) > limit):
            await self._refuse(scope, receive, send, limit)
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:  # an HTTPException: FastAPI passes it through body parsing to the handlers
                    raise HTTPException(413, _too_large(limit))
            return message

        await self.app(scope, counting_receive, send)

    @staticmethod
    async def _refuse(scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        await error_response(Request(scope), 413, _too_large(limit))(scope, receive, send)


def _too_large(limit: int) -> str:
    return f"request body larger than {limit} bytes"
