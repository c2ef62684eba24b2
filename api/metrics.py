"""``GET /metrics``: Prometheus text exposition, public like every Prometheus target (docs/operations.md).

A collector on its own registry reads the database at each scrape (``dlws_flow.services.metrics``); the
process-wide default registry is not used, so several API processes report the same figures.
"""

from __future__ import annotations

from bisect import bisect_left

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeHistogramMetricFamily, GaugeMetricFamily

from api.envelope import EnvelopeRoute
from dlws_flow.domain.states import JobStatus
from dlws_flow.services import metrics as service

router = APIRouter(tags=["metrics"], route_class=EnvelopeRoute)


def _buckets(values: list[float]) -> list[tuple[str, float]]:
    """Cumulative ``(le, count)`` pairs over ``service.BUCKETS`` plus ``+Inf``."""
    ordered = sorted(values)
    pairs = [(str(bound), float(bisect_left(ordered, bound + 1e-12))) for bound in service.BUCKETS]
    return [*pairs, ("+Inf", float(len(ordered)))]


class JobCollector:
    def collect(self):
        snap = service.snapshot()
        jobs = GaugeMetricFamily("dlws_jobs", "Jobs in the database by current state.", labels=["state"])
        for status in JobStatus:
            jobs.add_metric([str(status)], snap.jobs_by_state.get(str(status), 0))
        yield jobs
        window = int(service.WINDOW.total_seconds())
        stages = GaugeHistogramMetricFamily(
            "dlws_job_stage_duration_seconds",
            f"Time jobs spent in each state, for state changes in the last {window} s.", labels=["stage"])
        for stage, values in sorted(snap.stage_seconds.items()):
            stages.add_metric([stage], _buckets(values), gsum_value=sum(values))
        yield stages
        latency = GaugeHistogramMetricFamily(
            "dlws_job_state_change_latency_seconds",
            f"Submit -> RUNNING and RUNNING -> FINISHED, for jobs that got there in the last {window} s.",
            labels=["transition"])
        for transition in ("submit_to_running", "running_to_finished"):
            values = snap.latency_seconds.get(transition, [])
            latency.add_metric([transition], _buckets(values), gsum_value=sum(values))
        yield latency


_registry = CollectorRegistry(auto_describe=False)
_registry.register(JobCollector())


@router.get("/metrics", summary="Prometheus metrics (no token needed)", response_class=Response)
def metrics() -> Response:
    return Response(generate_latest(_registry), media_type=CONTENT_TYPE_LATEST)
