"""Detection benchmark: every built-in rule over N flows of a 24 h window, vs a Python loop.

Builds a store of N default-format flows (10,000,000 unless told) spread over the last 24
hours, with the generator of ``bench/query.py`` (4,000 internal hosts, a skewed set of
external ones, 5% IPv6, 8% REJECT; no estate, so the rules fall back to address ranges, their
costlier form), then times ``flowscope.detect.detect`` over the window (median of ``--runs``,
a fresh backend each run, as the CLI has). The baseline is a plain Python loop doing the rules'
core counting (distinct ports per source/destination pair, hosts per source/port, short SSH/RDP
connections, bytes per outbound pair, connection times per outbound pair) over rows already in
memory (a sample; fetching it is not counted), extrapolated to N and labelled as such.

Usage: ``python bench/detect.py [--rows 10000000] [--store PATH] [--runs 3] [--sample 500000]``.
"""

from __future__ import annotations

import argparse
import gzip
import importlib.util
import statistics
import tempfile
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from flowscope.detect import detect
from flowscope.engines import backend_for
from flowscope.engines.duckdb.store import DuckStore
from flowscope.pipeline import ingest
from flowscope.sources.files import local_units
from flowscope.times import TimeRange

DAY = 86400


def _generator() -> tuple[str, str]:
    spec = importlib.util.spec_from_file_location(
        "bench_query", Path(__file__).with_name("query.py")
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return str(module.GENERATOR), str(module.HEADER)


def build_store(path: Path, rows: int, end: int) -> None:
    generator, header = _generator()
    seed = path.parent / "seed.log.gz"
    with gzip.open(seed, "wt") as f:
        f.write(header)
        f.write("2 123456789010 eni-0 10.0.0.1 10.0.0.2 1 2 6 1 40 1700000000 1700000060 ")
        f.write("ACCEPT OK\n")
    ingest(local_units([str(seed)]), DuckStore(path))
    con = duckdb.connect(str(path))
    try:
        (name,) = con.execute("SELECT name FROM layouts").fetchall()[0]
        (load_id,) = con.execute("SELECT max(load_id) FROM loads").fetchall()[0]
        con.execute(f'DELETE FROM "{name}"').fetchall()
        body = generator.format(rows=rows, start=end - DAY, week=DAY - 61, load_id=int(load_id))
        con.execute(f'INSERT INTO "{name}" BY NAME {body}').fetchall()
        con.execute("CHECKPOINT").fetchall()
    finally:
        con.close()


def python_loop(rows: list[tuple[Any, ...]]) -> None:
    """The rules' core counting, one row at a time."""
    ports: dict[tuple[str, str], set[int]] = defaultdict(set)
    hosts: dict[tuple[str, int], set[str]] = defaultdict(set)
    brute: dict[tuple[str, str, int], set[int]] = defaultdict(set)
    egress: dict[tuple[str, str], int] = defaultdict(int)
    times: dict[tuple[str, str, int], list[int]] = defaultdict(list)
    for src, dst, sport, dport, proto, packets, nbytes, start, action in rows:
        if src is None:
            continue
        inside = src.startswith("10.")
        if action == "REJECT" and proto in (6, 17):
            ports[(src, dst)].add(dport)
            hosts[(src, dport)].add(dst)
        elif action == "ACCEPT" and proto == 6 and dport in (22, 3389) and packets <= 40:
            brute[(src, dst, dport)].add(sport)
        if inside and not dst.startswith("10.") and sport >= 1024:
            egress[(src, dst)] += nbytes
            times[(src, dst, dport)].append(start)
    for v in times.values():
        v.sort()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--store", type=Path)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--sample", type=int, default=500_000)
    args = ap.parse_args()
    end = int(time.time()) // 60 * 60
    with tempfile.TemporaryDirectory() as tmp:
        path = args.store or Path(tmp) / "bench.duckdb"
        if not path.exists():
            t0 = time.monotonic()
            build_store(path, args.rows, end)
            print(f"built a store of {args.rows:,} flows in {time.monotonic() - t0:.1f}s")
        window = TimeRange(
            datetime.fromtimestamp(end - DAY, UTC), datetime.fromtimestamp(end + 60, UTC)
        )
        took, result = [], None
        for _ in range(args.runs):
            t0 = time.monotonic()
            result = detect(backend_for(DuckStore(path)), window, options=None)
            took.append(time.monotonic() - t0)
        assert result is not None
        slowest = sorted(result.per_rule.items(), key=lambda kv: -kv[1])[:4]
        print(
            f"flowscope detect, {len(result.rules)} rules over {result.flows:,} flows (24 h): "
            f"median {statistics.median(took):.2f}s, best {min(took):.2f}s, "
            f"{result.queries} questions, {len(result.alerts)} alerts"
        )
        print("  slowest rules (last run): " + ", ".join(f"{k} {v:.2f}s" for k, v in slowest))
        con = duckdb.connect(str(path), read_only=True)
        try:
            sample = con.execute(
                "SELECT srcaddr, dstaddr, srcport, dstport, protocol, packets, bytes, start, "
                f"action FROM flows LIMIT {int(args.sample)}"
            ).fetchall()
        finally:
            con.close()
        t0 = time.monotonic()
        python_loop(sample)
        loop = (time.monotonic() - t0) * result.flows / max(1, len(sample))
        print(
            f"baseline: a plain Python loop over {len(sample):,} rows in memory, "
            f"extrapolated to {result.flows:,}: {loop:.1f}s"
        )


if __name__ == "__main__":
    main()
