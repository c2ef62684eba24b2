"""Which network addresses the service may fetch from or post to (http(s) inputs, webhooks): pure rules, no I/O.

A user names a URL and the worker opens it. If any address went, a job input could read a service on the
worker's own network (``http://127.0.0.1:8000/metrics``, an admin page, cloud metadata at
``169.254.169.254``) and hand the body back as a job output, and a webhook could post anywhere. So every
address a URL's host resolves to is checked before a connection is made (``dlws_flow.adapters.staging.safe_http``
resolves, checks with this module and connects to the checked address only):

1. A host name on the deployment's deny list (``DLWS_FETCH_DENY``), or an address in one of its networks,
   is refused. The deny list wins over everything else.
2. A cloud instance-metadata address (``METADATA_ADDRESSES``) is refused unless an allow entry names exactly
   that address: a broad allow entry such as ``fc00::/7`` does not open ``fd00:ec2::254`` by accident.
3. A host name on the allow list (``DLWS_FETCH_ALLOW``), or an address in one of its networks, is allowed:
   that is how a site lets jobs read an internal data server.
4. Anything else must be a public unicast address: loopback, private (RFC 1918, ``fc00::/7``), link-local,
   shared (CGNAT), multicast, unspecified, documentation, benchmarking and reserved ranges are refused
   (``INTERNAL_NETWORKS``; in IPv6 only global unicast ``2000::/3`` outside its special-purpose blocks passes).

A host passes only when *all* of its addresses pass: an attacker's DNS answering ``[public, 127.0.0.1]``
gains nothing. IPv4-mapped IPv6 addresses (``::ffff:127.0.0.1``) are judged as the IPv4 address they carry
(the kernel connects to that address), and NAT64 addresses (``64:ff9b::/96``) as the IPv4 address they
translate to. IPv4 written the old ways ``inet_aton`` accepts (``2130706433``, ``0x7f.1``, ``0177.0.0.1``)
is recognised as the address it means.

Both lists are comma-separated entries: a network (``10.1.0.0/16``, ``fd12:3456::/48``), an address
(``10.1.2.3``, ``::1``), a host name (``data.internal.example.org``), or a wildcard for the names under a
domain (``*.internal.example.org``; not the domain itself). A name entry matches the URL's host as written
(case-insensitive, trailing dot ignored; write internationalised names in their ``xn--`` form).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network
from urllib.parse import urlsplit

from dlws_flow.errors import ConfigurationError, ValidationError

Address = IPv4Address | IPv6Address
Network = IPv4Network | IPv6Network

#: Refused unless allowed (rule 4), with the reason the worker log gives. IPv6 outside ``2000::/3`` is
#: refused as a whole (``NON_GLOBAL_V6`` names the common cases); these are the blocks inside it.
INTERNAL_NETWORKS: tuple[tuple[Network, str], ...] = tuple((ip_network(net), why) for net, why in (
    ("0.0.0.0/8", "unspecified ('this network')"),
    ("10.0.0.0/8", "private (RFC 1918)"),
    ("100.64.0.0/10", "shared address space (carrier-grade NAT)"),
    ("127.0.0.0/8", "loopback"),
    ("169.254.0.0/16", "link-local"),
    ("172.16.0.0/12", "private (RFC 1918)"),
    ("192.0.0.0/24", "IETF protocol assignments"),
    ("192.0.2.0/24", "documentation"),
    ("192.88.99.0/24", "6to4 relay anycast (deprecated)"),
    ("192.168.0.0/16", "private (RFC 1918)"),
    ("198.18.0.0/15", "benchmarking"),
    ("198.51.100.0/24", "documentation"),
    ("203.0.113.0/24", "documentation"),
    ("224.0.0.0/4", "multicast"),
    ("240.0.0.0/4", "reserved (and broadcast)"),
    ("2001::/23", "IETF special-purpose (Teredo and others)"),
    ("2001:db8::/32", "documentation"),
    ("2002::/16", "6to4 (it carries an arbitrary IPv4 address)"),
    ("3fff::/20", "documentation"),
))

#: Why an IPv6 address outside global unicast is refused, most specific first.
NON_GLOBAL_V6: tuple[tuple[IPv6Network, str], ...] = tuple((ip_network(net), why) for net, why in (
    ("::/128", "unspecified"),
    ("::1/128", "loopback"),
    ("fc00::/7", "unique local (private)"),
    ("fe80::/10", "link-local"),
    ("ff00::/8", "multicast"),
    ("::/0", "reserved (outside global unicast 2000::/3)"),
))

GLOBAL_UNICAST_V6 = ip_network("2000::/3")
NAT64 = ip_network("64:ff9b::/96")

#: Instance-metadata endpoints (AWS, its IPv6 endpoint, ECS and EKS credentials, GCP and Azure share the first,
#: Alibaba, Oracle's legacy one). Rule 2: only an allow entry of exactly the address lets one through.
METADATA_ADDRESSES: frozenset[Address] = frozenset(ip_address(a) for a in (
    "169.254.169.254", "fd00:ec2::254", "169.254.170.2", "169.254.170.23", "fd00:ec2::23", "100.100.100.200",
    "192.0.0.192",
))

_NAME = re.compile(r"(?:\*\.)?(?:[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?\.)*[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?")
_HEX, _OCTAL, _DECIMAL = re.compile(r"0[xX][0-9a-fA-F]*"), re.compile(r"0[0-7]*"), re.compile(r"[1-9][0-9]*")


class AddressNotAllowedError(ValidationError):
    """A URL's host is, or resolves to, an address the deployment's policy refuses.

    The message names the host as the user wrote it and nothing else: not what the host resolved to, nor
    whether anything listens there. ``reason`` says why, for the operator's log only.
    """

    def __init__(self, host: str, reason: str = "", *, redirected: bool = False, subject: str = "") -> None:
        detail = f"{host} redirected to an address that may not be fetched" if redirected else host
        super().__init__(f"{subject + ': ' if subject else ''}address not allowed ({detail})")
        self.host = host
        self.reason = reason
        self.redirected = redirected


def host_as_written(url: str) -> str:
    """The host part of ``url`` as the user typed it (no user info, no port; IPv6 keeps its brackets)."""
    netloc = urlsplit(url).netloc.rpartition("@")[2]
    if netloc.startswith("["):
        return netloc[:netloc.find("]") + 1] if "]" in netloc else netloc
    return netloc.rpartition(":")[0] if ":" in netloc else netloc


def _legacy_ipv4(text: str) -> IPv4Address | None:
    """IPv4 in the forms ``inet_aton`` accepts: 1 to 4 parts, each decimal, octal (``0...``) or hex (``0x...``),
    the last part filling the remaining bytes (``127.1`` is 127.0.0.1, ``2130706433`` too)."""
    parts = text.split(".")
    if not 1 <= len(parts) <= 4:
        return None
    values = []
    for part in parts:
        if _HEX.fullmatch(part):
            values.append(int(part[2:] or "0", 16))
        elif _OCTAL.fullmatch(part):
            values.append(int(part, 8))
        elif _DECIMAL.fullmatch(part):
            values.append(int(part))
        else:
            return None
    *leading, last = values
    if any(v > 255 for v in leading) or last >= 256 ** (4 - len(leading)):
        return None
    number = 0
    for value in leading:
        number = number << 8 | value
    return IPv4Address(number << 8 * (4 - len(leading)) | last)


def parse_address(host: str) -> Address | None:
    """The address a URL host literally is (``[::1]``, ``127.0.0.1``, ``0x7f.1``), or None for a host name.

    IPv4-mapped IPv6 comes back as its IPv4 address.
    """
    text = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        address = ip_address(text)
    except ValueError:
        address = _legacy_ipv4(text)
    return normalise(address) if address is not None else None


def normalise(address: Address) -> Address:
    """An IPv4-mapped IPv6 address as the IPv4 address it carries; any other address unchanged."""
    if isinstance(address, IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address.scope_id:
            return IPv6Address(str(address).split("%", 1)[0])
    return address


def _judged_as(address: Address) -> tuple[Address, ...]:
    """The addresses the lists are matched against: the address, and the IPv4 address a NAT64 one stands for."""
    if isinstance(address, IPv6Address) and address in NAT64:
        return address, IPv4Address(int(address) & 0xFFFFFFFF)
    return (address,)


def internal_reason(address: Address) -> str | None:
    """Why rule 4 refuses ``address`` (not a public unicast address), or None when it is public."""
    address = normalise(address)
    if isinstance(address, IPv6Address) and address in NAT64:
        embedded = IPv4Address(int(address) & 0xFFFFFFFF)
        reason = internal_reason(embedded)
        return f"NAT64 for {embedded}, which is {reason}" if reason else None
    if isinstance(address, IPv6Address) and address not in GLOBAL_UNICAST_V6:
        return next(why for net, why in NON_GLOBAL_V6 if address in net)
    return next((why for net, why in INTERNAL_NETWORKS if address.version == net.version and address in net), None)


def _name_key(name: str) -> str:
    return name.strip().rstrip(".").lower()


def _parse_entry(entry: str, setting: str) -> Network | str:
    text = entry.replace("[", "").replace("]", "")  # [::1] and [fd00::]/8 as well as ::1 and fd00::/8
    try:
        network = ip_network(text, strict=True)
    except ValueError as exc:
        if "/" in text or ":" in text or re.fullmatch(r"[0-9.]+", text):
            raise ConfigurationError(f"{setting} entry {entry!r} is not a valid network or address: {exc}") from exc
    else:
        if isinstance(network, IPv6Network) and network.prefixlen >= 96 and network[0].ipv4_mapped is not None:
            return ip_network(f"{network[0].ipv4_mapped}/{network.prefixlen - 96}")
        return network
    name = _name_key(entry)
    if not _NAME.fullmatch(name) or len(name) > 253:
        raise ConfigurationError(f"{setting} entry {entry!r} is neither a network, an address nor a host name")
    return name


def parse_entries(text: str, setting: str = "the address list") -> tuple[tuple[Network, ...], tuple[str, ...]]:
    """``(networks, host names)`` of a comma-separated list; raises ConfigurationError naming a bad entry."""
    networks: list[Network] = []
    names: list[str] = []
    for entry in (e.strip() for e in (text or "").split(",")):
        if entry:
            parsed = _parse_entry(entry, setting)
            (names if isinstance(parsed, str) else networks).append(parsed)
    return tuple(networks), tuple(names)


def _name_matches(host: str, patterns: Iterable[str]) -> bool:
    key = _name_key(host)
    return any(key == p or (p.startswith("*.") and key.endswith(p[1:])) for p in patterns)


@dataclass(frozen=True)
class AddressPolicy:
    """A deployment's allow and deny lists, and the decision they make with the built-in rules."""

    allow_networks: tuple[Network, ...] = ()
    allow_names: tuple[str, ...] = ()
    deny_networks: tuple[Network, ...] = ()
    deny_names: tuple[str, ...] = ()

    @classmethod
    def parse(cls, allow: str = "", deny: str = "") -> AddressPolicy:
        """From ``DLWS_FETCH_ALLOW`` and ``DLWS_FETCH_DENY`` text. Raises ConfigurationError on a bad entry."""
        allow_networks, allow_names = parse_entries(allow, "DLWS_FETCH_ALLOW")
        deny_networks, deny_names = parse_entries(deny, "DLWS_FETCH_DENY")
        return cls(allow_networks, allow_names, deny_networks, deny_names)

    def address_refusal(self, address: Address, *, name_allowed: bool = False) -> str | None:
        """Why one address is refused (rules 1, 2 and 4; ``name_allowed``: its host is on the allow list), or None."""
        address = normalise(address)
        judged = _judged_as(address)
        for candidate in judged:
            if any(candidate.version == n.version and candidate in n for n in self.deny_networks):
                return f"{candidate} is on DLWS_FETCH_DENY"
        for candidate in judged:
            if candidate in METADATA_ADDRESSES:
                exact = any(n.num_addresses == 1 and n.version == candidate.version and candidate in n
                            for n in self.allow_networks)
                return None if exact else f"{candidate} is a cloud metadata address"
        if name_allowed or any(c.version == n.version and c in n for c in judged for n in self.allow_networks):
            return None
        reason = internal_reason(address)
        return f"{address} is {reason}" if reason else None

    def refusal(self, host: str, addresses: Sequence[Address]) -> str | None:
        """Why a connection to ``host`` at ``addresses`` (all that it resolved to) is refused, or None.

        The reason is for the operator's log; users see ``AddressNotAllowedError`` only.
        """
        if _name_matches(host, self.deny_names):
            return f"host {host} is on DLWS_FETCH_DENY"
        if not addresses:
            return f"host {host} has no address"
        name_allowed = _name_matches(host, self.allow_names)
        for address in addresses:
            reason = self.address_refusal(address, name_allowed=name_allowed)
            if reason:
                return reason
        return None

    def literal_refusal(self, host: str) -> str | None:
        """What can be decided without DNS: a host that is a refused address literal or a denied name.

        A host name that is not on the deny list passes here; it is checked when it is resolved.
        """
        if _name_matches(host, self.deny_names):
            return f"host {host} is on DLWS_FETCH_DENY"
        address = parse_address(host)
        return self.refusal(host, [address]) if address is not None else None


@functools.lru_cache(maxsize=8)
def policy_from_lists(allow: str, deny: str) -> AddressPolicy:
    """``AddressPolicy.parse``, remembered: settings are read per call, the lists rarely change."""
    return AddressPolicy.parse(allow, deny)


__all__ = ["INTERNAL_NETWORKS", "METADATA_ADDRESSES", "AddressNotAllowedError", "AddressPolicy", "host_as_written",
           "internal_reason", "normalise", "parse_address", "parse_entries", "policy_from_lists"]
