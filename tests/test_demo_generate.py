"""The synthetic flow-log generator: AWS file layout, record shapes, and a realistic mix."""

from __future__ import annotations

import gzip
import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from flowscope import schema
from flowscope.demo.generate import (
    DEFAULT_FORMAT,
    V5_FORMAT,
    DemoSpec,
    format_fields,
    generate_records,
    write_benchmark_file,
    write_demo,
)

START = datetime(2025, 1, 6, 12, 0, tzinfo=UTC)
KEY = re.compile(
    r"AWSLogs/(?P<acct>\d{12})/vpcflowlogs/(?P<region>[a-z0-9-]+)/(?P<y>\d{4})/(?P<m>\d\d)/"
    r"(?P<d>\d\d)/(?P=acct)_vpcflowlogs_(?P=region)_(?P<fl>fl-[0-9a-z]+)_"
    r"(?P<ts>\d{8}T\d{4}Z)_(?P<hash>[0-9a-f]{8})\.log\.gz"
)
FLAGS = {"0", "1", "2", "3", "4", "6", "18", "19"}
DASHED = ("srcaddr", "dstaddr", "srcport", "dstport", "protocol", "packets", "bytes", "action")

Record = dict[str, str]


def read(path: Path) -> tuple[list[str], list[list[str]]]:
    with gzip.open(path, "rt") as fh:
        lines = fh.read().splitlines()
    return lines[0].split(" "), [line.split(" ") for line in lines[1:]]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    out = tmp_path_factory.mktemp("demo")
    return out, write_demo(out, DemoSpec(start=START, hours=2, seed=11))


@pytest.fixture(scope="module")
def records(demo: tuple[Path, list[Path]]) -> dict[str, list[Record]]:
    """Records per flow-log id, as dicts keyed by the header's field names."""
    by_log: dict[str, list[Record]] = {}
    for path in demo[1]:
        match = KEY.search(path.as_posix())
        assert match, path
        header, rows = read(path)
        by_log.setdefault(match["fl"], []).extend(dict(zip(header, r, strict=True)) for r in rows)
    return by_log


def ok(recs: list[Record]) -> list[Record]:
    return [r for r in recs if r["log-status"] == "OK"]


def every(records: dict[str, list[Record]]) -> list[Record]:
    return [r for recs in records.values() for r in recs]


def test_formats() -> None:
    assert DEFAULT_FORMAT == schema.DEFAULT_FORMAT
    v5 = format_fields(V5_FORMAT)
    assert len(v5) == len(set(v5)) == 29
    assert all(schema.BY_NAME[f].version <= 5 for f in v5)
    assert v5[:3] == ["version", "srcaddr", "dstaddr"]  # AWS's example order, not the table's
    assert v5 != sorted(v5, key=lambda f: schema.FIELDS.index(schema.BY_NAME[f]))
    with pytest.raises(ValueError):
        format_fields("${srcaddr} ${ecs-task-id}")


def test_s3_layout_and_headers(demo: tuple[Path, list[Path]]) -> None:
    out, files = demo
    assert files == sorted(files) and all(f.is_file() for f in files)
    assert sorted(p for p in out.rglob("*") if p.is_file()) == files
    logs = {"fl-0demo0default": DEFAULT_FORMAT, "fl-0demo0v5custom": V5_FORMAT}
    windows: dict[str, set[str]] = {fl: set() for fl in logs}
    for path in files:
        m = KEY.fullmatch(path.relative_to(out).as_posix())
        assert m, path
        assert (m["acct"], m["region"]) == ("123456789012", "us-east-1")
        fields = format_fields(logs[m["fl"]])
        header, rows = read(path)
        assert header == fields
        assert rows, path
        window = datetime.strptime(m["ts"], "%Y%m%dT%H%MZ").replace(tzinfo=UTC)
        assert window.minute % 5 == 0 and (m["y"], m["m"], m["d"]) == ("2025", "01", "06")
        lo = int(window.timestamp())
        ends = [int(r[fields.index("end")]) for r in rows]
        starts = [int(r[fields.index("start")]) for r in rows]
        assert ends == sorted(ends)
        assert all(lo <= e < lo + 300 for e in ends)
        assert all(0 <= e - s <= 60 for s, e in zip(starts, ends, strict=True))
        assert all(len(r) == len(fields) for r in rows)
        assert all(len(r[fields.index("version")]) == 1 for r in rows)
        windows[m["fl"]].add(m["ts"])
    assert len(windows["fl-0demo0default"]) == 24  # two hours of 5-minute objects
    assert len(windows["fl-0demo0v5custom"]) == 24


