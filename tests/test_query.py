"""The DuckDB backend on a small real store: every question, with its answer written out."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from flowscope.engines.duckdb.query import DuckBackend, watchdog
from flowscope.engines.duckdb.store import DuckStore
from flowscope.errors import QueryError, QueryTimeout, StoreError, UsageError
from flowscope.query import build
from flowscope.query.intervals import auto_interval, format_interval, parse_interval
from flowscope.query.model import Metrics, Scope, SearchQuery, Totals
from flowscope.query.reports import REPORTS, run_report
from flowscope.times import parse_range, parse_time
from tests.test_query_support import FLOWS, T0, make_store


def at(seconds: int) -> datetime:
    return datetime.fromtimestamp(T0 + seconds, UTC)


@pytest.fixture(scope="module")
def backend(tmp_path_factory: pytest.TempPathFactory) -> DuckBackend:
    return DuckBackend(DuckStore(make_store(tmp_path_factory.mktemp("q"), FLOWS)), row_cap=100)


def scope(where: str = "", since: str = "", until: str = "") -> Scope:
    return build.make_scope(where, since, until)


def test_top_has_rows_other_missing_and_total(backend: DuckBackend) -> None:
    r = backend.top(build.top_query("dstport", "count", 2))
    assert [(row.key, row.totals) for row in r.rows] == [
        ((443,), Totals(4, 21000, 38)),
        ((22,), Totals(2, 9120, 42)),
    ]
    assert r.other == Totals(4, 2676, 12)
    assert r.missing == Totals(1, 0, 0)
    assert r.total == Totals(11, 32796, 92)
    assert r.distinct == 6
    assert r.to_dict()["rows"][0] == {"value": 443, "count": 4, "bytes": 21000, "packets": 38}


def test_top_by_bytes_and_by_packets(backend: DuckBackend) -> None:
    by_bytes = backend.top(build.top_query("dst-port", "bytes", 3))
    assert [row.key[0] for row in by_bytes.rows] == [443, 22, 50000]
    by_packets = backend.top(build.top_query("dstport", "packets", 1))
    assert [(row.key, row.totals.packets) for row in by_packets.rows] == [((22,), 42)]


def test_top_of_a_field_pair(backend: DuckBackend) -> None:
    r = backend.top(build.top_query("srcaddr,dstaddr", "bytes", 2))
    assert [row.to_dict(r.fields) for row in r.rows] == [
        {"srcaddr": "10.0.1.5", "dstaddr": "52.94.1.10", "count": 2, "bytes": 20000, "packets": 30},
        {"srcaddr": "203.0.113.9", "dstaddr": "10.0.2.9", "count": 1, "bytes": 9000, "packets": 40},
    ]


@pytest.mark.parametrize(
    ("where", "field", "expected"),
    [
        ("action:REJECT and dstport:(22 or 3389)", "srcaddr", [("198.51.100.7", 2)]),
        # ::ffff:10.0.1.5 is inside 10.0.0.0/16 too; the UDP flow from 10.0.3.3 is not counted
        ("srcaddr:10.0.0.0/16 and not protocol:17", "dstport", [(443, 4)]),
        ("dstaddr:2600:1f18::/32", "srcaddr", [("2600:1f18:1234::5", 1)]),
        # IPv4 is IPv4-mapped IPv6: ::ffff:0:0/96 is every IPv4 address, in either notation
        ('srcaddr:"::ffff:0:0/96"', "action", [("ACCEPT", 7), ("REJECT", 2)]),
        ("srcaddr:10.0.1.5", "srcaddr", [("10.0.1.5", 2), ("::ffff:10.0.1.5", 1)]),
        ("srcaddr:0.0.0.0/0 and dstaddr:::/0", "action", [("ACCEPT", 7), ("REJECT", 2)]),
        ("interface_id:eni-0b* and not dstport:*", "log_status", [("NODATA", 1)]),
        ("not dstport:443 and not protocol:tcp", "dstport", [(53, 1), (123, 1)]),
        ("bytes >= 5000 and packets < 40", "bytes", [(5000, 1), (15000, 1)]),
        ("dstport:[20 to 3389] and protocol:tcp", "dstport", [(22, 2), (443, 4), (3389, 1)]),
        ('start_time >= "2024-06-10T06:21:20Z"', "dstport", [(123, 1), (443, 1)]),
        ('interface_id:"x\'; DROP TABLE flows; --"', "dstport", []),
    ],
)
def test_filters(backend: DuckBackend, where: str, field: str, expected: list[object]) -> None:
    r = backend.top(build.top_query(field, "count", 10, scope(where)))
    assert sorted((row.key[0], row.totals.count) for row in r.rows) == sorted(expected)  # type: ignore[type-var]
    assert backend.metrics(build.metrics_query()).count == 11  # nothing was dropped


def test_time_range_selects_overlapping_flows(backend: DuckBackend) -> None:
    r = backend.metrics(build.metrics_query(scope("", at(59).isoformat(), at(181).isoformat())))
    # flows start every minute and last 60 s: the one from T0 ends at T0+60 >= T0+59
    assert (r.count, r.first, r.last) == (4, at(0), at(240))


def test_histogram_split(backend: DuckBackend) -> None:
    q = build.hist_query(
        "1m", "action", 10, "count", scope("", at(0).isoformat(), at(600).isoformat())
    )
    h = backend.hist(q)
    assert h.interval == 60
    assert h.times[0] == at(-20) and len(h.times) == 11  # buckets on whole minutes
    assert [(s.label, s.count) for s in h.series] == [
        ("ACCEPT", [1, 1, 1, 0, 0, 1, 1, 1, 1, 0, 0]),
        ("REJECT", [0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0]),
    ]
    assert h.total == Totals(9, 32720, 91)


def test_histogram_other_series_and_auto_interval(backend: DuckBackend) -> None:
    h = backend.hist(build.hist_query("auto", "dstport", 2, "count"))
    assert h.interval == 120  # T0 .. T0+7200: two hours in at most 120 buckets
    assert [(s.label, s.other, sum(s.count)) for s in h.series] == [
        ("443", False, 4),
        ("22", False, 2),
        ("(other)", True, 5),
    ]
    plain = backend.hist(build.hist_query("1h"))
    assert [(s.label, s.count) for s in plain.series] == [("flows", [9, 1, 1])]


def test_histogram_refuses_too_many_buckets(backend: DuckBackend) -> None:
    with pytest.raises(QueryError, match="an interval of 1s makes 7201 buckets"):
        backend.hist(build.hist_query("1s"))


def test_search_pages_with_a_stable_cursor(backend: DuckBackend) -> None:
    q = build.search_query("start,dstport", "start_time:desc", 4)
    seen = []
    pages = 0
    while True:
        page = backend.search(q)
        assert page.total == 11 and page.columns == ["start", "dstport"]
        seen += [r[0] - T0 for r in page.rows]
        pages += 1
        if page.next_cursor is None:
            break
        q = SearchQuery(q.columns, q.sort, q.descending, q.size, page.next_cursor, q.scope)
    assert pages == 3
    assert seen == [7200, 3600, 480, 420, 360, 300, 240, 180, 120, 60, 0]


def test_search_ties_and_nulls_page_completely(backend: DuckBackend) -> None:
    q = build.search_query("start,dstport", "dstport:asc", 3)
    rows = []
    while True:
        page = backend.search(q)
        rows += page.rows
        if not page.next_cursor:
            break
        q = SearchQuery(q.columns, q.sort, q.descending, q.size, page.next_cursor, q.scope)
    assert [r[1] for r in rows] == [22, 22, 53, 123, 443, 443, 443, 443, 3389, 50000, None]
    assert sorted(r[0] - T0 for r in rows) == [0, 60, 120, 180, 240, 300, 360, 420, 480, 3600, 7200]


def test_search_rejects_foreign_cursors(backend: DuckBackend) -> None:
    first = backend.search(build.search_query(None, "start_time", 2))
    assert first.next_cursor
    with pytest.raises(QueryError, match="another sort order"):
        backend.search(build.search_query(None, "bytes", 2, first.next_cursor))
    with pytest.raises(QueryError, match="invalid cursor"):
        backend.search(build.search_query(None, "start_time", 2, "not-a-cursor"))


def test_summary_and_metrics(backend: DuckBackend) -> None:
    s = backend.summary(build.summary_query("action"))
    assert s.to_dict() == {
        "field": "action",
        "kind": "str",
        "values": [
            {"value": "ACCEPT", "count": 8, "share": 8 / 11},
            {"value": "REJECT", "count": 2, "share": 2 / 11},
        ],
        "total": 11,
        "missing": 1,
        "distinct": 2,
    }
    assert backend.metrics(build.metrics_query()) == Metrics(11, 32796, 92, 8, 7, at(0), at(7260))


def test_reports(backend: DuckBackend) -> None:
    def rows(name: str, size: int | None = None) -> list[object]:
        result = run_report(backend, name, Scope(), size).result
        return [r.to_dict(result.fields) for r in result.rows]  # type: ignore[union-attr]

    assert rows("talkers", 1) == [
        {"srcaddr": "10.0.1.5", "dstaddr": "52.94.1.10", "count": 2, "bytes": 20000, "packets": 30}
    ]
    assert rows("rejected") == [{"value": "198.51.100.7", "count": 2, "bytes": 240, "packets": 4}]
    assert [(r["dstport"], r["action"]) for r in rows("ssh-rdp")] == [  # type: ignore[index]
        (22, "REJECT"),
        (3389, "REJECT"),
        (22, "ACCEPT"),
    ]
    assert [(r["dstport"], r["protocol_name"], r["count"]) for r in rows("ports", 2)] == [  # type: ignore[index]
        (443, "tcp", 4),
        (22, "tcp", 2),
    ]
    assert [(r["value"], r["bytes"]) for r in rows("interfaces")] == [  # type: ignore[index]
        ("eni-0a1", 20700),
        ("eni-0a2", 9240),
        ("eni-0a3", 2780),
        ("eni-0b4", 76),
    ]
    skip = run_report(backend, "skipdata", Scope())
    assert skip.to_dict()["result"]["times"] == []
    assert set(REPORTS) == {"talkers", "rejected", "ssh-rdp", "ports", "interfaces", "skipdata"}


def test_row_cap_and_bad_requests(backend: DuckBackend) -> None:
    with pytest.raises(QueryError, match="at most 100 rows per query, asked for 101"):
        backend.top(build.top_query("dstport", "count", 101))
    with pytest.raises(QueryError, match="unknown metric 'flows'"):
        build.top_query("dstport", "flows")
    with pytest.raises(QueryError, match="unknown field 'dstprot' \\(did you mean dstport\\?\\)"):
        build.top_query("dstprot")
    with pytest.raises(QueryError, match="sort direction 'up'"):
        build.search_query(None, "bytes:up")


def test_empty_store_answers_with_nothing(tmp_path: Path) -> None:
    store = DuckStore(tmp_path / "empty.duckdb")
    with store.write():
        pass
    b = DuckBackend(store)
    top = b.top(build.top_query("dstport"))
    assert (top.rows, top.total, top.distinct) == ([], Totals(), 0)
    assert b.hist(build.hist_query()).times == []
    assert b.hist(build.hist_query("1h", None, 10, "count", scope("", "6h"))).total == Totals()
    page = b.search(build.search_query(None, None, 10, None, scope("srcaddr:10.0.0.0/8")))
    assert (page.rows, page.total, page.next_cursor) == ([], 0, None)
    assert b.metrics(build.metrics_query()) == Metrics(0, 0, 0, 0, 0, None, None)


def test_missing_store_says_so(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="does not exist"):
        DuckBackend(DuckStore(tmp_path / "none.duckdb")).metrics(build.metrics_query())


def test_watchdog_interrupts_a_long_query() -> None:
    con = duckdb.connect()
    try:
        with pytest.raises(QueryTimeout, match="longer than 0.2s"), watchdog(con, 0.2):
            con.execute("SELECT sum(hash(range)) FROM range(100000000000)").fetchall()
        with watchdog(con, 5):  # the connection is usable again
            assert con.execute("SELECT 1").fetchall() == [(1,)]
    finally:
        con.close()
    assert not [t for t in threading.enumerate() if isinstance(t, threading.Timer) and t.is_alive()]


NOW = datetime(2024, 6, 10, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("now", NOW),
        ("now-15m", NOW - timedelta(minutes=15)),
        ("NOW - 2h", NOW - timedelta(hours=2)),
        ("24h", NOW - timedelta(hours=24)),
        ("7d", NOW - timedelta(days=7)),
        ("1w", NOW - timedelta(days=7)),
        ("2024-06-01", datetime(2024, 6, 1, tzinfo=UTC)),
        ("2024-06-01 10:30", datetime(2024, 6, 1, 10, 30, tzinfo=UTC)),
        ("2024-06-01T10:30:00+02:00", datetime(2024, 6, 1, 8, 30, tzinfo=UTC)),
        ("2024-06-01T10:30:00Z", datetime(2024, 6, 1, 10, 30, tzinfo=UTC)),
        ("1718000000", datetime.fromtimestamp(1718000000, UTC)),
        ("all", None),
        ("", None),
    ],
)
def test_times(text: str, expected: datetime | None) -> None:
    assert parse_time(text, NOW) == expected


def test_time_mistakes() -> None:
    with pytest.raises(UsageError, match="time 'yesterday' not understood"):
        parse_time("yesterday")
    with pytest.raises(UsageError, match="at or after it ends"):
        parse_range("1h", "2h", NOW)
    with pytest.raises(UsageError, match="interval '5 parsecs'"):
        parse_interval("5 parsecs")


def test_intervals() -> None:
    assert parse_interval("auto") is None and parse_interval("5m") == 300
    assert parse_interval("90") == 90
    spans = {"15m": 900, "6h": 21600, "24h": 86400, "7d": 604800, "30d": 2592000}
    chosen = {k: format_interval(auto_interval(v)) for k, v in spans.items()}
    assert chosen == {"15m": "1m", "6h": "5m", "24h": "15m", "7d": "2h", "30d": "6h"}
    assert all(60 <= spans[k] / auto_interval(spans[k]) <= 120 for k in ("6h", "24h", "7d"))
