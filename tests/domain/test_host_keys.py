"""Host key lines and fingerprints as OpenSSH writes them (``ssh-keygen`` is the reference), and the message
a changed key is refused with."""

from __future__ import annotations

import subprocess

import pytest

from dlws_flow.domain import host_keys
from dlws_flow.domain.records import SystemSpec


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> list[tuple[str, str]]:
    """(public key line, ``ssh-keygen -lf`` fingerprint) for a fresh key of each common type."""
    folder = tmp_path_factory.mktemp("keys")
    keys = []
    for key_type in ("ed25519", "ecdsa", "rsa"):
        path = folder / key_type
        subprocess.run(["ssh-keygen", "-q", "-t", key_type, "-N", "", "-C", "a comment", "-f", str(path)], check=True)
        printed = subprocess.run(["ssh-keygen", "-l", "-E", "sha256", "-f", f"{path}.pub"], check=True,
                                 capture_output=True, text=True).stdout.split()[1]
        keys.append(((folder / f"{key_type}.pub").read_text().strip(), printed))
    return keys


def test_the_fingerprint_is_the_one_ssh_keygen_prints(generated):
    for line, printed in generated:
        assert printed.startswith("SHA256:") and "=" not in printed
        assert host_keys.fingerprint(line) == printed
        assert host_keys.FINGERPRINT.fullmatch(printed)


def test_a_comment_is_not_part_of_the_key(generated):
    line, printed = generated[0]
    key_type, blob = line.split()[:2]
    assert host_keys.canonical(line) == f"{key_type} {blob}"
    assert host_keys.fingerprint(f"{key_type} {blob}") == printed
    assert host_keys.same_key(line, f"{key_type} {blob}")
    assert not host_keys.same_key(line, generated[1][0])
    assert not host_keys.same_key(line, None)


@pytest.mark.parametrize("line", ["", "AAAAC3NzaC1lZDI1NTE5", "ssh-ed25519", "ssh-ed25519 not/base64!", "x AAAA"])
def test_what_is_not_a_key_line(line):
    with pytest.raises(ValueError, match="OpenSSH public key line"):
        host_keys.canonical(line)
    assert host_keys.fingerprint_or_none(line) is None


def test_a_system_record_refuses_a_host_key_that_is_no_key_line_naming_the_field():
    base = {"id": "s1", "host": "h.example.org", "effectiveUserId": "u"}
    with pytest.raises(Exception, match="hostKey") as caught:
        SystemSpec.model_validate({**base, "hostKey": "[h.example.org]:22"})
    assert "OpenSSH public key line" in str(caught.value)
    assert SystemSpec.model_validate({**base, "hostKey": "  "}).hostKey is None
    assert SystemSpec.model_validate(base).hostKey is None
    assert SystemSpec.model_validate({**base, "notes": {"hostKey": "ssh-ed25519 AAAA "}}).hostKey == "ssh-ed25519 AAAA"


def test_the_refusal_names_both_fingerprints_and_how_to_accept(generated):
    (pinned, pinned_print), (offered, offered_print) = generated[0], generated[1]
    message = host_keys.mismatch_message("vm-1", "10.0.0.5", 2222, pinned, offered)
    assert message.startswith("host key of system vm-1 (10.0.0.5:2222) changed")
    assert pinned_print in message and offered_print in message
    assert "POST /v3/systems/vm-1/hostKey/accept" in message
    assert f"dlws-flow systems accept-host-key vm-1 --fingerprint {offered_print}" in message