def test_volume_and_split(records: dict[str, list[Record]]) -> None:
    default, v5 = len(records["fl-0demo0default"]), len(records["fl-0demo0v5custom"])
    assert 25_000 < default + v5 < 80_000  # ~19k/h at this hour for a 48-ENI VPC
    assert 0.6 < default / (default + v5) < 0.8
    enis = [{r["interface-id"] for r in recs} for recs in records.values()]
    assert not enis[0] & enis[1]  # the two flow logs cover different ENIs
    assert all(re.fullmatch(r"eni-0[0-9a-f]{16}", e) for e in enis[0] | enis[1])
    assert {r["version"] for r in records["fl-0demo0default"]} == {"2"}
    assert {r["version"] for r in records["fl-0demo0v5custom"]} == {"5"}


def test_traffic_mix(records: dict[str, list[Record]]) -> None:
    recs = ok(every(records))
    ports = Counter(r["dstport"] for r in recs).most_common()
    assert ports[0][0] == "443" and ports[0][1] > 1.5 * ports[1][1]
    top = {p for p, _ in ports[:10]}
    assert {"443", "8080", "5432", "6379", "53"} <= top
    assert {"123", "80", "22", "3389"} <= {p for p, _ in ports}
    protocols = Counter(r["protocol"] for r in recs)
    assert protocols["6"] > protocols["17"] > protocols["1"] > 0
    assert all(r["srcport"] == r["dstport"] == "0" for r in recs if r["protocol"] in "1 58")
    v6 = sum(":" in r["srcaddr"] for r in recs) / len(recs)
    assert 0.04 < v6 < 0.15
    # requests and their replies: the reply comes back from 443 to the ephemeral port
    asks = {(r["srcaddr"], r["dstaddr"], r["srcport"]) for r in recs if r["dstport"] == "443"}
    replies = {(r["dstaddr"], r["srcaddr"], r["dstport"]) for r in recs if r["srcport"] == "443"}
    assert len(asks & replies) > 0.8 * len(asks)
    db = [r for r in recs if r["dstport"] in ("5432", "6379") and r["action"] == "ACCEPT"]
    assert db and all(32768 <= int(r["srcport"]) <= 60999 for r in db)


