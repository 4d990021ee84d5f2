"""The flow record: every field of every VPC Flow Logs version, and the columns flowscope adds.

This module owns the catalogue of AWS field names (``${tcp-flags}``), the column names the store
uses (AWS's Athena names: the field name with ``-`` replaced by ``_``), their types (Arrow and
DuckDB), and the small lookup tables behind the derived columns: the IANA protocol names and the
decoded TCP flags. Everything else (parsers, stores, query compilers) reads these tables instead
of spelling field names again. Source: ``shared/docs/vpc-flow-logs.md`` section 1.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Literal

import pyarrow as pa

Kind = Literal["int", "long", "str", "ip"]


@dataclass(frozen=True)
class Field:
    """One AWS flow-log field: its ``${name}``, its column, its kind and the version adding it."""

    name: str
    version: int
    kind: Kind
    enum: frozenset[str] | None = None
    max_value: int | None = None

    @property
    def column(self) -> str:
        return self.name.replace("-", "_")

    @property
    def arrow_type(self) -> pa.DataType:
        return _ARROW[self.kind]

    @property
    def sql_type(self) -> str:
        return _SQL[self.kind]


_ARROW: dict[Kind, pa.DataType] = {
    "int": pa.int32(),
    "long": pa.int64(),
    "str": pa.string(),
    "ip": pa.string(),
}
_SQL: dict[Kind, str] = {"int": "INTEGER", "long": "BIGINT", "str": "VARCHAR", "ip": "VARCHAR"}


def _f(
    names: str,
    version: int,
    kind: Kind = "str",
    *,
    enum: set[str] | None = None,
    max_value: int | None = None,
) -> list[Field]:
    frozen = frozenset(enum) if enum else None
    return [Field(n, version, kind, frozen, max_value) for n in names.split()]


#: The last second ``start``/``end`` may name: 9999-12-31T23:59:59Z. AWS writes Unix seconds of
#: today; later times are beyond what DuckDB's TIMESTAMPTZ (year 294247) and Python's datetime
#: (year 9999) hold, so such a record is set aside, never stored.
MAX_EPOCH = 253_402_300_799

FIELDS: tuple[Field, ...] = tuple(
    _f("version", 2, "int", max_value=255)
    + _f("account-id interface-id", 2)
    + _f("srcaddr dstaddr", 2, "ip")
    + _f("srcport dstport", 2, "int", max_value=65535)
    + _f("protocol", 2, "int", max_value=255)
    + _f("packets bytes", 2, "long")
    + _f("start end", 2, "long", max_value=MAX_EPOCH)
    + _f("action", 2, enum={"ACCEPT", "REJECT"})
    + _f("log-status", 2, enum={"OK", "NODATA", "SKIPDATA"})
    + _f("vpc-id subnet-id instance-id", 3)
    + _f("tcp-flags", 3, "int", max_value=255)
    + _f("type", 3)
    + _f("pkt-srcaddr pkt-dstaddr", 3, "ip")
    + _f("region az-id sublocation-type sublocation-id", 4)
    + _f("pkt-src-aws-service pkt-dst-aws-service", 5)
    + _f("flow-direction", 5, enum={"ingress", "egress"})
    + _f("traffic-path", 5, "int", max_value=255)
    + _f(
        "resource-type tgw-id tgw-attachment-id tgw-src-vpc-account-id tgw-dst-vpc-account-id"
        " tgw-src-vpc-id tgw-dst-vpc-id tgw-src-subnet-id tgw-dst-subnet-id tgw-src-eni"
        " tgw-dst-eni tgw-src-az-id tgw-dst-az-id tgw-pair-attachment-id",
        6,
    )
    + _f(
        "packets-lost-no-route packets-lost-blackhole packets-lost-mtu-exceeded"
        " packets-lost-ttl-expired",
        6,
        "long",
    )
    + _f(
        "ecs-cluster-arn ecs-cluster-name ecs-container-instance-arn ecs-container-instance-id"
        " ecs-container-id ecs-second-container-id ecs-service-name ecs-task-definition-arn"
        " ecs-task-arn ecs-task-id",
        7,
    )
    + _f("reject-reason", 8)
    + _f("resource-id", 9)
    + _f("encryption-status", 10, "int", max_value=255)
    + _f(
        "instance-tag instance-tag-2 interface-tag interface-tag-2 asg-tag asg-tag-2"
        " interface-type next-hop-interface-id next-hop-subnet-id next-hop-az-id"
        " next-hop-vpc-id next-hop-interface-type",
        11,
    )
)

BY_NAME: dict[str, Field] = {f.name: f for f in FIELDS}
BY_COLUMN: dict[str, Field] = {f.column: f for f in FIELDS}

DEFAULT_FORMAT_FIELDS: tuple[str, ...] = tuple(
    "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes"
    " start end action log-status".split()
)
DEFAULT_FORMAT = " ".join(f"${{{n}}}" for n in DEFAULT_FORMAT_FIELDS)


@dataclass(frozen=True)
class Derived:
    """A column flowscope computes from the AWS fields at ingest time."""

    column: str
    sql_type: str
    arrow_type: pa.DataType
    doc: str


DERIVED: tuple[Derived, ...] = (
    Derived("start_time", "TIMESTAMPTZ", pa.timestamp("s", tz="UTC"), "`start` as a UTC time"),
    Derived("end_time", "TIMESTAMPTZ", pa.timestamp("s", tz="UTC"), "`end` as a UTC time"),
    Derived("protocol_name", "VARCHAR", pa.string(), "IANA name of `protocol` (tcp, udp, icmp…)"),
    Derived(
        "tcp_flags_names",
        "VARCHAR",
        pa.string(),
        "decoded `tcp_flags`: SYN, SYN-ACK, FIN, RST joined by '|'",
    ),
    Derived(
        "src_scope",
        "VARCHAR",
        pa.string(),
        "where srcaddr sits: same-vpc, other-vpc, aws-service, internet, special, private",
    ),
    Derived(
        "dst_scope",
        "VARCHAR",
        pa.string(),
        "where dstaddr sits: same-vpc, other-vpc, aws-service, internet, special, private",
    ),
)

#: Derived columns the estate computes (NULL without one): the embedded store skips them
#: when a batch has no value, as it skips absent fields.
ESTATE_DERIVED = ("src_scope", "dst_scope")


@dataclass(frozen=True)
class Attribute:
    """What the estate knows about one end of a flow (a column per side: ``src_name``...).
    The embedded store looks them up at query time from its ``endpoints`` table; a document
    store keeps them in each document."""

    name: str
    sql_type: str
    arrow_type: pa.DataType
    doc: str


ENDPOINT_ATTRIBUTES: tuple[Attribute, ...] = (
    Attribute("name", "VARCHAR", pa.string(), "who it is: web-1, nat-0a1b, S3 (eu-west-1)…"),
    Attribute("kind", "VARCHAR", pa.string(), "instance, nat-gateway, load-balancer, internet…"),
    Attribute("resource_id", "VARCHAR", pa.string(), "the AWS resource holding the address"),
    Attribute("vpc_id", "VARCHAR", pa.string(), "its VPC (inventory, or the VPC CIDR it is in)"),
    Attribute("subnet_id", "VARCHAR", pa.string(), "its subnet"),
    Attribute("az", "VARCHAR", pa.string(), "its availability zone"),
    Attribute(
        "security_groups", "VARCHAR[]", pa.list_(pa.string()), "its security groups (a list)"
    ),
    Attribute("service", "VARCHAR", pa.string(), "AWS service of its prefix (ip-ranges.json)"),
    Attribute("country", "VARCHAR", pa.string(), "country, ISO 3166-1 alpha-2 (public only)"),
    Attribute("asn", "BIGINT", pa.int64(), "autonomous system number (public only)"),
    Attribute("as_org", "VARCHAR", pa.string(), "autonomous system organisation"),
    Attribute("network", "VARCHAR", pa.string(), "your name for its network (networks file)"),
)
SIDES = ("src", "dst")
#: ``src_name`` ... ``dst_network``: the attribute columns of both sides.
ENDPOINT_COLUMNS: dict[str, Attribute] = {
    f"{side}_{a.name}": a for side in SIDES for a in ENDPOINT_ATTRIBUTES
}

#: The embedded store's endpoint ids: per side, the row of its ``endpoints`` table naming the
#: address as of the flow's start (see :mod:`flowscope.estate.resolve`).
ENDPOINT_IDS = ("src_ep", "dst_ep")

#: Provenance column: which load (row of the ``loads`` table) brought the row in.
LOAD_ID = "load_id"

COLUMNS: tuple[str, ...] = tuple(f.column for f in FIELDS) + tuple(d.column for d in DERIVED)


def arrow_schema() -> pa.Schema:
    """The Arrow schema of a parsed, enriched batch (every column, in store order)."""
    return pa.schema(
        [pa.field(f.column, f.arrow_type) for f in FIELDS]
        + [pa.field(d.column, d.arrow_type) for d in DERIVED]
    )


# IANA protocol numbers most often seen in flow logs; others are named by number.
# https://www.iana.org/assignments/protocol-numbers/protocol-numbers.xhtml
PROTOCOL_NAMES: dict[int, str] = {
    0: "hopopt",
    1: "icmp",
    2: "igmp",
    4: "ipv4",
    6: "tcp",
    8: "egp",
    9: "igp",
    17: "udp",
    27: "rdp",
    33: "dccp",
    41: "ipv6",
    43: "ipv6-route",
    44: "ipv6-frag",
    46: "rsvp",
    47: "gre",
    50: "esp",
    51: "ah",
    58: "ipv6-icmp",
    59: "ipv6-nonxt",
    60: "ipv6-opts",
    88: "eigrp",
    89: "ospf",
    94: "ipip",
    97: "etherip",
    103: "pim",
    112: "vrrp",
    115: "l2tp",
    132: "sctp",
    136: "udplite",
    137: "mpls-in-ip",
}
PROTOCOL_NUMBERS: dict[str, int] = {v: k for k, v in PROTOCOL_NAMES.items()}


def protocol_name(number: int) -> str:
    return PROTOCOL_NAMES.get(number, str(number))


# tcp-flags bits logged by AWS (section 2.3): FIN=1, SYN=2, RST=4, and SYN-ACK=18 (0x12).
def tcp_flags_names(value: int) -> str:
    """Decode an OR-ed tcp-flags value: 19 -> 'SYN-ACK|FIN', 3 -> 'SYN|FIN', 0 -> ''."""
    names: list[str] = []
    if value & 0x12 == 0x12:
        names.append("SYN-ACK")
    elif value & 0x02:
        names.append("SYN")
    if value & 0x01:
        names.append("FIN")
    if value & 0x04:
        names.append("RST")
    return "|".join(names)


PROTOCOL_TABLE: tuple[str, ...] = tuple(protocol_name(i) for i in range(256))
TCP_FLAGS_TABLE: tuple[str, ...] = tuple(tcp_flags_names(i) for i in range(256))


SQL_TYPES: dict[str, str] = (
    {f.column: f.sql_type for f in FIELDS}
    | {d.column: d.sql_type for d in DERIVED}
    | {LOAD_ID: "BIGINT"}
    | {c: "INTEGER" for c in ENDPOINT_IDS}
)

#: Every column of the ``flows`` view, in order: AWS fields, derived columns, load_id, and the
#: endpoint ids.
ALL_COLUMNS: tuple[str, ...] = COLUMNS + (LOAD_ID,) + ENDPOINT_IDS


def quote(column: str) -> str:
    return '"' + column.replace('"', '""') + '"'


def create_table_sql(table: str, columns: tuple[str, ...]) -> str:
    cols = [f"{quote(c)} {SQL_TYPES[c]}" for c in columns]
    return f"CREATE TABLE {quote(table)} (" + ", ".join(cols) + ")"


def select_sql(table: str, have: Collection[str], columns: Iterable[str], extra: str = "") -> str:
    """``SELECT columns FROM table``, a typed NULL for each column the table does not have."""
    cols = ", ".join(
        quote(c) if c in have else f"NULL::{SQL_TYPES[c]} AS {quote(c)}" for c in columns
    )
    return f"SELECT {cols}{extra} FROM {quote(table)}"


def flows_view_sql(tables: list[tuple[str, tuple[str, ...]]]) -> str:
    """The ``flows`` view: every column, over the per-layout tables (NULL where absent)."""
    if not tables:
        body = (
            "SELECT "
            + ", ".join(f"NULL::{SQL_TYPES[c]} AS {quote(c)}" for c in ALL_COLUMNS)
            + " WHERE false"
        )
    else:
        body = "\nUNION ALL\n".join(
            select_sql(name, set(cols), ALL_COLUMNS) for name, cols in tables
        )
    return "CREATE OR REPLACE VIEW flows AS\n" + body
