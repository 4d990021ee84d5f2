"""Generated filters, compiled and run on a real store, against a Python evaluation of the same.

Hypothesis builds a filter tree from values that occur in the data (and some that do not),
writes it as text the way users might (aliases, keyword case, spacing), and checks that the
flows DuckDB returns are exactly those a plain Python predicate picks. Both address paths are
checked: the backend's (distinct IPv6 texts read from the store) and the pure-SQL macro.
"""

from __future__ import annotations

import ipaddress
import operator
import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flowscope.engines.duckdb.compile import MACROS, compile_filter
from flowscope.engines.duckdb.query import DuckBackend
from flowscope.engines.duckdb.store import DuckStore
from flowscope.query.filter import (
    And,
    Cidr,
    Equals,
    Exists,
    Node,
    Not,
    Or,
    Range,
    Wildcard,
    format_filter,
    parse_filter,
)
from flowscope.query.model import Scope, SearchQuery
from tests.test_query_support import T0, V4, V6_FORMS, make_store, many

COLUMNS = ("start", "srcaddr", "dstaddr", "srcport", "dstport", "protocol", "packets", "bytes",
           "action", "log_status", "interface_id", "start_time", "protocol_name",
           "vpc_id")  # fmt: skip
Row = dict[str, Any]


class Data(tuple[Path, list[Row]]):
    def __repr__(self) -> str:  # hypothesis prints the arguments of a failing example
        return f"Data({self[0]}, {len(self[1])} rows)"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Data:
    path = make_store(tmp_path_factory.mktemp("prop"), many())
    con = duckdb.connect(str(path), read_only=True)
    try:
        cols = ", ".join(f'"{c}"' for c in COLUMNS)
        rows = [
            dict(zip(COLUMNS, r, strict=True))
            for r in con.execute(f"SELECT {cols} FROM flows").fetchall()
        ]
    finally:
        con.close()
    return Data((path, rows))


def value_of(text: str) -> int:
    ip = ipaddress.ip_address(text.split("%")[0])
    return (0xFFFF << 32) | int(ip) if ip.version == 4 else int(ip)


def in_network(text: str, network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> bool:
    if isinstance(network, ipaddress.IPv4Network):
        low = (0xFFFF << 32) | int(network.network_address)
        high = (0xFFFF << 32) | int(network.broadcast_address)
    else:
        low, high = int(network.network_address), int(network.broadcast_address)
    return low <= value_of(text) <= high


OPS: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
}  # fmt: skip


def matches(node: Node, row: Row) -> bool:
    """The predicate in plain Python: a missing value never matches a leaf."""
    if isinstance(node, And):
        return all(matches(i, row) for i in node.items)
    if isinstance(node, Or):
        return any(matches(i, row) for i in node.items)
    if isinstance(node, Not):
        return not matches(node.item, row)
    value = row[node.field]
    if isinstance(node, Exists):
        return value is not None
    if value is None:
        return False
    if isinstance(node, Equals):
        return bool(value == node.value)
    if isinstance(node, Range):
        return OPS[node.op](value, node.value)
    if isinstance(node, Wildcard):
        pattern = ".*".join(re.escape(p) for p in node.parts)
        return re.fullmatch(pattern, value, re.DOTALL) is not None
    assert isinstance(node, Cidr)
    return in_network(value, node.network)


