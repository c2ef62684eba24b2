"""Tapis v3 Files routes (``../shared/tapis-openapi/openapi_v3-files.yml``): ops, content, permissions.

Routes check nothing themselves: ``dlws_flow.services.files`` authorizes from the database and hands the
host I/O to a worker through ``CeleryFileGateway`` (the API never opens SSH connections). Paths are
relative to the system's rootDir; tapipy sends ``path="/a/b"`` as ``.../{systemId}//a/b``, which the
``{path:path}`` converter takes as ``/a/b``.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, File, UploadFile
from fastapi.responses import Response
from pydantic import BaseModel

from api.dependencies import Gateway
from api.envelope import EnvelopeRoute, ok
from api.security import User
from dlws_flow.services import files as file_service

router = APIRouter(prefix="/v3/files", tags=["files"], route_class=EnvelopeRoute)


class MkdirRequest(BaseModel):
    path: str


class CreatePermissionRequest(BaseModel):
    username: str
    permission: str




@router.get("/healthcheck", summary="Health check (no token needed)")
def health_check() -> dict[str, Any]:
    return ok(None, "healthy")


@router.get("/ops/{systemId}/{path:path}", summary="List files (listFiles)")
def list_files(user: User, gateway: Gateway, systemId: str, path: str, limit: int = file_service.DEFAULT_LIMIT,
               offset: int = 0, recurse: bool = False, pattern: str | None = None) -> dict[str, Any]:
    listing = file_service.list_files(user, systemId, path, limit, offset, gateway=gateway, recurse=recurse,
                                      pattern=pattern)
    return ok(listing, "Files listed", {"recordCount": len(listing), "recordLimit": limit, "recordsSkipped": offset})


@router.post("/ops/{systemId}", summary="Create a directory (mkdir)")
def mkdir(user: User, gateway: Gateway, systemId: str, body: MkdirRequest) -> dict[str, Any]:
    created = file_service.mkdir(user, systemId, body.path, gateway=gateway)
    return ok(None, f"Directory /{created} created on system {systemId}")


@router.post("/ops/{systemId}/{path:path}", summary="Upload a file, creating parent directories (insert)")
def insert(user: User, gateway: Gateway, systemId: str, path: str, file: Annotated[UploadFile, File()]) -> dict[str, Any]:
    # The body was bounded (DLWS_MAX_UPLOAD_BYTES) by the app's middleware before it was parsed.
    written = file_service.upload(user, systemId, path, file.file.read(), gateway=gateway)
    return ok(None, f"File /{written} uploaded to system {systemId}")


@router.delete("/ops/{systemId}/{path:path}", summary="Delete a file or a directory tree")
def delete(user: User, gateway: Gateway, systemId: str, path: str) -> dict[str, Any]:
    deleted = file_service.delete(user, systemId, path, gateway=gateway)
    return ok(None, f"Path /{deleted} deleted from system {systemId}")


@router.get("/content/{systemId}/{path:path}", summary="Download a file, or a folder as zip (getContents)",
            response_class=Response, responses={200: {"content": {"application/octet-stream": {}, "application/zip": {}}}})
def get_contents(user: User, gateway: Gateway, systemId: str, path: str, zip: bool = False) -> Response:
    download = file_service.download(user, systemId, path, zip, gateway=gateway)
    disposition = f"attachment; filename*=UTF-8''{quote(download['filename'])}"
    return Response(download["content"], media_type=download["media_type"],
                    headers={"Content-Disposition": disposition})


@router.get("/permissions/{systemId}/{path:path}", summary="A user's permission on a path (getPermissions)")
def get_permissions(user: User, systemId: str, path: str, username: str | None = None) -> dict[str, Any]:
    return ok(file_service.get_permissions(user, systemId, path, username), "Permission retrieved")


@router.post("/permissions/{systemId}/{path:path}", summary="Grant READ or MODIFY on a path (grantPermissions)")
def grant_permissions(user: User, systemId: str, path: str, body: CreatePermissionRequest) -> dict[str, Any]:
    granted = file_service.grant_permission(user, systemId, path, body.username, body.permission)
    return ok(granted, f"Permission {granted['permission']} granted to {body.username}")


@router.delete("/permissions/{systemId}/{path:path}", summary="Revoke a user's permissions on a path")
def delete_permissions(user: User, systemId: str, path: str, username: str) -> dict[str, Any]:
    file_service.revoke_permission(user, systemId, path, username)
    return ok(None, f"Permissions of {username} on /{path.strip('/')} revoked")
