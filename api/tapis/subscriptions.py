"""Tapis job subscriptions: ``/v3/jobs/subscribe/{jobUuid}`` (subscribe, list) and ``/{uuid}`` (delete)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from api.envelope import EnvelopeRoute, ok
from api.security import User
from dlws_flow.services import subscriptions

router = APIRouter(prefix="/v3/jobs", tags=["jobs"], route_class=EnvelopeRoute)


class DeliveryTarget(BaseModel):
    deliveryMethod: Literal["WEBHOOK", "EMAIL"]
    deliveryAddress: str = Field(description="An http(s) URL for WEBHOOK, an address for EMAIL (logged, not sent).")


class ReqSubscribe(BaseModel):
    model_config = ConfigDict(extra="allow")

    description: str | None = None
    enabled: bool = True
    eventCategoryFilter: str = Field(description="JOB_NEW_STATUS, JOB_INPUT_TRANSACTION_ID, JOB_ARCHIVE_TRANSACTION_ID, "
                                                 "JOB_SUBSCRIPTION, JOB_SHARE_EVENT, JOB_ERROR_MESSAGE, JOB_USER_EVENT or ALL")
    deliveryTargets: list[DeliveryTarget]
    ttlMinutes: int | None = Field(None, description="Minutes until the subscription expires; 0 or none: never.")


@router.post("/subscribe/{jobUuid}", summary="Subscribe to a job's events", operation_id="subscribe")
def subscribe(jobUuid: str, body: ReqSubscribe, user: User, request: Request) -> dict[str, Any]:
    created = subscriptions.subscribe(user, jobUuid, body.model_dump(mode="json", exclude_unset=True))
    url = f"{str(request.base_url).rstrip('/')}/v3/jobs/subscribe/{created['uuid']}"
    return ok({"url": url}, f"Subscription {created['uuid']} created for job {jobUuid}")


@router.get("/subscribe/{jobUuid}", summary="List a job's subscriptions", operation_id="getSubscriptions")
def get_subscriptions(jobUuid: str, user: User, limit: int = 100, skip: int = 0) -> dict[str, Any]:
    result = subscriptions.list_for_job(user, jobUuid, limit=limit, skip=skip)
    return ok(result, f"{len(result)} subscription(s)", {"recordCount": len(result), "recordLimit": limit,
                                                         "recordsSkipped": skip})


@router.delete("/subscribe/{uuid}", summary="Delete a subscription, or all of a job's (given the job UUID)",
               operation_id="deleteSubscriptions")
def delete_subscriptions(uuid: str, user: User) -> dict[str, Any]:
    return ok({"changes": subscriptions.delete(user, uuid)}, "Subscriptions deleted")
