"""Request bodies over ``DLWS_MAX_REQUEST_BYTES`` are refused with 413 before any route parses them,
whether the client declares their length or streams them in chunks."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from dlws_flow.settings import get_settings


@pytest.fixture(scope="module")
def client():
    from api.app import create_app

    with TestClient(create_app()) as test_client:
        yield test_client


def oversized() -> bytes:
    return b'{"name": "' + b"x" * get_settings().max_request_bytes + b'"}'


def test_declared_length_over_the_limit_is_413(client):
    response = client.post("/v3/jobs/submit", content=oversized(), headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert response.json()["message"] == f"request body larger than {get_settings().max_request_bytes} bytes"


def test_chunked_body_over_the_limit_is_413(client):
    body = oversized()

    def chunks():  # no Content-Length: httpx sends Transfer-Encoding: chunked
        for start in range(0, len(body), 65536):
            yield body[start:start + 65536]

    response = client.post("/v3/jobs/submit", content=chunks(), headers={"content-type": "application/json"})
    assert "content-length" not in {k.lower() for k in response.request.headers}
    assert response.status_code == 413
    assert "larger than" in response.json()["message"]


def test_openpai_routes_answer_413_in_their_own_error_shape(client):
    response = client.post("/api/v1/jobs", content=oversized(), headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert "larger than" in response.json()["message"]


def test_a_body_under_the_limit_reaches_the_route(client):
    response = client.post("/v3/jobs/submit", json={"name": "small"})
    assert response.status_code == 401  # no token: the route's own answer, not the limit's
