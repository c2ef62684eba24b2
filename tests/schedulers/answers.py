"""Scheduler answers as the transport hands them over: a command's exit code, stdout and stderr."""

from dlws_flow.adapters.transports.base import CommandResult


def answer(stdout: str, exit_code: int = 0, stderr: str = "") -> CommandResult:
    return CommandResult("status", exit_code, stdout, stderr)
