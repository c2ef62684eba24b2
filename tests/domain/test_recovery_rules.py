"""Recovery rules: which errors block a job (and on what), and how a stepwise policy spaces its probes."""

from __future__ import annotations

import pytest

from dlws_flow.domain.recovery import Condition, RecoveryPolicy, classify
from dlws_flow.errors import (
    AuthenticationFailedError,
    HostKeyMismatchError,
    NotFoundError,
    RemoteCommandError,
    SystemBlockedError,
    TransportError,
    ValidationError,
)


@pytest.mark.parametrize("error, condition", [
    (TransportError("cannot reach 10.0.0.1:22: Connection refused"), Condition.HOST_UNREACHABLE),
    (AuthenticationFailedError("authentication as a@h:22 failed"), Condition.AUTHENTICATION_FAILED),
    (RemoteCommandError("squeue", 1, "", "slurm_load_jobs error: Unable to contact slurm controller (connect failure)"),
     Condition.SCHEDULER_UNAVAILABLE),
    (RemoteCommandError("sbatch x", 1, "", "sbatch: error: Batch job submission failed: Socket timed out on send/recv operation"),
     Condition.SCHEDULER_UNAVAILABLE),
    (RemoteCommandError("mkdir -p d", 1, "", "mkdir: cannot create directory 'd': No space left on device"),
     Condition.STORAGE_FULL),
    (SystemBlockedError("hpc", "SCHEDULER_UNAVAILABLE", "blocked"), Condition.SCHEDULER_UNAVAILABLE),
    (RemoteCommandError("sbatch x", 1, "", "sbatch: error: invalid partition specified: nope"), None),
    (HostKeyMismatchError("host key changed"), None),
    (NotFoundError("no such job"), None),
])
def test_classify(error, condition):
    assert classify(error) == condition


def test_policy_steps_and_expiry():
    policy = RecoveryPolicy.parse("2x10, 1x60")
    assert [policy.delay_after(n) for n in range(4)] == [10, 10, 60, None]
    assert policy.total_seconds == 80 and policy.describe() == "2x10,1x60"


@pytest.mark.parametrize("text", ["", "10", "0x5", "3x0", "3x-1", "ax5", "2x10;rm -rf /"])
def test_bad_policies_are_refused(text):
    with pytest.raises(ValidationError):
        RecoveryPolicy.parse(text)


def test_default_policy_backs_off_stepwise():
    from dlws_flow.settings import Settings

    policy = RecoveryPolicy.parse(Settings().recovery_policy)
    delays = [policy.delay_after(n) for n in range(44)]
    assert delays[0] == 10 and delays[6] == 20 and delays[12] == 60 and delays[-1] == 300
    assert policy.delay_after(44) is None
