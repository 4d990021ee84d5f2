"""Query benchmark: the questions of a dashboard, through the JSON API, vs a plain Python loop.

Builds a store of N default-format flows (10,000,000 unless told) in the schema flowscope
writes: one record goes through the real ingest to create the layout's table, then DuckDB
fills it from ``range(N)`` with hash-derived values (about 75% 443/tcp, some 80, 53/udp,
123/udp, 22, 3389, ICMP; 4,000 internal hosts, a skewed set of external ones, 5% IPv6; 8%
REJECT; 0.1% NODATA; a week of traffic ending now). Then, in one run:

- each question through the API (FastAPI TestClient, in process: HTTP parsing, the backend's
  read connection, JSON), median and best of several runs after one warm-up; once with the
  read connection kept open as ``serve`` keeps it, once opening one per request as reads do
  while a writer is busy with the file;
- a dashboard's worth (histogram, five top-N panels, metrics) as one POST /api/dashboard;
- the same questions answered by a plain Python loop over rows already in memory (a sample,
  the time to fetch it not counted), extrapolated to N and labelled as such.

Usage: ``python bench/query.py [--rows 10000000] [--store PATH] [--runs 5]``; with ``--store``
an existing benchmark store is reused.
"""

from __future__ import annotations

import argparse
import gzip
import statistics
import tempfile
import time
import warnings
from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb

