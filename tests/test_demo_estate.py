"""The demo's estate: every ENI and address of its traffic named, a move, AWS ranges, networks."""

from __future__ import annotations

import ipaddress
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest

from flowscope.demo.estate import DemoEstate, demo_estate
from flowscope.demo.generate import DemoSpec, generate_records
from flowscope.estate.aws import Identity
from flowscope.estate.awsranges import parse_ip_ranges
from flowscope.estate.geo import EmbeddedGeo
from flowscope.estate.networks import load_networks

START = datetime(2025, 1, 6, 12, 0, tzinfo=UTC)
SPEC = DemoSpec(start=START, hours=2, seed=11)
FIELDS = (
    "interface-id srcaddr dstaddr start pkt-srcaddr pkt-dstaddr pkt-dst-aws-service instance-id"
).split()
VPC = (ipaddress.ip_network("10.0.0.0/16"), ipaddress.ip_network("2600:1f18:abcd:1200::/56"))

Record = dict[str, str]


@pytest.fixture(scope="module")
def estate() -> DemoEstate:
    return demo_estate(SPEC, datetime(2025, 1, 7, tzinfo=UTC))


@pytest.fixture(scope="module")
def records() -> list[Record]:
    return [
        dict(zip(FIELDS, tokens, strict=True))
        for tokens in generate_records(SPEC, FIELDS)
        if tokens[1] != "-"  # NODATA / SKIPDATA: no addresses
    ]


def in_vpc(address: str) -> bool:
    return address != "-" and any(ipaddress.ip_address(address) in net for net in VPC)


def snapshot_at(estate: DemoEstate, start: int) -> dict[str, Identity]:
    """The identities (by address) of the last snapshot taken at or before ``start``."""
    taken = [ids for at, ids in estate.snapshots if at.timestamp() <= start]
    assert taken, start
    return {i.address: i for i in taken[-1]}


def test_every_interface_and_vpc_address_of_the_traffic_has_an_identity(
    estate: DemoEstate, records: list[Record]
) -> None:
    assert len(estate.snapshots) == 2
    assert estate.snapshots[0][0] == START
    by_snapshot = [{i.address: i for i in ids} for _, ids in estate.snapshots]
    missing: Counter[str] = Counter()
    kinds: Counter[str] = Counter()
    for r in records:
        names = by_snapshot[int(int(r["start"]) >= estate.moved_at.timestamp())]
        interface = names.get(r["interface-id"])
        if interface is None:
            missing[r["interface-id"]] += 1
            continue
        kinds[interface.kind] += 1
        if r["instance-id"] != "-":  # v5 records: the instance is the interface's owner
            assert interface.kind == "instance" and interface.resource_id == r["instance-id"]
        for field in ("srcaddr", "dstaddr", "pkt-srcaddr", "pkt-dstaddr"):
            if in_vpc(r[field]) and r[field] not in names:
                missing[r[field]] += 1
    assert not missing, missing.most_common(5)
    assert set(kinds) == {"instance", "nat-gateway", "load-balancer", "vpc-endpoint", "rds"} | {
        "elasticache"
    }


def test_an_address_moves_from_one_instance_to_another(
    estate: DemoEstate, records: list[Record]
) -> None:
    moved, at = estate.moved_address, estate.moved_at.timestamp()
    assert START.timestamp() < at < START.timestamp() + 2 * 3600
    first, second = (snapshot_at(estate, int(t.timestamp()))[moved] for t, _ in estate.snapshots)
    assert first.kind == second.kind == "instance"
    assert first.resource_id != second.resource_id and first.name != second.name
    assert first.interface_id != second.interface_id
    assert first.subnet_id == second.subnet_id  # the same address: the same subnet
    # The traffic agrees: its records come from the old ENI before the move, the new one after.
    enis = {first.interface_id, second.interface_id}
    logged_by = {
        (int(r["start"]) >= at, r["interface-id"])
        for r in records
        if r["interface-id"] in enis and moved in (r["srcaddr"], r["dstaddr"])
    }
    assert logged_by == {(False, first.interface_id), (True, second.interface_id)}
    old_eni = {i.address for i in estate.snapshots[1][1] if i.interface_id == first.interface_id}
    assert not old_eni  # the old instance and its interface are gone after the move


