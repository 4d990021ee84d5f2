"""The estate commands through the real CLI on real DuckDB stores: inventory import, show and
apply, networks, ip-ranges, who, --geo; bad inputs that change nothing."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import query, run_flowscope

Cli = Callable[..., subprocess.CompletedProcess[str]]

ACCOUNT = "111122223333"
HEADER = (
    "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes "
    "start end action log-status\n"
)


def at(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp())


def flows(path: Path, rows: list[tuple[str, str, str]]) -> Path:
    """A default-format file: (srcaddr, dstaddr, ISO start) per record."""
    lines = [
        f"2 {ACCOUNT} eni-0a1 {src} {dst} {40000 + i} 443 6 1 100 {at(t)} {at(t) + 60} ACCEPT OK"
        for i, (src, dst, t) in enumerate(rows)
    ]
    path.write_text(HEADER + "\n".join(lines) + "\n")
    return path


def holder(name: str, instance: str, address: str = "10.0.1.5") -> list[dict[str, Any]]:
    """One instance holding ``address`` (and its interface), in a VPC named prod."""
    common = {
        "kind": "instance",
        "name": name,
        "resource_id": instance,
        "vpc_id": "vpc-1",
        "account": ACCOUNT,
        "region": "us-east-1",
        "interface_id": "eni-0a1",
    }
    return [
        {
            "address": address,
            **common,
            "subnet_id": "subnet-1",
            "az": "us-east-1a",
            "security_groups": ["sg-web"],
            "tags": {"Name": name, "team": "blue"},
        },
        {"address": "eni-0a1", **common},
        {
            "address": "10.0.0.0/16",
            "kind": "vpc",
            "name": "prod",
            "resource_id": "vpc-1",
            "vpc_id": "vpc-1",
            "account": ACCOUNT,
            "region": "us-east-1",
        },
    ]


def write_json(path: Path, doc: Any) -> Path:
    path.write_text(json.dumps(doc))
    return path


def top(cli: Cli, store: Path, field: str) -> dict[Any, int]:
    got = cli("-s", str(store), "top", field, "--json")
    assert got.returncode == 0, got.stderr
    return {r["value"]: r["count"] for r in json.loads(got.stdout)["rows"]}


def ok(got: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert got.returncode == 0, got.stderr
    return got


def test_an_address_that_moves_is_named_on_both_sides_of_the_move(cli: Cli, tmp_path: Path) -> None:
    store = tmp_path / "s.duckdb"
    before = [("10.0.1.5", "52.94.1.1", "2026-11-20T09:00:00")]
    after = [("10.0.1.5", "52.94.1.1", "2026-11-20T11:00:00")] * 2
    ok(cli("-s", str(store), "ingest", str(flows(tmp_path / "a.log", before + after))))
    first = write_json(tmp_path / "one.json", holder("web-1", "i-0aaa"))
    second = write_json(tmp_path / "two.json", holder("db-2", "i-0bbb"))

    got = ok(cli("-s", str(store), "inventory", "import", str(first), "--at", "2026-11-20T08:00Z"))
    assert "3 opened, 0 closed, 0 unchanged" in got.stderr
    assert "named 3 stored flows" in got.stderr
    # the first snapshot names what came before it too (the best knowledge there is)
    assert top(cli, store, "src_name") == {"web-1": 3}

    got = ok(cli("-s", str(store), "inventory", "import", str(second), "--at", "2026-11-20T10:00Z"))
    assert "2 opened, 2 closed, 1 unchanged" in got.stderr
    assert top(cli, store, "src_name") == {"db-2": 2, "web-1": 1}
    # flows ingested after both refreshes are named as of their own time too
    late = [("10.0.1.5", "52.94.1.1", "2026-11-20T09:30:00"), after[0]]
    ok(cli("-s", str(store), "ingest", str(flows(tmp_path / "b.log", late))))
    assert top(cli, store, "src_name") == {"db-2": 3, "web-1": 2}
    assert top(cli, store, "src_vpc_id") == {"vpc-1": 5}

    then = json.loads(
        ok(cli("-s", str(store), "who", "10.0.1.5", "--at", "2026-11-20T09:30Z", "--json")).stdout
    )
    assert then["identity"]["name"] == "web-1"
    assert then["identity"]["resource_id"] == "i-0aaa"
    assert then["identity"]["since"] is None  # held since before the inventory began
    assert then["identity"]["until"] == "2026-11-20T10:00:00Z"
    assert then["identity"]["tags"] == {"Name": "web-1", "team": "blue"}
    assert then["identity"]["security_groups"] == ["sg-web"]
    assert [(h["name"], h["since"], h["until"]) for h in then["history"]] == [
        ("web-1", None, "2026-11-20T10:00:00Z"),
        ("db-2", "2026-11-20T10:00:00Z", None),
    ]
    now = json.loads(ok(cli("-s", str(store), "who", "10.0.1.5", "--json")).stdout)
    assert (now["at"], now["identity"]["name"], now["identity"]["since"]) == (
        None,
        "db-2",
        "2026-11-20T10:00:00Z",
    )
    text = ok(cli("-s", str(store), "who", "::ffff:10.0.1.5", "--at", "2026-11-20T09:30Z")).stdout
    assert "10.0.1.5 at 2026-11-20T09:30:00Z" in text and "web-1" in text and "i-0aaa" in text

    # a snapshot older than the last change would rewrite history: refused, nothing saved
    shown = ok(cli("-s", str(store), "inventory", "show", "--json")).stdout
    got = cli("-s", str(store), "inventory", "import", str(first), "--at", "2026-11-20T09:00Z")
    assert got.returncode == 2
    assert "older than the inventory's last change" in got.stderr
    assert ok(cli("-s", str(store), "inventory", "show", "--json")).stdout == shown


def test_show_says_what_the_store_knows(cli: Cli, tmp_path: Path) -> None:
    store = tmp_path / "s.duckdb"
    empty = json.loads(ok(cli("-s", str(store), "inventory", "show", "--json")).stdout)
    assert empty == {"identities": 0, "current": 0, "kinds": {}}
    assert not store.exists()  # asking writes nothing
    inv = write_json(tmp_path / "inv.json", holder("web-1", "i-0aaa"))
    ok(cli("-s", str(store), "inventory", "import", str(inv), "--at", "2026-11-20T08:00Z"))
    shown = json.loads(ok(cli("-s", str(store), "inventory", "show", "--json")).stdout)
    assert shown["history"]["source"] == f"file {inv}"
    assert shown["history"]["updated"] == "2026-11-20T08:00:00Z"
    assert (shown["identities"], shown["current"], shown["kinds"]) == (
        3,
        3,
        {"instance": 2, "vpc": 1},
    )
    table = ok(cli("-s", str(store), "inventory", "show")).stdout
    assert "3 identities, 3 held now" in table and "instance" in table


def test_no_apply_saves_and_apply_names_later(cli: Cli, tmp_path: Path) -> None:
    store = tmp_path / "s.duckdb"
    ok(cli("-s", str(store), "ingest", str(flows(tmp_path / "a.log", [
        ("10.0.1.5", "52.94.1.1", "2026-11-20T09:00:00")
    ]))))  # fmt: skip
    inv = write_json(tmp_path / "inv.json", holder("web-1", "i-0aaa"))
    got = ok(cli("-s", str(store), "inventory", "import", str(inv), "--no-apply"))
    assert "not applied (--no-apply)" in got.stderr
    assert top(cli, store, "src_name") == {}
    got = ok(cli("-s", str(store), "inventory", "apply"))
    assert "named 1 stored flows" in got.stderr
    assert top(cli, store, "src_name") == {"web-1": 1}


def test_import_takes_what_demo_writes(cli: Cli, tmp_path: Path) -> None:
    """``{"taken_at", "identities"}`` with Identity's fields as dataclasses.asdict gives them
    (tags as [key, value] pairs): the snapshot is dated by the file."""
    store = tmp_path / "s.duckdb"
    identities = holder("web-1", "i-0aaa")
    identities[0]["tags"] = [["Name", "web-1"], ["team", "blue"]]
    doc = {"taken_at": "2026-11-20T08:00:00+00:00", "identities": identities}
    ok(cli("-s", str(store), "inventory", "import", str(write_json(tmp_path / "i.json", doc))))
    who = json.loads(ok(cli("-s", str(store), "who", "10.0.1.5", "--json")).stdout)
    assert who["identity"]["tags"] == {"Name": "web-1", "team": "blue"}
    shown = json.loads(ok(cli("-s", str(store), "inventory", "show", "--json")).stdout)
    assert shown["history"]["updated"] == "2026-11-20T08:00:00Z"


def test_networks_the_most_specific_wins_and_clear_forgets(cli: Cli, tmp_path: Path) -> None:
    store = tmp_path / "s.duckdb"
    rows = [
        ("10.9.1.7", "52.94.1.1", "2026-11-20T09:00:00"),
        ("10.9.200.7", "52.94.1.1", "2026-11-20T09:00:00"),
        ("2600:1f18:aa::5", "52.94.1.1", "2026-11-20T09:00:00"),
        ("::ffff:10.9.1.8", "52.94.1.1", "2026-11-20T09:00:00"),
    ]
    ok(cli("-s", str(store), "ingest", str(flows(tmp_path / "a.log", rows))))
    nets = tmp_path / "nets.yaml"
    nets.write_text(
        "10.9.0.0/16: corp\n10.9.1.0/24:\n  name: office\n  site: paris\n2600:1f18::/32: v6-lab\n"
    )
    got = ok(cli("-s", str(store), "networks", str(nets)))
    assert "3 networks kept" in got.stderr and "named 4 stored flows" in got.stderr
    assert top(cli, store, "src_network") == {"office": 2, "corp": 1, "v6-lab": 1}
    shown = ok(cli("-s", str(store), "networks", "--show"))
    assert shown.stdout == nets.read_text()
    who = json.loads(ok(cli("-s", str(store), "who", "10.9.1.7", "--json")).stdout)
    assert who["identity"]["network"] == "office"
    assert who["identity"]["network_attributes"] == {"site": "paris"}

    got = ok(cli("-s", str(store), "networks", "--clear"))
    assert top(cli, store, "src_network") == {}
    assert "no networks file kept" in ok(cli("-s", str(store), "networks", "--show")).stderr
    assert "networks" not in json.loads(
        ok(cli("-s", str(store), "inventory", "show", "--json")).stdout
    )
    got = cli("-s", str(store), "networks", str(nets), "--clear")
    assert got.returncode == 2 and "give one of" in got.stderr


RANGES = {
    "syncToken": "1732924800",
    "createDate": "2026-11-30-00-00-00",
    "prefixes": [
        {"ip_prefix": "52.94.0.0/16", "region": "eu-west-1", "service": "AMAZON",
         "network_border_group": "eu-west-1"},
        {"ip_prefix": "52.94.0.0/16", "region": "eu-west-1", "service": "S3",
         "network_border_group": "eu-west-1"},
    ],
    "ipv6_prefixes": [],
}  # fmt: skip


def test_ip_ranges_from_a_file_name_aws_services(cli: Cli, tmp_path: Path) -> None:
    store = tmp_path / "s.duckdb"
    ok(cli("-s", str(store), "ingest", str(flows(tmp_path / "a.log", [
        ("10.0.1.5", "52.94.3.3", "2026-11-20T09:00:00"),
        ("10.0.1.5", "203.0.113.9", "2026-11-20T09:00:00"),
    ]))))  # fmt: skip
    doc = write_json(tmp_path / "ip-ranges.json", RANGES)
    got = ok(cli("-s", str(store), "ip-ranges", "--file", str(doc)))
    assert "1 prefixes, created 2026-11-30 00:00:00Z" in got.stderr
    assert top(cli, store, "dst_service") == {"S3": 1}
    assert top(cli, store, "dst_name") == {"S3 (eu-west-1)": 1, "Documentation (TEST-NET-3)": 1}
    shown = json.loads(ok(cli("-s", str(store), "inventory", "show", "--json")).stdout)
    assert shown["ip-ranges"]["created"] == "2026-11-30T00:00:00Z"
    assert shown["ip-ranges"]["sync_token"] == "1732924800"
    assert shown["ip-ranges"]["source"] == str(doc)


def _state(store: Path) -> list[tuple[object, ...]]:
    """Everything the estate commands write: the estate items, the endpoints, flows' ids."""
    return [
        *query(store, "SELECT name, source, updated, md5(data::VARCHAR) FROM estate ORDER BY 1"),
        *query(store, "SELECT * FROM endpoints ORDER BY id"),
        *query(store, "SELECT src_ep, dst_ep, src_scope, dst_scope FROM flows ORDER BY start"),
    ]


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store with one flow, an inventory and a networks file; and the bad files."""
    cli = run_flowscope
    d = tmp_path_factory.mktemp("bad-inputs")
    store = d / "s.duckdb"
    ok(cli("-s", str(store), "ingest", str(flows(d / "a.log", [
        ("10.0.1.5", "52.94.1.1", "2026-11-20T09:00:00")
    ]))))  # fmt: skip
    flows(d / "more.log", [("10.0.1.5", "52.94.1.1", "2026-11-20T09:05:00")])
    good = write_json(d / "good.json", holder("web-1", "i-0aaa"))
    ok(cli("-s", str(store), "inventory", "import", str(good)))
    (d / "good.yaml").write_text("10.0.0.0/8: corp\n")
    ok(cli("-s", str(store), "networks", str(d / "good.yaml")))
    write_json(d / "dict.json", {"address": "10.0.1.5"})
    write_json(d / "undated.json", {"taken_at": "2026-11-20T08:00", "identities": []})
    write_json(d / "items.json", [holder("x", "i-1")[0], {"address": "10.0.0.9"}])
    (d / "garbage.txt").write_text("{not json")
    (d / "bad.yaml").write_text("10.2.0.0/16: fine\n10.1.0.0/33: broken\n")
    (d / "bad.csv").write_text("cidr,name\n10.3.0.0/16,fine\n10.4.0.0/16,a,b\n")
    (d / "corrupt.mmdb").write_bytes(b"\x00" * 64 + b"not a MaxMind database")
    assert top(cli, store, "src_name") == {"web-1": 1}
    assert top(cli, store, "src_network") == {"corp": 1}
    return d


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["inventory", "import", "{dir}/dict.json"], {}, "expected a JSON list of identities"),
        (["inventory", "import", "{dir}/items.json"], {}, "item 1: kind missing or not a string"),
        (["inventory", "import", "{dir}/garbage.txt"], {}, "not JSON"),
        (["inventory", "import", "{dir}/undated.json"], {}, "taken_at '2026-11-20T08:00' is not"),
        (["networks", "{dir}/bad.yaml"], {}, "bad.yaml:2: '10.1.0.0/33' is not a CIDR"),
        (["networks", "{dir}/bad.csv"], {}, "bad.csv:3: 3 fields where the header has 2"),
        (["ip-ranges", "--file", "{dir}/garbage.txt"], {}, "garbage.txt: not JSON"),
        (["ip-ranges", "--file", "{dir}/dict.json"], {}, "missing prefixes, syncToken"),
        (["inventory", "apply"], {"FLOWSCOPE_GEO": "{dir}/corrupt.mmdb"}, "not a valid .mmdb"),
        (["networks", "{dir}/good.yaml", "--geo", "{dir}/corrupt.mmdb"], {}, "not a valid .mmdb"),
        (["inventory", "import", "{dir}/good.json", "--geo", "{dir}/missing.mmdb"], {},
         "missing.mmdb: no such file"),
        (["ingest", "{dir}/more.log"], {"FLOWSCOPE_GEO": "{dir}/corrupt.mmdb"},
         "not a valid .mmdb"),
        (["who", "10.0.1.999"], {}, "'10.0.1.999' is not an IP address or an interface id"),
        (["who", "10.0.1.5", "--at", "yesterday-ish"], {}, "--at 'yesterday-ish' not understood"),
    ],
)  # fmt: skip
def test_a_bad_input_is_one_line_and_changes_nothing(
    cli: Cli, prepared: Path, tmp_path: Path, args: list[str], env: dict[str, str], message: str
) -> None:
    store = tmp_path / "s.duckdb"
    shutil.copy(prepared / "s.duckdb", store)
    before = _state(store)
    rows = query(store, "SELECT count(*) FROM flows")

    expand = {"dir": str(prepared)}
    got = cli(
        "-s",
        str(store),
        *(a.format(**expand) for a in args),
        env={k: v.format(**expand) for k, v in env.items()},
    )

    assert got.returncode == 2, got.stderr
    assert message in got.stderr
    assert got.stderr.count("\n") == 1 and got.stderr.startswith("error: "), got.stderr
    assert _state(store) == before
    assert query(store, "SELECT count(*) FROM flows") == rows
