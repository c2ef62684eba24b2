"""``CeleryFileGateway``: the ``FileGateway`` the API uses. Each operation is one ``dlws.file_op`` task
that a worker runs (the API never opens SSH connections); the API thread waits for its result.

Transfers are bounded by ``DLWS_MAX_UPLOAD_BYTES`` both ways: an upload larger than that is refused
before it is sent, and a download is refused by the worker before it reads the data.
"""

from __future__ import annotations

from typing import Any

from celery.exceptions import TimeoutError as CeleryTimeoutError

from dlws_flow import errors
from dlws_flow.errors import DlwsFlowError, TransportError, ValidationError
from dlws_flow.settings import get_settings
from workers.file_tasks import decode, encode, file_op

#: Errors a worker may report, by class name; anything else becomes a ``TransportError``.
_ERRORS: dict[str, type[DlwsFlowError]] = {
    cls.__name__: cls for cls in (errors.ValidationError, errors.NotFoundError, errors.PermissionDeniedError,
                                  errors.ConflictError, errors.ConfigurationError, errors.TransportError,
                                  errors.HostKeyMismatchError, errors.AuthenticationFailedError)
}


class CeleryFileGateway:
    """Run file operations on a worker and wait for them.

    Args:
        timeout: seconds to wait for the worker's answer; the message expires after as long, so an
            operation nobody waits for any more is not run. Default: twice ``DLWS_SSH_COMMAND_TIMEOUT``
            plus the connect timeout.
    """

    def __init__(self, timeout: float | None = None) -> None:
        settings = get_settings()
        self.timeout = timeout or 2 * settings.ssh_command_timeout + settings.ssh_connect_timeout
        self.max_bytes = settings.max_upload_bytes

    def run(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        content = kwargs.get("content")
        if content is not None and len(content) > self.max_bytes:
            raise ValidationError(f"the upload holds {len(content)} bytes, more than the limit of {self.max_bytes} "
                                  "bytes (DLWS_MAX_UPLOAD_BYTES)")
        if operation == "download":
            kwargs["max_bytes"] = self.max_bytes
        pending = file_op.apply_async((operation, encode(kwargs)), expires=self.timeout)
        try:
            answer = pending.get(timeout=self.timeout, propagate=True)
        except CeleryTimeoutError as exc:
            raise TransportError(f"no worker completed the file operation {operation} within {self.timeout:.0f} s"
                                 ) from exc
        finally:
            pending.forget()
        if "error" in answer:
            error = answer["error"]
            raise _ERRORS.get(error.get("type"), TransportError)(error.get("message", "file operation failed"))
        return decode(answer["result"])
