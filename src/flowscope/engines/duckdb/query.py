"""The DuckDB backend: answers :mod:`flowscope.query.model` requests from a DuckStore file.

Every call to :meth:`DuckBackend.run` opens one short-lived read-only connection (waiting while
an ingest holds the file, up to ``lock_wait``), answers all its requests on it and closes it.
A watchdog thread calls ``con.interrupt()`` when the time limit passes, turning a runaway query
into :class:`QueryTimeout`; sizes above ``row_cap`` are refused before anything runs.

Search pages use keyset paging over (sort value, table, rowid): the ``flows`` view has no key,
so searches read the ``flows_N`` tables behind it directly (from ``layouts``) and the cursor
names a row by its table number and DuckDB ``rowid``, both stable because flows are only ever
appended.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from flowscope.engines.duckdb.compile import MACROS, Sql, address_value, compile_condition, join
from flowscope.engines.duckdb.store import DuckStore
from flowscope.errors import QueryError, QueryTimeout
from flowscope.query import buckets, cursor
from flowscope.query.fields import QUERY_FIELDS, QueryField
from flowscope.query.filter import And, Node, Not, Or
from flowscope.query.model import (
    Backend,
    HistQuery,
    HistResult,
    Metrics,
    MetricsQuery,
    Query,
    Result,
    Scope,
    SearchQuery,
    SearchResult,
    Series,
    SummaryQuery,
    TopQuery,
    TopResult,
    TopRow,
    Totals,
    check_query,
    series_label,
    summary_from_top,
)
from flowscope.schema import ENDPOINT_COLUMNS, SQL_TYPES, quote, select_sql

_METRIC_COL = {"count": "c", "bytes": "b", "packets": "p"}
_SUMS = 'count(*) AS c, coalesce(sum("bytes"), 0) AS b, coalesce(sum("packets"), 0) AS p'
#: Key bits up to which GROUP BY uses DuckDB's perfect hash table (default 12): ports need 17.
PERFECT_HT_BITS = 17
_TABLE_NO = re.compile(r"(\d+)$")


class _Ip6Cache:
    """Each address column's distinct IPv6 texts and values, kept while the file is unchanged."""

    def __init__(self, path: Path) -> None:
        self.files = (path, Path(f"{path}.wal"))
        self.lock = threading.Lock()
        self.entries: dict[str, tuple[object, list[tuple[str, int]]]] = {}

    def stamp(self) -> object:
        marks: list[tuple[int, int] | None] = []
        for f in self.files:
            try:
                st = f.stat()
            except OSError:
                marks.append(None)
            else:
                marks.append((st.st_mtime_ns, st.st_size))
        return tuple(marks)

    def get(self, column: str, stamp: object) -> list[tuple[str, int]] | None:
        with self.lock:
            entry = self.entries.get(column)
        return entry[1] if entry is not None and entry[0] == stamp else None

    def put(self, column: str, stamp: object, items: list[tuple[str, int]]) -> None:
        with self.lock:
            self.entries[column] = (stamp, items)


