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

import fcntl
import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa

from flowscope.engines.base import LoadRecord, Rows
from flowscope.errors import InputError, QueryError, StoreBusy, StoreDamaged, StoreError
from flowscope.estate.store import EstateItem
from flowscope.parse.text import Parsed, Reject
from flowscope.schema import (
    ALL_COLUMNS,
    ENDPOINT_ATTRIBUTES,
    ENDPOINT_IDS,
    ESTATE_DERIVED,
    LOAD_ID,
    SQL_TYPES,
    create_table_sql,
    flows_view_sql,
    quote,
)

if TYPE_CHECKING:
    from flowscope.estate.batch import BatchEndpoints
    from flowscope.estate.resolve import Estate

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
#: Endpoint ids a writer keeps in memory (then it asks the file again).
ENDPOINT_CACHE = 1_000_000
#: The estate (added later than the tables above: a store without them has no estate yet).
#: ``estate``: the inventory's history, ip-ranges.json, the networks file, each one blob;
#: ``endpoints``: per endpoint id (an address in one slot of its history, see
#: flowscope.estate.resolve) what is known of it, joined to flows at query time.
_ESTATE_DDL = [
    """CREATE TABLE IF NOT EXISTS estate (
        name VARCHAR PRIMARY KEY, data BLOB, source VARCHAR, updated TIMESTAMPTZ)""",
    "CREATE TABLE IF NOT EXISTS endpoints (id INTEGER, address VARCHAR, slot INTEGER, "
    + ", ".join(f"{quote(a.name)} {a.sql_type}" for a in ENDPOINT_ATTRIBUTES)
    + ")",
]
#: The ``meta`` key saying the stored flows are not yet named with the estate saved last.
_ESTATE_PENDING = "estate_pending"
ENDPOINT_TABLE_COLUMNS = ("id", "address", "slot", *(a.name for a in ENDPOINT_ATTRIBUTES))

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

    def _stub(self) -> bool:
        """Whether the file is shorter than DuckDB's three 4 KiB headers, so never held a
        table: a first ingest killed while DuckDB created the file. It is an empty store."""
        try:
            if self.path.stat().st_size >= _HEADERS:
                return False
            with self.path.open("rb") as f:
                head = f.read(_HEADERS)
        except OSError:
            return False
        return len(head) < _HEADERS and (not head or head[8:12] == b"DUCK")

    def _clear_stub(self) -> None:
        """Remove a stub (see :meth:`_stub`) that no process has open, so DuckDB creates the
        file anew. DuckDB holds an fcntl lock on a file it has open, so does this."""
        try:
            fd = os.open(self.path, os.O_RDWR)
        except OSError:
            return
        try:
            try:
                fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                return  # being created right now: DuckDB's lock error and the retries follow
            if self._stub():
                log.info("store %s: replacing a file DuckDB never finished creating", self.path)
                self.path.unlink()
                Path(f"{self.path}.wal").unlink(missing_ok=True)
        finally:
            os.close(fd)

    def _connect(self, read_only: bool, timeout: float) -> duckdb.DuckDBPyConnection:
        deadline = time.monotonic() + timeout
        delay = 0.02
        if not read_only and self._stub():
            self._clear_stub()
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
                    damaged = _damaged(e)
                    raise (StoreDamaged if damaged else StoreError)(
                        f"cannot open store {self.path}: {_first_line(e)}",
                        hint="the file is damaged or not a flowscope store" if damaged else None,
                    ) from e
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
        # serve (warm reads) answers a store not created yet as an empty one, as it answers a
        # stub: its page shows no flows, then the first load's, rather than an error
        missing = not self.path.exists()
        if missing and self._warm is None:
            raise StoreError(
                f"store {self.path} does not exist",
                hint="load data first: flowscope ingest FILE, or flowscope demo",
            )
        if missing or self._stub():
            con = duckdb.connect(":memory:")
            try:
                _stand_in_tables(con)
                yield con
            finally:
                con.close()
            return
        wait = self.lock_timeout if timeout is None else timeout
        if self._warm is not None:
            cursor = self._warm.acquire(wait)
            if cursor is not None:
                try:
                    with self._faults():
                        yield cursor
                finally:
                    self._warm.release(cursor)
                return
        con = self._connect(True, wait)
        try:
            with self._faults():
                _stand_in_tables(con)
                yield con
        finally:
            con.close()

    def estate_items(self) -> dict[str, EstateItem]:
        """The estate this store keeps (none before the first refresh)."""
        if not self.path.exists():
            return {}
        with self.read() as con:
            if "estate" not in _present(con):
                return {}
            found = con.execute("SELECT name, data, source, updated FROM estate").fetchall()
        return {str(n): EstateItem(bytes(d), str(s), u) for n, d, s, u in found}

    def estate_pending(self) -> bool:
        """Whether an estate was saved since the stored flows were last named with it (a
        naming pass killed half-way, or ``--no-apply``): the next estate command applies it."""
        if not self.path.exists():
            return False
        with self.read() as con:
            return bool(_run(con, "SELECT 1 FROM meta WHERE key = ?", [_ESTATE_PENDING]))

    def _listing(self, sql: str, limit: int) -> Rows:
        with self.read() as con:
            cur = con.execute(sql, [limit])
            return Rows([d[0] for d in cur.description or ()], cur.fetchall())

    def list_loads(self, limit: int = 50) -> Rows:
        """Committed loads, newest first."""
        return self._listing(
            "SELECT load_id, source, rows, rejects, layout, notes, finished FROM loads "
            "ORDER BY load_id DESC LIMIT ?",
            limit,
        )

    def list_rejects(self, limit: int = 50) -> Rows:
        """Records set aside, in load and line order."""
        return self._listing(
            "SELECT source, line, reason, raw FROM rejects ORDER BY load_id, line LIMIT ?", limit
        )

    @contextmanager
    def _faults(self) -> Iterator[None]:
        """A DuckDB error saying the file is corrupt, raised as is or already turned into a
        QueryError by the query layer, becomes a StoreDamaged (exit 1, HTTP 500)."""
        try:
            yield
        except (duckdb.Error, QueryError) as e:
            cause = e.__cause__ if isinstance(e, QueryError) else e
            if cause is None or not _damaged(cause):  # (not I/O: `sql` may read files)
                raise
            raise StoreDamaged(
                f"store {self.path} cannot be read: {_first_line(cause)}",
                hint="the file is damaged; restore it from a copy, or load the data into a "
                "new store",
            ) from e

    @contextmanager
    def write(self) -> Iterator[DuckWriter]:
        """A writer; loads are committed one by one, each with its rows, rejects and cursor."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        writer = DuckWriter(self)
        try:
            yield writer
        finally:
            writer.close()


#: DuckDB begins a file with three 4 KiB headers; tables come after them.
_HEADERS = 3 * 4096
_TABLES = ("layouts", "loads", "rejects", "cursors", "meta")  # in the order of _DDL


def _present(con: duckdb.DuckDBPyConnection) -> set[str]:
    return {
        str(n)
        for (n,) in _run(
            con,
            "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() "
            "UNION ALL SELECT view_name FROM duckdb_views() "
            "WHERE database_name = current_database() AND NOT internal",
        )
    }


def _has_tables(con: duckdb.DuckDBPyConnection) -> bool:
    have = _present(con)
    return have.issuperset(_TABLES) and "flows" in have


def _stand_in_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Give a read connection empty temporary stand-ins for the tables its file lacks.

    A first ingest killed before its schema committed leaves a DuckDB file without tables;
    to a reader that is an empty store (the next ingest creates them), not a catalog error.
    """
    have = _present(con)
    if have.issuperset(_TABLES) and "flows" in have:
        return
    log.info("store without its tables (a first ingest was interrupted): read as empty")
    for name, ddl in zip(_TABLES, _DDL, strict=True):
        if name not in have:
            _run(con, ddl.replace("CREATE TABLE IF NOT EXISTS", "CREATE TEMP TABLE"))
    if "flows" not in have:
        _run(con, flows_view_sql([]).replace("CREATE OR REPLACE VIEW", "CREATE TEMP VIEW"))


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
                con = self.store._connect(True, max(deadline - time.monotonic(), 0.0))
                try:
                    with self.store._faults():
                        complete = _has_tables(con)
                except BaseException:
                    con.close()
                    raise
                if not complete:  # (a cursor would not see a connection's temporary tables)
                    con.close()
                    return None
                self.con = con
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
#: A load that reaches it is big and writes in a transaction of its own; small loads wait in
#: memory until their group commits, and a group commits once this many of its rows wait.
FLUSH_ROWS = 500_000
#: Rejects held before they are written (each holds its raw text: ~1 KB in Python, so at most
#: ~50 MB); more than this many make the load big, in a transaction of its own.
FLUSH_REJECTS = 50_000

