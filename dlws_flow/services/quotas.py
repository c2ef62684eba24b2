"""Virtual clusters as real quotas, and admission of the jobs submitted into them.

A virtual cluster (VC) names execution systems and two percentages of their summed resources (CPU cores,
memory, GPUs): ``capacity`` is its guaranteed share, ``maxCapacity`` what it may reach while the systems
have room left by every other VC. A job submitted into a VC records its request (``vc_jobs``) and stays
PENDING, not dispatched, until it fits; :func:`admit` dispatches the pending jobs of one VC oldest first
and stops at the first that does not fit (first come, first served: a large job is not overtaken).

Admission runs at submit and after every job end (the engine's job-end hook, ``engine.hooks.job_ended``, calls :func:`on_job_end`). Two admitters of
one VC are serialised by bumping the VC row before reading usage: a row lock on PostgreSQL, the database
write lock on SQLite. ``admitted`` flips false -> true with a compare-and-set, so no job is started twice.

System resources come from the system record's ``notes``: ``{"cpu": 16, "memoryMB": 64000, "gpu": 0}``;
without them a BATCH system counts its largest logical queue (maxNodeCount x maxCoresPerNode /
maxMemoryMB), anything else counts zero (and accepts no VC job).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dlws_flow.domain.states import TERMINAL_STATES, JobStatus
from dlws_flow.errors import ConflictError, NotFoundError, ValidationError
from dlws_flow.services.auth import Principal
from dlws_flow.store import repositories as repo
from dlws_flow.store.db import session_scope
from dlws_flow.store.models import JobRow, SystemRow
from dlws_flow.store.quota_models import VcJobRow, VcMemberRow, VirtualClusterRow

log = logging.getLogger(__name__)

DEFAULT_VC = "default"
VC_NAME = re.compile(r"^[A-Za-z0-9_]{1,64}$")
_ENDED = [s.value for s in TERMINAL_STATES]


@dataclass(frozen=True)
class Resources:
    cpu: int = 0
    memory_mb: int = 0
    gpu: int = 0

    def __add__(self, other: Resources) -> Resources:
        return Resources(self.cpu + other.cpu, self.memory_mb + other.memory_mb, self.gpu + other.gpu)

    def percent_of(self, total: Resources) -> float:
        """The largest share of ``total`` this uses, over the three dimensions (100 when a needed one is 0)."""
        shares = []
        for used, whole in ((self.cpu, total.cpu), (self.memory_mb, total.memory_mb), (self.gpu, total.gpu)):
            if used:
                shares.append(100.0 * used / whole if whole else float("inf"))
        return max(shares, default=0.0)


def system_resources(row: SystemRow) -> Resources:
    """What one system offers to virtual clusters (see the module docstring)."""
    spec = row.spec or {}
    notes = spec.get("notes") or {}
    if any(k in notes for k in ("cpu", "memoryMB", "gpu")):
        try:
            return Resources(int(notes.get("cpu", 0)), int(notes.get("memoryMB", 0)), int(notes.get("gpu", 0)))
        except (TypeError, ValueError):
            log.warning("system %s: notes cpu/memoryMB/gpu are not integers; counting no resources", row.id)
            return Resources()
    queues = spec.get("batchLogicalQueues") or []
    best = Resources()
    for queue in queues:
        nodes = queue.get("maxNodeCount") or 1
        candidate = Resources(nodes * (queue.get("maxCoresPerNode") or 0), nodes * (queue.get("maxMemoryMB") or 0), 0)
        if candidate.cpu > best.cpu:
            best = candidate
    return best


# --- virtual clusters ------------------------------------------------------------------------------


def _vc(session: Session, name: str) -> VirtualClusterRow:
    row = session.get(VirtualClusterRow, name) if isinstance(name, str) else None
    if row is None:
        raise NotFoundError(f"could not find virtual cluster {name}")
    return row


def _check_vc(capacity: Any, max_capacity: Any, systems: Any) -> tuple[float, float, list[str]]:
    try:
        capacity = float(capacity)
        max_capacity = float(max_capacity if max_capacity is not None else capacity)
    except (TypeError, ValueError) as exc:
        raise ValidationError("capacity and maxCapacity must be numbers (percent)") from exc
    if not 0 <= capacity <= 100 or not capacity <= max_capacity <= 100:
        raise ValidationError("need 0 <= capacity <= maxCapacity <= 100 (percent of the VC's systems)")
    if not isinstance(systems, list) or not all(isinstance(s, str) for s in systems):
        raise ValidationError("systems must be a list of system ids")
    return capacity, max_capacity, list(dict.fromkeys(systems))


def put_vc(name: str, *, capacity: Any, max_capacity: Any = None, systems: Any = None,
           description: str | None = None, dispatcher=None) -> bool:
    """Create or update a VC (admin; the route checks). Returns True when it was created.

    With a ``dispatcher``, waiting jobs a larger share lets in start at once; without one, at the next job
    end or reconciler run."""
    if not isinstance(name, str) or not VC_NAME.match(name):
        raise ValidationError("a virtual cluster name is 1-64 letters, digits or underscores")
    with session_scope() as session:
        row = session.get(VirtualClusterRow, name)
        capacity, max_capacity, systems = _check_vc(capacity, max_capacity,
                                                    systems if systems is not None else (row.systems if row else []))
        for system_id in systems:
            repo.get_system(session, system_id)
        created = repo.put_virtual_cluster(session, name, capacity=capacity, max_capacity=max_capacity,
                                           systems=systems, description=description)
    if dispatcher is not None:
        admit(name, dispatcher)  # a larger share may let waiting jobs in
    return created


def delete_vc(name: str) -> None:
    if name == DEFAULT_VC:
        raise ValidationError("the default virtual cluster cannot be removed")
    with session_scope() as session:
        row = _vc(session, name)
        live = session.scalar(select(func.count()).select_from(VcJobRow).join(JobRow, JobRow.uuid == VcJobRow.job_uuid)
                              .where(VcJobRow.vc_name == name, JobRow.status.not_in(_ENDED)))
        if live:
            raise ConflictError(f"virtual cluster {name} still has {live} unfinished jobs")
        repo.delete_virtual_cluster(session, row)


def vc_names() -> list[str]:
    with session_scope() as session:
        return list(session.scalars(select(VirtualClusterRow.name).order_by(VirtualClusterRow.name)))


def _usage(session: Session, vc_name: str | None = None, systems: list[str] | None = None) -> tuple[Resources, int]:
    """Resources held by admitted, unfinished jobs (of one VC, or on some systems) and how many hold them."""
    query = (select(func.coalesce(func.sum(VcJobRow.cpu), 0), func.coalesce(func.sum(VcJobRow.memory_mb), 0),
                    func.coalesce(func.sum(VcJobRow.gpu), 0), func.count())
             .join(JobRow, JobRow.uuid == VcJobRow.job_uuid)
             .where(VcJobRow.admitted.is_(True), JobRow.status.not_in(_ENDED)))
    if vc_name is not None:
        query = query.where(VcJobRow.vc_name == vc_name)
    if systems is not None:
        query = query.where(VcJobRow.system_id.in_(systems))
    cpu, memory, gpu, count = session.execute(query).one()
    return Resources(int(cpu), int(memory), int(gpu)), int(count)


def _totals(session: Session, systems: list[str]) -> Resources:
    total = Resources()
    for system_id in systems:
        row = session.get(SystemRow, system_id)
        if row is not None and not row.deleted and row.enabled:
            total = total + system_resources(row)
    return total


def status(name: str) -> dict[str, Any]:
    """The OpenPAI virtual-cluster status, from live data."""
    with session_scope() as session:
        return _status(session, _vc(session, name))


def statuses() -> dict[str, dict[str, Any]]:
    with session_scope() as session:
        rows = session.scalars(select(VirtualClusterRow).order_by(VirtualClusterRow.name)).all()
        return {row.name: _status(session, row) for row in rows}


def _status(session: Session, row: VirtualClusterRow) -> dict[str, Any]:
    total = _totals(session, row.systems)
    used, active = _usage(session, row.name)
    pending = session.scalar(select(func.count()).select_from(VcJobRow).join(JobRow, JobRow.uuid == VcJobRow.job_uuid)
                             .where(VcJobRow.vc_name == row.name, VcJobRow.admitted.is_(False),
                                    JobRow.status.not_in(_ENDED))) or 0
    used_capacity = used.percent_of(total)
    return {
        "capacity": row.capacity, "maxCapacity": row.max_capacity,
        "usedCapacity": round(used_capacity, 2) if used_capacity != float("inf") else 100.0,
        "numActiveJobs": active, "numJobs": active + pending, "numPendingJobs": pending,
        "resourcesUsed": {"memory": used.memory_mb, "vCores": used.cpu, "GPUs": used.gpu},
        # additions of ours: what the percentages are of, and where jobs run
        "resourcesTotal": {"memory": total.memory_mb, "vCores": total.cpu, "GPUs": total.gpu},
        "systems": list(row.systems), "description": row.description, "status": "RUNNING",
    }


# --- members ---------------------------------------------------------------------------------------


def set_user_vcs(username: str, names: list[str]) -> None:
    """Replace a user's VCs (``default`` is always implied)."""
    with session_scope() as session:
        for name in names:
            _vc(session, name)
        repo.delete_vc_memberships(session, username)
        for name in dict.fromkeys(names):
            if name != DEFAULT_VC:
                repo.add_vc_member(session, username, name)


