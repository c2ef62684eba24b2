"""501 for every operation of the Tapis documents that dlws-flow does not serve.

A Tapis client calling an operation we have not built must learn that it is not offered here, in the envelope
it parses, not a 404 or 405 as if it had the URL wrong. The routes are made from the documents
(``api.tapis.documents``) after every real route is mounted, so a real route always wins; they stay out of our
OpenAPI document, which lists only what is served. ``docs/tapis-coverage.md`` is the table of both.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.routing import compile_path

from api.envelope import tapis_error
from api.tapis.documents import Operation, operations, template_key

COVERAGE_DOC = "docs/tapis-coverage.md"


def served_keys(routes: Iterable[object]) -> set[tuple[str, str]]:
    return {template_key(method, route.path) for route in routes if isinstance(route, APIRoute)
            for method in route.methods}


def unbuilt(served: set[tuple[str, str]]) -> list[Operation]:
    return [op for op in operations() if template_key(op.method, op.path) not in served]


def _answer(operation: Operation):
    message = (f"{operation.operation_id} ({operation.method.upper()} {operation.path}) of the Tapis "
               f"{operation.service} API is not offered by dlws-flow; {COVERAGE_DOC} lists what is")

    def not_offered() -> JSONResponse:
        return JSONResponse(tapis_error(501, message), status_code=501)

    not_offered.__name__ = f"unbuilt_{operation.service}_{operation.operation_id}"
    return not_offered


def _example(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x1", path)


def install_unbuilt_routes(app: FastAPI, routes: Iterable[object]) -> None:
    """Mount a 501 answer for each document operation none of ``routes`` serves (call after mounting them).

    An answer goes in front of the served routes unless it would take one of their paths: /v3/jobs/hello
    must not reach /v3/jobs/{jobUuid}, nor .../linux/facl/{systemId}/{path} the served .../linux/{systemId}/{path}.
    """
    routes = list(routes)
    served = served_keys(routes)
    examples = [(method, _example(route.path)) for route in routes if isinstance(route, APIRoute)
                for method in route.methods]
    for operation in unbuilt(served):
        app.add_api_route(operation.route_path, _answer(operation), methods=[operation.method.upper()],
                          include_in_schema=False)
        pattern = compile_path(operation.route_path)[0]
        if not any(method == operation.method.upper() and pattern.match(path) for method, path in examples):
            app.router.routes.insert(0, app.router.routes.pop())
