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
_AGE = re.compile(r"^([0-9]+)\s*([smhdw])$", re.IGNORECASE)
_SECONDS = re.compile(r"^([0-9]+)$")
_RELATIVE = re.compile(r"^now\s*(?:([+-])\s*([0-9]+)\s*([smhdw]))?$", re.IGNORECASE)
_EPOCH = re.compile(r"^[0-9]{9,10}$")

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
#: Times a range may name: flow logs begin in 2015 and epoch seconds at 1970; Python's dates
#: end in 9999. Anything outside is a typo, answered with a message rather than a crash.
MIN_TIME = datetime(1970, 1, 1, tzinfo=UTC)
MAX_TIME = datetime(9999, 12, 31, tzinfo=UTC)
#: The longest histogram bucket: buckets are aligned to multiples of the width counted from
#: 1970, so a width of decades would put the first bucket in 1970.
MAX_INTERVAL = 366 * 86400


@dataclass(frozen=True)
class TimeRange:
    """A half-open range [start, end) of UTC times; None on a side means unbounded."""

    start: datetime | None = None
    end: datetime | None = None

    @property
    def bounded(self) -> bool:
        return self.start is not None or self.end is not None


def parse_time(text: str, now: datetime | None = None) -> datetime | None:
    """One point in time, or None for ``all`` / the empty string.

    A time outside :data:`MIN_TIME` … :data:`MAX_TIME` is a UsageError.
    """
    value = text.strip()
    if value.lower() in ("", "all"):
        return None
    try:
        when = _parse_time(text, value, now or datetime.now(UTC))
    except (OverflowError, ValueError):  # 99999999999d: past what a datetime can hold
        when = None
    if when is None or not MIN_TIME <= when <= MAX_TIME:
        raise UsageError(
            f"time {text.strip()[:40]!r} is outside {MIN_TIME:%Y-%m-%d} to {MAX_TIME:%Y-%m-%d}",
            hint=f"expected {TIME_HELP}",
        )
    return when


def _seconds(digits: str, unit: str = "s") -> int:
    """``digits`` units in seconds; OverflowError past any sane duration (int() of thousands
    of digits is refused, and slow)."""
    if len(digits) > 15:
        raise OverflowError(f"{len(digits)} digits")
    return int(digits) * UNITS[unit.lower()]


def _parse_time(text: str, value: str, now: datetime) -> datetime:
    if m := _RELATIVE.match(value):
        if not m.group(1):
            return now
        delta = timedelta(seconds=_seconds(m.group(2), m.group(3)))
        return now - delta if m.group(1) == "-" else now + delta
    if m := _AGE.match(value):
        return now - timedelta(seconds=_seconds(m.group(1), m.group(2)))
    if _EPOCH.match(value):
        return datetime.fromtimestamp(int(value), UTC)
    try:
        parsed = datetime.fromisoformat(value.replace(" ", "T", 1) if " " in value else value)
    except ValueError:
        raise UsageError(
            f"time {text.strip()[:40]!r} not understood", hint=f"expected {TIME_HELP}"
        ) from None
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
    shown = repr(value[:40])
    m = _SECONDS.match(value) or _AGE.match(value)
    if not m:
        raise UsageError(
            f"interval {shown} not understood", hint="expected auto or a duration: 5m, 1h, 1d"
        )
    try:
        seconds = _seconds(*m.groups("s"))
    except OverflowError:
        seconds = MAX_INTERVAL + 1
    if seconds < 1:
        raise UsageError("the interval must be at least 1s")
    if seconds > MAX_INTERVAL:
        raise UsageError(
            f"interval {shown} is longer than {format_interval(MAX_INTERVAL)}",
            hint="choose a shorter interval, or auto",
        )
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
