"""Parameter sweeps (ours): submit one request as many jobs, and list, read, cancel, pause and resume them as one.

Each element is stored through ``services.jobs.store_job`` with the sweep's caller, so it is checked,
authorized and stored exactly as a job sent on its own, and has its own UUID, history, outputs and permissions.
All elements are stored in one transaction: one refused element refuses the sweep and nothing of it remains.

How they go out (``launch``): on a Slurm system, as job arrays (``engine.sweep_launch``: one staging upload and
one ``sbatch --array``, throttled to ``maxConcurrent`` or the system's and queue's job limits, and one monitor for
the sweep); elsewhere, or with ``launch: jobs``, one job each, within the exec system's job limits
(``jobMaxJobs``, ``jobMaxJobsPerUser``), which is how a sweep on a VM is kept to a few at a time. Cancelling an
array sweep records every element CANCELLED and cancels its arrays with one ``scancel``.
"""

from __future__ import annotations

import uuid as uuidlib
from typing import Any, Protocol

from dlws_flow.adapters import registry
from dlws_flow.adapters.schedulers import ArrayLauncher
from dlws_flow.domain.job_spec import JobSpecView
from dlws_flow.domain.sweeps import element_request, launch_options, parse_sweep
from dlws_flow.errors import DlwsFlowError, NotFoundError, ValidationError
from dlws_flow.services import jobs as job_service
from dlws_flow.services import permissions as perms
from dlws_flow.services.auth import Principal
from dlws_flow.settings import get_settings
from dlws_flow.store import repositories as repo
from dlws_flow.store.db import session_scope
from dlws_flow.store.models import JobRow
from dlws_flow.store.models_sweeps import SweepRow


class SweepDispatcher(job_service.Dispatcher, Protocol):
    """The dispatcher, and the sweep's own tasks of an array launch (``workers.dispatch``)."""

    def start_sweep(self, sweep_id: str, queue: str | None = None) -> None: ...

    def cancel_sweep(self, sweep_id: str) -> None: ...


def submit_sweep(principal: Principal, request: dict[str, Any], dispatcher: SweepDispatcher) -> dict[str, Any]:
    name, template, assignments = parse_sweep(request, get_settings().sweep_max_elements)
    launch, max_concurrent = launch_options(request)
    sweep_id = f"{uuidlib.uuid4()}-sweep"
    uuids: list[str] = []
    with session_scope() as session:
        repo.add_sweep(session, SweepRow(id=sweep_id, name=name, owner=principal.username,
                                                 tenant=principal.tenant, request=request,
                                                 element_count=len(assignments), throttle=max_concurrent))
        in_array, queue = False, None
        for index, assignment in enumerate(assignments):
            element = element_request(template, name, sweep_id, index, assignment)
            try:
                row, queue = job_service.store_job(session, element, principal=principal, sweep=(sweep_id, index),
                                                   in_array=in_array)
            except DlwsFlowError as exc:  # the transaction rolls back: nothing of the sweep remains
                if index == 0:
                    raise
                raise ValidationError(f"element {index} of the sweep was refused ({exc}); "
                                      "nothing of the sweep was stored") from exc
            if index == 0 and _launches_as_array(session, row, launch):
                in_array = True
                repo.update_job_fields(session, row.uuid, in_array=True)
                repo.set_sweep_launch(session, sweep_id, "array")
            uuids.append(row.uuid)
    if in_array:
        dispatcher.start_sweep(sweep_id, queue=queue)
    else:
        for job_uuid in uuids:
            dispatcher.start(job_uuid, queue=queue)
    return get(principal, sweep_id)


def _launches_as_array(session, first: JobRow, launch: str) -> bool:
    """Whether the sweep goes out as job arrays: asked for (or ``auto``) and possible. A sweep asked to launch
    as an array where none can run is refused with the reason."""
    if launch == "jobs":
        return False
    reason = _why_no_array(session, first)
    if reason and launch == "array":
        raise ValidationError(f"launch array: {reason}")
    return reason is None


def _why_no_array(session, first: JobRow) -> str | None:
    system = repo.system_spec(repo.get_system(session, first.exec_system_id))
    if first.job_type != "BATCH":
        return f"its jobs are {first.job_type} jobs; job arrays are a batch scheduler's"
    if not issubclass(registry.adapter_class("scheduler", system.batchScheduler or "SLURM"), ArrayLauncher):
        return f"system {system.id}'s scheduler {system.batchScheduler} has no job arrays here"
    view = JobSpecView.of(first.spec)
    if view.fileInputs or view.fileInputArrays:
        return "its elements have file inputs, which are staged element by element"
    if registry.create("runtime", view.runtime).build_stop_command(first.uuid):
        return f"a {view.runtime} container outlives the cancel of its array task"
    return None


def _view(session, row: SweepRow, *, elements: bool) -> dict[str, Any]:
    view = {"id": row.id, "name": row.name, "owner": row.owner, "tenant": row.tenant, "size": row.element_count,
            "created": repo.when(row.created), "statusCounts": repo.sweep_status_counts(session, row.id),
            "launch": row.launch, "maxConcurrent": row.throttle,
            "arrays": [{"id": a.get("id"), "array": a["spec"], "offset": a["offset"]} for a in row.arrays or []]}
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


def act(principal: Principal, sweep_id: str, action: str, dispatcher: SweepDispatcher) -> dict[str, Any]:
    """Cancel, pause or resume every element that can be; the others (ended, not paused) are left as they are.
    An array sweep's elements are cancelled together: recorded CANCELLED one by one, killed by one ``scancel``
    of the arrays (an element that left the array is killed on its own)."""
    with session_scope() as session:
        sweep = _readable(session, principal, sweep_id)
        elements = repo.sweep_elements(session, sweep.id)
        in_array = set(repo.array_element_ids(session, sweep.id)) if sweep.launch == "array" else set()
    done, skipped = [], []
    for job_uuid, _index, _status in elements:
        try:
            if action == "cancel":
                job_service.cancel_for(principal, job_uuid, dispatcher, kill=job_uuid not in in_array)
            else:
                {"pause": job_service.pause_for, "resume": job_service.resume_for}[action](principal, job_uuid, dispatcher)
            done.append(job_uuid)
        except DlwsFlowError:  # this element cannot (it ended, or is not paused): the sweep's others still do
            skipped.append(job_uuid)
    if action == "cancel" and in_array:
        dispatcher.cancel_sweep(sweep_id)
    return {"id": sweep_id, "action": action, "changed": len(done), "unchanged": len(skipped)}
