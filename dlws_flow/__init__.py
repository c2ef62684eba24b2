"""dlws-flow: Tapis-style containerized jobs on VMs and Slurm, one Celery task per lifecycle stage."""

from __future__ import annotations

__version__ = "0.1.0"

_CLIENT_NAMES = {"submit_job", "submit_sweep", "get_sweep", "cancel_sweep", "get_job", "get_job_history", "wait_for_job", "list_jobs", "cancel_job", "pause_job", "resume_job",
                 "list_job_outputs", "download_job_output", "add_system", "add_app", "list_systems", "list_apps"}

__all__ = sorted(_CLIENT_NAMES | {"Client"})


def __getattr__(name: str):
    # Lazy: importing the package must not load Celery, SQLAlchemy or Paramiko.
    if name == "Client":
        from dlws_flow.http_client import Client

        return Client
    if name in _CLIENT_NAMES:
        from dlws_flow import client

        return getattr(client, name)
    raise AttributeError(name)
