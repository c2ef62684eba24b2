"""``python -m bench`` (``make bench``): P1-P8 against their in-run baselines; see docs/operations.md.

It brings up what it needs (test hosts, PostgreSQL, Redis, a fresh database, a Celery worker, the API), runs
the benchmarks, prints one line per measure and writes ``bench/results/latest.json`` and ``latest.png``.
It measures; it asserts nothing (the P3 counts are checked by tests/integration).
"""

from __future__ import annotations

import argparse
import os
import sys
import time


def _options(argv: list[str] | None) -> tuple[dict, set[str]]:
    """The run's sizes (quick or full) and the benchmarks wanted."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller run (about 3 minutes)")
    parser.add_argument("--only", default="P1,P2,P4,P3,P7,P8,P5,P6", help="comma-separated benchmarks to run (default all)")
    parser.add_argument("--p1-jobs", type=int, help="jobs submitted in P1 (default 1000, quick 300)")
    parser.add_argument("--p1-clients", type=int, default=8, help="concurrent API clients in P1")
    parser.add_argument("--p1-processes", type=int, default=os.cpu_count() or 1,
                        help="API worker processes in P1, and baseline processes (default: one per core)")
    parser.add_argument("--worker-processes", type=int, default=2,
                        help="Celery pool processes of the worker that runs P2-P4's jobs (default 2)")
    parser.add_argument("--p2-runs", type=int, help="runs per side in P2 (default 9, quick 3)")
    parser.add_argument("--p3-jobs", type=int, help="jobs in flight in P3 (default 1000, quick 150; 10000 is the long run)")
    parser.add_argument("--p3-fill", type=float, help="seconds allowed for P3's jobs to reach Slurm (default 300, quick 90)")
    parser.add_argument("--p5-rows", type=int, help="jobs in the table for P5's list and P6's search (default 100000, quick 20000)")
    parser.add_argument("--p4-jobs", type=int, help="jobs in P4 (default 100, quick 30)")
    parser.add_argument("--p7-size", type=int, help="elements of P7's sweep run to its end (default 1000, quick 200)")
    parser.add_argument("--p8-sizes", help="job counts of P8's side-by-side runs (default 100,300, quick 30)")
    parser.add_argument("--p8-cpus", type=int, default=os.cpu_count() or 2,
                        help="cores the test hosts' Slurm declares during P8 (default: this machine's)")
    parser.add_argument("--p7-large", type=int, help="elements of P7's sweep timed into Slurm's queue (default 10000, quick 2000)")
    args = parser.parse_args(argv)
    quick = args.quick
    options = {
        "p1_jobs": args.p1_jobs or (300 if quick else 1000), "p1_clients": args.p1_clients,
        "p1_processes": args.p1_processes, "worker_processes": args.worker_processes,
        "p2_runs": args.p2_runs or (3 if quick else 9), "p3_jobs": args.p3_jobs or (150 if quick else 1000),
        "p3_fill": args.p3_fill or (90.0 if quick else 300.0), "p4_jobs": args.p4_jobs or (30 if quick else 100),
        "p5_rows": args.p5_rows or (20_000 if quick else 100_000),
        "p8_sizes": [int(n) for n in (args.p8_sizes or ("30" if quick else "100,300")).split(",")],
        "p8_cpus": args.p8_cpus,
        "p7_size": args.p7_size or (200 if quick else 1000), "p7_large": args.p7_large or (2000 if quick else 10_000),
    }
    return options, {name.strip().upper() for name in args.only.split(",")}


def main(argv: list[str] | None = None) -> int:
    options, wanted = _options(argv)
    from bench import stack as stack_module

    started = time.perf_counter()
    stack = stack_module.configure()  # sets DLWS_* before anything imports dlws_flow's settings
    from bench import report, runs

    measures: list[runs.Measure] = []

    def done(new: list[runs.Measure]) -> None:
        for measure in new:
            print(report.line(measure), flush=True)
        measures.extend(new)

    try:
        print(f"bench: run {stack.run_id}, database {stack.db_name}, logs in {stack.data_dir}", flush=True)
        ids = runs.register(stack)
        if wanted & {"P1", "P5"}:
            api_url = stack_module.start_api(stack, options["p1_processes"])
        if "P1" in wanted:
            done(runs.p1_submit_throughput(stack, ids, api_url, options["p1_jobs"], options["p1_clients"],
                                           options["p1_processes"]))
        stack_module.start_worker(stack, options["worker_processes"])
        if "P2" in wanted:
            done(runs.p2_lifecycle(stack, ids, options["p2_runs"]))
        if "P4" in wanted:
            done(runs.p4_slurm_end_to_end(stack, ids, options["p4_jobs"]))
        if "P3" in wanted:  # after P2 and P4: its jobs are cancelled, not waited for
            done(runs.p3_monitoring(stack, ids, options["p3_jobs"], options["p3_fill"], polls=5))
        if "P7" in wanted:  # after P3: its jobs leave Slurm's queue before the sweeps go in
            from bench import sweeps

            done(sweeps.p7_sweeps(stack, ids, options["p7_size"], options["p7_large"]))
        if "P8" in wanted:  # restarts Slurm declaring the real cores, and back
            from bench import side_by_side

            done(side_by_side.p8_side_by_side(stack, ids, options["p8_sizes"], options["p8_cpus"]))
        if "P5" in wanted:  # after the others: its 100,000 inserts would disturb them (WAL, autovacuum)
            done(runs.p5_job_list(stack, ids, api_url, options["p5_rows"]))
        if "P6" in wanted:  # P5's filler rows serve it too (topped up when P5 did not run)
            from bench import search

            done(search.p6_job_search(stack, ids, options["p5_rows"]))
    finally:
        stack_module.teardown(stack)
    seconds = time.perf_counter() - started
    path = report.write(measures, options, seconds)
    print(f"bench: {len(measures)} measures in {seconds:.0f} s; results in {path}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
