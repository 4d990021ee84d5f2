"""Histogram intervals: ``auto`` or a duration (``5m``, in the grammar of :mod:`flowscope.times`).

``auto`` picks the nice step giving at most :data:`TARGET_BUCKETS` buckets over the range; a
histogram has at most :data:`MAX_BUCKETS` buckets, each at most :data:`MAX_INTERVAL` long.
"""

from __future__ import annotations

from flowscope.errors import UsageError
from flowscope.times import UNITS, parse_duration

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
#: The longest histogram bucket: buckets are aligned to multiples of the width counted from
#: 1970, so a width of decades would put the first bucket in 1970.
MAX_INTERVAL = 366 * 86400


def parse_interval(text: str | None) -> int | None:
    """Seconds per bucket, or None for ``auto``."""
    value = (text or "auto").strip().lower()
    if value == "auto":
        return None
    shown = repr(value[:40])
    try:
        seconds = parse_duration(value, "interval").total_seconds()
    except UsageError as e:
        if "longer than" not in e.message:  # 99999999999d: too long, not a typo of form
            raise UsageError(
                f"interval {shown} not understood", hint="expected auto or a duration: 5m, 1h, 1d"
            ) from None
        seconds = MAX_INTERVAL + 1
    if seconds != int(seconds):
        raise UsageError(f"interval {shown} is not a whole number of seconds")
    if seconds < 1:
        raise UsageError("the interval must be at least 1s")
    if seconds > MAX_INTERVAL:
        raise UsageError(
            f"interval {shown} is longer than {format_interval(MAX_INTERVAL)}",
            hint="choose a shorter interval, or auto",
        )
    return int(seconds)


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
