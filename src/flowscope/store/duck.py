"""The embedded store: one DuckDB file holding flows, rejects, the loads ledger and cursors.

Tables::

    flows    a view, one row per flow record; a column for every field of every version
             (Athena names), the derived columns, and load_id (the load that brought the row in)
    flows_N  the physical tables behind it, one per distinct set of columns (layout); DuckDB
             inserts NULL columns slowly, so a v2 file does not pay for the 60 columns it lacks
    layouts  which flows_N table holds which columns
    rejects  records set aside: load_id, source, line, reason, raw text
    loads    the ledger: one row per committed load (source, identity, rows, rejects, times)
    cursors  per-source resume points, committed in the same transaction as their rows
    meta     schema version

DuckDB lets one process open a file for writing while no other process may open it at all, so
every connection here is short-lived: readers open the file read-only for one query and retry
while a writer holds it; writers commit a load at a time and, between loads, step aside when a
reader has left a ``.readers`` marker saying it is waiting. ``follow`` and ``serve`` can
therefore run on the same file at once.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from flowscope.enrich import enrich
from flowscope.errors import StoreBusy, StoreError
from flowscope.parse.text import Parsed, Reject
from flowscope.schema import (
    ALL_COLUMNS,
    LOAD_ID,
    create_table_sql,
    flows_view_sql,
    quote,
)
from flowscope.store.base import LoadRecord

log = logging.getLogger(__name__)

SCHEMA_VERSION = "1"
_LOCK_RE = re.compile(r"lock", re.IGNORECASE)
_PID_RE = re.compile(r"PID (\d+)")

_DDL = [
    "CREATE TABLE IF NOT EXISTS layouts (name VARCHAR PRIMARY KEY, columns VARCHAR)",
    "CREATE SEQUENCE IF NOT EXISTS load_ids START 1",
    """CREATE TABLE IF NOT EXISTS loads (
        load_id BIGINT PRIMARY KEY, source VARCHAR, identity VARCHAR, layout VARCHAR,
        rows BIGINT, rejects BIGINT, notes VARCHAR,
        started TIMESTAMPTZ, finished TIMESTAMPTZ)""",
    """CREATE TABLE IF NOT EXISTS rejects (
        load_id BIGINT, source VARCHAR, line BIGINT, reason VARCHAR, raw VARCHAR)""",
    """CREATE TABLE IF NOT EXISTS cursors (
        source_key VARCHAR PRIMARY KEY, cursor VARCHAR, updated TIMESTAMPTZ)""",
    "CREATE TABLE IF NOT EXISTS meta (key VARCHAR PRIMARY KEY, value VARCHAR)",
]

_DERIVED_FROM = {
    "start_time": "start",
    "end_time": "end",
    "protocol_name": "protocol",
    "tcp_flags_names": "tcp_flags",
}

_REJECT_SCHEMA = pa.schema(
    [
        ("load_id", pa.int64()),
        ("source", pa.string()),
        ("line", pa.int64()),
        ("reason", pa.string()),
        ("raw", pa.string()),
    ]
)


def _run(
    con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None
) -> list[tuple[Any, ...]]:
    """Execute a statement to completion and return its rows.

    DuckDB 2 streams results: a connection refuses other work until the last result has been
    fetched to the end, so every statement here goes through this function.
    """
    return con.execute(sql, params or []).fetchall()


def _one(
    con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None
) -> tuple[Any, ...] | None:
    rows = _run(con, sql, params)
    return rows[0] if rows else None


def _is_lock_error(e: Exception) -> bool:
    return isinstance(e, duckdb.IOException) and bool(_LOCK_RE.search(str(e)))


class DuckStore:
    """A flowscope store in a DuckDB file at ``path``."""

    kind = "duckdb"

    def __init__(
        self, path: Path, *, lock_timeout: float = 30.0, memory_limit: str = "1GB"
    ) -> None:
        self.path = path
        self.lock_timeout = lock_timeout
        self.memory_limit = memory_limit
        self.marker = Path(f"{path}.readers")

    @property
    def url(self) -> str:
        return str(self.path)

    def exists(self) -> bool:
        return self.path.exists()

    def _connect(self, read_only: bool, timeout: float) -> duckdb.DuckDBPyConnection:
        deadline = time.monotonic() + timeout
        delay = 0.02
        while True:
            try:
                con = duckdb.connect(
                    str(self.path), read_only=read_only, config={"memory_limit": self.memory_limit}
                )
                return con
            except duckdb.Error as e:
                if not _is_lock_error(e):
                    raise StoreError(f"cannot open store {self.path}: {e}") from e
                if read_only:
                    with suppress(OSError):
                        self.marker.touch()
                if time.monotonic() >= deadline:
                    pid = _PID_RE.search(str(e))
                    who = f"process {pid.group(1)}" if pid else "another process"
                    raise StoreBusy(
                        f"store {self.path} is held by {who} for longer than {timeout:g}s",
                        hint="a long ingest holds the file while it writes; try again, or "
                        "raise FLOWSCOPE_LOCK_TIMEOUT",
                    ) from e
                time.sleep(delay)
                delay = min(delay * 1.5, 0.25)

    @contextmanager
    def read(self, timeout: float | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-only connection for the duration of the block."""
        if not self.path.exists():
            raise StoreError(
                f"store {self.path} does not exist",
                hint="load data first: flowscope ingest FILE, or flowscope demo",
            )
        con = self._connect(True, self.lock_timeout if timeout is None else timeout)
        try:
            yield con
        finally:
            con.close()

    @contextmanager
    def write(self) -> Iterator[DuckWriter]:
        """A writer; loads are committed one by one, each with its rows, rejects and cursor."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        writer = DuckWriter(self)
        try:
            yield writer
        finally:
            writer.close()


class DuckWriter:
    def __init__(self, store: DuckStore) -> None:
        self.store = store
        self.con: duckdb.DuckDBPyConnection | None = None
        self._open()

    def _open(self) -> None:
        con = self.store._connect(False, self.store.lock_timeout)
        _run(con, "SET preserve_insertion_order = false")
        for ddl in _DDL:
            _run(con, ddl)
        _run(con, "INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", [SCHEMA_VERSION])
        if not _one(
            con,
            "SELECT 1 FROM duckdb_views() WHERE view_name = 'flows' "
            "AND database_name = current_database()",
        ):
            _run(con, flows_view_sql([]))
        self.con = con

    def close(self) -> None:
        if self.con is not None:
            self.con.close()
            self.con = None

    @property
    def c(self) -> duckdb.DuckDBPyConnection:
        if self.con is None:
            self._open()
        assert self.con is not None
        return self.con

    def yield_to_readers(self, pause: float = 0.3) -> None:
        """Close the file for a moment if a reader has said (recently) that it is waiting."""
        try:
            waited = time.time() - self.store.marker.stat().st_mtime
        except OSError:
            return
        if waited > 5:
            return
        with suppress(OSError):
            self.store.marker.unlink()
        self.close()
        time.sleep(pause)

    def loaded(self, identity: str) -> LoadRecord | None:
        row = _one(
            self.c,
            "SELECT load_id, source, rows, rejects, finished FROM loads WHERE identity = ? "
            "ORDER BY load_id LIMIT 1",
            [identity],
        )
        return LoadRecord(*row) if row else None

    def cursor(self, key: str) -> dict[str, Any] | None:
        row = _one(self.c, "SELECT cursor FROM cursors WHERE source_key = ?", [key])
        return json.loads(row[0]) if row else None

    @contextmanager
    def load(self, source: str, identity: str | None, layout: str = "") -> Iterator[Load]:
        """One all-or-nothing load: rows, rejects, ledger row and cursor commit together."""
        con = self.c
        load_id = int(_run(con, "SELECT nextval('load_ids')")[0][0])
        con.begin()
        job = Load(con, load_id, source, identity, layout, tables=self._tables)
        try:
            yield job
            job.finish()
            con.commit()
        except BaseException:
            job.close()
            with suppress(duckdb.Error):
                con.rollback()
            raise
        finally:
            job.close()

    def _tables(self, columns: tuple[str, ...]) -> str:
        """The physical table for rows with exactly ``columns``, created on first use."""
        con = self.c
        key = ",".join(columns)
        row = _one(con, "SELECT name FROM layouts WHERE columns = ?", [key])
        if row:
            return str(row[0])
        count = _one(con, "SELECT count(*) FROM layouts")
        name = f"flows_{(count[0] if count else 0) + 1}"
        _run(con, create_table_sql(name, columns))
        _run(con, "INSERT INTO layouts VALUES (?, ?)", [name, key])
        tables = [
            (str(n), tuple(str(c).split(",")))
            for n, c in _run(con, "SELECT name, columns FROM layouts ORDER BY name")
        ]
        _run(con, flows_view_sql(tables))
        return name


#: Rows buffered before an INSERT: DuckDB appends large batches much faster than small ones.
FLUSH_ROWS = 500_000


@dataclass
class Load:
    con: duckdb.DuckDBPyConnection
    load_id: int
    source: str
    identity: str | None
    layout: str
    tables: Callable[[tuple[str, ...]], str]
    rows: int = 0
    rejected: int = 0
    notes: list[str] = field(default_factory=list)
    cursors: dict[str, dict[str, Any]] = field(default_factory=dict)
    started: datetime = field(default_factory=lambda: datetime.now(UTC))
    _pending: list[pa.Table] = field(default_factory=list)
    _pending_rows: int = 0
    # Inserts run on one background thread (DuckDB releases the GIL) so that parsing the next
    # block overlaps storing the last; at most one insert is in flight, and every other use
    # of the connection waits for it first.
    _pool: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(1, thread_name_prefix="flowscope-insert")
    )
    _inflight: Future[None] | None = None

    def wait(self) -> None:
        """Wait for the insert in flight; its error, if any, is raised here."""
        inflight, self._inflight = self._inflight, None
        if inflight is not None:
            inflight.result()

    def close(self) -> None:
        with suppress(BaseException):
            self.wait()
        self._pool.shutdown(wait=True)

    def append(self, parsed: Parsed, source: str | None = None) -> None:
        table = parsed.table
        if table.num_rows:
            if self._pending and self._pending[0].schema != table.schema:
                self.flush()
            self._pending.append(table)
            self._pending_rows += table.num_rows
            self.rows += table.num_rows
            if self._pending_rows >= FLUSH_ROWS:
                self.flush()
        if parsed.rejects:
            self.add_rejects(parsed.rejects, source)

    def flush(self) -> None:
        if not self._pending:
            return
        batch = enrich(pa.concat_tables(self._pending))
        self._pending, self._pending_rows = [], 0
        self.wait()
        keep = [
            c
            for c in ALL_COLUMNS
            if c in batch.column_names
            and c != LOAD_ID
            and (c not in _DERIVED_FROM or _DERIVED_FROM[c] in batch.column_names)
        ]
        table = self.tables((*keep, LOAD_ID))
        cols = ", ".join(quote(c) for c in keep)
        self._inflight = self._pool.submit(
            self._insert_arrow,
            f"INSERT INTO {quote(table)} ({cols}, {LOAD_ID}) "
            f"SELECT {cols}, {self.load_id}::BIGINT FROM {{}}",
            batch.select(keep),
        )

    def _insert_arrow(self, sql: str, data: pa.Table) -> None:
        name = f"_flowscope_batch_{self.load_id}"
        self.con.register(name, data)
        try:
            _run(self.con, sql.format(name))
        finally:
            self.con.unregister(name)

    def add_rejects(self, rejects: list[Reject], source: str | None = None) -> None:
        src = source or self.source
        rej = pa.Table.from_pylist(
            [
                {
                    "load_id": self.load_id,
                    "source": src,
                    "line": r.line,
                    "reason": r.reason,
                    "raw": r.raw,
                }
                for r in rejects
            ],
            schema=_REJECT_SCHEMA,
        )
        self.wait()
        self._insert_arrow("INSERT INTO rejects SELECT * FROM {}", rej)
        self.rejected += len(rejects)

    def set_cursor(self, key: str, value: dict[str, Any]) -> None:
        self.cursors[key] = value

    def finish(self) -> None:
        self.flush()
        self.wait()
        for key, value in self.cursors.items():
            _run(
                self.con,
                "INSERT OR REPLACE INTO cursors VALUES (?, ?, ?)",
                [key, json.dumps(value, sort_keys=True), datetime.now(UTC)],
            )
        _run(
            self.con,
            "INSERT INTO loads VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                self.load_id,
                self.source,
                self.identity,
                self.layout,
                self.rows,
                self.rejected,
                "; ".join(self.notes) or None,
                self.started,
                datetime.now(UTC),
            ],
        )


def default_path() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "flowscope" / "flows.duckdb"
