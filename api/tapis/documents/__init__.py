"""The Tapis v3 OpenAPI documents our ``/v3`` routes answer to, as published (the files tapipy is built from).

They are kept here, unchanged, so that the app can answer every operation they name (served, or 501 with the
envelope: ``api.tapis.unbuilt``), the coverage table in ``docs/tapis-coverage.md`` can be generated, and the
test that walks every operation can validate our responses against the schemas, all from a clean checkout.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import yaml

HERE = Path(__file__).parent
#: The service each document describes, by file name, in the order the coverage table lists them.
SERVICES = {"jobs": "openapi_v3-jobs.yml", "apps": "openapi_v3-apps.yml", "systems": "openapi_v3-systems.yml",
            "files": "openapi_v3-files.yml", "authenticator": "openapi_v3-authenticator.yml",
            "tokens": "openapi_v3-tokens.yml", "tenants": "openapi_v3-tenants.yml"}
METHODS = ("get", "put", "post", "patch", "delete")
#: Path parameters that hold a path with slashes (Starlette's ``{name:path}``).
PATH_PARAMETERS = ("path", "outputPath")


@dataclass(frozen=True)
class Operation:
    service: str
    method: str  # lower case
    path: str  # full path as served, e.g. /v3/jobs/{jobUuid}
    operation_id: str
    spec: dict[str, Any] = field(compare=False, hash=False, repr=False)

    @property
    def route_path(self) -> str:
        """The path as a Starlette route template (slash-holding parameters as ``{name:path}``)."""
        return re.sub(r"\{(" + "|".join(PATH_PARAMETERS) + r")\}", r"{\1:path}", self.path)


@functools.cache
def document(service: str) -> dict[str, Any]:
    with open(HERE / SERVICES[service], encoding="utf-8") as stream:
        return yaml.load(stream, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def _prefix(doc: dict[str, Any]) -> str:
    # The jobs document puts /v3 in its server URL and its paths start at /jobs; the others spell /v3 out.
    servers = doc.get("servers") or [{}]
    return urlparse(servers[0].get("url", "")).path.rstrip("/")


@functools.cache
def operations() -> tuple[Operation, ...]:
    """Every operation of the seven documents, in document order."""
    found = []
    for service in SERVICES:
        doc = document(service)
        prefix = _prefix(doc)
        for path, item in doc["paths"].items():
            full = path if path.startswith("/v3") else prefix + path
            for method in METHODS:
                if method in item:
                    found.append(Operation(service, method, full, item[method].get("operationId", ""), item[method]))
    return tuple(found)


def template_key(method: str, path: str) -> tuple[str, str]:
    """A (method, path) pair with parameter names erased, so ``/v3/x/{id}`` and ``/v3/x/{name:path}`` meet."""
    return method.lower(), re.sub(r"\{[^}]+\}", "{}", path)
