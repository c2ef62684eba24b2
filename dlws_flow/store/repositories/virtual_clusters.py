"""Writes to the quota tables: ``virtual_clusters``, ``vc_members`` and ``vc_jobs`` (``services.quotas`` decides
what fits; admission's two compare-and-sets are here)."""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.orm import Session

from dlws_flow.store.models import utcnow
from dlws_flow.store.quota_models import VcJobRow, VcMemberRow, VirtualClusterRow


def put_virtual_cluster(session: Session, name: str, *, capacity: float, max_capacity: float, systems: list[str],
                        description: str | None) -> bool:
    """Create or update a VC (a None ``description`` keeps the stored one). Returns True when it was created."""
    row = session.get(VirtualClusterRow, name)
    created = row is None
    if created:
        row = VirtualClusterRow(name=name, admission_seq=0)
        session.add(row)
    row.capacity, row.max_capacity, row.systems = capacity, max_capacity, systems
    if description is not None:
        row.description = description
    return created


def delete_virtual_cluster(session: Session, row: VirtualClusterRow) -> None:
    session.delete(row)


def add_vc_member(session: Session, username: str, vc_name: str) -> None:
    session.add(VcMemberRow(username=username, vc_name=vc_name))


def delete_vc_memberships(session: Session, username: str) -> None:
    """Remove ``username`` from every VC (``default`` needs no membership)."""
    session.query(VcMemberRow).filter(VcMemberRow.username == username).delete()


def add_vc_job(session: Session, job_uuid: str, vc_name: str, system_id: str, *, cpu: int, memory_mb: int,
               gpu: int) -> None:
    """Record a new job's request against its VC, not admitted yet."""
    session.add(VcJobRow(job_uuid=job_uuid, vc_name=vc_name, system_id=system_id, cpu=cpu, memory_mb=memory_mb,
                         gpu=gpu, admitted=False, created=utcnow()))


def bump_vc_admission(session: Session, vc_name: str) -> bool:
    """Write the VC's row first (a row lock on PostgreSQL, the write lock on SQLite), so two admitters of one
    VC run one after the other. False when there is no such VC."""
    bumped = session.execute(update(VirtualClusterRow).where(VirtualClusterRow.name == vc_name)
                             .values(admission_seq=VirtualClusterRow.admission_seq + 1)
                             .execution_options(synchronize_session=False)).rowcount
    return bumped == 1


def admit_vc_job(session: Session, job_uuid: str) -> bool:
    """Flip ``admitted`` false -> true (compare-and-set): true for exactly one admitter of the job."""
    won = session.execute(update(VcJobRow).where(VcJobRow.job_uuid == job_uuid, VcJobRow.admitted.is_(False))
                          .values(admitted=True, admitted_at=utcnow())
                          .execution_options(synchronize_session=False)).rowcount
    return won == 1
