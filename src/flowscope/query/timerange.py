"""Time ranges and histogram intervals, as users write them and as queries need them.

A time is ``now``, ``now-15m``, a bare age (``24h``, ``7d``: that long before now), an ISO date
or date-time (UTC unless it carries an offset), epoch seconds, or ``all`` (no bound). A range
matches the flows that overlap it: ``end_time >= start and start_time < end``. Histogram
intervals are ``auto`` or a duration (``5m``); ``auto`` picks the nice step giving at most
:data:`TARGET_BUCKETS` buckets over the range.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from flowscope.errors import UsageError

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_AGE = re.compile(r"^(\d+)\s*([smhdw])$", re.IGNORECASE)
_RELATIVE = re.compile(r"^now\s*(?:([+-])\s*(\d+)\s*([smhdw]))?$", re.IGNORECASE)
_EPOCH = re.compile(r"^\d{9,10}$")

#: Bucket widths ``auto`` chooses from (seconds): never finer than the one-minute flow grain.
NICE_STEPS = (
    60,
    120,
    300,
    600,
    900,
    1800,
    3600,
    7200,
    10800,
    21600,
    43200,
    86400,
    604800,
)
TARGET_BUCKETS = 120
MAX_BUCKETS = 5000

TIME_HELP = "now, now-15m, 24h, 7d, an ISO date or time (UTC unless given), or all"


@dataclass(frozen=True)
class TimeRange:
    """A half-open range [start, end) of UTC times; None on a side means unbounded."""

    start: datetime | None = None
    end: datetime | None = None

    @property
    def bounded(self) -> bool:
        return self.start is not None or self.end is not None


def parse_time(text: str, now: datetime | None = None) -> datetime | None:
    """One point in time, or None for ``all`` / the empty string."""
    value = text.strip()
    if value.lower() in ("", "all"):
        return None
    now = now or datetime.now(UTC)
    if m := _RELATIVE.match(value):
        if not m.group(1):
            return now
        delta = timedelta(seconds=int(m.group(2)) * UNITS[m.group(3).lower()])
        return now - delta if m.group(1) == "-" else now + delta
    if m := _AGE.match(value):
        return now - timedelta(seconds=int(m.group(1)) * UNITS[m.group(2).lower()])
    if _EPOCH.match(value):
        return datetime.fromtimestamp(int(value), UTC)
    try:
        parsed = datetime.fromisoformat(value.replace(" ", "T", 1) if " " in value else value)
    except ValueError:
        raise UsageError(f"time {text!r} not understood", hint=f"expected {TIME_HELP}") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def parse_range(
    since: str | None, until: str | None = None, now: datetime | None = None
) -> TimeRange:
    """The range from ``since`` to ``until`` (either may be None or ``all``)."""
    now = now or datetime.now(UTC)
    start = parse_time(since or "", now)
    end = parse_time(until or "", now)
    if start is not None and end is not None and start >= end:
        raise UsageError(
            f"the range starts ({start.isoformat()}) at or after it ends ({end.isoformat()})",
            hint="the start must come before the end",
        )
    return TimeRange(start, end)


def parse_interval(text: str | None) -> int | None:
    """Seconds per bucket, or None for ``auto``."""
    value = (text or "auto").strip().lower()
    if value == "auto":
        return None
    if value.isdigit():
        seconds = int(value)
    elif m := _AGE.match(value):
        seconds = int(m.group(1)) * UNITS[m.group(2)]
    else:
        raise UsageError(
            f"interval {text!r} not understood", hint="expected auto or a duration: 5m, 1h, 1d"
        )
    if seconds < 1:
        raise UsageError("the interval must be at least 1s")
    return seconds


def auto_interval(span_seconds: float) -> int:
    """The smallest nice step giving at most TARGET_BUCKETS buckets over the span."""
    for step in NICE_STEPS:
        if span_seconds / step <= TARGET_BUCKETS:
            return step
    return NICE_STEPS[-1]


def format_interval(seconds: int) -> str:
    """300 -> '5m', 3600 -> '1h', 90 -> '90s'."""
    for unit in ("w", "d", "h", "m"):
        if seconds % UNITS[unit] == 0:
            return f"{seconds // UNITS[unit]}{unit}"
    return f"{seconds}s"
