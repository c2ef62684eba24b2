"""P7: parameter sweeps on Slurm (issue 18). A sweep of ``n`` trivial containerized elements through dlws-flow
(one ``sbatch --array``) against the same array submitted by hand over one SSH connection, run to its end; and a
large sweep (10,000 by default) timed until every element is in Slurm's queue, then cancelled.

What is printed: the wall to all FINISHED against the hand-made array's; the seconds from the request to every
element QUEUED (in Slurm's queue) against the 60 s the issue allows; ``sbatch`` commands per sweep; ``squeue``
commands per poll while it ran.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

from bench.runs import ENDED, IN_FLIGHT, Measure, _archiving_seconds, _commands, _wait, script_args
from bench.stack import Stack, cpu_seconds, host_client, run


def _sweep_request(ids: dict[str, str], name: str, size: int, script: str) -> dict:
    return {"name": name, "launch": "array",
            "job": {"appId": ids["app"], "appVersion": "1.0", "execSystemId": ids["hpc"],
                    "parameterSet": script_args(script)},
            "parameters": {"I": {"start": 0, "stop": size}}}


def _array_by_hand(stack: Stack, size: int) -> float:
    """The same containers as one ``sbatch --array`` over one connection; seconds until Slurm lists none."""
    client = host_client(stack)
    sif = stack.hosts["DLWS_TEST_SIF"]
    work = f"/home/hpcuser/benchwork-{stack.run_id}/array-direct-{size}"
    run(client, f"mkdir -p {work}")
    start = time.perf_counter()
    out = run(client, f"cd {work} && sbatch --parsable -p debug -J p7-direct --array=0-{size - 1} -o /dev/null "
                      f"--wrap 'cd {work} && singularity run {sif} sh -c true > $SLURM_ARRAY_TASK_ID.out 2>&1'")
    array_id = out.strip().split(";")[0]
    while run(client, f"squeue -h -r -o %i -j {array_id} 2>/dev/null").strip():
        time.sleep(0.2)
    elapsed = time.perf_counter() - start
    client.close()
    return elapsed


def _wait_gone(stack: Stack, uuids: list[str]) -> None:
    """Until the worker's scancel of the large sweep's arrays has emptied Slurm's queue of them."""
    from sqlalchemy import select

    from dlws_flow.store.db import session_scope
    from dlws_flow.store.models import JobRow

    with session_scope() as session:
        arrays = sorted({r.split("_")[0] for r in session.scalars(select(JobRow.remote_job_id)
                                                                  .where(JobRow.uuid.in_(uuids))) if r})
    client = host_client(stack)
    deadline = time.monotonic() + 120
    while arrays and run(client, f"squeue -h -r -o %i -j {','.join(arrays)} 2>/dev/null").strip():
        if time.monotonic() > deadline:
            run(client, f"scancel {' '.join(arrays)}")  # the worker did not: leave the host clean anyway
            break
        time.sleep(0.5)
    client.close()


def _last_seen_to_end(uuids: list[str]) -> float:
    """Seconds from the last ARCHIVING (a poll saw the last end) to the last FINISHED."""
    from sqlalchemy import func, select

    from dlws_flow.store.db import session_scope
    from dlws_flow.store.models import JobEventRow

    with session_scope() as session:
        last = dict(session.execute(select(JobEventRow.new_status, func.max(JobEventRow.created))
                                    .where(JobEventRow.job_uuid.in_(uuids),
                                           JobEventRow.new_status.in_(("ARCHIVING", "FINISHED")))
                                    .group_by(JobEventRow.new_status)).all())
    return (last["FINISHED"] - last["ARCHIVING"]).total_seconds() if len(last) == 2 else 0.0


def _element_uuids(sweep_id: str) -> list[str]:
    from sqlalchemy import select

    from dlws_flow.store.db import session_scope
    from dlws_flow.store.models import JobRow

    with session_scope() as session:
        return list(session.scalars(select(JobRow.uuid).where(JobRow.sweep_id == sweep_id)))


def p7_sweeps(stack: Stack, ids: dict[str, str], size: int, large: int) -> list[Measure]:
    from dlws_flow import cancel_sweep, submit_sweep
    from dlws_flow.store import repositories as repo
    from dlws_flow.store.db import session_scope

    log_path = Path(stack.hosts["DLWS_TEST_SSH_COMMAND_LOG"])
    direct = _array_by_hand(stack, size)

    def polls() -> int:
        with session_scope() as session:
            return repo.poll_count(session, ids["hpc"], stack.hosts["DLWS_TEST_SSH_USER"])

    offset, polls_before, worker_cpu = log_path.stat().st_size, polls(), cpu_seconds(stack.worker_pid)
    start = time.perf_counter()
    sweep = submit_sweep(_sweep_request(ids, f"p7-{stack.run_id}", size, "true"))
    accepted = time.perf_counter() - start
    uuids = _element_uuids(sweep["id"])
    _wait(uuids, IN_FLIGHT | ENDED, 600, every=0.2)
    queued = time.perf_counter() - start
    states = _wait(uuids, ENDED, 1800, every=0.5)
    ours = time.perf_counter() - start
    worker_cpu = cpu_seconds(stack.worker_pid) - worker_cpu
    n_polls = max(polls() - polls_before, 1)
    commands = [c for c in _commands(log_path, offset, log_path.stat().st_size) if f"benchwork-{stack.run_id}" in c[2]
                or sweep["id"] in c[2] or "squeue -h -a -r -t all -j" in c[2]]
    sbatches = sum(c[2].count("sbatch --parsable") for c in commands)
    squeues = sum(1 for c in commands if "squeue -h -a -r -t all -j" in c[2])
    failed = sum(s != "FINISHED" for s in states.values())
    waits = _archiving_seconds(uuids)
    tail = _last_seen_to_end(uuids)

    offset = log_path.stat().st_size
    start = time.perf_counter()
    big = submit_sweep(_sweep_request(ids, f"p7-large-{stack.run_id}", large, "sleep 600"))
    big_accepted = time.perf_counter() - start
    big_uuids = _element_uuids(big["id"])
    big_states = _wait(big_uuids, IN_FLIGHT | ENDED, 600, every=1.0)
    big_queued = time.perf_counter() - start
    big_sbatches = sum(c[2].count("sbatch --parsable") for c in _commands(log_path, offset, log_path.stat().st_size)
                       if big["id"] in c[2])
    in_queue = sum(s in IN_FLIGHT for s in big_states.values())
    cancel_sweep(big["id"])
    _wait_gone(stack, big_uuids)
    return [
        Measure(f"P7 sweep of {size} to all ended", ours, "s", direct, "lower",
                f"sbatch --array by hand: {direct:.1f} s; request answered in {accepted:.1f} s, all in Slurm after "
                f"{queued:.1f} s; end seen -> archived median {statistics.median(waits):.2f} s, max {max(waits):.2f} s; "
                f"last end seen {tail:.1f} s before the last archive; worker CPU {1000 * worker_cpu / size:.1f} ms per element"
                + (f"; {failed} did not finish" if failed else "")),
        Measure(f"P7 sbatch per sweep of {size}", sbatches, "cmds", 1, "lower"),
        Measure("P7 squeue commands per poll", squeues / n_polls, "cmds", 1, "lower", f"{n_polls} polls"),
        Measure(f"P7 sweep of {large} in Slurm's queue", big_queued, "s", 60.0, "lower",
                f"baseline: issue 18's budget; request answered in {big_accepted:.1f} s; {in_queue}/{large} queued "
                f"or running; {big_sbatches} sbatch"),
    ]
