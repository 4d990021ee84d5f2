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
connections here are short-lived: readers open the file read-only for one query and retry
while a writer holds it; writers commit a load at a time and, between loads, step aside when a
reader has left a ``.readers`` marker saying it is waiting. ``serve`` keeps its read
connection open between requests (DuckDB's caches stay warm), until a writer that finds the
file held leaves a ``.writer`` marker: the connection then closes as soon as its queries end,
and reads go back to short-lived connections for a while. ``follow`` and ``serve`` can
therefore run on the same file at once.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from flowscope.engines.base import LoadRecord
from flowscope.enrich import enrich
from flowscope.errors import StoreBusy, StoreError
from flowscope.parse.text import Parsed, Reject
from flowscope.schema import (
    ALL_COLUMNS,
    LOAD_ID,
    create_table_sql,
    flows_view_sql,
)

log = logging.getLogger(__name__)

SCHEMA_VERSION = "1"
_LOCK_RE = re.compile(r"lock", re.IGNORECASE)
_PID_RE = re.compile(r"PID (\d+)")

_DDL = [
    "CREATE TABLE IF NOT EXISTS layouts (name VARCHAR PRIMARY KEY, columns VARCHAR)",
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

_LOAD_SCHEMA = pa.schema(
    [
        ("load_id", pa.int64()),
        ("source", pa.string()),
        ("identity", pa.string()),
        ("layout", pa.string()),
        ("rows", pa.int64()),
        ("rejects", pa.int64()),
        ("notes", pa.string()),
        ("started", pa.timestamp("us", tz="UTC")),
        ("finished", pa.timestamp("us", tz="UTC")),
    ]
)

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
        self.writer_marker = Path(f"{path}.writer")
        self._warm: _WarmReads | None = None

    def keep_reads_warm(self) -> None:
        """Keep one read connection open between reads (for ``serve``), see the module doc,
        and fill DuckDB's caches in the background with what a page asks first."""
        if self._warm is None:
            self._warm = _WarmReads(self)
            threading.Thread(target=self._warm_up, daemon=True, name="flowscope-warm-up").start()

    def _warm_up(self) -> None:
        try:
            with self.read() as con:
                con.execute('SELECT count(*), min("start"), max("end") FROM flows').fetchall()
        except (StoreError, duckdb.Error) as e:  # no store yet, or a writer has it: no matter
            log.debug("warm-up skipped: %s", e)

    def close_reads(self) -> None:
        """Close the warm read connection (waiting for its reads to end), if there is one."""
        if self._warm is not None:
            self._warm.close()

    def writer_waiting(self) -> bool:
        """Whether a writer has said, in the last moments, that it waits for the file."""
        try:
            return time.time() - self.writer_marker.stat().st_mtime < MARKER_FRESH
        except OSError:
            return False

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
                if not read_only:
                    with suppress(OSError):
                        self.writer_marker.unlink()
                return con
            except duckdb.Error as e:
                if not _is_lock_error(e):
                    raise StoreError(f"cannot open store {self.path}: {e}") from e
                with suppress(OSError):
                    (self.marker if read_only else self.writer_marker).touch()
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
        wait = self.lock_timeout if timeout is None else timeout
        if self._warm is not None:
            cursor = self._warm.acquire(wait)
            if cursor is not None:
                try:
                    yield cursor
                finally:
                    self._warm.release(cursor)
                return
        con = self._connect(True, wait)
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


#: A writer's ``.writer`` marker counts for this many seconds after it was last touched.
MARKER_FRESH = 2.0
#: A warm read connection closes after this many idle seconds, and after a writer asked for
#: the file, reads stay on short-lived connections for WARM_COOL seconds.
WARM_IDLE = 120.0
WARM_COOL = 10.0


class _WarmReads:
    """The read connection ``serve`` keeps open; each read gets a cursor of it (DuckDB shares
    one database, and its buffer cache, between a connection's cursors)."""

    def __init__(self, store: DuckStore) -> None:
        self.store = store
        self.cond = threading.Condition()
        self.con: duckdb.DuckDBPyConnection | None = None
        self.generation = 0
        self.users = 0
        self.draining = False
        self.cool_until = 0.0
        self.last_used = 0.0
        self.file: tuple[int, int] | None = None  # the file the connection has open

    def acquire(self, timeout: float) -> duckdb.DuckDBPyConnection | None:
        """A cursor of the warm connection, or None: then read on a short-lived connection."""
        deadline = time.monotonic() + timeout
        with self.cond:
            # a writer is waiting: no new reads on this connection; wait for it to close
            while self.con is not None and self.draining:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None  # the short-lived path waits (and reports) from here
                self.cond.wait(min(left, 0.1))
            if self.con is None:
                if time.monotonic() < self.cool_until or self.store.writer_waiting():
                    return None
                self.con = self.store._connect(True, max(deadline - time.monotonic(), 0.0))
                self.file = self._file()
                self.generation += 1
                threading.Thread(
                    target=self._watch, args=(self.generation,), daemon=True,
                    name="flowscope-warm-reads",
                ).start()  # fmt: skip
            self.users += 1
            return self.con.cursor()

    def release(self, cursor: duckdb.DuckDBPyConnection) -> None:
        with suppress(duckdb.Error):
            cursor.close()
        with self.cond:
            self.users -= 1
            self.last_used = time.monotonic()
            if self.users == 0 and self.draining:
                self._close()

    def close(self) -> None:
        with self.cond:
            self.draining = True
            while self.users:
                self.cond.wait(0.1)
            self._close()

    def _close(self) -> None:
        if self.con is not None:
            with suppress(duckdb.Error):
                self.con.close()
        self.con = None
        self.draining = False
        self.cond.notify_all()

    def _file(self) -> tuple[int, int] | None:
        try:
            st = self.store.path.stat()
        except OSError:
            return None
        return st.st_dev, st.st_ino

    def _watch(self, generation: int) -> None:
        while True:
            time.sleep(0.1)
            with self.cond:
                if self.con is None or self.generation != generation:
                    return
                if self.store.writer_waiting():
                    self.draining = True
                    self.cool_until = time.monotonic() + WARM_COOL
                elif self._file() != self.file:
                    self.draining = True  # the store was deleted or replaced: open it anew
                elif self.users == 0 and time.monotonic() - self.last_used > WARM_IDLE:
                    self.draining = True
                if self.draining and self.users == 0:
                    self._close()
                    return


#: Small loads are committed in groups: at most this many loads, or this many seconds, per
#: transaction. Each load is still all-or-nothing: its ledger row commits with its rows.
GROUP_LOADS = 500
GROUP_SECONDS = 1.0
#: Rows buffered before an INSERT: DuckDB appends large batches much faster than small ones.
FLUSH_ROWS = 500_000


class DuckWriter:
    """Writes loads. A load writes nothing until it finishes, unless it is big: then it first
    commits the loads before it and writes in a transaction of its own, so a failure rolls
    back that load alone. Loads that finish small share one transaction (group commit)."""

    def __init__(self, store: DuckStore) -> None:
        self.store = store
        self.con: duckdb.DuckDBPyConnection | None = None
        self._in_txn = False
        self._group = 0
        self._group_started = 0.0
        # Only one process can hold the file for writing, so these caches stay true.
        self._identities: dict[str, int] = {}
        self._tables: dict[str, str] = {}
        self._last_id = 0
        # Rows and ledger rows of small loads wait here and are written together when their
        # group commits (one INSERT a table, not a few a file: ~7 ms a file saved)
        self._staged: dict[str, list[pa.Table]] = {}
        self._staged_rows = 0
        self._staged_loads: list[dict[str, Any]] = []
        self._open()

    def _open(self) -> None:
        con = self.store._connect(False, self.store.lock_timeout)
        _run(con, "SET preserve_insertion_order = false")
        # One transaction: a first ingest killed here leaves the whole schema or none of it
        # (not, say, ``layouts`` without ``loads``, which every read would then stumble on).
        con.begin()
        for ddl in _DDL:
            _run(con, ddl)
        _run(con, "INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", [SCHEMA_VERSION])
        if not _one(
            con,
            "SELECT 1 FROM duckdb_views() WHERE view_name = 'flows' "
            "AND database_name = current_database()",
        ):
            _run(con, flows_view_sql([]))
        con.commit()
        self._identities = {
            str(i): int(n)
            for i, n in _run(con, "SELECT identity, load_id FROM loads WHERE identity NOT NULL")
        }
        self._tables = {str(c): str(n) for n, c in _run(con, "SELECT name, columns FROM layouts")}
        self._last_id = int(_run(con, "SELECT coalesce(max(load_id), 0) FROM loads")[0][0])
        self.con = con

    def commit(self) -> None:
        if self._in_txn and self.con is not None:
            try:
                self._write_staged()
                self.con.commit()
            except duckdb.Error as e:
                loads = self._group
                self.rollback()
                raise StoreError(
                    f"store {self.store.path}: committing the last {loads} load(s) failed: "
                    f"{str(e).splitlines()[0]}",
                    hint="nothing of them was stored; run the same command again",
                ) from e
        self._in_txn = False
        self._group = 0

    def stage(self, table: str, rows: pa.Table) -> None:
        """Rows of a small load, written when its group commits (or when enough wait)."""
        self._staged.setdefault(table, []).append(rows)
        self._staged_rows += rows.num_rows
        if self._staged_rows >= FLUSH_ROWS:
            self._write_staged()

    def stage_load(self, ledger: dict[str, Any]) -> None:
        """A load's ledger row, written with its group's rows."""
        self._staged_loads.append(ledger)

    def _write_staged(self) -> None:
        staged, self._staged, self._staged_rows = self._staged, {}, 0
        for table, parts in staged.items():
            by_schema: dict[pa.Schema, list[pa.Table]] = {}
            for part in parts:  # (Parquet inputs may type a column differently)
                by_schema.setdefault(part.schema, []).append(part)
            for same in by_schema.values():
                self.c.from_arrow(pa.concat_tables(same)).insert_into(table)
        if self._staged_loads:
            ledger = pa.Table.from_pylist(self._staged_loads, schema=_LOAD_SCHEMA)
            self._staged_loads = []
            self.c.from_arrow(ledger).insert_into("loads")

    def _drop_staged(self) -> None:
        self._staged, self._staged_rows = {}, 0
        self._staged_loads = []

    def begin(self) -> None:
        if not self._in_txn:
            self.c.begin()
            self._in_txn = True
            self._group_started = time.monotonic()

    def rollback(self) -> None:
        self._drop_staged()
        if self._in_txn and self.con is not None:
            with suppress(duckdb.Error):
                self.con.rollback()
        self._in_txn = False
        self._group = 0
        self.close()  # the caches may now be ahead of the file: reopen (and reread) on demand

    def close(self) -> None:
        if self.con is not None:
            try:
                self.commit()
            finally:
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
        self.c  # noqa: B018 - opens the file (and fills the caches) if it is closed
        if identity not in self._identities:
            return None
        for staged in self._staged_loads:  # loaded earlier in this group, not yet written
            if staged["identity"] == identity:
                keys = ("load_id", "source", "rows", "rejects", "finished")
                return LoadRecord(*(staged[k] for k in keys))
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
        self.c  # noqa: B018 - opens the file (and fills the caches) if it is closed
        self._last_id += 1
        job = Load(self, self._last_id, source, identity, layout)
        try:
            yield job
            job.finish()
        except BaseException:
            job.close()
            if job.wrote:
                self.rollback()
            raise
        finally:
            job.close()
        self._group += 1
        if (
            job.alone
            or self._group >= GROUP_LOADS
            or (time.monotonic() - self._group_started >= GROUP_SECONDS)
        ):
            self.commit()

    def tables(self, columns: tuple[str, ...]) -> str:
        """The physical table for rows with exactly ``columns``, created on first use."""
        con = self.c
        key = ",".join(columns)
        if key in self._tables:
            return self._tables[key]
        name = f"flows_{len(self._tables) + 1}"
        _run(con, create_table_sql(name, columns))
        _run(con, "INSERT INTO layouts VALUES (?, ?)", [name, key])
        tables = [
            (str(n), tuple(str(c).split(",")))
            for n, c in _run(con, "SELECT name, columns FROM layouts ORDER BY name")
        ]
        _run(con, flows_view_sql(tables))
        self._tables[key] = name
        return name


@dataclass
class Load:
    writer: DuckWriter
    load_id: int
    source: str
    identity: str | None
    layout: str
    rows: int = 0
    rejected: int = 0
    notes: list[str] = field(default_factory=list)
    cursors: dict[str, dict[str, Any]] = field(default_factory=dict)
    started: datetime = field(default_factory=lambda: datetime.now(UTC))
    #: True once this load has written to the store (a failure then rolls back).
    wrote: bool = False
    #: True when this load is big and runs in a transaction of its own.
    alone: bool = False
    _pending: list[pa.Table] = field(default_factory=list)
    _pending_rows: int = 0
    _rejects: list[tuple[str, Reject]] = field(default_factory=list)
    # Big loads insert on one background thread (DuckDB releases the GIL) so that parsing the
    # next block overlaps storing the last; at most one insert is in flight, and every other
    # use of the connection waits for it first.
    _pool: ThreadPoolExecutor | None = None
    _inflight: Future[None] | None = None

    @property
    def con(self) -> duckdb.DuckDBPyConnection:
        return self.writer.c

    def wait(self) -> None:
        """Wait for the insert in flight; its error, if any, is raised here."""
        inflight, self._inflight = self._inflight, None
        if inflight is not None:
            inflight.result()

    def close(self) -> None:
        with suppress(BaseException):
            self.wait()
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def append(self, parsed: Parsed, source: str | None = None) -> None:
        table = parsed.table
        if table.num_rows:
            # (a change of columns does not flush: a small load writes nothing before it
            # finishes, so its failure cannot take the loads of its group down with it)
            self._pending.append(table)
            self._pending_rows += table.num_rows
            self.rows += table.num_rows
            if self._pending_rows >= FLUSH_ROWS:
                self.flush(background=True)
        if parsed.rejects:
            self.add_rejects(parsed.rejects, source)

    def _start_writing(self) -> None:
        if not self.wrote:
            if self._pending_rows + len(self._rejects) >= FLUSH_ROWS and not self.alone:
                # Big: commit the group before it, then take a transaction of its own.
                self.writer.commit()
                self.alone = True
            self.writer.begin()
            self.wrote = True

    def flush(self, background: bool = False) -> None:
        if not self._pending:
            return
        self._start_writing()
        by_schema: dict[pa.Schema, list[pa.Table]] = {}
        for part in self._pending:
            by_schema.setdefault(part.schema, []).append(part)
        self._pending, self._pending_rows = [], 0
        for i, same in enumerate(by_schema.values()):
            self._store(pa.concat_tables(same), background and i == len(by_schema) - 1)

    def _store(self, pending: pa.Table, background: bool) -> None:
        batch = enrich(pending)
        self.wait()
        names = set(batch.column_names)
        keep = [
            c
            for c in ALL_COLUMNS
            if c in names and c != LOAD_ID and (c not in _DERIVED_FROM or _DERIVED_FROM[c] in names)
        ]
        table = self.writer.tables((*keep, LOAD_ID))
        rows = batch.select(keep)
        rows = rows.append_column(
            LOAD_ID, pa.repeat(pa.scalar(self.load_id, pa.int64()), rows.num_rows)
        )
        if not self.alone and not background:
            self.writer.stage(table, rows)
        elif background:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(1, thread_name_prefix="flowscope-insert")
            self._inflight = self._pool.submit(self._insert_arrow, table, rows)
        else:
            self._insert_arrow(table, rows)

    def _insert_arrow(self, table: str, data: pa.Table) -> None:
        # ``data`` has the table's columns in its order. Not con.register(): a registered
        # Arrow table stays referenced until the transaction ends, so a big load would hold
        # every batch in memory.
        self.con.from_arrow(data).insert_into(table)

    def add_rejects(self, rejects: list[Reject], source: str | None = None) -> None:
        src = source or self.source
        self._rejects.extend((src, r) for r in rejects)
        self.rejected += len(rejects)
        if len(self._rejects) >= FLUSH_ROWS:
            self._flush_rejects()

    def _flush_rejects(self) -> None:
        if not self._rejects:
            return
        self._start_writing()
        rej = pa.Table.from_pylist(
            [
                {
                    "load_id": self.load_id,
                    "source": src,
                    "line": r.line,
                    "reason": r.reason,
                    "raw": r.raw,
                }
                for src, r in self._rejects
            ],
            schema=_REJECT_SCHEMA,
        )
        self._rejects = []
        self.wait()
        self._insert_arrow("rejects", rej)

    def set_cursor(self, key: str, value: dict[str, Any]) -> None:
        self.cursors[key] = value

    def finish(self) -> None:
        self.flush()
        self._flush_rejects()
        self.wait()
        self._start_writing()
        for key, value in self.cursors.items():
            _run(
                self.con,
                "INSERT OR REPLACE INTO cursors VALUES (?, ?, ?)",
                [key, json.dumps(value, sort_keys=True), datetime.now(UTC)],
            )
        ledger = {
            "load_id": self.load_id,
            "source": self.source,
            "identity": self.identity,
            "layout": self.layout,
            "rows": self.rows,
            "rejects": self.rejected,
            "notes": "; ".join(self.notes) or None,
            "started": self.started,
            "finished": datetime.now(UTC),
        }
        # (a big load's group commits as soon as it finishes, so its row is written at once)
        self.writer.stage_load(ledger)
        if self.identity is not None:
            # the same content again in this run is skipped too, not only in later runs
            self.writer._identities.setdefault(self.identity, self.load_id)
