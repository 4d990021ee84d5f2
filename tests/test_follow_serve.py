"""`flowscope follow` and `flowscope serve` on one DuckDB file at the same time.

DuckDB lets one process write a file while no other process may open it; the store keeps every
connection short so that a follower writing every poll and a server answering the dashboard can
share the file. This runs both real commands against moto's CloudWatch Logs and asks the API
again and again while new records arrive.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from uuid import uuid4

import httpx
import pytest

from tests.aws_server import MotoServer, put_events, record

pytestmark = pytest.mark.aws

DEFAULT = (
    "${version} ${account-id} ${interface-id} ${srcaddr} ${dstaddr} ${srcport} ${dstport} "
    "${protocol} ${packets} ${bytes} ${start} ${end} ${action} ${log-status}"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_answers_while_follow_writes(aws: MotoServer, store_path: Path) -> None:
    group = f"/vpc/follow-serve-{uuid4().hex[:8]}"
    logs = aws.client("logs")
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="eni-1-all")
    start = int(time.time()) - 300
    put_events(logs, group, "eni-1-all", [(start * 1000 + i, record(i, start)) for i in range(40)])
    port = free_port()
    follow_log = (store_path.parent / "follow.log").open("wb")
    follow = subprocess.Popen(
        [sys.executable, "-m", "flowscope", "-s", str(store_path), "follow",
         f"cloudwatch://{group}", "--format", DEFAULT, "--interval", "0.3s", "--since", "1h"],
        stderr=follow_log,
    )  # fmt: skip
    serve = subprocess.Popen(
        [sys.executable, "-m", "flowscope", "-s", str(store_path), "serve", "--port", str(port)],
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/api/metrics?from=all"
    statuses: list[int] = []
    counts: list[int] = []
    try:
        deadline = time.monotonic() + 120  # ends as soon as every stage was seen
        expected = 40
        added = 0
        while time.monotonic() < deadline:
            try:
                r = httpx.get(url, timeout=20)
            except httpx.TransportError:
                time.sleep(0.2)  # the server is still starting
                continue
            statuses.append(r.status_code)
            if r.status_code == 200:
                counts.append(int(r.json()["data"]["count"]))
                if counts[-1] == expected:
                    if added == 5:
                        break
                    batch = [
                        (start * 1000 + 1000 + added * 10 + i, record(1000 + added * 10 + i, start))
                        for i in range(10)
                    ]
                    put_events(logs, group, "eni-1-all", batch)
                    added += 1
                    expected += 10
            time.sleep(0.1)
    finally:
        follow.send_signal(signal.SIGINT)
        serve.send_signal(signal.SIGINT)
        follow.wait(timeout=30)
        serve.wait(timeout=30)
        follow_log.close()
    said = (store_path.parent / "follow.log").read_text(errors="replace")[-2000:]
    assert counts and counts[-1] == 90, (counts[-10:], statuses[-10:], said)
    # The server never failed while the follower wrote; it saw every stage of the data.
    assert set(statuses) <= {200}, statuses
    assert counts == sorted(counts)
    assert {40, 50, 60, 70, 80, 90} <= set(counts)
    assert follow.returncode == 0
