"""The in-process Python API: ``from dlws_flow import submit_job, wait_for_job, ...``.

Works against the configured database and broker (``DLWS_DATABASE_URL``, ``DLWS_BROKER_URL``, or the
embedded defaults); a worker (``dlws-flow worker`` or ``dlws-flow up``) runs the stages.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from dlws_flow.domain.states import TERMINAL_STATES
from dlws_flow.errors import DlwsFlowError
from dlws_flow.services import catalog, outputs
from dlws_flow.services import jobs as job_service
from dlws_flow.services.file_ops import DirectFileGateway
from dlws_flow.store.db import migrate

_schema_ready = False


def _ensure_schema() -> None:
    """Bring the database to the current schema once per process, on first use."""
    global _schema_ready
    if not _schema_ready:
        migrate()
        _schema_ready = True


def _dispatcher():
    _ensure_schema()
    # Imported on first use, deliberately (as api/dependencies.py): the Celery app reads celeryconfig, which
    # for the embedded broker creates its folders; reading jobs and registering records need none of it.
    from workers.dispatch import CeleryDispatcher

    return CeleryDispatcher()


def submit_job(request: dict[str, Any] | None = None, *, owner: str | None = None, **fields: Any) -> dict[str, Any]:
    """Submit a job (a Tapis ``ReqSubmitJob``: ``name``, ``appId``, ``appVersion``, ...); returns the job."""
    return job_service.submit({**(request or {}), **fields}, _dispatcher(), owner=owner)


def _operator(owner: str | None) -> Any:
    """Who in-process calls act as: trusted as ``submit_job`` is (the deployment's own database), as ``owner``."""
    from dlws_flow.services.auth import Principal
    from dlws_flow.settings import get_settings

    settings = get_settings()
    return Principal(owner or settings.default_user, settings.tenant, is_admin=True)


def submit_sweep(request: dict[str, Any], *, owner: str | None = None) -> dict[str, Any]:
    """Submit a parameter sweep (``{"name", "job", "parameters", "combine"}``, docs/configuration.md): one job
    per combination of the parameters' values, each a normal job; returns the sweep with its jobs."""
    from dlws_flow.services import sweeps

    return sweeps.submit_sweep(_operator(owner), request, _dispatcher())


def cancel_sweep(sweep_id: str) -> dict[str, Any]:
    """Cancel every element of a sweep that has not ended (an array sweep's arrays with one ``scancel``)."""
    from dlws_flow.services import sweeps

    return sweeps.act(_operator(None), sweep_id, "cancel", _dispatcher())


def get_sweep(sweep_id: str) -> dict[str, Any]:
    """A sweep: its jobs (uuid, index, status) and how many are in each status."""
    from dlws_flow.services import sweeps

    _ensure_schema()
    return sweeps.get(_operator(None), sweep_id)


def get_job(job_uuid: str) -> dict[str, Any]:
    _ensure_schema()
    return job_service.get(job_uuid)


def get_job_history(job_uuid: str) -> list[dict[str, Any]]:
    _ensure_schema()
    return job_service.history(job_uuid)


def list_jobs(*, owner: str | None = None, status: list[str] | None = None, limit: int = 100) -> list[dict[str, Any]]:
    _ensure_schema()
    return job_service.list_all(owner=owner, status=status, limit=limit)


def cancel_job(job_uuid: str) -> dict[str, Any]:
    return job_service.cancel(job_uuid, _dispatcher())


def pause_job(job_uuid: str) -> dict[str, Any]:
    """Stop the job at its next stage boundary (a queued Slurm job is held in the queue)."""
    return job_service.pause(job_uuid, _dispatcher())


def resume_job(job_uuid: str) -> dict[str, Any]:
    """Continue a paused job from where it stopped."""
    return job_service.resume(job_uuid, _dispatcher())


def wait_for_job(job_uuid: str, timeout: float = 600.0, poll: float = 0.2,
                 on_status: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Block until the job is terminal; ``on_status`` is called on every status change."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        job = get_job(job_uuid)
        if job["status"] != last:
            last = job["status"]
            if on_status:
                on_status(job)
        if job["status"] in TERMINAL_STATES:
            return job
        if time.monotonic() > deadline:
            raise DlwsFlowError(f"job {job_uuid} still {job['status']} after {timeout:.0f} s")
        time.sleep(poll)


def list_job_outputs(job_uuid: str, path: str = "") -> list[dict[str, Any]]:
    _ensure_schema()
    return outputs.list_outputs(job_uuid, path, gateway=DirectFileGateway())


def download_job_output(job_uuid: str, path: str = "", *, archive_format: str = "zip") -> bytes:
    """A file's bytes, or a folder as a zip (or ``archive_format="tar"``)."""
    _ensure_schema()
    return outputs.download(job_uuid, path, archive_format=archive_format, gateway=DirectFileGateway()).content


def tail_job_output(job_uuid: str, offset: int = 0, path: str | None = None, limit: int = 65536) -> dict[str, Any]:
    """The job's output (``tapisjob.out`` unless ``path``) from byte ``offset``: ``text``, ``nextOffset``,
    ``size`` and whether the job ``ended`` (see ``services.outputs.tail``)."""
    _ensure_schema()
    return outputs.tail(job_uuid, path, offset, limit, gateway=DirectFileGateway())


def add_system(system: dict[str, Any], *, replace: bool = False, fetch_host_key: bool = False) -> dict[str, Any]:
    _ensure_schema()
    return catalog.add_system(system, replace=replace, fetch_host_key=fetch_host_key)


def list_systems() -> list[dict[str, Any]]:
    _ensure_schema()
    return catalog.list_systems()


def list_apps() -> list[dict[str, Any]]:
    _ensure_schema()
    return catalog.list_apps()


def add_app(app: dict[str, Any], *, replace: bool = False) -> dict[str, Any]:
    _ensure_schema()
    return catalog.add_app(app, replace=replace)
