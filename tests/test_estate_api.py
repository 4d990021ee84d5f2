"""The estate over HTTP: /api/estate, /api/who and /api/identify on a real DuckDB store,
through FastAPI's TestClient; serve only reads."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from flowscope.api import create_app
from flowscope.engines.duckdb.store import DuckStore
from flowscope.estate import refresh
from tests.test_estate_cli import flows, holder, write_json

with warnings.catch_warnings():
    # Starlette 1.x asks for httpx2 and warns when the TestClient runs on httpx
    warnings.filterwarnings("ignore", message="Using `httpx` with")
    from fastapi.testclient import TestClient

IDENT_KEYS = {
    "name", "kind", "resource_id", "vpc_id", "subnet_id", "az", "security_groups", "service",
    "region", "country", "asn", "as_org", "network", "network_attributes", "tags", "account",
    "interface_id", "since", "until",
}  # fmt: skip


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store whose 10.0.1.5 moved from web-1 to db-2 at 10:00, with a networks file."""
    d = tmp_path_factory.mktemp("api")
    path = d / "s.duckdb"
    from flowscope import pipeline
    from flowscope.sources.files import local_units

    log = flows(d / "a.log", [("10.0.1.5", "52.94.1.1", "2026-11-20T09:00:00")])
    pipeline.ingest(local_units([str(log)]), DuckStore(path))
    st = DuckStore(path)
    t1, t2 = (datetime(2026, 11, 20, h, tzinfo=UTC) for h in (8, 10))
    refresh.import_inventory(st, write_json(d / "one.json", holder("web-1", "i-0aaa")), t1)
    refresh.import_inventory(st, write_json(d / "two.json", holder("db-2", "i-0bbb")), t2)
    (d / "nets.csv").write_text("cidr,name,site\n10.0.0.0/8,corp,hq\n")
    refresh.set_networks(st, d / "nets.csv")
    return path


@pytest.fixture
def client(store: Path) -> Iterator[TestClient]:
    with TestClient(create_app(DuckStore(store)), base_url="http://127.0.0.1") as c:
        yield c


def test_who_names_the_holder_then_and_the_history(client: TestClient) -> None:
    got = client.get("/api/who", params={"address": "10.0.1.5", "at": "2026-11-20T09:30Z"})
    assert got.status_code == 200, got.text
    data = got.json()["data"]
    assert (data["address"], data["at"]) == ("10.0.1.5", "2026-11-20T09:30:00Z")
    ident = data["identity"]
    assert set(ident) == IDENT_KEYS
    assert (ident["name"], ident["resource_id"], ident["since"], ident["until"]) == (
        "web-1",
        "i-0aaa",
        None,
        "2026-11-20T10:00:00Z",
    )
    assert (ident["network"], ident["network_attributes"]) == ("corp", {"site": "hq"})
    assert [h["name"] for h in data["history"]] == ["web-1", "db-2"]

    now = client.get("/api/who", params={"address": "10.0.1.5"}).json()["data"]
    assert (now["at"], now["identity"]["name"]) == (None, "db-2")


def test_identify_names_every_address_asked(client: TestClient) -> None:
    asked = ["10.0.1.5", "::ffff:10.0.1.5", "169.254.169.254", "10.200.0.1", "eni-0a1"]
    got = client.post("/api/identify", json={"addresses": asked, "at": "2026-11-20T09:00Z"})
    assert got.status_code == 200, got.text
    data = got.json()["data"]
    assert list(data) == asked
    assert data["10.0.1.5"]["name"] == data["::ffff:10.0.1.5"]["name"] == "web-1"
    assert data["169.254.169.254"]["kind"] == "aws-imds"
    assert (data["10.200.0.1"]["name"], data["10.200.0.1"]["network"]) == ("corp", "corp")
    assert (data["eni-0a1"]["name"], data["eni-0a1"]["resource_id"]) == ("web-1", "i-0aaa")
    latest = client.post("/api/identify", json={"addresses": ["10.0.1.5"], "at": None})
    assert latest.json()["data"]["10.0.1.5"]["name"] == "db-2"


def test_identify_limits_and_bad_input(client: TestClient) -> None:
    many = [f"10.1.{i // 250}.{i % 250}" for i in range(1001)]
    got = client.post("/api/identify", json={"addresses": many})
    assert got.status_code == 422
    assert got.json()["error"]["message"] == "addresses: 1001 given, at most 1000"
    assert client.post("/api/identify", json={"addresses": many[:1000]}).status_code == 200
    bad = client.post("/api/identify", json={"addresses": ["10.0.1.5", "not-an-ip"]})
    assert bad.status_code == 400
    assert "'not-an-ip' is not an IP address" in bad.json()["error"]["message"]
    when = client.get("/api/who", params={"address": "10.0.1.5", "at": "soonish"})
    assert when.status_code == 400 and "at 'soonish' not understood" in when.text
    assert client.post("/api/identify", json={"addresses": "10.0.1.5"}).status_code == 400


def test_estate_says_what_the_store_knows(client: TestClient, store: Path) -> None:
    got = client.get("/api/estate")
    assert got.status_code == 200, got.text
    data = got.json()["data"]
    assert data["history"]["updated"] == "2026-11-20T10:00:00Z"
    assert (data["identities"], data["current"]) == (5, 3)
    assert data["kinds"] == {"instance": 2, "vpc": 1}
    assert data["networks"]["source"] == str(store.parent / "nets.csv")


def test_serve_never_writes(tmp_path: Path, store: Path) -> None:
    """Asking about a store that does not exist yet creates nothing; asking about one changes
    no byte of it."""
    missing = tmp_path / "none.duckdb"
    with TestClient(create_app(DuckStore(missing)), base_url="http://127.0.0.1") as c:
        assert c.get("/api/estate").json()["data"] == {"identities": 0, "current": 0, "kinds": {}}
        who = c.get("/api/who", params={"address": "8.8.8.8"}).json()["data"]
        assert who["identity"]["kind"] == "internet" and who["history"] == []
    assert not missing.exists()
    before = store.read_bytes()
    with TestClient(create_app(DuckStore(store)), base_url="http://127.0.0.1") as c:
        c.get("/api/who", params={"address": "10.0.1.5"})
        c.post("/api/identify", json={"addresses": ["10.0.1.5"]})
    assert store.read_bytes() == before
