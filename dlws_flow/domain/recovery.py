"""Why a job is BLOCKED, and how long recovery keeps trying: pure rules, no I/O.

A transient fault (host unreachable, authentication refused, scheduler not answering, disk full, the
system's job limit reached) blocks a job instead of failing it. Faults are grouped by *condition* per
(system, login): one probe per group decides for every job blocked on it, so a down login node sees one
connection attempt per step of the policy, not one per job.

A policy is a list of ``COUNTxSECONDS`` steps, as Tapis' stepwise recovery policies: the default
``6x10,6x20,10x60,10x120,12x300`` probes six times ten seconds apart, then six times at twenty seconds, and
so on (about 1 h 30 min in all); when the steps are used up the policy has expired and the jobs FAIL.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from dlws_flow.errors import (
    AuthenticationFailedError,
    RemoteCommandError,
    SystemBlockedError,
    TransportError,
    ValidationError,
)


class Condition(StrEnum):
    """What blocks a group of jobs; each has its own probe."""

    HOST_UNREACHABLE = "HOST_UNREACHABLE"
    """No SSH connection: refused, timed out, or dropped."""
    AUTHENTICATION_FAILED = "AUTHENTICATION_FAILED"
    """The host refused the credential (an expired key, a locked account)."""
    SCHEDULER_UNAVAILABLE = "SCHEDULER_UNAVAILABLE"
    """The host answers but the batch scheduler's controller does not."""
    STORAGE_FULL = "STORAGE_FULL"
    """Disk or quota full on the host."""
    JOB_LIMIT = "JOB_LIMIT"
    """The system's (or queue's) ``maxJobs`` / ``maxJobsPerUser`` is reached: the job waits its turn."""


#: The Tapis ``condition`` a blocked job reports (the Job schema's enum has no finer codes).
TAPIS_CONDITION = {
    Condition.HOST_UNREACHABLE: "JOB_REMOTE_ACCESS_ERROR",
    Condition.AUTHENTICATION_FAILED: "JOB_REMOTE_ACCESS_ERROR",
    Condition.SCHEDULER_UNAVAILABLE: "JOB_QUEUE_MONITORING_ERROR",
    Condition.STORAGE_FULL: "JOB_REMOTE_ACCESS_ERROR",
    Condition.JOB_LIMIT: None,
}

#: Conditions that never expire: waiting for a free slot is not a fault.
WAITING_CONDITIONS = frozenset({Condition.JOB_LIMIT})

_SCHEDULER_DOWN = re.compile(
    r"unable to contact slurm controller|slurm_load_\w+ error|socket timed out on send/recv|"
    r"connection refused.*slurmctld|slurmctld.*(not responding|down)|zero bytes were transmitted", re.IGNORECASE)
_STORAGE_FULL = re.compile(r"no space left on device|disk quota exceeded", re.IGNORECASE)

DEFAULT_POLICY = "6x10,6x20,10x60,10x120,12x300"


def classify(error: BaseException) -> Condition | None:
    """The condition a transient error blocks on, or None when the error is permanent (fail the job)."""
    if isinstance(error, SystemBlockedError):
        return Condition(error.condition)
    if isinstance(error, AuthenticationFailedError):
        return Condition.AUTHENTICATION_FAILED
    if not isinstance(error, TransportError):
        return None  # a changed host key, a refused job, an unreadable answer, a bad request: permanent
    if isinstance(error, RemoteCommandError):
        text = f"{error.stderr}\n{error.stdout}"
        if _SCHEDULER_DOWN.search(text):
            return Condition.SCHEDULER_UNAVAILABLE
        if _STORAGE_FULL.search(text):
            return Condition.STORAGE_FULL
        return None  # a command that ran and failed: retried a few times, then the job fails
    return Condition.HOST_UNREACHABLE


@dataclass(frozen=True)
class RecoveryPolicy:
    """Stepwise backoff: ``steps`` is a tuple of (probe count, seconds between probes)."""

    steps: tuple[tuple[int, float], ...]

    @classmethod
    def parse(cls, text: str) -> RecoveryPolicy:
        steps = []
        for part in (p.strip() for p in text.split(",") if p.strip()):
            match = re.fullmatch(r"(\d+)\s*[xX*]\s*(\d+(?:\.\d+)?)", part)
            if not match or int(match.group(1)) < 1 or float(match.group(2)) <= 0:
                raise ValidationError(f"recovery policy step {part!r} is not COUNTxSECONDS (for example 6x10)")
            steps.append((int(match.group(1)), float(match.group(2))))
        if not steps:
            raise ValidationError("a recovery policy needs at least one COUNTxSECONDS step")
        return cls(tuple(steps))

    def delay_after(self, attempts: int) -> float | None:
        """Seconds until the next probe after ``attempts`` failed ones; None when the policy has expired."""
        for count, seconds in self.steps:
            if attempts < count:
                return seconds
            attempts -= count
        return None

    @property
    def total_seconds(self) -> float:
        return sum(count * seconds for count, seconds in self.steps)

    def describe(self) -> str:
        return ",".join(f"{count}x{seconds:g}" for count, seconds in self.steps)


def expiry_message(condition: Condition, system_id: str, attempts: int, policy: RecoveryPolicy, last_error: str) -> str:
    return (f"blocked on {system_id} ({condition.value}) and still failing after {attempts} recovery probes "
            f"over {policy.total_seconds:g} s (recovery policy {policy.describe()} expired): {last_error}")[:4000]
