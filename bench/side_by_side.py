"""P8: what users see (issue 18): the same N trivial containerized jobs through Slurm alone and through dlws-flow,
in one run, on a Slurm that declares the machine's real cores (the test hosts with ``DLWS_TESTHOSTS_CPUS``, so
jobs queue as they would on a real node), with the CPU each part spent per job.

Slurm alone: N ``sbatch`` over one SSH connection, then ``squeue`` until none is left. dlws-flow: N
``submit_job()`` to the running worker, until all are FINISHED. CPU per job is the rise of user + system time
of each group of processes (its own, and what its ended children left in ``cutime``/``cstime``) over the run,
divided by N: the worker, sshd with every command it ran, PostgreSQL, Redis, and Slurm with its jobs.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from bench.runs import ENDED, Measure, _wait, script_args
from bench.stack import ROOT, TESTHOSTS, Stack, cpu_seconds, host_client, run

#: Process groups whose CPU is reported, by what their command line contains.
GROUPS = {"sshd": ("sshd",), "postgres": ("postgres",), "redis": ("redis-server",),
          "slurm": ("slurmctld", "slurmd", "slurmstepd")}


def _group_cpu() -> dict[str, float]:
    """CPU seconds used so far by each of ``GROUPS`` (with the children each has reaped)."""
    tick = os.sysconf("SC_CLK_TCK")
    totals = dict.fromkeys(GROUPS, 0.0)
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            command = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        for name, words in GROUPS.items():
            if any(word in command.split(" ", 1)[0] for word in words):
                totals[name] += sum(int(v) for v in fields[11:15]) / tick  # utime stime cutime cstime
                break
    return totals


def declare_cpus(cpus: int | None) -> None:
    """Bring the test hosts up declaring ``cpus`` cores to Slurm (None: the recipe's default)."""
    env = {**os.environ}
    if cpus is None:
        env.pop("DLWS_TESTHOSTS_CPUS", None)
    else:
        env["DLWS_TESTHOSTS_CPUS"] = str(cpus)
    subprocess.run(["bash", str(ROOT / "scripts/testhosts/up.sh"), TESTHOSTS], check=True, env=env,
                   stdout=subprocess.DEVNULL)


def _slurm_alone(stack: Stack, n_jobs: int) -> float:
    client = host_client(stack)
    sif = stack.hosts["DLWS_TEST_SIF"]
    work = f"/home/hpcuser/benchwork-{stack.run_id}/p8-direct-{n_jobs}"
    run(client, f"mkdir -p {work}")
    start = time.perf_counter()
    ids = [run(client, f"cd {work} && sbatch --parsable -p debug -J p8-direct -o {work}/{n}.out "
                       f"--wrap 'singularity run {sif} true'").strip().split(";")[0] for n in range(n_jobs)]
    while run(client, f"squeue -h -o %i -j {','.join(ids)} 2>/dev/null").strip():
        time.sleep(0.1)
    elapsed = time.perf_counter() - start
    client.close()
    return elapsed


def _through_us(stack: Stack, ids: dict[str, str], n_jobs: int) -> tuple[float, int]:
    from dlws_flow import submit_job

    start = time.perf_counter()
    uuids = [submit_job(name=f"p8-{n}", appId=ids["app"], appVersion="1.0", execSystemId=ids["hpc"],
                        parameterSet=script_args("true"))["uuid"] for n in range(n_jobs)]
    states = _wait(uuids, ENDED, 1200, every=0.1)
    return time.perf_counter() - start, sum(s != "FINISHED" for s in states.values())


def _per_job(before: dict[str, float], after: dict[str, float], n_jobs: int) -> str:
    return ", ".join(f"{name} {1000 * (after[name] - before[name]) / n_jobs:.0f}" for name in after)


def p8_side_by_side(stack: Stack, ids: dict[str, str], sizes: list[int], cpus: int) -> list[Measure]:
    measures = []
    declare_cpus(cpus)
    try:
        for n_jobs in sizes:
            before = _group_cpu()
            alone = _slurm_alone(stack, n_jobs)
            alone_cpu = _per_job(before, _group_cpu(), n_jobs)
            before = {**_group_cpu(), "worker": cpu_seconds(stack.worker_pid, reaped=True)}
            ours, failed = _through_us(stack, ids, n_jobs)
            ours_cpu = _per_job(before, {**_group_cpu(), "worker": cpu_seconds(stack.worker_pid, reaped=True)}, n_jobs)
            measures.append(Measure(
                f"P8 {n_jobs} jobs vs Slurm alone", ours, "s", alone, "lower",
                f"{cpus}-CPU Slurm; CPU ms per job, dlws-flow run: {ours_cpu}; Slurm-alone run: {alone_cpu}"
                + (f"; {failed} did not finish" if failed else "")))
    finally:
        declare_cpus(None)
    return measures
