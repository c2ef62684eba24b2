"""One error hierarchy for the whole service.

    DlwsFlowError
     ├── ValidationError          bad user input; HTTP 400, CLI exit 2
     ├── NotFoundError            unknown job/app/system; HTTP 404
     ├── PermissionDeniedError    the user may not do this; HTTP 403
     ├── ConflictError            it already exists / state forbids it; HTTP 409
     ├── InvalidTransition        a state change the lifecycle forbids
     ├── ConfigurationError       the deployment is wrong (missing credential, ...)
     └── TransportError           transient: the host could not be reached or talked to
          ├── HostKeyMismatchError  permanent in practice: the host's key changed
          ├── AuthenticationFailedError  the host refused the credential
          ├── SystemBlockedError    a recovery condition is open for the system: do not even try
          ├── ConnectionLimitError  the host's connection slots are all taken (a wait, not a fault)
          ├── CommandTimeoutError   the host stopped answering after a command was sent (it may have run)
          ├── StageTimeoutError     a stage ran past its time limit
          └── RemoteCommandError    a command ran and failed
"""

from __future__ import annotations


class DlwsFlowError(Exception):
    """Root of every error raised on purpose by dlws-flow."""


class ValidationError(DlwsFlowError):
    """The request is missing values, has conflicting ones, or improper ones."""


class NotFoundError(DlwsFlowError):
    """The named job, app or system does not exist (or is not visible to the caller)."""


class PermissionDeniedError(DlwsFlowError):
    """The caller is known but may not perform this action."""


class ConflictError(DlwsFlowError):
    """The resource already exists, or its current state forbids the request."""


class InvalidTransition(DlwsFlowError):
    """A job state change that the lifecycle table does not allow."""

    def __init__(self, current: str, requested: str) -> None:
        super().__init__(f"job cannot go from {current} to {requested}")
        self.current = current
        self.requested = requested


class ConfigurationError(DlwsFlowError):
    """The deployment or a registered record cannot work as configured."""


class TransportError(DlwsFlowError):
    """Talking to a remote host failed; usually worth retrying later.

    ``system_id`` names the system whose host failed when the transport knows it (the archive stage talks
    to two systems; recovery must probe the one that failed).
    """

    system_id: str | None = None


class HostKeyMismatchError(TransportError):
    """The host presented a key different from the one recorded at registration."""


class AuthenticationFailedError(TransportError):
    """The host refused the login's key or password."""


class SystemBlockedError(TransportError):
    """Jobs of this (system, login) are already blocked on ``condition``; recovery probes for all of them."""

    def __init__(self, system_id: str, condition: str, message: str) -> None:
        super().__init__(message)
        self.system_id = system_id
        self.condition = condition


class ConnectionLimitError(TransportError):
    """Every SSH connection slot of the host stayed taken while we waited: try again later."""


class CommandTimeoutError(TransportError):
    """No answer from the host within the operation's timeout, after the request was sent.

    The command may have run: it is never sent again by the transport; the stage's own idempotence
    decides what a retry does.
    """


class StageTimeoutError(TransportError):
    """A stage ran past its time limit (``DLWS_STAGE_TIME_LIMIT``): it goes the transient path."""


class RemoteCommandError(TransportError):
    """A remote command exited non-zero."""

    def __init__(self, command: str, exit_code: int, stdout: str, stderr: str) -> None:
        short = command if len(command) < 200 else command[:200] + "..."
        super().__init__(f"remote command failed with exit code {exit_code}: {short}: {stderr.strip()[:500]}")
        self.command = command
        self.exit_code = exit_code
        self.stdout = stdout
        self.stderr = stderr
