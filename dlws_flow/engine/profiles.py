"""Which scheduler profile a batch job uses, and whether it may.

The name comes from the job (``--tapis-profile NAME`` in ``schedulerOptions``) or, when the job names none,
from the exec system's ``batchSchedulerProfile`` (Tapis: the request takes precedence). It is looked up first
in the system record's own ``schedulerProfiles`` (our addition, written by the system's owner), then in the
Tapis resource (``/v3/systems/schedulerProfile``): a system owner's profile of that name wins for jobs on
that system. A name found in neither fails the job with a message saying so; ``services.jobs.submit`` asks
the same question first, so a job usually hears it as a 400 at submit rather than a failure at staging.

A Tapis profile runs its module loads in the job's own shell, as the job's login. Anyone may create one, so
one is used only when its owner could run those commands in that job anyway: the job's owner, an admin, or
the owner of the exec system (who writes what runs in every job there). Anyone else's profile is refused:
otherwise a user could take a name before an admin does, or after a profile is deleted, and run their
commands in other users' jobs.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from dlws_flow.adapters.schedulers.slurm import split_profile
from dlws_flow.domain.records import SystemSpec
from dlws_flow.domain.scheduler_profile import SelectedProfile, from_resource, from_system_record
from dlws_flow.errors import ValidationError
from dlws_flow.store import repositories as repo
from dlws_flow.store.models import UserRow


def profile_name(system: SystemSpec, options: list[str]) -> str | None:
    """The profile a job asks for: ``--tapis-profile NAME``, else the system's ``batchSchedulerProfile``."""
    return split_profile(options)[0] or system.batchSchedulerProfile or None


def select_profile(session: Session, system: SystemSpec, system_owner: str, job_owner: str,
                   options: list[str]) -> SelectedProfile | None:
    """The profile of a batch job on ``system`` (None when it names none).

    Raises:
        ValidationError: the name is neither one of the system's profiles nor a Tapis profile, or the Tapis
            profile belongs to someone who may not run commands in this job.
    """
    name = profile_name(system, options)
    if not name:
        return None
    own = next((p for p in system.schedulerProfiles if p.get("name") == name), None)
    if own is not None:
        return from_system_record(system.id, own)
    row = repo.find_scheduler_profile(session, name)
    if row is None:
        raise ValidationError(f"scheduler profile {name!r} does not exist: it is neither defined on system {system.id} "
                              "(schedulerProfiles) nor a Tapis scheduler profile (POST /v3/systems/schedulerProfile)")
    if row.owner not in (job_owner, system_owner) and not _is_admin(session, row.owner):
        raise ValidationError(
            f"scheduler profile {name!r} belongs to {row.owner}: a profile runs its module loads in the job, so a "
            f"job uses only its owner's own profiles, an admin's, or those of the exec system's owner ({system_owner})")
    return from_resource(row.name, list(row.module_loads), list(row.hidden_options))


def _is_admin(session: Session, username: str) -> bool:
    user = session.get(UserRow, username)
    return bool(user and user.is_admin)
