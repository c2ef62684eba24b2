"""Slurm: ``sbatch --parsable`` of a ``#SBATCH`` script, one batched ``squeue`` per poll, ``scancel``.

Idempotent submit: the script carries ``--comment=dlws-<job uuid>`` and the submit command records the
Slurm id in ``tapisjob.slurmid``; a re-delivered submit returns the recorded id, or finds the job by its
comment in ``squeue``, before it would ever call ``sbatch`` again. That ``squeue`` (all of the login's jobs)
runs only when an earlier attempt got as far as ``sbatch`` (the ``.tapisjob.submitting`` marker): the
usual first submit is one ``sbatch`` and no query.

Final state: ``squeue -t all`` still reports ended jobs for ``MinJobAge`` seconds; after that (or after
a controller restart) ``sacct`` answers where accounting exists, else ``sacct -c`` reads the jobcomp
record. The app's own exit code always comes from ``tapisjob.exitcode``, written by the script.
"""

from __future__ import annotations

import logging
import re
import shlex

from dlws_flow.adapters.schedulers import slurm_arrays
from dlws_flow.adapters.schedulers.base import (
    EXIT_CODE_FILE,
    ArrayLauncher,
    ArraySubmission,
    RemoteJob,
    RemoteState,
    RemoteStatus,
    Scheduler,
    ScriptRequest,
    redirections,
    script_body,
)
from dlws_flow.adapters.transports.base import CommandResult
from dlws_flow.domain.recovery import classify
from dlws_flow.domain.resolve import SBATCH_WORD
from dlws_flow.errors import HostError, JobRejectedError, SchedulerAnswerError, ValidationError

log = logging.getLogger(__name__)

SLURM_ID_FILE = "tapisjob.slurmid"
SUBMIT_MARKER = ".tapisjob.submitting"
PROFILE_OPTION = "--tapis-profile"

#: Slurm job state -> ours. Unknown states are logged and treated as still running (keep polling).
SLURM_STATES: dict[str, RemoteState] = {
    "PENDING": RemoteState.QUEUED, "CONFIGURING": RemoteState.QUEUED, "REQUEUED": RemoteState.QUEUED,
    "REQUEUE_HOLD": RemoteState.QUEUED, "REQUEUE_FED": RemoteState.QUEUED, "PREEMPTED": RemoteState.QUEUED,
    "RESV_DEL_HOLD": RemoteState.QUEUED, "RUNNING": RemoteState.RUNNING, "COMPLETING": RemoteState.RUNNING,
    "SUSPENDED": RemoteState.RUNNING, "STAGE_OUT": RemoteState.RUNNING, "SIGNALING": RemoteState.RUNNING,
    "RESIZING": RemoteState.RUNNING, "COMPLETED": RemoteState.DONE, "FAILED": RemoteState.FAILED,
    "TIMEOUT": RemoteState.FAILED, "NODE_FAIL": RemoteState.FAILED, "OUT_OF_MEMORY": RemoteState.FAILED,
    "BOOT_FAIL": RemoteState.FAILED, "DEADLINE": RemoteState.FAILED, "CANCELLED": RemoteState.CANCELLED,
    "REVOKED": RemoteState.CANCELLED, "SPECIAL_EXIT": RemoteState.FAILED,
}
#: sbatch's words for a submission it refused ("sbatch: error: Batch job submission failed: Invalid partition ...").
_REFUSAL = re.compile(r"batch job submission failed:[^\n]*", re.IGNORECASE)


