"""The SSH transport against the real OpenSSH test host: directories are made over SFTP (no shell started
on the host), and when SFTP cannot make one, ``mkdir -p`` runs so the error says why."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from dlws_flow.errors import RemoteCommandError


@pytest.fixture
def transport(hosts):
    from dlws_flow.transports.ssh import SSHTarget, SSHTransport

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
