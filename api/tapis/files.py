"""Tapis v3 Files routes (``../shared/tapis-openapi/openapi_v3-files.yml``): ops, content, permissions.

Routes check nothing themselves: ``dlws_flow.services.files`` authorizes from the database and hands the
host I/O to a worker through ``CeleryFileGateway`` (the API never opens SSH connections). Paths are
relative to the system's rootDir; tapipy sends ``path="/a/b"`` as ``.../{systemId}//a/b``, which the
``{path:path}`` converter takes as ``/a/b``.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, File, Header, UploadFile
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from api.dependencies import Gateway
from api.envelope import EnvelopeRoute, ok
from api.security import User
from dlws_flow.errors import ValidationError
from dlws_flow.services import file_shares
from dlws_flow.services import files as file_service

router = APIRouter(prefix="/v3/files", tags=["files"], route_class=EnvelopeRoute)


class _Strict(BaseModel):
    """A request body whose unknown fields are refused (400 naming them), never ignored."""

    model_config = ConfigDict(extra="forbid")


class MkdirRequest(_Strict):
    path: str


class CreatePermissionRequest(_Strict):
    username: str
    permission: str


class MoveCopyRequest(_Strict):
    operation: str
    newPath: str


class NativeLinuxOpRequest(_Strict):
    operation: str
    argument: str


class NativeLinuxSetFaclRequest(_Strict):
    operation: str
    aclString: str = ""
    recursionMethod: str = "NONE"


class ReqShareUpdate(_Strict):
    users: list[str] = Field(min_length=1)




def _refuse_restricted(**params: str | None) -> None:
    """Tapis lets only its own services impersonate a user or claim a share's context; no caller here may."""
    for name, value in params.items():
        if value is not None:
            raise ValidationError(f"{name}: restricted to Tapis services; not supported here")


@router.get("/ops/{systemId}/{path:path}", summary="List files (listFiles)")
def list_files(user: User, gateway: Gateway, systemId: str, path: str, limit: int = file_service.DEFAULT_LIMIT,
               offset: int = 0, recurse: bool = False, pattern: str | None = None, impersonationId: str | None = None,
               sharedCtx: str | None = None) -> dict[str, Any]:
    _refuse_restricted(impersonationId=impersonationId, sharedCtx=sharedCtx)
    listing = file_service.list_files(user, systemId, path, limit, offset, gateway=gateway, recurse=recurse,
                                      pattern=pattern)
    return ok(listing, "Files listed", {"recordCount": len(listing), "recordLimit": limit, "recordsSkipped": offset})


@router.post("/ops/{systemId}", summary="Create a directory (mkdir)")
def mkdir(user: User, gateway: Gateway, systemId: str, body: MkdirRequest, sharedCtx: str | None = None) -> dict[str, Any]:
    _refuse_restricted(sharedCtx=sharedCtx)
    created = file_service.mkdir(user, systemId, body.path, gateway=gateway)
    message = f"Directory /{created} created on system {systemId}"
    return ok(message, message)


@router.post("/ops/{systemId}/{path:path}", summary="Upload a file, creating parent directories (insert)")
def insert(user: User, gateway: Gateway, systemId: str, path: str, file: Annotated[UploadFile, File()]) -> dict[str, Any]:
    # The body was bounded (DLWS_MAX_UPLOAD_BYTES) by the app's middleware before it was parsed.
    written = file_service.upload(user, systemId, path, file.file.read(), gateway=gateway)
    message = f"File /{written} uploaded to system {systemId}"
    return ok(message, message)


@router.delete("/ops/{systemId}/{path:path}", summary="Delete a file or a directory tree")
def delete(user: User, gateway: Gateway, systemId: str, path: str) -> dict[str, Any]:
    deleted = file_service.delete(user, systemId, path, gateway=gateway)
    message = f"Path /{deleted} deleted from system {systemId}"
    return ok(message, message)


@router.get("/content/{systemId}/{path:path}", summary="Download a file, or a folder as zip (getContents)",
            response_class=Response, responses={200: {"content": {"application/octet-stream": {}, "application/zip": {}}}})
def get_contents(user: User, gateway: Gateway, systemId: str, path: str, zip: bool = False,
                 impersonationId: str | None = None, sharedCtx: str | None = None,
                 byte_range: Annotated[str | None, Header(alias="range")] = None,
                 more: Annotated[str | None, Header()] = None) -> Response:
    _refuse_restricted(impersonationId=impersonationId, sharedCtx=sharedCtx)
    if byte_range is not None or more is not None:  # partial downloads are not built: the whole file or nothing
        raise ValidationError(f"{'range' if byte_range is not None else 'more'}: partial content is not supported here")
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
    message = f"Permissions of {username} on /{path.strip('/')} revoked"
    return ok(message, message)