def test_sizes_are_heavy_tailed_and_consistent(records: dict[str, list[Record]]) -> None:
    recs = ok(every(records))
    sizes = sorted(int(r["bytes"]) for r in recs)
    for r in recs:
        assert 40 <= int(r["bytes"]) / int(r["packets"]) <= 9001, r
    median, p999 = sizes[len(sizes) // 2], sizes[int(len(sizes) * 0.999)]
    assert 200 < median < 20_000
    assert p999 > 100 * median


def test_rejects(records: dict[str, list[Record]]) -> None:
    recs = ok(every(records))
    rejects = [r for r in recs if r["action"] == "REJECT"]
    assert 0.003 < len(rejects) / len(recs) < 0.05
    scans = Counter(r["dstport"] for r in rejects)
    assert scans["22"] > scans["3389"] > 0
    assert len(scans) > 5  # a few random ports too
    scanners = Counter(r["srcaddr"] for r in rejects if r["dstport"] in ("22", "3389"))
    assert len(scanners) <= 7
    assert all(int(r["packets"]) <= 3 and int(r["bytes"]) <= 180 for r in rejects)
    v5 = [r for r in ok(records["fl-0demo0v5custom"]) if r["action"] == "REJECT"]
    assert {r["tcp-flags"] for r in v5 if r["dstport"] in ("22", "3389")} == {"2"}


def test_nodata_and_skipdata(records: dict[str, list[Record]]) -> None:
    recs = every(records)
    status = Counter(r["log-status"] for r in recs)
    assert set(status) <= {"OK", "NODATA", "SKIPDATA"}
    assert 0.002 < status["NODATA"] / len(recs) < 0.01
    assert status["SKIPDATA"] < status["NODATA"]
    for r in recs:
        if r["log-status"] != "OK":
            assert all(r[f] == "-" for f in DASHED), r
            assert r["interface-id"].startswith("eni-") and r["account-id"] == "123456789012"
            assert int(r["start"]) < int(r["end"])
    v5 = [r for r in records["fl-0demo0v5custom"] if r["log-status"] == "NODATA"]
    assert v5 and all(r["vpc-id"].startswith("vpc-0") and r["type"] == "-" for r in v5)
    assert all(r["flow-direction"] == r["traffic-path"] == r["tcp-flags"] == "-" for r in v5)


def test_v5_fields(records: dict[str, list[Record]]) -> None:
    recs = ok(records["fl-0demo0v5custom"])
    assert {r["flow-direction"] for r in recs} == {"ingress", "egress"}
    assert {r["traffic-path"] for r in recs if r["flow-direction"] == "ingress"} == {"-"}
    paths = Counter(r["traffic-path"] for r in recs if r["flow-direction"] == "egress")
    assert {"1", "8"} <= set(paths) <= {"1", "2", "7", "8"}
    assert {r["tcp-flags"] for r in recs if r["protocol"] == "6"} <= FLAGS
    assert {"2", "18", "3", "19", "1", "0"} <= {r["tcp-flags"] for r in recs}
    assert all(r["type"] == ("IPv6" if ":" in r["srcaddr"] else "IPv4") for r in recs)
    assert {r["region"] for r in recs} == {"us-east-1"}
    assert all(re.fullmatch(r"use1-az\d", r["az-id"]) for r in recs)
    assert all(r["subnet-id"].startswith("subnet-0") for r in recs)
    services = Counter(r["pkt-dst-aws-service"] for r in recs) + Counter(
        r["pkt-src-aws-service"] for r in recs
    )
    assert {"S3", "DYNAMODB", "AMAZON"} <= set(services)
    for r in recs:
        if r["pkt-dst-aws-service"] == "S3":
            assert r["pkt-dstaddr"].split(".")[0] in ("52", "3", "16")
        # an instance's own ENI: packet addresses are the record's addresses
        if r["instance-id"] != "-":
            assert (r["pkt-srcaddr"], r["pkt-dstaddr"]) == (r["srcaddr"], r["dstaddr"])


def test_nat_gateway_records(records: dict[str, list[Record]]) -> None:
    recs = ok(records["fl-0demo0default"])
    talkers = Counter(r["interface-id"] for r in recs).most_common(1)[0][0]
    nat = [r for r in recs if r["interface-id"] == talkers]  # the NAT gateway is busiest
    own = Counter(r["srcaddr"] for r in nat).most_common(1)[0][0]
    assert own.startswith("10.0.") and own.split(".")[2] in ("0", "1", "2")  # public subnet
    out = [r for r in nat if r["srcaddr"] == own and not r["dstaddr"].startswith("10.")]
    assert out and {r["dstport"] for r in out} >= {"443", "53"}


def test_diurnal_pattern() -> None:
    spec = DemoSpec(start=datetime(2025, 1, 6, tzinfo=UTC), hours=24, records=30_000, seed=3)
    hours = Counter(int(tokens[0]) // 3600 % 24 for tokens in generate_records(spec, ["end"]))
    total = sum(hours.values())
    assert 0.75 * 30_000 < total < 1.25 * 30_000
    assert max(hours.values()) > 2.5 * min(hours.values())
    assert max(hours, key=lambda h: hours[h]) in range(11, 20)


def test_deterministic_for_a_seed(tmp_path: Path) -> None:
    def run(name: str, seed: int) -> dict[str, bytes]:
        spec = DemoSpec(start=START, hours=0.25, seed=seed)
        files = write_demo(tmp_path / name, spec)
        return {f.relative_to(tmp_path / name).as_posix(): f.read_bytes() for f in files}

    first, again, other = run("a", 5), run("b", 5), run("c", 6)
    assert first == again
    assert first.keys() != other.keys() or first != other


def test_records_option_and_spec_checks() -> None:
    spec = DemoSpec(start=START, hours=3, records=12_000)
    n = sum(1 for _ in generate_records(spec, ["srcaddr"]))
    assert 9_000 < n < 15_000
    with pytest.raises(ValueError):
        DemoSpec(start=datetime(2025, 1, 6))  # naive
    default = DemoSpec().start
    assert default.tzinfo is not None and default.hour == default.minute == 0
    assert datetime.now(UTC) - default <= timedelta(days=2)


def test_benchmark_file(tmp_path: Path) -> None:
    path = write_benchmark_file(tmp_path / "bench" / "flows.log.gz", 123_457, seed=2)
    header, rows = read(path)
    assert header == format_fields(DEFAULT_FORMAT)
    assert len(rows) == 123_457
    assert all(len(r) == 14 for r in rows)
    assert Counter(r[6] for r in rows if r[13] == "OK").most_common(1)[0][0] == "443"
    ends = [int(r[11]) for r in rows]
    assert ends[0] >= int(datetime(2025, 1, 6, tzinfo=UTC).timestamp())
    empty = write_benchmark_file(tmp_path / "empty.log.gz", 0)
    assert read(empty) == (header, [])
