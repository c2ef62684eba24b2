"""Periodic (beat) tasks: the reconciler that re-enqueues stages whose task was lost (and transfer elements
whose worker died), and the recovery sweep that probes blocked systems and resumes their jobs."""

from __future__ import annotations

import logging

from dlws_flow.engine import reconcile, recovery
from dlws_flow.engine.probes import probe_system
from dlws_flow.services import quotas
from workers.app import app
from workers.dispatch import CeleryDispatcher
from workers.transfer_tasks import requeue_stalled_transfers

log = logging.getLogger(__name__)


@app.task(name="dlws.reconcile", ignore_result=True)
def reconcile_jobs() -> int:
    """Re-enqueue the stage of every stalled job (``dlws_flow.engine.reconcile``); returns how many."""

    dispatcher = CeleryDispatcher()
    for vc_name in quotas.vc_names():  # admission normally runs when a job ends; this catches a lost end
        quotas.admit(vc_name, dispatcher)
    restarts = reconcile.find_stalled()
    sent = 0
    for restart in restarts:
        try:
            if restart.sweep_id:
                dispatcher.sweep_stage(restart.sweep_id, restart.stage)
            else:
                dispatcher.resume(restart.job_uuid, restart.stage)
            sent += 1
        except Exception:  # one job that cannot be sent (its system deleted) must not hold back the others
            log.exception("reconciler: job %s: could not re-enqueue %s", restart.job_uuid, restart.stage)
    return sent + requeue_stalled_transfers()


@app.task(name="dlws.recover", ignore_result=True)
def recover_blocked() -> int:
    """Probe each due recovery condition once and re-enqueue the jobs it unblocks; returns how many."""

    dispatcher = CeleryDispatcher()
    resumes = recovery.sweep(probe_system)
    for resume in resumes:
        dispatcher.resume(resume.job_uuid, resume.stage)
    return len(resumes)
