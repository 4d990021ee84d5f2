"""The query layer: questions asked of a store, answered as plain data.

What it holds: the filter language (:mod:`.filter`, a KQL subset parsed to a backend-neutral
tree), the queryable fields (:mod:`.fields`), time ranges (:mod:`.timerange`), the requests,
results and backend contract (:mod:`.model`), requests built from user text (:mod:`.build`),
canned reports (:mod:`.reports`), and the DuckDB backend (:mod:`.duck`, compiling through
:mod:`.duck_sql`). The CLI, the JSON API and the dashboard all go through
:class:`~flowscope.query.model.Backend`; an OpenSearch backend implements the same class.
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