@router.put("/ops/{systemId}/{path:path}", summary="Move or copy a path within the system (moveCopy)")
def move_copy(user: User, gateway: Gateway, systemId: str, path: str, body: MoveCopyRequest) -> dict[str, Any]:
    target = file_service.move_copy(user, systemId, path, body.operation, body.newPath, gateway=gateway)
    message = f"{body.operation} of /{path.strip('/')} to /{target} done on system {systemId}"
    return ok(message, message)


# The facl routes first: /utils/linux/{systemId}/{path} would take /utils/linux/facl/... as system "facl".
@router.get("/utils/linux/facl/{systemId}/{path:path}", summary="A path's ACL entries (getFacl)")
def get_facl(user: User, gateway: Gateway, systemId: str, path: str) -> dict[str, Any]:
    return ok(file_service.get_facl(user, systemId, path, gateway=gateway), "ACL entries retrieved")


@router.post("/utils/linux/facl/{systemId}/{path:path}", summary="Add or remove ACL entries (setFacl; the system "
             "owner only)")
def set_facl(user: User, gateway: Gateway, systemId: str, path: str, body: NativeLinuxSetFaclRequest) -> dict[str, Any]:
    result = file_service.set_facl(user, systemId, path, body.operation, body.aclString, body.recursionMethod,
                                   gateway=gateway)
    return ok(result, f"setfacl {body.operation} run on /{path.strip('/')} of system {systemId}")


@router.get("/utils/linux/{systemId}/{path:path}", summary="Native stat information of a path (getStatInfo)")
def get_stat_info(user: User, gateway: Gateway, systemId: str, path: str, followLinks: bool = False) -> dict[str, Any]:
    return ok(file_service.stat_info(user, systemId, path, followLinks, gateway=gateway), "Stat information retrieved")


@router.post("/utils/linux/{systemId}/{path:path}", summary="chmod, chown or chgrp a path (runLinuxNativeOp)")
def run_linux_native_op(user: User, gateway: Gateway, systemId: str, path: str, body: NativeLinuxOpRequest,
                        recursive: bool = False) -> dict[str, Any]:
    result = file_service.native_op(user, systemId, path, body.operation, body.argument, recursive, gateway=gateway)
    return ok(result, f"{body.operation} run on /{path.strip('/')} of system {systemId}")


# --- sharing: no host I/O, the database only ---------------------------------------------------------


@router.get("/share/{systemId}/{path:path}", summary="With whom a path is shared (getShareInfo)")
def get_share_info(user: User, systemId: str, path: str) -> dict[str, Any]:
    return ok(file_shares.share_info(user, systemId, path), "Share information retrieved")


@router.post("/share/{systemId}/{path:path}", summary="Share a path with users: READ on it and below (sharePath)")
def share_path(user: User, systemId: str, path: str, body: ReqShareUpdate) -> dict[str, Any]:
    relative = file_shares.share(user, systemId, path, body.users)
    return ok(None, f"Path /{relative} of system {systemId} shared with {', '.join(body.users)}")


@router.post("/share_public/{systemId}/{path:path}", summary="Share a path with the whole tenant (sharePathPublic)")
def share_path_public(user: User, systemId: str, path: str) -> dict[str, Any]:
    relative = file_shares.share_public(user, systemId, path)
    return ok(None, f"Path /{relative} of system {systemId} shared publicly")


@router.post("/unshare/{systemId}/{path:path}", summary="Stop sharing a path with users (unSharePath)")
def unshare_path(user: User, systemId: str, path: str, body: ReqShareUpdate) -> dict[str, Any]:
    relative = file_shares.unshare(user, systemId, path, body.users)
    return ok(None, f"Path /{relative} of system {systemId} no longer shared with {', '.join(body.users)}")


@router.post("/unshare_public/{systemId}/{path:path}", summary="Stop sharing a path publicly (unSharePathPublic)")
def unshare_path_public(user: User, systemId: str, path: str) -> dict[str, Any]:
    relative = file_shares.unshare_public(user, systemId, path)
    return ok(None, f"Path /{relative} of system {systemId} no longer shared publicly")


@router.post("/unshare_all/{systemId}/{path:path}", summary="Remove every share of a path (unSharePathAll)")
def unshare_path_all(user: User, systemId: str, path: str, recurse: bool = False) -> dict[str, Any]:
    relative = file_shares.unshare_all(user, systemId, path, recurse)
    return ok(None, f"Every share of /{relative}{' and below' if recurse else ''} on system {systemId} removed")
