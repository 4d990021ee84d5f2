"""Estate benchmark: the versioned inventory's refresh and as-of lookups at the issue's sizes.

Builds a synthetic inventory of N interfaces (50,000 unless told), each with a private address,
its interface id and, for one in five, a public address; then times:

- ``update`` with the first snapshot (all rows new), again with nothing changed, and with 5%
  of the addresses moved to another instance;
- ``as_of`` for M (address, time) pairs (2,000,000 unless told) drawn from those addresses
  and some unknown ones, beside a plain Python loop (a dict per address, a scan of its spans)
  over a sample of 200,000 rows, extrapolated to M and labelled as such.

Usage: ``python bench/estate.py [--interfaces 50000] [--lookups 2000000] [--runs 3]``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa

from flowscope.estate.aws import Identity
from flowscope.estate.history import as_of, as_of_rows, empty_history, snapshot_table, update

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def estate(n: int, moved: set[int], owner_shift: int = 0) -> list[Identity]:
    out = []
    for k in range(n):
        inst = (k + (owner_shift if k in moved else 0)) % n
        base = Identity(
            address="",
            kind="instance",
            resource_id=f"i-{inst:017x}",
            name=f"web-{inst}",
            vpc_id=f"vpc-{k % 20:017x}",
            subnet_id=f"subnet-{k % 200:017x}",
            az="us-east-1a",
            security_groups=(f"sg-{k % 50:017x}",),
            account="111122223333",
            region="us-east-1",
            tags=(("Name", f"web-{inst}"), ("team", f"t{inst % 7}")),
            interface_id=f"eni-{k:017x}",
        )
        addresses = [f"10.{k >> 16 & 255}.{k >> 8 & 255}.{k & 255}", f"eni-{k:017x}"]
        if k % 5 == 0:
            addresses.append(f"52.{k >> 16 & 255}.{k >> 8 & 255}.{k & 255}")
        out.extend(Identity(**{**base.__dict__, "address": a}) for a in addresses)
    return out


def timed(fn: Callable[[], Any], runs: int) -> tuple[float, float, Any]:
    times, result = [], None
    for _ in range(runs):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), min(times), result


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--interfaces", type=int, default=50_000)
    ap.add_argument("--lookups", type=int, default=2_000_000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    n, m = args.interfaces, args.lookups
    rng = np.random.default_rng(7)
    moved = set(rng.choice(n, n // 20, replace=False).tolist())
    t1, t2, t3 = T0, T0 + timedelta(hours=1), T0 + timedelta(hours=2)
    snap1 = snapshot_table(estate(n, set()))
    snap2 = snapshot_table(estate(n, moved, owner_shift=1))
    print(f"inventory: {n:,} interfaces, {snap1.num_rows:,} identities per snapshot")

    med, best, h1 = timed(lambda: update(empty_history(), snap1, t1), args.runs)
    print(f"update, first snapshot:   median {med:.2f} s, best {best:.2f} s ({h1.num_rows:,} rows)")
    med, best, h2 = timed(lambda: update(h1, snap1, t2), args.runs)
    print(f"update, nothing changed:  median {med:.2f} s, best {best:.2f} s ({h2.num_rows:,} rows)")
    med, best, h3 = timed(lambda: update(h2, snap2, t3), args.runs)
    print(f"update, 5% moved:         median {med:.2f} s, best {best:.2f} s ({h3.num_rows:,} rows)")

    known = snap1.column("address").to_numpy(zero_copy_only=False)
    pick = rng.integers(0, len(known), m)
    addresses = known[pick].astype(object)
    addresses[rng.random(m) < 0.2] = "198.51.100.7"  # unknown peers
    span = int((t3 + timedelta(hours=1) - t1).total_seconds())
    seconds = int(t1.timestamp()) + rng.integers(-600, span, m)
    addr = pa.array(addresses, pa.string())
    when = pa.array(seconds, pa.int64()).cast(pa.timestamp("s", tz="UTC"))
    med, best, rows_ = timed(lambda: as_of_rows(h3, addr, when), args.runs)
    print(
        f"as_of_rows, {m:,} lookups (row numbers only): median {med:.2f} s, best {best:.2f} s "
        f"({m / med / 1e6:.1f} M/s; {m - rows_.null_count:,} named)"
    )
    for label, columns in (
        ("name, kind, resource_id", ["name", "kind", "resource_id"]),
        ("all", None),
    ):
        med, best, got = timed(lambda: as_of(h3, addr, when, columns), args.runs)  # noqa: B023
        named = m - got.column(0).null_count
        print(
            f"as_of, {m:,} lookups, {label} columns: median {med:.2f} s, best {best:.2f} s "
            f"({m / med / 1e6:.1f} M/s; {named:,} named)"
        )

    spans: dict[str, list[tuple[datetime, datetime | None, str]]] = defaultdict(list)
    for r in h3.select(["address", "valid_from", "valid_to", "name"]).to_pylist():
        spans[r["address"]].append((r["valid_from"], r["valid_to"], r["name"]))
    sample = min(m, 200_000)
    rows = list(
        zip(addr.slice(0, sample).to_pylist(), when.slice(0, sample).to_pylist(), strict=True)
    )
    t = time.perf_counter()
    loop_names: list[str | None] = []
    for a, w in rows:
        found = None
        for start, end, name in spans.get(a, ()):
            if start <= w and (end is None or w < end):
                found = name
        loop_names.append(found)
    loop = (time.perf_counter() - t) * m / sample
    same = (
        loop_names
        == as_of(h3, addr.slice(0, sample), when.slice(0, sample), ["name"])
        .column("name")
        .to_pylist()
    )
    print(f"the loop and as_of name the {sample:,} sampled rows alike: {same}")
    print(f"python loop, {m:,} lookups: {loop:.2f} s (extrapolated from {sample:,} rows)")


if __name__ == "__main__":
    main()
