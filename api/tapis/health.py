"""The Tapis health, readiness and hello routes of the jobs, apps, systems and files services (no token).

Mounted before the services' own routers: ``/v3/apps/healthcheck`` would otherwise be taken as an app id.
A failing check answers 503 with the same body, as the documents specify, so a monitor reads the cause.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.envelope import EnvelopeRoute, ok
from dlws_flow.services import health

router = APIRouter(prefix="/v3", tags=["health"], route_class=EnvelopeRoute)


def _answer(ready: bool, result: dict[str, object], message: str) -> JSONResponse:
    body = ok(result, message if ready else f"not {message}")
    if not ready:
        body["status"] = "error"
    return JSONResponse(body, status_code=200 if ready else 503)


def _jobs_probe(kind: str, needs_broker: bool) -> JSONResponse:
    probe = health.probe()
    return _answer(probe.ready if needs_broker else probe.database, probe.as_tapis(), kind)


@router.get("/jobs/healthcheck", summary="Jobs health (database reachable)")
def jobs_health() -> JSONResponse:
    return _jobs_probe("healthy", needs_broker=False)


@router.get("/jobs/ready", summary="Jobs readiness (database and broker reachable)")
def jobs_ready() -> JSONResponse:
    return _jobs_probe("ready", needs_broker=True)


@router.get("/jobs/readycheck", summary="Jobs readiness (database and broker reachable)")
def jobs_readycheck() -> JSONResponse:
    return _jobs_probe("ready", needs_broker=True)


@router.get("/jobs/hello", summary="Hello (no checks)")
def jobs_hello() -> JSONResponse:
    return JSONResponse(ok({"message": "Hello from dlws-flow jobs"}, "hello"))


def _add_service_probes(service: str) -> None:
    def health_check() -> JSONResponse:
        probe = health.probe()
        return _answer(probe.database, probe.as_tapis(), "healthy")

    def ready_check() -> JSONResponse:
        probe = health.probe()
        return _answer(probe.ready, probe.as_tapis(), "ready")

    health_check.__name__, ready_check.__name__ = f"{service}_health", f"{service}_ready"
    router.add_api_route(f"/{service}/healthcheck", health_check, methods=["GET"],
                         summary=f"{service.capitalize()} health (database reachable)")
    router.add_api_route(f"/{service}/readycheck", ready_check, methods=["GET"],
                         summary=f"{service.capitalize()} readiness (database and broker reachable)")


for _service in ("apps", "systems", "files"):
    _add_service_probes(_service)
