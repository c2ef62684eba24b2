"""Tapis PostIts: a link anyone may redeem, without a token, for one file or folder of a system.

- Creating one needs READ on the path (as a download does, ``services.files``); it is its creator's: only they
  (and admins of the tenant) list, read, change or delete it; to anyone else it does not exist (404).
- Its id is the secret: 122 random bits from the operating system's CSPRNG (``secrets``) in the UUID form the
  Tapis document gives ``postitId``, so it can be neither guessed nor enumerated.
- Redeeming takes one use with a compare-and-set (``repo.take_postit_use``), so concurrent redeems of the last
  use cannot both win, and gives it back if the download then fails. The file is read as the creator, whose
  READ permission is checked again at every redeem: revoking it (or removing the user) ends the PostIt.
- An expired or used-up PostIt answers 403 (PermissionDenied). The document lists 400, 403, 404 and 500 for
  ``redeemPostIt`` and no 410; 404 stays for an id that does not exist, so a used link tells its holder why it
  stopped working without telling anyone which ids exist.
"""

from __future__ import annotations

import io
import re
import secrets
import uuid
import zipfile
from datetime import UTC, datetime, timedelta
from typing import Any

from dlws_flow.errors import NotFoundError, PermissionDeniedError, ValidationError
from dlws_flow.services import files
from dlws_flow.services.auth import Principal, get_user
from dlws_flow.store import repositories as repo
from dlws_flow.store.db import session_scope
from dlws_flow.store.models import utcnow
from dlws_flow.store.models_transfers import PostItRow

DEFAULT_USES = 1
DEFAULT_VALID_SECONDS = 2_592_000  # 30 days, the document's default
INT32_MAX = 2_147_483_647
#: "unlimited": no use limit and no expiry (the latest instant every database stores).
NEVER = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)
DEFAULT_LIST_LIMIT = 100
ATTRIBUTES = ("postitId", "systemId", "owner", "tenantId", "path", "allowedUses", "timesUsed", "jwtUser",
              "jwtTenantId", "redeemUrl", "expiration", "created", "updated")
SUMMARY = ("postitId", "systemId", "owner", "path", "allowedUses", "timesUsed", "redeemUrl", "expiration")
_ORDER = re.compile(r"^(\w+)(?:\((asc|desc)\))?$")


def new_id() -> str:
    return str(uuid.UUID(bytes=secrets.token_bytes(16), version=4))


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def redeem_url(base_url: str, postit_id: str) -> str:
    return f"{base_url.rstrip('/')}/v3/files/postits/redeem/{postit_id}"


def view(row: PostItRow, base_url: str) -> dict[str, Any]:
    return {"postitId": row.id, "systemId": row.system_id, "owner": row.owner, "tenantId": row.tenant,
            "path": row.path, "allowedUses": row.allowed_uses, "timesUsed": row.times_used, "jwtUser": row.jwt_user,
            "jwtTenantId": row.jwt_tenant, "redeemUrl": redeem_url(base_url, row.id),
            "expiration": _iso(row.expiration), "created": _iso(row.created), "updated": _iso(row.updated)}


