"""The fields a query may name: every column of ``flows``, its kind, and the names users type.

A field is found by its column name (``interface_id``), its AWS name (``interface-id``) or the
CloudWatch Logs Insights name (``interfaceId``): all three reduce to the same key once case,
``-`` and ``_`` are dropped. Kinds decide what a filter value means: a number, text, an address
(CIDR), or a time. Every backend reads this table; none spells field names again.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any, Literal

from flowscope.errors import QueryError
from flowscope.schema import DERIVED, ENDPOINT_COLUMNS, FIELDS, LOAD_ID, PROTOCOL_NAMES

QueryKind = Literal["int", "long", "str", "ip", "time", "list"]

INT32 = (-(2**31), 2**31 - 1)
INT64 = (-(2**63), 2**63 - 1)


@dataclass(frozen=True)
class QueryField:
    """A column as queries see it."""

    name: str
    kind: QueryKind
    aws_name: str | None = None
    version: int | None = None
    enum: tuple[str, ...] | None = None
    max_value: int | None = None
    doc: str = ""
    #: Known from the estate (an endpoint attribute: src_name...), not read from the record.
    endpoint: bool = False

    @property
    def numeric(self) -> bool:
        return self.kind in ("int", "long")

    @property
    def bounds(self) -> tuple[int, int]:
        low, high = INT32 if self.kind == "int" else INT64
        return (0 if self.max_value is not None else low), (self.max_value or high)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "aws_name": self.aws_name,
            "version": self.version,
            "enum": list(self.enum) if self.enum else None,
            "doc": self.doc,
            "endpoint": self.endpoint,
        }


def _key(name: str) -> str:
    return name.lower().replace("-", "").replace("_", "")


def _build() -> dict[str, QueryField]:
    out: dict[str, QueryField] = {}
    for f in FIELDS:
        out[f.column] = QueryField(
            f.column,
            f.kind,
            aws_name=f.name,
            version=f.version,
            enum=tuple(sorted(f.enum)) if f.enum else None,
            max_value=f.max_value,
            doc=f"${{{f.name}}} (flow log version {f.version})",
        )
    for d in DERIVED:
        kind: QueryKind = "time" if d.sql_type == "TIMESTAMPTZ" else "str"
        out[d.column] = QueryField(d.column, kind, doc=d.doc.replace("`", ""))
    out[LOAD_ID] = QueryField(LOAD_ID, "long", doc="the load that brought the record in")
    for column, a in ENDPOINT_COLUMNS.items():
        kinds: dict[str, QueryKind] = {"VARCHAR": "str", "BIGINT": "long", "VARCHAR[]": "list"}
        side = "srcaddr" if column.startswith("src_") else "dstaddr"
        out[column] = QueryField(column, kinds[a.sql_type], doc=f"{side}: {a.doc}", endpoint=True)
    for column in ("src_scope", "dst_scope"):
        out[column] = QueryField(
            column,
            "str",
            enum=("aws-service", "internet", "other-vpc", "private", "same-vpc", "special"),
            doc=out[column].doc,
            endpoint=True,
        )
    return out


#: Every queryable field by column name, in the order of the ``flows`` columns.
QUERY_FIELDS: dict[str, QueryField] = _build()

_BY_KEY: dict[str, QueryField] = {_key(f.name): f for f in QUERY_FIELDS.values()}
assert len(_BY_KEY) == len(QUERY_FIELDS), "two fields reduce to the same lookup key"

#: Field names accepted for ``protocol``: IANA names, matched case-insensitively.
PROTOCOL_BY_NAME: dict[str, int] = {name: number for number, name in PROTOCOL_NAMES.items()}


def lookup(name: str) -> QueryField | None:
    """The field called ``name`` (column, AWS or camelCase name), or None."""
    return _BY_KEY.get(_key(name))


def suggest(name: str) -> str | None:
    """The closest field name to a misspelt ``name``, if any is close."""
    keys = difflib.get_close_matches(_key(name), list(_BY_KEY), n=1, cutoff=0.6)
    return _BY_KEY[keys[0]].name if keys else None


def resolve(name: str, position: int | None = None) -> QueryField:
    """The field called ``name``; a QueryError naming the closest field otherwise."""
    found = lookup(name)
    if found is not None:
        return found
    close = suggest(name)
    hint = f" (did you mean {close}?)" if close else ""
    raise QueryError(
        f"unknown field {name!r}{hint}",
        position=position,
        hint=None if close else "flowscope fields lists them",
    )


def columns(names: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """The column names for field names as users type them (aliases resolved)."""
    return tuple(resolve(n.strip()).name for n in names if n.strip())
