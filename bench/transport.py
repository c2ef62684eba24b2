"""``python -m bench.transport``: SFTP sessions checked out per operation (what the SSH transport does)
against the other thread-safe design, one shared SFTP session behind a lock per operation (the baseline,
measured in the same run on the same connection kind and host).

Each of N threads does rounds of stat + 4 KiB write + read back + listing on the real test host
(scripts/testhosts). It prints operations per second for both and their ratio, for 1, 4 and 8 threads.
"""

from __future__ import annotations

import argparse
import posixpath
import subprocess
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _hosts(base: str) -> dict[str, str]:
    subprocess.run(["bash", str(ROOT / "scripts/testhosts/up.sh"), base], check=True, stdout=subprocess.DEVNULL)
    values = {}
    for line in Path(base, "hosts.env").read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            values[key] = value.strip("'\"")
    return values


def _round(sftp, folder: str, n: int, i: int) -> None:
    path = posixpath.join(folder, f"t{n}-{i % 8}")
    with sftp.open(path, "wb") as handle:
        handle.write(b"x" * 4096)
    with sftp.open(path, "rb") as handle:
        handle.read()
    sftp.stat(path)
    sftp.listdir(folder)


def _run(threads: int, rounds: int, operation) -> float:
    """Operations (rounds x 4) per second with ``threads`` threads each calling ``operation(n, i)``."""
    start = time.perf_counter()
    with ThreadPoolExecutor(threads) as executor:
        list(executor.map(lambda n: [operation(n, i) for i in range(rounds)], range(threads)))
    return threads * rounds * 4 / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.transport", description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=60, help="rounds per thread (default 60)")
    parser.add_argument("--testhosts", default="/tmp/dlws-test-hosts")
    args = parser.parse_args(argv)

    from dlws_flow.adapters.transports.ssh import ConnectionPool, SSHTarget
    from dlws_flow.adapters.transports.ssh_pool import sftp_session

    hosts = _hosts(args.testhosts)
    target = SSHTarget(host=hosts["DLWS_TEST_SSH_HOST"], port=int(hosts["DLWS_TEST_SSH_PORT"]),
                       username=hosts["DLWS_TEST_SSH_USER"], host_key=hosts["DLWS_TEST_SSH_HOST_KEY"],
                       private_key=Path(hosts["DLWS_TEST_SSH_KEY"]).read_text())
    pool = ConnectionPool()
    conn = pool.get(target, 15.0)
    folder = f"/home/hpcuser/bench-transport-{uuid.uuid4().hex[:6]}"
    shared = conn.client.open_sftp()
    shared.mkdir(folder)
    shared_lock = threading.Lock()

    def checked_out(n: int, i: int) -> None:
        with sftp_session(conn, 30.0) as sftp:
            _round(sftp, folder, n, i)

    def behind_lock(n: int, i: int) -> None:
        with shared_lock:
            _round(shared, folder, n, i)

    print("bench.transport: SFTP operations per second on one connection (higher is better)")
    for threads in (1, 4, 8):
        _run(threads, 3, checked_out)  # warm the session pool
        ours = _run(threads, args.rounds, checked_out)
        baseline = _run(threads, args.rounds, behind_lock)
        print(f"  {threads} thread(s): session per operation {ours:7.0f} ops/s, one session behind a lock "
              f"{baseline:7.0f} ops/s, ratio {ours / baseline:.2f}x", flush=True)
    conn.client.exec_command(f"rm -rf {folder}")[1].read()
    shared.close()
    pool.close_all()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
