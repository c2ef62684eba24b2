"""The Slurm status protocol, fed with text captured from the real test Slurm (scripts/testhosts: Slurm 22.05,
accounting storage disabled, so ``sacct -X`` fails and ``sacct -c`` answers from the jobcomp record).

Each capture is what ``SlurmScheduler.build_status_command`` printed on the host for the jobs named, with exec
dirs holding ``tapisjob.exitcode`` where the batch script had written one.
"""

from __future__ import annotations

import pytest

from dlws_flow.adapters.schedulers.base import RemoteJob, RemoteState
from dlws_flow.adapters.schedulers.slurm import SACCT_FIELDS, SQUEUE_FIELDS, SlurmScheduler
from dlws_flow.domain.recovery import Condition, classify
from dlws_flow.errors import JobRejectedError, RemoteCommandError, SchedulerAnswerError
from tests.schedulers.answers import answer

#: 1782 `true` (exit file 0), 1783 `exit 3` (exit file 3), 1784 scancel'led while running, 1785 running,
#: 1786 pending with --begin=now+1hour, 1500 aged out of squeue (only in the jobcomp record).
CAPTURED = """\
Q|1784|CANCELLED|vm|None
Q|1782|COMPLETED|vm|None
Q|1783|FAILED|vm|NonZeroExitCode
Q|1786|PENDING||BeginTime
Q|1785|RUNNING|vm|None
A|1500|COMPLETED|0:0|vm
X|1782|0
X|1783|3
"""
#: 1785 again, past its --time=1: squeue reports TIMEOUT with the reason TimeLimit.
CAPTURED_TIMEOUT = "Q|1785|TIMEOUT|vm|TimeLimit\n"
#: ``sacct -c`` for jobs squeue had forgotten: the batch script's exit code comes as code:signal.
CAPTURED_JOBCOMP = "A|1783|FAILED|3:0|vm\nA|1782|COMPLETED|0:0|vm\nA|1784|CANCELLED|0:0|vm\n"


def _jobs(*ids: str) -> list[RemoteJob]:
    return [RemoteJob(i, f"/home/hpcuser/slurm-capture/d{i}") for i in ids]


def test_the_command_asks_for_exactly_the_declared_fields():
    command = SlurmScheduler().build_status_command(_jobs("1782", "1783"))
    assert "-o '%i|%T|%N|%r'" in command and [code for _, code, _ in SQUEUE_FIELDS] == ["%i", "%T", "%N", "%r"]
    assert "-o JobID,State,ExitCode,NodeList" in command
    assert [name for name, _, _ in SACCT_FIELDS] == ["job_id", "state", "exit_code", "node"]


def test_captured_squeue_sacct_and_exit_files():
    statuses = SlurmScheduler().parse_status_output(answer(CAPTURED), _jobs("1782", "1783", "1784", "1785", "1786", "1500"))
    # COMPLETED with an exit file: the app's own code.
    assert (statuses["1782"].state, statuses["1782"].exit_code, statuses["1782"].node) == (RemoteState.DONE, 0, "vm")
    # FAILED with an exit file: the app ran and said 3; it is DONE with that code, not a scheduler failure.
    assert (statuses["1783"].state, statuses["1783"].exit_code) == (RemoteState.DONE, 3)
    assert statuses["1784"].state == RemoteState.CANCELLED
    # 'None' is squeue's word for no reason: running, on its node.
    assert (statuses["1785"].state, statuses["1785"].node) == (RemoteState.RUNNING, "vm")
    # Pending: no node yet (an empty field), the reason is kept.
    assert statuses["1786"].state == RemoteState.QUEUED and statuses["1786"].node is None
    # Only in the jobcomp record, no exit file: the batch script's code from sacct.
    assert (statuses["1500"].state, statuses["1500"].exit_code) == (RemoteState.DONE, 0)


def test_captured_timeout_fails_with_the_time_limit_named():
    status = SlurmScheduler().parse_status_output(answer(CAPTURED_TIMEOUT), _jobs("1785"))["1785"]
    assert status.state == RemoteState.FAILED
    assert "ended TIMEOUT (TimeLimit)" in status.reason and "maxMinutes" in status.reason


def test_captured_jobcomp_records_give_the_batch_scripts_exit_code():
    statuses = SlurmScheduler().parse_status_output(answer(CAPTURED_JOBCOMP), _jobs("1782", "1783", "1784"))
    assert (statuses["1783"].state, statuses["1783"].exit_code) == (RemoteState.FAILED, 3)
    assert "None" not in statuses["1783"].reason  # sacct gives no reason; none is invented
    assert statuses["1782"].state == RemoteState.DONE and statuses["1784"].state == RemoteState.CANCELLED


def test_a_cancel_with_its_sacct_suffix_and_a_state_slurm_may_add_later():
    """sacct writes 'CANCELLED by 1000'; a state this code does not know (a newer Slurm's) keeps the job
    polled as running, never ends it. These two lines are written by hand: the test Slurm produced neither."""
    text = "A|1784|CANCELLED by 1000|0:0|vm\nQ|1790|SOME_NEW_STATE|vm|None\n"
    statuses = SlurmScheduler().parse_status_output(answer(text), _jobs("1784", "1790"))
    assert statuses["1784"].state == RemoteState.CANCELLED
    assert statuses["1790"].state == RemoteState.RUNNING


def test_lines_that_are_not_the_protocols_are_ignored():
    text = "slurm_load_jobs error: Socket timed out\nQ|1782\nA|1782|COMPLETED\nX|1782|not-a-number\n"
    assert SlurmScheduler().parse_status_output(answer(text), _jobs("1782")) == {}



def test_sbatch_refusing_the_job_is_a_permanent_rejection():
    refused = answer("", 1, "sbatch: error: Batch job submission failed: Invalid partition name specified\n")
    with pytest.raises(JobRejectedError, match="Slurm refused the job: Batch job submission failed: Invalid partition"):
        SlurmScheduler().parse_submit_output(refused)


def test_sbatch_that_cannot_reach_slurmctld_is_transient_and_blocks_on_the_scheduler():
    down = answer("", 1, "sbatch: error: Batch job submission failed: Socket timed out on send/recv operation\n")
    with pytest.raises(RemoteCommandError) as raised:
        SlurmScheduler().parse_submit_output(down)
    assert classify(raised.value) == Condition.SCHEDULER_UNAVAILABLE


def test_a_submit_answer_without_a_job_id_cannot_be_read():
    with pytest.raises(SchedulerAnswerError, match="sbatch did not print a job id"):
        SlurmScheduler().parse_submit_output(answer("Submitted nothing\n"))
    assert SlurmScheduler().parse_submit_output(answer("1782\n")) == "1782"


def test_a_failed_status_query_raises_instead_of_reporting_nothing():
    with pytest.raises(RemoteCommandError):
        SlurmScheduler().parse_status_output(answer("", 255, "ssh: connection lost"), _jobs("1782"))
