"""The parser against AWS's own sample records, generated layouts and bad values."""

from __future__ import annotations

import io
import ipaddress

from hypothesis import given, settings
from hypothesis import strategies as st

from flowscope.enrich import enrich
from flowscope.parse.layout import DEFAULT_LAYOUT, Layout, parse_log_format
from flowscope.parse.reader import TextReader
from flowscope.parse.text import BlockParser
from flowscope.schema import BY_NAME, FIELDS, Field


def parse(text: str, layout: Layout = DEFAULT_LAYOUT) -> tuple[list[dict[str, object]], list]:
    parsed = BlockParser(layout).parse(text.encode(), 1)
    return enrich(parsed.table).to_pylist(), parsed.rejects


def test_default_format_accept_and_reject() -> None:
    rows, rejects = parse(
        "2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 4249 "
        "1418530010 1418530070 ACCEPT OK\n"
        "2 123456789010 eni-1235b8ca123456789 172.31.9.69 172.31.9.12 49761 3389 6 20 4249 "
        "1418530010 1418530070 REJECT OK\n"
    )
    assert rejects == []
    first = rows[0]
    assert first["version"] == 2 and first["account_id"] == "123456789010"
    assert first["srcaddr"] == "172.31.16.139" and first["dstport"] == 22
    assert first["protocol"] == 6 and first["protocol_name"] == "tcp"
    assert first["packets"] == 20 and first["bytes"] == 4249
    assert first["start"] == 1418530010 and first["end"] == 1418530070
    assert str(first["start_time"]) == "2014-12-14 04:06:50+00:00"
    assert [r["action"] for r in rows] == ["ACCEPT", "REJECT"]


def test_nodata_and_skipdata_are_kept_with_nulls() -> None:
    rows, rejects = parse(
        "2 123456789010 eni-1235b8ca123456789 - - - - - - - 1431280876 1431280934 - NODATA\n"
        "2 123456789010 eni-11111111aaaaaaaaa - - - - - - - 1431280876 1431280934 - SKIPDATA\n"
    )
    assert rejects == []
    assert [r["log_status"] for r in rows] == ["NODATA", "SKIPDATA"]
    for r in rows:
        assert r["srcaddr"] is None and r["dstport"] is None and r["bytes"] is None
        assert r["action"] is None and r["protocol_name"] is None
        assert r["start"] == 1431280876


def test_icmp_and_ipv6() -> None:
    rows, rejects = parse(
        "2 123456789010 eni-1235b8ca123456789 203.0.113.12 172.31.16.139 0 0 1 4 336 "
        "1432917027 1432917142 ACCEPT OK\n"
        "2 123456789010 eni-1235b8ca123456789 2001:db8:1234:a100:8d6e:3477:df66:f105 "
        "2001:db8:1234:a102:3304:8879:34cf:4071 34892 22 6 54 8855 1477913708 1477913820 "
        "ACCEPT OK\n"
    )
    assert rejects == []
    assert rows[0]["protocol_name"] == "icmp" and rows[0]["srcport"] == 0
    assert rows[1]["srcaddr"] == "2001:db8:1234:a100:8d6e:3477:df66:f105"


TCP_FORMAT = (
    "${version} ${vpc-id} ${subnet-id} ${instance-id} ${interface-id} ${account-id} ${type} "
    "${srcaddr} ${dstaddr} ${srcport} ${dstport} ${pkt-srcaddr} ${pkt-dstaddr} ${protocol} "
    "${bytes} ${packets} ${start} ${end} ${action} ${tcp-flags} ${log-status}"
)


def test_tcp_flag_sequence_custom_format_with_bytes_before_packets() -> None:
    text = (
        "3 vpc-abcdefab012345678 subnet-aaaaaaaa012345678 i-01234567890123456 "
        "eni-1235b8ca123456789 123456789010 IPv4 52.213.180.42 10.0.0.62 43416 5001 "
        "52.213.180.42 10.0.0.62 6 568 8 1566848875 1566848933 ACCEPT 2 OK\n"
        "3 vpc-abcdefab012345678 subnet-aaaaaaaa012345678 i-01234567890123456 "
        "eni-1235b8ca123456789 123456789010 IPv4 10.0.0.62 52.213.180.42 5001 43638  "
        "10.0.0.62 52.213.180.42 6 967 14 1566933133 1566933193 ACCEPT 19 OK\n"
    )
    rows, rejects = parse(text, parse_log_format(TCP_FORMAT))
    # The second line is AWS's own sample with a double space: tolerated, not rejected.
    assert rejects == []
    assert rows[0]["bytes"] == 568 and rows[0]["packets"] == 8
    assert rows[0]["tcp_flags"] == 2 and rows[0]["tcp_flags_names"] == "SYN"
    assert rows[1]["tcp_flags"] == 19 and rows[1]["tcp_flags_names"] == "SYN-ACK|FIN"
    assert rows[1]["vpc_id"] == "vpc-abcdefab012345678" and rows[1]["type"] == "IPv4"


