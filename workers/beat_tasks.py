"""Periodic (beat) tasks: the reconciler that re-enqueues stages whose task was lost."""

from __future__ import annotations

from dlws_flow import reconcile
from workers.app import app


@app.task(name="dlws.reconcile", ignore_result=True)
def reconcile_jobs() -> int:
    """Re-enqueue the stage of every stalled job (``dlws_flow.reconcile``); returns how many."""
    from workers.dispatch import CeleryDispatcher

    from dlws_flow.services import quotas

    dispatcher = CeleryDispatcher()
    for vc_name in quotas.vc_names():  # admission normally runs when a job ends; this catches a lost end
        quotas.admit(vc_name, dispatcher)
    restarts = reconcile.find_stalled()
    for restart in restarts:
        dispatcher.resume(restart.job_uuid, restart.stage)
    return len(restarts)
