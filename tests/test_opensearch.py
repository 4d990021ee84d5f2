"""The OpenSearch store against a real node: URLs, mapping, idempotent loads, errors, retention.

Loads go through the real ``flowscope`` command (a subprocess) or the real pipeline; the node is
the session's (``tests/test_opensearch_node.py``). Two answers no single open node can give, a
401 and an ancient version, come from a tiny HTTP stub on loopback.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest
from opensearchpy import OpenSearch, helpers

from flowscope.engines import backend_for, open_store
from flowscope.engines.opensearch.schema import ESTATE_COLUMNS, flow_properties
from flowscope.engines.opensearch.store import OpenSearchStore
from flowscope.engines.opensearch.url import client_options, parse_url
from flowscope.errors import QueryError, StoreError, UsageError
from flowscope.estate.store import NETWORKS_ITEM, EstateItem, load_estate
from flowscope.query import build
from tests.conftest import run_flowscope
from tests.test_opensearch_node import ENGINES, Node, drop, fresh_name, node

HEADER = (
    "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes "
    "start end action log-status\n"
)
DAY = 1736121600  # 2025-01-06T00:00:00Z


@pytest.fixture(scope="session", params=ENGINES)
def os_node(request: pytest.FixtureRequest) -> Node:
    return node(request.config, request.param)


@pytest.fixture
def store_url(os_node: Node) -> Iterator[str]:
    name = fresh_name()
    yield f"{os_node.url}/{name}"
    drop(os_node, name)


@pytest.fixture
def client(os_node: Node) -> Iterator[OpenSearch]:
    c = os_node.client()
    yield c
    c.close()


def records(n: int, start: int = DAY, port: int = 443) -> str:
    """``n`` distinct v2 records, one minute each from ``start``."""
    lines = []
    for i in range(n):
        action = "REJECT" if i % 5 == 0 else "ACCEPT"
        t = start + 60 * (i % 30)
        lines.append(
            f"2 123456789012 eni-0a{i % 7:015d} 10.0.{i % 3}.{i % 250} 10.1.0.{i % 9} "
            f"{40000 + i} {port if i % 4 else 22} 6 {i % 13 + 1} {(i % 13 + 1) * 100} "
            f"{t} {t + 60} {action} OK"
        )
    return HEADER + "\n".join(lines) + "\n"


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def count(client: OpenSearch, name: str) -> int:
    client.indices.refresh(index=f"{name}-flows-*", allow_no_indices=True)
    return int(client.count(index=f"{name}-flows-*", allow_no_indices=True)["count"])


def ledger(client: OpenSearch, name: str) -> list[dict[str, Any]]:
    client.indices.refresh(index=f"{name}-flowscope-loads")
    found = client.search(index=f"{name}-flowscope-loads", body={"size": 100})
    return [h["_source"] for h in found["hits"]["hits"]]


def ids(client: OpenSearch, name: str) -> set[str]:
    client.indices.refresh(index=f"{name}-flows-*")
    hits = helpers.scan(client, index=f"{name}-flows-*", query={"_source": False})
    return {h["_id"] for h in hits}


# -- URLs (no node) ------------------------------------------------------------------------------


def test_url_forms_and_defaults() -> None:
    u = parse_url("opensearch://127.0.0.1:9200/vpcflow")
    assert (u.product, u.tls, u.host, u.port, u.name) == (
        "opensearch",
        False,
        "127.0.0.1",
        9200,
        "vpcflow",
    )
    u = parse_url("opensearchs://alice:p%40ss@search.example:443")
    assert (u.tls, u.user, u.password, u.port, u.name) == (True, "alice", "p@ss", 443, "vpcflow")
    assert u.redacted() == "opensearchs://alice:***@search.example:443/vpcflow"
    u = parse_url("elasticsearchs://es.example/logs?api_key=id1:key1&ca=/etc/ca.pem")
    assert (u.product, u.tls, u.port, u.name, u.ca) == (
        "elasticsearch",
        True,
        9200,
        "logs",
        "/etc/ca.pem",
    )
    assert u.redacted() == "elasticsearchs://es.example:9200/logs?api_key=***"
    assert client_options(u)["headers"] == {"authorization": "ApiKey aWQxOmtleTE="}
    u = parse_url("elasticsearch://[::1]:9201/x?retention_days=30&shards=2&refresh=5s")
    assert (u.host, u.netloc, u.retention_days, u.shards, u.refresh) == (
        "::1",
        "[::1]:9201",
        30,
        2,
        "5s",
    )


def test_password_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOWSCOPE_STORE_PASSWORD", "s3cret")
    u = parse_url("opensearchs://bob@h:443/v")
    assert client_options(u)["http_auth"] == ("bob", "s3cret")
    assert "s3cret" not in u.redacted()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("opensearch://h:99999/v", "port is not a number"),
        ("opensearch://h:9200/Bad*Name", "cannot be an index name"),
        ("opensearch://h:9200/v?colour=red", "unknown option 'colour'"),
        ("opensearch://h:9200/v?aws_sigv4=s3", "expected es (Amazon OpenSearch Service) or aoss"),
        ("opensearch://h:9200/v?retention_days=0", "expected a whole number >= 1"),
        ("opensearch://u:topsecret@h:9200/v?verify=maybe", "expected true or false"),
    ],
)
def test_bad_urls_are_usage_errors_without_secrets(url: str, message: str) -> None:
    with pytest.raises(UsageError) as e:
        open_store(url)
    assert message in str(e.value)
    assert "topsecret" not in str(e.value)


def test_the_mapping_is_typed() -> None:
    props = flow_properties()
    assert props["srcaddr"] == {"type": "ip"}
    assert props["pkt_dstaddr"] == {"type": "ip"}
    assert props["bytes"] == {"type": "long"}
    assert props["packets"] == {"type": "long"}
    assert props["dstport"] == {"type": "integer"}
    assert props["protocol"] == {"type": "integer"}
    assert props["start"] == {"type": "date", "format": "epoch_second"}
    assert props["@timestamp"] == {"type": "date", "format": "epoch_second"}
    assert props["action"] == {"type": "keyword"}
    assert props["log_status"] == {"type": "keyword"}
    assert props["interface_id"] == {"type": "keyword"}
    assert props["load_id"] == {"type": "long"}


# -- loading into the node -------------------------------------------------------------------------


@pytest.mark.opensearch
def test_ingest_is_typed_daily_and_idempotent(
    tmp_path: Path, store_url: str, client: OpenSearch
) -> None:
    name = store_url.rsplit("/", 1)[1]
    a = write(tmp_path / "a.log", records(300))
    b = write(tmp_path / "b.log", records(200, start=DAY + 86400 - 600, port=8443))
    first = run_flowscope("ingest", str(a), str(b), "--store", store_url)
    assert first.returncode == 0, first.stderr
    assert "500 records loaded from 2 input(s); 0 set aside; 0 already loaded" in first.stderr
    # b straddles midnight: its records go to the day of their own start
    daily = sorted(client.indices.get(index=f"{name}-flows-*"))
    assert daily == [f"{name}-flows-2025.01.06", f"{name}-flows-2025.01.07"]
    assert client.indices.get_alias(name=name).keys() == set(daily)
    mapping = client.indices.get_mapping(index=daily[0])[daily[0]]["mappings"]["properties"]
    assert mapping["dstaddr"]["type"] == "ip" and mapping["bytes"]["type"] == "long"
    settings = client.indices.get_settings(index=daily[0])[daily[0]]["settings"]["index"]
    assert (settings["number_of_shards"], settings["refresh_interval"]) == ("1", "30s")
    assert count(client, name) == 500  # visible at once: the ingest refreshes at its end
    doc = client.search(index=name, body={"query": {"term": {"dstport": 22}}, "size": 1})
    source = doc["hits"]["hits"][0]["_source"]
    assert source["@timestamp"] == source["start"] == source["start_time"]
    assert source["protocol_name"] == "tcp" and source["srcaddr"].startswith("10.0.")
    before = ids(client, name)

    again = run_flowscope("ingest", str(a), str(b), "--store", store_url)
    assert again.returncode == 0, again.stderr
    assert "0 records loaded from 0 input(s); 0 set aside; 2 already loaded" in again.stderr
    assert count(client, name) == 500
    assert ids(client, name) == before
    done = [d for d in ledger(client, name) if d["status"] == "done"]
    assert sorted((d["source"], d["rows"]) for d in done) == [(str(a), 300), (str(b), 200)]


@pytest.mark.opensearch
def test_identical_and_nodata_records_are_all_kept(
    tmp_path: Path, store_url: str, client: OpenSearch
) -> None:
    name = store_url.rsplit("/", 1)[1]
    same = f"2 123456789012 eni-0abc 10.0.0.1 10.0.0.2 1234 443 6 1 40 {DAY} {DAY + 60} ACCEPT OK"
    nodata = f"2 123456789012 eni-0abc - - - - - - - {DAY} {DAY + 60} - NODATA"
    path = write(tmp_path / "dups.log", HEADER + "\n".join([same, same, nodata, nodata]) + "\n")
    done = run_flowscope("ingest", str(path), "--store", store_url)
    assert done.returncode == 0, done.stderr
    assert count(client, name) == 4
    run_flowscope("ingest", str(path), "--store", store_url)
    assert count(client, name) == 4


@pytest.mark.opensearch
def test_kill_9_mid_load_then_rerun_adds_no_duplicates(
    tmp_path: Path, store_url: str, client: OpenSearch
) -> None:
    from flowscope.demo.generate import write_benchmark_file

    name = store_url.rsplit("/", 1)[1]
    path = write_benchmark_file(tmp_path / "big.log.gz", 20_000)
    proc = subprocess.Popen(
        [sys.executable, "-m", "flowscope", "ingest", str(path), "--store", store_url],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    seen = 0
    while time.monotonic() < deadline and proc.poll() is None:
        if client.indices.exists(index=f"{name}-flows-*"):
            seen = count(client, name)
            if seen > 0:
                break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    partial = ids(client, name)
    assert 0 < len(partial) <= 20_000
    if len(partial) < 20_000:  # killed mid-load, as intended: nothing reported as done
        assert [d["status"] for d in ledger(client, name)] == ["running"]

    rerun = run_flowscope("ingest", str(path), "--store", store_url, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert "20,000 records loaded from 1 input(s)" in rerun.stderr
    after = ids(client, name)
    assert len(after) == 20_000 == count(client, name)
    assert partial <= after  # the same ids were sent again
    assert [d["status"] for d in ledger(client, name)] == ["done"]


@pytest.mark.opensearch
def test_refused_documents_are_set_aside_with_parse_rejects(
    tmp_path: Path, store_url: str, client: OpenSearch
) -> None:
    name = store_url.rsplit("/", 1)[1]
    first = run_flowscope("ingest", str(write(tmp_path / "a.log", records(20))), "-s", store_url)
    assert first.returncode == 0, first.stderr
    # The cluster refuses some documents: an ingest pipeline on the day's index fails SSH flows.
    client.ingest.put_pipeline(
        id=f"{name}-no-ssh",
        body={"processors": [{"fail": {"if": "ctx.dstport == 22", "message": "no ssh here"}}]},
    )
    daily = f"{name}-flows-2025.01.06"
    client.indices.put_settings(index=daily, body={"index.default_pipeline": f"{name}-no-ssh"})
    try:
        text = records(40, start=DAY + 3600) + "this is not a flow record\n"
        done = run_flowscope("ingest", str(write(tmp_path / "b.log", text)), "-s", store_url)
    finally:
        client.ingest.delete_pipeline(id=f"{name}-no-ssh")
    assert done.returncode == 3, done.stderr
    assert "30 records loaded from 1 input(s); 11 set aside" in done.stderr
    assert count(client, name) == 20 + 30
    client.indices.refresh(index=f"{name}-flowscope-rejects")
    rejects = client.search(index=f"{name}-flowscope-rejects", body={"size": 50})["hits"]["hits"]
    reasons = sorted(r["_source"]["reason"] for r in rejects)
    assert len(reasons) == 11
    assert reasons[0].startswith("6 fields, expected 14")
    assert all("no ssh here" in r for r in reasons[1:])
    refused = [r["_source"] for r in rejects if "no ssh" in r["_source"]["reason"]]
    assert json.loads(refused[0]["raw"])["dstport"] == 22  # the document, kept whole


# -- errors --------------------------------------------------------------------------------------


@pytest.mark.opensearch
def test_mapping_conflict_is_refused_before_anything_is_loaded(
    tmp_path: Path, store_url: str, client: OpenSearch
) -> None:
    name = store_url.rsplit("/", 1)[1]
    client.indices.create(
        index=f"{name}-flows-2025.01.05",
        body={"mappings": {"properties": {"srcaddr": {"type": "keyword"}}}},
    )
    done = run_flowscope("ingest", str(write(tmp_path / "a.log", records(10))), "-s", store_url)
    assert done.returncode == 1
    line = " ".join(done.stderr.split())
    assert f"{store_url} has a mapping flowscope cannot use" in line
    assert f"{name}-flows-2025.01.05: field srcaddr is keyword, expected ip" in line
    assert "nothing was loaded" in line
    assert not client.indices.exists(index=f"{name}-flows-2025.01.06")


@pytest.mark.opensearch
def test_an_index_made_before_endpoint_fields_gets_them_and_its_flows_are_named(
    tmp_path: Path, store_url: str, client: OpenSearch
) -> None:
    """A daily index of an older flowscope (no src_name ... dst_scope) keeps working: the
    fields are added to its mapping, new flows are named at ingest, and the flows it held are
    named when the estate is applied."""
    name = store_url.rsplit("/", 1)[1]
    old = {c: t for c, t in flow_properties().items() if c not in ESTATE_COLUMNS}
    index = f"{name}-flows-2025.01.06"
    client.indices.create(
        index=index,
        body={"mappings": {"dynamic": "strict", "properties": old}, "aliases": {name: {}}},
    )
    client.index(
        index=index,
        id="old",
        body={"srcaddr": "10.0.0.9", "dstaddr": "10.1.0.1", "start": DAY, "bytes": 1, "load_id": 1},
        refresh=True,
    )
    store = open_store(store_url)
    assert isinstance(store, OpenSearchStore)
    networks = b"10.1.0.0/16: db-net\n"
    with store.write() as writer:
        writer.save_estate({NETWORKS_ITEM: EstateItem(networks, "nets.yaml", datetime.now(UTC))})
    done = run_flowscope("ingest", str(write(tmp_path / "a.log", records(10))), "-s", store_url)
    assert done.returncode == 0, done.stderr
    mapping = client.indices.get_mapping(index=index)[index]["mappings"]["properties"]
    assert mapping["dst_network"] == {"type": "keyword"} and mapping["dst_asn"]["type"] == "long"
    top = build.top_query("dst_network", "count", 5, build.make_scope("", "", ""))
    answer = backend_for(store).run([top])[0].to_dict()
    assert answer["rows"] == [{"value": "db-net", "count": 10, "bytes": 5500, "packets": 55}]
    assert answer["missing"]["count"] == 1  # the flow stored before the estate
    with store.write() as writer:
        assert writer.apply_estate(load_estate(store)) == 11
    answer = backend_for(store).run([top])[0].to_dict()
    assert answer["rows"][0]["count"] == 11 and answer["missing"]["count"] == 0
    store.close()


@pytest.mark.opensearch
def test_an_index_where_the_alias_belongs_is_refused(os_node: Node, client: OpenSearch) -> None:
    name = fresh_name()
    client.indices.create(index=name)
    try:
        store = open_store(f"{os_node.url}/{name}")
        assert isinstance(store, OpenSearchStore)
        with pytest.raises(StoreError, match=f"already has an index named {name}"):
            with store.write():
                pass
        store.close()
    finally:
        client.indices.delete(index=name)
        drop(os_node, name)


@pytest.mark.opensearch
def test_flood_stage_block_fails_the_load_and_a_rerun_resumes(
    tmp_path: Path, store_url: str, client: OpenSearch
) -> None:
    name = store_url.rsplit("/", 1)[1]
    first = run_flowscope("ingest", str(write(tmp_path / "a.log", records(50))), "-s", store_url)
    assert first.returncode == 0, first.stderr
    # What the cluster does when a disk passes the flood-stage watermark.
    block = {"index.blocks.read_only_allow_delete": True}
    client.indices.put_settings(index=f"{name}-flows-*", body=block)
    b = write(tmp_path / "b.log", records(30, start=DAY + 7200))
    try:
        blocked = run_flowscope("ingest", str(b), "-s", store_url)
    finally:
        client.indices.put_settings(
            index=f"{name}-flows-*", body={"index.blocks.read_only_allow_delete": None}
        )
    assert blocked.returncode == 1
    line = " ".join(blocked.stderr.split())
    assert f"error: cluster {store_url} refuses writes to {name}-flows-2025.01.06" in line
    assert "flood-stage watermark" in line and "running the same command again resumes" in line
    assert [d["source"] for d in ledger(client, name) if d["status"] == "done"] == [
        str(tmp_path / "a.log")
    ]
    assert count(client, name) == 50
    resumed = run_flowscope("ingest", str(b), "-s", store_url)
    assert resumed.returncode == 0, resumed.stderr
    assert "30 records loaded from 1 input(s)" in resumed.stderr
    assert count(client, name) == 80


def test_unreachable_cluster_names_it_without_the_password(tmp_path: Path) -> None:
    from tests.test_opensearch_node import _free_port

    url = f"opensearch://admin:hunter2@127.0.0.1:{_free_port()}/vpcflow"
    done = run_flowscope("ingest", str(write(tmp_path / "a.log", records(3))), "-s", url)
    assert done.returncode == 1
    line = " ".join(done.stderr.split())
    assert "error: cannot reach the cluster at opensearch://admin:***@127.0.0.1:" in line
    assert "connection refused" in line and "is it running?" in line
    assert "hunter2" not in done.stderr + done.stdout


class _Stub(BaseHTTPRequestHandler):
    """Answers every request with the class's status and body."""

    status = 200
    body: dict[str, Any] = {}

    def _answer(self) -> None:
        data = json.dumps(self.body).encode()
        self.send_response(self.status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_PUT = do_POST = do_HEAD = _answer

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def stub() -> Iterator[tuple[type[_Stub], int]]:
    handler = type("Handler", (_Stub,), {})
    server = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield handler, int(server.server_address[1])
    server.shutdown()
    server.server_close()


def test_refused_credentials(stub: tuple[type[_Stub], int], tmp_path: Path) -> None:
    handler, port = stub
    handler.status = 401
    handler.body = {"error": {"type": "security_exception", "reason": "unauthorized"}}
    url = f"opensearch://admin:hunter2@127.0.0.1:{port}/vpcflow"
    done = run_flowscope("ingest", str(write(tmp_path / "a.log", records(3))), "-s", url)
    assert done.returncode == 1
    line = " ".join(done.stderr.split())
    assert f"the cluster at opensearch://admin:***@127.0.0.1:{port}/vpcflow refused" in line
    assert "credentials (401)" in line and "check user:password" in line
    assert "hunter2" not in done.stderr


def test_too_old_a_cluster(stub: tuple[type[_Stub], int], tmp_path: Path) -> None:
    handler, port = stub
    handler.body = {"version": {"number": "6.8.23"}, "tagline": "You Know, for Search"}
    url = f"elasticsearch://127.0.0.1:{port}/vpcflow"
    done = run_flowscope("ingest", str(write(tmp_path / "a.log", records(3))), "-s", url)
    assert done.returncode == 1
    line = " ".join(done.stderr.split())
    assert f"the cluster at {url} runs Elasticsearch 6.8.23; flowscope needs" in line
    assert "Elasticsearch 7.10 or later" in line


# -- retention -------------------------------------------------------------------------------------


@pytest.mark.opensearch
def test_retention_deletes_days_past_the_limit(
    tmp_path: Path, os_node: Node, client: OpenSearch
) -> None:
    name = fresh_name()
    url = f"{os_node.url}/{name}?retention_days=1"
    try:
        a = write(tmp_path / "a.log", records(10, start=DAY + 86400 - 300))
        done = run_flowscope("ingest", str(a), "-s", f"{os_node.url}/{name}")
        assert done.returncode == 0, done.stderr
        assert sorted(client.indices.get(index=f"{name}-flows-*")) == [
            f"{name}-flows-2025.01.06",
            f"{name}-flows-2025.01.07",
        ]
        store = open_store(url)
        assert isinstance(store, OpenSearchStore)
        deleted = store.apply_retention(today=datetime(2025, 1, 8, 12, tzinfo=UTC))
        store.close()
        assert deleted == [f"{name}-flows-2025.01.06"]
        assert sorted(client.indices.get(index=f"{name}-flows-*")) == [f"{name}-flows-2025.01.07"]
    finally:
        drop(os_node, name)


# -- the query DSL (no node) -----------------------------------------------------------------------


def dsl(text: str) -> dict[str, Any]:
    from flowscope.engines.opensearch.query import compile_filter
    from flowscope.query.filter import parse_filter

    return compile_filter(parse_filter(text))


def test_filters_compile_to_dsl() -> None:
    assert dsl("") == {"match_all": {}}
    assert dsl("srcaddr:10.0.0.0/8 and not dstport:22") == {
        "bool": {
            "filter": [
                {"term": {"srcaddr": "10.0.0.0/8"}},
                {"bool": {"must_not": [{"term": {"dstport": 22}}]}},
            ]
        }
    }
    assert dsl("action:reject or protocol:udp") == {
        "bool": {
            "should": [{"term": {"action": "REJECT"}}, {"term": {"protocol": 17}}],
            "minimum_should_match": 1,
        }
    }
    assert dsl("dstport:[1000 to 2000]") == {
        "bool": {
            "filter": [
                {"range": {"dstport": {"gte": 1000}}},
                {"range": {"dstport": {"lte": 2000}}},
            ]
        }
    }
    assert dsl("interface_id:eni-0?a*") == {"wildcard": {"interface_id": {"value": "eni-0\\?a*"}}}
    assert dsl("pkt_srcaddr:*") == {"exists": {"field": "pkt_srcaddr"}}
    assert dsl("start_time >= 2025-01-06T00:30:00Z") == {
        "range": {
            "start_time": {
                "gte": "2025-01-06T00:30:00+00:00",
                "format": "strict_date_optional_time",
            }
        }
    }


def test_address_wildcards_become_ranges() -> None:
    assert dsl("srcaddr:10.0.*") == {
        "range": {"srcaddr": {"gte": "10.0.0.0", "lte": "10.0.255.255"}}
    }
    assert dsl("dstaddr:10.2*") == {
        "bool": {
            "should": [
                {"range": {"dstaddr": {"gte": "10.2.0.0", "lte": "10.2.255.255"}}},
                {"range": {"dstaddr": {"gte": "10.20.0.0", "lte": "10.29.255.255"}}},
                {"range": {"dstaddr": {"gte": "10.200.0.0", "lte": "10.255.255.255"}}},
            ],
            "minimum_should_match": 1,
        }
    }
    with pytest.raises(QueryError, match="must be an IPv4 prefix such as 10.0.*"):
        dsl("srcaddr:*.5")


@pytest.mark.opensearch
def test_cursors_commit_with_their_load_only(store_url: str, client: OpenSearch) -> None:
    from flowscope.parse.text import Parsed
    from flowscope.schema import arrow_schema

    name = store_url.rsplit("/", 1)[1]
    store = open_store(store_url)
    assert isinstance(store, OpenSearchStore)
    table = arrow_schema().empty_table().select(["version", "dstport"])
    try:
        with store.write() as writer:
            with writer.load("stream-a", "cw:a:1") as job:
                job.append(Parsed(table))
                job.set_cursor("cloudwatch:g:a", {"token": "t1", "ms": 1})
            assert writer.cursor("cloudwatch:g:a") == {"ms": 1, "token": "t1"}
            with pytest.raises(RuntimeError), writer.load("stream-a", "cw:a:2") as job:
                job.set_cursor("cloudwatch:g:a", {"token": "t2", "ms": 2})
                raise RuntimeError("the source broke mid-unit")
            assert writer.cursor("cloudwatch:g:a") == {"ms": 1, "token": "t1"}
            assert writer.cursor("cloudwatch:g:b") is None
            record = writer.loaded("cw:a:1")
            assert record is not None and (record.source, record.rows) == ("stream-a", 0)
            assert writer.loaded("cw:a:2") is None
    finally:
        store.close()
    assert [d["identity"] for d in ledger(client, name)] == ["cw:a:1"]


@pytest.mark.opensearch
def test_retention_without_ilm_or_ism_is_applied_by_flowscope(
    tmp_path: Path, os_node: Node, client: OpenSearch
) -> None:
    """Neither test node has a policy engine (no ISM plugin; Elasticsearch 7.10 without X-Pack,
    like the OSS distribution, has no ILM): the load works and flowscope deletes old days."""
    name = fresh_name()
    try:
        old = write(tmp_path / "old.log", records(5, start=DAY))
        done = run_flowscope("ingest", str(old), "-s", f"{os_node.url}/{name}")
        assert done.returncode == 0, done.stderr
        new = write(tmp_path / "new.log", records(5, start=int(time.time()) - 3600))
        kept = run_flowscope("ingest", str(new), "-s", f"{os_node.url}/{name}?retention_days=30")
        assert kept.returncode == 0, kept.stderr
        assert "5 records loaded from 1 input(s)" in kept.stderr
        today = datetime.fromtimestamp(int(time.time()) - 3600, UTC).strftime("%Y.%m.%d")
        assert sorted(client.indices.get(index=f"{name}-flows-*")) == [f"{name}-flows-{today}"]
        template = client.indices.get_index_template(name=f"{name}-flowscope")
        settings = template["index_templates"][0]["index_template"]["template"]["settings"]
        assert "lifecycle" not in settings["index"]
    finally:
        drop(os_node, name)
