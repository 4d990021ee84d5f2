"""Longest-prefix match: the most specific network wins, IPv4, IPv6 and IPv4-mapped IPv6."""

from __future__ import annotations

import ipaddress
import random

import pyarrow as pa

from flowscope.estate.prefixes import PrefixTable


def table(*cidrs: str) -> PrefixTable:
    return PrefixTable([ipaddress.ip_network(c) for c in cidrs])


def test_most_specific_network_wins_ipv4_and_ipv6() -> None:
    t = table(
        "10.0.0.0/8",  # 0
        "10.1.0.0/16",  # 1
        "10.1.2.0/24",  # 2
        "10.1.2.3/32",  # 3
        "2001:db8::/32",  # 4
        "2001:db8:1::/48",  # 5
        "2001:db8:1::5/128",  # 6
        "0.0.0.0/0",  # 7
    )
    addresses = pa.array(
        [
            "10.1.2.3",
            "10.1.2.4",
            "10.1.9.9",
            "10.200.0.1",
            "8.8.8.8",
            "2001:db8:1::5",
            "2001:db8:1::6",
            "2001:db8:2::1",
            "2001:db9::1",
            "255.255.255.255",
        ]
    )
    assert t.lookup(addresses).to_pylist() == [3, 2, 1, 0, 7, 6, 5, 4, None, 7]


def test_ipv4_mapped_ipv6_matches_its_ipv4_prefix() -> None:
    t = table("10.0.0.0/8", "10.1.0.0/16", "::ffff:0:0/96")
    got = t.lookup(pa.array(["::ffff:10.1.0.7", "::ffff:10.9.0.7", "::FFFF:0a01:0001"]))
    assert got.to_pylist() == [1, 0, 1]


def test_not_addresses_and_nulls_match_nothing() -> None:
    t = table("0.0.0.0/0", "::/0")
    got = t.lookup(
        pa.array(["1.2.3", "1.2.3.4.5", "256.1.1.1", "a.b.c.d", "", None, "fe80::1%eth0", "::g"])
    )
    assert got.to_pylist() == [None] * 8


def test_same_network_twice_the_first_given_wins() -> None:
    t = table("52.95.128.0/21", "52.95.128.0/21", "52.0.0.0/8")
    assert t.lookup(pa.array(["52.95.128.1", "52.1.1.1"])).to_pylist() == [0, 2]


def test_edges_of_the_address_space() -> None:
    t = table("255.255.255.0/24", "0.0.0.0/8", "ffff::/16", "::/8")
    got = t.lookup(pa.array(["255.255.255.255", "0.0.0.0", "ffff:ffff::ffff", "::1", "1.0.0.0"]))
    assert got.to_pylist() == [0, 1, 2, 3, None]


def test_agrees_with_a_plain_ipaddress_loop_on_random_nested_networks() -> None:
    rng = random.Random(7)
    networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
    for _ in range(300):
        base = rng.choice([0x0A000000, 0xC0A80000, 0x34000000])
        length = rng.randint(8, 32)
        networks.append(ipaddress.IPv4Network((base | rng.getrandbits(24), length), strict=False))
        v6 = (0x2001_0DB8 << 96) | rng.getrandbits(40) << 56
        networks.append(ipaddress.IPv6Network((v6, rng.randint(32, 128)), strict=False))
    addresses: list[str] = []
    for _ in range(2000):
        net = rng.choice(networks)
        offset = rng.randrange(min(net.num_addresses, 1 << 30))
        addresses.append(str(net.network_address + offset))
        addresses.append(str(ipaddress.IPv4Address(rng.getrandbits(32))))
    expected = []
    for text in addresses:
        address = ipaddress.ip_address(text)
        best = None
        for i, net in enumerate(networks):
            if address.version == net.version and address in net:
                if best is None or net.prefixlen > networks[best].prefixlen:
                    best = i
        expected.append(best)
    assert PrefixTable(networks).lookup(pa.array(addresses)).to_pylist() == expected
