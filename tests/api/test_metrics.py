"""``/metrics``: counts by state from the jobs table, durations from the history, no token needed."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient


@pytest.fixture(scope="module")
def client():
    from api.app import create_app

    with TestClient(create_app()) as test_client:
        yield test_client


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample of the exposition text (0 when absent)."""
    wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
    match = re.search(rf"^{re.escape(name)}\{{{re.escape(wanted)}\}} (\S+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def add_job(history: list[tuple[str, float]]) -> str:
    """A job row (created PENDING) whose status changes came ``seconds`` after its creation; it ends in the last."""
    from dlws_flow.store import repositories as repo
    from dlws_flow.store.db import session_scope
    from dlws_flow.store.models import JobEventRow, JobRow, utcnow

    job_uuid = f"{uuid.uuid4()}-007"
    start = utcnow() - timedelta(minutes=5)
    with session_scope() as session:
        row = repo.insert_job(session, JobRow(uuid=job_uuid, name="m", owner="metrics_user", tenant="dlws", status="PENDING",
                                        app_id="a", app_version="1", job_type="FORK", exec_system_id="s",
                                        archive_system_id="s", request={}, spec={}, created=start))
        previous = "PENDING"
        for status, seconds in history[1:]:
            session.add(JobEventRow(job_uuid=job_uuid, event="JOB_NEW_STATUS", old_status=previous, new_status=status,
                                    created=start + timedelta(seconds=seconds)))
            previous = status
        row.status = previous
    return job_uuid


def test_metrics_counts_states_and_latencies(client):
    before = client.get("/metrics").text
    add_job([("PENDING", 0), ("RUNNING", 2), ("ARCHIVING", 7), ("FINISHED", 8)])
    add_job([("PENDING", 0), ("RUNNING", 3), ("ARCHIVING", 33), ("FINISHED", 34)])
    add_job([("PENDING", 0), ("RUNNING", 1)])
    add_job([("PENDING", 0)])

    response = client.get("/metrics")  # no token: Prometheus scrapes without one
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    text = response.text

    def delta(name: str, **labels: str) -> float:
        return sample(text, name, **labels) - sample(before, name, **labels)

    assert delta("dlws_jobs", state="FINISHED") == 2
    assert delta("dlws_jobs", state="RUNNING") == 1
    assert delta("dlws_jobs", state="PENDING") == 1
    assert "dlws_jobs{state=\"CANCELLED\"}" in text  # every state is reported, zero or not
    latency = "dlws_job_state_change_latency_seconds"
    assert delta(f"{latency}_gcount", transition="submit_to_running") == 3
    assert delta(f"{latency}_gsum", transition="submit_to_running") == pytest.approx(6)
    assert delta(f"{latency}_bucket", le="2.5", transition="submit_to_running") == 2  # 1 s and 2 s, not 3 s
    assert delta(f"{latency}_gcount", transition="running_to_finished") == 2
    assert delta(f"{latency}_bucket", le="10", transition="running_to_finished") == 1  # 6 s, not 31 s
    stage = "dlws_job_stage_duration_seconds"
    assert delta(f"{stage}_gsum", stage="RUNNING") == pytest.approx(5 + 30)
    assert delta(f"{stage}_gcount", stage="ARCHIVING") == 2
