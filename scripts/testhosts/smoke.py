#!/usr/bin/env python3
"""Smoke test for scripts/testhosts/up.sh: over Paramiko as hpcuser, with the host key VERIFIED against
BASE/hosts.env, run one direct background `singularity run` and one sbatch'd job. Exit status 0 = all good.

Usage: /work/venv/bin/python scripts/testhosts/smoke.py [BASE]
"""
import base64
import os
import shlex
import socket
import sys
import time

import paramiko

BASE = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("DLWS_TESTHOSTS_DIR", "/tmp/dlws-test-hosts")
DEADLINE = 60  # seconds for any one wait below; the happy path takes ~2 s


def load_env(path):
    env = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#"):
                k, _, v = line.partition("=")
                env[k] = shlex.split(v)[0] if v else ""
    return env


def connect(h, host_key_line):
    host, port = h["DLWS_TEST_SSH_HOST"], int(h["DLWS_TEST_SSH_PORT"])
    ktype, b64 = host_key_line.split()[:2]
    c = paramiko.SSHClient()
    # known_hosts form of a non-22 port; RejectPolicy: any other key (or none) fails the connection
    c.get_host_keys().add(f"[{host}]:{port}", ktype, paramiko.PKey.from_type_string(ktype, base64.b64decode(b64)))
    c.set_missing_host_key_policy(paramiko.RejectPolicy())
    s = socket.create_connection((host, port), timeout=10)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # ~47 ms -> ~3 ms per exec (Nagle + delayed ACK)
    c.connect(host, port=port, username=h["DLWS_TEST_SSH_USER"], key_filename=h["DLWS_TEST_SSH_KEY"], sock=s,
              allow_agent=False, look_for_keys=False, timeout=10, banner_timeout=10, auth_timeout=10)
    return c


def main():
    h = load_env(f"{BASE}/hosts.env")
    img = h["DLWS_TEST_SIF"]

    # the verification is really on: a different key must be refused
    wrong = "ssh-ed25519 " + base64.b64encode(
        b"\x00\x00\x00\x0bssh-ed25519\x00\x00\x00\x20" + bytes(range(32))).decode()
    try:
        connect(h, wrong).close()
        raise AssertionError("connected although the host key did not match")
    except paramiko.BadHostKeyException:
        print("host key check: a wrong key is rejected")

    c = connect(h, h["DLWS_TEST_SSH_HOST_KEY"])
    print(f"connected, host key verified: {h['DLWS_TEST_SSH_HOST_KEY'][:30]}...")

    def run(cmd, check=True):
        _, o, e = c.exec_command(cmd, timeout=DEADLINE)
        out, err = o.read().decode().strip(), e.read().decode().strip()
        rc = o.channel.recv_exit_status()
        if check and rc != 0:
            raise AssertionError(f"{cmd!r} exited {rc}: {err or out}")
        return rc, out, err

    def wait(what, cond, step=0.1):
        t = time.monotonic()
        while not cond():
            if time.monotonic() - t > DEADLINE:
                raise AssertionError(f"timed out after {DEADLINE}s waiting for {what}")
            time.sleep(step)

    tag = f"smoke-{os.getpid()}"
    sftp = c.open_sftp()
    parts = set(run("sinfo -h -o %P")[1].split())
    assert parts == {"debug*", "batch"}, f"partitions: {parts}"

    # direct: the backgrounded command must be a simple command (not `a && b &`), else the channel stays open
    t0 = time.perf_counter()
    _, pid, _ = run(f"cd ~; nohup singularity -s run {img} sh -c 'echo direct-ok; sleep 1' > {tag}.direct.out 2>&1 "
                    f"< /dev/null & echo $!")
    assert pid.isdigit(), f"no pid: {pid!r}"
    launched = time.perf_counter() - t0
    wait("the direct job to end", lambda: run(f"kill -0 {pid} 2>/dev/null", check=False)[0] != 0)
    out = sftp.open(f"/home/hpcuser/{tag}.direct.out").read().decode().strip()
    assert out == "direct-ok", f"direct output {out!r}"
    print(f"direct: {out!r}, launch returned in {launched*1000:.0f} ms, done in {time.perf_counter()-t0:.2f}s")

    # slurm, on the non-default partition; exit 3 must come back as FAILED with ExitCode=3:0
    t0 = time.perf_counter()
    _, jid, _ = run(f"sbatch --parsable -p batch -t 1 -o ~/{tag}.sb-%j.out "
                    f"--wrap \"singularity -s run {img} sh -c 'echo slurm-ok; exit 3'\"")
    assert jid.isdigit(), f"sbatch said {jid!r}"
    wait(f"job {jid} to leave squeue", lambda: not run(f"squeue -h -j {jid} -o %T", check=False)[1], 0.2)
    state = run(f"scontrol show job {jid} | grep -o -E 'JobState=\\S+|ExitCode=\\S+' | tr '\\n' ' '")[1].strip()
    out = sftp.open(f"/home/hpcuser/{tag}.sb-{jid}.out").read().decode().strip()
    assert state == "JobState=FAILED ExitCode=3:0", f"job {jid}: {state!r}"
    assert out == "slurm-ok", f"job {jid} output {out!r}"
    took = time.perf_counter() - t0
    # jobcomp file must stay readable by hpcuser (mode 0666)
    acct = run(f"sacct -c -n -j {jid} -o State")[1].strip()
    assert acct == "FAILED", f"sacct -c: {acct!r}"
    print(f"sbatch job {jid}: {state}, out={out!r} in {took:.2f}s; sacct -c: {acct!r}")

    run(f"rm -f ~/{tag}.direct.out ~/{tag}.sb-{jid}.out")
    c.close()
    print("SMOKE OK")


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # any failure -> non-zero, with the reason on one line
        print(f"SMOKE FAILED: {type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(1)
