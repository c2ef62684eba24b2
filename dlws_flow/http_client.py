"""``dlws_flow.Client``: the in-process API's functions (``submit_job``, ``get_job``, ...) over HTTP, against
a running dlws-flow server's Tapis v3 routes, for users who do not want tapipy.

    client = Client("https://dlws.example.org", "alice", "secret")
    job = client.submit_job(name="hello", appId="hello-sif", appVersion="1.0")
    client.wait_for_job(job["uuid"])
    print(client.download_job_output(job["uuid"], "tapisjob.out").decode())
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx

from dlws_flow.domain.states import TERMINAL_STATES
from dlws_flow.errors import (
    AuthenticationError,
    ConflictError,
    DlwsFlowError,
    NotFoundError,
    PermissionDeniedError,
    TransportError,
    ValidationError,
)

_ERRORS = {400: ValidationError, 403: PermissionDeniedError, 404: NotFoundError, 409: ConflictError}


class Client:
    """One user's session with a server. Tokens are fetched on first use and renewed before they expire."""

    def __init__(self, base_url: str, username: str, password: str, *, timeout: float = 60.0, verify: bool = True) -> None:
        self.base_url = base_url.rstrip("/")
        self._credentials = {"username": username, "password": password, "grant_type": "password"}
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout, verify=verify)
        self._token: str | None = None
        self._expires = datetime.min.replace(tzinfo=UTC)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- plumbing -----------------------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        if self._token is None or datetime.now(UTC) > self._expires - timedelta(seconds=30):
            result = self._call("POST", "/v3/oauth2/tokens", json=self._credentials, auth=False)
            token = result["access_token"]
            self._token = token["access_token"]
            self._expires = datetime.fromisoformat(token["expires_at"])
        return {"X-Tapis-Token": self._token}

    def _send(self, method: str, path: str, *, auth: bool = True, **kwargs: Any) -> httpx.Response:
        headers = self._headers() if auth else {}
        try:
            response = self._http.request(method, path, headers=headers, **kwargs)
        except httpx.HTTPError as exc:
            raise TransportError(f"cannot reach {self.base_url}: {exc}") from exc
        if response.status_code >= 400:
            try:
                message = response.json().get("message") or response.text
            except ValueError:
                message = response.text
            if response.status_code == 401:
                raise AuthenticationError(message)
            raise _ERRORS.get(response.status_code, DlwsFlowError)(f"HTTP {response.status_code}: {message}")
        return response

    def _call(self, method: str, path: str, *, auth: bool = True, **kwargs: Any) -> Any:
        return self._send(method, path, auth=auth, **kwargs).json()["result"]

    # --- jobs ---------------------------------------------------------------------------------

    def submit_job(self, request: dict[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
        return self._call("POST", "/v3/jobs/submit", json={**(request or {}), **fields})

    def get_job(self, job_uuid: str) -> dict[str, Any]:
        return self._call("GET", f"/v3/jobs/{quote(job_uuid)}")

    def get_job_history(self, job_uuid: str) -> list[dict[str, Any]]:
        return self._call("GET", f"/v3/jobs/{quote(job_uuid)}/history", params={"limit": -1})

    def list_jobs(self, *, status: list[str] | None = None, limit: int = 100) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"limit": limit, "select": "allAttributes"}
        if status:
            params["status.in"] = ",".join(status)
        return self._call("GET", "/v3/jobs/search", params=params)

    def cancel_job(self, job_uuid: str) -> dict[str, Any]:
        self._call("POST", f"/v3/jobs/{quote(job_uuid)}/cancel")
        return self.get_job(job_uuid)

    def pause_job(self, job_uuid: str) -> dict[str, Any]:
        self._call("POST", f"/v3/jobs/{quote(job_uuid)}/pause")
        return self.get_job(job_uuid)

    def resume_job(self, job_uuid: str) -> dict[str, Any]:
        self._call("POST", f"/v3/jobs/{quote(job_uuid)}/resume")
        return self.get_job(job_uuid)

    def wait_for_job(self, job_uuid: str, timeout: float = 600.0, poll: float = 0.5) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            job = self.get_job(job_uuid)
            if job["status"] in TERMINAL_STATES:
                return job
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {job_uuid} still {job['status']} after {timeout} s")
            time.sleep(poll)

    def list_job_outputs(self, job_uuid: str, path: str = "") -> list[dict[str, Any]]:
        return self._call("GET", f"/v3/jobs/{quote(job_uuid)}/output/list/{quote(path.lstrip('/'))}")

    def download_job_output(self, job_uuid: str, path: str = "", *, archive_format: str = "zip") -> bytes:
        params = {"format": archive_format} if archive_format else {}
        return self._send("GET", f"/v3/jobs/{quote(job_uuid)}/output/download/{quote(path.lstrip('/'))}",
                          params=params).content

    # --- systems and apps ---------------------------------------------------------------------

    def add_system(self, system: dict[str, Any]) -> dict[str, Any]:
        self._call("POST", "/v3/systems", json=system)
        return self._call("GET", f"/v3/systems/{quote(system['id'])}")

    def list_systems(self) -> list[dict[str, Any]]:
        return self._call("GET", "/v3/systems", params={"select": "allAttributes", "listType": "ALL", "limit": -1})

    def add_app(self, app: dict[str, Any]) -> dict[str, Any]:
        self._call("POST", "/v3/apps", json=app)
        return self._call("GET", f"/v3/apps/{quote(app['id'])}/{quote(app['version'])}")

    def list_apps(self) -> list[dict[str, Any]]:
        return self._call("GET", "/v3/apps", params={"select": "allAttributes", "listType": "ALL", "limit": -1})
