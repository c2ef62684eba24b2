"""Slurm job arrays for sweeps (ours): the text of an array's script, its idempotent ``sbatch --array``, and
the part of a status query that covers array tasks without naming each one on the command line.

An array's task ``N`` runs the element whose exec dir ``<sweep dir>/a<array number>/N`` links to, by its own
``tapisjob.sh`` (which redirects its output as Slurm's ``--output`` would for a job of its own). A status query
asks ``squeue -r`` for the array id (one line per task), ``sacct`` for the whole array when a task it waits for
is gone from ``squeue``, and reads the exit code of the tasks it waits for that ended, through the links.
"""

from __future__ import annotations

import shlex

from dlws_flow.adapters.schedulers.base import EXIT_CODE_FILE, ArraySubmission, RemoteJob
from dlws_flow.adapters.transports.base import CommandResult
from dlws_flow.domain.job_arrays import DEFAULT_MAX_ARRAY_SIZE, compress, split_task_id
from dlws_flow.domain.resolve import SBATCH_WORD
from dlws_flow.errors import SchedulerAnswerError, ValidationError

#: Reads ``id|state|...`` lines (squeue's and sacct's); ``want`` is ``A=ranges;B=ranges`` (the tasks waited
#: for). ``mode=missing`` prints each array with a wanted task absent; ``mode=ended`` prints ``A t`` for each
#: wanted task that COMPLETED or FAILED (the two states whose exit code is the app's, in tapisjob.exitcode).
_AWK_TASKS = r"""
BEGIN { n = split(want, arrays, ";")
  for (i = 1; i <= n; i++) { split(arrays[i], kv, "="); r = split(kv[2], ranges, ",")
    for (j = 1; j <= r; j++) { m = split(ranges[j], b, "-"); hi = (m > 1 ? b[2] : b[1])
      for (t = b[1] + 0; t <= hi + 0; t++) { w[kv[1] "_" t] = 1; count[kv[1]]++ } } } }
{ id = $1; if (!(id in w) || (id in seen)) next; seen[id] = 1; found[substr(id, 1, index(id, "_") - 1)]++
  if (mode == "ended" && $2 ~ /^(COMPLETED|FAILED)/) { sub(/_/, " ", id); print id } }
END { if (mode == "missing") for (a in count) if (found[a] < count[a]) print a }
"""


def array_tasks(jobs: list[RemoteJob]) -> dict[str, tuple[str, list[int]]]:
    """Array id -> (its links dir, the task ids waited for) of the array tasks among ``jobs``."""
    arrays: dict[str, tuple[str, list[int]]] = {}
    for job in jobs:
        split = split_task_id(job.remote_id)
        if split:
            arrays.setdefault(split[0], (job.array_dir, []))[1].append(split[1])
    return arrays


def status_parts(arrays: dict[str, tuple[str, list[int]]]) -> tuple[str, str, str]:
    """Three pieces of the status command for ``arrays`` (shell, run after ``q`` holds squeue's answer):
    define ``want``; add the arrays to ``miss`` for sacct; print ``X|A_t|code`` for ended tasks (``a`` holds
    sacct's answer by then)."""
    if not arrays:
        return "", "", ""
    want = ";".join(f"{array_id}={compress(tasks)}" for array_id, (_, tasks) in arrays.items())
    awk = shlex.quote(_AWK_TASKS)
    define = f"want={shlex.quote(want)}; "
    missing = (f"for m in $(printf '%s\\n' \"$q\" | awk -F'|' -v mode=missing -v want=\"$want\" {awk}); do "
               "miss=\"$miss,$m\"; done; ")
    cases = " ".join(f"{array_id}) d={shlex.quote(links)};;" for array_id, (links, _) in arrays.items())
    ended = (f"printf '%s\\n' \"$q\" \"$a\" | awk -F'|' -v mode=ended -v want=\"$want\" {awk} | "
             f"while read -r A t; do case $A in {cases} *) continue;; esac; "
             f"if [ -f \"$d/$t/{EXIT_CODE_FILE}\" ] && read -r c < \"$d/$t/{EXIT_CODE_FILE}\"; then "
             f"echo \"X|${{A}}_$t|$c\"; fi; done; ")
    return define, missing, ended


def array_script(header: list[str], submission: ArraySubmission, name: str, links_dir: str, log_path: str) -> str:
    for path in (links_dir, log_path):
        if not SBATCH_WORD.fullmatch(path):
            raise ValidationError(f"sweep directory {path!r} cannot be used in an #SBATCH line")
    lines = [
        "#!/bin/bash",
        f"#SBATCH --job-name={name}",
        f"#SBATCH --comment={submission.comment}",
        f"#SBATCH --array={submission.spec}",
        # Slurm's own words about a task (a time limit hit, a node lost) go to one log per sweep; each
        # element's app output goes where its own tapisjob.sh sends it.
        f"#SBATCH --output={log_path}",
        "#SBATCH --open-mode=append",
        *header,
        f"# dlws-flow job array {submission.number}: task N runs the sweep element linked at {links_dir}/N",
        f"exec /bin/bash {shlex.quote(links_dir)}/\"$SLURM_ARRAY_TASK_ID\"/tapisjob.sh",
    ]
    return "\n".join(lines) + "\n"


def submit_command(sweep_dir: str, submissions: list[ArraySubmission]) -> str:
    """Like a single job's submit: a recorded id is reused; after an attempt that got as far as ``sbatch``
    (the marker), ``squeue`` is asked for an array with the same comment before ``sbatch`` runs again."""
    parts = [f"cd {shlex.quote(sweep_dir)} || exit 1"]
    for sub in submissions:
        record, marker, comment = f"array-{sub.number}.id", f".array-{sub.number}.submitting", shlex.quote(sub.comment)
        parts.append(
            f"if [ ! -s {record} ]; then id=''; if [ -e {marker} ]; then "
            f"id=$(squeue -h -a -t all -u \"$(id -un)\" -o '%A %k' | awk -v c={comment} '$2 == c {{print $1; exit}}'); fi; "
            f": > {marker} || exit 1; "
            f"if [ -z \"$id\" ]; then id=$(sbatch --parsable {shlex.quote(sub.script)}) || exit 1; fi; "
            f"printf '%s\\n' \"${{id%%;*}}\" > {record}; fi; "
            f"printf '%s %s\\n' {sub.number} \"$(cat {record})\"")
    return "; ".join(parts)


def parse_submit_output(result: CommandResult, submissions: list[ArraySubmission]) -> dict[int, str]:
    """``number -> array id`` of the arrays the command printed (all of them when it succeeded)."""
    ids: dict[int, str] = {}
    for line in result.stdout.splitlines():
        number, _, array_id = line.strip().partition(" ")
        if number.isdigit() and array_id.strip().isdigit():
            ids[int(number)] = array_id.strip()
    if result.exit_code == 0 and set(ids) != {s.number for s in submissions}:
        raise SchedulerAnswerError(f"sbatch --array did not print an id for every array: {result.stdout.strip()[:300]!r}")
    return ids


def limit_command() -> str:
    return "scontrol show config 2>/dev/null | sed -n 's/^MaxArraySize *= *\\([0-9][0-9]*\\).*/\\1/p'"


def parse_limit(stdout: str) -> int:
    value = stdout.strip().splitlines()[-1].strip() if stdout.strip() else ""
    return int(value) if value.isdigit() and int(value) > 0 else DEFAULT_MAX_ARRAY_SIZE
