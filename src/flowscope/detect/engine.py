"""Run the rules over a window: decide the baseline, call each rule, then date every alert.

The examined window is ``[since, until)``; baselines (new destinations, new services, reject
hours) look at the ``Options.baseline`` before it. When the store holds no flow before the
window (a store loaded with one day, say), the window's first quarter serves as the baseline
and only the rest is examined, so "never seen before" still means something.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from flowscope.detect.model import Alert, Context, Options, severity_rank
from flowscope.detect.rules import MAX_ALERTS, RULES
from flowscope.errors import UsageError
from flowscope.query.filter import parse_filter
from flowscope.query.model import Backend, Metrics, MetricsQuery, Scope
from flowscope.times import TimeRange, iso


@dataclass
class Detection:
    """The answer of one run: its alerts (most severe first) and what was examined."""

    alerts: list[Alert]
    window: TimeRange
    baseline: TimeRange
    rules: list[str]
    flows: int
    queries: int
    seconds: float
    per_rule: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        def span(r: TimeRange) -> dict[str, str | None]:
            return {
                "from": iso(r.start) if r.start else None,
                "to": iso(r.end) if r.end else None,
            }

        return {
            "window": span(self.window),
            "baseline": span(self.baseline),
            "rules": self.rules,
            "flows": self.flows,
            "queries": self.queries,
            "seconds": round(self.seconds, 3),
            "alerts": [a.to_dict() for a in self.alerts],
        }


def _metrics(backend: Backend, ranges: list[TimeRange]) -> list[Metrics]:
    out = backend.run([MetricsQuery(Scope(None, r), distinct=False) for r in ranges])
    return [m for m in out if isinstance(m, Metrics)]


def check_rules(ids: list[str] | None) -> list[str]:
    if not ids:
        return list(RULES)
    bad = [i for i in ids if i not in RULES]
    if bad:
        raise UsageError(
            f"unknown rule {bad[0]!r}", hint=f"the rules are: {', '.join(RULES)} (flowscope rules)"
        )
    return list(dict.fromkeys(ids))


def detect(
    backend: Backend,
    window: TimeRange,
    rules: list[str] | None = None,
    options: Options | None = None,
    now: datetime | None = None,
) -> Detection:
    """Run ``rules`` (all by default) over ``window`` (its end defaults to now)."""
    started = time.monotonic()
    ids = check_rules(rules)
    options = options or Options()
    end = window.end or now or datetime.now(UTC)
    start = window.start
    if start is None:
        raise UsageError("detect needs a window start", hint="give --since, e.g. --since 24h")
    if start >= end:
        raise UsageError(f"the window is empty: {iso(start)} to {iso(end)}")
    examined = TimeRange(start, end)
    baseline = TimeRange(start - options.baseline, start)
    before, inside = _metrics(backend, [baseline, examined])
    if before.count == 0 and inside.count:
        # no history before the window: its first quarter is the baseline
        first = max(start, inside.first) if inside.first else start
        last = min(end, inside.last) if inside.last else end
        cut = first + (last - first) / 4
        cut = cut.replace(microsecond=0)
        baseline, examined = TimeRange(first, cut), TimeRange(cut, end)
    ctx = Context(backend, examined, baseline, options)
    alerts: list[Alert] = []
    per_rule: dict[str, float] = {}
    for rule_id in ids:
        rule = RULES[rule_id]
        t0 = time.monotonic()
        found = rule.find(ctx)
        found.sort(key=lambda a: -severity_rank(a.severity))
        for a in found[:MAX_ALERTS]:
            a.techniques = rule.techniques
            alerts.append(a)
        per_rule[rule_id] = time.monotonic() - t0
    _date(ctx, alerts)
    alerts.sort(key=lambda a: (-severity_rank(a.severity), a.rule, a.entity))
    return Detection(
        alerts,
        examined,
        baseline,
        ids,
        inside.count,
        ctx.queries + 2,
        time.monotonic() - started,
        per_rule,
    )


def _date(ctx: Context, alerts: list[Alert]) -> None:
    """First and last seen, and the flow count, of each alert's own filter in the window."""
    if not alerts:
        return
    queries = [
        MetricsQuery(Scope(parse_filter(a.where), _hour_of(a) or ctx.window), distinct=False)
        for a in alerts
    ]
    ctx.queries += len(queries)
    for a, m in zip(alerts, ctx.backend.run(queries), strict=True):
        if isinstance(m, Metrics):
            a.count, a.first_seen, a.last_seen = m.count, m.first, m.last


def _hour_of(alert: Alert) -> TimeRange | None:
    hour = alert.evidence.get("hour")
    if not isinstance(hour, str):
        return None
    t = datetime.fromisoformat(hour)
    return TimeRange(t, t + timedelta(hours=1))
