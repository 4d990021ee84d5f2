"""The query layer: questions asked of a store, answered as plain data, whatever the engine.

What it holds: the filter language (:mod:`.filter`, a KQL subset parsed to an engine-neutral
tree), the queryable fields (:mod:`.fields`), histogram intervals (:mod:`.intervals`) and
buckets (:mod:`.buckets`), the search cursor (:mod:`.cursor`), the requests, results and
backend contract (:mod:`.model`), requests built from user text (:mod:`.build`), canned reports
(:mod:`.reports`) and the overview (:mod:`.overview`). Each engine in :mod:`flowscope.engines`
implements :class:`~flowscope.query.model.Backend`; the CLI, the JSON API and the dashboard
all go through it. Times come from :mod:`flowscope.times`.
"""

from __future__ import annotations

from flowscope.query.build import (
    hist_query,
    make_scope,
    metrics_query,
    narrow,
    search_query,
    summary_query,
    top_query,
)
from flowscope.query.filter import Node, format_filter, parse_filter
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
    SummaryQuery,
    SummaryResult,
    TopQuery,
    TopResult,
)
from flowscope.query.reports import REPORTS, ReportResult, run_report
from flowscope.times import TimeRange, parse_range

__all__ = [
    "REPORTS",
    "Backend",
    "HistQuery",
    "HistResult",
    "Metrics",
    "MetricsQuery",
    "Node",
    "Query",
    "ReportResult",
    "Result",
    "Scope",
    "SearchQuery",
    "SearchResult",
    "SummaryQuery",
    "SummaryResult",
    "TimeRange",
    "TopQuery",
    "TopResult",
    "format_filter",
    "hist_query",
    "make_scope",
    "metrics_query",
    "narrow",
    "parse_filter",
    "parse_range",
    "run_report",
    "search_query",
    "summary_query",
    "top_query",
]
