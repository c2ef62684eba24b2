"""The reconciler: a job whose stage message was lost is found from the database and moved on."""

from __future__ import annotations

import pytest

from tests.integration.conftest import script_args, wait_status

pytestmark = [pytest.mark.ssh]


class LostMessages:
    """A dispatcher whose messages never arrive, as when the broker restarts without them."""

    def start(self, job_uuid: str, queue: str | None = None) -> None:
        pass

    def cancel(self, job_uuid: str) -> None:
        pass


def test_lost_first_message_is_re_enqueued(sif_app, host_shell):
    from dlws_flow.engine import reconcile
    from dlws_flow.services import jobs as job_service
    from workers.dispatch import CeleryDispatcher

    job = job_service.submit({"name": "lost-message", "appId": sif_app["id"], "appVersion": sif_app["version"],
                              "parameterSet": script_args('echo ran >> "$HOME/reconciled-$_tapisJobUUID"')},
                             LostMessages())
    assert reconcile.find_stalled() == [] or job["uuid"] not in [r.job_uuid for r in reconcile.find_stalled()]

    restarts = [r for r in reconcile.find_stalled(stall_seconds=0) if r.job_uuid == job["uuid"]]
    assert [(r.stage, r.reason) for r in restarts] == [("process_inputs", "no progress in PENDING")]
    # stamped: the next sweep of the same period leaves it alone, so a busy queue gets one copy, not many
    assert job["uuid"] not in [r.job_uuid for r in reconcile.find_stalled(stall_seconds=60)]

    CeleryDispatcher().resume(job["uuid"], restarts[0].stage)
    CeleryDispatcher().resume(job["uuid"], restarts[0].stage)  # a duplicate is harmless
    done = wait_status(job["uuid"], {"FINISHED", "FAILED", "CANCELLED"})
    assert done["status"] == "FINISHED", done["lastMessage"]
    assert host_shell(f"cat ~/reconciled-{job['uuid']}").splitlines() == ["ran"]


def test_beat_task_runs_the_sweep(sif_app):
    from workers.beat_tasks import reconcile_jobs

    assert reconcile_jobs.apply().get() >= 0


def test_unpolled_system_gets_its_monitors_back(sif_app):
    """QUEUED/RUNNING jobs of a (system, login) nobody polled for a while get a monitor task again."""
    from dlws_flow.engine import reconcile
    from dlws_flow.services import jobs as job_service
    from dlws_flow.store import repositories as repo
    from dlws_flow.store.db import session_scope
    from dlws_flow.store.models import JobRow

    job = job_service.submit({"name": "lost-monitor", "appId": sif_app["id"], "appVersion": sif_app["version"],
                              "parameterSet": script_args("echo x")}, LostMessages())
    with session_scope() as session:  # as if its monitor task vanished right after submission
        for old, new in (("PENDING", "PROCESSING_INPUTS"), ("PROCESSING_INPUTS", "STAGING_INPUTS"),
                         ("STAGING_INPUTS", "STAGING_JOB"), ("STAGING_JOB", "SUBMITTING_JOB"), ("SUBMITTING_JOB", "RUNNING")):
            repo.transition(session, job["uuid"], old, new, "test")
        session.get(JobRow, job["uuid"]).exec_login = "ghost-login"
    restarts = [r for r in reconcile.find_stalled(poll_seconds=0) if r.job_uuid == job["uuid"]]
    assert [r.stage for r in restarts] == ["monitor"]
    from dlws_flow.engine.control import mark_cancelled

    mark_cancelled(job["uuid"], "test over")  # it never ran anywhere: no monitor should keep looking for it
