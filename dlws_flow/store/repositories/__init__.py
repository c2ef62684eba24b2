"""Repositories: the only code that writes to the database, one module per table group.

This package is the store's public interface: callers import it (``from dlws_flow.store import repositories
as repo``) and call ``repo.<function>``, never a module of it, so a function can move between modules
without touching them. Each function takes the caller's session first and never commits: transaction
boundaries (``session_scope()``) stay with the services and the engine.

Which module writes which tables:

* :mod:`.systems` - ``systems`` and ``system_events`` (and the row lock of job-limit counts); :mod:`.credentials` - ``credentials``;
  :mod:`.grants` - ``grants``; :mod:`.apps` - ``apps``; :mod:`.history` - ``app_events``; :mod:`.sweeps` - ``sweeps``;
* :mod:`.jobs` - ``jobs`` and ``job_events`` (status changes through :func:`transition`, a compare-and-set);
  :mod:`.job_batches` - the same for many jobs at once (a sweep's elements);
* :mod:`.polls` - ``system_polls``; :mod:`.recovery` - ``recovery_conditions``;
* :mod:`.users` - ``users``; :mod:`.tokens` - ``tenant_signing_keys``, ``refresh_tokens``, ``revoked_tokens``;
  :mod:`.virtual_clusters` - ``virtual_clusters``, ``vc_members``, ``vc_jobs``;
* :mod:`.openpai_jobs` - ``openpai_jobs``; :mod:`.job_ssh` - ``job_ssh_entries``; :mod:`.families` - ``job_families``.
* :mod:`.scheduler_profiles` - ``scheduler_profiles`` (Tapis scheduler profiles).
* :mod:`.transfers` - ``transfer_tasks``, ``transfer_parents``, ``transfer_children``; :mod:`.postits` - ``postits``.
* :mod:`.search` writes nothing: it reads the job, app and system lists and searches, visibility included.

Subscriptions and the notification outbox are written by ``dlws_flow.store.outbox`` (in the event's own
transaction), SSH connection slots by ``dlws_flow.store.ssh_slots``.
"""

from __future__ import annotations

from dlws_flow.store.repositories.apps import (
    add_app,
    app_versions,
    get_app,
    list_apps,
    set_app_enabled,
    set_app_locked,
    set_app_owner,
    set_apps_deleted,
)
from dlws_flow.store.repositories.credentials import (
    delete_credentials,
    forget_system_access,
    get_credential,
    set_credential,
)
from dlws_flow.store.repositories.families import add_job_family, set_family_params
from dlws_flow.store.repositories.file_shares import (
    PUBLIC_SHARE,
    add_file_shares,
    delete_file_shares,
    delete_file_shares_on,
    file_shares_of,
)
from dlws_flow.store.repositories.grants import add_grants, delete_grants, delete_grants_on
from dlws_flow.store.repositories.history import add_app_event, app_history
from dlws_flow.store.repositories.job_batches import (
    active_sweep_element,
    any_sweep_element,
    array_dirs,
    array_element_ids,
    array_elements,
    sweep_last_change,
    transition_many,
    update_jobs,
)
from dlws_flow.store.repositories.job_ssh import drop_job_ssh_entry, job_ssh_entry, record_job_ssh_entry
from dlws_flow.store.repositories.jobs import (
    active_remote_jobs,
    add_job_event,
    get_job,
    insert_job,
    job_history,
    latest_remote_change,
    list_jobs,
    set_job_visible,
    stamp_stalled_job,
    transition,
    update_job_fields,
    when,
)
from dlws_flow.store.repositories.openpai_jobs import (
    add_openpai_job,
    delete_unstarted_openpai_job,
    erase_openpai_key,
    mark_openpai_stopped,
    record_openpai_restart,
    set_openpai_run_jobs,
)
from dlws_flow.store.repositories.polls import (
    add_poll_stamp,
    advance_poller,
    claim_poll,
    claim_poller,
    finish_poll,
    poll_count,
    poller_seen_since,
    release_poller,
    restamp_stale_poll,
)
from dlws_flow.store.repositories.postits import (
    add_postit,
    delete_postit,
    get_postit,
    list_postits,
    return_postit_use,
    take_postit_use,
    update_postit,
)
from dlws_flow.store.repositories.recovery import (
    claim_recovery_row,
    close_recovery_row,
    open_condition,
    open_recovery_row,
    record_failed_probe,
    reschedule_probe,
)
from dlws_flow.store.repositories.scheduler_profiles import (
    add_scheduler_profile,
    delete_scheduler_profile,
    find_scheduler_profile,
    get_scheduler_profile,
    list_scheduler_profiles,
)
from dlws_flow.store.repositories.search import PLAIN_FIELDS, search_records
from dlws_flow.store.repositories.sweeps import (
    add_sweep,
    delete_sweep,
    get_sweep,
    set_sweep_arrays,
    set_sweep_launch,
    sweep_elements,
    sweep_status_counts,
    sweeps_of,
)
from dlws_flow.store.repositories.systems import (
    accept_offered_host_key,
    add_system,
    add_system_event,
    child_systems,
    get_system,
    host_key_of,
    list_systems,
    lock_system_row,
    offer_host_key,
    pin_host_key,
    set_system_deleted,
    set_system_enabled,
    set_system_owner,
    set_system_parent,
    static_login,
    system_history,
    system_spec,
)
from dlws_flow.store.repositories.tokens import (
    add_refresh_token,
    add_revoked_token,
    add_signing_key,
    current_signing_key,
    refresh_token,
    revoke_refresh_session,
    revoke_refresh_token,
    revoked_token_ids,
    use_refresh_token,
)
from dlws_flow.store.repositories.transfers import (
    add_transfer,
    add_transfer_children,
    cancel_transfer,
    child_counts,
    claim_transfer_parent,
    finish_transfer_task,
    get_transfer,
    hand_transfer_parent,
    list_transfers,
    stalled_transfer_parents,
    start_transfer_task,
    transfer_children,
    transfer_parents,
    update_transfer_child,
    update_transfer_parent,
)
from dlws_flow.store.repositories.users import add_user, delete_user, set_user_admin, set_user_password
from dlws_flow.store.repositories.virtual_clusters import (
    add_vc_job,
    add_vc_member,
    admit_vc_job,
    bump_vc_admission,
    delete_vc_memberships,
    delete_virtual_cluster,
    put_virtual_cluster,
)

