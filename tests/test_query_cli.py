"""The read commands through the real ``flowscope`` command (a subprocess), on a real store."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import run_flowscope
from tests.test_query_support import FLOWS, make_store


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(make_store(tmp_path_factory.mktemp("cli"), FLOWS))


def test_top_json_is_sorted_by_the_metric(store: str) -> None:
    r = run_flowscope("-s", store, "top", "dstport", "--by", "bytes", "-n", "3", "--json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["rows"] == [
        {"value": 443, "count": 4, "bytes": 21000, "packets": 38},
        {"value": 22, "count": 2, "bytes": 9120, "packets": 42},
        {"value": 50000, "count": 1, "bytes": 2400, "packets": 8},
    ]
    assert (data["fields"], data["by"]) == (["dstport"], "bytes")
    assert data["total"]["count"] == sum(r["count"] for r in data["rows"]) + (
        data["other"]["count"] + data["missing"]["count"]
    )


def test_top_table_and_csv(store: str) -> None:
    r = run_flowscope(
        "top", "srcaddr", "--where", "action:REJECT and dstport:(22 or 3389)", "--since", "all",
        env={"FLOWSCOPE_STORE": store},
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "top srcaddr by count" in r.stdout
    row = next(line for line in r.stdout.splitlines() if "198.51.100.7" in line)
    assert "│     2 │" in row and "█" in row
    assert "total" in r.stdout and "1 distinct" in r.stdout
    csv = run_flowscope(
        "-s", store, "top", "srcaddr", "dstaddr", "-n", "1", "--by", "bytes", "--csv"
    )
    assert csv.stdout == "srcaddr,dstaddr,count,bytes,packets\n10.0.1.5,52.94.1.10,2,20000,30\n"


def test_top_with_cidr_json(store: str) -> None:
    r = run_flowscope(
        "-s",
        store,
        "top",
        "dstport",
        "--where",
        "srcaddr:10.0.0.0/16 and not protocol:17",
        "--json",
    )
    # ::ffff:10.0.1.5 is in 10.0.0.0/16 too; 10.0.3.3's flow is UDP
    assert json.loads(r.stdout)["rows"] == [
        {"value": 443, "count": 4, "bytes": 21000, "packets": 38}
    ]


def test_hist_json_and_terminal(store: str) -> None:
    args = ["-s", store, "hist", "--interval", "1m", "--split", "action"]
    span = ["--since", "2024-06-10T06:15:00Z", "--until", "2024-06-10T06:17:00Z"]
    r = run_flowscope(*args, *span, "--json")
    assert r.returncode == 0, r.stderr
    # the flow of 06:14:20-06:15:20 overlaps the range: it counts in the range's first bucket
    data = json.loads(r.stdout)
    assert data["times"] == ["2024-06-10T06:15:00+00:00", "2024-06-10T06:16:00+00:00"]
    assert (data["interval"], data["split"]) == ("1m", "action")
    assert [(s["label"], s["count"], s["bytes"], s["packets"]) for s in data["series"]] == [
        ("ACCEPT", [2, 0], [15700, 0], [25, 0]),
        ("REJECT", [0, 1], [0, 120], [0, 2]),
    ]
    csv = run_flowscope(*args, *span, "--csv")
    assert csv.stdout == (
        "time,key,count,bytes,packets\n"
        "2024-06-10T06:15:00+00:00,ACCEPT,2,15700,25\n"
        "2024-06-10T06:16:00+00:00,REJECT,1,120,2\n"
    )
    table = run_flowscope(*args, *span)
    assert "count per 1m, 2024-06-10 06:15 to 2024-06-10 06:17 UTC" in table.stdout
    assert "2024-06-10 06:15 │     2 │ ██████████████████████████████" in table.stdout
    assert "2024-06-10 06:16 │     1 │ ███████████████ " in table.stdout
    assert "ACCEPT" in table.stdout and "REJECT" in table.stdout


def test_search_pages_through_the_cursor(store: str) -> None:
    r = run_flowscope(
        "-s", store, "search", "--where", "dstaddr:2600:1f18::/32 or bytes >= 9000", "--limit", "1",
        "--columns", "srcaddr,bytes", "--json",
    )  # fmt: skip
    assert json.loads(r.stdout)["rows"] == [{"srcaddr": "2600:1f18:1234::5", "bytes": 2400}]
    cursor = r.stderr.split("--cursor ")[1].split()[0]
    more = run_flowscope(
        "-s", store, "search", "--where", "dstaddr:2600:1f18::/32 or bytes >= 9000", "--limit", "5",
        "--columns", "srcaddr,bytes", "--json", "--cursor", cursor,
    )  # fmt: skip
    assert json.loads(more.stdout)["rows"] == [
        {"srcaddr": "203.0.113.9", "bytes": 9000},
        {"srcaddr": "10.0.1.5", "bytes": 15000},
    ]
    assert json.loads(more.stdout)["next_cursor"] is None
    assert "next page" not in more.stderr


def test_report_summary_metrics(store: str) -> None:
    talkers = run_flowscope("-s", store, "report", "talkers", "-n", "1", "--json")
    assert json.loads(talkers.stdout)["result"]["rows"] == [
        {"srcaddr": "10.0.1.5", "dstaddr": "52.94.1.10", "count": 2, "bytes": 20000, "packets": 30}
    ]
    table = run_flowscope("-s", store, "report", "ssh-rdp")
    assert "SSH and RDP traffic" in table.stdout and "3389" in table.stdout
    summary = run_flowscope("-s", store, "summary", "action", "--csv")
    assert summary.stdout == "value,count,share\nACCEPT,8,0.7273\nREJECT,2,0.1818\n"
    metrics = run_flowscope("-s", store, "metrics", "--where", "protocol:udp", "--json")
    assert json.loads(metrics.stdout) == (
        {
            "count": 2,
            "bytes": 156,
            "packets": 2,
            "sources": 2,
            "destinations": 2,
            "first": "2024-06-10T06:19:20+00:00",
            "last": "2024-06-10T07:14:20+00:00",
        }
    )


def test_mistakes_are_one_line_with_a_caret(store: str) -> None:
    r = run_flowscope("-s", store, "top", "dstport", "--where", "action:REJECT and dstprot:22")
    assert r.returncode == 2
    assert r.stdout == ""
    assert r.stderr.splitlines() == [
        "  action:REJECT and dstprot:22",
        "                    ^",
        "error: unknown field 'dstprot' (did you mean dstport?)",
    ]
    bad = run_flowscope("-s", store, "report", "nope")
    assert bad.returncode == 2 and "unknown report 'nope'" in bad.stderr
    since = run_flowscope("-s", store, "metrics", "--since", "last tuesday")
    assert since.returncode == 2 and "time 'last tuesday' not understood" in since.stderr


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_answers_json_on_loopback(store: str, tmp_path: Path) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "flowscope", "-s", store, "serve", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/api/metrics", timeout=5)
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.communicate()
                assert time.monotonic() < deadline, "serve did not start"
                time.sleep(0.2)
        assert r.json()["data"]["count"] == 11
        assert httpx.get(f"http://127.0.0.1:{port}/openapi.json").status_code == 200
    finally:
        proc.terminate()
        proc.communicate(timeout=30)


def test_json_is_what_the_api_answers(store: str) -> None:
    """One data function, two renderings: each command's --json is the API's ``data``."""
    from flowscope.api import create_app
    from flowscope.engines import open_store
    from tests.test_api import local

    top = {"field": "dstport", "by": "bytes", "size": 3}
    pairs: list[tuple[str, str, dict[str, Any]]] = [
        ("top dstport -n 3 --by bytes", "top", top),
        ("top srcaddr dstaddr -n 2", "top", {"field": "srcaddr,dstaddr", "size": 2}),
        ("hist --interval 5m --split action", "hist", {"interval": "5m", "split": "action"}),
        ("search -n 2 --columns srcaddr,bytes", "search", {"columns": "srcaddr,bytes", "size": 2}),
        ("summary action", "summary", {"field": "action"}),
        ("metrics", "metrics", {}),
        ("report talkers -n 2", "reports/talkers", {"size": 2}),
    ]
    with local(create_app(open_store(store))) as api:
        for args, path, params in pairs:
            cli = run_flowscope("-s", store, *args.split(), "--since", "all", "--json")
            assert cli.returncode == 0, (args, cli.stderr)
            answer = api.get(f"/api/{path}", params={"from": "all", **params})
            assert answer.status_code == 200, (path, answer.text)
            assert json.loads(cli.stdout) == answer.json()["data"], args
