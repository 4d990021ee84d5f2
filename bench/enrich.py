"""Enrichment benchmark: what naming every endpoint costs at ingest and on the dashboard.

Builds an estate at the issue's sizes (an inventory of 50,000 interfaces, each with a private
address, for one in five a public one too, and its interface id; 5,000 named networks; 3,000
AWS prefixes in an ip-ranges.json; the embedded geo database), covering the addresses of the
benchmark file first so that lookups find real answers. Then prints side by side:

- ``flowscope ingest`` of N records (2,000,000 unless told; the real command in a subprocess)
  into a fresh store: without an estate and with geo off (the path before enrichment existed),
  and into a fresh store holding the estate (geo on). Median and best of ``--runs``.
- the dashboard's questions (histogram split by action, five top-N, metrics: what the page asks
  first) through the API on a store of M flows (10,000,000 unless told) built from the two
  ingests (the rows copied with shifted times), without and with endpoint ids, and the four new
  panels (top src_name, dst_service, dst_country, dst_as_org) on the enriched one.

Usage: ``python bench/enrich.py [--records 2000000] [--rows 10000000] [--runs 3]``.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
from fastapi.testclient import TestClient
from query import timed  # bench/query.py: median and best of runs, after a warm-up

from flowscope.api import create_app
from flowscope.demo.generate import write_benchmark_file
from flowscope.engines.duckdb.store import DuckStore
from flowscope.estate.aws import Identity
from flowscope.estate.history import empty_history, snapshot_table, update
from flowscope.estate.store import (
    HISTORY_ITEM,
    IP_RANGES_ITEM,
    NETWORKS_ITEM,
    EstateItem,
    history_bytes,
)

INTERFACES = 50_000
NETWORKS = 5_000
PREFIXES = 3_000


def file_addresses(path: Path) -> list[str]:
    con = duckdb.connect()
    rows = con.execute(
        f"""SELECT a FROM (
              SELECT column03 AS a FROM read_csv('{path}', delim=' ', header=false, skip=1,
                  all_varchar=true)
              UNION SELECT column04 FROM read_csv('{path}', delim=' ', header=false, skip=1,
                  all_varchar=true)) ORDER BY a"""
    ).fetchall()
    con.close()
    return [str(r[0]) for r in rows if r[0] not in (None, "-")]


def build_estate(addresses: list[str], at: datetime) -> dict[str, EstateItem]:
    private = [a for a in addresses if ipaddress.ip_address(a).is_private]
    public = [a for a in addresses if not ipaddress.ip_address(a).is_private]
    identities = []
    for k in range(INTERFACES):
        eni = f"eni-{k:017x}"
        address = (
            private[k] if k < len(private) else f"10.{100 + (k >> 16)}.{k >> 8 & 255}.{k & 255}"
        )
        base = dict(
            kind="instance",
            resource_id=f"i-{k:017x}",
            name=f"host-{k}",
            vpc_id=f"vpc-{k % 20:017x}",
            subnet_id=f"subnet-{k % 200:017x}",
            az="us-east-1a",
            security_groups=(f"sg-{k % 50:017x}",),
            account="111122223333",
            region="us-east-1",
            tags=(("Name", f"host-{k}"),),
            interface_id=eni,
        )
        identities.append(Identity(address=address, **base))  # type: ignore[arg-type]
        identities.append(Identity(address=eni, **base))  # type: ignore[arg-type]
        if k % 5 == 0:
            identities.append(
                Identity(address=f"52.{k >> 16 & 255}.{k >> 8 & 255}.{k & 255}", **base)
            )  # type: ignore[arg-type]
    history = update(empty_history(), snapshot_table(identities), at, backdate=True)
    lines: dict[str, str] = {}
    k = 0
    while len(lines) < NETWORKS:
        if k < len(public):
            net = ipaddress.ip_network(f"{public[k]}/24", strict=False)
        else:
            net = ipaddress.ip_network(f"{(k * 7919) % 223 + 1}.{k % 256}.{k // 256}.0/24")
        lines.setdefault(str(net), f'"{net}": net-{k}')
        k += 1
    networks = "\n".join(lines.values()) + "\n"
    prefixes = [
        {
            "ip_prefix": f"{3 + k % 50}.{k // 50 % 256}.{k % 7 * 32}.0/19",
            "region": "us-east-1",
            "service": ("S3", "AMAZON", "EC2", "DYNAMODB")[k % 4],
            "network_border_group": "us-east-1",
        }
        for k in range(PREFIXES)
    ]
    ranges = {
        "syncToken": "1",
        "createDate": "2026-11-01-00-00-00",
        "prefixes": prefixes,
        "ipv6_prefixes": [],
    }
    return {
        HISTORY_ITEM: EstateItem(history_bytes(history), "bench", at),
        NETWORKS_ITEM: EstateItem(networks.encode(), "networks.yaml", at),
        IP_RANGES_ITEM: EstateItem(json.dumps(ranges).encode(), "ip-ranges.json", at),
    }


def ingest(data: Path, store: Path, env: dict[str, str]) -> float:
    t = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "flowscope", "ingest", str(data), "--store", str(store)],
        check=True,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - t


def grow(store: Path, rows: int) -> None:
    """Copy the store's flows with shifted times until it holds ``rows``."""
    con = duckdb.connect(str(store))
    (name,) = con.execute("SELECT name FROM layouts ORDER BY name LIMIT 1").fetchall()[0]
    (have,) = con.execute(f'SELECT count(*) FROM "{name}"').fetchall()[0]
    base, k = have, 1
    while have < rows:
        take = min(base, rows - have)
        shift = 86400 * k
        con.execute(
            f"""INSERT INTO "{name}" SELECT * REPLACE ("start" + {shift} AS "start",
                "end" + {shift} AS "end", start_time + INTERVAL {shift} SECOND AS start_time,
                end_time + INTERVAL {shift} SECOND AS end_time)
                FROM "{name}" WHERE rowid < {take}"""
        )
        have += take
        k += 1
    con.execute("CHECKPOINT")
    con.close()


