"""S3 benchmark: ``flowscope ingest s3://...`` vs the same objects as local files, side by side.

Generates ``--mb`` MB of default-format ``.log.gz`` flow-log objects (``--objects`` of them,
with the S3 header line and AWS file names), writes them to a local folder and uploads them
to a moto server on 127.0.0.1 (in this process) under the default S3 key layout. Then runs the
real command twice into fresh stores, end to end (process start-up included): once over the
folder, once over ``s3://bench/AWSLogs/``, and prints records/s of both and the overhead of
reading from S3 (target: at most +30%).

moto answers from this process, in Python, on the same machine: its serving cost is part of
the S3 number, so the overhead measured here is an upper bound of what the reader adds.

Usage: ``python bench/s3.py [--mb 100] [--objects 20] [--runs 1] [--keep DIR]``.
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import duckdb
from moto.moto_server.threaded_moto_server import ThreadedMotoServer

from flowscope.demo.generate import write_benchmark_file

ACCOUNT, REGION, BUCKET = "123456789012", "us-east-1", "bench"


def generate(folder: Path, mb: float, objects: int) -> tuple[list[Path], int]:
    """``objects`` files of about ``mb / objects`` MB each; returns them and the record count."""
    folder.mkdir(parents=True, exist_ok=True)
    probe = folder / "probe.log.gz"
    write_benchmark_file(probe, 200_000, seed=99)
    per_record = probe.stat().st_size / 200_000
    probe.unlink()
    each = max(1000, int(mb * 1e6 / objects / per_record))
    files = []
    start = datetime(2025, 1, 6, tzinfo=UTC)
    for i in range(objects):
        when = start + timedelta(minutes=5 * i)
        name = f"{ACCOUNT}_vpcflowlogs_{REGION}_fl-0bench_{when:%Y%m%dT%H%M}Z_{i:08x}.log.gz"
        path = folder / name
        if not path.exists():
            write_benchmark_file(path, each, seed=i + 1)
        files.append(path)
    return files, each * objects


def upload(url: str, files: list[Path]) -> None:
    s3 = boto3.client(
        "s3",
        endpoint_url=url,
        region_name=REGION,
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
    )
    s3.create_bucket(Bucket=BUCKET)
    for f in files:
        when = datetime.strptime(f.name.split("_")[4], "%Y%m%dT%H%MZ")
        key = f"AWSLogs/{ACCOUNT}/vpcflowlogs/{REGION}/{when:%Y/%m/%d}/{f.name}"
        s3.upload_file(str(f), BUCKET, key)


def ingest(source: str, store: Path, env: dict[str, str]) -> float:
    store.unlink(missing_ok=True)
    t = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "flowscope", "-s", str(store), "ingest", "-q", source],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        check=False,
    )
    elapsed = time.perf_counter() - t
    if proc.returncode != 0:
        raise SystemExit(f"flowscope ingest {source} failed: {proc.stderr}")
    return elapsed


def stored(store: Path) -> int:
    con = duckdb.connect(str(store), read_only=True)
    try:
        return int(con.execute("SELECT count(*) FROM flows").fetchall()[0][0])
    finally:
        con.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=float, default=100.0, help="MB of gzip objects (default 100)")
    ap.add_argument("--objects", type=int, default=20, help="number of objects (default 20)")
    ap.add_argument("--runs", type=int, default=1, help="runs of each; the best is kept")
    ap.add_argument("--keep", type=Path, help="keep the generated files here")
    args = ap.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    env = {
        "AWS_ENDPOINT_URL": url,
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    try:
        with tempfile.TemporaryDirectory() as tmpdir:
            tmp = args.keep or Path(tmpdir)
            folder = tmp / "objects"
            t = time.perf_counter()
            files, records = generate(folder, args.mb, args.objects)
            size = sum(f.stat().st_size for f in files)
            upload(url, files)
            print(
                f"{len(files)} objects, {size / 1e6:.1f} MB gzip, {records:,} records "
                f"(generated and uploaded in {time.perf_counter() - t:.1f}s)",
                file=sys.stderr,
            )
            store = tmp / "bench.duckdb"
            local = s3 = float("inf")
            for _ in range(args.runs):
                local = min(local, ingest(str(folder), store, {}))
                assert stored(store) == records
                s3 = min(s3, ingest(f"s3://{BUCKET}/AWSLogs/", store, env))
                assert stored(store) == records
    finally:
        server.stop()
    print(f"\n{records:,} records in {len(files)} objects, {size / 1e6:.1f} MB gzip\n")
    print(f"{'':28} {'records/s':>12} {'seconds':>9} {'MB/s':>8}")
    for name, secs in (("local files", local), ("S3 objects (moto)", s3)):
        print(f"{name:28} {records / secs:12,.0f} {secs:9.2f} {size / 1e6 / secs:8.1f}")
    print(f"\nS3 / local time: {s3 / local:.2f}x (+{(s3 / local - 1) * 100:.0f}%; target <= +30%)")


if __name__ == "__main__":
    main()
