"""OpenSearch benchmark: flowscope's bulk loads vs the recipe's one request per record, and top-N.

Prints, side by side in one run, against a real local node (``scripts/opensearch-node``, started
on a free port unless ``--url`` names one):

- ``flowscope ingest`` of N default-format records (the real command in a subprocess, process
  start-up and the final refresh included): typed mapping, computed ids, bulk ``create``;
- the recipe's way: each record parsed with ``split()`` into a dict of strings and sent with its
  own ``client.index()`` request (as the original Lambda did), over a sample, extrapolated to N;
- top-N latency (``top dstaddr -n 20`` through the query layer) with M documents in the node,
  and the same question on a DuckDB store of the same M records, for scale.

Usage: ``python bench/opensearch.py [--records 100000] [--topn-records 1000000]
[--recipe-sample 1000] [--warm-records 200000] [--url opensearch://127.0.0.1:9200]``.
"""

from __future__ import annotations

import argparse
import gzip
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from opensearchpy import OpenSearch

from flowscope.demo.generate import write_benchmark_file
from flowscope.engines import backend_for, open_store
from flowscope.query import build

ROOT = Path(__file__).resolve().parent.parent
FIELDS = (
    "version account_id interface_id srcaddr dstaddr srcport dstport protocol packets bytes "
    "start end action log_status"
).split()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_node(data: Path) -> int:
    port = free_port()
    env = {
        **os.environ,
        "OPENSEARCH_JAVA_OPTS": os.environ.get("OPENSEARCH_JAVA_OPTS", "-Xms1g -Xmx1g"),
    }
    script = str(ROOT / "scripts" / "opensearch-node")
    subprocess.run([script, "start", "--port", str(port), "--data", str(data)], env=env, check=True)
    return port


def stop_node(port: int) -> None:
    script = str(ROOT / "scripts" / "opensearch-node")
    subprocess.run([script, "stop", "--port", str(port)], check=False)


def flowscope_ingest(path: Path, url: str) -> float:
    t = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "flowscope", "ingest", "-q", str(path), "--store", url],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"flowscope ingest failed: {proc.stderr}")
    return time.perf_counter() - t


def recipe(path: Path, client: OpenSearch, index: str, limit: int) -> tuple[float, int]:
    """One HTTP request per record, as the recipe's Lambda sent them."""
    t = time.perf_counter()
    n = 0
    with gzip.open(path, "rt") as f:
        next(f)
        for line in f:
            doc = dict(zip(FIELDS, line.split(), strict=True))
            client.index(index=index, body=doc)
            n += 1
            if n >= limit:
                break
    return time.perf_counter() - t, n


def top_latency(url: str, repeat: int) -> tuple[float, float]:
    """(first, median of the rest) seconds of ``top dstaddr -n 20`` over every flow."""
    store = open_store(url)
    backend = backend_for(store)
    times = []
    for _ in range(repeat + 1):
        t = time.perf_counter()
        backend.top(build.top_query("dstaddr", "count", 20))
        times.append(time.perf_counter() - t)
    close = getattr(store, "close", None)
    if close is not None:
        close()
    return times[0], statistics.median(times[1:])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=100_000)
    ap.add_argument("--topn-records", type=int, default=1_000_000)
    ap.add_argument("--recipe-sample", type=int, default=1_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--warm-records", type=int, default=200_000, help="records to warm the node")
    ap.add_argument("--url", help="an OpenSearch node to use, e.g. opensearch://127.0.0.1:9200")
    args = ap.parse_args()
    n, m = args.records, args.topn_records
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        port = None
        base = args.url
        if base is None:
            port = start_node(tmp / "node")
            base = f"opensearch://127.0.0.1:{port}"
        host, _, p = base.split("://", 1)[1].split("/", 1)[0].rpartition(":")
        client = OpenSearch(hosts=[{"host": host, "port": int(p)}], timeout=120)
        try:
            small = write_benchmark_file(tmp / "small.log.gz", n, seed=1)
            big = write_benchmark_file(tmp / "big.log.gz", m, seed=2)
            # A fresh JVM compiles as it goes (a first 100,000-record load runs at about half
            # the rate of the next): warm the node with loads of its own first, as a cluster
            # in service is, so that neither way of indexing pays for that.
            warm = write_benchmark_file(tmp / "warm.log.gz", args.warm_records, seed=3)
            flowscope_ingest(warm, f"{base}/benchwarm")
            recipe(warm, client, "benchwarmrecipe", 500)
            ingest_s = flowscope_ingest(small, f"{base}/benchsmall")
            recipe_s, recipe_n = recipe(small, client, "benchrecipe", min(n, args.recipe_sample))
            big_s = flowscope_ingest(big, f"{base}/benchbig")
            duck = tmp / "big.duckdb"
            subprocess.run(
                [sys.executable, "-m", "flowscope", "ingest", "-q", str(big), "--store", str(duck)],
                check=True,
                capture_output=True,
            )
            counts = [client.count(index=name)["count"] for name in ("benchsmall", "benchbig")]
            os_first, os_median = top_latency(f"{base}/benchbig", args.repeat)
            duck_first, duck_median = top_latency(str(duck), args.repeat)
        finally:
            names = ("benchsmall-*", "benchbig-*", "benchrecipe", "benchwarm-*", "benchwarmrecipe")
            for name in names:
                client.indices.delete(index=name, ignore_unavailable=True)
            client.close()
            if port is not None:
                stop_node(port)
    assert counts == [n, m], f"stored {counts}, expected {[n, m]}"
    ours = n / ingest_s
    theirs = recipe_n / recipe_s
    print(f"\nindexing {n:,} records into a local OpenSearch node\n")
    print(f"{'':44} {'records/s':>10} {'seconds':>9}")
    print(f"{'flowscope ingest (bulk, typed, idempotent)':44} {ours:10,.0f} {ingest_s:9.1f}")
    print(
        f"{'recipe: one request per record':44} {theirs:10,.0f} {n / theirs:9.1f}"
        f"  (sample of {recipe_n:,}, extrapolated)"
    )
    print(f"{'flowscope ingest, ' + f'{m:,} records':44} {m / big_s:10,.0f} {big_s:9.1f}")
    print(f"\nflowscope vs the recipe: {ours / theirs:,.0f}x (target >= 50x)\n")
    print(f"top dstaddr -n 20 over {m:,} flows       first      median of {args.repeat}")
    for label, first, median in (
        ("OpenSearch (terms aggregation)", os_first, os_median),
        ("DuckDB file (same records)", duck_first, duck_median),
    ):
        print(f"{label:38} {first * 1000:7.0f} ms {median * 1000:9.0f} ms")


if __name__ == "__main__":
    main()
