"""One contract, every store: the same questions over the same flows get the same answers.

Half an hour of the demo VPC's flow logs (both of its flow logs: the v2 default format and the
v5 custom one, with NODATA and SKIPDATA records, IPv4 and IPv6) is loaded through the real
pipeline into a DuckDB file and into each of the session's real cluster nodes (OpenSearch 2.19
and Elasticsearch 7.10, which lacks ``multi_terms``). Every case then asks
both backends and expects equal results, compared whole as the JSON the API sends; the API
itself is asked too. Search pages are compared as what a user pages through: the same records
in the same order of the sort field (ties between equal sort values may be ordered differently,
each backend by its own storage order).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from flowscope import pipeline
from flowscope.api import create_app
from flowscope.demo.generate import DemoSpec, write_demo
from flowscope.engines import backend_for, open_store
from flowscope.engines.base import Store
from flowscope.engines.opensearch.store import OpenSearchStore
from flowscope.errors import QueryError
from flowscope.query import build
from flowscope.query.fields import QUERY_FIELDS
from flowscope.query.model import Backend, Query, SearchQuery
from flowscope.query.overview import overview
from flowscope.query.reports import REPORTS, run_report
from flowscope.sources.files import local_units
from tests.test_opensearch_node import ENGINES, Node, drop, fresh_name, node

pytestmark = pytest.mark.opensearch

START = datetime(2025, 1, 6, tzinfo=UTC)
SPEC = DemoSpec(start=START, hours=0.5, seed=11)


@dataclass
class Pair:
    duck: Backend
    cluster: Backend
    rows: int
    stores: tuple[Store, Store]


@pytest.fixture(scope="session", params=ENGINES)
def os_node(request: pytest.FixtureRequest) -> Node:
    return node(request.config, request.param)


@pytest.fixture(scope="module")
def pair(os_node: Node, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    data = tmp_path_factory.mktemp("contract")
    write_demo(data / "logs", SPEC)
    duck = open_store(str(data / "flows.duckdb"))
    name = fresh_name()
    cluster = open_store(f"{os_node.url}/{name}")
    assert isinstance(cluster, OpenSearchStore)
    loaded = [pipeline.ingest(local_units([str(data / "logs")]), s) for s in (duck, cluster)]
    assert loaded[0].rows == loaded[1].rows > 5000
    assert loaded[0].rejects == loaded[1].rejects == 0
    yield Pair(backend_for(duck), backend_for(cluster), loaded[0].rows, (duck, cluster))
    cluster.close()
    drop(os_node, name)


def S(where: str = "", since: str = "", until: str = "") -> Any:
    return build.make_scope(where, since, until)


T0, T1 = "2025-01-06T00:07:00Z", "2025-01-06T00:21:30Z"

CASES: dict[str, Callable[[], Query]] = {
    "top dstaddr 20": lambda: build.top_query("dstaddr", "count", 20, S()),
    "top dstport 20": lambda: build.top_query("dstport", "count", 20, S()),
    "top srcaddr by bytes, rejected": lambda: build.top_query(
        "srcaddr", "bytes", 10, S("action:REJECT")
    ),
    "top protocol_name by packets": lambda: build.top_query("protocol_name", "packets", 5, S()),
    "top pkt_dst_aws_service (v5 only)": lambda: build.top_query(
        "pkt_dst_aws_service", "bytes", 5, S()
    ),
    "top log_status": lambda: build.top_query("log_status", "count", 5, S()),
    "top action, flow_direction": lambda: build.top_query(
        ["action", "flow_direction"], "count", 10, S()
    ),
    "top dstport, protocol in a range": lambda: build.top_query(
        ["dstport", "protocol"], "bytes", 8, S("", T0, T1)
    ),
    "top start_time": lambda: build.top_query("start_time", "count", 3, S()),
    "top srcaddr, dstaddr (IPv6 in pairs)": lambda: build.top_query(
        ["srcaddr", "dstaddr"], "bytes", 10, S("dstaddr:2600:1f18::/32 or srcaddr:10.0.0.0/8")
    ),
    "top start_time, action": lambda: build.top_query(["start_time", "action"], "count", 5, S()),
    "hist auto": lambda: build.hist_query("auto", None, 10, "count", S()),
    "hist 5m by action, bytes": lambda: build.hist_query("5m", "action", 10, "bytes", S()),
    "hist 1m top 3 dstports in a range": lambda: build.hist_query(
        "1m", "dstport", 3, "count", S("", T0, T1)
    ),
    "hist split with missing values": lambda: build.hist_query(
        "10m", "tcp_flags", 2, "packets", S()
    ),
    "hist until only": lambda: build.hist_query("2m", None, 10, "count", S("", "", T1)),
    "hist since only: too many buckets": lambda: build.hist_query(
        "2m", None, 10, "count", S("", T1)
    ),
    "metrics": lambda: build.metrics_query(S()),
    "summary dstport": lambda: build.summary_query("dstport", 5, S()),
    "summary interface_id rejected": lambda: build.summary_query(
        "interface_id", 5, S("action:REJECT")
    ),
}

FILTERS = [
    "srcaddr:10.0.0.0/16",
    "dstaddr:2600:1f18::/32",
    "srcaddr:10.0.1.*",
    "not dstport:22",
    "dstport:(22 or 3389) and action:REJECT",
    "dstport >= 1024 and protocol:udp",
    "dstport:[1000 to 2000]",
    "not (action:ACCEPT or dstport:443)",
    "interface_id:eni-0*",
    "log_status:NODATA",
    "dstaddr:*",
    "not srcaddr:*",
    "flow_direction:ingress and pkt_srcaddr:*",
    "tcp_flags_names:SYN",
    "protocol_name:icmp or protocol:58",
    f"start_time >= {T0} and end_time < {T1}",
    "bytes > 100000",
    "start < 1736122000",
]


def _same(pair: Pair, q: Query) -> dict[str, Any]:
    """Both backends' answer (equal), or both their errors (equal messages)."""
    try:
        a = pair.duck.run([q])[0].to_dict()
    except QueryError as e:
        with pytest.raises(QueryError) as b_error:
            pair.cluster.run([q])
        assert str(b_error.value) == str(e)
        return {"error": str(e)}
    b = pair.cluster.run([q])[0].to_dict()
    assert b == a
    return a