#: DuckDB errors that say the store itself is at fault (I/O, disk full, memory, a file DuckDB
#: no longer trusts) rather than one load's data: they stop the run instead of one input.
_STORE_FAULTS: tuple[type[duckdb.Error], ...] = (
    duckdb.IOException,
    duckdb.FatalException,
    duckdb.InternalException,
    duckdb.OutOfMemoryException,
    duckdb.PermissionException,
    duckdb.SerializationException,
)


def store_fault(e: BaseException) -> bool:
    """Whether a DuckDB error is the store's fault (see ``_STORE_FAULTS``), e.g. a corrupt file:
    DuckDB raises its plain ``Error`` for a block whose checksum does not match."""
    return isinstance(e, _STORE_FAULTS) or (isinstance(e, duckdb.Error) and _damaged(e))


def _damaged(e: BaseException) -> bool:
    text = str(e).lower()
    return "corrupt" in text or "not a valid duckdb database file" in text


def _first_line(e: BaseException) -> str:
    return str(e).splitlines()[0] if str(e) else type(e).__name__


@dataclass
class _Staged:
    """A small load waiting for its group's commit: everything it writes, kept in memory so
    that, if the group's commit fails, it can be written again in a transaction of its own."""

    load_id: int
    source: str
    identity: str | None
    rows: list[tuple[tuple[str, ...], pa.Table]] = field(default_factory=list)
    rejects: list[pa.Table] = field(default_factory=list)
    cursors: dict[str, dict[str, Any]] = field(default_factory=dict)
    ledger: dict[str, Any] | None = None
    endpoints: list[pa.Table] = field(default_factory=list)


