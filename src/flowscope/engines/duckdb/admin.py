"""Read-only SQL over the embedded store: ``flowscope sql``."""

from __future__ import annotations

from typing import Any

import duckdb

from flowscope.engines.base import Rows
from flowscope.engines.duckdb.store import DuckStore
from flowscope.errors import QueryError


def run_sql(
    store: DuckStore, text: str, limit: int | None = None, params: list[Any] | None = None
) -> Rows:
    """Run ``text`` on a read-only connection: writes fail with a clear error."""
    with store.read() as con:
        try:
            cur = con.execute(text, params or [])
        except duckdb.Error as e:
            msg = str(e).splitlines()[0]
            if "read-only" in msg:
                raise QueryError(
                    "flowscope sql is read-only: " + msg, hint="load data with flowscope ingest"
                ) from e
            raise QueryError(msg) from e
        if cur.description is None:
            return Rows([], [])
        cols = [d[0] for d in cur.description]
        rows = cur.fetchall() if limit is None else cur.fetchmany(limit)
        return Rows(cols, rows)
