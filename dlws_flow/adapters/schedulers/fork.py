"""Fork (VM) jobs, Tapis' way: ``nohup ./tapisjob.sh > tapisjob.out 2>&1 &`` and a recorded pid."""

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


class ForkScheduler(Scheduler):
    name = "FORK"
    queues_jobs = False

    def build_script(self, request: ScriptRequest) -> str:
        return script_body(request, ["#!/bin/bash"])

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
