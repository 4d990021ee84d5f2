"""Special addresses are named as such, AWS's own before the wider ranges that hold them."""

from __future__ import annotations

import pyarrow as pa
import pytest

from flowscope.errors import UsageError
from flowscope.estate.special import SpecialAddresses


def test_special_addresses_are_named() -> None:
    addresses = [
        "169.254.169.254",
        "169.254.169.253",
        "169.254.169.123",
        "169.254.10.1",
        "fd00:ec2::254",
        "10.0.0.2",
        "10.0.3.17",
        "172.31.0.2",
        "192.168.1.1",
        "100.64.1.1",
        "127.0.0.1",
        "224.0.0.251",
        "ff02::fb",
        "fd12:3456::1",
        "fe80::1",
        "192.0.2.7",
        "2001:db8::1",
        "::ffff:10.0.0.2",
        "8.8.8.8",
        "2600:1f18::1",
    ]
    got = SpecialAddresses(vpc_cidrs=["10.0.0.0/16", "172.31.0.0/16"]).lookup(pa.array(addresses))
    assert got.column("kind").to_pylist() == [
        "aws-imds",
        "aws-dns",
        "aws-ntp",
        "link-local",
        "aws-imds",
        "aws-dns",
        "private",
        "aws-dns",
        "private",
        "shared",
        "loopback",
        "multicast",
        "multicast",
        "private",
        "link-local",
        "documentation",
        "documentation",
        "aws-dns",
        None,
        None,
    ]
    assert got.column("name").to_pylist()[:6] == [
        "Instance metadata (IMDS)",
        "Amazon DNS",
        "Amazon Time Sync",
        "Link-local",
        "Instance metadata (IMDS)",
        "Amazon DNS (VPC+2 of 10.0.0.0/16)",
    ]


def test_without_a_vpc_its_plus_two_is_just_private() -> None:
    got = SpecialAddresses().lookup(pa.array(["10.0.0.2"]))
    assert got.to_pydict() == {"name": ["Private (RFC 1918)"], "kind": ["private"]}


@pytest.mark.parametrize("cidr", ["10.0.0.1/16", "nope", "10.0.0.0/30", "2001:db8::/56"])
def test_a_bad_vpc_cidr_is_a_usage_error(cidr: str) -> None:
    with pytest.raises(UsageError, match="VPC CIDR"):
        SpecialAddresses(vpc_cidrs=[cidr])