def _uses(value: Any, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not (value == -1 or 1 <= value <= INT32_MAX):
        raise ValidationError(f"{field} must be -1 (unlimited) or a whole number from 1 to {INT32_MAX}")
    return value


def create(principal: Principal, system_id: str, path: str, request: dict[str, Any], base_url: str) -> dict[str, Any]:
    """A PostIt for ``path`` (READ needed), ``allowedUses`` times (default 1) for ``validSeconds`` (default 30 days)."""
    uses = _uses(request.get("allowedUses", DEFAULT_USES), "allowedUses")
    seconds = request.get("validSeconds", DEFAULT_VALID_SECONDS)
    if isinstance(seconds, bool) or not isinstance(seconds, int) or not 1 <= seconds <= INT32_MAX:
        raise ValidationError(f"validSeconds must be a whole number from 1 to {INT32_MAX}")
    args = files._authorize(principal, system_id, files._path(path), "READ")
    now = utcnow()
    row = PostItRow(id=new_id(), tenant=principal.tenant, owner=principal.username, system_id=args["system_id"],
                    path=args["path"], allowed_uses=uses, times_used=0, jwt_user=principal.username,
                    jwt_tenant=principal.tenant, expiration=now + timedelta(seconds=seconds), created=now, updated=now)
    with session_scope() as session:
        repo.add_postit(session, row)
    return view(row, base_url)


def _mine(session, principal: Principal, postit_id: str) -> PostItRow:
    row = repo.get_postit(session, postit_id)
    if row.tenant != principal.tenant or (row.owner != principal.username and not principal.is_admin):
        raise NotFoundError(f"PostIt {postit_id} not found")
    return row


def get(principal: Principal, postit_id: str, base_url: str) -> dict[str, Any]:
    with session_scope() as session:
        return view(_mine(session, principal, postit_id), base_url)


def update(principal: Principal, postit_id: str, changes: dict[str, Any], base_url: str) -> dict[str, Any]:
    """Change ``allowedUses`` and/or ``expiration``, or make it ``unlimited`` (no use limit, no expiry)."""
    if not changes:
        raise ValidationError("give allowedUses, expiration or unlimited")
    values: dict[str, Any] = {}
    if changes.get("unlimited") is True:
        if "allowedUses" in changes or "expiration" in changes:
            raise ValidationError("unlimited=true conflicts with allowedUses and expiration: give one or the other")
        values = {"allowed_uses": -1, "expiration": NEVER}
    elif "unlimited" in changes and changes["unlimited"] is not False:
        raise ValidationError("unlimited must be true or false")
    elif "allowedUses" not in changes and "expiration" not in changes:
        raise ValidationError("unlimited=false changes nothing by itself: give allowedUses or expiration")
    if "allowedUses" in changes:
        values["allowed_uses"] = _uses(changes["allowedUses"], "allowedUses")
    if "expiration" in changes:
        expiration = changes["expiration"]
        if not isinstance(expiration, datetime):
            raise ValidationError("expiration must be a date-time")
        values["expiration"] = expiration if expiration.tzinfo else expiration.replace(tzinfo=UTC)
    with session_scope() as session:
        _mine(session, principal, postit_id)
        repo.update_postit(session, postit_id, **values)
    return get(principal, postit_id, base_url)


def delete(principal: Principal, postit_id: str) -> dict[str, int]:
    with session_scope() as session:
        _mine(session, principal, postit_id)
        return {"changes": repo.delete_postit(session, postit_id)}


def list_postits(principal: Principal, base_url: str, *, list_type: str = "OWNED", limit: int = DEFAULT_LIST_LIMIT,
                 order_by: str | None = None, skip: int = 0, start_after: str | None = None,
                 select: str = "summaryAttributes") -> list[dict[str, Any]]:
    """The caller's PostIts (``listType=ALL``: every one they may see, the whole tenant's for an admin)."""
    if list_type not in ("OWNED", "ALL"):
        raise ValidationError("listType must be OWNED or ALL")
    if skip < 0 or limit < -1:
        raise ValidationError("limit and skip must not be negative (limit -1: unlimited)")
    if start_after is not None and (not order_by or skip):
        raise ValidationError("startAfter needs orderBy, and excludes skip")
    fields = _selected(select)
    owner = None if list_type == "ALL" and principal.is_admin else principal.username
    with session_scope() as session:
        views = [view(row, base_url) for row in repo.list_postits(session, principal.tenant, owner)]
    if order_by:
        views = _ordered(views, order_by, start_after)
    views = views[skip:] if limit == -1 else views[skip:skip + limit]
    return [{name: item[name] for name in fields} for item in views]


def _attribute(name: str) -> str:
    name = "postitId" if name == "id" else name
    if name not in ATTRIBUTES:
        raise ValidationError(f"unknown PostIt attribute {name!r}; the attributes are {', '.join(ATTRIBUTES)}")
    return name


def _selected(select: str) -> tuple[str, ...]:
    if select == "allAttributes":
        return ATTRIBUTES
    if select == "summaryAttributes":
        return SUMMARY
    return tuple(_attribute(name.strip()) for name in select.split(",") if name.strip()) or SUMMARY


def _ordered(views: list[dict[str, Any]], order_by: str, start_after: str | None) -> list[dict[str, Any]]:
    match = _ORDER.match(order_by.strip())
    if not match:
        raise ValidationError(f"orderBy {order_by!r}: give an attribute, optionally with (asc) or (desc)")
    name, descending = _attribute(match.group(1)), match.group(2) == "desc"
    ordered = sorted(views, key=lambda item: item[name], reverse=descending)
    if start_after is None:
        return ordered
    numeric = name in ("allowedUses", "timesUsed")
    try:
        bound: Any = int(start_after) if numeric else start_after
    except ValueError as exc:
        raise ValidationError(f"startAfter must be a number for {name}") from exc
    return [item for item in ordered if (item[name] < bound if descending else item[name] > bound)]


def redeem(postit_id: str, zip: bool | None, *, gateway: files.FileGateway) -> dict[str, Any]:
    """The PostIt's file (``zip=true``: zipped) or folder (always zipped), read as its creator; takes one use.

    Raises:
        NotFoundError: no such PostIt. PermissionDeniedError: expired, used up, or its creator lost READ.
        ValidationError: ``zip=false`` for a folder.
    """
    now = utcnow()
    with session_scope() as session:
        taken = repo.take_postit_use(session, postit_id, now)
        row = session.get(PostItRow, postit_id)
    if row is None:
        raise NotFoundError(f"PostIt {postit_id} not found")
    if not taken:
        if row.expiration <= now:
            raise PermissionDeniedError(f"PostIt {postit_id} expired at {_iso(row.expiration)}")
        raise PermissionDeniedError(f"PostIt {postit_id} has been redeemed the {row.allowed_uses} times it allowed")
    try:
        return _download(row, zip, gateway)
    except BaseException:
        with session_scope() as session:
            repo.return_postit_use(session, postit_id)
        raise


def _download(row: PostItRow, zip: bool | None, gateway: files.FileGateway) -> dict[str, Any]:
    try:
        creator = get_user(row.owner)
    except NotFoundError as exc:
        raise PermissionDeniedError("the creator of this PostIt is no longer a user") from exc
    if creator.tenant != row.tenant:
        raise PermissionDeniedError("the creator of this PostIt is no longer a user of its tenant")
    args = files._authorize(creator, row.system_id, row.path, "READ")
    download = gateway.run("download", **args, zip=zip is not False, folder_needs_zip=zip is False)
    if zip and download["media_type"] != "application/zip":  # a single file, asked for zipped
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(download["filename"], download["content"])
        download = {"filename": f"{download['filename']}.zip", "content": buffer.getvalue(),
                    "media_type": "application/zip"}
    return download
