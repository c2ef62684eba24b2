"""The address policy for http(s) inputs and webhooks: which addresses are refused by default, how the
deployment's allow and deny lists change that (deny wins), and how hosts are read as the user wrote them."""

from __future__ import annotations

from ipaddress import ip_address

import pytest

from dlws_flow.domain.address_policy import (
    AddressNotAllowedError,
    AddressPolicy,
    host_as_written,
    internal_reason,
    parse_address,
)
from dlws_flow.errors import ConfigurationError, ValidationError

DEFAULT = AddressPolicy()


def refused(policy: AddressPolicy, host: str, *addresses: str) -> str | None:
    return policy.refusal(host, [ip_address(a) for a in addresses])


@pytest.mark.parametrize("address, why", [
    ("127.0.0.1", "loopback"), ("127.255.255.254", "loopback"), ("::1", "loopback"),
    ("10.1.2.3", "private"), ("172.16.0.1", "private"), ("172.31.255.255", "private"), ("192.168.1.1", "private"),
    ("fc00::1", "unique local"), ("fd12:3456::1", "unique local"),
    ("169.254.1.1", "link-local"), ("fe80::1", "link-local"),
    ("224.0.0.1", "multicast"), ("239.255.255.250", "multicast"), ("ff02::1", "multicast"),
    ("0.0.0.0", "unspecified"), ("::", "unspecified"),
    ("240.0.0.1", "reserved"), ("255.255.255.255", "reserved"), ("100.64.0.1", "shared"),
    ("192.0.2.10", "documentation"), ("2001:db8::1", "documentation"), ("198.18.0.1", "benchmarking"),
    ("2002:7f00:1::1", "6to4"), ("2001::1", "IETF"), ("::127.0.0.1", "reserved"), ("100::1", "reserved"),
])
def test_internal_addresses_are_refused_by_default(address, why):
    assert why in internal_reason(ip_address(address))
    assert refused(DEFAULT, "files.example.org", address) is not None


@pytest.mark.parametrize("address", ["93.184.215.14", "8.8.8.8", "172.32.0.1", "192.169.0.1", "100.128.0.1",
                                     "2606:4700:4700::1111", "2a00:1450:4001:80b::200e"])
def test_public_addresses_pass(address):
    assert internal_reason(ip_address(address)) is None
    assert refused(DEFAULT, "files.example.org", address) is None


@pytest.mark.parametrize("mapped, means", [
    ("::ffff:127.0.0.1", "loopback"), ("::ffff:7f00:1", "loopback"), ("::ffff:169.254.169.254", "metadata"),
    ("::ffff:10.0.0.1", "private"), ("64:ff9b::7f00:1", "loopback"), ("64:ff9b::a9fe:a9fe", "metadata"),
])
def test_ipv4_inside_ipv6_is_judged_as_the_ipv4_address(mapped, means):
    assert means in refused(DEFAULT, "h.example.org", mapped)


def test_nat64_of_a_public_address_passes():
    assert refused(DEFAULT, "h.example.org", "64:ff9b::5db8:d70e") is None  # 93.184.215.14


@pytest.mark.parametrize("address", ["169.254.169.254", "fd00:ec2::254", "169.254.170.2", "100.100.100.200"])
def test_metadata_needs_an_allow_entry_of_exactly_that_address(address):
    assert "metadata" in refused(DEFAULT, "h", address)
    broad = AddressPolicy.parse(allow="169.254.0.0/16, fc00::/7, 100.64.0.0/10, 0.0.0.0/0, ::/0")
    assert "metadata" in refused(broad, "h", address)
    assert "metadata" in refused(AddressPolicy.parse(allow="h"), "h", address)  # an allowed name does not open it
    assert refused(AddressPolicy.parse(allow=address), "h", address) is None


def test_allow_list_opens_networks_addresses_and_names():
    policy = AddressPolicy.parse(allow="10.1.0.0/16, 127.0.0.1, fd12::/16, data.internal.example.org, *.lab.example.org")
    assert refused(policy, "x.example.org", "10.1.200.3") is None
    assert refused(policy, "x.example.org", "10.2.0.1") is not None
    assert refused(policy, "x.example.org", "127.0.0.1") is None and refused(policy, "x", "127.0.0.2") is not None
    assert refused(policy, "x.example.org", "::ffff:127.0.0.1") is None  # the same address, IPv4-mapped
    assert refused(policy, "x.example.org", "fd12:1::5") is None
    assert refused(policy, "DATA.Internal.example.org.", "192.168.7.7") is None  # a name: all its addresses
    assert refused(policy, "gpu.lab.example.org", "172.20.0.9") is None
    assert refused(policy, "lab.example.org", "172.20.0.9") is not None  # the wildcard is for names under it
    assert refused(policy, "evil-lab.example.org", "172.20.0.9") is not None


