"""Requests from user text: the one place the CLI and the API turn options into queries.

Both shells take the same strings (a filter, ``since``/``until``, field names with aliases,
``start_time:desc``, ``5m``) and call these functions, so a mistake reads the same everywhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from flowscope.errors import QueryError
from flowscope.query.fields import QUERY_FIELDS, resolve
from flowscope.query.fields import columns as column_names
from flowscope.query.filter import and_all, parse_filter
from flowscope.query.intervals import parse_interval
from flowscope.query.model import (
    DEFAULT_COLUMNS,
    HistQuery,
    MetricsQuery,
    Scope,
    SearchQuery,
    SummaryQuery,
    TopQuery,
    check_metric,
)
from flowscope.times import parse_range


def split_names(values: str | Sequence[str] | None) -> list[str]:
    """Field names from repeated options and/or comma-separated lists."""
    if values is None:
        return []
    items = [values] if isinstance(values, str) else list(values)
    return [n.strip() for item in items for n in item.split(",") if n.strip()]


def make_scope(
    where: str | None = None,
    since: str | None = None,
    until: str | None = None,
    now: datetime | None = None,
) -> Scope:
    """A filter and a time range from their text (empty or None: no limit)."""
    return Scope(parse_filter(where), parse_range(since, until, now))


def narrow(scope: Scope, where: str | None) -> Scope:
    """``scope`` with one more filter (a dashboard panel's own), parsed on its own."""
    return Scope(and_all(scope.where, parse_filter(where)), scope.time)


def top_query(
    fields: str | Sequence[str], by: str = "count", size: int = 10, scope: Scope | None = None
) -> TopQuery:
    names = column_names(split_names(fields))
    if not names:
        raise QueryError("name a field to rank, e.g. dstaddr")
    return TopQuery(names, check_metric(by), size, scope or Scope())


def hist_query(
    interval: str | None = "auto",
    split: str | None = None,
    split_size: int = 10,
    by: str = "count",
    scope: Scope | None = None,
) -> HistQuery:
    field = resolve(split) if split else None
    if field is not None and field.kind == "list":
        # a flow would count once per member, and "other" stop being what the series leave
        raise QueryError(
            f"{field.name} is a list: a histogram cannot be split by it",
            hint=f"split by another field, or filter on one member ({field.name}:VALUE)",
        )
    return HistQuery(
        parse_interval(interval),
        field.name if field else None,
        split_size,
        check_metric(by),
        scope or Scope(),
    )


def parse_sort(text: str | None) -> tuple[str, bool]:
    """``start_time:desc`` -> ("start_time", True); the direction defaults to descending."""
    if not text:
        return "start_time", True
    name, _, direction = text.partition(":")
    direction = direction.strip().lower() or "desc"
    if direction not in ("asc", "desc"):
        raise QueryError(f"sort direction {direction!r}: expected asc or desc")
    return resolve(name.strip()).name, direction == "desc"


def search_query(
    columns: str | Sequence[str] | None = None,
    sort: str | None = None,
    size: int = 50,
    cursor: str | None = None,
    scope: Scope | None = None,
) -> SearchQuery:
    """A search; ``columns`` may be field names, ``default`` or ``all``."""
    names = split_names(columns)
    if names == ["all"]:
        shown = tuple(QUERY_FIELDS)
    elif not names or names == ["default"]:
        shown = DEFAULT_COLUMNS
    else:
        shown = column_names(names)
    field, descending = parse_sort(sort)
    return SearchQuery(shown, field, descending, size, cursor or None, scope or Scope())


def summary_query(field: str, size: int = 5, scope: Scope | None = None) -> SummaryQuery:
    return SummaryQuery(resolve(field).name, size, scope or Scope())


def metrics_query(scope: Scope | None = None, distinct: bool = True) -> MetricsQuery:
    return MetricsQuery(scope or Scope(), distinct)
