"""Read-only SQL over the embedded store, and the overview printed after a load."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import duckdb

from flowscope.engines.duckdb.store import DuckStore
from flowscope.errors import QueryError


@dataclass
class Rows:
    columns: list[str]
    rows: list[tuple[Any, ...]]


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


def list_rejects(store: DuckStore, limit: int = 50) -> Rows:
    """Records set aside, in load and line order."""
    return run_sql(
        store,
        "SELECT source, line, reason, raw FROM rejects ORDER BY load_id, line LIMIT ?",
        params=[limit],
    )


def list_loads(store: DuckStore, limit: int = 50) -> Rows:
    """The loads ledger, newest first."""
    return run_sql(
        store,
        "SELECT load_id, source, rows, rejects, layout, notes, finished FROM loads "
        "ORDER BY load_id DESC LIMIT ?",
        params=[limit],
    )


def overview(store: DuckStore) -> dict[str, Any]:
    """Counts, time range and a few top lists: what a user wants to see after a load."""
    with store.read() as con:
        total, first, last, nbytes = con.execute(
            "SELECT count(*), min(start_time), max(end_time), sum(bytes) FROM flows"
        ).fetchall()[0]
        by_action = con.execute(
            "SELECT coalesce(action, '-') AS action, count(*) FROM flows GROUP BY 1 ORDER BY 2 DESC"
        ).fetchall()
        by_status = con.execute(
            "SELECT log_status, count(*) FROM flows GROUP BY 1 ORDER BY 2 DESC"
        ).fetchall()
        ports = con.execute(
            "SELECT dstport, protocol_name, count(*) FROM flows WHERE dstport IS NOT NULL "
            "GROUP BY ALL ORDER BY 3 DESC LIMIT 5"
        ).fetchall()
        rejected = con.execute("SELECT count(*) FROM rejects").fetchall()[0]
        loads = con.execute("SELECT count(*) FROM loads").fetchall()[0]
    return {
        "flows": total,
        "first": first,
        "last": last,
        "bytes": nbytes or 0,
        "by_action": dict(by_action),
        "by_status": dict(by_status),
        "top_dstports": [{"dstport": p, "protocol": n, "flows": c} for p, n, c in ports],
        "rejects": rejected[0] if rejected else 0,
        "loads": loads[0] if loads else 0,
    }