@pytest.mark.parametrize("case", list(CASES))
def test_same_answer(pair: Pair, case: str) -> None:
    _same(pair, CASES[case]())


@pytest.mark.parametrize("where", FILTERS)
def test_same_filter_meaning(pair: Pair, where: str) -> None:
    answer = _same(pair, build.metrics_query(S(where)))
    _same(pair, build.top_query("dstport", "count", 5, S(where)))
    if where in ("dstaddr:*", "log_status:NODATA"):
        assert answer["count"] > 0


def test_everything_loaded_is_counted(pair: Pair) -> None:
    answer = _same(pair, build.metrics_query(S()))
    assert answer["count"] == pair.rows
    assert answer["first"] == "2025-01-06T00:00:00+00:00"
    quick = _same(pair, build.metrics_query(S(), distinct=False))
    assert quick == {**answer, "sources": None, "destinations": None}


@pytest.mark.parametrize("name", list(REPORTS))
def test_same_reports(pair: Pair, name: str) -> None:
    scope = S()
    assert (
        run_report(pair.cluster, name, scope).to_dict()
        == run_report(pair.duck, name, scope).to_dict()
    )


def _pages(backend: Backend, q: SearchQuery) -> tuple[list[tuple[Any, ...]], int, int]:
    rows: list[tuple[Any, ...]] = []
    cursor, pages = None, 0
    while True:
        page = backend.search(SearchQuery(q.columns, q.sort, q.descending, q.size, cursor, q.scope))
        rows += page.rows
        pages += 1
        cursor = page.next_cursor
        if cursor is None:
            return rows, pages, page.total


