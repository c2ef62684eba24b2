"""Parameter sweeps (ours): submit one request as many jobs, and list, read, cancel, pause and resume them as one.

Each element is submitted through ``services.jobs.submit`` with the sweep's caller, so it is checked,
authorized, stored and dispatched exactly as a job sent on its own, and has its own UUID, history, outputs and
permissions. Elements launch within the exec system's job limits (``jobMaxJobs``, ``jobMaxJobsPerUser``), which
is how a sweep on a VM is kept to a few at a time. The first element is submitted first: if it is refused,
nothing of the sweep remains and the answer is its error; an element refused later (a limit reached midway)
cancels the ones already submitted, so a sweep is whole or gone.
"""

from __future__ import annotations

import uuid as uuidlib
from typing import Any

from dlws_flow.domain.sweeps import element_request, parse_sweep
from dlws_flow.errors import DlwsFlowError, NotFoundError, ValidationError
from dlws_flow.services import jobs as job_service
from dlws_flow.services import permissions as perms
from dlws_flow.services.auth import Principal
from dlws_flow.settings import get_settings
from dlws_flow.store import repositories as repo
from dlws_flow.store.db import session_scope
from dlws_flow.store.models_sweeps import SweepRow


def submit_sweep(principal: Principal, request: dict[str, Any], dispatcher: job_service.Dispatcher) -> dict[str, Any]:
    name, template, assignments = parse_sweep(request, get_settings().sweep_max_elements)
    sweep_id = f"{uuidlib.uuid4()}-sweep"
    with session_scope() as session:
        repo.add_sweep(session, SweepRow(id=sweep_id, name=name, owner=principal.username, tenant=principal.tenant,
                                         request=request, element_count=len(assignments)))
    made: list[str] = []
    for index, assignment in enumerate(assignments):
        element = element_request(template, name, sweep_id, index, assignment)
        try:
            made.append(job_service.submit(element, dispatcher, principal=principal, sweep=(sweep_id, index))["uuid"])
        except DlwsFlowError as exc:
            _undo(principal, sweep_id, made, dispatcher)
            if index == 0:
                raise
            raise ValidationError(f"element {index} of the sweep was refused ({exc}); the {index} submitted before "
                                  "it were cancelled") from exc
    return get(principal, sweep_id)


def _undo(principal: Principal, sweep_id: str, made: list[str], dispatcher: job_service.Dispatcher) -> None:
    for job_uuid in made:
        job_service.cancel_for(principal, job_uuid, dispatcher)
    if not made:
        with session_scope() as session:
            repo.delete_sweep(session, sweep_id)


def _view(session, row: SweepRow, *, elements: bool) -> dict[str, Any]:
    view = {"id": row.id, "name": row.name, "owner": row.owner, "tenant": row.tenant, "size": row.element_count,
            "created": repo.when(row.created), "statusCounts": repo.sweep_status_counts(session, row.id)}
    if elements:
        view["jobs"] = [{"uuid": u, "index": i, "status": s} for u, i, s in repo.sweep_elements(session, row.id)]
    return view


def _readable(session, principal: Principal, sweep_id: str) -> SweepRow:
    """The sweep, for its owner or an admin; to anyone else it does not exist (its elements may be shared
    one by one, as any job)."""
    row = repo.get_sweep(session, sweep_id)
    if not perms.owns(principal, row.owner):
        raise NotFoundError(f"sweep {sweep_id} not found")
    return row


def get(principal: Principal, sweep_id: str) -> dict[str, Any]:
    with session_scope() as session:
        return _view(session, _readable(session, principal, sweep_id), elements=True)


def list_for(principal: Principal, limit: int = 100, skip: int = 0) -> list[dict[str, Any]]:
    with session_scope() as session:
        owner = None if principal.is_admin else principal.username
        return [_view(session, row, elements=False) for row in repo.sweeps_of(session, owner, limit, skip)]


def act(principal: Principal, sweep_id: str, action: str, dispatcher: job_service.Dispatcher) -> dict[str, Any]:
    """Cancel, pause or resume every element that can be; the others (ended, not paused) are left as they are."""
    run = {"cancel": job_service.cancel_for, "pause": job_service.pause_for, "resume": job_service.resume_for}[action]
    with session_scope() as session:
        elements = repo.sweep_elements(session, _readable(session, principal, sweep_id).id)
    done, skipped = [], []
    for job_uuid, _index, _status in elements:
        try:
            run(principal, job_uuid, dispatcher)
            done.append(job_uuid)
        except DlwsFlowError:  # this element cannot (it ended, or is not paused): the sweep's others still do
            skipped.append(job_uuid)
    return {"id": sweep_id, "action": action, "changed": len(done), "unchanged": len(skipped)}
