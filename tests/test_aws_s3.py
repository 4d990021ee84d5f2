"""s3:// through the real CLI against moto in server mode: key layouts, pruning, resume."""

from __future__ import annotations

import gzip
import io
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import uuid4

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.aws_server import MotoServer, record
from tests.conftest import query, run_flowscope

pytestmark = pytest.mark.aws

HEADER = (
    "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes "
    "start end action log-status\n"
)
ACCOUNT, REGION = "123456789012", "us-east-1"
LAYOUTS = {
    "default": "AWSLogs/{a}/vpcflowlogs/{r}/{t:%Y/%m/%d}/",
    "hourly": "AWSLogs/{a}/vpcflowlogs/{r}/{t:%Y/%m/%d/%H}/",
    "hive": "AWSLogs/aws-account-id={a}/aws-service=vpcflowlogs/aws-region={r}/"
    "year={t:%Y}/month={t:%m}/day={t:%d}/",
    "hive-hourly": "AWSLogs/aws-account-id={a}/aws-service=vpcflowlogs/aws-region={r}/"
    "year={t:%Y}/month={t:%m}/day={t:%d}/hour={t:%H}/",
}


def flat(text: str) -> str:
    return " ".join(text.split())


def count(store: Path) -> int:
    return int(query(store, "SELECT count(*) FROM flows")[0][0])


def key_for(layout: str, when: datetime, user_prefix: str = "", n: int = 0) -> str:
    folder = LAYOUTS[layout].format(a=ACCOUNT, r=REGION, t=when)
    name = f"{ACCOUNT}_vpcflowlogs_{REGION}_fl-0abc{n}_{when:%Y%m%dT%H%M}Z_{n:08x}.log.gz"
    return f"{user_prefix}{folder}{name}"


def gz_records(first: int, n: int, when: datetime) -> bytes:
    start = int(when.timestamp())
    return gzip.compress(
        (HEADER + "".join(record(first + i, start) + "\n" for i in range(n))).encode()
    )


@pytest.fixture
def bucket(aws: MotoServer) -> str:
    name = f"flow-logs-{uuid4().hex[:10]}"
    aws.client("s3").create_bucket(Bucket=name)
    return name


def test_every_key_layout_is_pruned_to_the_window(
    aws: MotoServer, bucket: str, store_path: Path
) -> None:
    s3 = aws.client("s3")
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    times = [now - timedelta(hours=12 * k, minutes=10) for k in range(20)]  # 10 days, 2 a day
    sources, expected_keys = [], set()
    for n, layout in enumerate(LAYOUTS):
        user = f"team-{layout}/" if n % 2 else ""
        sources.append(f"s3://{bucket}/{user}AWSLogs/")
        if not user:
            sources[-1] = (
                f"s3://{bucket}/{user}AWSLogs/aws-account-id={ACCOUNT}/"
                if "hive" in (layout)
                else f"s3://{bucket}/AWSLogs/{ACCOUNT}/"
            )
        for k, t in enumerate(times):
            key = key_for(layout, t, user, n)
            s3.put_object(Bucket=bucket, Key=key, Body=gz_records(n * 1000 + k * 10, 10, t))
            if k <= 5:  # t + 5 min after now - 3 days
                expected_keys.add(key)
    # A Parquet object in the window, and one in a folder of another service.
    table = pa.table({"srcaddr": ["10.9.0.1"], "dstaddr": ["10.9.0.2"], "log_status": ["OK"]})
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="gzip")
    pkey = key_for("hive", now - timedelta(hours=1), "", 9).replace(".log.gz", ".log.parquet")
    s3.put_object(Bucket=bucket, Key=pkey, Body=buf.getvalue())
    expected_keys.add(pkey)
    s3.put_object(Bucket=bucket, Key=f"AWSLogs/{ACCOUNT}/elasticloadbalancing/x.log.gz", Body=b"x")

    r = run_flowscope("-s", str(store_path), "ingest", *sources, "--since", "3d")
    assert r.returncode == 0, r.stderr
    assert f"{6 * 10 * 4 + 1} records loaded from 25 input(s); 0 set aside" in flat(r.stderr)
    assert count(store_path) == 241
    assert query(store_path, "SELECT count(*) FROM flows WHERE srcaddr = '10.9.0.1'") == [(1,)]

    assert {q["what"] for q in aws.requests("GetObject")} == expected_keys
    window_days = {(now - timedelta(days=d)).strftime("%Y/%m/%d") for d in range(4)}
    window_days |= {(now - timedelta(days=3, hours=1)).strftime("%Y/%m/%d")}
    # the listing reaches an hour past now (delivery skew): in a day's last hour, tomorrow too
    window_days |= {(now + timedelta(hours=1, minutes=5)).strftime("%Y/%m/%d")}
    day_lists = [q["what"] for q in aws.requests("ListObjectsV2") if not q["delimiter"]]
    for prefix in day_lists:
        day = prefix.rstrip("/")
        for part in ("year=", "month=", "day="):
            day = day.replace(part, "")
        assert day[-10:] in window_days, prefix
    assert len(day_lists) <= 4 * len(window_days)
    walked = {q["what"] for q in aws.requests("ListObjectsV2") if q["delimiter"]}
    assert f"AWSLogs/{ACCOUNT}/elasticloadbalancing/" not in walked

    again = run_flowscope("-s", str(store_path), "ingest", *sources, "--since", "3d")
    assert again.returncode == 0, again.stderr
    assert "0 records loaded from 0 input(s)" in flat(again.stderr)
    assert "25 object(s) already loaded" not in flat(again.stderr)  # said per source
    assert count(store_path) == 241


