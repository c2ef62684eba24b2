"""The Tapis coverage table (docs/tapis-coverage.md) is what the app serves, and every operation the documents
name and we do not serve answers 501 with the envelope, even where a served template would take its path."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.tapis.documents import operations
from api.tapis_coverage import markdown, served_operations

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def client():
    from api.app import create_app

    with TestClient(create_app()) as test_client:
        yield test_client


def test_the_coverage_table_is_current():
    assert (ROOT / "docs" / "tapis-coverage.md").read_text() == markdown(), \
        "docs/tapis-coverage.md is stale: python -m api.tapis_coverage > docs/tapis-coverage.md"


def test_every_unserved_operation_answers_501_in_the_envelope(client):
    served = served_operations()
    unserved = [op for op in operations() if op not in served]
    assert unserved, "nothing left to check"
    for op in unserved:
        url = re.sub(r"\{[^}]+\}", "x1", op.path)
        response = client.request(op.method.upper(), url, json={})
        assert response.status_code == 501, (op.operation_id, url, response.status_code, response.text[:200])
        body = response.json()
        assert body["status"] == "error" and body["result"] is None
        assert op.operation_id in body["message"] and "not offered" in body["message"]
