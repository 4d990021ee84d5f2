"""Columns computed from the AWS fields at ingest: UTC times, protocol names, TCP flag names.

Vectorised lookups: the protocol number and the tcp-flags value are already checked to lie in
0..255, so each derived column is one ``take`` from a 256-entry table.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from flowscope.schema import DERIVED, PROTOCOL_TABLE, TCP_FLAGS_TABLE

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
    """``table`` plus the derived columns (NULL where the source field is absent)."""
    return (
        table.append_column("start_time", _time(table, "start"))
        .append_column("end_time", _time(table, "end"))
        .append_column("protocol_name", _lookup(table, "protocol", _PROTOCOLS))
        .append_column("tcp_flags_names", _lookup(table, "tcp_flags", _TCP_FLAGS))
    )
