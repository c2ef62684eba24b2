"""The ``tail`` file operation (ours): the bytes of a file from an offset on, for following a job's output while
it is written (``GET /v3/jobs/{uuid}/output/tail``, ``dlws-flow jobs logs --follow``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dlws_flow.adapters.transports import Transport
from dlws_flow.adapters.transports.containment import existing
from dlws_flow.errors import NotFoundError, ValidationError

#: The most one answer carries; a follower asks again from the offset it got.
TAIL_MAX_BYTES = 1 << 20


def op_tail(transport: Transport, *, root: str, path: str, offset: int = 0, limit: int = 65536,
            only: list[str] | None = None) -> dict[str, Any]:
    """Up to ``limit`` bytes of the file ``path`` from byte ``offset``, and the file's size now.

    Raises:
        ValidationError: ``path`` is a directory, or ``offset``/``limit`` out of range.
        NotFoundError: no such file (or, for an archived job, not one of its archived files).
    """
    if offset < 0 or not 0 < limit <= TAIL_MAX_BYTES:
        raise ValidationError(f"offset is 0 or more and limit between 1 and {TAIL_MAX_BYTES}")
    real, kind = existing(transport, root, path)
    if kind == "dir":
        raise ValidationError(f"path {path or '/'} is a directory: tail follows a file")
    if only is not None and path not in only:
        raise NotFoundError(f"path {path} not found")
    with transport.open_read(real) as stream:
        stream.seek(0, 2)  # paramiko's seek answers None: the size is where it landed
        size = stream.tell()
        if offset >= size:
            return {"offset": offset, "size": size, "content": b""}
        stream.seek(offset)
        return {"offset": offset, "size": size, "content": stream.read(min(limit, size - offset))}


TAIL_OPERATIONS: dict[str, Callable[..., dict[str, Any]]] = {"tail": op_tail}
