"""Tapis Files PostIts: ``/v3/files/postits/{systemId}/{path}`` (create), ``/v3/files/postits`` (list),
``/{postitId}`` (get, update, delete) and ``/redeem/{postitId}`` (no token: the id is the secret).

Order of routes: ``GET /redeem/{postitId}`` has two segments and ``GET /{postitId}`` one, and the only route with
a ``{path:path}`` is a POST, so none shadows another; the Files routes (``/ops``, ``/content``, ...) start with
other literals. Redeem URLs are absolute, built from the request's base URL.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from api.dependencies import Gateway
from api.envelope import EnvelopeRoute, ok
from api.security import User
from dlws_flow.services import postits

router = APIRouter(prefix="/v3/files/postits", tags=["files"], route_class=EnvelopeRoute)


class CreatePostItRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    allowedUses: int = Field(postits.DEFAULT_USES, description="Times it may be redeemed; -1: unlimited")
    validSeconds: int = Field(postits.DEFAULT_VALID_SECONDS, description="Seconds until it expires (30 days)")


class UpdatePostItRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    allowedUses: int | None = None
    expiration: datetime | None = None
    unlimited: bool | None = Field(None, description="true: unlimited uses and no expiry")


def _base(request: Request) -> str:
    return str(request.base_url)


@router.get("/redeem/{postitId}", summary="Redeem a PostIt: the file, or a folder as zip (no token needed)",
            operation_id="redeemPostIt", response_class=Response,
            responses={200: {"content": {"application/octet-stream": {}, "application/zip": {}}}})
def redeem_postit(postitId: str, gateway: Gateway, zip: bool | None = None, download: bool = False) -> Response:
    content = postits.redeem(postitId, zip, gateway=gateway)
    disposition = f"{'attachment' if download else 'inline'}; filename*=UTF-8''{quote(content['filename'])}"
    return Response(content["content"], media_type=content["media_type"], headers={"Content-Disposition": disposition})


@router.post("/{systemId}/{path:path}", summary="Create a PostIt for a path (createPostIt)", operation_id="createPostIt")
def create_postit(user: User, request: Request, systemId: str, path: str, body: CreatePostItRequest) -> dict[str, Any]:
    created = postits.create(user, systemId, path, body.model_dump(exclude_unset=True), _base(request))
    return ok(created, f"PostIt {created['postitId']} created")


@router.get("", summary="List PostIts (listPostIts)", operation_id="listPostIts")
def list_postits(user: User, request: Request, listType: Literal["OWNED", "ALL"] = "OWNED",
                 limit: int = postits.DEFAULT_LIST_LIMIT, orderBy: str | None = None, skip: int = 0,
                 startAfter: str | None = None, select: str = "summaryAttributes") -> dict[str, Any]:
    items = postits.list_postits(user, _base(request), list_type=listType, limit=limit, order_by=orderBy, skip=skip,
                                 start_after=startAfter, select=select)
    return ok(items, f"{len(items)} PostIt(s)", {"recordCount": len(items), "recordLimit": limit,
                                                  "recordsSkipped": skip})


@router.get("/{postitId}", summary="A PostIt, without redeeming it (getPostIt)", operation_id="getPostIt")
def get_postit(user: User, request: Request, postitId: str) -> dict[str, Any]:
    return ok(postits.get(user, postitId, _base(request)), "PostIt retrieved")


@router.patch("/{postitId}", summary="Change a PostIt's uses or expiration (updatePostIt)", operation_id="updatePostIt")
def update_postit(user: User, request: Request, postitId: str, body: UpdatePostItRequest) -> dict[str, Any]:
    updated = postits.update(user, postitId, body.model_dump(exclude_unset=True), _base(request))
    return ok(updated, f"PostIt {postitId} updated")


@router.delete("/{postitId}", summary="Delete a PostIt (deletePostIt)", operation_id="deletePostIt")
def delete_postit(user: User, postitId: str) -> dict[str, Any]:
    return ok(postits.delete(user, postitId), f"PostIt {postitId} deleted")
