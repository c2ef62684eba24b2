"""``dlws.file_op``: one file operation on a host, for the API (``workers.file_gateway``).

Unlike the lifecycle stages this task returns a result (``ignore_result=False``): the API process waits
for it. Bytes travel base64-encoded in the JSON payload (``encode``/``decode``). Errors the operation
raises on purpose come back as ``{"error": {"type", "message"}}`` and are raised again by the gateway,
so the HTTP status (404, 403, 400, 502) is the same as if the API had done the I/O itself.
"""

from __future__ import annotations

import base64
import logging
from typing import Any

from dlws_flow.errors import DlwsFlowError
from dlws_flow.services import file_ops
from workers.app import app

log = logging.getLogger(__name__)

_B64 = "__b64__"


def encode(value: Any) -> Any:
    """JSON-safe: bytes become ``{"__b64__": "..."}``, recursively in dicts and lists."""
    if isinstance(value, bytes | bytearray):
        return {_B64: base64.b64encode(value).decode("ascii")}
    if isinstance(value, dict):
        return {k: encode(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [encode(v) for v in value]
    return value


def decode(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {_B64}:
            return base64.b64decode(value[_B64])
        return {k: decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [decode(v) for v in value]
    return value


# Not acks_late: the API waits a bounded time and the message expires with it, so a task re-delivered
# after a worker died would only act on a request nobody waits for any more.
@app.task(name="dlws.file_op", ignore_result=False, acks_late=False)
def file_op(operation: str, arguments: dict[str, Any]) -> dict[str, Any]:
    try:
        return {"result": encode(file_ops.perform(operation, **decode(arguments)))}
    except DlwsFlowError as exc:
        return {"error": {"type": type(exc).__name__, "message": str(exc)}}
    except Exception as exc:  # a bug: logged here, reported to the API as a failed host operation
        log.exception("file operation %s failed", operation)
        return {"error": {"type": "TransportError", "message": f"file operation {operation} failed: {exc}"}}
