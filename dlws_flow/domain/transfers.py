"""Transfer tasks as data: the Tapis statuses, which of them are final, and the URIs an element may name.

A transfer task (what the user asked for) has one *parent* per element (``sourceURI`` -> ``destinationURI``)
and each parent one *child* per file or directory below its source, the unit a worker copies and records.
Statuses are Tapis' ``TransferStatusEnum``; dlws-flow uses ACCEPTED (recorded, nothing done yet), STAGED (the
parent's children are listed), IN_PROGRESS, and the final COMPLETED, FAILED, FAILED_OPT (an ``optional``
element failed: the task still completes) and CANCELLED. PAUSED is never set: there is no pause operation.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import unquote, urlsplit

from dlws_flow.domain.paths import clean_relative
from dlws_flow.errors import ValidationError


class TransferStatus(StrEnum):
    ACCEPTED = "ACCEPTED"
    STAGED = "STAGED"
    IN_PROGRESS = "IN_PROGRESS"
    COMPLETED = "COMPLETED"
    CANCELLED = "CANCELLED"
    FAILED = "FAILED"
    FAILED_OPT = "FAILED_OPT"
    PAUSED = "PAUSED"


TERMINAL = frozenset({TransferStatus.COMPLETED, TransferStatus.CANCELLED, TransferStatus.FAILED,
                      TransferStatus.FAILED_OPT})
ACTIVE = frozenset({TransferStatus.ACCEPTED, TransferStatus.STAGED, TransferStatus.IN_PROGRESS})

#: Tapis' limit of files per directory of one element; larger trees should travel as one archive.
MAX_CHILDREN = 10_000
#: Elements in one request.
MAX_ELEMENTS = 1_000
MAX_URI = 4096


@dataclass(frozen=True)
class TransferUri:
    """``tapis://<system>/<path>`` (``path`` relative to rootDir, cleaned) or an ``http(s)://`` URL."""

    uri: str
    scheme: str
    system_id: str = ""
    path: str = ""

    @property
    def is_http(self) -> bool:
        return self.scheme in ("http", "https")


def parse_uri(uri: str, field: str, *, http_allowed: bool) -> TransferUri:
    """Parse one element URI; ``field`` (``sourceURI``/``destinationURI``) names it in the error.

    Raises:
        ValidationError: not a single line, too long, another scheme, no system or host, or ``..`` in the path.
    """
    if not isinstance(uri, str) or not uri or len(uri) > MAX_URI or any(ord(c) < 32 for c in uri):
        raise ValidationError(f"{field} must be a single line of at most {MAX_URI} characters")
    parts = urlsplit(uri)
    scheme = parts.scheme.lower()
    if scheme == "tapis":
        if not parts.netloc or parts.query or parts.fragment:
            raise ValidationError(f"{field} {uri!r} must be tapis://<systemId>/<path>")
        return TransferUri(uri, scheme, parts.netloc, clean_relative(unquote(parts.path), field))
    if scheme in ("http", "https") and http_allowed:
        if not parts.hostname:
            raise ValidationError(f"{field} {uri!r} has no host")
        return TransferUri(uri, scheme)
    allowed = "tapis and http(s)" if http_allowed else "tapis"
    raise ValidationError(f"{field} {uri!r}: the supported schemes are {allowed}")


def child_uri(base: TransferUri, relative: str) -> str:
    """The URI of a file ``relative`` below an element's tapis:// URI (the element's own for ``""``)."""
    if base.is_http or not relative:
        return base.uri
    joined = f"{base.path}/{relative}" if base.path else relative
    return f"tapis://{base.system_id}/{joined}"


def overall_status(parent_statuses: list[str]) -> TransferStatus | None:
    """The task's final status once every parent is final (None before): FAILED if a required one failed,
    CANCELLED if any was cancelled, else COMPLETED (optional failures, FAILED_OPT, do not fail the task)."""
    statuses = [TransferStatus(s) for s in parent_statuses]
    if not all(s in TERMINAL for s in statuses):
        return None
    if TransferStatus.FAILED in statuses:
        return TransferStatus.FAILED
    if TransferStatus.CANCELLED in statuses:
        return TransferStatus.CANCELLED
    return TransferStatus.COMPLETED
