"""The four benchmarks. Each returns a list of measures; a measure is a figure with its in-run baseline.

Every baseline does the same work without dlws-flow, in the same run, against the same database, broker and
hosts, so that the ratio says what our layers cost, not how fast this machine is.
"""

from __future__ import annotations

import collections
import itertools
import shlex
import statistics
import threading
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.stack import (
    BENCH_PASSWORD,
    BENCH_USER,
    Stack,
    cpu_seconds,
    host_client,
    machine_busy_seconds,
    run,
)

IN_FLIGHT = {"QUEUED", "RUNNING"}
ENDED = {"FINISHED", "FAILED", "CANCELLED"}


@dataclass
class Measure:
    name: str
    value: float
    unit: str
    baseline: float | None = None
    #: ``higher`` when a bigger figure is better (throughput); the ratio is always ours / baseline.
    better: str = "lower"
    note: str = ""

    @property
    def ratio(self) -> float | None:
        return self.value / self.baseline if self.baseline else None

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ratio": self.ratio}


def script_args(script: str) -> dict:
    return {"appArgs": [{"name": "shell", "arg": "sh -c"}, {"name": "script", "arg": shlex.quote(script)}]}


def register(stack: Stack) -> dict[str, str]:
    """The VM (fork) and Slurm systems on the SSH test host, and one busybox SIF app; all owned by the bench user."""
    from dlws_flow import add_app, add_system

    hosts = stack.hosts
    common = {"host": hosts["DLWS_TEST_SSH_HOST"], "port": int(hosts["DLWS_TEST_SSH_PORT"]),
              "effectiveUserId": hosts["DLWS_TEST_SSH_USER"], "rootDir": "/home/hpcuser", "canExec": True,
              "hostKey": hosts["DLWS_TEST_SSH_HOST_KEY"],
              "authnCredential": {"privateKey": Path(hosts["DLWS_TEST_SSH_KEY"]).read_text()}}
    vm, hpc = f"bench-vm-{stack.run_id}", f"bench-hpc-{stack.run_id}"
    add_system({**common, "id": vm, "defaultAuthnMethod": "PKI_KEYS", "jobWorkingDir": f"/benchwork-{stack.run_id}"},
               replace=True)
    add_system({**common, "id": hpc, "jobWorkingDir": f"/benchwork-{stack.run_id}", "canRunBatch": True,
                "batchScheduler": "SLURM", "batchDefaultLogicalQueue": "dev",
                "batchLogicalQueues": [{"name": "dev", "hpcQueueName": "debug"}]}, replace=True)
    app = f"bench-sif-{stack.run_id}"
    add_app({"id": app, "version": "1.0", "runtime": "SINGULARITY", "containerImage": hosts["DLWS_TEST_SIF"],
             "jobAttributes": {"execSystemId": vm, "maxMinutes": 10}}, replace=True)
    return {"vm": vm, "hpc": hpc, "app": app}


def _wait(uuids: list[str], wanted: set[str], timeout: float, every: float = 0.05) -> dict[str, str]:
    """Poll the jobs table until every job is in ``wanted`` (or the time is up); returns uuid -> status."""
    from sqlalchemy import select

    from dlws_flow.store.db import session_scope
    from dlws_flow.store.models import JobRow

    deadline = time.monotonic() + timeout
    while True:
        with session_scope() as session:
            states = dict(session.execute(select(JobRow.uuid, JobRow.status).where(JobRow.uuid.in_(uuids))).all())
        if all(s in wanted for s in states.values()) or time.monotonic() > deadline:
            return states
        time.sleep(every)