def test_v5_sample_with_services_direction_and_path() -> None:
    fmt = parse_log_format(
        " ".join(
            f"${{{n}}}"
            for n in (
                "version srcaddr dstaddr srcport dstport protocol start end type packets bytes "
                "account-id vpc-id subnet-id instance-id interface-id region az-id "
                "sublocation-type sublocation-id action tcp-flags pkt-srcaddr pkt-dstaddr "
                "pkt-src-aws-service pkt-dst-aws-service traffic-path flow-direction log-status"
            ).split()
        )
    )
    rows, rejects = parse(
        "5 52.95.128.179 10.0.0.71 80 34210 6 1616729292 1616729349 IPv4 14 15044 "
        "123456789012 vpc-abcdefab012345678 subnet-aaaaaaaa012345678 i-0c50d5961bcb2d47b "
        "eni-1235b8ca123456789 ap-southeast-2 apse2-az3 - - ACCEPT 19 52.95.128.179 10.0.0.71 "
        "S3 - - ingress OK\n"
        "5 10.0.0.71 52.95.128.179 34210 80 6 1616729292 1616729349 IPv4 7 471 123456789012 "
        "vpc-abcdefab012345678 subnet-aaaaaaaa012345678 i-0c50d5961bcb2d47b "
        "eni-1235b8ca123456789 ap-southeast-2 apse2-az3 - - ACCEPT 3 10.0.0.71 52.95.128.179 "
        "- S3 8 egress OK\n",
        fmt,
    )
    assert rejects == []
    assert rows[0]["pkt_src_aws_service"] == "S3" and rows[0]["traffic_path"] is None
    assert rows[0]["flow_direction"] == "ingress" and rows[0]["az_id"] == "apse2-az3"
    assert rows[1]["traffic_path"] == 8 and rows[1]["pkt_dst_aws_service"] == "S3"
    assert rows[1]["sublocation_type"] is None


def test_nat_gateway_and_transit_gateway_samples() -> None:
    nat = parse_log_format(
        "${instance-id} ${interface-id} ${srcaddr} ${dstaddr} ${pkt-srcaddr} ${pkt-dstaddr}"
    )
    rows, rejects = parse(
        "- eni-1235b8ca123456789 10.0.1.5 10.0.0.220 10.0.1.5 203.0.113.5\n"
        "i-01234567890123456 eni-1111aaaa2222bbbb3 10.0.1.5 203.0.113.5 10.0.1.5 203.0.113.5\n",
        nat,
    )
    assert rejects == []
    assert rows[0]["instance_id"] is None and rows[0]["pkt_dstaddr"] == "203.0.113.5"
    assert rows[0]["start_time"] is None and "version" not in rows[0]
    tgw = parse_log_format(
        "${version} ${interface-id} ${account-id} ${vpc-id} ${subnet-id} ${instance-id} "
        "${srcaddr} ${dstaddr} ${srcport} ${dstport} ${protocol} ${tcp-flags} ${type} "
        "${pkt-srcaddr} ${pkt-dstaddr} ${action} ${log-status}"
    )
    rows, rejects = parse(
        "3 eni-11111111111111111 123456789010 vpc-abcdefab012345678 subnet-11111111aaaaaaaaa - "
        "10.40.1.175 10.40.2.236 39812 80 6 3 IPv4 10.20.33.164 10.40.2.236 ACCEPT OK\n",
        tgw,
    )
    assert rejects == [] and rows[0]["pkt_srcaddr"] == "10.20.33.164"


def test_newer_versions_ecs_reject_reason_resource_encryption_tags() -> None:
    fmt = parse_log_format(
        "${version} ${ecs-cluster-name} ${ecs-task-id} ${reject-reason} ${resource-id} "
        "${encryption-status} ${instance-tag} ${interface-type} ${next-hop-az-id} "
        "${tgw-id} ${packets-lost-blackhole}"
    )
    rows, rejects = parse(
        "11 prod-cluster 0123456789abcdef BPA nat-0abc 2 team%3Dpayments nat_gateway use1-az2 "
        "tgw-0123 17\n",
        fmt,
    )
    assert rejects == []
    r = rows[0]
    assert (r["version"], r["ecs_cluster_name"], r["reject_reason"], r["resource_id"]) == (
        11,
        "prod-cluster",
        "BPA",
        "nat-0abc",
    )
    assert r["encryption_status"] == 2 and r["interface_type"] == "nat_gateway"
    assert r["instance_tag"] == "team%3Dpayments" and r["packets_lost_blackhole"] == 17


