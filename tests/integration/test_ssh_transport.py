"""The SSH transport against the real OpenSSH test host: directories are made over SFTP (no shell started
on the host), and when SFTP cannot make one, ``mkdir -p`` runs so the error says why."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest

from dlws_flow.errors import RemoteCommandError


@pytest.fixture
def transport(hosts):
    from dlws_flow.adapters.transports.ssh import SSHTarget, SSHTransport

    target = SSHTarget(host=hosts["DLWS_TEST_SSH_HOST"], port=int(hosts["DLWS_TEST_SSH_PORT"]),
                       username=hosts["DLWS_TEST_SSH_USER"], host_key=hosts["DLWS_TEST_SSH_HOST_KEY"],
                       private_key=Path(hosts["DLWS_TEST_SSH_KEY"]).read_text())
    return SSHTransport(target)


def test_makedirs_makes_nested_dirs_without_a_remote_command(transport, host_shell, ssh_commands):
    base = f"/home/hpcuser/mk-{uuid.uuid4().hex[:8]}"
    start = ssh_commands.mark()
    transport.makedirs(f"{base}/a/b/c", f"{base}/a/b/c", f"{base}/a/d", f"{base}/with space/x")
    assert [c for c in ssh_commands.since(start) if "mk-" in c.command] == []  # SFTP requests are not commands
    listing = host_shell(f"cd {base} && find . -type d | sort").split("\n")
    assert [line for line in listing if line] == [".", "./a", "./a/b", "./a/b/c", "./a/d", "./with space",
                                                 "./with space/x"]
    transport.makedirs(f"{base}/a/b/c")  # already there: fine


def test_makedirs_under_a_file_fails_with_mkdirs_own_message(transport, host_shell):
    base = f"/home/hpcuser/mk-{uuid.uuid4().hex[:8]}"
    host_shell(f"mkdir -p {base} && echo x > {base}/plain")
    with pytest.raises(RemoteCommandError, match="Not a directory"):
        transport.makedirs(f"{base}/plain/sub")


def test_makedirs_where_the_login_may_not_write_fails_with_permission_denied(transport):
    with pytest.raises(RemoteCommandError, match="Permission denied"):
        transport.makedirs(f"/root-owned-{uuid.uuid4().hex[:8]}/x")


def _fresh_transport(hosts, **options):
    """A transport on a pool of its own, so the test sees exactly the connections it opens."""
    from dlws_flow.adapters.transports.ssh import ConnectionPool, SSHTarget, SSHTransport

    target = SSHTarget(host=hosts["DLWS_TEST_SSH_HOST"], port=int(hosts["DLWS_TEST_SSH_PORT"]),
                       username=hosts["DLWS_TEST_SSH_USER"], host_key=hosts["DLWS_TEST_SSH_HOST_KEY"],
                       private_key=Path(hosts["DLWS_TEST_SSH_KEY"]).read_text())
    pool = ConnectionPool()
    pool.max_sessions = options.pop("max_sessions", 10)
    return SSHTransport(target, pool=pool, **options), pool


def test_sixteen_threads_share_one_connection_without_mixing_answers(hosts, host_shell):
    """Threads of one worker use the pooled connection at once: each SFTP request and command gets its own
    answer (one SFTPClient shared by threads mixed them up and hung), within the host's session budget."""
    from concurrent.futures import ThreadPoolExecutor

    transport, pool = _fresh_transport(hosts, max_sessions=6)
    base = f"/home/hpcuser/threads-{uuid.uuid4().hex[:8]}"
    transport.makedirs(base)

    def worker(n: int) -> int:
        checked = 0
        for i in range(12):
            name = f"{base}/t{n}/f{i}"
            payload = f"{n}:{i}:".encode() * (1 + (n * 7 + i) % 200)
            transport.makedirs(f"{base}/t{n}")
            transport.put_bytes(payload, name)
            assert transport.get_bytes(name) == payload
            assert transport.exists(name) and not transport.is_dir(name)
            assert transport.run(f"cat {name} | wc -c").check().stdout.strip() == str(len(payload))
            assert {e.path for e in transport.walk(f"{base}/t{n}")} >= {f"f{i}"}
            checked += 1
        return checked

    with ThreadPoolExecutor(16) as executor:
        assert sum(executor.map(worker, range(16))) == 16 * 12
    assert pool.held() == 1
    assert host_shell(f"ls {base} | wc -l").strip() == "16"
    pool.close_all()


