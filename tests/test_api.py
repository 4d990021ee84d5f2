"""The JSON API through FastAPI's TestClient on a real DuckDB file: every endpoint, every error."""

from __future__ import annotations

import subprocess
import sys
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from flowscope.api import create_app
from flowscope.engines.duckdb.store import DuckStore
from flowscope.errors import QueryTimeout
from flowscope.query.fields import QueryField
from flowscope.query.model import Backend, Query, Result
from tests.test_query_support import FLOWS, make_store

with warnings.catch_warnings():
    # Starlette 1.x asks for httpx2 and warns when the TestClient runs on httpx
    warnings.filterwarnings("ignore", message="Using `httpx` with")
    from fastapi.testclient import TestClient


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_store(tmp_path_factory.mktemp("api"), FLOWS)


@pytest.fixture(scope="module")
def client(store: Path) -> Iterator[TestClient]:
    with local(create_app(DuckStore(store), row_cap=50)) as c:
        yield c


def local(app: Any) -> TestClient:
    """A client whose requests name 127.0.0.1, as a browser on this machine does."""
    return TestClient(app, base_url="http://127.0.0.1")


def ok(response: Any) -> Any:
    body = response.json()
    assert response.status_code == 200, body
    assert body["ok"] is True and isinstance(body["took_ms"], int)
    return body["data"]


def error(response: Any, status: int) -> dict[str, Any]:
    body = response.json()
    assert response.status_code == status, body
    assert body["ok"] is False and set(body) == {"ok", "error", "took_ms"}
    assert {"type", "message", "position", "hint"} <= set(body["error"])
    return dict(body["error"])


def test_fields(client: TestClient) -> None:
    data = ok(client.get("/api/fields"))
    by_name = {f["name"]: f for f in data}
    assert by_name["dstport"] == {
        "name": "dstport",
        "kind": "int",
        "aws_name": "dstport",
        "version": 2,
        "enum": None,
        "doc": "${dstport} (flow log version 2)",
        "endpoint": False,
    }
    assert by_name["action"]["enum"] == ["ACCEPT", "REJECT"]
    assert by_name["start_time"]["kind"] == "time"
    # what the estate knows of each end: named as of the flow, a list for security groups
    assert by_name["dst_name"]["endpoint"] and by_name["dst_name"]["kind"] == "str"
    assert by_name["src_security_groups"]["kind"] == "list"


def test_top(client: TestClient) -> None:
    data = ok(client.get("/api/top", params={"field": "dstport", "size": 2, "by": "bytes"}))
    assert data == {
        "fields": ["dstport"],
        "by": "bytes",
        "rows": [
            {"value": 443, "count": 4, "bytes": 21000, "packets": 38},
            {"value": 22, "count": 2, "bytes": 9120, "packets": 42},
        ],
        "other": {"count": 4, "bytes": 2676, "packets": 12},
        "missing": {"count": 1, "bytes": 0, "packets": 0},
        "total": {"count": 11, "bytes": 32796, "packets": 92},
        "distinct": 6,
    }
    pair = ok(client.get("/api/top?field=srcaddr&field=dstaddr&size=1&where=dstport:22"))
    assert pair["rows"] == [
        {"srcaddr": "198.51.100.7", "dstaddr": "10.0.2.9", "count": 1, "bytes": 120, "packets": 2}
    ]


def test_hist(client: TestClient) -> None:
    data = ok(
        client.get(
            "/api/hist",
            params={"split": "action", "from": "2024-06-10T06:13:00Z", "to": "2024-06-10T06:17Z"},
        )
    )
    assert data["interval"] == "1m" and data["interval_seconds"] == 60
    assert data["times"] == [f"2024-06-10T06:1{m}:00+00:00" for m in (3, 4, 5, 6)]
    assert [(s["label"], s["count"]) for s in data["series"]] == [
        ("ACCEPT", [1, 1, 1, 0]),
        ("REJECT", [0, 0, 0, 1]),
    ]


