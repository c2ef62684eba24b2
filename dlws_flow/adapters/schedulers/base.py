"""The scheduler interface and the values it exchanges with stages."""

from __future__ import annotations

import abc
import shlex
from dataclasses import dataclass, field
from enum import StrEnum

from dlws_flow.adapters.transports.base import CommandResult
from dlws_flow.errors import HostError, RemoteCommandError

EXIT_CODE_FILE = "tapisjob.exitcode"
LAUNCH_MARKER = ".tapisjob.launched"
PID_FILE = "tapisjob.pid"


class RemoteState(StrEnum):
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    DONE = "DONE"
    """Ended; success or failure is told by ``exit_code``."""
    FAILED = "FAILED"
    """Ended abnormally (killed, timed out, vanished) with ``reason`` saying why."""
    CANCELLED = "CANCELLED"


@dataclass(frozen=True)
class RemoteStatus:
    state: RemoteState
    exit_code: int | None = None
    reason: str | None = None
    node: str | None = None


@dataclass(frozen=True)
class RemoteJob:
    """What a status query needs to know of one job."""

    remote_id: str
    exec_dir: str
    #: A task of a sweep's job array (``123_4``): the directory of its array's per-task links to the exec
    #: dirs (``engine.sweep_launch``), where a status query finds the task's exit code.
    array_dir: str = ""


@dataclass(frozen=True)
class ScriptRequest:
    job_uuid: str
    job_name: str
    exec_dir: str
    stdout_path: str
    stderr_path: str
    container_command: str
    env_file: str = "tapisjob.env"
    node_count: int = 1
    cores_per_node: int = 1
    memory_mb: int = 100
    max_minutes: int = 10
    #: GPUs per node (``#SBATCH --gres=gpu:N``); 0: none asked for.
    gpu_count: int = 0
    queue: str | None = None
    scheduler_options: list[str] = field(default_factory=list)
    setup_lines: list[str] = field(default_factory=list)
    #: ``#SBATCH`` options the scheduler profile hides (``MEM``: no ``--mem``, ``PARTITION``: no ``--partition``).
    hidden_options: frozenset[str] = frozenset()


def script_body(request: ScriptRequest, header: list[str]) -> str:
    """A launch script: ``header`` lines (shebang, #SBATCH ...), then the part every scheduler shares:
    enter the exec dir, profile setup, export the job's environment, run the app, record its exit code."""
    lines = [
        *header,
        f"# dlws-flow launch script for job {request.job_uuid}",
        f"cd {shlex.quote(request.exec_dir)} || exit 127",
        *request.setup_lines,
        export_environment(request),
        request.container_command,
    ]
    return "\n".join(lines) + "\n" + exit_code_epilogue()


def exit_code_epilogue() -> str:
    """Record the app's exit code atomically, so a poll never reads half a file."""
    return (
        "rc=$?\n"
        f"printf '%s\\n' \"$rc\" > .{EXIT_CODE_FILE}.tmp && mv -f .{EXIT_CODE_FILE}.tmp {EXIT_CODE_FILE}\n"
        "exit $rc\n"
    )


def export_environment(request: ScriptRequest) -> str:
    """Export every variable of ``tapisjob.env`` (POSIX-quoted, so values are taken literally)."""
    return f"set -a; . {shlex.quote(request.env_file)}; set +a"


def redirections(request: ScriptRequest) -> str:
    out = shlex.quote(request.stdout_path)
    if request.stderr_path == request.stdout_path:
        return f"> {out} 2>&1"
    return f"> {out} 2> {shlex.quote(request.stderr_path)}"


class Scheduler(abc.ABC):
    name: str
    #: Whether a submitted job waits in a queue (QUEUED) before it runs.
    queues_jobs: bool

    @abc.abstractmethod
    def build_script(self, request: ScriptRequest) -> str:
        """The text of ``tapisjob.sh``."""

    @abc.abstractmethod
    def build_submit_command(self, request: ScriptRequest) -> str:
        """A command that starts the job at most once, however often it runs, and prints its remote id."""

    @abc.abstractmethod
    def parse_submit_output(self, result: CommandResult) -> str:
        """The remote id the submit command printed. Raises what its exit code, stdout and stderr mean:
        ``JobRejectedError`` when the scheduler refused the job, ``SchedulerAnswerError`` when the answer
        names no job, ``RemoteCommandError`` (transient) for any other failure."""

    @abc.abstractmethod
    def build_status_command(self, jobs: list[RemoteJob]) -> str:
        """One command that reports on every job in ``jobs`` (one round trip per poll)."""

    @abc.abstractmethod
    def parse_status_output(self, result: CommandResult, jobs: list[RemoteJob]) -> dict[str, RemoteStatus]:
        """The status of each job the answer covers (a job it does not mention is left out)."""

    def command_error(self, result: CommandResult) -> HostError:
        """What a failed command of this scheduler means; schedulers that can tell a refusal refine it."""
        return RemoteCommandError(result.command, result.exit_code, result.stdout, result.stderr)

    def succeeded(self, result: CommandResult) -> str:
        """The stdout of a command that succeeded; otherwise raises :meth:`command_error`."""
        if result.exit_code != 0:
            raise self.command_error(result)
        return result.stdout

    @abc.abstractmethod
    def build_cancel_command(self, job: RemoteJob) -> str: ...

    def build_hold_command(self, job: RemoteJob) -> str | None:
        """A command that keeps a queued job from starting (None: this scheduler cannot hold jobs)."""
        return None

    def build_release_command(self, job: RemoteJob) -> str | None:
        """The command that undoes ``build_hold_command``."""
        return None

    def build_probe_command(self) -> str:
        """A cheap command that fails while the scheduler does not answer (recovery probes)."""
        return "true"


@dataclass(frozen=True)
class ArraySubmission:
    """One job array of a sweep: its number (the sweep's ``a<number>`` links), the ``--array`` value, and the
    words that identify it (its ``--comment``, the name of its script in the sweep's host directory)."""

    number: int
    spec: str
    comment: str
    script: str


class ArrayLauncher(abc.ABC):
    """A scheduler that can launch many jobs as one array (Slurm's ``sbatch --array``); the sweep's launch
    (``engine.sweep_launch``) uses it where the exec system's scheduler is one."""

    @abc.abstractmethod
    def build_array_limit_command(self) -> str:
        """A command that prints the largest task count one array may have (nothing: the default)."""

    @abc.abstractmethod
    def parse_array_limit(self, stdout: str) -> int: ...

    @abc.abstractmethod
    def build_element_script(self, request: ScriptRequest) -> str:
        """An element's ``tapisjob.sh`` as an array task runs it: its output redirected by the script itself."""

    @abc.abstractmethod
    def array_header(self, request: ScriptRequest) -> list[str]:
        """The element's scheduler directives that its array shares (resources, queue, options): elements
        whose headers differ cannot share one array."""

    @abc.abstractmethod
    def build_array_script(self, header: list[str], submission: ArraySubmission, name: str, links_dir: str,
                           log_path: str) -> str:
        """The script of one array: ``header``, its ``--array``, and a body that runs the element whose exec
        dir ``links_dir/<task id>`` links to."""

    @abc.abstractmethod
    def build_array_submit_command(self, sweep_dir: str, submissions: list[ArraySubmission]) -> str:
        """Submit each array at most once, however often it runs; prints ``<number> <array id>`` per array."""

    @abc.abstractmethod
    def parse_array_submit_output(self, result: CommandResult, submissions: list[ArraySubmission]) -> dict[int, str]: ...

    @abc.abstractmethod
    def build_array_cancel_command(self, array_ids: list[str]) -> str: ...