class DuckWriter:
    """Writes loads. A small load writes nothing until its group commits (group commit: one
    transaction, one INSERT a table for many small loads). If that commit fails, each load of
    the group is written again alone: the store refusing one load's data fails that load only
    (see :meth:`failed`), and the others land. A big load first commits the group before it,
    then writes in a transaction of its own, so a failure rolls back that load alone."""

    def __init__(self, store: DuckStore) -> None:
        self.store = store
        self.con: duckdb.DuckDBPyConnection | None = None
        self._in_txn = False
        self._group_started = 0.0
        # Only one process can hold the file for writing, so these caches stay true.
        self._identities: dict[str, int] = {}
        self._tables: dict[str, str] = {}
        self._last_id = 0
        # Endpoint ids by (address, slot), and the last id handed out (see endpoint_ids)
        self._endpoints: dict[tuple[str, int], int] = {}
        self._last_endpoint = 0
        self._mine: set[int] = set()
        # Small loads of the current group, in order (see _Staged)
        self._group: list[_Staged] = []
        self._staged_rows = 0
        # Loads the store refused at their group's commit, not yet handed to the caller.
        self._failed: dict[int, str] = {}
        # The file is opened at first use (self.c), so a source can list what it will read
        # before the writer holds the file; a new store is created at once, though, so that
        # readers (serve) find an empty store rather than none.
        if not store.path.exists():
            self._open()
            self.close()

    def _open(self) -> None:
        con = self.store._connect(False, self.store.lock_timeout)
        try:
            _run(con, "SET preserve_insertion_order = false")
            # One transaction: a process killed while creating the store leaves all of it or
            # none (readers take a file without the tables for an empty store, see read())
            _run(con, "BEGIN TRANSACTION")
            for ddl in _DDL + _ESTATE_DDL:
                _run(con, ddl)
            _run(con, "INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", [SCHEMA_VERSION])
            if not _one(
                con,
                "SELECT 1 FROM duckdb_views() WHERE view_name = 'flows' "
                "AND database_name = current_database()",
            ):
                _run(con, flows_view_sql([]))
            _run(con, "COMMIT")
            self._identities = {
                str(i): int(n)
                for i, n in _run(con, "SELECT identity, load_id FROM loads WHERE identity NOT NULL")
            }
            self._tables = {
                str(c): str(n) for n, c in _run(con, "SELECT name, columns FROM layouts")
            }
            last = int(_run(con, "SELECT coalesce(max(load_id), 0) FROM loads")[0][0])
            # (the file may have changed while closed: ids are looked up again as batches
            # need them; ids this process handed out and staged loads carry are kept)
            self._endpoints = {k: v for k, v in self._endpoints.items() if v in self._mine}
            top = int(_run(con, "SELECT coalesce(max(id), 0) FROM endpoints")[0][0])
        except duckdb.Error as e:
            with suppress(duckdb.Error):
                con.close()
            raise (StoreDamaged if _damaged(e) else StoreError)(
                f"cannot open store {self.store.path}: {_first_line(e)}"
            ) from e
        # (ids handed out in this run stay taken even if their loads were rolled back)
        self._last_id = max(self._last_id, last)
        # (ids handed out stay taken: a load rolled back may have carried new ones)
        self._last_endpoint = max(self._last_endpoint, top)
        self.con = con

    def failed(self) -> dict[int, str]:
        """Loads refused at their group's commit since the last call: load_id -> reason.
        Nothing of them is stored; the rest of their group is."""
        failed, self._failed = self._failed, {}
        return failed

    def commit(self) -> None:
        """Commit the transaction: the group of small loads, or the big load, it holds."""
        group, self._group, self._staged_rows = self._group, [], 0
        in_txn, self._in_txn = self._in_txn, False
        if not in_txn and not group:
            return
        try:
            if not in_txn:
                self.c.begin()
            self._write(group)
            self.c.commit()
            self._mine.clear()  # every endpoint handed out so far is in the file now
        except duckdb.Error as e:
            self._discard()
            if store_fault(e) or len(group) < 2:
                self._refuse(group, e)
            else:
                log.info("the commit of %d loads failed (%s): each alone", len(group), e)
                for one in group:
                    self._retry_alone(one)

    def _retry_alone(self, one: _Staged) -> None:
        try:
            self.c.begin()
            self._write([one])
            self.c.commit()
        except duckdb.Error as e:
            self._discard()
            self._refuse([one], e)
        else:
            if one.identity is not None:
                self._identities.setdefault(one.identity, one.load_id)

    def _refuse(self, group: list[_Staged], e: duckdb.Error) -> None:
        """Nothing of ``group`` was stored: a fault of the store stops the run, anything else
        fails the load (group holds one load here)."""
        if store_fault(e) or not group:
            raise StoreError(
                f"store {self.store.path}: committing {len(group) or 'a'} load(s) failed: "
                f"{_first_line(e)}",
                hint="nothing of them was stored; loads committed before stay; "
                "run the same command again",
            ) from e
        for one in group:
            self._failed[one.load_id] = (
                f"{one.source}: the store refused it at commit ({_first_line(e)}); "
                "nothing from this input was stored"
            )

    def _write(self, group: list[_Staged]) -> None:
        """Write the staged loads of ``group`` in the open transaction: one INSERT a table."""
        by_columns: dict[tuple[str, ...], dict[pa.Schema, list[pa.Table]]] = {}
        for one in group:
            for columns, part in one.rows:  # (Parquet inputs may type a column differently)
                by_columns.setdefault(columns, {}).setdefault(part.schema, []).append(part)
        for columns, by_schema in by_columns.items():
            table = self.tables(columns)
            for same in by_schema.values():
                self.c.from_arrow(pa.concat_tables(same)).insert_into(table)
        endpoints = [e for one in group for e in one.endpoints]
        if endpoints:
            self.insert_endpoints(pa.concat_tables(endpoints))
        rejects = [r for one in group for r in one.rejects]
        if rejects:
            self.c.from_arrow(pa.concat_tables(rejects)).insert_into("rejects")
        for one in group:
            _write_cursors(self.c, one.cursors)
        ledger = [one.ledger for one in group if one.ledger is not None]
        if ledger:
            self.c.from_arrow(pa.Table.from_pylist(ledger, schema=_LOAD_SCHEMA)).insert_into(
                "loads"
            )

    def begin(self) -> None:
        """Open a transaction of its own for a big load (the caller committed the group)."""
        if not self._in_txn:
            self.c.begin()
            self._in_txn = True

    def rollback(self) -> None:
        """Roll back the open transaction (a big load's); staged loads stay staged."""
        if self._in_txn:
            self._in_txn = False
            self._discard()

    def _discard(self) -> None:
        """Drop the connection and whatever it had not committed. The caches may now be ahead
        of the file: they are read again when the file is next opened."""
        con, self.con = self.con, None
        self._in_txn = False
        if con is not None:
            with suppress(duckdb.Error):
                con.rollback()
            with suppress(duckdb.Error):
                con.close()

    def close(self) -> None:
        """Commit what waits, then let go of the file."""
        try:
            self.commit()
        finally:
            con, self.con = self.con, None
            if con is not None:
                with suppress(duckdb.Error):
                    con.close()

    @property
    def c(self) -> duckdb.DuckDBPyConnection:
        if self.con is None:
            self._open()
        assert self.con is not None
        return self.con

    def release(self) -> None:
        """Let go of the file while the caller does slow work with nothing to write (a source
        listing a bucket); it is opened again at the next use."""
        if not self._in_txn and not self._group:
            self.close()

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
        for one in self._group:  # loaded earlier in this group, not yet written
            if one.identity == identity and one.ledger is not None:
                keys = ("load_id", "source", "rows", "rejects", "finished")
                return LoadRecord(*(one.ledger[k] for k in keys))
        row = _one(
            self.c,
            "SELECT load_id, source, rows, rejects, finished FROM loads WHERE identity = ? "
            "ORDER BY load_id LIMIT 1",
            [identity],
        )
        return LoadRecord(*row) if row else None

    def cursor(self, key: str) -> dict[str, Any] | None:
        for one in reversed(self._group):  # committed with its rows, not yet written
            if key in one.cursors:
                return one.cursors[key]
        row = _one(self.c, "SELECT cursor FROM cursors WHERE source_key = ?", [key])
        return json.loads(row[0]) if row else None

    @contextmanager
    def load(self, source: str, identity: str | None, layout: str = "") -> Iterator[Load]:
        """One all-or-nothing load: rows, rejects, ledger row and cursor commit together.

        The store refusing a big load's data (a value it cannot hold, a constraint) raises
        :class:`InputError` with nothing of the load stored; a fault of the store itself
        raises :class:`StoreError`. A small load refused at its group's commit is reported by
        :meth:`failed`."""
        self.c  # noqa: B018 - opens the file (and fills the caches) if it is closed
        if not self._group:
            self._group_started = time.monotonic()
        self._last_id += 1
        job = Load(self, self._last_id, source, identity, layout)
        try:
            yield job
            job.finish()
        except BaseException as e:
            job.close()
            if job.alone:
                self.rollback()
            if isinstance(e, duckdb.Error):
                raise self._load_error(source, e) from e
            raise
        finally:
            job.close()
        if job.alone:  # its transaction holds it alone (its group committed before it)
            try:
                self.c.commit()
            except duckdb.Error as e:
                self._discard()
                raise self._load_error(source, e) from e
            self._mine.clear()  # (its group committed before it: nothing else is pending)
            self._in_txn = False
            if job.identity is not None:
                self._identities.setdefault(job.identity, job.load_id)
        elif (
            len(self._group) >= GROUP_LOADS
            or self._staged_rows >= FLUSH_ROWS
            or time.monotonic() - self._group_started >= GROUP_SECONDS
        ):
            self.commit()

    def stage(self, one: _Staged) -> None:
        """A small load, finished: written when its group commits."""
        self._group.append(one)
        self._staged_rows += sum(rows.num_rows for _, rows in one.rows)
        if one.identity is not None:
            # the same content again in this run is skipped too, not only in later runs
            self._identities.setdefault(one.identity, one.load_id)

    def _load_error(self, source: str, e: duckdb.Error) -> StoreError | InputError:
        if store_fault(e):
            return StoreError(
                f"store {self.store.path}: writing {source} failed: {_first_line(e)}",
                hint="nothing from this input was stored; loads committed before stay; "
                "run the same command again",
            )
        return InputError(
            source,
            f"the store refused it ({_first_line(e)})",
            hint="nothing from this input was stored",
        )

    def endpoint_ids(self, found: BatchEndpoints) -> tuple[pa.Array, pa.Table | None]:
        """Ids for a batch's endpoints, and the rows of ``endpoints`` for those new to the store
        (written with the load, in its transaction). A load rolled back may leave ids in the
        cache that the file lacks: every load therefore writes the rows of all the ids it uses
        that this process handed out, and ``insert_endpoints`` skips those already there."""
        self.c  # noqa: B018 - opens the file (and fills the caches) if it is closed
        addresses = found.addresses.to_pylist()
        slots = found.slots.to_pylist()
        keys = list(zip(addresses, slots, strict=True))
        unknown = [k for k in keys if k not in self._endpoints]
        if unknown:
            self._look_up_endpoints(unknown)
        ids = []
        fresh = []
        for i, key in enumerate(keys):
            got = self._endpoints.get(key)
            if got is None:
                self._last_endpoint += 1
                got = self._endpoints[key] = self._last_endpoint
                self._mine.add(got)
            if got in self._mine:
                fresh.append(i)
            ids.append(got)
        id_array = pa.array(ids, pa.int32())
        if not fresh:
            return id_array, None
        take = pa.array(fresh, pa.int32())
        rows = pa.table(
            {
                "id": id_array.take(take),
                "address": found.addresses.take(take),
                "slot": found.slots.take(take).cast(pa.int32()),
                **{n: found.attributes.column(n).take(take) for n in found.attributes.column_names},
            }
        )
        return id_array, rows

    def save_estate(self, items: dict[str, EstateItem]) -> None:
        """Keep ``items`` (each replaces the item of its name), in one transaction of its own."""
        self.commit()
        con = self.c
        con.begin()
        try:
            changed = False
            for name, item in items.items():
                kept = _one(con, "SELECT data FROM estate WHERE name = ?", [name])
                changed = changed or kept is None or bytes(kept[0]) != item.data
                con.execute(
                    "INSERT OR REPLACE INTO estate VALUES (?, ?, ?, ?)",
                    [name, item.data, item.source, item.updated],
                )
            if changed and _run(con, "SELECT 1 FROM layouts LIMIT 1"):
                # the stored flows wait for a naming pass (apply_estate) until it ends
                _run(con, "INSERT OR REPLACE INTO meta VALUES (?, 'yes')", [_ESTATE_PENDING])
            con.commit()
        except duckdb.Error as e:
            self._discard()
            raise StoreError(f"store {self.store.path}: saving the estate failed: {e}") from e

    def apply_estate(self, estate: Estate, progress: Callable[[int], None] | None = None) -> int:
        """Name the flows already stored with ``estate``: every endpoint known again, then each
        flow's endpoints and scope found again, a physical table at a time, each part in a
        transaction of its own (a run killed half-way leaves older names on the rest: run it
        again). Returns the number of flows."""
        self.commit()
        con = self.c
        known = con.sql("SELECT id, address, slot FROM endpoints ORDER BY id").to_arrow_table()
        assert known is not None
        con.begin()
        try:
            if known.num_rows:
                attrs = estate.resolve(
                    known.column("address").combine_chunks(),
                    known.column("slot").to_numpy().astype("int32"),
                )
                fresh = pa.table(
                    {
                        "id": known.column("id"),
                        "address": known.column("address"),
                        "slot": known.column("slot"),
                        **{n: attrs.column(n) for n in attrs.column_names},
                    }
                )
                con.execute("DELETE FROM endpoints")
                self.insert_endpoints(fresh)
            con.commit()
        except duckdb.Error as e:
            self._discard()
            raise StoreError(f"store {self.store.path}: naming endpoints failed: {e}") from e
        done = 0
        for name, columns in list(self._layout_rows()):
            done += self._apply_table(name, columns, estate, progress)
        _run(con, "DELETE FROM meta WHERE key = ?", [_ESTATE_PENDING])  # (autocommit)
        return done

    def _layout_rows(self) -> list[tuple[str, tuple[str, ...]]]:
        return [
            (str(n), tuple(str(c).split(",")))
            for n, c in _run(self.c, "SELECT name, columns FROM layouts ORDER BY name")
        ]

    def _apply_table(
        self,
        name: str,
        columns: tuple[str, ...],
        estate: Estate,
        progress: Callable[[int], None] | None,
        chunk: int = 1_000_000,
    ) -> int:
        con = self.c
        if "srcaddr" not in columns and "dstaddr" not in columns:
            return 0
        added = [c for c in (*ESTATE_DERIVED, *ENDPOINT_IDS) if c not in columns]
        if added:
            con.begin()
            for c in added:
                con.execute(f"ALTER TABLE {quote(name)} ADD COLUMN {quote(c)} {SQL_TYPES[c]}")
            new_key = ",".join((*columns, *added))
            con.execute("UPDATE layouts SET columns = ? WHERE name = ?", [new_key, name])
            self._tables = {k: v for k, v in self._tables.items() if v != name}
            self._tables[new_key] = name
            con.execute(flows_view_sql(self._layout_rows()))
            con.commit()
        wanted = [
            c for c in ("srcaddr", "dstaddr", "start", "vpc_id", "interface_id") if c in columns
        ]
        ((rows, top),) = _run(con, f"SELECT count(*), coalesce(max(rowid), -1) FROM {quote(name)}")
        done = 0
        for low in range(0, int(top) + 1, chunk):
            part = con.sql(
                f"SELECT rowid AS fs_rid, {', '.join(quote(c) for c in wanted)} "
                f"FROM {quote(name)} WHERE rowid >= $low AND rowid < $high",
                params={"low": low, "high": low + chunk},
            ).to_arrow_table()
            assert part is not None
            if not part.num_rows:
                continue
            found = estate.endpoints(part)
            con.begin()
            try:
                ids, new = self.endpoint_ids(found)
                if new is not None:
                    self.insert_endpoints(new)
                update = pa.table(
                    {
                        "fs_rid": part.column("fs_rid"),
                        "src_ep": ids.take(found.src),
                        "dst_ep": ids.take(found.dst),
                        "src_scope": found.scope["src_scope"],
                        "dst_scope": found.scope["dst_scope"],
                    }
                )
                con.register("fs_update", update)
                con.execute(
                    f"UPDATE {quote(name)} SET src_ep = u.src_ep, dst_ep = u.dst_ep, "
                    "src_scope = u.src_scope, dst_scope = u.dst_scope "
                    f"FROM fs_update u WHERE {quote(name)}.rowid = u.fs_rid"
                )
                con.unregister("fs_update")
                con.commit()
            except duckdb.Error as e:
                self._discard()
                raise StoreError(f"store {self.store.path}: naming flows failed: {e}") from e
            done += part.num_rows
            if progress:
                progress(part.num_rows)
        return done if done else int(rows)

    def _look_up_endpoints(self, keys: list[tuple[str, int]]) -> None:
        """Fill the cache with the ids the store already has for ``keys`` (one join of the
        batch's pairs with the endpoints table; the cache starts again past a bound, keeping
        the ids this process handed out)."""
        if len(self._endpoints) > ENDPOINT_CACHE:
            self._endpoints = {k: v for k, v in self._endpoints.items() if v in self._mine}
        wanted = pa.table(
            {
                "address": pa.array([a for a, _ in keys], pa.string()),
                "slot": pa.array([n for _, n in keys], pa.int32()),
            }
        )
        # A cursor of its own: a big load's insert may be running on the writer's connection
        # (on its background thread). It sees what other processes committed; what this
        # process added and has not committed yet is in the cache already.
        cur = self.c.cursor()
        try:
            cur.register("fs_wanted", wanted)
            found = cur.execute(
                "SELECT e.id, e.address, e.slot FROM endpoints e "
                "JOIN fs_wanted w ON e.address = w.address AND e.slot = w.slot"
            ).fetchall()
        finally:
            cur.close()
        for i, a, n in found:
            self._endpoints.setdefault((str(a), int(n)), int(i))

    def insert_endpoints(self, rows: pa.Table) -> None:
        rows = rows.select(list(ENDPOINT_TABLE_COLUMNS))
        self.c.register("fs_new_endpoints", rows)
        try:
            self.c.execute(
                "INSERT INTO endpoints SELECT DISTINCT ON (id) * FROM fs_new_endpoints "
                "WHERE id NOT IN (SELECT id FROM endpoints)"
            )
        finally:
            self.c.unregister("fs_new_endpoints")

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


