"""Times and durations as users write them: one grammar for every ``--since``, ``--until``,
``--interval``, ``--overlap`` and the API's ``from``/``to``.

A *time* is ``now``, ``now-15m`` / ``now+1h``, an age (``24h``, ``1.5h``, ``30 min``,
``7 days``: that long before now), an ISO date or date-time (UTC unless it carries an offset),
epoch seconds (9 or 10 digits) or epoch milliseconds (12 or 13 digits), or ``all`` / nothing
(no bound). A *duration* is a number, decimals allowed, and a unit (``s``, ``sec``, ``m``,
``min``, ``h``, ``hr``, ``d``, ``day``, ``w``, ``wk``, and their plurals); a bare number is
seconds. Times outside 1970-01-01 … 9999-12-31 are refused with a message (flow logs begin in
2015; Python's dates end in 9999). A range is half-open, [start, end), either side open.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from flowscope.errors import UsageError

TIME_HELP = (
    "now, now-15m, 24h, 1.5h, 7d, an ISO date or time (UTC unless given), epoch seconds or "
    "milliseconds, or all"
)
DURATION_HELP = "a duration: 90s, 5m, 1.5h, 7d (a bare number is seconds)"

MIN_TIME = datetime(1970, 1, 1, tzinfo=UTC)
MAX_TIME = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)

_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_UNIT_WORDS = {
    "s": ("s", "sec", "secs", "second", "seconds"),
    "m": ("m", "min", "mins", "minute", "minutes"),
    "h": ("h", "hr", "hrs", "hour", "hours"),
    "d": ("d", "day", "days"),
    "w": ("w", "wk", "wks", "week", "weeks"),
}
UNITS = {word: _UNIT_SECONDS[u] for u, words in _UNIT_WORDS.items() for word in words}
_AMOUNT = r"([0-9]+(?:\.[0-9]+)?)"
_UNIT = "(" + "|".join(sorted(UNITS, key=len, reverse=True)) + ")"
_DURATION = re.compile(rf"^{_AMOUNT}\s*{_UNIT}?$", re.IGNORECASE)
_AGE = re.compile(rf"^{_AMOUNT}\s*{_UNIT}(?:\s+ago)?$", re.IGNORECASE)
_RELATIVE = re.compile(rf"^now\s*(?:([+-])\s*{_AMOUNT}\s*{_UNIT})?$", re.IGNORECASE)
_EPOCH_S = re.compile(r"^[0-9]{9,10}$")
_EPOCH_MS = re.compile(r"^[0-9]{12,13}$")
#: The longest duration anyone means: more is a typo, and would overflow a datetime.
_MAX_SECONDS = (MAX_TIME - MIN_TIME).total_seconds()


def _seconds(amount: str, unit: str | None) -> float:
    return float(amount) * UNITS[(unit or "s").lower()]


def parse_duration(text: str, what: str = "duration") -> timedelta:
    """``90``/``90s``, ``5m``, ``1.5h``, ``2 days``; a UsageError naming ``what`` otherwise."""
    m = _DURATION.match(text.strip())
    if not m:
        raise UsageError(f"{what} {text.strip()[:40]!r} is not a duration", hint=DURATION_HELP)
    seconds = _seconds(*m.groups())
    if not seconds <= _MAX_SECONDS:  # (inf from a thousand digits too)
        raise UsageError(f"{what} {text.strip()[:40]!r} is longer than anyone means")
    return timedelta(seconds=seconds)


def parse_time(text: str, now: datetime | None = None, what: str = "time") -> datetime | None:
    """One point in time, or None for ``all`` / the empty string (see the module doc)."""
    value = text.strip()
    if value.lower() in ("", "all"):
        return None
    shown = repr(value[:40])
    try:
        when = _parse(value, now or datetime.now(UTC))
    except (OverflowError, ValueError):  # 99999999999d: past what a datetime can hold
        when = MIN_TIME - timedelta(days=1)
    if when is None:
        raise UsageError(f"{what} {shown} not understood", hint=f"expected {TIME_HELP}")
    if not MIN_TIME <= when <= MAX_TIME:
        raise UsageError(
            f"{what} {shown} is outside {MIN_TIME:%Y-%m-%d} to {MAX_TIME:%Y-%m-%d}",
            hint=f"expected {TIME_HELP}",
        )
    return when


def _parse(value: str, now: datetime) -> datetime | None:
    if m := _RELATIVE.match(value):
        sign, amount, unit = m.groups()
        if not sign:
            return now
        delta = timedelta(seconds=_seconds(amount, unit))
        return now - delta if sign == "-" else now + delta
    if m := _AGE.match(value):
        return now - timedelta(seconds=_seconds(*m.groups()))
    if _EPOCH_S.match(value):
        return datetime.fromtimestamp(int(value), UTC)
    if _EPOCH_MS.match(value):
        return datetime.fromtimestamp(int(value) / 1000, UTC)
    try:
        parsed = datetime.fromisoformat(value.replace(" ", "T", 1))
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


@dataclass(frozen=True)
class TimeRange:
    """A half-open range [start, end) of UTC times; None on a side means unbounded."""

    start: datetime | None = None
    end: datetime | None = None

    @property
    def bounded(self) -> bool:
        return self.start is not None or self.end is not None

    @property
    def start_ms(self) -> int | None:
        return None if self.start is None else int(self.start.timestamp() * 1000)

    @property
    def end_ms(self) -> int | None:
        return None if self.end is None else int(self.end.timestamp() * 1000)

    def describe(self) -> str:
        """``2024-06-01T12:00:00Z to now``, or ``all time``."""
        if not self.bounded:
            return "all time"
        a = iso(self.start) if self.start else "the beginning"
        b = iso(self.end) if self.end else "now"
        return f"{a} to {b}"


def parse_range(
    since: str | None,
    until: str | None = None,
    now: datetime | None = None,
    names: tuple[str, str] = ("time", "time"),
) -> TimeRange:
    """The range from ``since`` to ``until`` (either may be None or ``all``); ``names`` say
    what to call each in a message (``--since``, ``from``)."""
    now = now or datetime.now(UTC)
    start = parse_time(since or "", now, names[0])
    end = parse_time(until or "", now, names[1])
    if start is not None and end is not None and start >= end:
        raise UsageError(
            f"the range starts ({iso(start)}) at or after it ends ({iso(end)})",
            hint="the start must come before the end",
        )
    return TimeRange(start, end)


def iso(when: datetime | int) -> str:
    """``2024-06-01T12:00:00Z`` from a datetime or epoch milliseconds."""
    if isinstance(when, int):
        when = datetime.fromtimestamp(when / 1000, UTC)
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
