"""The FastAPI application factory: ``uvicorn --factory api.app:create_app``.

One app, one OpenAPI document (``/openapi.json``, Swagger UI at ``/docs``) for every surface: Tapis v3
(``/v3``), and the surfaces added by later modules. Routes are thin: they parse HTTP and call
``dlws_flow.services``; they never open SSH connections themselves.
"""

from __future__ import annotations

import contextlib
import importlib
import pkgutil

from fastapi import FastAPI

import api.families
import api.metrics
import api.openpai
import api.tapis
import api.tapis.health
import api.ui
import dlws_flow
from api.body_limit import BodyLimit
from api.envelope import install_error_handlers
from api.tapis.unbuilt import install_unbuilt_routes
from dlws_flow.services.auth import ensure_admin, prepare_logins
from dlws_flow.store.db import migrate


@contextlib.asynccontextmanager
async def _lifespan(app: FastAPI):
    migrate()
    ensure_admin()
    prepare_logins()  # a bad DLWS_LOGIN_LIMIT_* stops the start, not a first login
    yield


def create_app() -> FastAPI:
    app = FastAPI(title="dlws-flow", version=dlws_flow.__version__, lifespan=_lifespan,
                  description="Tapis-style containerized jobs on VMs and Slurm, staged by Celery workers.")
    install_error_handlers(app)

    app.add_middleware(BodyLimit)

    @app.get("/healthz", tags=["health"])
    def health() -> dict[str, str]:
        return {"status": "ok"}

    # Every module under api/tapis (and other surface packages) that defines ``router`` is mounted.
    routers = [api.tapis.health.router,  # first: /v3/apps/healthcheck is not an app id
               api.families.router,  # the DLWS /child API (family tokens, not access tokens)
               api.metrics.router]  # Prometheus, public (docs/operations.md)
    for package in (api.tapis, api.openpai):
        for module_info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
            module = importlib.import_module(f"{package.__name__}.{module_info.name}")
            if hasattr(module, "router") and module.router not in routers:
                routers.append(module.router)
    for router in routers:
        app.include_router(router)
    install_unbuilt_routes(app, [route for router in routers for route in router.routes])
    api.ui.install(app)  # the dashboard (/ui): pages for people, not in the OpenAPI document
    return app