def test_bad_values_are_set_aside_with_line_and_reason() -> None:
    good = (
        "2 123456789010 eni-1 10.0.0.1 10.0.0.2 443 51000 6 10 840 1718000000 1718000060 ACCEPT OK"
    )
    lines = [
        good,
        "2 123456789010 eni-1 10.0.0.1 10.0.0.2 443 51000 6 10 840 1718000000 ACCEPT OK",
        "2 123456789010 eni-1 10.0.0.1 10.0.0.2 https 51000 6 10 840 1718000000 1718000060 "
        "ACCEPT OK",
        "2 123456789010 eni-1 10.0.0.300 10.0.0.2 443 51000 6 10 840 1718000000 1718000060 "
        "ACCEPT OK",
        "2 123456789010 eni-1 10.0.0.1 10.0.0.2 443 70000 6 10 840 1718000000 1718000060 ACCEPT OK",
        "2 123456789010 eni-1 10.0.0.1 10.0.0.2 443 51000 6 10 840 1718000000 1718000060 ALLOW OK",
        "",
        good,
    ]
    parsed = BlockParser(DEFAULT_LAYOUT).parse("\n".join(lines).encode(), 10)
    assert parsed.table.num_rows == 2
    assert [(r.line, r.reason) for r in parsed.rejects] == [
        (11, "13 fields, expected 14 (default format (v2))"),
        (12, "srcport https is not a whole number"),
        (13, "srcaddr 10.0.0.300 is not an IPv4 or IPv6 address"),
        (14, "dstport 70000 is out of range (0 to 65535)"),
        (15, "action ALLOW is not ACCEPT or REJECT"),
    ]
    assert parsed.rejects[1].raw == lines[2]


def test_reader_takes_layout_from_header_over_format() -> None:
    data = b"version srcaddr dstaddr bytes\n2 10.0.0.1 10.0.0.2 100\n2 10.0.0.3 10.0.0.4 200\n"
    reader = TextReader(io.BytesIO(data), "x.log", layout=parse_log_format("${bytes}"))
    batches = list(reader)
    assert reader.layout.names == ("version", "srcaddr", "dstaddr", "bytes")
    assert reader.notes == ["the header line's layout was used, not --format"]
    assert batches[0].table.column("bytes").to_pylist() == [100, 200]


def test_small_blocks_keep_line_numbers() -> None:
    good = "2 1 eni-1 10.0.0.1 10.0.0.2 1 2 6 1 1 1 2 ACCEPT OK\n"
    data = (good * 50 + "garbage\n" + good * 50).encode()
    reader = TextReader(io.BytesIO(data), "x.log", block_size=300)
    batches = list(reader)
    assert sum(b.table.num_rows for b in batches) == 100
    assert [r.line for b in batches for r in b.rejects] == [51]


# --- property: any subset of fields, in any order, round-trips through a LogFormat ---------


def _value(f: Field) -> st.SearchStrategy[str]:
    if f.kind in ("int", "long"):
        top = (
            f.max_value
            if f.max_value is not None
            else (2**31 - 1 if f.kind == "int" else 2**63 - 1)
        )
        return st.integers(0, top).map(str)
    if f.kind == "ip":
        return st.one_of(st.ip_addresses(v=4), st.ip_addresses(v=6)).map(str)
    if f.enum:
        return st.sampled_from(sorted(f.enum))
    return st.text("abcdefghijklmnopqrstuvwxyz0123456789-:/%_.", min_size=1, max_size=20).filter(
        lambda s: s != "-"
    )


@st.composite
def _records(draw: st.DrawFn) -> tuple[list[Field], list[list[str | None]]]:
    fields = draw(st.lists(st.sampled_from(FIELDS), min_size=1, max_size=12, unique=True))
    rows = draw(
        st.lists(
            st.tuples(*[st.one_of(st.none(), _value(f)) for f in fields]).map(list),
            min_size=1,
            max_size=20,
        )
    )
    return fields, rows


@settings(max_examples=150, deadline=None)
@given(_records())
def test_any_subset_and_order_round_trips(case: tuple[list[Field], list[list[str | None]]]) -> None:
    fields, rows = case
    layout = parse_log_format(" ".join(f"${{{f.name}}}" for f in fields))
    text = "\n".join(" ".join("-" if v is None else v for v in row) for row in rows) + "\n"
    parsed = BlockParser(layout).parse(text.encode(), 1)
    assert parsed.rejects == []
    got = parsed.table.to_pylist()
    assert len(got) == len(rows)
    for row, out in zip(rows, got, strict=True):
        for f, v in zip(fields, row, strict=True):
            expected: object = None
            if v is not None:
                expected = int(v) if f.kind in ("int", "long") else v
            if f.kind == "ip" and v is not None:
                assert ipaddress.ip_address(str(out[f.column])) == ipaddress.ip_address(v)
            else:
                assert out[f.column] == expected, (f.name, v, out[f.column])


def test_every_field_is_known_by_name() -> None:
    assert all(BY_NAME[f.name] is f for f in FIELDS)
