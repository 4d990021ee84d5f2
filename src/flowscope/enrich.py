"""Columns computed from the AWS fields at ingest: UTC times, protocol names, TCP flag names,
and, when the store knows an estate, who each end is (:mod:`flowscope.estate.resolve`).

Vectorised lookups: the protocol number and the tcp-flags value are already checked to lie in
0..255, so each derived column is one ``take`` from a 256-entry table; endpoints are resolved
once per distinct (address, slot) of a batch.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from flowscope.estate.resolve import Estate
from flowscope.parse.text import Parsed
from flowscope.schema import DERIVED, ESTATE_DERIVED, PROTOCOL_TABLE, TCP_FLAGS_TABLE

_PROTOCOLS = pa.array(PROTOCOL_TABLE, pa.string())
_TCP_FLAGS = pa.array(TCP_FLAGS_TABLE, pa.string())
_TYPES = {d.column: d.arrow_type for d in DERIVED}


def _lookup(table: pa.Table, column: str, names: pa.Array) -> pa.Array | pa.ChunkedArray:
    if column not in table.column_names:
        return pa.nulls(table.num_rows, pa.string())
    return pc.take(names, table.column(column))


def _time(table: pa.Table, column: str) -> pa.Array | pa.ChunkedArray:
    if column not in table.column_names:
        return pa.nulls(table.num_rows, _TYPES["start_time"])
    return pc.cast(table.column(column), _TYPES["start_time"])


def enrich(table: pa.Table) -> pa.Table:
    """``table`` plus the derived columns (NULL where the source field is absent, and the
    estate's columns NULL: :func:`enrich_parsed` fills them)."""
    table = (
        table.append_column("start_time", _time(table, "start"))
        .append_column("end_time", _time(table, "end"))
        .append_column("protocol_name", _lookup(table, "protocol", _PROTOCOLS))
        .append_column("tcp_flags_names", _lookup(table, "tcp_flags", _TCP_FLAGS))
    )
    for column in ESTATE_DERIVED:
        table = table.append_column(column, pa.nulls(table.num_rows, pa.string()))
    return table


def enrich_parsed(parsed: Parsed, estate: Estate | None = None) -> Parsed:
    """A parsed batch with its derived columns, and its endpoints when ``estate`` knows any."""
    table = enrich(parsed.table)
    if estate is None or estate.empty or not table.num_rows:
        return Parsed(table, parsed.rejects)
    found = estate.endpoints(table)
    for column in ESTATE_DERIVED:
        table = table.set_column(table.column_names.index(column), column, found.scope[column])
    return Parsed(table, parsed.rejects, found)
