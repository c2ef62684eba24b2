"""What the web dashboard (``api/ui``) shows, gathered from the other services with the caller's rights: a
page of jobs through the same search as ``GET /v3/jobs/search``, one job with its history as a timeline and
its family, and the overview's figures. Nothing here reaches a host (outputs and the live tail go through the
file gateway, ``services.outputs``)."""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from dlws_flow.domain.listing import ListRequest
from dlws_flow.domain.states import TERMINAL_STATES, JobStatus
from dlws_flow.services import jobs as job_service
from dlws_flow.services import metrics
from dlws_flow.services.auth import Principal
from dlws_flow.store.models import utcnow

PAGE_SIZE = 25
#: The job list's filters and the search fields they are (``field=value`` means ``eq``).
FILTERS = {"status": "status", "app": "appId", "system": "execSystemId"}
STATES = tuple(s.value for s in JobStatus)


@dataclass(frozen=True)
class Stay:
    """One status of a job's timeline: when it was entered, for how long (None: still in it), and why."""

    status: str
    entered: str
    seconds: float | None
    message: str | None


def job_page(principal: Principal, *, filters: dict[str, str], page: int) -> dict[str, Any]:
    """A page of the jobs the caller may read (their own and those shared with them; an admin: all), newest
    first, with the total count. Unknown filter values are the search's to refuse (400)."""
    params = tuple((FILTERS[name], value) for name, value in filters.items() if name in FILTERS and value)
    request = ListRequest(limit=PAGE_SIZE, skip=max(page, 0) * PAGE_SIZE, order_by="created(desc)", compute_total=True,
                          list_type="ALL_JOBS", params=params,
                          select="uuid,name,owner,status,appId,appVersion,execSystemId,created,lastUpdated,ended")
    found = job_service.search_page(principal, request)
    total = found.metadata.get("totalCount", len(found.records))
    return {"jobs": found.records, "total": total, "page": max(page, 0),
            "pages": max(1, -(-int(total) // PAGE_SIZE)) if isinstance(total, int) and total >= 0 else 1}


def timeline(history: list[dict[str, Any]], *, now: datetime | None = None) -> list[Stay]:
    """The job's status changes as stays: each lasts until the next change; the last one, until now unless
    the job has ended."""
    changes = [e for e in history if e.get("event") == "JOB_NEW_STATUS" and e.get("newStatus")]
    now = now or utcnow()
    stays = []
    for index, change in enumerate(changes):
        entered = datetime.fromisoformat(change["created"])
        if index + 1 < len(changes):
            seconds = (datetime.fromisoformat(changes[index + 1]["created"]) - entered).total_seconds()
        elif JobStatus(change["newStatus"]) in TERMINAL_STATES:
            seconds = None
        else:
            seconds = (now - entered.replace(tzinfo=entered.tzinfo or now.tzinfo)).total_seconds()
        stays.append(Stay(change["newStatus"], change["created"], max(seconds, 0.0) if seconds is not None else None,
                          change.get("description")))
    return stays


def job_view(principal: Principal, job_uuid: str) -> dict[str, Any]:
    """One job for its page: its record, timeline, parent and children (each only if the caller may read it)."""
    job = job_service.get_for(principal, job_uuid)
    history = job_service.history_for(principal, job_uuid)
    children = job_service.search_page(principal, ListRequest(
        limit=100, order_by="created(asc)", list_type="ALL_JOBS", params=(("parentJobUuid", job_uuid),),
        select="uuid,name,status")).records
    return {"job": job, "timeline": timeline(history), "children": children,
            "ended": JobStatus(job["status"]) in TERMINAL_STATES,
            "events": [e for e in history if e.get("event") != "JOB_NEW_STATUS"]}


def overview(principal: Principal) -> dict[str, Any]:
    """Jobs per state (an admin: all, from the metrics' one GROUP BY; anyone else: those they may read, in
    lifecycle order) and the state-change latencies."""
    snapshot = metrics.snapshot()
    if principal.is_admin:
        counts = Counter(snapshot.jobs_by_state)
    else:
        found = job_service.search_page(principal, ListRequest(limit=-1, list_type="ALL_JOBS", select="uuid,status"))
        counts = Counter(record["status"] for record in found.records)
    return {"counts": {state: counts[state] for state in STATES if counts[state]}, "latencies": latencies(snapshot)}


def latencies(snapshot: metrics.Snapshot) -> dict[str, dict[str, float]]:
    """Median and 90th percentile, in seconds, of the deployment's state-change latencies over the metrics'
    window (``/metrics`` shows the same histograms; they hold no job names or owners)."""
    figures = {}
    for name, values in [*snapshot.latency_seconds.items(), *(
            (f"in {status}", values) for status, values in sorted(snapshot.stage_seconds.items()))]:
        if values:
            ordered = sorted(values)
            figures[name] = {"median": statistics.median(ordered),
                             "p90": ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))], "count": len(ordered)}
    return figures