def user_vcs(username: str) -> list[str]:
    with session_scope() as session:
        names = session.scalars(select(VcMemberRow.vc_name).where(VcMemberRow.username == username)).all()
    return [DEFAULT_VC, *sorted(n for n in names if n != DEFAULT_VC)]


def remove_user(username: str) -> None:
    with session_scope() as session:
        repo.delete_vc_memberships(session, username)


def may_use(principal: Principal, name: str) -> bool:
    return principal.is_admin or name == DEFAULT_VC or name in user_vcs(principal.username)


# --- admission -------------------------------------------------------------------------------------


def choose_system(vc_name: str, request: Resources) -> str:
    """The VC system with the most room (of its own total, across every VC) that can hold ``request``.

    Raises:
        NotFoundError: no such VC.
        ValidationError: the request can never run in this VC (beyond maxCapacity, or bigger than every system).
    """
    with session_scope() as session:
        vc = _vc(session, vc_name)
        total = _totals(session, vc.systems)
        if not vc.systems or total == Resources():
            raise ValidationError(f"virtual cluster {vc_name} has no systems with resources (see docs/configuration.md)")
        if request.percent_of(total) > vc.max_capacity:
            raise ValidationError(f"the request ({request.cpu} cores, {request.memory_mb} MB, {request.gpu} GPUs) exceeds "
                                  f"virtual cluster {vc_name}'s maxCapacity of {vc.max_capacity}%")
        best, best_room = None, None
        for system_id in vc.systems:
            row = session.get(SystemRow, system_id)
            if row is None or row.deleted or not row.enabled:
                continue
            own = system_resources(row)
            if request.percent_of(own) > 100:
                continue
            used, _ = _usage(session, systems=[system_id])
            room = 100 - used.percent_of(own) if own != Resources() else 0
            if best_room is None or room > best_room:
                best, best_room = system_id, room
        if best is None:
            raise ValidationError(f"no system of virtual cluster {vc_name} is large enough for one task "
                                  f"({request.cpu} cores, {request.memory_mb} MB, {request.gpu} GPUs)")
        return best


