"""Registering and reading systems and apps."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError as PydanticValidationError

from dlws_flow.adapters.transports.ssh import fetch_host_key as fetch_host_key_of
from dlws_flow.domain.field_support import checked
from dlws_flow.domain.records import AppSpec, SystemSpec
from dlws_flow.domain.resolve import SBATCH_WORD
from dlws_flow.errors import ValidationError
from dlws_flow.services.host_keys import require_trust_policy
from dlws_flow.settings import get_settings
from dlws_flow.store import repositories as repo
from dlws_flow.store.db import session_scope


def pydantic_message(exc: PydanticValidationError) -> str:
    parts = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error["loc"]) or "request"
        parts.append(f"{where}: {error['msg'].removeprefix('Value error, ')}")
    return "; ".join(parts)


def checked_request(data: dict[str, Any], record: str, what: str) -> dict[str, Any]:
    """Every field accounted for (``domain.field_support``): unknown and refused fields are a 400 naming them."""
    try:
        return checked(data, record)
    except ValidationError as exc:
        raise ValidationError(f"invalid {what}: {exc}") from exc


def parse_system(data: dict[str, Any]) -> SystemSpec:
    """A system record from a request; read-only fields (``uuid``, the fingerprints a view shows) are never input."""
    try:
        spec = SystemSpec.model_validate(checked_request(data, "system", "system"))
    except PydanticValidationError as exc:
        raise ValidationError(f"invalid system: {pydantic_message(exc)}") from exc
    for queue in spec.batchLogicalQueues:
        # Written as is into the job script's "#SBATCH --partition=" line: a newline would start a shell line.
        if not SBATCH_WORD.fullmatch(queue.hpcQueueName):
            raise ValidationError(f"invalid system: batchLogicalQueues {queue.name!r}: hpcQueueName "
                                  f"{queue.hpcQueueName!r} may not contain spaces, quotes or control characters")
    return spec


def parse_app(data: dict[str, Any]) -> AppSpec:
    try:
        return AppSpec.model_validate(checked_request(data, "app", "app"))
    except PydanticValidationError as exc:
        raise ValidationError(f"invalid app: {pydantic_message(exc)}") from exc


def add_system(data: dict[str, Any] | SystemSpec, *, owner: str | None = None, replace: bool = False,
               fetch_host_key: bool = False) -> dict[str, Any]:
    """Register an execution/storage system.

    Args:
        fetch_host_key: when the record carries no ``hostKey``, ask the host for its key now and record it with
            the system, as if given (strict from the start). Without it, an SSH system without ``hostKey`` is
            trusted on its first connection, or refused under ``DLWS_HOST_KEY_TRUST=strict``.
    """
    spec = data if isinstance(data, SystemSpec) else parse_system(data)
    settings = get_settings()
    owner = owner or spec.owner or settings.default_user
    if spec.transport == "SSH" and not spec.hostKey and fetch_host_key:
        spec = spec.model_copy(update={"hostKey": fetch_host_key_of(spec.host, spec.port, settings.ssh_connect_timeout)})
    require_trust_policy(spec)
    with session_scope() as session:
        row = repo.add_system(session, spec, owner, settings.tenant, replace=replace)
        return dict(row.spec)


def get_system(system_id: str) -> dict[str, Any]:
    with session_scope() as session:
        return dict(repo.get_system(session, system_id).spec)


def list_systems() -> list[dict[str, Any]]:
    with session_scope() as session:
        return [dict(r.spec) for r in repo.list_systems(session)]


def add_app(data: dict[str, Any] | AppSpec, *, owner: str | None = None, replace: bool = False) -> dict[str, Any]:
    spec = data if isinstance(data, AppSpec) else parse_app(data)
    settings = get_settings()
    with session_scope() as session:
        row = repo.add_app(session, spec, owner or spec.owner or settings.default_user, settings.tenant, replace=replace)
        return dict(row.spec)


def list_apps() -> list[dict[str, Any]]:
    with session_scope() as session:
        return [dict(r.spec) for r in repo.list_apps(session)]
