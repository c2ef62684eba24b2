"""Fork (VM) jobs, Tapis' way: ``nohup ./tapisjob.sh > tapisjob.out 2>&1 &`` and a recorded pid.

``maxMinutes`` is enforced here, since no scheduler does it for a fork job: the launch script starts a
watchdog in the job's process group (the script is its leader, ``setsid``). Past the limit, the watchdog
writes the limit to ``.tapisjob.timedout`` and stops the whole group (SIGTERM, SIGKILL 10 s later); the
status command then reports the job TIMEOUT, and it ends FAILED with a message naming the limit. The
watchdog looks every few seconds and leaves as soon as the script has ended or recorded its exit code.
"""

from __future__ import annotations

import logging
import shlex

from dlws_flow.adapters.schedulers.base import (
    EXIT_CODE_FILE,
    LAUNCH_MARKER,
    PID_FILE,
    RemoteJob,
    RemoteState,
    RemoteStatus,
    Scheduler,
    ScriptRequest,
    redirections,
    script_body,
)
from dlws_flow.adapters.transports.base import CommandResult
from dlws_flow.errors import SchedulerAnswerError

log = logging.getLogger(__name__)

#: Written by the watchdog (the limit, in minutes) when it stops a job for running past ``maxMinutes``.
TIMEOUT_FILE = ".tapisjob.timedout"
#: Seconds between two looks of the watchdog; seconds between its SIGTERM and its SIGKILL.
WATCH_INTERVAL = 5
KILL_GRACE = 10


def watchdog(request: ScriptRequest) -> list[str]:
    """Script lines that stop the job's process group after ``request.max_minutes`` (see the module docstring).

    The watchdog ignores SIGTERM (its own group's) and leaves within ``WATCH_INTERVAL`` when the script is
    gone; the script's EXIT trap kills it at a normal end, unless it is the one stopping the job."""
    if request.max_minutes <= 0:
        return []
    marker = shlex.quote(f"{request.exec_dir.rstrip('/')}/{TIMEOUT_FILE}")
    loop = (f"end=$((SECONDS + {request.max_minutes * 60})); while [ \"$SECONDS\" -lt \"$end\" ]; do "
            f"sleep {WATCH_INTERVAL}; kill -0 $$ 2>/dev/null || exit 0; done")
    stop = f"kill -TERM -- -$$; sleep {KILL_GRACE}; kill -KILL -- -$$"
    return [
        f"# maxMinutes ({request.max_minutes}): stop this job's process group when it runs longer",
        f"_tapisTimeoutMark={marker}",
        (f"( trap '' TERM; {loop}; printf '%s\\n' {request.max_minutes} > \"$_tapisTimeoutMark\"; {stop} ) "
         "< /dev/null > /dev/null 2>&1 &"),
        "_tapisWatchdogPid=$!",
        "trap '[ -e \"$_tapisTimeoutMark\" ] || kill -KILL \"$_tapisWatchdogPid\" 2>/dev/null' EXIT",
    ]


class ForkScheduler(Scheduler):
    name = "FORK"
    queues_jobs = False

    def build_script(self, request: ScriptRequest) -> str:
        return script_body(request, ["#!/bin/bash", *watchdog(request)])

    def build_submit_command(self, request: ScriptRequest) -> str:
        # ``mkdir`` is atomic: a re-delivered submit finds the marker and only re-reads the pid.
        # ``setsid`` gives the job its own process group so cancel can kill the whole tree.
        # The backgrounded part must be one simple command, or the SSH channel stays open until it ends.
        exec_dir = shlex.quote(request.exec_dir)
        return (
            f"cd {exec_dir} && if mkdir {LAUNCH_MARKER} 2>/dev/null; then "
            f"nohup setsid ./tapisjob.sh {redirections(request)} < /dev/null & echo $! > {PID_FILE}; fi; "
            f"for i in 1 2 3 4 5 6 7 8 9 10; do [ -s {PID_FILE} ] && break; sleep 0.2; done; cat {PID_FILE}"
        )

    def parse_submit_output(self, result: CommandResult) -> str:
        stdout = self.succeeded(result)
        pid = stdout.strip().splitlines()[-1] if stdout.strip() else ""
        if not pid.isdigit():
            raise SchedulerAnswerError(f"the launch did not print a process id: {stdout.strip()[:300]!r}")
        return pid

    def build_status_command(self, jobs: list[RemoteJob]) -> str:
        # Exit-code file first, liveness second, exit-code file again: a job that ends between the
        # two checks is still reported DONE rather than GONE.
        specs = " ".join(shlex.quote(f"{job.remote_id}:{job.exec_dir}") for job in jobs)
        return (
            f"for s in {specs}; do p=${{s%%:*}}; d=${{s#*:}}; f=\"$d/{EXIT_CODE_FILE}\"; "
            "if [ -f \"$f\" ]; then echo \"$p DONE $(cat \"$f\")\"; "
            "elif kill -0 \"$p\" 2>/dev/null; then echo \"$p RUNNING\"; "
            "elif [ -f \"$f\" ]; then echo \"$p DONE $(cat \"$f\")\"; "
            f"elif [ -f \"$d/{TIMEOUT_FILE}\" ]; then echo \"$p TIMEOUT $(cat \"$d/{TIMEOUT_FILE}\")\"; "
            "else echo \"$p GONE\"; fi; done"
        )

    def parse_status_output(self, result: CommandResult, jobs: list[RemoteJob]) -> dict[str, RemoteStatus]:
        stdout = self.succeeded(result)
        statuses: dict[str, RemoteStatus] = {}
        for line in stdout.splitlines():
            parts = line.split()
            if len(parts) < 2:
                continue
            pid, state = parts[0], parts[1]
            if state == "RUNNING":
                statuses[pid] = RemoteStatus(RemoteState.RUNNING)
            elif state == "DONE":
                code = int(parts[2]) if len(parts) > 2 and parts[2].lstrip("-").isdigit() else None
                statuses[pid] = RemoteStatus(RemoteState.DONE, exit_code=code)
            elif state == "TIMEOUT":
                limit = parts[2] if len(parts) > 2 and parts[2].isdigit() else "?"
                statuses[pid] = RemoteStatus(RemoteState.FAILED, reason=f"it ran longer than maxMinutes ({limit}) "
                                             "and was stopped")
            elif state == "GONE":
                statuses[pid] = RemoteStatus(RemoteState.FAILED, reason="the process ended without recording an exit code (killed?)")
            else:
                log.warning("unknown fork status line %r", line)
        return statuses

    def build_cancel_command(self, job: RemoteJob) -> str:
        pgid = shlex.quote(job.remote_id)
        return (
            f"kill -TERM -- -{pgid} 2>/dev/null; "
            f"for i in 1 2 3 4 5 6 7 8 9 10; do kill -0 -- -{pgid} 2>/dev/null || exit 0; sleep 0.3; done; "
            f"kill -KILL -- -{pgid} 2>/dev/null; true"
        )