def _write_cursors(con: duckdb.DuckDBPyConnection, cursors: dict[str, dict[str, Any]]) -> None:
    for key, value in cursors.items():
        _run(
            con,
            "INSERT OR REPLACE INTO cursors VALUES (?, ?, ?)",
            [key, json.dumps(value, sort_keys=True), datetime.now(UTC)],
        )


def _rejects_table(load_id: int, rejects: list[tuple[str, Reject]]) -> pa.Table:
    return pa.Table.from_pylist(
        [
            {"load_id": load_id, "source": src, "line": r.line, "reason": r.reason, "raw": r.raw}
            for src, r in rejects
        ],
        schema=_REJECT_SCHEMA,
    )


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
    #: True when this load is big and runs in a transaction of its own.
    alone: bool = False
    _pending: list[pa.Table] = field(default_factory=list)
    _pending_rows: int = 0
    _rejects: list[tuple[str, Reject]] = field(default_factory=list)
    # What a small load writes at its group's commit (a big one writes as it goes)
    _staged_rows: list[tuple[tuple[str, ...], pa.Table]] = field(default_factory=list)
    _staged_rejects: list[pa.Table] = field(default_factory=list)
    _endpoints: list[pa.Table] = field(default_factory=list)
    _staged_endpoints: list[pa.Table] = field(default_factory=list)
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
        if table.num_rows and parsed.endpoints is not None:
            ids, new = self.writer.endpoint_ids(parsed.endpoints)
            found = parsed.endpoints
            table = table.append_column("src_ep", ids.take(found.src)).append_column(
                "dst_ep", ids.take(found.dst)
            )
            if new is not None:
                self._endpoints.append(new)
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

    def _go_alone(self) -> None:
        """Big: commit the group before it, then take a transaction of its own."""
        if not self.alone:
            self.writer.commit()
            self.writer.begin()
            self.alone = True

    def flush(self, background: bool = False) -> None:
        if not self._pending:
            return
        if background or self._pending_rows + len(self._rejects) >= FLUSH_ROWS:
            self._go_alone()
        batch = pa.concat_tables(self._pending)
        self._pending, self._pending_rows = [], 0
        names = set(batch.column_names)
        # (DuckDB inserts NULL columns slowly: scope without an estate is left out)
        names -= {c for c in ESTATE_DERIVED if c in names and batch[c].null_count == len(batch)}
        keep = [
            c
            for c in ALL_COLUMNS
            if c in names and c != LOAD_ID and (c not in _DERIVED_FROM or _DERIVED_FROM[c] in names)
        ]
        columns = (*keep, LOAD_ID)
        rows = batch.select(keep)
        rows = rows.append_column(
            LOAD_ID, pa.repeat(pa.scalar(self.load_id, pa.int64()), rows.num_rows)
        )
        endpoints, self._endpoints = self._endpoints, []
        if not self.alone:
            self._staged_rows.append((columns, rows))
            self._staged_endpoints.extend(endpoints)
            return
        self.wait()
        table = self.writer.tables(columns)
        if endpoints:
            self.writer.insert_endpoints(pa.concat_tables(endpoints))
        if background:
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
        if len(self._rejects) >= FLUSH_REJECTS:
            self._flush_rejects()

    def _flush_rejects(self) -> None:
        if not self._rejects:
            return
        if len(self._rejects) >= FLUSH_REJECTS:
            self._go_alone()
        rej = _rejects_table(self.load_id, self._rejects)
        self._rejects = []
        if not self.alone:
            self._staged_rejects.append(rej)
            return
        self.wait()
        self._insert_arrow("rejects", rej)

    def set_cursor(self, key: str, value: dict[str, Any]) -> None:
        self.cursors[key] = value

    def finish(self) -> None:
        self.flush()
        self._flush_rejects()
        self.wait()
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
        staged = _Staged(
            self.load_id,
            self.source,
            self.identity,
            self._staged_rows,
            self._staged_rejects,
            self.cursors,
            ledger,
            self._staged_endpoints,
        )
        self._staged_rows, self._staged_rejects, self._staged_endpoints = [], [], []
        if self.alone:
            self.writer._write([staged])  # rows and rejects are in; cursors and ledger row
        else:
            self.writer.stage(staged)