from flowscope.api import create_app
from flowscope.engines.duckdb.store import DuckStore
from flowscope.pipeline import ingest
from flowscope.sources.files import local_units

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx` with")
    from fastapi.testclient import TestClient

HEADER = (
    "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes "
    "start end action log-status\n"
)
WEEK = 7 * 86400

# One row per i: hashes h1..h3 drive every column; values are realistic, not random noise.
GENERATOR = """
WITH r AS (
    SELECT i, hash(i) AS h1, hash(i + 1000003) AS h2, hash(i * 7 + 13) AS h3,
           hash(i) % 1000 = 0 AS nodata,
           -- a skewed pool of 100,000 outside addresses: a few are very popular
           (hash(i * 7 + 13) // 100 % 1000) * (hash(i * 7 + 13) // 100 % 1000) // 10 AS ext
    FROM range({rows}) t(i)
), v AS (
    SELECT *,
        '10.0.' || (h2 % 16) || '.' || (h2 // 16 % 250 + 1) AS inside,
        CASE WHEN h3 % 100 < 5
             THEN '2600:1f18:' || printf('%x', ext % 4096) || '::' || printf('%x', ext // 4096 + 1)
             ELSE '52.' || (94 + ext // 65536) || '.' || (ext // 256 % 256) || '.' || (ext % 256)
        END AS outside,
        h1 % 2 = 0 AS outbound,
        CASE WHEN h1 // 2 % 100 < 75 THEN 443 WHEN h1 // 2 % 100 < 82 THEN 80
             WHEN h1 // 2 % 100 < 86 THEN 53 WHEN h1 // 2 % 100 < 88 THEN 22
             WHEN h1 // 2 % 100 < 89 THEN 3389 WHEN h1 // 2 % 100 < 91 THEN 123
             WHEN h1 // 2 % 100 < 92 THEN 0
             ELSE 1024 + h1 // 200 % 60000 END AS port,
        1 + (h2 // 1000 % 1000) * (h2 // 1000 % 1000) // 2000 AS pk
    FROM r
)
SELECT
    2 AS version,
    '1234567890' || (10 + h1 // 7 % 3) AS account_id,
    'eni-0' || lpad(printf('%x', h1 // 3 % 60), 16, '0') AS interface_id,
    CASE WHEN nodata THEN NULL WHEN outbound THEN inside ELSE outside END AS srcaddr,
    CASE WHEN nodata THEN NULL WHEN outbound THEN outside ELSE inside END AS dstaddr,
    CASE WHEN nodata THEN NULL WHEN port = 0 THEN 0 ELSE 32768 + h3 // 3 % 28000 END AS srcport,
    CASE WHEN nodata THEN NULL ELSE port END AS dstport,
    CASE WHEN nodata THEN NULL WHEN port IN (53, 123) THEN 17 WHEN port = 0 THEN 1 ELSE 6 END
        AS protocol,
    CASE WHEN nodata THEN NULL ELSE pk END AS packets,
    CASE WHEN nodata THEN NULL ELSE pk * (40 + h3 // 1000 % 1400) END AS bytes,
    {start} + i * {week} // {rows} AS "start",
    {start} + i * {week} // {rows} + 60 AS "end",
    CASE WHEN nodata THEN NULL WHEN h3 % 100 < 8 THEN 'REJECT' ELSE 'ACCEPT' END AS action,
    CASE WHEN nodata THEN 'NODATA' ELSE 'OK' END AS log_status,
    to_timestamp("start") AS start_time,
    to_timestamp("end") AS end_time,
    CASE WHEN nodata THEN NULL WHEN port IN (53, 123) THEN 'udp' WHEN port = 0 THEN 'icmp'
         ELSE 'tcp' END AS protocol_name,
    {load_id}::BIGINT AS load_id
FROM v
"""


def build_store(path: Path, rows: int) -> None:
    """A store at ``path`` with ``rows`` flows: one real ingest, then a generated insert."""
    seed = path.parent / "seed.log.gz"
    with gzip.open(seed, "wt") as f:
        f.write(HEADER)
        f.write("2 123456789010 eni-0 10.0.0.1 10.0.0.2 1 2 6 1 40 1700000000 1700000060 ")
        f.write("ACCEPT OK\n")
    ingest(local_units([str(seed)]), DuckStore(path))
    con = duckdb.connect(str(path))
    try:
        (name,) = con.execute("SELECT name FROM layouts").fetchall()[0]
        (load_id,) = con.execute("SELECT max(load_id) FROM loads").fetchall()[0]
        con.execute(f'DELETE FROM "{name}"').fetchall()
        start = int(time.time()) - WEEK
        body = GENERATOR.format(rows=rows, start=start, week=WEEK, load_id=int(load_id))
        con.execute(f'INSERT INTO "{name}" BY NAME {body}').fetchall()
        con.execute("CHECKPOINT").fetchall()
    finally:
        con.close()


def timed(fn: Callable[[], Any], runs: int) -> tuple[float, float]:
    fn()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), min(times)


def api_questions(client: TestClient) -> dict[str, Callable[[], Any]]:
    def get(url: str, **params: Any) -> Callable[[], Any]:
        def go() -> Any:
            r = client.get(url, params=params)
            body = r.json()
            if not body["ok"]:
                raise SystemExit(f"{url} {params}: {body['error']}")
            return body

        return go

    panels = [
        {"id": "traffic", "type": "hist", "split": "action"},
        {"id": "dst", "type": "top", "field": "dstaddr"},
        {"id": "src", "type": "top", "field": "srcaddr", "by": "bytes"},
        {"id": "ports", "type": "top", "field": "dstport"},
        {"id": "proto", "type": "top", "field": "protocol_name"},
        {"id": "eni", "type": "top", "field": "interface_id", "by": "bytes"},
        {"id": "metrics", "type": "metrics"},
    ]

    def dashboard(since: str) -> Callable[[], Any]:
        def go() -> Any:
            r = client.post("/api/dashboard", json={"from": since, "panels": panels})
            if not r.json()["ok"]:
                raise SystemExit(r.json())
            return r.json()

        return go

    return {
        "top dstaddr (all data)": get("/api/top", field="dstaddr"),
        "top dstport by bytes, 24h": get(
            "/api/top", field="dstport", by="bytes", **{"from": "24h"}
        ),
        "top srcaddr, REJECT to 22/3389": get(
            "/api/top", field="srcaddr", where="action:REJECT and dstport:(22 or 3389)"
        ),
        "top dstport, CIDR + not udp": get(
            "/api/top", field="dstport", where="srcaddr:10.0.0.0/16 and not protocol:17"
        ),
        "top dstport, IPv6 /32": get("/api/top", field="dstport", where="dstaddr:2600:1f18::/32"),
        "histogram auto, split action": get("/api/hist", split="action"),
        "histogram auto, 24h": get("/api/hist", **{"from": "24h"}),
        "search IPv6 /32 and bytes>=1e6": get(
            "/api/search", where='dstaddr:"2600:1f18::/32" and bytes >= 1000000', size=50
        ),
        "metrics": get("/api/metrics"),
        "dashboard (hist + 5 top + metrics)": dashboard(""),
        "dashboard, last 24h": dashboard("24h"),
    }


def python_baseline(path: Path, rows: int, sample: int) -> dict[str, float]:
    """The same questions over an in-memory sample with a plain loop, extrapolated to ``rows``."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        data = con.execute(
            "SELECT srcaddr, dstaddr, dstport, protocol, bytes, packets, action, start, "
            f"interface_id, protocol_name FROM flows USING SAMPLE reservoir({int(sample)} ROWS)",
        ).fetchall()
    finally:
        con.close()
    scale = rows / len(data)
    day_ago = int((datetime.now(UTC) - timedelta(hours=24)).timestamp())

    def top_dst() -> None:
        Counter(r[1] for r in data if r[1] is not None).most_common(10)

    def hist_split() -> None:
        lo = min(r[7] for r in data)
        buckets: defaultdict[tuple[int, str], int] = defaultdict(int)
        for r in data:
            buckets[((r[7] - lo) // 7200, r[6])] += 1

    def top_port_bytes() -> None:
        c: Counter[int] = Counter()
        for r in data:
            if r[7] + 60 >= day_ago and r[2] is not None:
                c[r[2]] += r[4]
        c.most_common(10)

    def dashboard() -> None:
        hist_split()
        for col, weight in ((1, None), (0, 4), (2, None), (9, None), (8, 4)):
            c: Counter[Any] = Counter()
            for r in data:
                if r[col] is not None:
                    c[r[col]] += r[weight] if weight is not None and r[weight] else 1
            c.most_common(10)
        (
            len(data),
            sum(r[4] or 0 for r in data),
            len({r[0] for r in data}),
            len({r[1] for r in data}),
        )

    out = {}
    for name, fn in (
        ("top dstaddr (all data)", top_dst),
        ("top dstport by bytes, 24h", top_port_bytes),
        ("histogram auto, split action", hist_split),
        ("dashboard (hist + 5 top + metrics)", dashboard),
    ):
        t = time.perf_counter()
        fn()
        out[name] = (time.perf_counter() - t) * scale
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--store", type=Path, help="reuse (or create) the store at this path")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--sample", type=int, default=1_000_000)
    args = ap.parse_args()
    tmp = tempfile.TemporaryDirectory()
    path = args.store or Path(tmp.name) / "bench.duckdb"
    if not path.exists():
        t = time.perf_counter()
        path.parent.mkdir(parents=True, exist_ok=True)
        build_store(path, args.rows)
        print(f"built {args.rows:,} flows in {time.perf_counter() - t:.1f}s at {path}")
    con = duckdb.connect(str(path), read_only=True)
    rows = con.execute("SELECT count(*) FROM flows").fetchall()[0][0]
    con.close()
    print(f"store: {path} ({rows:,} flows, {path.stat().st_size / 1e9:.2f} GB)\n")

    print(f"{'':<38} {'serve (warm connection)':>23}  {'connection per request':>22}")
    title = "question (through the API)"
    print(f"{title:<38} {'median':>11} {'best':>11}  {'median':>10} {'best':>11}")
    # a connection opened for each request (as reads go while a writer is busy with the file)
    cold = {
        name: timed(fn, args.runs)
        for name, fn in api_questions(
            TestClient(create_app(DuckStore(path), timeout=60), base_url="http://127.0.0.1")
        ).items()
    }
    # as `flowscope serve` runs: one read connection kept open between requests
    warm_store = DuckStore(path)
    warm_store.keep_reads_warm()
    for name, fn in api_questions(
        TestClient(create_app(warm_store, timeout=60), base_url="http://127.0.0.1")
    ).items():
        med, best = timed(fn, args.runs)
        cmed, cbest = cold[name]
        print(
            f"{name:<38} {med * 1000:>9.0f}ms {best * 1000:>9.0f}ms  "
            f"{cmed * 1000:>8.0f}ms {cbest * 1000:>9.0f}ms"
        )
    warm_store.close_reads()

    sample = min(args.sample, rows)
    print(f"\nplain Python loop, {sample:,}-row sample in memory, extrapolated to {rows:,} rows:")
    for name, seconds in python_baseline(path, rows, sample).items():
        print(f"{name:<38} {seconds * 1000:>7.0f}ms (extrapolated)")
    tmp.cleanup()


if __name__ == "__main__":
    main()