def test_search_and_next_page(client: TestClient) -> None:
    first = ok(client.get("/api/search", params={"size": 2, "columns": "start,srcaddr"}))
    assert first["total"] == 11
    assert first["rows"] == [
        {"start": 1718007200, "srcaddr": None},
        {"start": 1718003600, "srcaddr": "10.1.0.1"},
    ]
    second = ok(
        client.get(
            "/api/search", params={"size": 2, "columns": "start", "cursor": first["next_cursor"]}
        )
    )
    assert second["rows"] == [{"start": 1718000480}, {"start": 1718000420}]


def test_summary_metrics_reports(client: TestClient) -> None:
    summary = ok(client.get("/api/summary", params={"field": "protocol", "size": 1}))
    assert summary["values"] == [{"value": 6, "count": 8, "share": 8 / 11}]
    assert (summary["distinct"], summary["missing"]) == (2, 1)
    metrics = ok(client.get("/api/metrics", params={"where": "action:REJECT"}))
    assert metrics == {
        "count": 2,
        "bytes": 240,
        "packets": 4,
        "sources": 1,
        "destinations": 1,
        "first": "2024-06-10T06:16:20+00:00",
        "last": "2024-06-10T06:18:20+00:00",
    }
    # the page's first question, the store's extent, skips the costly distinct counts
    quick = ok(client.get("/api/metrics", params={"where": "action:REJECT", "distinct": "false"}))
    assert quick == {**metrics, "sources": None, "destinations": None}
    names = [r["name"] for r in ok(client.get("/api/reports"))]
    assert names == ["talkers", "rejected", "ssh-rdp", "ports", "interfaces", "skipdata"]
    talkers = ok(client.get("/api/reports/talkers", params={"size": 1}))
    assert (talkers["kind"], talkers["result"]["rows"][0]["bytes"]) == ("top", 20000)
    assert ok(client.get("/api/reports/skipdata"))["kind"] == "hist"


def test_dashboard_answers_every_panel(client: TestClient) -> None:
    body = {
        "where": "protocol:tcp",
        "from": "all",
        "panels": [
            {"id": "traffic", "type": "hist", "interval": "1h"},
            {"id": "ports", "type": "top", "field": "dstport", "size": 1},
            {"id": "rejected", "type": "top", "field": ["srcaddr"], "where": "action:REJECT"},
            {"id": "sidebar", "type": "summary", "field": "action"},
            {"id": "numbers", "type": "metrics"},
            {"id": "talkers", "type": "report", "name": "talkers", "size": 1},
            {"id": "flows", "type": "search", "size": 1, "columns": ["start"]},
        ],
    }
    panels = ok(client.post("/api/dashboard", json=body))["panels"]
    assert list(panels) == [
        "traffic",
        "ports",
        "rejected",
        "sidebar",
        "numbers",
        "talkers",
        "flows",
    ]
    assert panels["traffic"]["series"][0]["count"] == [8]
    assert panels["ports"]["rows"] == [{"value": 443, "count": 4, "bytes": 21000, "packets": 38}]
    assert panels["rejected"]["rows"][0]["value"] == "198.51.100.7"
    assert panels["numbers"]["count"] == 8
    assert panels["talkers"]["result"]["rows"][0]["bytes"] == 20000
    assert panels["flows"]["rows"] == [{"start": 1718000480}]


def test_filter_errors_point_into_the_filter(client: TestClient) -> None:
    e = error(client.get("/api/top", params={"field": "dstport", "where": "dstprot:22"}), 400)
    assert e == {
        "type": "QueryError",
        "message": "unknown field 'dstprot' (did you mean dstport?)",
        "position": 0,
        "hint": None,
    }
    e = error(client.get("/api/metrics", params={"where": "action:REJECT and (dstport:22"}), 400)
    assert (e["position"], e["message"]) == (
        29,
        "expected ')' to close the '(' at position 18, found the end of the filter",
    )
    e = error(
        client.post(
            "/api/dashboard",
            json={
                "panels": [
                    {"id": "a", "type": "metrics"},
                    {"id": "b", "type": "top", "field": "dstport", "where": "bytes >"},
                ]
            },
        ),
        400,
    )
    assert (e["panel"], e["position"]) == ("b", 7)


