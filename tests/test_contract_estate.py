"""One contract for named endpoints: the embedded store and each cluster name flows alike.

An estate is saved in both stores before any flow is loaded: an inventory history of two
refreshes (the demo VPC, a NAT gateway, instances with security groups, and 10.0.64.23 moving
from web-1 to web-2 between them), a networks file and a small ip-ranges.json; the geo data is
the embedded default. Half an hour of the demo's flow logs is then loaded into a DuckDB file
and into each real cluster node, and the endpoint fields must answer the same everywhere: top,
filters (list members included), histogram splits, search columns. Last, a changed networks
file is saved and applied to the flows already stored, on both, and the answers must change
alike.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from flowscope import pipeline
from flowscope.demo.generate import DemoSpec, write_demo
from flowscope.engines import backend_for, open_store
from flowscope.engines.base import Store
from flowscope.engines.opensearch.store import OpenSearchStore
from flowscope.errors import QueryError
from flowscope.estate.aws import Identity
from flowscope.estate.history import empty_history, snapshot_table, update
from flowscope.estate.store import (
    HISTORY_ITEM,
    IP_RANGES_ITEM,
    NETWORKS_ITEM,
    EstateItem,
    history_bytes,
    load_estate,
)
from flowscope.query import build
from flowscope.query.model import Backend, Query
from tests.test_opensearch_node import ENGINES, Node, drop, fresh_name, node

pytestmark = pytest.mark.opensearch

START = datetime(2025, 1, 6, tzinfo=UTC)
MOVE = START + timedelta(minutes=15)
SPEC = DemoSpec(start=START, hours=0.5, seed=11)
VPC = "vpc-0ca1021c103d1fd22"


def _identities(web: Identity) -> list[Identity]:
    def instance(address: str, rid: str, name: str, *groups: str) -> Identity:
        return Identity(
            address, "instance", rid, name, VPC, "subnet-a", "us-east-1a", groups, "111122223333"
        )

    return [
        Identity("10.0.0.0/16", "vpc", VPC, "demo-vpc", VPC, account="111122223333"),
        Identity(
            "10.0.0.171",
            "nat-gateway",
            "nat-0a1b",
            "nat-0a1b (NAT gateway)",
            VPC,
            "subnet-a",
            "us-east-1a",
            account="111122223333",
        ),
        instance("10.0.1.227", "i-0app1", "app-1", "sg-1", "sg-2"),
        instance("10.0.2.62", "i-0work1", "worker-1", "sg-2"),
        web,
    ]


WEB_1 = Identity("10.0.64.23", "instance", "i-0web1", "web-1", VPC, "subnet-b", "us-east-1b")
WEB_2 = Identity(
    "10.0.64.23", "instance", "i-0web2", "web-2", VPC, "subnet-b", "us-east-1b", ("sg-3",)
)
NETWORKS = b"10.0.64.0/18: backend\n13.107.0.0/16: partner\n"
NETWORKS_CHANGED = b"10.0.64.0/18: backend\n13.107.0.0/16: partner-b\n151.101.0.0/16: office\n"


def _ip_ranges() -> bytes:
    def entry(cidr: str, service: str) -> dict[str, str]:
        return {
            "ip_prefix": cidr,
            "region": "us-east-1",
            "network_border_group": "us-east-1",
            "service": service,
        }

    doc = {
        "syncToken": "1735689600",
        "createDate": "2025-01-01-00-00-00",
        "prefixes": [entry("54.239.0.0/16", "AMAZON"), entry("54.239.0.0/16", "S3")],
        "ipv6_prefixes": [],
    }
    return json.dumps(doc).encode()


def _items() -> dict[str, EstateItem]:
    first = update(
        empty_history(),
        snapshot_table(_identities(WEB_1)),
        START + timedelta(minutes=1),
        backdate=True,
    )
    history = update(first, snapshot_table(_identities(WEB_2)), MOVE)
    now = datetime.now(UTC)
    return {
        HISTORY_ITEM: EstateItem(history_bytes(history), "test refreshes", now),
        NETWORKS_ITEM: EstateItem(NETWORKS, "networks.yaml", now),
        IP_RANGES_ITEM: EstateItem(_ip_ranges(), "ip-ranges.json", now),
    }


@dataclass
class Pair:
    duck: Backend
    cluster: Backend
    stores: tuple[Store, Store]


@pytest.fixture(scope="session", params=ENGINES)
def os_node(request: pytest.FixtureRequest) -> Node:
    return node(request.config, request.param)


@pytest.fixture(scope="module")
def pair(os_node: Node, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    data = tmp_path_factory.mktemp("estate-contract")
    write_demo(data / "logs", SPEC)
    duck = open_store(str(data / "flows.duckdb"))
    name = fresh_name()
    cluster = open_store(f"{os_node.url}/{name}")
    assert isinstance(cluster, OpenSearchStore)
    items = _items()
    for store in (duck, cluster):
        with store.write() as writer:
            writer.save_estate(items)  # type: ignore[attr-defined]
    loaded = [pipeline.ingest(local_units(data), s) for s in (duck, cluster)]
    assert loaded[0].rows == loaded[1].rows > 5000
    yield Pair(backend_for(duck), backend_for(cluster), (duck, cluster))
    cluster.close()
    drop(os_node, name)


def local_units(data: Any) -> Any:
    from flowscope.sources.files import local_units as units

    return units([str(data / "logs")])


def S(where: str = "") -> Any:
    return build.make_scope(where, "", "")


def _same(pair: Pair, q: Query) -> dict[str, Any]:
    a = pair.duck.run([q])[0].to_dict()
    b = pair.cluster.run([q])[0].to_dict()
    assert b == a
    return a


def _keys(answer: dict[str, Any]) -> dict[Any, int]:
    """A one-field top's rows: value -> count."""
    return {r["value"]: r["count"] for r in answer["rows"]}


