"""``ReqSubmitJob``: the job request a user sends, before the app's and the system's defaults are merged
under it (:func:`dlws_flow.domain.resolve.resolve_job`)."""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator, model_validator

from dlws_flow.domain.records import (
    MAX_GPUS,
    FileInput,
    FileInputArray,
    JobType,
    ParameterSet,
    TapisModel,
    refuse_nul,
)
from dlws_flow.errors import ValidationError


class JobRequest(TapisModel):
    """``ReqSubmitJob``: what a user sends to submit a job."""

    name: str
    appId: str
    appVersion: str
    description: str | None = None
    owner: str | None = None
    tenant: str | None = None
    jobType: JobType | None = None
    archiveOnAppError: bool | None = None
    execSystemId: str | None = None
    execSystemExecDir: str | None = None
    execSystemInputDir: str | None = None
    execSystemOutputDir: str | None = None
    execSystemLogicalQueue: str | None = None
    archiveSystemId: str | None = None
    archiveSystemDir: str | None = None
    nodeCount: int | None = None
    coresPerNode: int | None = None
    memoryMB: int | None = None
    maxMinutes: int | None = None
    #: Ours (not Tapis'): GPUs per node, see ``gpu_count`` in ``domain.resolve``.
    gpuCount: int | None = Field(default=None, ge=0, le=MAX_GPUS)
    fileInputs: list[FileInput] = Field(default_factory=list)
    fileInputArrays: list[FileInputArray] = Field(default_factory=list)
    parameterSet: ParameterSet = Field(default_factory=ParameterSet)
    tags: list[str] = Field(default_factory=list)
    subscriptions: list[dict[str, Any]] = Field(default_factory=list)
    #: Any JSON object (at most 64 KiB), returned on the job; the app's ``notes`` when left out (Tapis).
    notes: dict[str, Any] | None = None
    isMpi: bool | None = None
    mpiCmd: str | None = Field(default=None, max_length=126)
    cmdPrefix: str | None = Field(default=None, max_length=126)

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: Any) -> Any:
        try:
            return refuse_nul(data, "a job request")
        except ValueError as exc:  # raised as ours (pydantic passes it through): a 400 naming the problem
            raise ValidationError(str(exc)) from exc

    @model_validator(mode="after")
    def _no_input_modes(self) -> JobRequest:
        """``inputMode`` belongs to the app's definitions (Tapis' job schema has none): refused, not ignored."""
        lists = {f"parameterSet.{name}": getattr(self.parameterSet, name)
                 for name in ("appArgs", "containerArgs", "schedulerOptions", "envVariables")}
        for where, items in {**lists, "fileInputs": self.fileInputs, "fileInputArrays": self.fileInputArrays}.items():
            for index, item in enumerate(items):
                if item.inputMode is not None:
                    raise ValidationError(f"{where}[{index}].inputMode: inputMode is set by the app, a job "
                                          "request cannot set it (name the app's entry, and use include for "
                                          "arguments and variables)")
        return self

    @field_validator("name")
    @classmethod
    def _valid_name(cls, value: str) -> str:
        if not value or len(value) > 64 or any(ord(c) < 32 for c in value):
            raise ValueError("job name must be 1-64 printable characters")
        return value

    @field_validator("nodeCount", "coresPerNode", "memoryMB", "maxMinutes")
    @classmethod
    def _positive(cls, value: int | None) -> int | None:
        if value is not None and value <= 0:
            raise ValueError("must be a positive integer")
        return value