def hold(session: Session, job_uuid: str, vc_name: str, system_id: str, request: Resources) -> None:
    """Record a new job's request against its VC (not admitted yet), in the caller's transaction."""
    repo.add_vc_job(session, job_uuid, vc_name, system_id, cpu=request.cpu, memory_mb=request.memory_mb,
                    gpu=request.gpu)


def admit(vc_name: str, dispatcher) -> list[str]:
    """Start (with ``dispatcher``) the pending jobs of ``vc_name`` that now fit, oldest first. Returns their UUIDs."""
    admitted: list[str] = []
    with session_scope() as session:
        # Lock first (row lock / SQLite write lock): usage read below cannot change under us.
        if not repo.bump_vc_admission(session, vc_name):
            return []
        vc = session.get(VirtualClusterRow, vc_name)
        total = _totals(session, vc.systems)
        used, _ = _usage(session, vc_name)
        waiting = session.execute(select(VcJobRow).join(JobRow, JobRow.uuid == VcJobRow.job_uuid)
                                  .where(VcJobRow.vc_name == vc_name, VcJobRow.admitted.is_(False),
                                         JobRow.status == JobStatus.PENDING.value)
                                  .order_by(VcJobRow.created, VcJobRow.job_uuid)).scalars().all()
        for entry in waiting:
            request = Resources(entry.cpu, entry.memory_mb, entry.gpu)
            if not _fits(session, vc, total, used, request, entry.system_id):
                break
            if repo.admit_vc_job(session, entry.job_uuid):
                used = used + request
                admitted.append(entry.job_uuid)
    if admitted:
        for job_uuid in admitted:
            log.info("virtual cluster %s: admitting job %s", vc_name, job_uuid)
            dispatcher.start(job_uuid)
    return admitted


def _fits(session: Session, vc: VirtualClusterRow, total: Resources, used: Resources, request: Resources,
          system_id: str) -> bool:
    after = (used + request).percent_of(total)
    if after <= vc.capacity + 1e-9:
        return True
    if after > vc.max_capacity + 1e-9:
        return False
    # Beyond the guarantee, up to maxCapacity: only while the systems have room left by every VC.
    everyone, _ = _usage(session, systems=list(vc.systems))
    return (everyone + request).percent_of(total) <= 100 + 1e-9


def on_job_end(job_uuid: str, dispatcher) -> None:
    """After a job reached a terminal state (a job-end hook, registered by ``workers.dispatch``, which owns
    the dispatcher): its VC (if any) may admit waiting jobs now."""
    with session_scope() as session:
        entry = session.get(VcJobRow, job_uuid)
        vc_name = entry.vc_name if entry is not None else None
    if vc_name is not None:
        admit(vc_name, dispatcher)
