"""Compile a filter tree and a time range into a DuckDB ``WHERE`` clause with parameters.

Values never enter the SQL text: every one is a ``?`` parameter; column names come only from
the field table and are quoted. Under ``not`` each leaf is wrapped in ``coalesce(…, false)`` so
a missing value counts as "does not match" (Kibana's meaning), while leaves outside ``not`` stay
plain comparisons DuckDB can push into its scans.

Addresses are VARCHAR. Matching is done on one model: every address is a 128-bit number, an
IPv4 ``a.b.c.d`` being the IPv4-mapped ``::ffff:a.b.c.d`` (as OpenSearch's ``ip`` type does), so
``10.0.0.0/8`` also matches ``::ffff:10.1.2.3`` and ``::/0`` matches everything. Stored IPv4 is
always dotted-quad without leading zeros (the parser checks it), so an IPv4 block is a string
prefix plus, for a prefix that is not a whole number of octets, a range on the next octet.
IPv6 text may take many forms (``::``, upper case, a dotted tail, a zone). Given the column's
distinct IPv6 texts (``ip6``, which the backend reads once and caches), the block becomes the
list of texts inside it, a parameter the rows are semi-joined with; without them the
``fs_ip6hex`` macro (:data:`MACROS`) expands each IPv6 text to 32 hex digits, which is correct
but slow (DuckDB string functions cost microseconds a row).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from flowscope.query.fields import QUERY_FIELDS
from flowscope.query.filter import (
    And,
    Equals,
    Exists,
    Network,
    Node,
    Not,
    Or,
    Range,
    Wildcard,
)
from flowscope.schema import quote
from flowscope.times import TimeRange

MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")

#: Macros the compiled SQL may call; run on each new connection (they are TEMP objects).
MACROS = (
    """CREATE OR REPLACE TEMP MACRO fs_v4groups(fs_v) AS printf('%x:%x',
        TRY_CAST(split_part(fs_v, '.', 1) AS INTEGER) * 256
            + TRY_CAST(split_part(fs_v, '.', 2) AS INTEGER),
        TRY_CAST(split_part(fs_v, '.', 3) AS INTEGER) * 256
            + TRY_CAST(split_part(fs_v, '.', 4) AS INTEGER))""",
    # lower case, and a dotted IPv4 tail (::ffff:1.2.3.4) as two hex groups (::ffff:102:304)
    """CREATE OR REPLACE TEMP MACRO fs_ip6text(fs_a) AS CASE WHEN contains(fs_a, '.')
        THEN regexp_replace(lower(fs_a), '[0-9.]+$', '')
            || fs_v4groups(regexp_extract(fs_a, '[0-9.]+$'))
        ELSE lower(fs_a) END""",
    # groups "a:b" -> "000a000b": prefix 000 to each, then keep each one's last four digits
    """CREATE OR REPLACE TEMP MACRO fs_pad(fs_g) AS regexp_replace(
        regexp_replace(fs_g, '([0-9a-f]+)', '000\\1', 'g'), '0*([0-9a-f]{4}):?', '\\1', 'g')""",
    """CREATE OR REPLACE TEMP MACRO fs_join(fs_h, fs_t) AS
        fs_h || repeat('0', 32 - length(fs_h) - length(fs_t)) || fs_t""",
    """CREATE OR REPLACE TEMP MACRO fs_ip6hex_(fs_s) AS
        fs_join(fs_pad(split_part(fs_s, '::', 1)), fs_pad(split_part(fs_s, '::', 2)))""",
    # 32 lower-case hex digits for any IPv6 text (zone dropped); NULL stays NULL
    """CREATE OR REPLACE TEMP MACRO fs_ip6hex(fs_a) AS
        fs_ip6hex_(fs_ip6text(split_part(fs_a, '%', 1)))""",
)

#: The distinct IPv6 texts of a column with their values: ``ip6("srcaddr")``.
Ip6Texts = Callable[[str], Sequence[tuple[str, int]]]


def address_value(text: str) -> int | None:
    """An address text as a number in the 128-bit model (IPv4 mapped); None if not one."""
    try:
        ip = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return None
    return (0xFFFF << 32) | int(ip) if ip.version == 4 else int(ip)


@dataclass
class Sql:
    """A fragment of SQL and its parameters, in order."""

    text: str
    params: list[Any] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.text)

    @property
    def where(self) -> str:
        """``WHERE <text>``, or nothing for an empty condition."""
        return f"WHERE {self.text}" if self.text else ""


def join(parts: list[Sql], op: str = "AND") -> Sql:
    """The fragments joined by ``op``, each in parentheses; empty ones skipped."""
    kept = [p for p in parts if p]
    if not kept:
        return Sql("")
    if len(kept) == 1:
        return kept[0]
    return Sql(f" {op} ".join(f"({p.text})" for p in kept), [v for p in kept for v in p.params])


FALSE = Sql("false")


def compile_filter(node: Node | None, ip6: Ip6Texts | None = None) -> Sql:
    """The condition for ``node`` (empty for no filter)."""
    return Sql("") if node is None else _compile(node, False, ip6)


def compile_time(time: TimeRange) -> Sql:
    """Flows overlapping the range: they end at or after its start and start before its end."""
    parts = []
    if time.start is not None:
        parts.append(Sql('"end_time" >= ?', [time.start]))
    if time.end is not None:
        parts.append(Sql('"start_time" < ?', [time.end]))
    return join(parts)


def compile_condition(node: Node | None, time: TimeRange, ip6: Ip6Texts | None = None) -> Sql:
    """The condition for a filter and a time range together (empty: every flow)."""
    return join([compile_filter(node, ip6), compile_time(time)])


def _compile(node: Node, negated: bool, ip6: Ip6Texts | None) -> Sql:
    if isinstance(node, And):
        return join([_compile(i, negated, ip6) for i in node.items], "AND")
    if isinstance(node, Or):
        fields = {i.field for i in node.items if isinstance(i, Equals)}
        if (
            len(fields) == 1
            and all(isinstance(i, Equals) for i in node.items)
            and not _is_list(next(iter(fields)))
        ):
            # field:(a or b or c): one IN list, which DuckDB evaluates much faster than ORs
            values = [i.value for i in node.items if isinstance(i, Equals)]
            marks = ", ".join("?" for _ in values)
            text = f"{quote(fields.pop())} IN ({marks})"
            return Sql(f"coalesce({text}, false)" if negated else text, values)
        return join([_compile(i, negated, ip6) for i in node.items], "OR")
    if isinstance(node, Not):
        inner = _compile(node.item, True, ip6)
        return Sql(f"NOT ({inner.text})", inner.params)
    leaf = _leaf(node, ip6)
    return Sql(f"coalesce({leaf.text}, false)", leaf.params) if negated else leaf


def _is_list(column: str) -> bool:
    field = QUERY_FIELDS.get(column)
    return field is not None and field.kind == "list"


def _leaf(node: Node, ip6: Ip6Texts | None) -> Sql:
    if isinstance(node, And | Or | Not):
        raise TypeError(f"not a leaf: {node!r}")
    col = quote(node.field)
    if _is_list(node.field):
        # a list matches when one of its members does (OpenSearch's meaning for arrays)
        if isinstance(node, Exists):
            return Sql(f"len({col}) > 0")
        if isinstance(node, Equals):
            return Sql(f"list_contains({col}, ?)", [node.value])
        if isinstance(node, Wildcard):
            return Sql(
                f"len(list_filter({col}, lambda fs_x: fs_x LIKE ? ESCAPE '\\')) > 0",
                [like_pattern(node.parts)],
            )
    if isinstance(node, Exists):
        return Sql(f"{col} IS NOT NULL")
    if isinstance(node, Equals):
        return Sql(f"{col} = ?", [node.value])
    if isinstance(node, Range):
        return Sql(f"{col} {node.op} ?", [node.value])
    if isinstance(node, Wildcard):
        return Sql(f"{col} LIKE ? ESCAPE '\\'", [like_pattern(node.parts)])
    return cidr_sql(node.field, node.network, ip6)


def like_pattern(parts: tuple[str, ...]) -> str:
    """A LIKE pattern: the literal parts escaped, joined by ``%``."""

    def esc(p: str) -> str:
        return p.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")

    return "%".join(esc(p) for p in parts)


def mapped(network: Network) -> ipaddress.IPv6Network:
    """The network in the 128-bit model: IPv4 a.b.c.d/n is ::ffff:a.b.c.d/(96+n)."""
    if isinstance(network, ipaddress.IPv6Network):
        return network
    value = (0xFFFF << 32) | int(network.network_address)
    return ipaddress.IPv6Network((value, 96 + network.prefixlen))


def _hex(value: int) -> str:
    return f"{value:032x}"


def _v4_sql(col: str, net: ipaddress.IPv4Network) -> Sql:
    """Dotted-quad text inside ``net`` (rows holding an IPv6 text never match)."""
    prefix = net.prefixlen
    octets = net.network_address.packed
    if prefix == 0:
        return Sql(f"(contains({col}, '.') AND NOT contains({col}, ':'))")
    if prefix == 32:
        return Sql(f"{col} = ?", [str(net.network_address)])
    whole, rest = divmod(prefix, 8)
    parts = []
    if whole:
        parts.append(Sql(f"starts_with({col}, ?)", [".".join(map(str, octets[:whole])) + "."]))
    if rest:
        low = octets[whole]
        high = low | (0xFF >> rest)
        parts.append(
            Sql(
                f"TRY_CAST(split_part({col}, '.', {whole + 1}) AS INTEGER) BETWEEN ? AND ?",
                [low, high],
            )
        )
    return join(parts)


def _v4_part(network: Network) -> ipaddress.IPv4Network | None:
    """The dotted-quad addresses inside ``network`` (in the 128-bit model), as an IPv4 block."""
    if isinstance(network, ipaddress.IPv4Network):
        return network
    if network.subnet_of(MAPPED):
        low = int(network.network_address) & 0xFFFFFFFF
        return ipaddress.IPv4Network((low, network.prefixlen - 96))
    if MAPPED.subnet_of(network):
        return ipaddress.IPv4Network("0.0.0.0/0")
    return None


def cidr_sql(column: str, network: Network, ip6: Ip6Texts | None = None) -> Sql:
    """Addresses in ``column`` (any textual form) inside ``network``; see the module docstring."""
    col = quote(column)
    net6 = mapped(network)
    low, high = int(net6.network_address), int(net6.broadcast_address)
    v4 = _v4_part(network)
    if ip6 is not None:
        texts = [text for text, value in ip6(column) if low <= value <= high]
        v6 = Sql(f"{col} IN (SELECT unnest(?::VARCHAR[]))", [texts]) if texts else Sql("")
    else:
        v6_parts = [
            Sql(f"contains({col}, ':')"),
            Sql(
                f"lpad(lower(split_part({col}, ':', 1)), 4, '0') BETWEEN ? AND ?",
                [_hex(low)[:4], _hex(high)[:4]],
            ),
        ]
        if net6.subnet_of(MAPPED):
            v6_parts.append(Sql(f"{col} ILIKE '%ffff%'"))
        if net6.prefixlen:
            v6_parts.append(Sql(f"fs_ip6hex({col}) BETWEEN ? AND ?", [_hex(low), _hex(high)]))
        v6 = join(v6_parts)
    found = join([_v4_sql(col, v4) if v4 is not None else Sql(""), v6], "OR")
    return found if found else FALSE
