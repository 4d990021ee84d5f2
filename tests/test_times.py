"""One time grammar for every --since, --until, --interval, --overlap and the API's from/to."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from flowscope.errors import UsageError
from flowscope.query.intervals import parse_interval
from flowscope.times import TimeRange, parse_duration, parse_range, parse_time
from tests.conftest import run_flowscope

NOW = datetime(2024, 6, 2, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("now", NOW),
        ("now-1h", NOW - timedelta(hours=1)),
        ("now - 15m", NOW - timedelta(minutes=15)),
        ("now+2d", NOW + timedelta(days=2)),
        ("24h", NOW - timedelta(hours=24)),
        ("1.5h", NOW - timedelta(minutes=90)),
        ("30 min", NOW - timedelta(minutes=30)),
        ("7 days", NOW - timedelta(days=7)),
        ("2 weeks ago", NOW - timedelta(days=14)),
        ("2024-06-01", datetime(2024, 6, 1, tzinfo=UTC)),
        ("2024-06-01T12:30Z", datetime(2024, 6, 1, 12, 30, tzinfo=UTC)),
        ("2024-06-01 12:30+02:00", datetime(2024, 6, 1, 10, 30, tzinfo=UTC)),
        ("1717243200", datetime(2024, 6, 1, 12, tzinfo=UTC)),
        ("1717243200000", datetime(2024, 6, 1, 12, tzinfo=UTC)),
        ("1717243200500", datetime(2024, 6, 1, 12, 0, 0, 500_000, tzinfo=UTC)),
        ("all", None),
        ("", None),
    ],
)
def test_times(text: str, expected: datetime | None) -> None:
    assert parse_time(text, NOW) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("yesterday", "time 'yesterday' not understood"),
        ("now-99999999999d", "time 'now-99999999999d' is outside 1970-01-01 to 9999-12-31"),
        ("9" * 400 + "d", "is outside 1970-01-01 to 9999-12-31"),
        ("0001-01-01", "time '0001-01-01' is outside 1970-01-01 to 9999-12-31"),
        ("12345", "time '12345' not understood"),
    ],
)
def test_bad_times(text: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        parse_time(text, NOW)


def test_durations_and_intervals_share_the_grammar() -> None:
    assert parse_duration("90") == timedelta(seconds=90)
    assert parse_duration("1.5h") == timedelta(minutes=90)
    assert parse_duration("2 days", "--overlap") == timedelta(days=2)
    assert parse_interval("1.5h") == 5400
    assert parse_interval("30 min") == 1800
    assert parse_interval("auto") is None
    with pytest.raises(UsageError, match="--overlap 'soon' is not a duration"):
        parse_duration("soon", "--overlap")
    with pytest.raises(UsageError, match="is longer than 366d"):
        parse_interval("9" * 30 + "d")
    with pytest.raises(UsageError, match="not a whole number of seconds"):
        parse_interval("1.5s")


def test_ranges() -> None:
    r = parse_range("1h", "now", NOW)
    assert r == TimeRange(NOW - timedelta(hours=1), NOW)
    assert (r.start_ms, r.end_ms) == (1717329600000 - 3_600_000, 1717329600000)
    assert r.describe() == "2024-06-02T11:00:00Z to 2024-06-02T12:00:00Z"
    assert TimeRange().describe() == "all time"
    with pytest.raises(UsageError, match="--since 'x' not understood"):
        parse_range("x", None, NOW, names=("--since", "--until"))
    with pytest.raises(UsageError, match="at or after it ends"):
        parse_range("2024-06-02", "2024-06-01", NOW)


def test_query_commands_and_aws_sources_read_times_alike() -> None:
    """`--since now-1h` used to work on `top` and fail on `ingest s3://`; both read it now,
    and both refuse nonsense with the same words (exit 2, before any AWS call)."""
    for args in (["top", "dstport"], ["ingest", "s3://no-such-bucket/"], ["follow", "s3://b/"]):
        bad = run_flowscope(*args, "--since", "last tuesday", env={"AWS_MAX_ATTEMPTS": "1"})
        assert bad.returncode == 2, (args, bad.stderr)
        assert "'last tuesday' not understood" in bad.stderr
        assert "now-15m, 24h, 1.5h, 7d" in bad.stderr