def _threads(n_clients: int, n_jobs: int, one_job) -> float:
    """Run ``one_job(client_index)`` ``n_jobs`` times spread over ``n_clients`` threads; returns seconds."""
    counter = iter(range(n_jobs))
    lock = threading.Lock()
    errors: list[BaseException] = []

    def loop(index: int) -> None:
        state = {}
        while True:
            with lock:
                if next(counter, None) is None:
                    return
            try:
                one_job(index, state)
            except BaseException as exc:  # noqa: BLE001 - reported after the run
                errors.append(exc)
                return

    threads = [threading.Thread(target=loop, args=(i,)) for i in range(n_clients)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    if errors:
        raise RuntimeError(f"{len(errors)} clients failed, first: {errors[0]!r}")
    return elapsed


def p1_submit_throughput(stack: Stack, ids: dict[str, str], api_url: str, n_jobs: int, n_clients: int,
                         processes: int) -> list[Measure]:
    """Jobs accepted per second through POST /v3/jobs/submit vs one INSERT (+ history row) and one chain per job.

    Both sides get the same ``processes`` (the API runs that many uvicorn workers; the baseline that many
    processes sharing the threads), so the ratio is what our layers cost, not how many cores each side used.
    The API enqueues on a queue no worker consumes, so neither side competes with a worker for the cores."""
    import multiprocessing

    import httpx

    token = httpx.post(f"{api_url}/v3/oauth2/tokens", json={"username": BENCH_USER, "password": BENCH_PASSWORD}
                       ).json()["result"]["access_token"]["access_token"]
    body = _p1_body(ids)

    def api_job(index: int, state: dict) -> None:
        if "http" not in state:  # one client per thread: building one loads the CA store (tens of ms)
            state["http"] = httpx.Client(headers={"X-Tapis-Token": token}, timeout=60)
        state["http"].post(f"{api_url}/v3/jobs/submit", json=body).raise_for_status()

    _threads(n_clients, min(100, n_jobs), api_job)  # warm-up: every API worker's connections and caches
    api_cpu = cpu_seconds(stack.api_pid)
    api_seconds = _threads(n_clients, n_jobs, api_job)
    api_cpu = cpu_seconds(stack.api_pid) - api_cpu

    context = multiprocessing.get_context("spawn")  # a fresh interpreter: no engine or broker pool forked
    go, results = context.Event(), context.Queue()
    shares = [n_jobs // processes + (k < n_jobs % processes) for k in range(processes)]
    threads = [n_clients // processes + (k < n_clients % processes) for k in range(processes)]
    workers = [context.Process(target=_p1_baseline_process, args=(ids, stack.p1_queue, share, n, go, results))
               for share, n in zip(shares, threads, strict=True)]
    for worker in workers:
        worker.start()
    ready = [results.get(timeout=120) for _ in workers]  # each has warmed up
    start = time.perf_counter()
    go.set()
    bare_cpu = sum(results.get(timeout=600) for _ in workers)
    bare_seconds = time.perf_counter() - start
    for worker in workers:
        worker.join()
    assert all(r == "ready" for r in ready)
    # CPU per job says where the time goes: the API's processes vs the baseline's.
    note = (f"{n_jobs} jobs, {n_clients} clients, {processes} processes each; CPU per job: "
            f"API {api_cpu / n_jobs * 1000:.1f} ms, baseline {bare_cpu / n_jobs * 1000:.1f} ms")
    return [Measure("P1 submit throughput", n_jobs / api_seconds, "jobs/s", n_jobs / bare_seconds, "higher", note)]


def _p1_body(ids: dict[str, str]) -> dict:
    return {"name": "p1", "appId": ids["app"], "appVersion": "1.0", "execSystemId": ids["vm"],
            "parameterSet": script_args("true")}


def _p1_baseline_process(ids: dict[str, str], queue: str, n_jobs: int, n_threads: int, go, results) -> None:
    """One baseline process (spawned; it inherits the run's DLWS_* environment): warm up, then on ``go`` insert
    and enqueue ``n_jobs`` from ``n_threads`` threads; report the CPU seconds the measured part used."""
    from dlws_flow.store import repositories as repo
    from dlws_flow.store.db import session_scope
    from dlws_flow.store.models import JobRow, utcnow
    from workers.dispatch import job_chain

    body = _p1_body(ids)

    def bare_job(index: int, state: dict) -> None:
        job_uuid = f"{uuid.uuid4()}-007"
        with session_scope() as session:
            repo.insert_job(session, JobRow(uuid=job_uuid, name="p1-baseline", owner=BENCH_USER, tenant="dlws",
                                            status="PENDING", app_id=ids["app"], app_version="1.0", job_type="FORK",
                                            exec_system_id=ids["vm"], archive_system_id=ids["vm"], request=body,
                                            spec=body, created=utcnow()))
        job_chain(job_uuid, queue=queue).apply_async()

    _threads(n_threads, min(50, n_jobs), bare_job)
    results.put("ready")
    go.wait()
    cpu = time.process_time()
    _threads(n_threads, n_jobs, bare_job)
    results.put(time.process_time() - cpu)


def p5_job_list(stack: Stack, ids: dict[str, str], api_url: str, n_rows: int, repeats: int = 20) -> list[Measure]:
    """GET /v3/jobs/list (100 newest of the caller's jobs) with ``n_rows`` jobs in the table, vs the same
    SELECT ... ORDER BY created DESC, uuid DESC LIMIT 100 sent straight to PostgreSQL.

    The filler rows share one ``created`` on purpose: the order then rests on the uuid tie-break alone."""
    import httpx
    import psycopg
    from sqlalchemy import func, insert, select

    from dlws_flow.store.db import session_scope
    from dlws_flow.store.models import JobRow, utcnow

    with session_scope() as session:
        have = session.scalar(select(func.count()).select_from(JobRow))
        model = session.scalars(select(JobRow).where(JobRow.name == "p1").limit(1)).first()
        spec, request = (model.spec, model.request) if model else (_p1_body(ids), _p1_body(ids))
    start = time.perf_counter()
    now = utcnow()
    for chunk in range(have, n_rows, 5000):  # the filler: finished jobs, each with a real job's spec
        rows = [{"uuid": f"{uuid.uuid4()}-007", "name": "p5-filler", "owner": BENCH_USER, "tenant": "dlws",
                 "status": "FINISHED", "app_id": ids["app"], "app_version": "1.0", "job_type": "FORK",
                 "exec_system_id": ids["vm"], "archive_system_id": ids["vm"], "request": request, "spec": spec,
                 "created": now, "last_updated": now, "visible": True}
                for _ in range(min(5000, n_rows - chunk))]
        with session_scope() as session:
            session.execute(insert(JobRow), rows)
    fill_seconds = time.perf_counter() - start
    with psycopg.connect(stack.database_url.replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute("ANALYZE jobs")
        total = conn.execute("SELECT count(*) FROM jobs").fetchone()[0]

        def direct() -> None:
            conn.execute("SELECT * FROM jobs WHERE owner = %s AND visible ORDER BY created DESC, uuid DESC LIMIT 100",
                         (BENCH_USER,)).fetchall()

        baseline = _median_seconds(direct, repeats)
    token = httpx.post(f"{api_url}/v3/oauth2/tokens", json={"username": BENCH_USER, "password": BENCH_PASSWORD}
                       ).json()["result"]["access_token"]["access_token"]
    with httpx.Client(headers={"X-Tapis-Token": token}, timeout=60) as client:
        def listed() -> None:
            response = client.get(f"{api_url}/v3/jobs/list", params={"limit": 100})
            response.raise_for_status()
            assert len(response.json()["result"]) == 100

        ours = _median_seconds(listed, repeats)
    note = f"{total} jobs in the table (filled in {fill_seconds:.0f} s), median of {repeats}"
    return [Measure(f"P5 job list, 100 of {total // 1000}k", ours, "s", baseline, "lower", note)]


def _median_seconds(action, repeats: int) -> float:
    action()  # warm: plans, caches, connections
    timings = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        action()
        timings.append(time.perf_counter() - t0)
    return statistics.median(timings)


def p2_lifecycle(stack: Stack, ids: dict[str, str], runs: int) -> list[Measure]:
    """One trivial SIF job on the VM system, submit -> FINISHED (with archive), vs the same steps by hand."""
    from dlws_flow import submit_job

    log_path = Path(stack.hosts["DLWS_TEST_SSH_COMMAND_LOG"])
    ours = []
    for n in range(runs + 1):  # the first run warms the worker's SSH pool and is not counted
        if n == 1:
            ours_from = log_path.stat().st_size
        start = time.perf_counter()
        job = submit_job(name=f"p2-{n}", appId=ids["app"], appVersion="1.0", execSystemId=ids["vm"],
                         parameterSet=script_args("true"))
        status = _wait([job["uuid"]], ENDED, 120, every=0.01)[job["uuid"]]
        if status != "FINISHED":
            raise RuntimeError(f"P2 job {job['uuid']} ended {status}")
        if n:
            ours.append(time.perf_counter() - start)

    ours_commands = _commands(log_path, ours_from, log_path.stat().st_size)
    client = host_client(stack)
    sftp = client.open_sftp()
    sif = stack.hosts["DLWS_TEST_SIF"]
    by_hand = []
    for n in range(runs + 1):
        if n == 1:
            by_hand_from = log_path.stat().st_size
        start = time.perf_counter()
        work = f"/home/hpcuser/benchwork-{stack.run_id}/by-hand-{n}"
        run(client, f"mkdir -p {work}/output {work}/archive")
        with sftp.open(f"{work}/run.sh", "w") as script:
            script.write(f"#!/bin/sh\ncd {work}\nsingularity run {sif} sh -c true > output/out.txt 2>&1\n"
                         f"echo $? > {work}/exitcode.tmp && mv {work}/exitcode.tmp {work}/exitcode\n")
        run(client, f"cd {work} && nohup setsid sh run.sh > /dev/null 2>&1 < /dev/null &")
        while True:
            try:
                sftp.stat(f"{work}/exitcode")
                break
            except FileNotFoundError:
                time.sleep(0.01)
        run(client, f"cp -r {work}/output {work}/run.sh {work}/exitcode {work}/archive/")
        if n:
            by_hand.append(time.perf_counter() - start)
    client.close()
    by_hand_commands = _commands(log_path, by_hand_from, log_path.stat().st_size)
    kinds = collections.Counter(c[2].split()[0] if c[2].split() else "?" for c in ours_commands)
    return [Measure("P2 lifecycle (median)", statistics.median(ours), "s", statistics.median(by_hand), "lower",
                    f"{runs} runs each"),
            # What sshd ran per job (execs and SFTP sessions, from the host's command log): issue 18's count.
            Measure("P2 SSH commands per job", len(ours_commands) / runs, "cmds", len(by_hand_commands) / runs,
                    "lower", "by first word: " + ", ".join(f"{k} {v / runs:.1f}" for k, v in kinds.most_common(8)))]


def p4_slurm_end_to_end(stack: Stack, ids: dict[str, str], n_jobs: int) -> list[Measure]:
    """``n_jobs`` trivial jobs through our whole lifecycle on Slurm vs the same sbatch + wait, directly."""
    from dlws_flow import submit_job

    start, busy, worker_cpu = time.perf_counter(), machine_busy_seconds(), cpu_seconds(stack.worker_pid)
    uuids = [submit_job(name=f"p4-{n}", appId=ids["app"], appVersion="1.0", execSystemId=ids["hpc"],
                        parameterSet=script_args("true"))["uuid"] for n in range(n_jobs)]
    states = _wait(uuids, ENDED, 600, every=0.1)
    ours = time.perf_counter() - start
    busy, worker_cpu = machine_busy_seconds() - busy, cpu_seconds(stack.worker_pid) - worker_cpu
    failed = sum(s != "FINISHED" for s in states.values())

    client = host_client(stack)
    sif = stack.hosts["DLWS_TEST_SIF"]
    work = f"/home/hpcuser/benchwork-{stack.run_id}/sbatch-direct"
    run(client, f"mkdir -p {work}")
    start, direct_busy = time.perf_counter(), machine_busy_seconds()
    job_ids = []
    for n in range(n_jobs):
        out = run(client, f"cd {work} && sbatch --parsable -p debug -J p4-direct -o {work}/{n}.out "
                          f"--wrap 'singularity run {sif} sh -c true'")
        job_ids.append(out.strip().split(";")[0])
    while run(client, f"squeue -h -o %i -j {','.join(job_ids)} 2>/dev/null").strip():
        time.sleep(0.1)
    direct = time.perf_counter() - start
    direct_busy = machine_busy_seconds() - direct_busy
    client.close()
    # Busy core-seconds of the whole machine (Slurm, the containers, sshd, PostgreSQL, us) show whether the
    # two cores were the limit; the worker's own share is what our stages cost.
    note = (f"{n_jobs} jobs" + (f", {failed} did not finish" if failed else "") +
            f"; machine busy {busy:.1f} vs {direct_busy:.1f} core-s, of which worker {worker_cpu:.1f}")
    waits = _archiving_seconds(uuids)
    return [Measure("P4 Slurm end to end", ours, "s", direct, "lower", note),
            Measure("P4 end seen -> archived (max)", max(waits), "s", None, "lower",
                    f"ARCHIVING to FINISHED per job: median {statistics.median(waits):.3f} s; the archive is sent by "
                    "the poll that saw the end")]


def _archiving_seconds(uuids: list[str]) -> list[float]:
    """Per job, from its ARCHIVING event (the poll saw it end) to its FINISHED one (archived): issue 18's wait."""
    from sqlalchemy import select

    from dlws_flow.store.db import session_scope
    from dlws_flow.store.models import JobEventRow

    with session_scope() as session:
        rows = session.execute(select(JobEventRow.job_uuid, JobEventRow.new_status, JobEventRow.created)
                               .where(JobEventRow.job_uuid.in_(uuids),
                                      JobEventRow.new_status.in_(("ARCHIVING", "FINISHED")))).all()
    seen: dict[str, dict[str, Any]] = {}
    for job_uuid, status, created in rows:
        seen.setdefault(job_uuid, {})[status] = created
    return [(t["FINISHED"] - t["ARCHIVING"]).total_seconds() for t in seen.values() if len(t) == 2] or [0.0]


def p3_monitoring(stack: Stack, ids: dict[str, str], n_jobs: int, fill_budget: float, polls: int) -> list[Measure]:
    """``n_jobs`` jobs in flight on the Slurm system: SSH commands per poll, connections, DB writes, poll time."""
    from sqlalchemy import func, select, text

    from dlws_flow import submit_job
    from dlws_flow.store import repositories as repo
    from dlws_flow.store.db import session_scope
    from dlws_flow.store.models import JobEventRow, JobRow

    log_path = Path(stack.hosts["DLWS_TEST_SSH_COMMAND_LOG"])
    release = f"/home/hpcuser/benchwork-{stack.run_id}/p3-release"
    start_offset = log_path.stat().st_size
    started = time.perf_counter()
    uuids = [submit_job(name=f"p3-{stack.run_id}", appId=ids["app"], appVersion="1.0", execSystemId=ids["hpc"],
                        parameterSet=script_args(f"while [ ! -e {release} ]; do sleep 1; done"))["uuid"]
             for _ in range(n_jobs)]
    submit_seconds = time.perf_counter() - started
    states = _wait(uuids, IN_FLIGHT | ENDED, fill_budget, every=0.5)
    fill_seconds = time.perf_counter() - started
    in_flight = sum(s in IN_FLIGHT for s in states.values())

    def snapshot():
        with session_scope() as session:
            count = repo.poll_count(session, ids["hpc"], stack.hosts["DLWS_TEST_SSH_USER"])
            updates = session.execute(text("SELECT n_tup_upd FROM pg_stat_user_tables WHERE relname = 'jobs'")).scalar()
            events = session.scalar(select(func.count()).select_from(JobEventRow))
        return count, updates or 0, events, log_path.stat().st_size

    time.sleep(1.5)  # PostgreSQL publishes table statistics about once a second
    polls0, updates0, events0, offset0 = snapshot()
    window_start = time.perf_counter()
    while snapshot()[0] < polls0 + polls and time.perf_counter() - window_start < 60:
        time.sleep(0.2)
    time.sleep(1.5)
    polls1, updates1, events1, offset1 = snapshot()
    n_polls = max(polls1 - polls0, 1)
    # The host's command log is shared with anyone else using the test host: keep our worker's connections,
    # the ones that touched this run's work directory.
    whole = _commands(log_path, start_offset, offset1)
    ours = {c[1] for c in whole if f"benchwork-{stack.run_id}" in c[2]}
    whole = [c for c in whole if c[1] in ours]
    window = [c for c in _commands(log_path, offset0, offset1) if c[1] in ours]
    squeues = [c for c in window if "squeue " in c[2]]
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(squeues)]
    # The poll's own cost: the same squeue command, timed over one direct connection.
    client = host_client(stack)
    poll_seconds = None
    if squeues:
        timings = []
        for _ in range(3):
            t0 = time.perf_counter()
            run(client, squeues[-1][2])
            timings.append(time.perf_counter() - t0)
        poll_seconds = statistics.median(timings)
    # Clean up: stop launching (the caller stops the worker next), release and cancel what we submitted.
    run(client, f"touch {release}")
    with session_scope() as session:
        remote = [r for r in session.scalars(select(JobRow.remote_job_id).where(JobRow.uuid.in_(uuids))) if r]
    for chunk in range(0, len(remote), 500):
        run(client, f"scancel {' '.join(remote[chunk:chunk + 500])} 2>/dev/null")
    client.close()
    note = (f"{in_flight}/{n_jobs} in flight after {fill_seconds:.0f} s (submitted in {submit_seconds:.1f} s), "
            f"{n_polls} polls observed")
    return [
        Measure("P3 SSH commands per poll", len(window) / n_polls, "cmds", 1.0, "lower", note),
        Measure("P3 squeue commands per poll", len(squeues) / n_polls, "cmds", 1.0, "lower"),
        Measure("P3 SSH connections in window", len({c[1] for c in window}), "conns", 4, "lower",
                f"baseline: the goal (<= 4); {len({c[1] for c in whole})} over the whole P3 run"),
        Measure("P3 jobs-table updates per poll", (updates1 - updates0) / n_polls, "rows", (events1 - events0) / n_polls,
                "lower", "baseline: status changes (history rows) per poll in the same window"),
        Measure("P3 squeue duration", poll_seconds or 0.0, "s", None, "lower",
                f"interval between polls median {statistics.median(gaps):.2f} s" if gaps else "no poll seen"),
    ]


def _commands(path: Path, start: int, end: int) -> list[tuple[float, str, str]]:
    with path.open("rb") as log:
        log.seek(start)
        data = log.read(end - start).decode(errors="replace")
    entries = []
    for line in data.splitlines():
        fields = line.split("\t", 2)
        if len(fields) == 3:
            entries.append((float(fields[0]), fields[1], fields[2]))
    return entries
