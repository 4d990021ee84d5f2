"""Read-only SQL over the embedded store: ``flowscope sql``.

``run_sql`` is what ``flowscope sql`` runs: a user's query on a read-only connection that can
read the store's own tables and nothing else. Before the query, the connection turns off every
way out of the file (:data:`SANDBOX`: no file or network access, so no ``COPY … TO``, ``EXPORT
DATABASE``, ``read_csv('/etc/passwd')``, ``ATTACH``, ``INSTALL`` or ``CREATE SECRET``; no
extension loading) and then locks its configuration so the query cannot turn them back on. The
query runs under a time limit (a watchdog interrupts it) and returns at most ``row_cap`` rows.
"""

from __future__ import annotations

from typing import Any

import duckdb

from flowscope.engines.base import Rows
from flowscope.engines.duckdb.query import watchdog
from flowscope.engines.duckdb.store import DuckStore
from flowscope.errors import QueryError

#: The settings a user's query runs under; the last one makes the others permanent for the
#: connection's database (https://duckdb.org/docs/stable/operations_manual/securing_duckdb/).
SANDBOX = (
    "SET enable_external_access = false",
    "SET autoinstall_known_extensions = false",
    "SET autoload_known_extensions = false",
    "SET allow_community_extensions = false",
    "SET lock_configuration = true",
)


def run_sql(
    store: DuckStore,
    text: str,
    limit: int | None = None,
    params: list[Any] | None = None,
    *,
    timeout: float | None = None,
) -> Rows:
    """Run ``text`` on a sandboxed read-only connection (see the module doc).

    At most ``limit`` rows come back (``truncated`` says whether there were more); the query is
    stopped with :class:`~flowscope.errors.QueryTimeout` after ``timeout`` seconds.
    """
    # A fresh connection, never serve's warm one: the sandbox is locked for its whole database.
    with store.read() as con:
        for setting in SANDBOX:
            con.execute(setting).fetchall()
        with watchdog(con, timeout):
            try:
                cur = con.execute(text, params or [])
            except duckdb.PermissionException as e:
                raise QueryError(
                    "flowscope sql reads the store's tables only: " + _first_line(e),
                    hint="it cannot write files, read other files, reach the network or install "
                    "extensions",
                ) from e
            except duckdb.Error as e:
                msg = _first_line(e)
                if "read-only" in msg or "configuration has been locked" in msg:
                    raise QueryError(
                        "flowscope sql is read-only: " + msg,
                        hint="load data with flowscope ingest",
                    ) from e
                raise  # the watchdog tells a time limit from a mistake
            if cur.description is None:
                return Rows([], [])
            cols = [d[0] for d in cur.description]
            if limit is None:
                return Rows(cols, cur.fetchall())
            rows = cur.fetchmany(limit + 1)
            cur.close()
            return Rows(cols, rows[:limit], truncated=len(rows) > limit)


def _first_line(e: Exception) -> str:
    return str(e).splitlines()[0]