def test_top_endpoint_fields_are_the_same(pair: Pair) -> None:
    names = _same(pair, build.top_query("dst_name", "count", 15, S()))
    assert {"nat-0a1b (NAT gateway)", "app-1"} <= set(_keys(names))
    kinds = _same(pair, build.top_query("dst_kind", "bytes", 10, S()))
    assert {"instance", "nat-gateway", "internet"} <= set(_keys(kinds))
    for field in ("src_name", "dst_scope", "dst_country", "dst_asn", "dst_network", "dst_service"):
        _same(pair, build.top_query(field, "bytes", 10, S()))
    _same(pair, build.top_query(["src_kind", "dst_scope"], "count", 10, S()))


def test_a_list_field_counts_each_member_and_flows_without_any_as_missing(pair: Pair) -> None:
    answer = _same(pair, build.top_query("src_security_groups", "count", 10, S()))
    members = _keys(answer)
    assert set(members) == {"sg-1", "sg-2", "sg-3"}
    app = _same(pair, build.metrics_query(S("srcaddr:10.0.1.227")))["count"]
    worker = _same(pair, build.metrics_query(S("srcaddr:10.0.2.62")))["count"]
    web2 = _same(pair, build.metrics_query(S("src_name:web-2")))["count"]
    assert members == {"sg-1": app, "sg-2": app + worker, "sg-3": web2}
    everything = _same(pair, build.metrics_query(S()))["count"]
    assert answer["missing"]["count"] == everything - app - worker - web2
    assert answer["total"]["count"] == everything + app  # app-1's flows count twice
    assert answer["other"]["count"] == 0
    _same(pair, build.top_query(["src_security_groups", "action"], "bytes", 10, S()))


FILTERS = [
    "src_kind:nat-gateway and dst_service:S3",
    "src_security_groups:sg-1",
    "src_security_groups:sg-*",
    "src_security_groups:*",
    "not src_security_groups:*",
    "not src_security_groups:(sg-1 or sg-3)",
    "dst_scope:internet and dst_country:*",
    "dst_network:partner",
    "src_name:web-1 or src_name:web-2",
    "dst_as_org:* and not dst_asn:*",  # the embedded geo data has no AS numbers
]


@pytest.mark.parametrize("where", FILTERS)
def test_same_filter_meaning(pair: Pair, where: str) -> None:
    answer = _same(pair, build.metrics_query(S(where)))
    assert answer["count"] > 0
    _same(pair, build.top_query("dstaddr", "count", 5, S(where)))


def test_the_move_names_each_side_as_of_its_time(pair: Pair) -> None:
    answer = _same(pair, build.top_query("src_name", "count", 5, S("srcaddr:10.0.64.23")))
    assert set(_keys(answer)) == {"web-1", "web-2"}
    before = _same(pair, build.metrics_query(S("src_name:web-1")))
    after = _same(pair, build.metrics_query(S("src_name:web-2")))
    assert before["first"] < MOVE.isoformat() <= after["first"]
    _same(pair, build.metrics_query(S(f"src_name:web-1 and start >= {int(MOVE.timestamp())}")))


def test_hist_split_and_search_columns_are_the_same(pair: Pair) -> None:
    _same(pair, build.hist_query("5m", "dst_name", 5, "bytes", S()))
    # a list field cannot split a histogram (a flow would count once per member)
    with pytest.raises(QueryError, match="is a list"):
        build.hist_query("5m", "src_security_groups", 5, "count", S())
    columns = ["start_time", "srcaddr", "src_name", "src_security_groups", "dst_name", "dst_asn"]
    q = build.search_query(columns, "bytes:desc", 50, None, S("src_kind:instance"))
    a, b = pair.duck.run([q])[0].to_dict(), pair.cluster.run([q])[0].to_dict()
    assert b["total"] == a["total"] > 50
    a_rows, b_rows = a["rows"], b["rows"]
    key = columns.index("start_time")
    assert sorted(map(json.dumps, a_rows)) == sorted(map(json.dumps, b_rows)) or [
        r[key] for r in a_rows
    ] == [r[key] for r in b_rows]


def test_a_changed_estate_renames_stored_flows_alike(pair: Pair) -> None:
    """(Last in the module: it changes the stores.)"""
    q = build.top_query("dst_network", "count", 10, S())
    before = _same(pair, q)
    assert "partner" in _keys(before) and "office" not in _keys(before)
    changed = {NETWORKS_ITEM: EstateItem(NETWORKS_CHANGED, "networks.yaml", datetime.now(UTC))}
    counts = []
    for store in pair.stores:
        with store.write() as writer:
            writer.save_estate(changed)  # type: ignore[attr-defined]
        estate = load_estate(store)
        with store.write() as writer:
            counts.append(writer.apply_estate(estate))  # type: ignore[attr-defined]
    assert counts[0] == counts[1] > 5000
    after = _same(pair, q)
    assert "partner" not in _keys(after)
    assert _keys(after)["partner-b"] == _keys(before)["partner"]
    assert _keys(after)["office"] > 0
    _same(pair, build.top_query("dst_name", "bytes", 15, S()))
    _same(pair, build.metrics_query(S("dst_network:office and dst_scope:internet")))
