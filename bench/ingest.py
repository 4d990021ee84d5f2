"""Ingest benchmark: flowscope ingest vs gzip alone vs a naive per-line Python parser.

Generates N default-format records as one .log.gz (with the S3 header line), then prints, side by
side in one run:

- gzip decompression alone (zlib, streaming: the floor for any reader of the file);
- ``flowscope ingest`` end to end into a fresh DuckDB store (the real command in a subprocess,
  process start-up included), with its peak RSS;
- a naive per-line Python parser (split, int(), a dict per record; no validation and no store),
  the code a user would otherwise write; run over a sample and extrapolated when N is large;
- the same naive parser storing its dicts with DuckDB ``executemany`` (the recipe's "one
  request per record" habit, minus the HTTP), over a smaller sample;
- for reference, the floor of the storage engine: DuckDB's own ``read_csv`` of the same .gz
  straight into a table in a fresh file (no checks, no derived columns, no ledger), and the
  start-up of the ``flowscope`` process alone (importing the CLI).

Usage: ``python bench/ingest.py [--records 2000000] [--keep DIR]``.
"""

from __future__ import annotations

import argparse
import gzip
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

import duckdb
import rss

from flowscope.demo.generate import write_benchmark_file

FIELDS = (
    "version account_id interface_id srcaddr dstaddr srcport dstport protocol packets bytes "
    "start end action log_status"
).split()
INTS = {0, 5, 6, 7, 8, 9, 10, 11}


def decompress_only(path: Path) -> float:
    t = time.perf_counter()
    d = zlib.decompressobj(31)
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            d.decompress(chunk)
    return time.perf_counter() - t


def naive_parse(path: Path, limit: int) -> tuple[float, int]:
    t = time.perf_counter()
    n = 0
    rows = []
    with gzip.open(path, "rt") as f:
        next(f)
        for line in f:
            parts = line.split()
            rows.append(
                {
                    k: (None if v == "-" else int(v) if i in INTS else v)
                    for i, (k, v) in enumerate(zip(FIELDS, parts, strict=True))
                }
            )
            n += 1
            if n >= limit:
                break
    return time.perf_counter() - t, n


def naive_store(path: Path, limit: int, tmp: Path) -> tuple[float, int]:
    (tmp / "naive.duckdb").unlink(missing_ok=True)
    con = duckdb.connect(str(tmp / "naive.duckdb"))
    con.execute("CREATE TABLE flows (" + ", ".join(f'"{c}" VARCHAR' for c in FIELDS) + ")")
    t = time.perf_counter()
    n = 0
    batch = []
    with gzip.open(path, "rt") as f:
        next(f)
        for line in f:
            batch.append(line.split())
            n += 1
            if len(batch) == 1000:
                con.executemany("INSERT INTO flows VALUES (" + ",".join("?" * 14) + ")", batch)
                batch = []
            if n >= limit:
                break
    if batch:
        con.executemany("INSERT INTO flows VALUES (" + ",".join("?" * 14) + ")", batch)
    con.close()
    return time.perf_counter() - t, n


def duckdb_floor(path: Path, tmp: Path) -> float:
    """DuckDB's own CSV reader into a table: what storing the file costs at the least."""
    db = tmp / "floor.duckdb"
    db.unlink(missing_ok=True)
    types = {c: "BIGINT" if i in INTS else "VARCHAR" for i, c in enumerate(FIELDS)}
    con = duckdb.connect(str(db))
    t = time.perf_counter()
    con.execute(
        "CREATE TABLE flows AS SELECT * FROM read_csv(?, delim = ' ', header = true, "
        "nullstr = '-', quote = '', escape = '', columns = " + repr(types) + ")",
        [str(path)],
    )
    elapsed = time.perf_counter() - t
    con.close()
    db.unlink(missing_ok=True)
    return elapsed


def startup() -> float:
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import flowscope.cli"], check=True)
    return time.perf_counter() - t


def flowscope_ingest(path: Path, store: Path) -> tuple[float, int]:
    """(seconds, peak RSS in KiB) of ``flowscope ingest`` (see rss.py for how RSS is read)."""
    run = rss.run([sys.executable, "-m", "flowscope", "-s", str(store), "ingest", "-q", str(path)])
    if run.returncode != 0:
        raise SystemExit(f"flowscope ingest failed: {run.stderr}")
    return run.seconds, run.peak_rss // 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=2_000_000)
    ap.add_argument("--naive-sample", type=int, default=500_000)
    ap.add_argument("--store-sample", type=int, default=50_000)
    ap.add_argument("--keep", type=Path, help="keep the generated file and store here")
    args = ap.parse_args()
    n = args.records
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = args.keep or Path(tmpdir)
        tmp.mkdir(parents=True, exist_ok=True)
        path = tmp / f"bench-{n}.log.gz"
        if not path.exists():
            t = time.perf_counter()
            write_benchmark_file(path, n)
            print(f"generated {n:,} records in {time.perf_counter() - t:.1f}s", file=sys.stderr)
        size = path.stat().st_size
        store = tmp / "bench.duckdb"
        store.unlink(missing_ok=True)
        dec = decompress_only(path)
        ing, rss_kb = flowscope_ingest(path, store)
        naive_t, naive_n = naive_parse(path, min(n, args.naive_sample))
        store_t, store_n = naive_store(path, min(n, args.store_sample), tmp)
        floor = duckdb_floor(path, tmp)
        start = startup()
        count = (
            duckdb.connect(str(store), read_only=True)
            .execute("SELECT count(*) FROM flows")
            .fetchall()[0][0]
        )
    assert count == n, f"stored {count} of {n}"
    naive_rate = naive_n / naive_t
    store_rate = store_n / store_t
    rows = [
        ("gzip decompression alone", n / dec, dec, ""),
        ("flowscope ingest (end to end)", n / ing, ing, f"peak RSS {rss_kb / 1024:.0f} MiB"),
        ("naive per-line parser (no store)", naive_rate, n / naive_rate, f"sample {naive_n:,}"),
        ("naive parser + executemany", store_rate, n / store_rate, f"sample {store_n:,}"),
        ("reference: DuckDB read_csv -> table", n / floor, floor, "no checks, no derived columns"),
        ("reference: flowscope start-up", 0, start, "import of the CLI, in the ingest above"),
    ]
    print(f"\n{n:,} records, {size / 1e6:.1f} MB gzip\n")
    print(f"{'':36} {'records/s':>12} {'seconds':>9}")
    for name, rate, secs, note in rows:
        shown = f"{rate:12,.0f}" if rate else f"{'':12}"
        print(f"{name:36} {shown} {secs:9.2f}  {note}")
    print(
        f"\ningest / decompression time: {ing / dec:.1f}x (target <= 2x)\n"
        f"ingest vs naive parser rate: {(n / ing) / naive_rate:.1f}x (target >= 20x)\n"
        f"ingest vs naive parser + store: {(n / ing) / store_rate:.0f}x\n"
        f"DuckDB's own read_csv into a table / decompression time: {floor / dec:.1f}x"
    )


if __name__ == "__main__":
    main()