def test_days_read_whole_are_not_listed_again(
    aws: MotoServer, bucket: str, store_path: Path
) -> None:
    s3 = aws.client("s3")
    now = datetime.now(UTC)
    old = [now - timedelta(days=d) for d in (6, 5, 4)]
    for n, t in enumerate(old):
        s3.put_object(
            Bucket=bucket, Key=key_for("default", t, "", n), Body=gz_records(n * 10, 5, t)
        )
    src = f"s3://{bucket}/AWSLogs/{ACCOUNT}/vpcflowlogs/{REGION}/"
    r = run_flowscope("-s", str(store_path), "ingest", src)
    assert r.returncode == 0, r.stderr
    assert "15 records loaded from 3 input(s)" in flat(r.stderr)
    assert query(store_path, "SELECT count(*) FROM loads WHERE source LIKE '%(day complete)'") == [
        (3,)
    ]
    aws.reset()
    t = now - timedelta(minutes=30)
    s3.put_object(Bucket=bucket, Key=key_for("default", t, "", 7), Body=gz_records(100, 4, t))
    again = run_flowscope("-s", str(store_path), "ingest", src)
    assert again.returncode == 0, again.stderr
    assert "4 records loaded from 1 input(s)" in flat(again.stderr)
    listed = {q["what"] for q in aws.requests("ListObjectsV2") if not q["delimiter"]}
    assert listed == {f"{src[len(f's3://{bucket}/') :]}{t:%Y/%m/%d}/"}
    assert count(store_path) == 19


def test_kill_9_mid_ingest_then_resume_exactly(
    aws: MotoServer, bucket: str, store_path: Path
) -> None:
    s3 = aws.client("s3")
    base = datetime.now(UTC) - timedelta(hours=5)
    total = 0
    for n in range(40):
        t = base + timedelta(minutes=5 * n)
        s3.put_object(
            Bucket=bucket, Key=key_for("hourly", t, "", n), Body=gz_records(n * 1000, 50 + n, t)
        )
        total += 50 + n
    aws.fault({"action": "GetObject", "delay": 0.15, "times": 100_000})
    cmd = [sys.executable, "-m", "flowscope", "-s", str(store_path), "ingest",
           f"s3://{bucket}/", "--since", "1d"]  # fmt: skip
    proc = subprocess.Popen(cmd, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while len(aws.requests("GetObject")) < 30:
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    partial = count(store_path)
    assert 0 < partial < total
    aws.fault()
    r = run_flowscope(*cmd[3:])
    assert r.returncode == 0, r.stderr
    assert count(store_path) == total
    loaded = len(query(store_path, "SELECT DISTINCT source FROM loads WHERE rows > 0"))
    assert loaded == 40


def test_errors_name_the_resource_and_a_rerun_resumes(
    aws: MotoServer, bucket: str, store_path: Path
) -> None:
    s3 = aws.client("s3")
    t = datetime.now(UTC) - timedelta(hours=2)
    good = key_for("default", t, "", 1)
    bad = key_for("default", t, "", 2)
    s3.put_object(Bucket=bucket, Key=good, Body=gz_records(0, 7, t))
    s3.put_object(Bucket=bucket, Key=bad, Body=gz_records(0, 7, t)[:40] + b"\x00" * 64)
    src = f"s3://{bucket}/AWSLogs/"
    args = ["-s", str(store_path), "ingest"]

    r = run_flowscope(*args, src)
    assert r.returncode == 4, r.stderr
    assert f"failed s3://{bucket}/{bad}: corrupt gzip data" in flat(r.stderr)
    assert "7 records loaded from 1 input(s); 0 set aside; 0 already loaded; 1 failed" in flat(
        r.stderr
    )
    aws.reset()
    again = run_flowscope(*args, src)
    assert again.returncode == 4
    assert [q["what"] for q in aws.requests("GetObject")] == [bad]

    missing = run_flowscope(*args, f"s3://no-such-bucket-{uuid4().hex[:6]}/AWSLogs/")
    assert missing.returncode == 1
    assert "error: bucket no-such-bucket-" in missing.stderr
    assert "not found (NoSuchBucket)" in flat(missing.stderr)
    empty = run_flowscope(*args, f"s3://{bucket}/nothing/here/")
    assert empty.returncode == 1
    assert f"error: s3://{bucket}/nothing/here/: no objects under this prefix" in flat(empty.stderr)
    aws.fault({"action": "ListObjectsV2", "code": "AccessDenied", "status": 403})
    denied = run_flowscope(*args, src)
    assert denied.returncode == 1
    assert (
        f"error: access denied: s3:ListBucket on s3://{bucket}/AWSLogs/ (AccessDenied) "
        "(the caller needs the IAM permission s3:ListBucket;" in flat(denied.stderr)
    )
    for out in (r, missing, empty, denied):
        assert "Traceback" not in out.stderr


def test_cut_downloads_are_retried_and_per_service_endpoints_work(
    aws: MotoServer, bucket: str, store_path: Path
) -> None:
    s3 = aws.client("s3")
    t = datetime.now(UTC) - timedelta(hours=1)
    s3.put_object(Bucket=bucket, Key=key_for("default", t, "x/", 1), Body=gz_records(0, 3000, t))
    aws.fault({"action": "GetObject", "truncate": True, "times": 1})
    r = run_flowscope(
        "-s", str(store_path), "ingest", f"s3://{bucket}/x/",
        env={"AWS_ENDPOINT_URL": "http://127.0.0.1:9", "AWS_ENDPOINT_URL_S3": aws.url},
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert count(store_path) == 3000
    assert len(aws.requests("GetObject")) == 2
