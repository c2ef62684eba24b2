"""Tapis Files transfer tasks: ``/v3/files/transfers`` (create, recent), ``/{transferTaskId}`` (get, cancel) and
``/{transferTaskId}/details``. The service authorizes and records; Celery workers copy (``workers.transfer_tasks``).

``/v3/files/transfers...`` shadows nothing of the Files routes (theirs start with ``/ops``, ``/content``,
``/permissions``, ``/utils``, ``/postits``) and is shadowed by none of them.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from api.envelope import EnvelopeRoute, ok
from api.security import User
from dlws_flow.services import transfers as transfer_service

router = APIRouter(prefix="/v3/files/transfers", tags=["files"], route_class=EnvelopeRoute)


def get_transfer_sender() -> transfer_service.Sender:
    # Imported on first use, as api.dependencies does: importing the Celery app reads celeryconfig.
    from workers.transfer_tasks import send_parent

    return send_parent


Sender = Annotated[transfer_service.Sender, Depends(get_transfer_sender)]


class ReqTransferElement(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sourceURI: str = Field(description="tapis://<systemId>/<path> or an http(s) URL")
    destinationURI: str = Field(description="tapis://<systemId>/<path>")
    optional: bool = Field(False, description="The task may complete even if this element fails (FAILED_OPT)")
    transferType: Literal["TRANSFER", "SERVICE_MOVE_DIRECTORY_CONTENTS", "SERVICE_MOVE_FILE_OR_DIRECTORY"] | None = None
    srcSharedCtx: str | None = None
    destSharedCtx: str | None = None


class ReqTransfer(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tag: str | None = None
    elements: list[ReqTransferElement]


@router.post("", summary="Create a transfer task (createTransferTask)", operation_id="createTransferTask")
def create_transfer_task(user: User, send: Sender, body: ReqTransfer) -> dict[str, Any]:
    task = transfer_service.create_transfer(user, body.model_dump(exclude_unset=True), send)
    return ok(task, f"Transfer task {task['uuid']} created")


@router.get("", summary="The caller's transfer tasks, most recent first (getRecentTransferTasks)",
            operation_id="getRecentTransferTasks")
def get_recent_transfer_tasks(user: User, limit: int = 1000, offset: int = 0) -> dict[str, Any]:
    tasks = transfer_service.list_transfers(user, limit, offset)
    return ok(tasks, f"{len(tasks)} transfer task(s)", {"recordCount": len(tasks), "recordLimit": limit,
                                                         "recordsSkipped": offset})


@router.get("/{transferTaskId}", summary="A transfer task (getTransferTask)", operation_id="getTransferTask")
def get_transfer_task(user: User, transferTaskId: str, includeSummary: bool = False,
                      impersonationId: str | None = None) -> dict[str, Any]:
    task = transfer_service.get_transfer(user, transferTaskId, include_summary=includeSummary,
                                         impersonation_id=impersonationId)
    return ok(task, "Transfer task retrieved")


@router.delete("/{transferTaskId}", summary="Cancel a transfer task (cancelTransferTask)",
               operation_id="cancelTransferTask")
def cancel_transfer_task(user: User, transferTaskId: str) -> dict[str, Any]:
    transfer_service.cancel_transfer(user, transferTaskId)
    message = f"Transfer task {transferTaskId} cancelled"
    return ok(message, message)  # the document's result is a string


@router.get("/{transferTaskId}/details", summary="A transfer task with its parents and children "
            "(getTransferTaskDetails)", operation_id="getTransferTaskDetails")
def get_transfer_task_details(user: User, transferTaskId: str, impersonationId: str | None = None) -> dict[str, Any]:
    task = transfer_service.get_transfer(user, transferTaskId, details=True, impersonation_id=impersonationId)
    return ok(task, "Transfer task retrieved")
