"""cloudwatch:// through the real CLI against moto in server mode: pages, windows, resume."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path
from uuid import uuid4

import duckdb
import pytest

from tests.aws_server import MotoServer, put_events, record
from tests.conftest import query, run_flowscope

pytestmark = pytest.mark.aws

MIN = 60_000
DEFAULT = (
    "${version} ${account-id} ${interface-id} ${srcaddr} ${dstaddr} ${srcport} ${dstport} "
    "${protocol} ${packets} ${bytes} ${start} ${end} ${action} ${log-status}"
)


def now_ms() -> int:
    return int(time.time() * 1000)


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def group(aws: MotoServer) -> str:
    name = f"/vpc/flows-{uuid4().hex[:8]}"
    aws.client("logs").create_log_group(logGroupName=name)
    return name


def stream(aws: MotoServer, group: str, name: str, events: list[tuple[int, str]]) -> None:
    logs = aws.client("logs")
    logs.create_log_stream(logGroupName=group, logStreamName=name)
    put_events(logs, group, name, events)


def flat(text: str) -> str:
    """stderr with line wrapping undone (the CLI wraps long lines at the terminal width)."""
    return " ".join(text.split())


def count(store: Path) -> int:
    return int(query(store, "SELECT count(*) FROM flows")[0][0])


def test_every_stream_and_page_then_only_new_and_late_events(
    aws: MotoServer, group: str, store_path: Path
) -> None:
    t0 = now_ms() - 40 * MIN
    big = [(t0 + i * 50, record(i, t0 // 1000)) for i in range(25_000)]  # 3 pages of 10,000
    recent = now_ms() - 10 * MIN
    small = [(recent + i * 1000, record(i, recent // 1000, "eni-0a2")) for i in range(300)]
    twin = record(7, recent // 1000, "eni-0a4")  # two identical records: both are flows
    stream(aws, group, "eni-0a1-all", big)
    stream(aws, group, "eni-0a2-all", small)
    stream(aws, group, "eni-0a3-all", [])
    stream(aws, group, "eni-0a4-all", [(recent, twin), (recent, twin)])
    src = f"cloudwatch://{group}"

    r = run_flowscope("-s", str(store_path), "ingest", src, "--since", "2h")
    assert r.returncode == 0, r.stderr
    assert f"{src} (us-east-1): 4 streams, " in flat(r.stderr)
    assert "25,302 records loaded from 3 input(s); 0 set aside" in flat(r.stderr)
    assert count(store_path) == 25_302
    assert query(store_path, "SELECT count(*) FROM flows WHERE interface_id = 'eni-0a4'") == [(2,)]
    big_pages = [q for q in aws.requests("GetLogEvents") if q["what"] == "eni-0a1-all"]
    assert len(big_pages) == 4  # 10,000 + 10,000 + 5,000 + the page that returns the same token

    # Nothing new: the streams are read again from an hour before the last read (--overlap),
    # and every event there is known.
    again = run_flowscope("-s", str(store_path), "ingest", src, "--since", "2h")
    assert again.returncode == 0, again.stderr
    assert "0 records loaded from 0 input(s)" in flat(again.stderr)
    assert count(store_path) == 25_302

    # New events, a late one (older than records already read) and one before the window.
    late = now_ms() - 8 * MIN
    stream_events = [
        (now_ms() - 30_000 + i, record(90_000 + i, late // 1000, "eni-0a2")) for i in range(50)
    ]
    put_events(aws.client("logs"), group, "eni-0a2-all", stream_events)
    put_events(
        aws.client("logs"),
        group,
        "eni-0a2-all",
        [(late, record(99_999, late // 1000, "eni-0a2")), (now_ms() - 3 * 3600_000, record(1, 0))],
    )
    third = run_flowscope("-s", str(store_path), "ingest", src, "--since", "2h")
    assert third.returncode == 0, third.stderr
    assert "51 records loaded from 1 input(s)" in flat(third.stderr)
    assert count(store_path) == 25_353
    assert query(store_path, "SELECT count(*) FROM flows WHERE bytes = 100099") == [(1,)]


def starts(aws: MotoServer, name: str) -> list[int]:
    """The startTime of every GetLogEvents request the CLI made for stream ``name``."""
    return [int(q["start"]) for q in aws.requests("GetLogEvents") if q["what"] == name]


def test_an_event_that_arrives_late_is_loaded_by_the_next_run(
    aws: MotoServer, group: str, store_path: Path
) -> None:
    t0 = now_ms() - 50 * MIN
    stream(aws, group, "eni-1-all", [(t0 + i * 1000, record(i, t0 // 1000)) for i in range(600)])
    stream(
        aws, group, "eni-2-all", [(t0 + i, record(1000 + i, t0 // 1000, "eni-2")) for i in range(5)]
    )
    src = f"cloudwatch://{group}"
    base = ["-s", str(store_path), "ingest", src, "--format", DEFAULT]
    first = run_flowscope(*base)
    assert first.returncode == 0, first.stderr
    assert count(store_path) == 605

    # Ingested now, stamped 30 minutes before the point the first run read up to (and 15
    # minutes before the oldest record of the stream it lands in): only a re-read finds it.
    late = now_ms() - 30 * MIN
    put_events(aws.client("logs"), group, "eni-2-all", [(late, record(99_999, late // 1000))])
    aws.reset()
    second = run_flowscope(*base, "--overlap", "1h")
    assert second.returncode == 0, second.stderr
    assert "1 records loaded from 1 input(s)" in flat(second.stderr)
    assert query(store_path, "SELECT count(*) FROM flows WHERE bytes = 100099") == [(1,)]
    assert count(store_path) == 606
    # The stream that received it was re-read from an hour (and 5 minutes) before the first
    # run: 35 minutes (and the time between the runs) before the late record.
    assert late - 45 * MIN < min(starts(aws, "eni-2-all")) <= late - 35 * MIN

    third = run_flowscope(*base)
    assert third.returncode == 0, third.stderr
    assert "0 records loaded from 0 input(s)" in flat(third.stderr)
    dupes = query(
        store_path,
        "SELECT count(*) FROM (SELECT interface_id, bytes, count(*) AS n FROM flows "
        "GROUP BY ALL HAVING n > 1)",
    )
    assert (count(store_path), dupes) == (606, [(0,)])


def test_a_stream_with_nothing_ingested_since_its_read_is_not_read_again(
    aws: MotoServer, group: str, store_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flowscope import pipeline
    from flowscope.engines import open_store
    from flowscope.parse.layout import parse_log_format
    from flowscope.sources.aws import Aws, cloudwatch, open_source
    from flowscope.times import TimeRange

    # In process, with no visibility margin: events put before the first run then count as
    # read by it (on AWS the margin is 5 minutes; moto stamps ingestion at put time).
    monkeypatch.setattr(cloudwatch, "SETTLE", 0)
    t0 = now_ms() - 40 * MIN
    for k in (1, 2):
        events = [(t0 + i * 1000, record(k * 1000 + i, t0 // 1000, f"eni-{k}")) for i in range(50)]
        stream(aws, group, f"eni-{k}-all", events)
    store = open_store(str(store_path))

    def run() -> int:
        src = open_source(f"cloudwatch://{group}", Aws(), TimeRange())
        return pipeline.read_source(src, store, parse_log_format(DEFAULT)).rows

    assert run() == 100
    late = now_ms() - 35 * MIN
    put_events(aws.client("logs"), group, "eni-1-all", [(late, record(5_000, late // 1000))])
    aws.reset()
    assert run() == 1
    # eni-1 received an event after it was read: re-read from an hour before that read.
    assert min(starts(aws, "eni-1-all")) < late
    # eni-2 did not (lastIngestionTime): only what is newer than its last read.
    assert min(starts(aws, "eni-2-all")) >= t0 + 50 * 1000
    assert count(store_path) == 101


def test_an_explicit_window_is_read_whole_and_adds_nothing_twice(
    aws: MotoServer, group: str, store_path: Path
) -> None:
    t0 = now_ms() - 90 * MIN
    stream(aws, group, "eni-1-all", [(t0 + i * 5000, record(i, t0 // 1000)) for i in range(400)])
    src = f"cloudwatch://{group}"
    base = ["-s", str(store_path), "ingest", src, "--format", DEFAULT]
    assert run_flowscope(*base, "--since", "2h").returncode == 0
    assert count(store_path) == 400

    # 50 minutes late: beyond a 10-minute --overlap, so a plain run does not look for it.
    late = now_ms() - 50 * MIN
    put_events(aws.client("logs"), group, "eni-1-all", [(late, record(77_777, late // 1000))])
    plain = run_flowscope(*base, "--overlap", "10m")
    assert plain.returncode == 0, plain.stderr
    assert "0 records loaded from 0 input(s)" in flat(plain.stderr)

    aws.reset()
    whole = run_flowscope(*base, "--since", "2h", "--overlap", "10m")
    assert whole.returncode == 0, whole.stderr
    assert "1 records loaded from 1 input(s)" in flat(whole.stderr)
    two_hours_ago = now_ms() - 2 * 3600_000
    assert abs(min(starts(aws, "eni-1-all")) - two_hours_ago) < 5 * MIN
    assert count(store_path) == 401
    again = run_flowscope(*base, "--since", "2h")
    assert "0 records loaded from 0 input(s)" in flat(again.stderr)
    assert query(store_path, "SELECT count(DISTINCT bytes), count(*) FROM flows") == [(401, 401)]

    bad = run_flowscope(*base, "--overlap", "soon")
    assert bad.returncode == 2
    assert "error: --overlap 'soon' is not a duration" in flat(bad.stderr)
    s3_only = run_flowscope("-s", str(store_path), "ingest", "s3://b/", "--overlap", "1h")
    assert s3_only.returncode == 2
    assert "error: --overlap applies to cloudwatch:// sources only" in flat(s3_only.stderr)


def test_streams_by_glob_and_name_within_an_absolute_window(
    aws: MotoServer, group: str, store_path: Path
) -> None:
    inside, before = now_ms() - 60 * MIN, now_ms() - 3 * 3600_000
    for n, name in enumerate(["eni-0abc1-all", "eni-0abc2-all", "eni-0def-all"]):
        events = [(inside + i, record(n * 100 + i, inside // 1000)) for i in range(10)]
        events += [(before + i, record(n * 100 + 50 + i, before // 1000)) for i in range(10)]
        stream(aws, group, name, events)
    window = ["--since", iso(now_ms() - 2 * 3600_000), "--until", iso(now_ms())]
    r = run_flowscope(
        "-s", str(store_path), "ingest", f"cloudwatch://{group}", "--streams", "eni-0abc*",
        "--format", DEFAULT, *window,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "20 records loaded from 2 input(s)" in flat(r.stderr)
    assert {q["what"] for q in aws.requests("GetLogEvents")} == {"eni-0abc1-all", "eni-0abc2-all"}
    assert {q["what"] for q in aws.requests("DescribeLogStreams")} == {"eni-0abc"}

    missing = run_flowscope(
        "-s", str(store_path), "ingest", f"cloudwatch://{group}",
        "--streams", "eni-0def-all,eni-nope-all", *window,
    )  # fmt: skip
    assert missing.returncode == 1
    assert f"error: log group {group}: no stream named eni-nope-all" in flat(missing.stderr)
    assert "Traceback" not in flat(missing.stderr)


def test_layout_comes_from_the_flow_log_else_default_with_a_note(
    aws: MotoServer, group: str, store_path: Path
) -> None:
    ec2 = aws.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    fl = ec2.create_flow_logs(
        ResourceIds=[vpc],
        ResourceType="VPC",
        TrafficType="ALL",
        LogGroupName=group,
        DeliverLogsPermissionArn="arn:aws:iam::123456789012:role/flow-logs",
        LogFormat="${dstport} ${srcaddr} ${dstaddr} ${action}",
    )["FlowLogIds"][0]
    t = now_ms() - 5 * MIN
    stream(
        aws,
        group,
        "eni-1-all",
        [(t, "443 10.0.0.1 10.0.0.2 ACCEPT"), (t, "22 10.0.0.3 10.0.0.2 REJECT")],
    )
    r = run_flowscope("-s", str(store_path), "ingest", f"cloudwatch://{group}", "--since", "1h")
    assert r.returncode == 0, r.stderr
    assert (
        f"layout: LogFormat of flow log {fl}: ${{dstport}} ${{srcaddr}} ${{dstaddr}} ${{action}}"
        in flat(r.stderr)
    )
    assert query(store_path, "SELECT dstport, action FROM flows ORDER BY dstport") == [
        (22, "REJECT"),
        (443, "ACCEPT"),
    ]

    other = f"/vpc/other-{uuid4().hex[:6]}"
    aws.client("logs").create_log_group(logGroupName=other)
    stream(aws, other, "eni-2-all", [(t, record(1, t // 1000))])
    aws.fault({"action": "DescribeFlowLogs", "code": "UnauthorizedOperation", "status": 403})
    denied = run_flowscope(
        "-s", str(store_path), "ingest", f"cloudwatch://{other}", "--since", "1h"
    )
    assert denied.returncode == 0, denied.stderr
    assert (
        "could not look up the flow log's LogFormat (access denied: ec2:DescribeFlowLogs on "
        f"the flow logs of log group {other} (UnauthorizedOperation)" in flat(denied.stderr)
    )
    assert "using the default format; pass --format if the flow log has a custom one" in (
        flat(denied.stderr)
    )
    assert "layout: default format (v2)" in flat(denied.stderr)
    assert count(store_path) == 3


def test_throttling_is_retried_with_backoff(aws: MotoServer, group: str, store_path: Path) -> None:
    t = now_ms() - 5 * MIN
    for k in range(3):
        stream(
            aws,
            group,
            f"eni-{k}-all",
            [(t + i, record(k * 1000 + i, t // 1000)) for i in range(200)],
        )
    aws.fault(
        {"action": "DescribeLogStreams", "code": "ThrottlingException", "times": 1},
        {"action": "GetLogEvents", "code": "ThrottlingException", "times": 2},
    )
    r = run_flowscope("-s", str(store_path), "ingest", f"cloudwatch://{group}", "--format", DEFAULT)
    assert r.returncode == 0, r.stderr
    assert "600 records loaded from 3 input(s)" in flat(r.stderr)
    assert len(aws.requests("GetLogEvents")) == 3 * 2 + 2
    assert len(aws.requests("DescribeLogStreams")) == 2


def test_errors_are_one_line_and_a_rerun_resumes(
    aws: MotoServer, group: str, store_path: Path, tmp_path: Path
) -> None:
    src = f"cloudwatch://{group}"
    base = ["-s", str(store_path), "ingest", "--format", DEFAULT]
    missing = run_flowscope(*base, "cloudwatch://no-such-group")
    assert missing.returncode == 1
    assert flat(missing.stderr).startswith(
        "error: log group no-such-group not found (ResourceNotFoundException) "
        f"(looked in us-east-1 at {aws.url}; check the name and --region)"
    )
    t = now_ms() - 5 * MIN
    stream(aws, group, "eni-a-all", [(t + i, record(i, t // 1000)) for i in range(100)])
    stream(aws, group, "eni-b-all", [(t + i, record(500 + i, t // 1000)) for i in range(100)])

    aws.fault(
        {"action": "GetLogEvents", "code": "AccessDeniedException", "match": "eni-b", "times": 1}
    )
    denied = run_flowscope(*base, src)
    assert denied.returncode == 1
    assert (
        f"error: access denied: logs:GetLogEvents on log stream eni-b-all of log group {group} "
        "(AccessDeniedException) (the caller needs the IAM permission logs:GetLogEvents; what was "
        "loaded so far is kept; a re-run resumes)"
    ) in flat(denied.stderr)
    resumed = run_flowscope(*base, src)
    assert resumed.returncode == 0, resumed.stderr
    assert count(store_path) == 200

    aws.fault({"action": "DescribeLogStreams", "code": "ExpiredTokenException", "times": 1})
    expired = run_flowscope(*base, src)
    assert expired.returncode == 1
    assert (
        "error: AWS credentials were refused for logs:DescribeLogStreams (ExpiredTokenException"
        in (flat(expired.stderr))
    )

    down = run_flowscope(
        *base, src, env={"AWS_ENDPOINT_URL": "http://127.0.0.1:9", "AWS_MAX_ATTEMPTS": "2"}
    )
    assert down.returncode == 1
    assert (
        "error: cannot reach http://127.0.0.1:9 for logs:DescribeLogStreams on log group "
        f"{group} after 2 attempts (EndpointConnectionError)"
    ) in flat(down.stderr)

    profile = run_flowscope(*base, src, "--profile", "nope")
    assert profile.returncode == 2
    assert "error: AWS profile 'nope' not found" in flat(profile.stderr)

    no_region = run_flowscope(*base, src, env={"AWS_DEFAULT_REGION": ""})
    assert no_region.returncode == 2 and "no AWS region" in flat(no_region.stderr)

    for r in (missing, denied, expired, down, profile, no_region):
        assert "Traceback" not in flat(r.stderr)
        assert "testing-secret-do-not-print" not in flat(r.stderr) + r.stdout
    assert count(store_path) == 200


def test_kill_9_at_any_moment_then_resume_loses_and_repeats_nothing(
    aws: MotoServer, group: str, store_path: Path
) -> None:
    t = now_ms() - 30 * MIN
    total = 0
    for k in range(30):
        n = 200 + 37 * k
        events = [(t + i * 997, record(k * 10_000 + i, t // 1000)) for i in range(n)]
        stream(aws, group, f"eni-{k:02d}-all", events)
        total += n
    # Slow answers (2 requests a stream, 4 streams at a time), so that the kills land while
    # streams are being read and loaded: the first after loads were committed, the second
    # early in the next run.
    aws.fault({"action": "GetLogEvents", "delay": 0.2, "times": 100_000})
    cmd = [sys.executable, "-m", "flowscope", "-s", str(store_path), "ingest",
           f"cloudwatch://{group}", "--format", DEFAULT, "--since", "2h"]  # fmt: skip
    seen = []
    for kill_after in (48, 6):
        before = len(aws.requests("GetLogEvents"))
        proc = subprocess.Popen(cmd, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while len(aws.requests("GetLogEvents")) - before < kill_after:
            assert proc.poll() is None, "finished before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        seen.append(count(store_path) if store_path.exists() else 0)
    assert 0 < seen[0] < total, seen
    aws.fault()
    final = run_flowscope(*cmd[3:])
    assert final.returncode == 0, final.stderr
    assert count(store_path) == total
    dupes = query(
        store_path,
        "SELECT count(*) FROM (SELECT interface_id, bytes, count(*) AS n FROM flows "
        "GROUP BY ALL HAVING n > 1)",
    )
    assert dupes == [(0,)]


def test_a_run_stopped_between_units_of_one_stream_resumes_mid_stream(
    aws: MotoServer, group: str, store_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flowscope import pipeline
    from flowscope.engines import open_store
    from flowscope.parse.layout import parse_log_format
    from flowscope.sources.aws import Aws, cloudwatch, open_source
    from flowscope.times import parse_range

    monkeypatch.setattr(cloudwatch, "UNIT_EVENTS", 1000)
    t = now_ms() - 20 * MIN
    stream(aws, group, "eni-1-all", [(t + i * 100, record(i, t // 1000)) for i in range(7_500)])
    store = open_store(str(store_path))

    def run(units: int | None) -> int:
        src = open_source(f"cloudwatch://{group}", Aws(), parse_range("1h", None))
        with store.write() as checkpoints:
            plan = src.plan(checkpoints, parse_log_format(DEFAULT))
        chosen = islice(plan.units, units) if units is not None else plan.units
        rows = pipeline.ingest(chosen, store, plan.layout).rows
        plan.units.close()  # type: ignore[attr-defined]
        return rows

    assert run(3) == 3000
    assert run(2) == 2000
    assert run(None) == 2500
    assert count(store_path) == 7_500


def wait_for(store: Path, n: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    got = -1
    while time.monotonic() < deadline:
        try:
            got = count(store)
        except (duckdb.IOException, duckdb.CatalogException):
            got = -1
        if got == n:
            return
        time.sleep(0.2)
    raise AssertionError(f"expected {n} records, found {got}")


def test_follow_polls_releases_the_store_and_stops_cleanly(
    aws: MotoServer, group: str, store_path: Path
) -> None:
    t = now_ms() - 5 * MIN
    stream(aws, group, "eni-1-all", [(t + i, record(i, t // 1000)) for i in range(40)])
    bucket = f"follow-{uuid4().hex[:8]}"
    s3 = aws.client("s3")
    s3.create_bucket(Bucket=bucket)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "flowscope",
            "-s",
            str(store_path),
            "follow",
            f"cloudwatch://{group}",
            f"s3://{bucket}/AWSLogs/",
            "--format",
            DEFAULT,
            "--interval",
            "0.5s",
            "--since",
            "1h",
        ],  # fmt: skip
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(store_path, 40)
        put_events(aws.client("logs"), group, "eni-1-all", [(now_ms(), record(500, t // 1000))])
        day = datetime.now(UTC)
        key = (
            f"AWSLogs/123456789012/vpcflowlogs/us-east-1/{day:%Y/%m/%d}/"
            f"123456789012_vpcflowlogs_us-east-1_fl-1_{day:%Y%m%dT%H}00Z_ab.log.gz"
        )
        import gzip

        header = DEFAULT.replace("${", "").replace("}", "") + "\n"
        body = header + "".join(record(600 + i, t // 1000) + "\n" for i in range(9))
        s3.put_object(Bucket=bucket, Key=key, Body=gzip.compress(body.encode()))
        wait_for(store_path, 50)
    finally:
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, stderr
    assert "stopped after" in stderr and "50 records loaded" in stderr
    assert "Traceback" not in stderr