def test_names_kinds_and_groups(estate: DemoEstate) -> None:
    ids = estate.identities
    by_kind: dict[str, set[str]] = {}
    for i in ids:
        by_kind.setdefault(i.kind, set()).add(i.name)
    assert {"web-1", "app-1", "bastion", "dns-resolver", "monitoring"} <= by_kind["instance"]
    assert by_kind["rds"] >= {"db-primary", "db-replica-1"}
    assert by_kind["nat-gateway"] == {"nat-a"}
    assert by_kind["load-balancer"] == {"web-alb"}
    assert by_kind["vpc-endpoint"] == {
        "com.amazonaws.us-east-1.ssm",  # the interface endpoint, through its ENIs
        "com.amazonaws.us-east-1.s3",  # the gateway endpoints, by their ids
        "com.amazonaws.us-east-1.dynamodb",
    }
    assert by_kind["subnet"] >= {"public-a", "app-b", "db-c", "cache-a"}
    assert by_kind["vpc"] == {"demo-vpc"}
    vpcs = {i.address for i in ids if i.kind == "vpc"}
    assert vpcs == {"10.0.0.0/16", "2600:1f18:abcd:1200::/56"}
    groups = {i.address for i in ids if i.kind == "security-group"}
    used = {g for i in ids for g in i.security_groups}
    assert used and used <= groups
    gateways = [i for i in ids if i.kind == "vpc-endpoint" and i.interface_id is None]
    assert len(gateways) == 2 and all(i.address.startswith("vpce-") for i in gateways)
    assert {i.account for i in ids} == {"123456789012"}
    assert {i.region for i in ids} == {"us-east-1"}
    # read_estate's shape: one record per interface id, and one per address of the interface
    nat = [i for i in ids if i.kind == "nat-gateway"]
    assert {i.interface_id for i in nat} == {nat[0].address}
    assert len(nat) == 3  # its interface id, its private address, its Elastic IP


def test_ip_ranges_cover_the_aws_peers(estate: DemoEstate, records: list[Record]) -> None:
    ranges = parse_ip_ranges(estate.ip_ranges, "demo")
    assert ranges.created == datetime(2025, 1, 7, tzinfo=UTC)
    peers = {(r["pkt-dstaddr"], r["pkt-dst-aws-service"]) for r in records}
    peers = {(a, s) for a, s in peers if s != "-"}
    assert {s for _, s in peers} == {"S3", "DYNAMODB", "AMAZON", "CLOUDFRONT"}
    addresses = sorted(a for a, _ in peers)
    found = ranges.lookup(pa.array(addresses)).column("service").to_pylist()
    assert found == [dict(peers)[a] for a in addresses]
    regions = ranges.lookup(pa.array(addresses)).column("region").to_pylist()
    assert {"us-east-1", "eu-west-1", "GLOBAL"} <= set(regions)


def test_networks_file_loads_and_names_office_partner_and_tiers(
    estate: DemoEstate, records: list[Record], tmp_path: Path
) -> None:
    path = tmp_path / "networks.yaml"
    path.write_text(estate.networks_yaml)
    networks = load_networks(path)
    sources = sorted({r["srcaddr"] for r in records if r["srcaddr"] != "-"})
    names = networks.lookup(pa.array(sources)).column("network").to_pylist()
    seen = Counter(n for n in names if n)
    assert {"office", "partner", "public", "app", "db", "cache"} <= set(seen)
    table = networks.lookup(pa.array(["10.0.64.10", "10.0.200.1", "8.8.8.8"]))
    assert table.column("network").to_pylist() == ["db", "demo-vpc", None]
    assert table.column("az").to_pylist() == ["us-east-1a", None, None]


def test_traffic_exercises_the_estate(estate: DemoEstate, records: list[Record]) -> None:
    names = snapshot_at(estate, int(START.timestamp()))
    kind = {a: i.kind for a, i in names.items()}
    nat_out = [
        r
        for r in records
        if kind.get(r["interface-id"]) == "nat-gateway" and not in_vpc(r["dstaddr"])
    ]
    assert {r["pkt-dst-aws-service"] for r in nat_out} >= {"S3", "AMAZON", "-"}
    endpoint = [r for r in records if kind.get(r["interface-id"]) == "vpc-endpoint"]
    assert endpoint and {r["dstaddr"] for r in endpoint} & {
        a for a, k in kind.items() if k == "vpc-endpoint"
    }
    public = sorted(
        {a for r in records for a in (r["srcaddr"], r["dstaddr"]) if a != "-" and not in_vpc(a)}
    )
    countries = Counter(EmbeddedGeo().lookup(pa.array(public)).column("country").to_pylist())
    countries.pop(None, None)
    assert len(countries) >= 10, countries.most_common()


def test_at_must_be_aware() -> None:
    with pytest.raises(ValueError):
        demo_estate(SPEC, datetime(2025, 1, 7))
