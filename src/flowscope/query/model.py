"""The questions (requests) and answers (results) every backend shares, and the backend contract.

Requests name fields and carry a parsed filter tree and a resolved time range: nothing in them
is specific to DuckDB, so the OpenSearch backend answers the same objects. Results are plain
data with ``to_dict()`` giving the JSON the API sends; the CLI renders the same objects.

A backend implements :meth:`Backend.run` (several requests answered together: DuckDB uses one
read connection, OpenSearch one multi-search) and :meth:`Backend.fields`; the typed
helpers (``top``, ``hist``…) are written once here on top of it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from dataclasses import field as _field
from datetime import datetime
from typing import Any, Literal, TypeAlias, TypeVar

from flowscope.errors import QueryError
from flowscope.query.fields import QUERY_FIELDS, QueryField, resolve
from flowscope.query.filter import Node, and_all
from flowscope.query.intervals import format_interval
from flowscope.times import TimeRange

Metric = Literal["count", "bytes", "packets"]
METRICS: tuple[Metric, ...] = ("count", "bytes", "packets")

#: Columns a search shows unless told otherwise.
DEFAULT_COLUMNS: tuple[str, ...] = (
    "start_time",
    "interface_id",
    "srcaddr",
    "srcport",
    "dstaddr",
    "dstport",
    "protocol_name",
    "packets",
    "bytes",
    "action",
)


def _iso(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def check_metric(value: str) -> Metric:
    for m in METRICS:
        if value == m:
            return m
    raise QueryError(f"unknown metric {value!r}: expected count, bytes or packets")


# -- requests ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scope:
    """Which flows a question is about: a filter and a time range."""

    where: Node | None = None
    time: TimeRange = _field(default_factory=TimeRange)

    def narrowed(self, extra: Node | None) -> Scope:
        return replace(self, where=and_all(extra, self.where))


@dataclass(frozen=True)
class TopQuery:
    """The ``size`` most frequent values (or value tuples) of ``fields``, ranked by ``by``."""

    fields: tuple[str, ...]
    by: Metric = "count"
    size: int = 10
    scope: Scope = _field(default_factory=Scope)


@dataclass(frozen=True)
class HistQuery:
    """Flows over time: buckets of ``interval`` seconds (None: auto), split by a field."""

    interval: int | None = None
    split: str | None = None
    split_size: int = 10
    by: Metric = "count"
    scope: Scope = _field(default_factory=Scope)


@dataclass(frozen=True)
class SearchQuery:
    """Flow records, sorted, one page at a time (``cursor`` continues a previous page)."""

    columns: tuple[str, ...] = DEFAULT_COLUMNS
    sort: str = "start_time"
    descending: bool = True
    size: int = 50
    cursor: str | None = None
    scope: Scope = _field(default_factory=Scope)


@dataclass(frozen=True)
class SummaryQuery:
    """A field at a glance, for a sidebar: top values with their share, distinct, missing."""

    field: str
    size: int = 5
    scope: Scope = _field(default_factory=Scope)


@dataclass(frozen=True)
class MetricsQuery:
    """Headline numbers: flows, bytes, packets, distinct sources/destinations, time span."""

    scope: Scope = _field(default_factory=Scope)
    #: Count distinct sources and destinations (the costly part); else they are None.
    distinct: bool = True


Query: TypeAlias = TopQuery | HistQuery | SearchQuery | SummaryQuery | MetricsQuery


# -- results -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Totals:
    count: int = 0
    bytes: int = 0
    packets: int = 0

    def get(self, metric: Metric) -> int:
        return int(getattr(self, metric))

    def minus(self, other: Totals) -> Totals:
        return Totals(
            self.count - other.count, self.bytes - other.bytes, self.packets - other.packets
        )

    @staticmethod
    def sum(parts: Iterable[Totals]) -> Totals:
        count = nbytes = packets = 0
        for p in parts:
            count, nbytes, packets = count + p.count, nbytes + p.bytes, packets + p.packets
        return Totals(count, nbytes, packets)

    def to_dict(self) -> dict[str, int]:
        return {"count": self.count, "bytes": self.bytes, "packets": self.packets}


@dataclass(frozen=True)
class TopRow:
    key: tuple[Any, ...]
    totals: Totals

    def to_dict(self, fields: Sequence[str]) -> dict[str, Any]:
        head = (
            {"value": _iso(self.key[0])}
            if len(fields) == 1
            else {f: _iso(v) for f, v in zip(fields, self.key, strict=True)}
        )
        return head | self.totals.to_dict()


@dataclass(frozen=True)
class TopResult:
    """Ranked rows; ``other`` is what the rows leave out, ``missing`` the flows with no value."""

    fields: tuple[str, ...]
    by: Metric
    rows: list[TopRow]
    other: Totals
    missing: Totals
    total: Totals
    distinct: int

    @classmethod
    def of(
        cls, q: TopQuery, rows: list[TopRow], total: Totals, missing: Totals, distinct: int
    ) -> TopResult:
        """The answer to ``q`` from its ranked ``rows`` and the scope's totals: ``other`` is
        what the rows leave out; a scope with no flow answers all zeros."""
        if total.count == 0:
            return cls(q.fields, q.by, [], Totals(), Totals(), Totals(), 0)
        other = total.minus(missing).minus(Totals.sum(r.totals for r in rows))
        return cls(q.fields, q.by, rows, other, missing, total, distinct)

    def to_dict(self) -> dict[str, Any]:
        return {
            "fields": list(self.fields),
            "by": self.by,
            "rows": [r.to_dict(self.fields) for r in self.rows],
            "other": self.other.to_dict(),
            "missing": self.missing.to_dict(),
            "total": self.total.to_dict(),
            "distinct": self.distinct,
        }


@dataclass(frozen=True)
class Series:
    """One line of a histogram: a split value (``other``: the values past the top ones)."""

    key: Any
    label: str
    other: bool
    count: list[int]
    bytes: list[int]
    packets: list[int]

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": _iso(self.key),
            "label": self.label,
            "other": self.other,
            "count": self.count,
            "bytes": self.bytes,
            "packets": self.packets,
        }


def series_label(split: str | None, key: Any, other: bool) -> str:
    """What a series is called: the split value, (other), (missing), or "flows" unsplit."""
    if split is None:
        return "flows"
    if other:
        return "(other)"
    return "(missing)" if key is None else str(_iso(key))


@dataclass(frozen=True)
class HistResult:
    interval: int
    start: datetime | None
    end: datetime | None
    times: list[datetime]
    split: str | None
    series: list[Series]
    total: Totals

    def to_dict(self) -> dict[str, Any]:
        return {
            "interval": format_interval(self.interval),
            "interval_seconds": self.interval,
            "from": _iso(self.start),
            "to": _iso(self.end),
            "times": [_iso(t) for t in self.times],
            "split": self.split,
            "series": [s.to_dict() for s in self.series],
            "total": self.total.to_dict(),
        }


@dataclass(frozen=True)
class SearchResult:
    columns: list[str]
    rows: list[tuple[Any, ...]]
    total: int
    next_cursor: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "columns": self.columns,
            "rows": [{c: _iso(v) for c, v in zip(self.columns, r, strict=True)} for r in self.rows],
            "total": self.total,
            "next_cursor": self.next_cursor,
        }


@dataclass(frozen=True)
class SummaryResult:
    field: str
    kind: str
    values: list[tuple[Any, int, float]]
    total: int
    missing: int
    distinct: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "field": self.field,
            "kind": self.kind,
            "values": [{"value": _iso(v), "count": c, "share": s} for v, c, s in self.values],
            "total": self.total,
            "missing": self.missing,
            "distinct": self.distinct,
        }


@dataclass(frozen=True)
class Metrics:
    count: int
    bytes: int
    packets: int
    sources: int | None
    destinations: int | None
    first: datetime | None
    last: datetime | None

    def to_dict(self) -> dict[str, Any]:
        return {k: _iso(v) for k, v in self.__dict__.items()}


Result: TypeAlias = TopResult | HistResult | SearchResult | SummaryResult | Metrics
R = TypeVar("R", TopResult, HistResult, SearchResult, SummaryResult, Metrics)


# -- the backend contract -----------------------------------------------------------------------


def check_query(query: Query, row_cap: int | None) -> None:
    """Field names and sizes, checked the same way for every backend."""
    names: list[str] = []
    size = 1
    if isinstance(query, TopQuery):
        if not query.fields:
            raise QueryError("top needs at least one field")
        names, size = list(query.fields), query.size
        check_metric(query.by)
    elif isinstance(query, HistQuery):
        names = [query.split] if query.split else []
        size = query.split_size
        check_metric(query.by)
    elif isinstance(query, SearchQuery):
        names, size = [*query.columns, query.sort], query.size
    elif isinstance(query, SummaryQuery):
        names, size = [query.field], query.size
    for name in names:
        if name not in QUERY_FIELDS:
            raise QueryError(f"use the column name {resolve(name).name!r}, not {name!r}")
    if size < 1:
        raise QueryError(f"the size must be at least 1, got {size}")
    if row_cap is not None and size > row_cap:
        raise QueryError(
            f"at most {row_cap} rows per query, asked for {size}",
            hint="narrow the question, or page through results with the cursor",
        )


class Backend(ABC):
    """Answers queries about one store."""

    @abstractmethod
    def fields(self) -> list[QueryField]:
        """The fields this store can be asked about."""

    @abstractmethod
    def run(self, queries: Sequence[Query]) -> list[Result]:
        """Answer several queries together (one connection / round trip), in order."""

    def _one(self, query: Query, kind: type[R]) -> R:
        result = self.run([query])[0]
        assert isinstance(result, kind)
        return result

    def top(self, query: TopQuery) -> TopResult:
        return self._one(query, TopResult)

    def hist(self, query: HistQuery) -> HistResult:
        return self._one(query, HistResult)

    def search(self, query: SearchQuery) -> SearchResult:
        return self._one(query, SearchResult)

    def summary(self, query: SummaryQuery) -> SummaryResult:
        return self._one(query, SummaryResult)

    def metrics(self, query: MetricsQuery) -> Metrics:
        return self._one(query, Metrics)


def summary_from_top(query: SummaryQuery, top: TopResult) -> SummaryResult:
    """A field summary from a count-ranked top of that field (for backends that have one)."""
    field_ = QUERY_FIELDS[query.field]
    whole = top.total.count
    values = [
        (r.key[0], r.totals.count, (r.totals.count / whole) if whole else 0.0) for r in top.rows
    ]
    return SummaryResult(query.field, field_.kind, values, whole, top.missing.count, top.distinct)
