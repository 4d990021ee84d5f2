"""The filter language: what each form parses to, what each mistake says, and the SQL it makes."""

from __future__ import annotations

import ipaddress
import re
from datetime import UTC, datetime

import pytest

from flowscope.engines.duckdb.compile import compile_filter
from flowscope.errors import QueryError
from flowscope.query.filter import (
    And,
    Cidr,
    Equals,
    Exists,
    Not,
    Or,
    Range,
    Wildcard,
    format_filter,
    parse_filter,
)


def net(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    return ipaddress.ip_network(text, strict=False)


@pytest.mark.parametrize(
    ("text", "tree"),
    [
        ("dstport:22", Equals("dstport", 22)),
        ("dst-port:22", Equals("dstport", 22)),
        ("dstPort:22", Equals("dstport", 22)),
        ("protocol:tcp", Equals("protocol", 6)),
        ("protocol:UDP", Equals("protocol", 17)),
        ("protocol_name:TCP", Equals("protocol_name", "tcp")),
        ("action:reject", Equals("action", "REJECT")),
        ("log-status:skipdata", Equals("log_status", "SKIPDATA")),
        ("interface_id:eni-0ab*", Wildcard("interface_id", ("eni-0ab", ""))),
        ("interface_id:*0ab*", Wildcard("interface_id", ("", "0ab", ""))),
        ('interface_id:"eni-0ab*"', Equals("interface_id", "eni-0ab*")),
        (r"interface_id:eni\*x", Equals("interface_id", "eni*x")),
        ('vpc_id:"a \\"b\\" c"', Equals("vpc_id", 'a "b" c')),
        ("instance_id:*", Exists("instance_id")),
        ("srcaddr:10.0.0.0/8", Cidr("srcaddr", net("10.0.0.0/8"))),
        ("srcaddr:10.1.2.3/8", Cidr("srcaddr", net("10.0.0.0/8"))),
        ("srcaddr:10.0.0.1", Cidr("srcaddr", net("10.0.0.1/32"))),
        ("dstaddr:2600:1f18::/32", Cidr("dstaddr", net("2600:1f18::/32"))),
        ('dstaddr:"2600:1f18::/32"', Cidr("dstaddr", net("2600:1f18::/32"))),
        ("pkt-srcaddr:::ffff:10.0.0.1", Cidr("pkt_srcaddr", net("::ffff:10.0.0.1/128"))),
        ("bytes >= 1000000", Range("bytes", ">=", 1000000)),
        ("dstport<1024", Range("dstport", "<", 1024)),
        ("packets > -1", Range("packets", ">", -1)),
        (
            "dstport:[0 to 1023]",
            And((Range("dstport", ">=", 0), Range("dstport", "<=", 1023))),
        ),
        ("dstport:[1024 TO *]", Range("dstport", ">=", 1024)),
        (
            'start_time >= "2024-06-10T06:00:00Z"',
            Range("start_time", ">=", datetime(2024, 6, 10, 6, tzinfo=UTC)),
        ),
        ("start_time < 2024-06-11", Range("start_time", "<", datetime(2024, 6, 11, tzinfo=UTC))),
        (
            "dstport:(22 or 3389)",
            Or((Equals("dstport", 22), Equals("dstport", 3389))),
        ),
        (
            "action:REJECT and dstport:(22 or 3389)",
            And((Equals("action", "REJECT"), Or((Equals("dstport", 22), Equals("dstport", 3389))))),
        ),
        (
            "srcaddr:10.0.0.0/16 and not protocol:17",
            And((Cidr("srcaddr", net("10.0.0.0/16")), Not(Equals("protocol", 17)))),
        ),
        (
            "a-c-t-i-o-n:ACCEPT OR NOT (dstport:22 AND srcport:22)",
            Or(
                (
                    Equals("action", "ACCEPT"),
                    Not(And((Equals("dstport", 22), Equals("srcport", 22)))),
                )
            ),
        ),
        ("not not dstport:1", Not(Not(Equals("dstport", 1)))),
        ("dstport:(not 22)", Not(Equals("dstport", 22))),
        (
            "dstport:1 or dstport:2 and dstport:3",
            Or((Equals("dstport", 1), And((Equals("dstport", 2), Equals("dstport", 3))))),
        ),
        ("  ((dstport:1))  ", Equals("dstport", 1)),
        (
            "tcp-flags:2 and type:IPv6",
            And((Equals("tcp_flags", 2), Equals("type", "IPv6"))),
        ),
    ],
)
def test_parses_to(text: str, tree: object) -> None:
    assert parse_filter(text) == tree


def test_empty_filter_matches_everything() -> None:
    assert parse_filter("") is None
    assert parse_filter("   ") is None
    assert parse_filter(None) is None


@pytest.mark.parametrize(
    ("text", "message", "position"),
    [
        ("dstprot:22", "unknown field 'dstprot' (did you mean dstport?)", 0),
        ("action:REJECT and dstprot:22", "unknown field 'dstprot' (did you mean dstport?)", 18),
        ("dstport:", "expected a value for dstport, found the end of the filter", 8),
        ("dstport:(22 or", "expected a value for dstport, found the end of the filter", 14),
        ("dstport:(22 3389)", "expected ')' to close the '(' at position 8, found '3389'", 12),
        ("(dstport:22", "expected ')' to close the '(' at position 0, found the end", 11),
        ("dstport:22)", "unbalanced ')': no '(' before it", 10),
        ("dstport:22 srcport:1", "expected 'and', 'or' or the end of the filter", 11),
        ("dstport:abc", "dstport is a number, got 'abc'", 8),
        ("dstport:70000", "dstport is a number from 0 to 65535, got 70000", 8),
        ("bytes > 99999999999999999999", "bytes is a number from", 8),
        ("dstport:44*", "wildcards apply to text and address fields; dstport is a number", 8),
        (
            "start_time:2024*",
            "wildcards apply to text and address fields; start_time is a time",
            11,
        ),
        ("protocol:tpc", "unknown protocol 'tpc'", 9),
        ("action:DENY", "action is one of ACCEPT, REJECT; got 'DENY'", 7),
        ("srcaddr:10.0.0.300", "srcaddr takes an address or a CIDR block", 8),
        ("srcaddr:10.0.0.0/33", "srcaddr takes an address or a CIDR block", 8),
        ("srcaddr > 10.0.0.1", "srcaddr is an address: compare it with a CIDR block", 10),
        ('vpc_id:"open', "unterminated quoted value", 7),
        ("start_time > yesterday", "start_time takes a time", 13),
        ("and dstport:1", "expected a field name, found 'and'", 0),
        ("dstport:or", "expected a value for dstport, found 'or'", 8),
        ("10.0.0.1", "expected field:value, found '10.0.0.1' (free-text search", 0),
        ("foo bar", "expected field:value, found 'foo' (free-text search is not supported", 0),
        ("dstport = 22", "expected ':' or a comparison (<, <=, >, >=) after 'dstport'", 8),
        ("dstport:[1 2]", "expected 'to' between the bounds of the range", 11),
        ("()", "expected a field name, found ')'", 1),
        ("(" * 100 + "dstport:1" + ")" * 100, "parentheses nested more than 64 deep", 64),
    ],
)
def test_mistakes_point_at_the_position(text: str, message: str, position: int) -> None:
    with pytest.raises(QueryError) as info:
        parse_filter(text)
    assert str(info.value).startswith(message)
    assert info.value.position == position


@pytest.mark.parametrize(
    "text",
    [
        "dstport:22",
        "action:REJECT and dstport:(22 or 3389)",
        'interface_id:"a b" or not vpc_id:*',
        "srcaddr:10.0.0.0/8 and dstaddr:2600:1f18::/32",
        r"interface_id:eni\ x*",
        "bytes >= 1000000 and not (dstport:1 or dstport:2)",
        'account_id:"and"',
    ],
)
def test_format_parses_back_to_the_same_tree(text: str) -> None:
    tree = parse_filter(text)
    assert tree is not None
    assert parse_filter(format_filter(tree)) == tree


@pytest.mark.parametrize(
    "value",
    [
        "x'; DROP TABLE flows; --",
        "' OR 1=1 --",
        "a/* comment */b",
        '\\"; DELETE FROM loads; \\"',
        "%_\\",
    ],
)
def test_values_only_ever_reach_sql_as_parameters(value: str) -> None:
    quoted = '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    bare = re.sub(r'([\s()"\[\]*\\])', r"\\\1", value)
    tree = parse_filter(f"interface_id:{quoted} or vpc_id:{bare}*")
    sql = compile_filter(tree)
    assert value not in sql.text
    assert "DROP" not in sql.text and "DELETE" not in sql.text and "--" not in sql.text
    assert sql.text.count("?") == len(sql.params) == 2
    assert sql.params[0] == value
    assert tree == Or((Equals("interface_id", value), Wildcard("vpc_id", (value, ""))))
