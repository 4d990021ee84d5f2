"""Endpoints on the embedded store: named as of the flow's time at ingest, looked up at query
time, re-resolved by apply_estate; list fields; scope. Real DuckDB files, the real pipeline."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest

from flowscope.engines.duckdb.query import DuckBackend
from flowscope.engines.duckdb.store import DuckStore
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
from flowscope.pipeline import ingest
from flowscope.query import build
from flowscope.query.model import TopResult
from flowscope.sources.files import local_units
from tests.conftest import query

T1 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
T2 = T1 + timedelta(hours=2)
HEADER = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n"  # noqa: E501


def ident(address: str, name: str, resource: str, **kw: object) -> Identity:
    base: dict[str, object] = dict(
        kind="instance",
        resource_id=resource,
        name=name,
        vpc_id="vpc-1",
        subnet_id="subnet-1",
        az="eu-west-1a",
        security_groups=("sg-web",),
        account="111122223333",
        region="eu-west-1",
    )
    base.update(kw)
    return Identity(address=address, **base)  # type: ignore[arg-type]


WEB1 = ident("10.0.3.17", "web-1", "i-1", security_groups=("sg-a", "sg-web"))
WEB2 = ident("10.0.3.17", "web-2", "i-2")
DB = ident("10.0.9.9", "db", "i-9", kind="rds", security_groups=("sg-db",))
PEER = ident("10.9.0.5", "peer-app", "i-p", vpc_id="vpc-2")
ENI = ident("eni-1", "web-1", "i-1", interface_id="eni-1")
VPC = ident("10.0.0.0/16", "prod", "vpc-1", kind="vpc", security_groups=())


def history() -> bytes:
    h = update(empty_history(), snapshot_table([WEB1, DB, PEER, ENI, VPC]), T1, backdate=True)
    h = update(h, snapshot_table([WEB2, DB, PEER, ENI, VPC]), T2, backdate=True)
    return history_bytes(h)


RANGES = json.dumps(
    {
        "syncToken": "1",
        "createDate": "2026-11-01-00-00-00",
        "prefixes": [
            {
                "ip_prefix": "52.216.0.0/15",
                "region": "eu-west-1",
                "service": "S3",
                "network_border_group": "eu-west-1",
            }
        ],
        "ipv6_prefixes": [],
    }
).encode()


def line(src: str, dst: str, at: datetime, nbytes: int, eni: str = "eni-1") -> str:
    s = int(at.timestamp())
    return f"2 111122223333 {eni} {src} {dst} 4000 443 6 1 {nbytes} {s} {s + 60} ACCEPT OK\n"


def flows_file(path: Path) -> Path:
    early, late = T1 - timedelta(days=1), T2 + timedelta(minutes=5)
    path.write_text(
        HEADER
        + line("10.0.3.17", "10.0.9.9", early, 100)  # web-1 -> db (before the first refresh)
        + line("10.0.3.17", "52.216.1.1", late, 200)  # web-2 -> S3 (after the move)
        + line("10.0.3.17", "10.9.0.5", late, 300)  # web-2 -> another VPC
        + line("10.0.3.17", "169.254.169.253", early, 5)  # web-1 -> Amazon DNS
        + line("8.8.8.8", "10.0.3.17", late, 7)  # internet -> web-2
        + line("10.77.0.1", "10.0.0.2", late, 9)  # unknown private -> VPC+2 resolver
    )
    return path


def items(networks: str = "10.77.0.0/16: office\n") -> dict[str, EstateItem]:
    return {
        HISTORY_ITEM: EstateItem(history(), "test", T2),
        IP_RANGES_ITEM: EstateItem(RANGES, "ip-ranges.json", T2),
        NETWORKS_ITEM: EstateItem(networks.encode(), "networks.yaml", T2),
    }


def top(store: DuckStore, field: str, where: str = "") -> dict[object, int]:
    q = build.top_query([field], "bytes", 20, build.make_scope(where or None))
    (result,) = DuckBackend(store).run([q])
    assert isinstance(result, TopResult)
    out: dict[object, int] = {row.key[0]: row.totals.bytes for row in result.rows}
    if result.missing.count:
        out[None] = result.missing.bytes
    return out


@pytest.fixture
def named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> DuckStore:
    monkeypatch.setenv("FLOWSCOPE_GEO", "off")
    store = DuckStore(tmp_path / "s.duckdb")
    with store.write() as w:
        w.save_estate(items())
    ingest(local_units([str(flows_file(tmp_path / "f.log"))]), store)
    return store


def test_an_address_that_moves_is_named_on_both_sides_of_the_move(named: DuckStore) -> None:
    assert top(named, "src_name") == {"web-2": 500, "web-1": 105, "office": 9, None: 7}
    assert top(named, "src_resource_id", "dst_name:db") == {"i-1": 100}


def test_names_services_scopes_and_special_addresses(named: DuckStore) -> None:
    assert top(named, "dst_name") == {
        "peer-app": 300,
        "S3 (eu-west-1)": 200,
        "db": 100,
        "Amazon DNS (VPC+2 of 10.0.0.0/16)": 9,
        "web-2": 7,
        "Amazon DNS": 5,
    }
    assert top(named, "dst_scope") == {
        "other-vpc": 300,
        "aws-service": 200,
        "same-vpc": 107,
        "special": 14,
    }
    assert top(named, "src_scope") == {"same-vpc": 605, "internet": 7, "private": 9}
    assert top(named, "dst_kind", "src_name:web-2 and dst_service:S3") == {"aws-service": 200}


def test_a_list_field_matches_and_counts_each_member(named: DuckStore) -> None:
    # a flow whose source has no security group counts once, as missing (not lost)
    assert top(named, "src_security_groups") == {"sg-web": 605, "sg-a": 105, None: 16}
    q = build.top_query(["src_security_groups"], "bytes", 20, build.make_scope(None))
    (result,) = DuckBackend(named).run([q])
    assert isinstance(result, TopResult)
    assert result.total.bytes == 605 + 105 + 16 and result.other.bytes == 0
    assert top(named, "dst_name", "src_security_groups:sg-a") == {
        "db": 100,
        "Amazon DNS": 5,
    }
    assert sum(top(named, "dstport", "src_security_groups:sg-*").values()) == 605
    assert sum(top(named, "dstport", "not src_security_groups:*").values()) == 16


def test_small_loads_sharing_new_endpoints_store_each_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # loads of one group commit together and carry the same new endpoints: one row each
    monkeypatch.setenv("FLOWSCOPE_GEO", "off")
    store = DuckStore(tmp_path / "s.duckdb")
    with store.write() as w:
        w.save_estate(items())
    files = []
    for i in range(5):
        p = tmp_path / f"f{i}.log"
        p.write_text(HEADER + line("10.0.3.17", "10.0.9.9", T2 + timedelta(minutes=i), 10))
        files.append(str(p))
    ingest(local_units(files), store)
    assert query(store.path, "SELECT count(*) - count(DISTINCT id) FROM endpoints") == [(0,)]
    assert top(store, "src_name") == {"web-2": 50}


def test_apply_names_flows_stored_before_the_estate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLOWSCOPE_GEO", "off")
    store = DuckStore(tmp_path / "s.duckdb")
    ingest(local_units([str(flows_file(tmp_path / "f.log"))]), store)
    assert top(store, "src_name") == {None: 621}
    with store.write() as w:
        w.save_estate(items())
    estate = load_estate(store)
    with store.write() as w:
        assert w.apply_estate(estate) == 6
    assert top(store, "src_name") == {"web-2": 500, "web-1": 105, "office": 9, None: 7}
    # a new networks file renames what is stored; loads after it land as before
    with store.write() as w:
        w.save_estate({NETWORKS_ITEM: EstateItem(b"10.77.0.0/16: branch\n", "n.yaml", T2)})
    estate = load_estate(store)
    with store.write() as w:
        w.apply_estate(estate)
    assert top(store, "src_name")["branch"] == 9
    more = tmp_path / "more.log"
    more.write_text(HEADER + line("10.77.0.9", "10.0.9.9", T2, 1000))
    ingest(local_units([str(more)]), store)
    assert top(store, "src_name")["branch"] == 1009
    assert sum(top(store, "dstport").values()) == 1621


def test_a_big_load_looks_endpoints_up_while_its_last_batch_is_being_inserted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A big load inserts each batch on a background thread; the next batch's endpoint lookups
    # ran on the same connection: "connection is busy with another call".
    import flowscope.engines.duckdb.store as duck

    monkeypatch.setenv("FLOWSCOPE_GEO", "off")
    monkeypatch.setattr(duck, "FLUSH_ROWS", 50)
    insert = duck.Load._insert_arrow

    def slow_insert(self: duck.Load, table: str, data: pa.Table) -> None:
        insert(self, table, data)  # then keep the connection busy, as a big insert does
        self.con.execute("SELECT sum(range) FROM range(100000000)").fetchall()

    monkeypatch.setattr(duck.Load, "_insert_arrow", slow_insert)
    store = DuckStore(tmp_path / "s.duckdb")
    with store.write() as w:
        w.save_estate(items())
    lines = [
        line(f"10.77.{i // 250}.{i % 250}", f"10.0.{i // 250}.{i % 250}", T2, 1)
        for i in range(30_000)  # (3 MB: more than one read, so more than one batch)
    ]
    big = tmp_path / "big.log"
    big.write_text(HEADER + "".join(lines))
    summary = ingest(local_units([str(big)]), store)
    assert [u.status for u in summary.units] == ["loaded"] and summary.rows == 30_000
    assert top(store, "src_name") == {"office": 30_000}
    assert query(store.path, "SELECT count(*) - count(DISTINCT id) FROM endpoints") == [(0,)]