DASHBOARD = [
    {"id": "traffic", "type": "hist", "split": "action"},
    {"id": "dst", "type": "top", "field": "dstaddr"},
    {"id": "src", "type": "top", "field": "srcaddr", "by": "bytes"},
    {"id": "ports", "type": "top", "field": "dstport"},
    {"id": "proto", "type": "top", "field": "protocol_name"},
    {"id": "eni", "type": "top", "field": "interface_id", "by": "bytes"},
    {"id": "metrics", "type": "metrics"},
]
NAMED = [
    {"id": "names", "type": "top", "field": "src_name", "by": "bytes"},
    {"id": "services", "type": "top", "field": "dst_service", "by": "bytes"},
    {"id": "countries", "type": "top", "field": "dst_country", "by": "bytes"},
    {"id": "asns", "type": "top", "field": "dst_as_org", "by": "bytes"},
]


_WARM: list[DuckStore] = []


def dashboard(store: Path, panels: list[dict[str, Any]]) -> Callable[[], Any]:
    warm = DuckStore(store)
    warm.keep_reads_warm()
    _WARM.append(warm)  # closed before the end (a warm connection left open aborts the exit)
    client = TestClient(create_app(warm, timeout=120), base_url="http://127.0.0.1")

    def go() -> Any:
        r = client.post("/api/dashboard", json={"from": "", "panels": panels})
        if not r.json()["ok"]:
            raise SystemExit(r.json())
        return r.json()

    return go


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=2_000_000)
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        data = write_benchmark_file(tmp / "flows.log.gz", args.records)
        t = time.perf_counter()
        items = build_estate(file_addresses(data), datetime.now(UTC))
        print(
            f"estate: {INTERFACES:,} interfaces, {NETWORKS:,} networks, {PREFIXES:,} AWS "
            f"prefixes, embedded geo (built in {time.perf_counter() - t:.1f}s)"
        )
        plain_env = {**os.environ, "FLOWSCOPE_GEO": "off"}
        geo_env = {k: v for k, v in os.environ.items() if k != "FLOWSCOPE_GEO"}
        plain, named = [], []
        for run in range(args.runs):
            for label, env, out in (("plain", plain_env, plain), ("named", geo_env, named)):
                store = tmp / f"{label}-{run}.duckdb"
                if label == "named":
                    with DuckStore(store).write() as w:
                        w.save_estate(items)
                out.append(ingest(data, store, env))
        p, n = statistics.median(plain), statistics.median(named)
        print(f"\ningest of {args.records:,} records (flowscope ingest, process included)")
        print(f"{'no estate, geo off (before)':<36} median {p:6.2f}s  best {min(plain):6.2f}s")
        print(f"{'estate + geo (named endpoints)':<36} median {n:6.2f}s  best {min(named):6.2f}s")
        print(
            f"{'added by enrichment':<36} {100 * (n - p) / p:+.1f}% (median), "
            f"{100 * (min(named) - min(plain)) / min(plain):+.1f}% (best)"
        )

        plain_store, named_store = tmp / "plain-0.duckdb", tmp / "named-0.duckdb"
        for s in (plain_store, named_store):
            grow(s, args.rows)
        print(f"\ndashboard through the API at {args.rows:,} flows (warm connection)")
        a = timed(dashboard(plain_store, DASHBOARD), args.runs)
        b = timed(dashboard(named_store, DASHBOARD), args.runs)
        c = timed(dashboard(named_store, NAMED), args.runs)
        d = timed(dashboard(named_store, DASHBOARD + NAMED), args.runs)
        for label, (med, best) in (
            ("dashboard, store without estate", a),
            ("same dashboard, enriched store", b),
            ("the 4 named panels alone", c),
            ("dashboard + the 4 named panels", d),
        ):
            extra = "" if label.endswith("alone") else f"  ({100 * (med - a[0]) / a[0]:+.1f}%)"
            print(f"{label:<36} median {med * 1000:6.0f}ms  best {best * 1000:6.0f}ms{extra}")
        for warm in _WARM:
            warm.close_reads()


if __name__ == "__main__":
    main()