__all__ = [
    "PLAIN_FIELDS",
    "PUBLIC_SHARE",
    "accept_offered_host_key",
    "active_remote_jobs",
    "active_sweep_element",
    "add_app",
    "add_app_event",
    "add_file_shares",
    "add_grants",
    "add_job_event",
    "add_job_family",
    "add_openpai_job",
    "add_poll_stamp",
    "add_postit",
    "add_refresh_token",
    "add_revoked_token",
    "add_scheduler_profile",
    "add_signing_key",
    "add_sweep",
    "add_system",
    "add_system_event",
    "add_transfer",
    "add_transfer_children",
    "add_user",
    "add_vc_job",
    "add_vc_member",
    "admit_vc_job",
    "advance_poller",
    "any_sweep_element",
    "app_history",
    "app_versions",
    "array_dirs",
    "array_element_ids",
    "array_elements",
    "bump_vc_admission",
    "cancel_transfer",
    "child_counts",
    "child_systems",
    "claim_poll",
    "claim_poller",
    "claim_recovery_row",
    "claim_transfer_parent",
    "close_recovery_row",
    "current_signing_key",
    "delete_credentials",
    "delete_file_shares",
    "delete_file_shares_on",
    "delete_grants",
    "delete_grants_on",
    "delete_postit",
    "delete_scheduler_profile",
    "delete_sweep",
    "delete_unstarted_openpai_job",
    "delete_user",
    "delete_vc_memberships",
    "delete_virtual_cluster",
    "drop_job_ssh_entry",
    "erase_openpai_key",
    "file_shares_of",
    "find_scheduler_profile",
    "finish_poll",
    "finish_transfer_task",
    "forget_system_access",
    "get_app",
    "get_credential",
    "get_job",
    "get_postit",
    "get_scheduler_profile",
    "get_sweep",
    "get_system",
    "get_transfer",
    "hand_transfer_parent",
    "host_key_of",
    "insert_job",
    "job_history",
    "job_ssh_entry",
    "latest_remote_change",
    "list_apps",
    "list_jobs",
    "list_postits",
    "list_scheduler_profiles",
    "list_systems",
    "list_transfers",
    "lock_system_row",
    "mark_openpai_stopped",
    "offer_host_key",
    "open_condition",
    "open_recovery_row",
    "pin_host_key",
    "poll_count",
    "poller_seen_since",
    "put_virtual_cluster",
    "record_failed_probe",
    "record_job_ssh_entry",
    "record_openpai_restart",
    "refresh_token",
    "release_poller",
    "reschedule_probe",
    "restamp_stale_poll",
    "return_postit_use",
    "revoke_refresh_session",
    "revoke_refresh_token",
    "revoked_token_ids",
    "search_records",
    "set_app_enabled",
    "set_app_locked",
    "set_app_owner",
    "set_apps_deleted",
    "set_credential",
    "set_family_params",
    "set_job_visible",
    "set_openpai_run_jobs",
    "set_sweep_arrays",
    "set_sweep_launch",
    "set_system_deleted",
    "set_system_enabled",
    "set_system_owner",
    "set_system_parent",
    "set_user_admin",
    "set_user_password",
    "stalled_transfer_parents",
    "stamp_stalled_job",
    "start_transfer_task",
    "static_login",
    "sweep_elements",
    "sweep_last_change",
    "sweep_status_counts",
    "sweeps_of",
    "system_history",
    "system_spec",
    "take_postit_use",
    "transfer_children",
    "transfer_parents",
    "transition",
    "transition_many",
    "update_job_fields",
    "update_jobs",
    "update_postit",
    "update_transfer_child",
    "update_transfer_parent",
    "use_refresh_token",
    "when",
]
