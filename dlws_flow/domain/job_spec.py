"""A stored job spec read through types, instead of walks like ``spec["parameterSet"]["appArgs"]``.

``JobRow.spec`` is :meth:`dlws_flow.domain.resolve.ResolvedJob.as_dict` as JSON, changed later by the
stages: ``process_inputs`` writes the HOST_EVAL-expanded directories back, ``archive`` adds ``archived``,
``archivedFiles`` and ``archivedPaths``. Keys the view does not name are kept (``extra="allow"``), so a spec
written by a newer release still loads.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from dlws_flow.domain.records import (
    ArchiveFilter,
    ArgSpec,
    FileInput,
    FileInputArray,
    JobType,
    LogConfig,
    ParameterSet,
    Runtime,
)


def arg_words(args: Iterable[ArgSpec]) -> list[str]:
    """The shell words of ``args`` in order (each ``arg`` split with POSIX rules), as the launch passes them."""
    return [word for arg in args for word in arg.words()]


class JobSpecView(BaseModel):
    """A stored job spec, typed; read-only.

    The fields are the keys :func:`~dlws_flow.domain.resolve.resolve_job` writes; those the stages have always
    read with a fallback (``runtimeOptions``, ``archiveOnAppError``, ``execSystemLogicalQueue``) keep it as
    their default, so a spec stored without them still loads. Frozen, because a change goes into the stored
    dict (``repo.update_job_fields(..., spec=...)``), never into the view.
    """

    model_config = ConfigDict(extra="allow", frozen=True, use_enum_values=True)

    uuid: str
    name: str
    owner: str
    tenant: str
    description: str | None = None
    appId: str
    appVersion: str
    runtime: Runtime
    runtimeOptions: list[str] = Field(default_factory=list)
    containerImage: str
    jobType: JobType
    execSystemId: str
    #: The directories as Tapis paths (rootDir-relative); after ``process_inputs``, HOST_EVAL expanded.
    execSystemExecDir: str
    execSystemInputDir: str
    execSystemOutputDir: str
    #: Set for BATCH jobs only.
    execSystemLogicalQueue: str | None = None
    archiveSystemId: str
    archiveSystemDir: str
    archiveOnAppError: bool = True
    nodeCount: int
    coresPerNode: int
    memoryMB: int
    maxMinutes: int
    #: GPUs per node (ours; 0 for a job stored before it existed).
    gpuCount: int = 0
    #: ISO 8601, as stored: kept a string so the view dumps back to exactly the stored text.
    created: str
    #: Merged and macro-substituted; ``targetPath`` cleaned and relative to the input dir. Every source of an
    #: array is one entry too (``domain.file_inputs``).
    fileInputs: list[FileInput]
    #: Merged; ``targetDir`` substituted, cleaned, relative to the input dir (kept for their ``envKey``).
    fileInputArrays: list[FileInputArray] = Field(default_factory=list)
    #: Merged and macro-substituted; ``archiveFilter`` and ``logConfig`` are always stored (see the properties).
    parameterSet: ParameterSet
    tags: list[str] = Field(default_factory=list)
    #: Macro name -> value, in the order the job's env file exports them as ``_tapis<Name>``.
    macros: dict[str, str]
    #: Tapis' launch prefix, merged at submission (``domain.merge.launch_prefix``).
    isMpi: bool = False
    mpiCmd: str | None = None
    cmdPrefix: str | None = None
    notes: dict[str, Any] = Field(default_factory=dict)
    #: Added by the archive stage.
    archived: bool = False
    archivedFiles: int | None = None
    archivedPaths: list[str] | None = None

    @classmethod
    def of(cls, spec: Mapping[str, Any]) -> JobSpecView:
        """The view of ``spec`` (``JobRow.spec``).

        Raises:
            pydantic.ValidationError: a key the stages need is missing or has the wrong type.
        """
        return cls.model_validate(spec)

    @property
    def launcher_words(self) -> list[str]:
        """The words run before the runtime's command: ``mpiCmd`` for an MPI job, else ``cmdPrefix``, else none."""
        text = self.mpiCmd if self.isMpi else self.cmdPrefix
        return shlex.split(text) if text else []

    @property
    def log_config(self) -> LogConfig:
        """``parameterSet.logConfig``, or Tapis' defaults (``tapisjob.out``) for a spec stored without it."""
        return self.parameterSet.logConfig or LogConfig()

    @property
    def archive_filter(self) -> ArchiveFilter:
        """``parameterSet.archiveFilter``, or archive-everything for a spec stored without it."""
        return self.parameterSet.archiveFilter or ArchiveFilter()