#: What one poll asks ``squeue`` for, in order (``-o``, joined by ``|``): the fields are declared once, here,
#: and both the command and the parser use them. ``squeue -t all`` reports ended jobs for ``MinJobAge`` s.
SQUEUE_FIELDS: tuple[tuple[str, str, str], ...] = (
    ("job_id", "%i", "the numeric job id"),
    ("state", "%T", "the long state name (PENDING, RUNNING, COMPLETED, TIMEOUT, ...)"),
    ("node", "%N", "the node list: empty while PENDING"),
    ("reason", "%r", "why it waits or ended (BeginTime, NonZeroExitCode, TimeLimit); the word 'None' if nothing"),
)
#: What ``sacct`` (accounting) or ``sacct -c`` (the jobcomp record, when accounting is disabled) is asked for,
#: for jobs ``squeue`` no longer knows.
SACCT_FIELDS: tuple[tuple[str, str, str], ...] = (
    ("job_id", "JobID", "the numeric job id (-X: the allocation, not its steps)"),
    ("state", "State", "the state name, possibly with words after it ('CANCELLED by 1000')"),
    ("exit_code", "ExitCode", "'code:signal' of the batch script (not the app: tapisjob.exitcode has that)"),
    ("node", "NodeList", "the node list"),
)
#: Prefixes of the status command's output lines: which source a line comes from.
FROM_SQUEUE, FROM_SACCT, FROM_EXIT_FILE = "Q", "A", "X"


def _format(fields: tuple[tuple[str, str, str], ...], separator: str) -> str:
    return separator.join(code for _, code, _ in fields)


def _record(fields: tuple[tuple[str, str, str], ...], values: list[str]) -> dict[str, str] | None:
    """One output line's values by field name; None for a line that does not have them all."""
    if len(values) < len(fields):
        return None
    return {name: value.strip() for (name, _, _), value in zip(fields, values)}


def split_profile(options: list[str]) -> tuple[str | None, list[str]]:
    """Take ``--tapis-profile NAME`` (Tapis' own option, never passed to Slurm) out of the option words."""
    profile, rest, words = None, [], iter(options)
    for word in words:
        if word == PROFILE_OPTION:
            profile = next(words, None)
        elif word.startswith(PROFILE_OPTION + "="):
            profile = word.split("=", 1)[1]
        else:
            rest.append(word)
    return profile, rest


def _slurm_name(name: str, default: str) -> str:
    """A ``--job-name`` Slurm takes as it is: letters, digits, ``.``, ``_``, ``-``; at most 64."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)[:64] or default


def sbatch_lines(options: list[str]) -> list[str]:
    """One ``#SBATCH`` line per option (an option word and the value words that follow it)."""
    for word in options:
        if not SBATCH_WORD.fullmatch(word):
            raise ValidationError(f"scheduler option word {word!r} may not contain spaces, quotes or control characters")
    lines: list[str] = []
    for word in options:
        if word.startswith("-") or not lines:
            lines.append(f"#SBATCH {word}")
        else:
            lines[-1] += f" {word}"
    return lines