class _Session:
    """One read connection: runs statements to the end, creating the macros on first need."""

    def __init__(self, con: duckdb.DuckDBPyConnection, cache: _Ip6Cache | None = None) -> None:
        self.con = con
        self._layouts: list[tuple[str, set[str]]] | None = None
        self._endpoints: bool | None = None
        # Group ports (16 bits) and histogram buckets in a perfect hash table, not a general
        # one: top dstport over 10M rows goes from about 260 ms to 95 ms.
        con.execute(f"SET perfect_ht_threshold = {PERFECT_HT_BITS}").fetchall()
        self.macros = False
        self.cache = cache
        self.stamp = cache.stamp() if cache else None

    def ip6(self, column: str) -> list[tuple[str, int]]:
        """The column's distinct IPv6 texts with their values (see duck_sql.cidr_sql)."""
        if self.cache is not None:
            found = self.cache.get(column, self.stamp)
            if found is not None:
                return found
        col = quote(column)
        rows = self.rows(
            f"SELECT DISTINCT {col} FROM {self.flows(None, column)} WHERE contains({col}, ':')"
        )
        items = [(str(t), v) for (t,) in rows if (v := address_value(str(t))) is not None]
        if self.cache is not None:
            self.cache.put(column, self.stamp, items)
        return items

    def where(self, scope: Scope) -> Sql:
        return compile_condition(scope.where, scope.time, self.ip6)

    @property
    def has_endpoints(self) -> bool:
        if self._endpoints is None:
            self._endpoints = bool(
                self.con.execute(
                    "SELECT 1 FROM duckdb_tables() WHERE table_name = 'endpoints' "
                    "AND database_name = current_database()"
                ).fetchall()
            )
        return self._endpoints

    def union(self, columns: list[str], row_ids: bool = False) -> str | None:
        """A UNION ALL of ``columns`` over the flows_N tables (None when there is none yet);
        with ``row_ids``, each row's table number ``__t`` and ``rowid`` ``__r`` too. Endpoint
        attributes (``src_name``...) come from the ``endpoints`` table, joined on the side's
        endpoint id (only for the sides asked)."""
        attrs = [c for c in columns if c in ENDPOINT_COLUMNS]
        if attrs:
            sides = sorted({c[:3] for c in attrs})
            plain = [c for c in columns if c not in ENDPOINT_COLUMNS]
            body = self.union([*dict.fromkeys([*plain, *(f"{x}_ep" for x in sides)])], row_ids)
            if body is None:
                return None
            return f"SELECT u.*, {endpoint_columns(attrs, self.has_endpoints)} FROM ({body}) u " + (
                " ".join(f"LEFT JOIN endpoints e_{x} ON u.{x}_ep = e_{x}.id" for x in sides)
                if self.has_endpoints
                else ""
            )
        if self._layouts is None:
            found = self.con.execute("SELECT name, columns FROM layouts ORDER BY name").fetchall()
            self._layouts = [(str(n), set(str(c).split(","))) for n, c in found]
        parts = []
        for i, (name, have) in enumerate(self._layouts):
            m = _TABLE_NO.search(name)
            ids = f", {int(m.group(1)) if m else i} AS __t, rowid AS __r" if row_ids else ""
            parts.append(select_sql(name, have, columns, ids))
        return "\nUNION ALL\n".join(parts) if parts else None

    def flows(self, scope: Scope | None, *columns: str) -> str:
        """``flows`` narrowed to ``columns`` and those ``scope`` filters on. Binding the
        90-column view costs about 4 ms a query, which is most of a small store's answer
        time; the view itself when there is no table yet."""
        wanted = [*columns, *sorted(_fields_of(scope.where) if scope else ())]
        if scope is not None and (scope.time.start or scope.time.end):
            wanted += ["start_time", "end_time"]
        cols = [c for c in dict.fromkeys(wanted) if c in SQL_TYPES or c in ENDPOINT_COLUMNS] or [
            "load_id"
        ]
        union = self.union(cols)
        return "flows" if union is None else f"({union}) AS flows"

    def rows(self, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        if not self.macros and "fs_ip6hex(" in sql:
            for macro in MACROS:
                self.con.execute(macro).fetchall()
            self.macros = True
        return self.con.execute(sql, params or []).fetchall()


def endpoint_columns(attrs: list[str], joined: bool) -> str:
    """``e_src.name AS src_name, ...`` (typed NULLs when the store has no endpoints yet)."""
    out = []
    for c in attrs:
        a = ENDPOINT_COLUMNS[c]
        side = c[:3]
        out.append(
            f"e_{side}.{quote(a.name)} AS {quote(c)}"
            if joined
            else f"NULL::{a.sql_type} AS {quote(c)}"
        )
    return ", ".join(out)


@contextmanager
def watchdog(
    con: duckdb.DuckDBPyConnection, timeout: float | None, limit: float | None = None
) -> Iterator[None]:
    """Interrupt ``con`` after ``timeout`` seconds; map DuckDB errors to QueryError.

    ``limit`` is the time limit the message names when ``timeout`` is what is left of it.
    """
    limit = timeout if limit is None else limit
    took = (
        f"the query took longer than {limit:g}s and was stopped"
        if limit
        else "the query was stopped"
    )
    lock = threading.Lock()
    done = False
    fired = False

    def interrupt() -> None:
        nonlocal fired
        with lock:
            if not done:
                fired = True
                con.interrupt()

    timer = threading.Timer(timeout, interrupt) if timeout else None
    if timer is not None:
        timer.daemon = True
        timer.start()
    try:
        yield
    except duckdb.InterruptException as e:
        raise QueryTimeout(took, hint="narrow the time range or the filter") from e
    except duckdb.Error as e:
        if fired:
            raise QueryTimeout(took) from e
        raise QueryError(str(e).splitlines()[0]) from e
    finally:
        with lock:
            done = True
        if timer is not None:
            timer.cancel()


class DuckBackend(Backend):
    """Queries over a DuckStore; ``timeout`` (s) and ``row_cap`` apply to every ``run``."""

    def __init__(
        self,
        store: DuckStore,
        *,
        timeout: float | None = None,
        row_cap: int | None = None,
        lock_wait: float | None = None,
    ) -> None:
        self.store = store
        self.timeout = timeout
        self.row_cap = row_cap
        self.lock_wait = lock_wait
        self._ip6 = _Ip6Cache(store.path)

    def fields(self) -> list[QueryField]:
        return list(QUERY_FIELDS.values())

    def run(self, queries: Sequence[Query]) -> list[Result]:
        for q in queries:
            check_query(q, self.row_cap)
        started = time.monotonic()
        with self.store.read(timeout=self.lock_wait) as con:
            # waiting for the file counts against the time limit too
            left = None if self.timeout is None else self.timeout - (time.monotonic() - started)
            if left is not None and left <= 0:
                raise QueryTimeout(f"the store was busy for longer than {self.timeout:g}s")
            with watchdog(con, left, self.timeout):
                session = _Session(con, self._ip6)
                return [self._answer(session, q) for q in queries]

    def _answer(self, s: _Session, q: Query) -> Result:
        if isinstance(q, TopQuery):
            return top(s, q)
        if isinstance(q, HistQuery):
            return hist(s, q)
        if isinstance(q, SearchQuery):
            return search(s, q)
        if isinstance(q, SummaryQuery):
            return summary_from_top(q, top(s, TopQuery((q.field,), "count", q.size, q.scope)))
        return metrics(s, q)


def _grouped(s: _Session, q: TopQuery, keys: list[str], where: Sql) -> str:
    """``SELECT k0.., c, b, p`` grouped by the keys. Endpoint attributes are grouped by their
    endpoint id first and joined to ``endpoints`` after (the join then meets thousands of
    groups, not millions of rows); a list attribute (security groups) counts once per member."""
    attrs = [f for f in q.fields if f in ENDPOINT_COLUMNS]
    if not attrs:
        key_cols = ", ".join(f"{quote(f)} AS {k}" for f, k in zip(q.fields, keys, strict=True))
        source = s.flows(q.scope, *q.fields, "bytes", "packets")
        return f"SELECT {key_cols}, {_SUMS} FROM {source} {where.where} GROUP BY ALL"
    sides = sorted({f[:3] for f in attrs})
    plain = [f for f in q.fields if f not in ENDPOINT_COLUMNS]
    inner_cols = [*plain, *(f"{x}_ep" for x in sides)]
    source = s.flows(q.scope, *inner_cols, "bytes", "packets")
    inner = (
        f"SELECT {', '.join(quote(c) for c in inner_cols)}, {_SUMS} "
        f"FROM {source} {where.where} GROUP BY ALL"
    )
    outer_keys = []
    for f, k in zip(q.fields, keys, strict=True):
        if f not in ENDPOINT_COLUMNS:
            outer_keys.append(f"g.{quote(f)} AS {k}")
            continue
        a = ENDPOINT_COLUMNS[f]
        value = f"e_{f[:3]}.{quote(a.name)}" if s.has_endpoints else f"NULL::{a.sql_type}"
        # (an empty or absent list is one row with a missing key, as the cluster counts it)
        listed = f"unnest(CASE WHEN len({value}) > 0 THEN {value} ELSE [NULL] END)"
        outer_keys.append(f"{listed} AS {k}" if a.sql_type.endswith("[]") else f"{value} AS {k}")
    joins = (
        " ".join(f"LEFT JOIN endpoints e_{x} ON g.{x}_ep = e_{x}.id" for x in sides)
        if s.has_endpoints
        else ""
    )
    return (
        f"SELECT {', '.join(keys)}, sum(c) AS c, sum(b) AS b, sum(p) AS p FROM ("
        f"SELECT {', '.join(outer_keys)}, c, b, p FROM ({inner}) g {joins}"
        ") GROUP BY ALL"
    )


def top(s: _Session, q: TopQuery) -> TopResult:
    keys = [f"k{i}" for i in range(len(q.fields))]
    key_list = ", ".join(keys)
    missing = " OR ".join(f"{k} IS NULL" for k in keys)
    where = s.where(q.scope)
    metric = _METRIC_COL[q.by]
    # Totals ride along as window sums over the groups; rows with a NULL key are "missing".
    # (window aggregates with FILTER are quadratic in DuckDB 2.0; CASE sums are not)
    sql = f"""
        SELECT {missing} AS m, {key_list}, c, b, p,
            sum(c) OVER (), sum(b) OVER (), sum(p) OVER (),
            sum(CASE WHEN {missing} THEN c ELSE 0 END) OVER (),
            sum(CASE WHEN {missing} THEN b ELSE 0 END) OVER (),
            sum(CASE WHEN {missing} THEN p ELSE 0 END) OVER (),
            sum(CASE WHEN {missing} THEN 0 ELSE 1 END) OVER ()
        FROM ({_grouped(s, q, keys, where)})
        ORDER BY m, {metric} DESC, c DESC, {key_list}
        LIMIT ?"""
    n = len(keys)
    result = s.rows(sql, [*where.params, q.size])
    if not result:
        return TopResult.of(q, [], Totals(), Totals(), 0)
    first = result[0]
    total = Totals(*(int(v) for v in first[n + 4 : n + 7]))
    missing_t = Totals(*(int(v) for v in first[n + 7 : n + 10]))
    distinct = int(first[n + 10])
    rows = [
        TopRow(tuple(r[1 : n + 1]), Totals(int(r[n + 1]), int(r[n + 2]), int(r[n + 3])))
        for r in result
        if not r[0]
    ]
    return TopResult.of(q, rows, total, missing_t, distinct)


def hist(s: _Session, q: HistQuery) -> HistResult:
    span = q.scope.time
    cond = join([s.where(q.scope), Sql('"start" IS NOT NULL')])
    source = s.flows(q.scope, "start", "bytes", "packets", *([q.split] if q.split else []))
    first = last = None
    if buckets.needs_bounds(q):
        first, last = s.rows(
            f'SELECT min("start"), max("start") FROM {source} WHERE {cond.text}', cond.params
        )[0]
    plan = buckets.plan(q, first, last)
    if plan is None:
        return buckets.empty(q)
    low, step, first_bucket = plan.low, plan.step, plan.first
    start_col = f'greatest("start", {int(low)})' if span.start else '"start"'
    # the bucket's number counted from the first, a small integer DuckDB groups with a perfect
    # hash; a start outside [low, high) falls outside 0..buckets-1 (or is NULL) and is skipped
    bucket = f"TRY_CAST(({start_col} - {int(first_bucket)}) // {int(step)} AS INTEGER)"
    if q.split:
        metric = _METRIC_COL[q.by]
        sql = f"""
            WITH g AS (SELECT {bucket} AS t, {quote(q.split)} AS k, {_SUMS}
                       FROM {source} WHERE {cond.text} GROUP BY ALL),
                 r AS (SELECT k, row_number() OVER (ORDER BY sum({metric}) DESC, k NULLS LAST)
                           AS n FROM g GROUP BY k)
            SELECT g.t, least(r.n, ?) AS rank, CASE WHEN r.n < ? THEN g.k END AS key,
                   sum(c), sum(b), sum(p)
            FROM g JOIN r ON g.k IS NOT DISTINCT FROM r.k GROUP BY ALL"""
        rows = s.rows(sql, [*cond.params, q.split_size + 1, q.split_size + 1])
    else:
        sql = f"SELECT {bucket} AS t, 1, NULL, {_SUMS} FROM {source} WHERE {cond.text} GROUP BY 1"
        rows = s.rows(sql, cond.params)
    series: dict[tuple[int, Any], list[list[int]]] = {}
    for t, rank, key, c, b, p in rows:
        slot = -1 if t is None else int(t)
        if not 0 <= slot < plan.count:
            continue
        arrays = series.setdefault((int(rank), key), [[0] * plan.count for _ in range(3)])
        arrays[0][slot] += int(c)
        arrays[1][slot] += int(b)
        arrays[2][slot] += int(p)
    out = []
    for (rank, key), (c, b, p) in sorted(series.items(), key=lambda kv: kv[0][0]):
        other = q.split is not None and rank > q.split_size
        out.append(Series(key, series_label(q.split, key, other), other, c, b, p))
    return plan.result(q, out)


_METRICS_COLUMNS = ("bytes", "packets", "srcaddr", "dstaddr", "start_time", "end_time")


def metrics(s: _Session, q: MetricsQuery) -> Metrics:
    where = s.where(q.scope)
    distinct = (
        'count(DISTINCT "srcaddr"), count(DISTINCT "dstaddr")' if q.distinct else "NULL, NULL"
    )
    row = s.rows(
        'SELECT count(*), coalesce(sum("bytes"), 0), coalesce(sum("packets"), 0), '
        f'{distinct}, min("start_time"), max("end_time") '
        f"FROM {s.flows(q.scope, *_METRICS_COLUMNS)} {where.where}",
        where.params,
    )[0]
    sources, destinations = (None, None) if row[3] is None else (int(row[3]), int(row[4]))
    return Metrics(int(row[0]), int(row[1]), int(row[2]), sources, destinations, row[5], row[6])


# -- search: keyset paging over the physical tables --------------------------------------------


def _fields_of(node: Node | None) -> set[str]:
    if node is None:
        return set()
    if isinstance(node, And | Or):
        return set().union(*(_fields_of(i) for i in node.items))
    if isinstance(node, Not):
        return _fields_of(node.item)
    return {node.field}


def _encode_cursor(q: SearchQuery, value: Any, table: int, rowid: int) -> str:
    kind = "t" if isinstance(value, datetime) else "v"
    v = value.isoformat() if isinstance(value, datetime) else value
    return cursor.encode(q, {"k": kind, "v": v, "t": table, "r": rowid})


def _decode_cursor(q: SearchQuery, token: str) -> tuple[Any, int, int]:
    position = cursor.decode(q, token)
    try:
        value = position["v"]
        if position["k"] == "t" and value is not None:
            value = datetime.fromisoformat(value)
        return value, int(position["t"]), int(position["r"])
    except (ValueError, KeyError, TypeError) as e:
        raise QueryError("invalid cursor: pass the next_cursor of a previous page") from e


def _keyset(q: SearchQuery, sort: str) -> Sql:
    value, table, rowid = _decode_cursor(q, q.cursor or "")
    lt = "<" if q.descending else ">"
    after_row = Sql(f"(__t {lt} ? OR (__t = ? AND __r {lt} ?))", [table, table, rowid])
    if value is None:
        return Sql(f"{sort} IS NULL AND {after_row.text}", after_row.params)
    return Sql(
        f"{sort} {lt} ? OR {sort} IS NULL OR ({sort} = ? AND {after_row.text})",
        [value, value, *after_row.params],
    )


def search(s: _Session, q: SearchQuery) -> SearchResult:
    where = s.where(q.scope)
    columns = list(dict.fromkeys(q.columns))
    needed = list(
        dict.fromkeys(
            [*columns, q.sort, "start_time", "end_time", *sorted(_fields_of(q.scope.where))]
        )
    )
    source = s.union(needed, row_ids=True)
    if source is None:
        return SearchResult(columns, [], 0, None)
    total = int(
        s.rows(f"SELECT count(*) FROM {s.flows(q.scope)} {where.where}", where.params)[0][0]
    )
    sort = quote(q.sort)
    cond = join([where, _keyset(q, sort) if q.cursor else Sql("")])
    direction = "DESC" if q.descending else "ASC"
    sql = (
        f"SELECT {', '.join(quote(c) for c in columns)}, {sort}, __t, __r FROM ({source}) "
        + f"{cond.where} ORDER BY {sort} {direction} NULLS LAST, "
        + f"__t {direction}, __r {direction} LIMIT ?"
    )
    rows = s.rows(sql, [*cond.params, q.size + 1])
    page = rows[: q.size]
    n = len(columns)
    cursor = None
    if len(rows) > q.size and page:
        last = page[-1]
        cursor = _encode_cursor(q, last[n], int(last[n + 1]), int(last[n + 2]))
    return SearchResult(columns, [tuple(r[:n]) for r in page], total, cursor)


__all__ = ["DuckBackend", "QueryTimeout"]  # QueryTimeout lives in query.model; kept here too