def test_a_command_that_never_returns_times_out_once_and_is_not_sent_again(hosts, host_shell, ssh_commands):
    from dlws_flow.errors import CommandTimeoutError

    transport, pool = _fresh_transport(hosts, command_timeout=2)
    marker = f"/home/hpcuser/never-{uuid.uuid4().hex[:8]}"
    start, mark = time.monotonic(), ssh_commands.mark()
    with pytest.raises(CommandTimeoutError, match="no answer within 2 s after sending a command; it may have run"):
        transport.run(f"echo ran >> {marker}; sleep 600")
    assert time.monotonic() - start < 10
    assert [c for c in ssh_commands.since(mark) if marker in c.command and "sleep 600" in c.command].__len__() == 1
    assert host_shell(f"cat {marker}") == "ran\n"
    assert transport.run("echo still-usable").check().stdout == "still-usable\n"  # the connection stayed
    host_shell(f"pkill -f 'sleep 600' ; rm -f {marker}")
    pool.close_all()


def test_a_host_that_stops_answering_fails_commands_and_sftp_in_bounded_time(hosts, host_freezer):
    """The host runs a command and freezes (answer held, SFTP sessions stopped, nothing new runs): every
    operation ends with CommandTimeoutError within its timeout plus the watchdog's margin, none hangs; once
    the host answers again the same transport works."""
    from dlws_flow.errors import CommandTimeoutError, TransportError

    transport, pool = _fresh_transport(hosts, command_timeout=2, connect_timeout=3)
    token = uuid.uuid4().hex[:8]
    assert transport.exists("/home/hpcuser")  # an SFTP session is open (and will be stopped) when it freezes
    host_freezer.freeze_after(f"*freeze-{token}*")
    for operation in (lambda: transport.run(f"echo freeze-{token}"), lambda: transport.exists("/home/hpcuser"),
                      lambda: transport.put_bytes(b"x", f"/home/hpcuser/frozen-{token}"),
                      lambda: transport.run("echo after")):
        start = time.monotonic()
        with pytest.raises(TransportError) as raised:
            operation()
        assert time.monotonic() - start < 2 + 2 + 3 + 3, "an operation outlived its timeout and the watchdog"
        assert isinstance(raised.value, CommandTimeoutError) or "no answer" in str(raised.value) or \
            "failed" in str(raised.value)
    assert host_freezer.frozen
    host_freezer.thaw()
    assert transport.run("echo thawed").check().stdout == "thawed\n"
    assert transport.exists("/home/hpcuser")
    pool.close_all()


def test_put_bytes_never_leaves_a_readable_partial_file(transport, host_shell):
    """The partial file lives in a directory only the login may enter (0700) until it has its mode; nothing
    of it is left behind, and the file arrives with the mode asked for."""
    base = f"/home/hpcuser/put-{uuid.uuid4().hex[:8]}"
    transport.makedirs(base)
    transport.put_bytes(b"FAMILY_TOKEN='s3cr3t'\n", f"{base}/tapisjob.env", mode=0o600)
    assert host_shell(f"stat -c %a {base}/tapisjob.env").strip() == "600"
    assert host_shell(f"ls -A {base}").split() == ["tapisjob.env"]
    transport.put_bytes(b"#!/bin/sh\n", f"{base}/tapisjob.sh", mode=0o700)
    assert host_shell(f"stat -c %a {base}/tapisjob.sh").strip() == "700"
