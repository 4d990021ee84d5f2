"""Prefix benchmark: longest-prefix match of many distinct addresses against many networks.

Builds N networks (5,000 unless told: 90% IPv4 of lengths /8 to /32, nested so that most
addresses have several candidates, 10% IPv6 /32 to /128) and M distinct addresses (1,000,000
unless told: 95% IPv4, half of them inside some network; 5% IPv6). Then, in one run:

- the table's build time, and :meth:`PrefixTable.lookup` over the M addresses (parse included),
  median and best of several runs after one warm-up;
- the same through a plain Python loop with :mod:`ipaddress` (each address against every
  network, the longest match kept) on a sample, extrapolated to M and labelled as such; the
  sample's answers are checked against the table's;
- loading a 5,000-line networks file (YAML), as ``load_networks`` checks and indexes it;
- parsing an ``ip-ranges.json`` of 12,000 prefixes (9,000 IPv4, 3,000 IPv6), about AWS's size;
- the embedded country + ASN default (``EmbeddedGeo``): its load, then the M addresses at once,
  beside geoip2fast's own lookup, one address at a time, on a sample (extrapolated).

Usage: ``python bench/prefixes.py [--networks 5000] [--addresses 1000000] [--runs 5]``
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import random
import statistics
import tempfile
import time
from pathlib import Path

import pyarrow as pa
from geoip2fast import GeoIP2Fast

from flowscope.estate.awsranges import parse_ip_ranges
from flowscope.estate.geo import EmbeddedGeo
from flowscope.estate.networks import load_networks
from flowscope.estate.prefixes import Network, PrefixTable


def make_networks(count: int, rng: random.Random) -> list[Network]:
    networks: set[Network] = set()
    v4_bases = [rng.getrandbits(32) for _ in range(max(1, count // 50))]
    while len(networks) < count:
        if rng.random() < 0.9:
            base = rng.choice(v4_bases)
            length = rng.randint(8, 32)
            addr = base ^ rng.getrandbits(32 - 8) if length > 8 else base
            networks.add(ipaddress.IPv4Network((addr, length), strict=False))
        else:
            addr = (0x2001_0DB8 << 96) | rng.getrandbits(96)
            networks.add(ipaddress.IPv6Network((addr, rng.randint(32, 128)), strict=False))
    return sorted(networks, key=lambda n: (n.version, n))


def make_addresses(count: int, networks: list[Network], rng: random.Random) -> list[str]:
    seen: set[str] = set()
    v4_nets = [n for n in networks if n.version == 4]
    v6_nets = [n for n in networks if n.version == 6]
    while len(seen) < count:
        r = rng.random()
        if r < 0.95:
            if rng.random() < 0.5:
                net = rng.choice(v4_nets)
                addr = int(net.network_address) + rng.randrange(net.num_addresses)
            else:
                addr = rng.getrandbits(32)
            seen.add(str(ipaddress.IPv4Address(addr)))
        else:
            net = rng.choice(v6_nets)
            offset = rng.randrange(min(net.num_addresses, 1 << 64))
            seen.add(str(ipaddress.IPv6Address(int(net.network_address) + offset)))
    return list(seen)


def naive(addresses: list[str], networks: list[Network]) -> list[int | None]:
    out: list[int | None] = []
    for text in addresses:
        address = ipaddress.ip_address(text)
        best: int | None = None
        for i, net in enumerate(networks):
            if address.version == net.version and address in net:
                if best is None or net.prefixlen > networks[best].prefixlen:
                    best = i
        out.append(best)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--networks", type=int, default=5000)
    parser.add_argument("--addresses", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--sample", type=int, default=500)
    args = parser.parse_args()
    rng = random.Random(12)
    networks = make_networks(args.networks, rng)
    addresses = make_addresses(args.addresses, networks, rng)
    array = pa.array(addresses, pa.string())
    lengths = {(n.version, n.prefixlen) for n in networks}
    print(
        f"{len(networks):,} networks ({len(lengths)} distinct family/length pairs), "
        f"{len(addresses):,} distinct addresses"
    )

    start = time.perf_counter()
    table = PrefixTable(networks)
    print(f"build:                  {time.perf_counter() - start:8.3f} s")

    table.lookup(array)
    times = []
    for _ in range(args.runs):
        start = time.perf_counter()
        result = table.lookup(array)
        times.append(time.perf_counter() - start)
    matched = len(result) - result.null_count
    print(
        f"lookup (vectorised):    {statistics.median(times):8.3f} s median, "
        f"{min(times):.3f} s best; {matched:,} matched"
    )

    sample = addresses[: args.sample]
    start = time.perf_counter()
    expected = naive(sample, networks)
    took = time.perf_counter() - start
    per = took / len(sample)
    print(
        f"naive ipaddress loop:   {per * 1e3:8.3f} ms per address on a {len(sample)}-address "
        f"sample; extrapolated to {len(addresses):,}: {per * len(addresses):,.0f} s"
    )
    got = result.to_pylist()[: len(sample)]
    mismatches = sum(1 for a, b in zip(got, expected, strict=True) if a != b)
    print(f"answers checked against the loop on the sample: {mismatches} mismatches")

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "networks.yaml"
        path.write_text(
            "".join(f"{n}:\n  name: net-{i}\n  site: s{i % 7}\n" for i, n in enumerate(networks))
        )
        start = time.perf_counter()
        named = load_networks(path)
        took = time.perf_counter() - start
        start = time.perf_counter()
        named.lookup(array)
        print(
            f"networks file:          {took:8.3f} s to load {len(networks):,} entries (YAML); "
            f"lookup {time.perf_counter() - start:.3f} s"
        )

    services = ["AMAZON", "EC2", "S3", "CLOUDFRONT", "ROUTE53_HEALTHCHECKS"]
    v4 = [
        ipaddress.IPv4Network((rng.getrandbits(32), rng.randint(12, 28)), strict=False)
        for _ in range(9000)
    ]
    v6 = [
        ipaddress.IPv6Network((rng.getrandbits(128), rng.randint(32, 64)), strict=False)
        for _ in range(3000)
    ]
    doc = json.dumps(
        {
            "syncToken": "1",
            "createDate": "2026-11-30-00-00-00",
            "prefixes": [
                {"ip_prefix": str(n), "region": "eu-west-1", "service": rng.choice(services)}
                for n in v4
            ],
            "ipv6_prefixes": [
                {"ipv6_prefix": str(n), "region": "us-east-1", "service": rng.choice(services)}
                for n in v6
            ],
        }
    )
    start = time.perf_counter()
    parse_ip_ranges(doc)
    print(
        f"ip-ranges.json:         {time.perf_counter() - start:8.3f} s to parse, check and index "
        f"{len(v4) + len(v6):,} prefixes ({len(doc) / 1e6:.1f} MB)"
    )

    start = time.perf_counter()
    geo = EmbeddedGeo()
    print(f"embedded geo load:      {time.perf_counter() - start:8.3f} s")
    times = []
    for _ in range(max(1, args.runs // 2)):
        start = time.perf_counter()
        answer = geo.lookup(array)
        times.append(time.perf_counter() - start)
    known = len(answer) - answer.column("country").null_count
    print(
        f"embedded geo lookup:    {statistics.median(times):8.3f} s median, "
        f"{min(times):.3f} s best; {known:,} with a country"
    )
    own = GeoIP2Fast(geoip2fast_data_file="geoip2fast-asn-ipv6.dat.gz")
    sample = addresses[: args.sample * 20]
    start = time.perf_counter()
    for text in sample:
        own.lookup(text)
    per = (time.perf_counter() - start) / len(sample)
    print(
        f"geoip2fast, one by one: {per * 1e6:8.1f} us per address on a {len(sample):,}-address "
        f"sample; extrapolated to {len(addresses):,}: {per * len(addresses):.1f} s"
    )


if __name__ == "__main__":
    main()