def test_deny_wins_over_allow_and_over_public():
    policy = AddressPolicy.parse(allow="10.0.0.0/8, wiki.example.org", deny="10.9.0.0/16, wiki.example.org, 8.8.8.0/24")
    assert "DLWS_FETCH_DENY" in refused(policy, "x", "10.9.1.1")
    assert refused(policy, "x", "10.8.1.1") is None
    assert "DLWS_FETCH_DENY" in refused(policy, "wiki.example.org", "93.184.215.14")
    assert "DLWS_FETCH_DENY" in refused(policy, "dns.example.org", "8.8.8.8")
    assert "DLWS_FETCH_DENY" in refused(policy, "dns.example.org", "::ffff:8.8.8.8")


def test_every_address_of_a_host_must_pass():
    assert refused(DEFAULT, "rebind.example.org", "93.184.215.14", "127.0.0.1") is not None
    assert refused(DEFAULT, "rebind.example.org") is not None  # no address at all


@pytest.mark.parametrize("host, address", [
    ("127.0.0.1", "127.0.0.1"), ("[::1]", "::1"), ("::1", "::1"), ("[::ffff:127.0.0.1]", "127.0.0.1"),
    ("2130706433", "127.0.0.1"), ("0x7f000001", "127.0.0.1"), ("0x7f.1", "127.0.0.1"), ("127.1", "127.0.0.1"),
    ("0177.0.0.1", "127.0.0.1"), ("017700000001", "127.0.0.1"), ("169.254.43518", "169.254.169.254"),
    ("0xa9.0xfe.0xa9.0xfe", "169.254.169.254"), ("[fe80::1%25eth0]", "fe80::1"), ("fe80::1%eth0", "fe80::1"),
])
def test_literal_addresses_in_every_form(host, address):
    assert parse_address(host) == (ip_address(address) if address else None)


@pytest.mark.parametrize("host", ["example.org", "localhost", "1.2.3.4.example.org", "0x7g.1", "256.1.1.1",
                                  "1.2.3.4.5", "08.1.1.1", ""])
def test_names_are_not_addresses(host):
    assert parse_address(host) is None


def test_literal_refusal_decides_without_dns():
    assert "loopback" in DEFAULT.literal_refusal("0x7f.1")
    assert "metadata" in DEFAULT.literal_refusal("169.254.169.254")
    assert DEFAULT.literal_refusal("localhost") is None  # a name: decided when it is resolved
    assert DEFAULT.literal_refusal("93.184.215.14") is None
    denied = AddressPolicy.parse(deny="metadata.google.internal")
    assert "DLWS_FETCH_DENY" in denied.literal_refusal("Metadata.Google.Internal")
    assert AddressPolicy.parse(allow="127.0.0.1").literal_refusal("127.0.0.1") is None


@pytest.mark.parametrize("entry", ["10.1.2.3/8", "300.1.1.1", "10.0.0.0/33", "fd00::/129", "bad name", "a..b",
                                   "http://example.org", "-x.example.org", "1.2.3"])
def test_bad_entries_are_configuration_errors_naming_the_entry(entry):
    with pytest.raises(ConfigurationError, match="DLWS_FETCH_ALLOW entry"):
        AddressPolicy.parse(allow=f"10.0.0.0/8, {entry}")
    with pytest.raises(ConfigurationError, match="DLWS_FETCH_DENY entry"):
        AddressPolicy.parse(deny=entry)


def test_entries_in_other_spellings():
    policy = AddressPolicy.parse(allow=" [::1] , [fd00::]/8,::ffff:10.0.0.0/104 ,, Host.Example.ORG. ")
    assert [str(n) for n in policy.allow_networks] == ["::1/128", "fd00::/8", "10.0.0.0/8"]
    assert policy.allow_names == ("host.example.org",)


@pytest.mark.parametrize("url, host", [
    ("http://127.0.0.1:8000/metrics", "127.0.0.1"), ("http://user:pw@LocalHost/x", "LocalHost"),
    ("https://[::ffff:127.0.0.1]:443/", "[::ffff:127.0.0.1]"), ("http://0x7f.1/", "0x7f.1"),
    ("http://example.org", "example.org"),
])
def test_host_as_written(url, host):
    assert host_as_written(url) == host


def test_the_error_says_address_not_allowed_and_the_host_only():
    error = AddressNotAllowedError("0x7f.1", "127.0.0.1 is loopback", subject="input http://0x7f.1:8000/metrics")
    assert isinstance(error, ValidationError)
    assert str(error) == "input http://0x7f.1:8000/metrics: address not allowed (0x7f.1)"
    assert "loopback" not in str(error) and error.reason == "127.0.0.1 is loopback"
    redirected = AddressNotAllowedError("files.example.org", "127.0.0.1 is loopback", redirected=True)
    assert str(redirected) == "address not allowed (files.example.org redirected to an address that may not be fetched)"
