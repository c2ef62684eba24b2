"""The FastAPI application factory: ``uvicorn --factory api.app:create_app``."""

from __future__ import annotations

from fastapi import FastAPI

import dlws_flow


def create_app() -> FastAPI:
    app = FastAPI(title="dlws-flow", version=dlws_flow.__version__,
                  description="Tapis-style containerized jobs on VMs and Slurm, staged by Celery workers.")

    @app.on_event("startup")
    def _schema() -> None:
        from dlws_flow.store.db import migrate

        migrate()

    @app.get("/healthz", tags=["health"])
    def health() -> dict[str, str]:
        return {"status": "ok"}

    return app