class SlurmScheduler(Scheduler, ArrayLauncher):
    name = "SLURM"
    queues_jobs = True

    def build_script(self, request: ScriptRequest) -> str:
        for path in (request.stdout_path, request.stderr_path):
            if not SBATCH_WORD.fullmatch(path):
                raise ValidationError(f"output path {path!r} cannot be used in an #SBATCH line")
        lines = [
            "#!/bin/bash",
            f"#SBATCH --job-name={_slurm_name(request.job_name, 'dlws-job')}",
            f"#SBATCH --comment=dlws-{request.job_uuid}",
            f"#SBATCH --output={request.stdout_path}",
            f"#SBATCH --error={request.stderr_path}",
        ]
        return script_body(request, lines + self.array_header(request))

    def build_submit_command(self, request: ScriptRequest) -> str:
        comment = shlex.quote(f"dlws-{request.job_uuid}")
        return (
            f"cd {shlex.quote(request.exec_dir)} || exit 1; "
            f"if [ -s {SLURM_ID_FILE} ]; then cat {SLURM_ID_FILE}; exit 0; fi; "
            f"id=''; if [ -e {SUBMIT_MARKER} ]; then "
            f"id=$(squeue -h -a -t all -u \"$(id -un)\" -o '%i %k' | awk -v c={comment} '$2 == c {{print $1; exit}}'); fi; "
            f": > {SUBMIT_MARKER} || exit 1; "
            "if [ -z \"$id\" ]; then id=$(sbatch --parsable tapisjob.sh) || exit 1; fi; "
            f"printf '%s\\n' \"${{id%%;*}}\" > {SLURM_ID_FILE}; cat {SLURM_ID_FILE}"
        )

    def parse_submit_output(self, result: CommandResult) -> str:
        stdout = self.succeeded(result)
        job_id = stdout.strip().splitlines()[-1].strip() if stdout.strip() else ""
        if not job_id.isdigit():
            raise SchedulerAnswerError(f"sbatch did not print a job id: {stdout.strip()[:300]!r}")
        return job_id

    def command_error(self, result: CommandResult) -> HostError:
        error = super().command_error(result)
        # "Batch job submission failed: Socket timed out" is slurmctld not answering (classify knows those
        # words: transient); any other submission failure is Slurm refusing this job as written.
        refusal = _REFUSAL.search(result.stderr)
        if refusal and classify(error) is None:
            return JobRejectedError(f"Slurm refused the job: {refusal.group(0).strip()}")
        return error

    def build_status_command(self, jobs: list[RemoteJob]) -> str:
        plain = [j for j in jobs if j.remote_id.isdigit()]
        arrays = slurm_arrays.array_tasks(jobs)
        ids = ",".join([j.remote_id for j in plain] + list(arrays))
        specs = " ".join(shlex.quote(f"{j.remote_id}:{j.exec_dir}") for j in plain)
        define_want, arrays_missing, arrays_ended = slurm_arrays.status_parts(arrays)
        fields = _format(SACCT_FIELDS, ",")
        plain_ids = ",".join(j.remote_id for j in plain) or "''"
        return (
            f"q=$(squeue -h -a -r -t all -j {ids} -o '{_format(SQUEUE_FIELDS, '|')}' 2>/dev/null); "
            f"printf '%s\\n' \"$q\" | sed -n 's/^\\([0-9]\\)/{FROM_SQUEUE}|\\1/p'; "
            f"miss=''; for i in $(echo {plain_ids} | tr , ' '); do printf '%s\\n' \"$q\" | grep -q \"^$i|\" || miss=\"$miss,$i\"; done; "
            f"{define_want}{arrays_missing}"
            "miss=${miss#,}; a=''; "
            f"if [ -n \"$miss\" ]; then a=$(sacct -X -n -P -j \"$miss\" -o {fields} 2>/dev/null || "
            f"sacct -c -n -P -j \"$miss\" -o {fields} 2>/dev/null); "
            f"printf '%s\\n' \"$a\" | sed -n 's/^\\([0-9]\\)/{FROM_SACCT}|\\1/p'; fi; "
            f"for s in {specs}; do i=${{s%%:*}}; d=${{s#*:}}; "
            f"[ -f \"$d/{EXIT_CODE_FILE}\" ] && echo \"{FROM_EXIT_FILE}|$i|$(cat \"$d/{EXIT_CODE_FILE}\")\"; done; "
            f"{arrays_ended}true"
        )

    def parse_status_output(self, result: CommandResult, jobs: list[RemoteJob]) -> dict[str, RemoteStatus]:
        stdout = self.succeeded(result)
        states: dict[str, tuple[str, str | None, str | None]] = {}
        file_codes: dict[str, int] = {}  # the app's own exit code, from tapisjob.exitcode
        sacct_codes: dict[str, int] = {}  # the batch script's, from sacct: when the file is missing
        for line in stdout.splitlines():
            source, _, rest = line.partition("|")
            values = rest.split("|")
            if source == FROM_SQUEUE and (row := _record(SQUEUE_FIELDS, values)) and row["state"]:
                states[row["job_id"]] = (row["state"].split()[0], row["node"] or None, row["reason"] or None)
            elif source == FROM_SACCT and (row := _record(SACCT_FIELDS, values)) and row["state"] \
                    and row["job_id"] not in states:
                states[row["job_id"]] = (row["state"].split()[0], row["node"] or None, None)
                code = row["exit_code"].split(":")[0]
                if code.lstrip("-").isdigit():
                    sacct_codes.setdefault(row["job_id"], int(code))
            elif source == FROM_EXIT_FILE and len(values) >= 2 and values[1].strip().lstrip("-").isdigit():
                file_codes[values[0]] = int(values[1].strip())
        statuses: dict[str, RemoteStatus] = {}
        for job in jobs:
            if job.remote_id not in states:
                continue  # unknown to Slurm right now (controller restarting): ask again next poll
            slurm_state, node, reason = states[job.remote_id]
            ours = SLURM_STATES.get(slurm_state)
            if ours is None:
                log.warning("unknown Slurm state %s for job %s; treating it as running", slurm_state, job.remote_id)
                ours = RemoteState.RUNNING
            code = file_codes.get(job.remote_id, sacct_codes.get(job.remote_id))
            if slurm_state in ("COMPLETED", "FAILED") and job.remote_id in file_codes:
                statuses[job.remote_id] = RemoteStatus(RemoteState.DONE, exit_code=code, node=node)
            elif ours == RemoteState.DONE:
                statuses[job.remote_id] = RemoteStatus(RemoteState.DONE, exit_code=code if code is not None else 0, node=node)
            elif ours == RemoteState.FAILED:
                why = f"Slurm job {job.remote_id} ended {slurm_state}" + (f" ({reason})" if reason and reason != "None" else "")
                if slurm_state == "TIMEOUT":
                    why += ": it ran longer than its time limit (maxMinutes)"
                statuses[job.remote_id] = RemoteStatus(RemoteState.FAILED, exit_code=code, reason=why, node=node)
            else:
                statuses[job.remote_id] = RemoteStatus(ours, node=node)
        return statuses

    def build_cancel_command(self, job: RemoteJob) -> str:
        return f"scancel {shlex.quote(job.remote_id)}"

    def build_hold_command(self, job: RemoteJob) -> str:
        return f"scontrol hold {shlex.quote(job.remote_id)}"

    def build_release_command(self, job: RemoteJob) -> str:
        return f"scontrol release {shlex.quote(job.remote_id)}"

    def build_probe_command(self) -> str:
        # Answers only when slurmctld does ("Unable to contact slurm controller" otherwise).
        return "sinfo --noheader --format=%a"

    # --- job arrays (sweeps: adapters.schedulers.slurm_arrays) -----------------------------------------

    def build_array_limit_command(self) -> str:
        return slurm_arrays.limit_command()

    def parse_array_limit(self, stdout: str) -> int:
        return slurm_arrays.parse_limit(stdout)

    def build_element_script(self, request: ScriptRequest) -> str:
        return script_body(request, ["#!/bin/bash", f"exec {redirections(request)}"])

    def array_header(self, request: ScriptRequest) -> list[str]:
        """The resources, queue and options (a job's own script has them too, after its name and outputs)."""
        _, options = split_profile(request.scheduler_options)
        lines = [
            f"#SBATCH --nodes={request.node_count}",
            f"#SBATCH --ntasks-per-node={request.cores_per_node}",
            # A scheduler profile's hiddenOptions leave out what the site forbids: MEM, PARTITION.
            *([] if "MEM" in request.hidden_options else [f"#SBATCH --mem={request.memory_mb}M"]),
            f"#SBATCH --time={request.max_minutes // 60:02d}:{request.max_minutes % 60:02d}:00",
            # A node without this GRES makes sbatch refuse the job, with its reason, at submission.
            *([f"#SBATCH --gres=gpu:{request.gpu_count}"] if request.gpu_count > 0 else []),
        ]
        if request.queue and "PARTITION" not in request.hidden_options:
            lines.append(f"#SBATCH --partition={request.queue}")
        return lines + sbatch_lines(options)

    def build_array_script(self, header: list[str], submission: ArraySubmission, name: str, links_dir: str,
                           log_path: str) -> str:
        return slurm_arrays.array_script(header, submission, _slurm_name(name, "dlws-sweep"), links_dir, log_path)

    def build_array_submit_command(self, sweep_dir: str, submissions: list[ArraySubmission]) -> str:
        return slurm_arrays.submit_command(sweep_dir, submissions)

    def parse_array_submit_output(self, result: CommandResult, submissions: list[ArraySubmission]) -> dict[int, str]:
        return slurm_arrays.parse_submit_output(result, submissions)

    def build_array_cancel_command(self, array_ids: list[str]) -> str:
        return "scancel " + " ".join(shlex.quote(i) for i in array_ids)
