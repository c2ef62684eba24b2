"""Tapis scheduler profiles (``/v3/systems/schedulerProfile``): create, list, read, delete, and the check a
job submit makes on the profile it names.

Who may do what (Tapis): any signed-in user creates a profile, owned by them unless an admin names another
owner; everyone in the tenant reads every profile; the owner or an admin deletes one. Tapis has no update:
delete and create again. Which jobs may *use* a profile is ``engine.profiles``' rule (the job's owner's own,
an admin's, or the exec system owner's profiles).
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError as PydanticValidationError
from sqlalchemy.orm import Session

from dlws_flow.domain.job_spec import JobSpecView, arg_words
from dlws_flow.domain.records import SystemSpec
from dlws_flow.domain.resolve import ResolvedJob
from dlws_flow.domain.scheduler_profile import IGNORED_FIELDS, SchedulerProfileSpec
from dlws_flow.engine.profiles import select_profile
from dlws_flow.errors import NotFoundError, PermissionDeniedError, ValidationError
from dlws_flow.services import permissions as perms
from dlws_flow.services.auth import Principal, user_exists
from dlws_flow.store import repositories as repo
from dlws_flow.store.db import session_scope
from dlws_flow.store.models import SchedulerProfileRow

#: The request fields acted on (Tapis' ReqPostSchedulerProfile).
FIELDS = tuple(SchedulerProfileSpec.model_fields)


def view(row: SchedulerProfileRow) -> dict[str, Any]:
    """A profile as Tapis shows it (``SchedulerProfile``; no ``description`` when it has none)."""
    shown = {"tenant": row.tenant, "name": row.name, "description": row.description, "owner": row.owner,
             "moduleLoads": list(row.module_loads), "hiddenOptions": list(row.hidden_options),
             "created": repo.when(row.created), "updated": repo.when(row.created)}
    return {key: value for key, value in shown.items() if value is not None}


def parse_profile(data: Any, tenant: str) -> SchedulerProfileSpec:
    """A create request, validated: unknown fields refused by name; ``tenant`` must be the caller's; ``uuid``,
    ``created`` and ``updated`` (what a GET shows) are accepted and ignored, as Tapis does.

    Raises:
        ValidationError: naming each field that is wrong or unknown.
    """
    if not isinstance(data, dict):
        raise ValidationError("invalid scheduler profile: the body must be a JSON object")
    unknown = sorted(set(data) - set(FIELDS) - set(IGNORED_FIELDS) - {"tenant"})
    if unknown:
        raise ValidationError(f"invalid scheduler profile: {', '.join(unknown)}: not a field of a scheduler profile "
                              f"(not supported; the fields are {', '.join(FIELDS)})")
    if data.get("tenant") not in (None, tenant):
        raise ValidationError(f"invalid scheduler profile: tenant {data['tenant']!r}: profiles are created in the "
                              f"caller's tenant ({tenant})")
    try:
        return SchedulerProfileSpec.model_validate({k: v for k, v in data.items() if k in FIELDS})
    except PydanticValidationError as exc:
        raise ValidationError(f"invalid scheduler profile: {_message(exc)}") from exc


def _message(exc: PydanticValidationError) -> str:
    parts = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error["loc"]) or "request"
        text = "not a field of a module load (not supported)" if error["type"] == "extra_forbidden" \
            else error["msg"].removeprefix("Value error, ")
        parts.append(f"{where}: {text}")
    return "; ".join(parts)


def create(principal: Principal, data: Any) -> dict[str, Any]:
    """Create a profile owned by the caller, or by the user an admin names.

    Raises:
        ValidationError: bad input, or an admin named an owner who does not exist.
        PermissionDeniedError: a non-admin named another owner.
        ConflictError: the name is taken.
    """
    spec = parse_profile(data, principal.tenant)
    owner = spec.owner if spec.owner not in (None, "", "${apiUserId}") else principal.username
    if owner != principal.username:
        if not principal.is_admin:
            raise PermissionDeniedError(f"only an admin may create a scheduler profile owned by another user ({owner})")
        if not user_exists(owner):
            raise ValidationError(f"invalid scheduler profile: owner {owner!r} is not a user of this deployment")
    with session_scope() as session:
        return view(repo.add_scheduler_profile(session, spec, owner, principal.tenant))


def list_all(principal: Principal) -> list[dict[str, Any]]:
    with session_scope() as session:
        return [view(row) for row in repo.list_scheduler_profiles(session, principal.tenant)]


def _in_tenant(session: Session, principal: Principal, name: str) -> SchedulerProfileRow:
    row = repo.get_scheduler_profile(session, name)
    if row.tenant != principal.tenant:  # another tenant's: answered as a missing one
        raise NotFoundError(f"scheduler profile {name} not found")
    return row


def get(principal: Principal, name: str) -> dict[str, Any]:
    with session_scope() as session:
        return view(_in_tenant(session, principal, name))


def delete(principal: Principal, name: str) -> int:
    """Delete a profile (its owner or an admin). Jobs that name it afterwards are refused at submit.

    Raises:
        NotFoundError: no such profile. PermissionDeniedError: the caller neither owns it nor is an admin.
    """
    with session_scope() as session:
        row = _in_tenant(session, principal, name)
        perms.require_owner(principal, row.owner, f"only the owner of scheduler profile {name} ({row.owner}) "
                                                  "or an admin may delete it")
        return repo.delete_scheduler_profile(session, row)


def check_job_profile(session: Session, resolved: ResolvedJob, exec_system: SystemSpec, exec_owner: str) -> None:
    """At submit: the profile a batch job names (``--tapis-profile`` or the system's ``batchSchedulerProfile``)
    must exist and be one the job may use (``engine.profiles``), so a bad name is a 400 now rather than a
    failure at staging. Raises ValidationError."""
    if resolved.jobType != "BATCH":
        return
    options = arg_words(JobSpecView.of(resolved.as_dict()).parameterSet.schedulerOptions)
    select_profile(session, exec_system, exec_owner, resolved.owner, options)
