"""Canned reports: the questions AWS's own samples answer, as ordinary top and histogram queries.

Each report is a filter plus a top-N (or a histogram), so every backend answers it with no
extra code. Sources: CloudWatch Logs Insights sample queries, the VPC console's Athena
integration named queries and Contributor Insights rules (``shared/docs/vpc-flow-logs.md`` 7).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flowscope.errors import UnknownReport
from flowscope.query.filter import parse_filter
from flowscope.query.model import (
    Backend,
    HistQuery,
    HistResult,
    Query,
    Result,
    Scope,
    TopQuery,
    TopResult,
)


@dataclass(frozen=True)
class Report:
    name: str
    title: str
    question: str
    build: Callable[[Scope, int], Query]
    default_size: int = 10

    def query(self, scope: Scope, size: int | None = None) -> Query:
        return self.build(scope, size or self.default_size)


@dataclass(frozen=True)
class ReportResult:
    report: Report
    result: TopResult | HistResult

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.report.name,
            "title": self.report.title,
            "question": self.report.question,
            "kind": "top" if isinstance(self.result, TopResult) else "hist",
            "result": self.result.to_dict(),
        }


def _top(fields: str, by: str, where: str = "") -> Callable[[Scope, int], Query]:
    base = parse_filter(where)
    names = tuple(fields.split())

    def build(scope: Scope, size: int) -> Query:
        return TopQuery(names, "bytes" if by == "bytes" else "count", size, scope.narrowed(base))

    return build


def _skipdata(scope: Scope, size: int) -> Query:
    return HistQuery(interval=3600, scope=scope.narrowed(parse_filter("log_status:SKIPDATA")))


REPORTS: dict[str, Report] = {
    r.name: r
    for r in (
        Report(
            "talkers",
            "Top talkers",
            "Which source/destination pairs moved the most bytes?",
            _top("srcaddr dstaddr", "bytes"),
        ),
        Report(
            "rejected",
            "Top rejected sources",
            "Which sources were rejected most often?",
            _top("srcaddr", "count", "action:REJECT"),
            default_size=20,
        ),
        Report(
            "ssh-rdp",
            "SSH and RDP traffic",
            "Who talks to SSH (22) and RDP (3389), and was it accepted?",
            _top(
                "srcaddr dstaddr dstport action", "count", "protocol:tcp and dstport:(22 or 3389)"
            ),
            default_size=20,
        ),
        Report(
            "ports",
            "Traffic by port",
            "Which destination ports and protocols carry the flows?",
            _top("dstport protocol_name", "count"),
            default_size=20,
        ),
        Report(
            "interfaces",
            "Traffic per interface",
            "Which network interfaces move the most bytes?",
            _top("interface_id", "bytes"),
            default_size=20,
        ),
        Report(
            "skipdata",
            "SKIPDATA by hour",
            "When did AWS skip records (capacity or internal errors)?",
            _skipdata,
        ),
    )
}


def get_report(name: str) -> Report:
    report = REPORTS.get(name)
    if report is None:
        raise UnknownReport(f"unknown report {name!r}: expected one of {', '.join(REPORTS)}")
    return report


def report_result(report: Report, result: Result) -> ReportResult:
    """Wrap the answer to ``report.query(...)`` (a top or a histogram)."""
    if not isinstance(result, TopResult | HistResult):
        raise TypeError(f"report {report.name} answered with {type(result).__name__}")
    return ReportResult(report, result)


def run_report(backend: Backend, name: str, scope: Scope, size: int | None = None) -> ReportResult:
    """Answer the report called ``name`` within ``scope`` (the report's own filter added)."""
    report = get_report(name)
    return report_result(report, backend.run([report.query(scope, size)])[0])