def networks() -> st.SearchStrategy[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    v4 = st.tuples(st.sampled_from(V4), st.integers(0, 32)).map(
        lambda t: ipaddress.IPv4Network(f"{t[0]}/{t[1]}", strict=False)
    )
    v6 = st.tuples(st.sampled_from(V6_FORMS), st.integers(0, 128)).map(
        lambda t: ipaddress.IPv6Network((value_of(t[0]) >> (128 - t[1]) << (128 - t[1]), t[1]))
    )
    return st.one_of(v4, v6, st.sampled_from([ipaddress.ip_network("::ffff:0:0/96")]))


def leaves() -> st.SearchStrategy[Node]:
    ints = st.sampled_from(["srcport", "dstport", "protocol", "packets", "bytes"])
    return st.one_of(
        st.builds(
            Equals, st.sampled_from(["dstport"]), st.sampled_from([22, 80, 443, 0, 65535, 7])
        ),
        st.builds(Equals, st.just("protocol"), st.sampled_from([1, 6, 17])),
        st.builds(Equals, st.just("action"), st.sampled_from(["ACCEPT", "REJECT"])),
        st.builds(Equals, st.just("log_status"), st.sampled_from(["OK", "NODATA", "SKIPDATA"])),
        st.builds(Equals, st.just("interface_id"), st.sampled_from(["eni-0a0", "eni-0b1", "x"])),
        st.builds(Equals, st.just("protocol_name"), st.sampled_from(["tcp", "udp", "icmp"])),
        st.builds(
            Wildcard,
            st.just("interface_id"),
            st.sampled_from([("eni-0a", ""), ("", "1"), ("", "b", ""), ("eni", "c", "")]),
        ),
        st.builds(
            Wildcard,
            st.sampled_from(["srcaddr", "dstaddr"]),
            st.sampled_from([("10.0.", ""), ("", "::", "")]),
        ),
        st.builds(Exists, st.sampled_from(["srcaddr", "dstport", "action", "vpc_id"])),
        st.builds(Cidr, st.sampled_from(["srcaddr", "dstaddr"]), networks()),
        st.builds(Range, ints, st.sampled_from(["<", "<=", ">", ">="]), st.integers(-5, 5000)),
        st.builds(
            Range,
            st.just("start_time"),
            st.sampled_from(["<", ">="]),
            st.integers(0, 240 * 60).map(lambda s: datetime.fromtimestamp(T0 + s, UTC)),
        ),
    )


trees = st.recursive(
    leaves(),
    lambda children: st.one_of(
        st.lists(children, min_size=2, max_size=3).map(lambda xs: And(tuple(xs))),
        st.lists(children, min_size=2, max_size=3).map(lambda xs: Or(tuple(xs))),
        children.map(Not),
    ),
    max_leaves=6,
)

ALIASES = {"dstport": ["dst-port", "dstPort"], "log_status": ["log-status"], "srcaddr": ["srcAddr"],
           "interface_id": ["interface-id", "interfaceId"]}  # fmt: skip


@st.composite
def cases(draw: st.DrawFn) -> tuple[Node, str]:
    """A tree, and filter text for it with aliases and keyword case varied."""
    tree = draw(trees)
    text = format_filter(tree)
    for column, names in ALIASES.items():
        if draw(st.booleans()):
            text = re.sub(rf"\b{column}(?=[:<> ])", draw(st.sampled_from(names)), text)
    keyword = draw(st.sampled_from([str.lower, str.upper, str.title]))
    text = re.sub(r"(?<= )(and|or)(?= )|^not |(?<=\()not ", lambda m: keyword(m.group(0)), text)
    return tree, text


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=cases())
def test_generated_filters_match_python(
    store: tuple[Path, list[Row]], case: tuple[Node, str]
) -> None:
    path, rows = store
    tree, text = case
    parsed = parse_filter(text)
    expected = sorted(r["start"] for r in rows if matches(tree, r))
    assert parsed is not None
    # through the backend (address blocks resolved from the store's distinct IPv6 texts)
    result = DuckBackend(DuckStore(path)).search(
        SearchQuery(
            columns=("start",), sort="start", descending=False, size=1000, scope=Scope(parsed)
        )
    )
    assert sorted(r[0] for r in result.rows) == expected, text
    assert result.total == len(expected)
    # and the pure-SQL compilation (IPv6 expanded by the fs_ip6hex macro)
    sql = compile_filter(parsed)
    con = duckdb.connect(str(path), read_only=True)
    try:
        for macro in MACROS:
            con.execute(macro).fetchall()
        got = con.execute(f'SELECT "start" FROM flows WHERE {sql.text}', sql.params).fetchall()
    finally:
        con.close()
    assert sorted(r[0] for r in got) == expected, text
