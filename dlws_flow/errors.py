"""One error hierarchy for the whole service.

    DlwsFlowError
     ├── ValidationError          bad user input; HTTP 400, CLI exit 2
     ├── NotFoundError            unknown job/app/system; HTTP 404
     ├── AuthenticationError      no valid identity (password, token, family token); HTTP 401
     ├── PermissionDeniedError    the user may not do this; HTTP 403
     ├── ConflictError            it already exists / state forbids it; HTTP 409
     ├── DuplicateJobError        an OpenPAI job of that name exists (OpenPAI answers 400 JobUpdateError)
     ├── InvalidTransition        a state change the lifecycle forbids
     ├── ConfigurationError       the deployment is wrong (missing credential, ...)
     └── HostError                something failed on a host or on the way to it; names the system
          ├── HostKeyMismatchError       permanent: the host's key changed; the job fails at once
          ├── AuthenticationFailedError  permanent until someone fixes the login: jobs wait BLOCKED
          ├── JobRejectedError           permanent: the scheduler refused the job as submitted
          ├── SchedulerAnswerError       permanent: the scheduler's answer could not be read
          └── TransportError             transient: worth retrying later
               ├── SystemBlockedError    a recovery condition is open for the system: do not even try
               ├── ConnectionLimitError  the host's connection slots are all taken (a wait, not a fault)
               ├── CommandTimeoutError   the host stopped answering after a command was sent (it may have run)
               ├── StageTimeoutError     a stage ran past its time limit
               └── RemoteCommandError    a command ran and failed

Who decides what: a scheduler's parsers see the command's exit code, stdout and stderr and raise the
permanent errors above (a refusal, an unreadable answer) or ``RemoteCommandError``;
``domain.recovery.classify`` is the one place that names the condition a transient error blocks on; the
stage tasks' retry policy (``workers/tasks.py``) acts on both, once for every stage.
"""

from __future__ import annotations


class DlwsFlowError(Exception):
    """Root of every error raised on purpose by dlws-flow."""


class ValidationError(DlwsFlowError):
    """The request is missing values, has conflicting ones, or improper ones."""


class NotFoundError(DlwsFlowError):
    """The named job, app or system does not exist (or is not visible to the caller)."""


class AuthenticationError(DlwsFlowError):
    """No valid identity: bad password, or a missing, expired or forged token (HTTP 401)."""


class PermissionDeniedError(DlwsFlowError):
    """The caller is known but may not perform this action."""


class ConflictError(DlwsFlowError):
    """The resource already exists, or its current state forbids the request."""


class DuplicateJobError(DlwsFlowError):
    """The user already has an OpenPAI job of that name (OpenPAI: 400 JobUpdateError)."""


class InvalidTransition(DlwsFlowError):
    """A job state change that the lifecycle table does not allow."""

    def __init__(self, current: str, requested: str) -> None:
        super().__init__(f"job cannot go from {current} to {requested}")
        self.current = current
        self.requested = requested


class ConfigurationError(DlwsFlowError):
    """The deployment or a registered record cannot work as configured."""


class HostError(DlwsFlowError):
    """Talking to a remote host failed, or the host refused what it was asked.

    ``system_id`` names the system whose host failed when the transport knows it (the archive stage talks
    to two systems; recovery must probe the one that failed).
    """

    system_id: str | None = None


class HostKeyMismatchError(HostError):
    """The host presented a key different from the one recorded at registration."""


class AuthenticationFailedError(HostError):
    """The host refused the login's key or password."""


class JobRejectedError(HostError):
    """The scheduler refused the job as submitted (an unknown partition, a limit it breaks): retrying the
    same submission cannot help."""


class SchedulerAnswerError(HostError):
    """The scheduler answered in a way we cannot read (no job id after a submission)."""


class TransportError(HostError):
    """Transient: the host could not be reached or did not answer, or a command failed; usually worth
    retrying later."""


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
