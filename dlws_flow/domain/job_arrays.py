"""How a sweep's elements map onto scheduler job arrays (ours): which array and task each element is, the
``--array`` spec of each array, and its ``%N`` throttle. Pure: no I/O.

Slurm numbers an array's tasks below ``MaxArraySize`` (1001 unless the site raised it), so a sweep larger
than that goes out as several arrays: element ``i`` is task ``i % size`` of array ``i // size``. Only the
elements being launched are listed in the spec (``0-4,6-9``): one cancelled or paused before the launch has
no task.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

#: Slurm's own default ``MaxArraySize``: task ids 0..1000.
DEFAULT_MAX_ARRAY_SIZE = 1001


@dataclass(frozen=True)
class ArrayChunk:
    """One ``sbatch --array`` of a sweep: the elements ``offset`` .. ``offset + size - 1`` it may hold and
    the task ids (element index minus ``offset``) it does hold."""

    number: int
    offset: int
    tasks: tuple[int, ...]

    def spec(self, throttle: int | None) -> str:
        """The ``--array`` value: compressed ranges, with ``%throttle`` when there is one."""
        return compress(self.tasks) + (f"%{throttle}" if throttle else "")


def chunks(indices: Iterable[int], max_array_size: int) -> list[ArrayChunk]:
    """The arrays that hold ``indices`` (element indices) when a host allows ``max_array_size`` tasks."""
    size = max(1, max_array_size)
    by_chunk: dict[int, list[int]] = {}
    for index in sorted(set(indices)):
        by_chunk.setdefault(index // size, []).append(index % size)
    return [ArrayChunk(number, number * size, tuple(tasks)) for number, tasks in sorted(by_chunk.items())]


def compress(values: Iterable[int]) -> str:
    """``0,1,2,3,5,7,8`` -> ``0-3,5,7-8``."""
    ordered = sorted(set(values))
    parts: list[str] = []
    start = previous = None
    for value in ordered:
        if previous is not None and value == previous + 1:
            previous = value
            continue
        if start is not None:
            parts.append(str(start) if start == previous else f"{start}-{previous}")
        start = previous = value
    if start is not None:
        parts.append(str(start) if start == previous else f"{start}-{previous}")
    return ",".join(parts)


def expand(ranges: str) -> list[int]:
    """``0-3,5,7-8`` -> ``[0, 1, 2, 3, 5, 7, 8]`` (what :func:`compress` made)."""
    values: list[int] = []
    for part in filter(None, ranges.split(",")):
        low, _, high = part.partition("-")
        values.extend(range(int(low), int(high or low) + 1))
    return values


def throttle(requested: int | None, limits: Iterable[int | None], arrays: int) -> int | None:
    """The ``%N`` of each of ``arrays`` arrays: the smallest of the request's ``maxConcurrent`` and the
    system's and queue's job limits (None or below 1: no limit), shared out among the arrays."""
    bounds = [value for value in (requested, *limits) if value is not None and value >= 1]
    if not bounds:
        return None
    return max(1, min(bounds) // max(1, arrays))


def task_id(array_id: str, task: int) -> str:
    """How Slurm names one task of an array (``squeue -r``, ``sacct``, ``scancel``): ``123_4``."""
    return f"{array_id}_{task}"


def split_task_id(remote_id: str) -> tuple[str, int] | None:
    """``123_4`` -> ("123", 4); None for a plain job id."""
    array_id, sep, task = remote_id.partition("_")
    if sep and array_id.isdigit() and task.isdigit():
        return array_id, int(task)
    return None
