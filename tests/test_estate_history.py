"""The versioned inventory: closing, opening, never rewriting, and naming as of a flow's time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest

from flowscope.errors import UsageError
from flowscope.estate.aws import Identity, read_estate
from flowscope.estate.history import (
    HISTORY,
    as_of,
    as_of_rows,
    empty_history,
    snapshot_table,
    update,
)
from tests.aws_server import MotoServer

T1 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
T2 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
T3 = datetime(2026, 11, 20, 14, 0, tzinfo=UTC)


def ident(address: str, name: str, resource: str, **kw: str) -> Identity:
    return Identity(
        address=address,
        kind="instance",
        resource_id=resource,
        name=name,
        vpc_id="vpc-1",
        account=kw.get("account", "111122223333"),
        region=kw.get("region", "us-east-1"),
        tags=(("Name", name),),
    )


WEB1 = ident("10.0.3.17", "web-1", "i-0aaa")
WEB2 = ident("10.0.3.17", "web-2", "i-0bbb")
DB = ident("10.0.9.9", "db", "i-0ccc")


def names(history: pa.Table, addresses: list[str], times: list[datetime]) -> list[str | None]:
    got = as_of(history, pa.array(addresses), pa.array(times, pa.timestamp("us", tz="UTC")))
    assert got.num_rows == len(addresses)
    return got.column("name").to_pylist()


def spans(history: pa.Table) -> list[tuple[str, str, datetime, datetime | None]]:
    return [(r["address"], r["name"], r["valid_from"], r["valid_to"]) for r in history.to_pylist()]


def test_an_address_that_moves_is_named_on_both_sides_of_the_move() -> None:
    h1 = update(empty_history(), snapshot_table([WEB1, DB]), T1)
    h2 = update(h1, snapshot_table([WEB2, DB]), T2)
    assert spans(h2) == [
        ("10.0.3.17", "web-1", T1, T2),
        ("10.0.9.9", "db", T1, None),
        ("10.0.3.17", "web-2", T2, None),
    ]
    minute = timedelta(minutes=1)
    assert names(
        h2,
        ["10.0.3.17", "10.0.3.17", "10.0.3.17", "10.0.3.17", "10.0.9.9", "10.0.9.9", "1.1.1.1"],
        [T1 + minute, T2 - minute, T2, T3, T1, T3, T2],
    ) == ["web-1", "web-1", "web-2", "web-2", "db", "db", None]


def test_a_refresh_with_nothing_changed_adds_no_rows() -> None:
    h1 = update(empty_history(), snapshot_table([WEB1, DB]), T1)
    h2 = update(h1, snapshot_table([DB, WEB1, WEB1]), T2)  # order and repeats do not matter
    assert h2.equals(h1)
    assert h2.num_rows == 2


def test_a_change_of_any_field_closes_and_opens() -> None:
    h1 = update(empty_history(), snapshot_table([DB]), T1)
    retagged = Identity(**{**DB.__dict__, "tags": (("Name", "db"), ("env", "prod"))})
    h2 = update(h1, snapshot_table([retagged]), T2)
    assert [(r["valid_from"], r["valid_to"]) for r in h2.to_pylist()] == [(T1, T2), (T2, None)]
    assert h2.column("tags").to_pylist()[1] == [
        {"key": "Name", "value": "db"},
        {"key": "env", "value": "prod"},
    ]


def test_gone_then_back_leaves_a_gap_with_no_name() -> None:
    h = update(empty_history(), snapshot_table([WEB1]), T1)
    h = update(h, snapshot_table([]), T2)
    h = update(h, snapshot_table([WEB1]), T3)
    assert spans(h) == [("10.0.3.17", "web-1", T1, T2), ("10.0.3.17", "web-1", T3, None)]
    hour = timedelta(hours=1)
    assert names(h, ["10.0.3.17"] * 4, [T1 - hour, T1 + hour, T2 + hour, T3 + hour]) == [
        None,
        "web-1",
        None,
        "web-1",
    ]


def test_history_is_never_rewritten() -> None:
    h1 = update(empty_history(), snapshot_table([WEB1]), T1)
    h2 = update(h1, snapshot_table([WEB2]), T2)
    with pytest.raises(UsageError, match="older than the inventory's last change"):
        update(h2, snapshot_table([DB]), T1 + timedelta(minutes=5))
    h3 = update(h2, snapshot_table([DB]), T3)
    assert h3.slice(0, 1).equals(h2.slice(0, 1))  # the closed row, untouched
    with pytest.raises(UsageError, match="no time zone"):
        update(h3, snapshot_table([DB]), datetime(2026, 12, 1))


def test_rows_of_an_account_and_region_not_read_completely_stay_open() -> None:
    other = ident("10.1.0.5", "batch", "i-0ddd", region="eu-west-1")
    h1 = update(empty_history(), snapshot_table([WEB1, other]), T1)
    # us-east-1 was read completely and WEB1 is gone; eu-west-1 was not (a denied call)
    h2 = update(h1, snapshot_table([]), T2, covered=[("111122223333", "us-east-1")])
    # (new rows are added in account, region, kind, address order: eu-west-1 first)
    assert spans(h2) == [("10.1.0.5", "batch", T1, None), ("10.0.3.17", "web-1", T1, T2)]
    assert h2.schema == HISTORY


def test_lookups_take_arrow_arrays_of_any_length() -> None:
    h = update(empty_history(), snapshot_table([WEB1]), T1)
    h = update(h, snapshot_table([WEB2]), T2)
    n = 200_000
    addresses = pa.array(["10.0.3.17", "10.9.9.9"] * (n // 2))
    base = int(T1.timestamp() * 1_000_000)
    step = (int(T3.timestamp() * 1_000_000) - base) // n
    times = pa.array([base + i * step for i in range(n)], pa.timestamp("us", tz="UTC"))
    got = as_of(h, addresses, times)
    assert got.num_rows == n
    hit = got.column("name").to_pylist()
    assert hit[0] == "web-1" and hit[1] is None and hit[-2] == "web-2"
    assert hit.count("web-1") + hit.count("web-2") == n // 2
    switch = hit.index("web-2")
    assert times[switch].as_py() >= T2 > times[switch - 2].as_py()
    with pytest.raises(ValueError, match="differ in length"):
        as_of(h, addresses, times.slice(1))
    # epoch seconds (flows' `start`) are refused rather than read as microseconds
    with pytest.raises(TypeError, match="must be Arrow timestamps"):
        as_of(h, pa.array(["10.0.3.17"]), pa.array([int(T1.timestamp())]))
    seconds = pa.array([T1, T2], pa.timestamp("s", tz="UTC"))  # flows' start_time
    assert names(h, ["10.0.3.17", "10.0.3.17"], seconds.to_pylist()) == ["web-1", "web-2"]
    got = as_of(h, pa.chunked_array([["10.0.3.17", None]]), pa.chunked_array([seconds]))
    assert got.column("name").to_pylist() == ["web-1", None]


@pytest.mark.aws
def test_an_interface_moved_between_instances_in_aws_is_named_as_of_each_flow(
    aws: MotoServer,
) -> None:
    ec2 = aws.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.88.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.88.1.0/24")["Subnet"]["SubnetId"]

    def instance(name: str) -> str:
        return str(
            ec2.run_instances(
                ImageId="ami-12c6146b",
                MinCount=1,
                MaxCount=1,
                SubnetId=subnet,
                TagSpecifications=[
                    {"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": name}]}
                ],
            )["Instances"][0]["InstanceId"]
        )

    a, b = instance("blue-1"), instance("green-1")
    eni = ec2.create_network_interface(SubnetId=subnet, PrivateIpAddress="10.88.1.200")[
        "NetworkInterface"
    ]["NetworkInterfaceId"]
    attached = ec2.attach_network_interface(NetworkInterfaceId=eni, InstanceId=a, DeviceIndex=1)
    first = read_estate(now=lambda: T1)
    history = update(empty_history(), snapshot_table(first.identities), T1, first.covered)
    again = update(history, snapshot_table(read_estate().identities), T2)
    assert again.num_rows == history.num_rows  # nothing moved yet: no new rows

    ec2.detach_network_interface(AttachmentId=attached["AttachmentId"])
    ec2.attach_network_interface(NetworkInterfaceId=eni, InstanceId=b, DeviceIndex=1)
    second = read_estate()
    history = update(again, snapshot_table(second.identities), T3, second.covered)

    at = [T1 + timedelta(minutes=5), T3 - timedelta(minutes=5), T3 + timedelta(minutes=5)]
    for address in ("10.88.1.200", eni):
        got = as_of(history, pa.array([address] * 3), pa.array(at))
        assert got.column("name").to_pylist() == ["blue-1", "blue-1", "green-1"]
        assert got.column("resource_id").to_pylist() == [a, a, b]


def test_an_address_held_twice_at_once_names_the_one_opened_last() -> None:
    # the same private address in two accounts; the first account's refresh was partial
    mine = ident("10.0.3.17", "web-1", "i-0aaa", account="111122223333")
    theirs = ident("10.0.3.17", "batch-7", "i-0fff", account="444455556666")
    h = update(empty_history(), snapshot_table([mine]), T1)
    h = update(h, snapshot_table([theirs]), T2, covered=[("444455556666", "us-east-1")])
    assert [r["valid_to"] for r in h.to_pylist()] == [None, None]
    got = as_of_rows(h, pa.array(["10.0.3.17"] * 3), pa.array([T1, T2, T3]))
    assert got.to_pylist() == [0, 1, 1]
    assert names(h, ["10.0.3.17"] * 2, [T1, T3]) == ["web-1", "batch-7"]
    assert as_of(h, pa.array(["10.0.3.17"]), pa.array([T3]), ["account"]).to_pylist() == [
        {"account": "444455556666"}
    ]


def test_a_backdated_first_refresh_names_flows_from_before_it() -> None:
    # flows loaded before the first refresh are named by it; a later arrival is not backdated
    h1 = update(empty_history(), snapshot_table([WEB1]), T1, backdate=True)
    h2 = update(h1, snapshot_table([WEB1, DB]), T2, backdate=True)
    assert spans(h2) == [("10.0.3.17", "web-1", None, None), ("10.0.9.9", "db", T2, None)]
    before = T1 - timedelta(days=30)
    assert names(h2, ["10.0.3.17", "10.0.9.9", "10.0.9.9"], [before, before, T2]) == [
        "web-1",
        None,
        "db",
    ]
