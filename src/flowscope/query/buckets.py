"""Histogram buckets, planned once for every engine.

A histogram counts flows by the bucket of their ``start`` (epoch-aligned: ``start // step *
step``). The time range gives the bounds; an open bound is taken from the data (the engine asks
for the first and last ``start`` and passes them in). Each engine then groups in its own terms
and maps its answer back through :meth:`Buckets.slot`; the series totals are summed here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from flowscope.errors import QueryError
from flowscope.query.intervals import MAX_BUCKETS, auto_interval, format_interval
from flowscope.query.model import HistQuery, HistResult, Series, Totals


def epoch(t: datetime) -> int:
    """Whole seconds since 1970 of a timezone-aware time."""
    return int(t.timestamp())


@dataclass(frozen=True)
class Buckets:
    low: int  # the range's first second
    high: int  # the range's end (exclusive)
    step: int  # seconds a bucket
    first: int  # the first bucket's start (``low`` rounded down to ``step``)
    count: int  # how many buckets

    def slot(self, bucket_start: int) -> int | None:
        """The index of the bucket starting at ``bucket_start``, or None outside the range."""
        i, rest = divmod(bucket_start - self.first, self.step)
        return i if rest == 0 and 0 <= i < self.count else None

    def times(self) -> list[datetime]:
        return [datetime.fromtimestamp(self.first + i * self.step, UTC) for i in range(self.count)]

    def result(self, q: HistQuery, series: Sequence[Series]) -> HistResult:
        """The histogram of ``series`` over these buckets, with its totals."""
        total = Totals.sum(Totals(sum(s.count), sum(s.bytes), sum(s.packets)) for s in series)
        return HistResult(
            self.step,
            datetime.fromtimestamp(self.low, UTC),
            datetime.fromtimestamp(self.high, UTC),
            self.times(),
            q.split,
            list(series),
            total,
        )


def needs_bounds(q: HistQuery) -> bool:
    """Whether the engine must look up the first and last ``start`` (an open time range)."""
    return q.scope.time.start is None or q.scope.time.end is None


def empty(q: HistQuery) -> HistResult:
    """The answer when an open range holds no flow."""
    span = q.scope.time
    return HistResult(q.interval or 60, span.start, span.end, [], q.split, [], Totals())


def plan(q: HistQuery, first: int | None = None, last: int | None = None) -> Buckets | None:
    """The buckets of ``q``; ``first``/``last`` are the data's first and last ``start`` (epoch
    seconds) when the range is open. None when an open range holds no flow."""
    span = q.scope.time
    low = epoch(span.start) if span.start else None
    high = epoch(span.end) if span.end else None  # exclusive
    if low is None or high is None:
        if first is None or last is None:
            return None
        low = int(first) if low is None else low
        if high is None:
            high = epoch(datetime.now(UTC)) if span.start else int(last) + 1
            high = max(high, low + 1)
    step = q.interval or auto_interval(high - low)
    first_bucket = low - low % step
    last_bucket = (high - 1) - (high - 1) % step
    count = (last_bucket - first_bucket) // step + 1
    if count > MAX_BUCKETS:
        raise QueryError(
            f"an interval of {format_interval(step)} makes {count} buckets (at most {MAX_BUCKETS})",
            hint="choose a longer interval, or auto",
        )
    return Buckets(low, high, step, first_bucket, count)
