"""Special addresses, named as such: private, shared, loopback, link-local, AWS's own services.

The AWS names come first where they sit inside a wider range: the instance metadata service
(``169.254.169.254``, ``fd00:ec2::254``), the Amazon DNS server (``169.254.169.253``,
``fd00:ec2::253``, and the VPC+2 resolver of each VPC CIDR given), the Time Sync Service
(``169.254.169.123``, ``fd00:ec2::123``); see
https://docs.aws.amazon.com/vpc/latest/userguide/AmazonDNS-concepts.html and
https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/instancedata-data-retrieval.html. The IANA
ranges follow RFC 6890's special-purpose registries (RFC 1918 private, RFC 6598 shared CGNAT,
RFC 5737/3849 documentation, RFC 4193 unique local, ...). Every entry has a ``name`` (what a
user reads) and a ``kind`` (a short key to filter on).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

import pyarrow as pa

from flowscope.errors import UsageError
from flowscope.estate.prefixes import Network, ParsedAddresses, PrefixTable


@dataclass(frozen=True)
class Special:
    network: Network
    name: str
    kind: str


def _s(cidr: str, name: str, kind: str) -> Special:
    return Special(ipaddress.ip_network(cidr), name, kind)


SPECIAL: tuple[Special, ...] = (
    _s("169.254.169.254/32", "Instance metadata (IMDS)", "aws-imds"),
    _s("fd00:ec2::254/128", "Instance metadata (IMDS)", "aws-imds"),
    _s("169.254.169.253/32", "Amazon DNS", "aws-dns"),
    _s("fd00:ec2::253/128", "Amazon DNS", "aws-dns"),
    _s("169.254.169.123/32", "Amazon Time Sync", "aws-ntp"),
    _s("fd00:ec2::123/128", "Amazon Time Sync", "aws-ntp"),
    _s("10.0.0.0/8", "Private (RFC 1918)", "private"),
    _s("172.16.0.0/12", "Private (RFC 1918)", "private"),
    _s("192.168.0.0/16", "Private (RFC 1918)", "private"),
    _s("100.64.0.0/10", "Shared address space (CGNAT, RFC 6598)", "shared"),
    _s("127.0.0.0/8", "Loopback", "loopback"),
    _s("::1/128", "Loopback", "loopback"),
    _s("169.254.0.0/16", "Link-local", "link-local"),
    _s("fe80::/10", "Link-local", "link-local"),
    _s("0.0.0.0/8", "This network", "unspecified"),
    _s("::/128", "Unspecified", "unspecified"),
    _s("224.0.0.0/4", "Multicast", "multicast"),
    _s("ff00::/8", "Multicast", "multicast"),
    _s("255.255.255.255/32", "Broadcast", "broadcast"),
    _s("240.0.0.0/4", "Reserved", "reserved"),
    _s("192.0.2.0/24", "Documentation (TEST-NET-1)", "documentation"),
    _s("198.51.100.0/24", "Documentation (TEST-NET-2)", "documentation"),
    _s("203.0.113.0/24", "Documentation (TEST-NET-3)", "documentation"),
    _s("2001:db8::/32", "Documentation", "documentation"),
    _s("3fff::/20", "Documentation", "documentation"),
    _s("198.18.0.0/15", "Benchmarking (RFC 2544)", "benchmarking"),
    _s("192.0.0.0/24", "IETF protocol assignments", "reserved"),
    _s("fc00::/7", "Unique local (ULA)", "private"),
    _s("64:ff9b::/96", "NAT64", "nat64"),
    _s("64:ff9b:1::/48", "NAT64 (local use)", "nat64"),
)


def vpc_resolver(vpc_cidr: str) -> Special:
    """The Amazon DNS resolver of a VPC: its primary CIDR's base address plus two."""
    try:
        network = ipaddress.ip_network(vpc_cidr, strict=True)
    except ValueError as e:
        raise UsageError(f"VPC CIDR {vpc_cidr!r} is not a CIDR ({e})") from e
    if network.version != 4 or network.prefixlen > 28:
        raise UsageError(f"VPC CIDR {vpc_cidr!r}: expected an IPv4 block of /28 or larger")
    resolver = ipaddress.ip_network(f"{network.network_address + 2}/32")
    return Special(resolver, f"Amazon DNS (VPC+2 of {network})", "aws-dns")


class SpecialAddresses:
    """The special ranges (plus each VPC's +2 resolver), as a longest-prefix-match table."""

    def __init__(self, vpc_cidrs: Iterable[str] = ()) -> None:
        self.entries = [vpc_resolver(c) for c in vpc_cidrs] + list(SPECIAL)
        self._table = PrefixTable([e.network for e in self.entries])
        self._by_entry: pa.Table | None = None

    def lookup(self, addresses: pa.Array | pa.ChunkedArray) -> pa.Table:
        """Per address: ``name`` and ``kind`` of the most specific special range, or null."""
        return self._columns(self._table.lookup(addresses))

    def lookup_parsed(self, parsed: ParsedAddresses, count: int) -> pa.Int32Array:
        """The index into :attr:`entries` per already parsed address (null: not special)."""
        return self._table.lookup_parsed(parsed, count)

    def _columns(self, index: pa.Int32Array) -> pa.Table:
        if self._by_entry is None:
            self._by_entry = pa.table(
                {
                    "name": pa.array([e.name for e in self.entries], pa.string()),
                    "kind": pa.array([e.kind for e in self.entries], pa.string()),
                }
            )
        return self._by_entry.take(index)
