"""Request bodies are bounded before any route parses them: ``DLWS_MAX_REQUEST_BYTES``, and
``DLWS_MAX_UPLOAD_BYTES`` for file uploads (``/v3/files/ops/``). A JSON body (``application/json``,
``*+json``, or no content type, which FastAPI also parses as JSON) may nest objects and arrays at most
``DLWS_MAX_JSON_DEPTH`` deep: past about 255 levels pydantic gives up with an error that was a 500, and
deeper still the parser's recursion; here every route answers such a body with one 400.

A plain ASGI middleware rather than ``@app.middleware("http")``: Starlette's ``BaseHTTPMiddleware`` runs
every request through an extra task and memory stream, which was a sixth of the API's CPU under P1
(bench/). Counting the bytes as they arrive also bounds chunked bodies, which carry no Content-Length.
"""

from __future__ import annotations

import re

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
        depth = settings.max_json_depth if _is_json(scope) else None
        chunks: list[bytes] = []

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                chunk = message.get("body", b"")
                received += len(chunk)
                if received > limit:  # an HTTPException: FastAPI passes it through body parsing to the handlers
                    raise HTTPException(413, _too_large(limit))
                if depth is not None:
                    chunks.append(chunk)
                    if not message.get("more_body", False) and too_deep(b"".join(chunks), depth):
                        raise HTTPException(400, f"invalid request: JSON nested deeper than {depth} levels")
            return message

        await self.app(scope, counting_receive, send)

    @staticmethod
    async def _refuse(scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        await error_response(Request(scope), 413, _too_large(limit))(scope, receive, send)


def _too_large(limit: int) -> str:
    return f"request body larger than {limit} bytes"


def _is_json(scope: Scope) -> bool:
    content_type = next((v for k, v in scope["headers"] if k == b"content-type"), b"")
    media = content_type.split(b";")[0].strip().lower()
    return media in (b"", b"application/json") or (media.startswith(b"application/") and media.endswith(b"+json"))


#: A JSON string (escapes included) or one bracket; strings are matched whole so their brackets do not count.
_JSON_TOKEN = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]', re.DOTALL)
_OPENING = frozenset(b"[{")


def too_deep(body: bytes, limit: int) -> bool:
    """Whether ``body`` nests objects and arrays more than ``limit`` deep (its validity is the parser's business)."""
    if body.count(b"[") + body.count(b"{") <= limit:  # the usual body: no scan needed
        return False
    depth = 0
    for token in _JSON_TOKEN.finditer(body):
        first = token.group()[0]
        if first in _OPENING:
            depth += 1
            if depth > limit:
                return True
        elif first != 0x22:  # a closing bracket (0x22 is the quote that opens a string)
            depth -= 1
    return False
