"""The API never answers 500 to bad input, and a 500 from a bug says nothing about internals.

A hypothesis property test throws absurd times, intervals, sizes and nested filters at every
endpoint of a real store: each answer is 200 or 4xx with the JSON envelope.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import duckdb
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from flowscope.api import create_app
from flowscope.engines.duckdb.query import watchdog
from flowscope.engines.duckdb.store import DuckStore
from flowscope.errors import QueryTimeout
from flowscope.query.fields import QueryField
from flowscope.query.model import Backend, Query, Result
from tests.test_query_support import FLOWS, make_store

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx` with")
    from fastapi.testclient import TestClient


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_store(tmp_path_factory.mktemp("robust"), FLOWS)


@pytest.fixture(scope="module")
def client(store: Path) -> Iterator[TestClient]:
    with TestClient(create_app(DuckStore(store)), base_url="http://127.0.0.1") as c:
        yield c


def answer(r: Any, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["ok"] is False and set(body) == {"ok", "error", "took_ms"}
    return dict(body["error"])


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/api/metrics?from=now-99999999999d", "is outside 1970-01-01 to 9999-12-31"),
        ("/api/metrics?to=now%2B99999999999d", "is outside 1970-01-01 to 9999-12-31"),
        ("/api/metrics?from=99999999999999999999d", "is outside 1970-01-01 to 9999-12-31"),
        ("/api/metrics?from=0001-01-01", "is outside 1970-01-01 to 9999-12-31"),
        ("/api/hist?interval=99999999999999999999d", "is longer than 366d"),
        ("/api/hist?interval=400d", "is longer than 366d"),
        ("/api/search?where=" + "not%20" * 1000 + "dstport:22", "nested more than 64 deep"),
        ("/api/top?field=dstport&where=dstport:(" + "not%20" * 1000 + "22)", "nested more"),
        ("/api/search?where=start_time%20%3E%20now-99999999999d", "start_time takes a time"),
    ],
)
def test_absurd_input_is_a_400(client: TestClient, path: str, message: str) -> None:
    e = answer(client.get(path), 400)
    assert message in e["message"]


class BrokenBackend(Backend):
    def fields(self) -> list[QueryField]:
        raise RuntimeError("secret detail at /srv/flows/store.duckdb")

    def run(self, queries: Sequence[Query]) -> list[Result]:
        raise OverflowError("date value out of range in /srv/flows")


def test_an_unhandled_error_is_a_json_500_without_internals(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with (
        caplog.at_level(logging.ERROR, "flowscope.api"),
        TestClient(create_app(BrokenBackend()), base_url="http://127.0.0.1") as c,
    ):
        for path in ("/api/fields", "/api/metrics"):
            r = c.get(path)
            e = answer(r, 500)
            assert e["type"] == "InternalError" and "/srv" not in r.text and "secret" not in r.text
    logged = "\n".join(r.getMessage() + str(r.exc_info) for r in caplog.records)
    assert "GET /api/fields failed" in logged and "secret detail" in logged


def test_503_bodies_name_no_path_and_no_process(store: Path, tmp_path: Path) -> None:
    copy = tmp_path / "busy.duckdb"
    copy.write_bytes(store.read_bytes())
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys; c = duckdb.connect(sys.argv[1]);"
         " print('held', flush=True); sys.stdin.read()", str(copy)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with TestClient(create_app(DuckStore(copy), timeout=0.3), base_url="http://127.0.0.1") as c:
            r = c.get("/api/metrics")
            e = answer(r, 503)
            assert e["type"] == "StoreBusy" and e["message"] == (
                "the store is busy: another process is writing to it"
            )
            assert str(tmp_path) not in r.text and str(holder.pid) not in r.text
    finally:
        holder.communicate("", timeout=30)
    missing = tmp_path / "missing" / "none.duckdb"
    with TestClient(create_app(DuckStore(missing)), base_url="http://127.0.0.1") as c:
        r = c.get("/api/metrics")
        assert answer(r, 503)["message"] == "the store does not exist yet"
        assert str(tmp_path) not in r.text


def test_a_time_limit_message_names_the_limit_not_what_was_left() -> None:
    con = duckdb.connect()
    slow = "SELECT count(*) FROM range(1000000000) a, range(1000) b WHERE a.range * b.range < 0"
    with pytest.raises(QueryTimeout) as e, watchdog(con, 0.2, 10.0):
        con.execute(slow).fetchall()
    assert e.value.message == "the query took longer than 10s and was stopped"
    con.close()


# --- the property ----------------------------------------------------------------------------

digits = st.integers(min_value=0, max_value=10**40).map(str)
unit = st.sampled_from(["s", "m", "h", "d", "w", "", "y", "D"])
sign = st.sampled_from(["-", "+", " - "])
times = st.one_of(
    st.builds(lambda s, n, u: f"now{s}{n}{u}", sign, digits, unit),
    st.builds(lambda n, u: f"{n}{u}", digits, unit),
    st.sampled_from(["", "all", "now", "0001-01-01", "9999-12-31T23:59:59", "1969-12-31",
                     "2024-02-30", "2024-06-01T25:00", "1e308", "-1", "NaN", "\x00", "٣d"]),
    st.text(max_size=30),
)  # fmt: skip
intervals = st.one_of(st.builds(lambda n, u: f"{n}{u}", digits, unit), st.text(max_size=12))
sizes = st.one_of(st.integers(min_value=-(10**30), max_value=10**30), st.text(max_size=8))
atoms = st.sampled_from(
    ["dstport:22", "srcaddr:10.0.0.0/8", "action:REJECT", "bytes >= 99999999999999999999999",
     "start_time > now-99999999999d", "dstport:[1 to 99999999999999]", "protocol:tcp", "x:1",
     "dstaddr:2600:1f18::/999", "interface_id:eni-*", "dstport:*", ")", '"', "and"]
)  # fmt: skip


@st.composite
def filters(draw: st.DrawFn) -> str:
    """An atom nested up to 1500 deep in 'not's and parentheses, with and/or on the way."""
    text = draw(atoms)
    style = draw(st.sampled_from(["not", "paren", "mixed"]))
    for _ in range(draw(st.integers(min_value=0, max_value=1500))):
        kind = style if style != "mixed" else draw(st.sampled_from(["not", "paren", "and", "or"]))
        if kind == "not":
            text = "not " + text
        elif kind == "paren":
            text = f"({text})"
        else:
            text = f"{text} {kind} {draw(atoms)}"
    return text


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@example(endpoint="metrics", since="now-99999999999d", until="", interval="", size=1, where="")
@example(endpoint="hist", since="", until="", interval="99999999999d", size=1, where="")
@example(endpoint="search", since="", until="", interval="", size=1, where="not " * 999 + "x:1")
@given(
    endpoint=st.sampled_from(["top", "hist", "search", "summary", "metrics", "reports/talkers"]),
    since=times,
    until=times,
    interval=intervals,
    size=sizes,
    where=st.one_of(filters(), st.text(max_size=40)),
)
def test_every_endpoint_answers_200_or_4xx(
    client: TestClient,
    endpoint: str,
    since: str,
    until: str,
    interval: str,
    size: Any,
    where: str,
) -> None:
    params: dict[str, Any] = {"from": since, "to": until, "where": where, "size": size}
    if endpoint in ("top", "summary"):
        params["field"] = "dstport"
    if endpoint == "hist":
        params["interval"] = interval
    r = client.get(f"/api/{endpoint}", params=params)
    assert r.status_code < 500, (params, r.text)
    body = r.json()
    assert body["ok"] is (r.status_code == 200), body
    if r.status_code == 200 and endpoint == "hist":
        assert all(not t.startswith("1970") for t in body["data"]["times"]), params


@settings(max_examples=40, deadline=None)
@given(since=times, until=times, where=filters(), interval=intervals)
@example(since="now-99999999999d", until="", where="", interval="auto")
@example(since="", until="", where="not " * 1000 + "dstport:22", interval="auto")
@example(since="", until="", where="", interval="99999999999999999999d")
def test_dashboard_answers_200_or_4xx(
    client: TestClient, since: str, until: str, where: str, interval: str
) -> None:
    body = {
        "from": since,
        "to": until,
        "where": where,
        "panels": [
            {"id": "h", "type": "hist", "interval": interval},
            {"id": "t", "type": "top", "field": "dstaddr", "where": where},
            {"id": "m", "type": "metrics"},
        ],
    }
    r = client.post("/api/dashboard", json=body)
    assert r.status_code < 500, (body, r.text)
