"""``ReqSubmitJob``: the job request a user sends, before the app's and the system's defaults are merged
under it (:func:`dlws_flow.domain.resolve.resolve_job`)."""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator, model_validator

from dlws_flow.domain.records import FileInput, JobType, ParameterSet, TapisModel, refuse_nul
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
    fileInputs: list[FileInput] = Field(default_factory=list)
    parameterSet: ParameterSet = Field(default_factory=ParameterSet)
    tags: list[str] = Field(default_factory=list)
    subscriptions: list[dict[str, Any]] = Field(default_factory=list)
    notes: dict[str, Any] | None = None

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: Any) -> Any:
        try:
            return refuse_nul(data, "a job request")
        except ValueError as exc:  # raised as ours (pydantic passes it through): a 400 naming the problem
            raise ValidationError(str(exc)) from exc

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