@pytest.mark.parametrize(
    ("sort", "where"),
    [
        ("start_time:desc", "dstport:(22 or 3389)"),
        ("bytes:asc", "action:REJECT and protocol:tcp"),
        ("tcp_flags:desc", "dstport:5432"),  # missing in v2 records: they come last
    ],
)
def test_same_search_pages(pair: Pair, sort: str, where: str) -> None:
    columns = [c for c in QUERY_FIELDS if c != "load_id" and not QUERY_FIELDS[c].endpoint]
    q = build.search_query(columns, sort, 37, None, S(where))
    a_rows, a_pages, a_total = _pages(pair.duck, q)
    b_rows, b_pages, b_total = _pages(pair.cluster, q)
    assert (b_total, b_pages) == (a_total, a_pages)
    assert len(b_rows) == b_total > 37
    assert Counter(b_rows) == Counter(a_rows)
    key = columns.index(q.sort)
    assert [r[key] for r in b_rows] == [r[key] for r in a_rows]


def _get(backend: Backend, paths: list[str]) -> list[dict[str, Any]]:
    """The JSON bodies of GET ``paths`` on the API over ``backend`` (in-process, no socket)."""

    async def go() -> list[dict[str, Any]]:
        transport = httpx.ASGITransport(app=create_app(backend))
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as c:
            return [(await c.get(p)).json() for p in paths]

    return asyncio.run(go())


def test_same_api_answers(pair: Pair) -> None:
    paths = [
        "/api/top?field=dstport&size=5&where=action:REJECT",
        "/api/hist?interval=5m&split=action",
        "/api/summary?field=protocol_name",
        "/api/metrics?where=srcaddr:10.0.0.0/8",
    ]
    for a, b in zip(_get(pair.duck, paths), _get(pair.cluster, paths), strict=True):
        assert a["ok"] and b["ok"], (a, b)
        assert b["data"] == a["data"]
    (bad,) = _get(pair.cluster, ["/api/top?field=dstport&where=srcaddr:10.*.5"])
    assert bad["ok"] is False and bad["error"]["type"] == "QueryError"


def test_same_dashboard(pair: Pair) -> None:
    body = {
        "where": "not log_status:NODATA",
        "from": "2025-01-06T00:05:00Z",
        "to": "2025-01-06T00:25:00Z",
        "panels": [
            {"id": "ports", "type": "top", "field": "dstport", "size": 20},
            {"id": "time", "type": "hist", "interval": "1m", "split": "action"},
            {"id": "status", "type": "summary", "field": "log_status"},
            {"id": "numbers", "type": "metrics"},
            {"id": "talkers", "type": "report", "name": "talkers"},
        ],
    }

    async def go(backend: Backend) -> dict[str, Any]:
        transport = httpx.ASGITransport(app=create_app(backend))
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as c:
            answer: dict[str, Any] = (await c.post("/api/dashboard", json=body)).json()
            return answer

    a, b = asyncio.run(go(pair.duck)), asyncio.run(go(pair.cluster))
    assert a["ok"] and b["ok"], (a, b)
    assert b["data"] == a["data"]


def test_overview_is_the_same(pair: Pair) -> None:
    duck, cluster = overview(pair.duck), overview(pair.cluster)
    assert duck == cluster
    assert duck["flows"] == pair.rows
    assert sum(duck["by_action"].values()) == pair.rows


def test_ledger_listings_are_the_same(pair: Pair) -> None:
    """`flowscope loads` and `flowscope rejects` list the same ledger on both engines."""
    duck, cluster = pair.stores
    loads = [s.list_loads(1000) for s in (duck, cluster)]
    assert (
        loads[0].columns
        == loads[1].columns
        == [
            "load_id",
            "source",
            "rows",
            "rejects",
            "layout",
            "notes",
            "finished",
        ]
    )
    mine = [sorted((r[1], r[2], r[3], r[4]) for r in found.rows) for found in loads]
    assert mine[0] == mine[1]
    assert sum(r[2] for r in loads[0].rows) == pair.rows
    assert all(isinstance(r[6], datetime) for found in loads for r in found.rows)
    assert [len(found.rows) for found in loads] == [len(found.rows) for found in loads][:1] * 2
    assert len(duck.list_loads(3).rows) == len(cluster.list_loads(3).rows) == 3
    rejects = [s.list_rejects(10) for s in (duck, cluster)]
    assert rejects[0].columns == rejects[1].columns == ["source", "line", "reason", "raw"]
    assert rejects[0].rows == rejects[1].rows == []