@pytest.mark.parametrize(
    ("url", "status", "kind", "message"),
    [
        ("/api/top?field=dstport&size=abc", 400, "ValidationError", "size: Input should be"),
        ("/api/top", 400, "ValidationError", "field: Field required"),
        ("/api/top?field=dstport&size=51", 400, "QueryError", "at most 50 rows per query"),
        ("/api/top?field=dstport&by=flows", 400, "QueryError", "unknown metric 'flows'"),
        ("/api/hist?interval=fortnight", 400, "UsageError", "interval 'fortnight'"),
        ("/api/search?from=yesterday", 400, "UsageError", "time 'yesterday' not understood"),
        ("/api/search?cursor=xyz", 400, "QueryError", "invalid cursor"),
        ("/api/reports/nope", 404, "UnknownReport", "unknown report 'nope'"),
        ("/api/nothing", 404, "HTTPError", "Not Found"),
    ],
)
def test_error_envelope(client: TestClient, url: str, status: int, kind: str, message: str) -> None:
    e = error(client.get(url), status)
    assert e["type"] == kind and e["message"].startswith(message), e


def test_dashboard_request_mistakes(client: TestClient) -> None:
    twice = {"panels": [{"id": "a", "type": "metrics"}, {"id": "a", "type": "metrics"}]}
    assert (
        error(client.post("/api/dashboard", json=twice), 400)["message"]
        == "panel ids must be unique"
    )
    many = {"panels": [{"id": str(i), "type": "metrics"} for i in range(25)]}
    assert error(client.post("/api/dashboard", json=many), 400)["type"] == "ValidationError"
    odd = {"panels": [{"id": "a", "type": "pie"}]}
    assert error(client.post("/api/dashboard", json=odd), 400)["type"] == "ValidationError"


class SlowBackend(Backend):
    def fields(self) -> list[QueryField]:
        return []

    def run(self, queries: Sequence[Query]) -> list[Result]:
        raise QueryTimeout("the query took longer than 10s and was stopped")


def test_time_limit_is_a_504() -> None:
    with local(create_app(SlowBackend())) as c:
        e = error(c.get("/api/metrics"), 504)
    assert e["type"] == "QueryTimeout"


def test_busy_store_is_a_503_then_answers(store: Path, tmp_path: Path) -> None:
    copy = tmp_path / "busy.duckdb"
    copy.write_bytes(store.read_bytes())
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('held', flush=True);"
            " sys.stdin.read()",
            str(copy),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with local(create_app(DuckStore(copy), timeout=0.5)) as c:
            r = c.get("/api/metrics")
            e = error(r, 503)
            assert e["type"] == "StoreBusy" and r.headers["retry-after"] == "1"
            holder.communicate("", timeout=30)  # the writer finishes and lets go
            assert ok(c.get("/api/metrics"))["count"] == 11
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()


def test_missing_store_is_a_503(tmp_path: Path) -> None:
    with local(create_app(DuckStore(tmp_path / "none.duckdb"))) as c:
        e = error(c.get("/api/metrics"), 503)
    assert e["type"] == "StoreError" and "does not exist" in e["message"]


def test_cors_is_off_unless_asked(store: Path) -> None:
    headers = {"Origin": "http://elsewhere.example", "Access-Control-Request-Method": "GET"}
    with local(create_app(DuckStore(store))) as c:
        assert "access-control-allow-origin" not in c.get("/api/fields", headers=headers).headers
    with local(create_app(DuckStore(store), cors_origins=("http://elsewhere.example",))) as c:
        r = c.get("/api/fields", headers=headers)
        assert r.headers["access-control-allow-origin"] == "http://elsewhere.example"


def test_openapi_documents_the_endpoints(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    paths = {"/api/fields", "/api/top", "/api/hist", "/api/search", "/api/summary",
             "/api/metrics", "/api/reports", "/api/reports/{name}", "/api/dashboard"}  # fmt: skip
    assert paths <= set(spec["paths"])
    assert client.get("/docs").status_code == 200
