"""The AWS readers' pure parts: CloudWatch cursors, time windows, S3 key times, payload decoding."""

from __future__ import annotations

import base64
import gzip
import json
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from flowscope.errors import UsageError
from flowscope.sources.aws.cloudwatch import StreamCursor, tolerant_layout
from flowscope.sources.aws.payload import Counts, events_of, items
from flowscope.sources.aws.s3 import day_prefix, in_window, key_time
from flowscope.times import TimeRange, parse_duration, parse_range, parse_time

NOW = datetime(2024, 6, 10, 12, 0, tzinfo=UTC)


def test_a_run_reads_what_is_new_and_where_late_events_can_be() -> None:
    c = StreamCursor(done=[[100, 200, 1_000], [300, 400, None]])
    # The stream received nothing after the watermark: only the gaps.
    assert c.to_read(0, None, 900, 500, False) == [(0, 100), (200, 300), (400, None)]
    # It did (or DescribeLogStreams says nothing): from watermark - late on.
    assert c.to_read(0, None, 1_001, 850, False) == [(0, 100), (150, 300), (400, None)]
    assert c.to_read(0, None, None, 2_000, False) == [(0, 300), (400, None)]
    assert c.to_read(150, 350, 900, 500, False) == [(200, 300)]
    assert c.to_read(120, 180, 900, 500, False) == []
    # An explicit window is read whole.
    assert c.to_read(120, 350, 900, 500, True) == [(120, 350)]
    assert StreamCursor().to_read(5, None, None, 10, False) == [(5, None)]


def test_cover_keeps_the_later_watermark_and_forgets_seen_events_it_accounts_for() -> None:
    c = StreamCursor(
        done=[[100, 200, 50]],
        seen={
            150: Counter({"60:a": 1}),
            250: Counter({"70:b": 2, "90:c": 1, "d": 1}),
            300: Counter(),
        },
    )
    c.cover(150, 260, 80)
    assert c.done == [[100, 150, 50], [150, 260, 80]]
    assert c.seen == {250: Counter({"90:c": 1}), 300: Counter()}
    assert c.watermark(149) == (True, 50) and c.watermark(260) == (False, None)
    c.cover(500, 500, 90)
    assert c.done == [[100, 150, 50], [150, 260, 80]]
    c.cover(0, 120, 10)
    assert c.done == [[0, 100, 10], [100, 150, 50], [150, 260, 80]]
    c.cover(0, 260, 80)
    assert c.done == [[0, 260, 80]]


def test_seal_merges_ranges_no_late_event_can_reach() -> None:
    c = StreamCursor(done=[[0, 100, 500], [100, 200, 700], [200, 900, 1_000], [900, 950, None]])
    c.seal(400)
    # [200, 900) ends after 1000 - 400: late events may still land there.
    assert c.done == [[0, 200, 700], [200, 900, 1_000], [900, 950, None]]
    c.seal(100)
    assert c.done == [[0, 950, None]]


def test_cursor_round_trips_through_json_and_reads_older_cursors() -> None:
    c = StreamCursor(done=[[1, 2, 3], [4, 5, None]], seen={5: Counter({"9:ab": 2})}, lo=1)
    again = StreamCursor.load(json.loads(json.dumps(c.dump())))
    assert again == c
    assert StreamCursor.load(None) == StreamCursor()
    old = StreamCursor.load({"done": [[1, 2]], "seen": {"5": {"ab": 1}}, "lo": 1})
    assert old == StreamCursor(done=[[1, 2, None]], seen={5: Counter({"ab": 1})}, lo=1)


def test_times_relative_absolute_and_bad() -> None:
    assert parse_time("24h", NOW) == NOW - timedelta(hours=24)
    assert parse_time("7d", NOW) == NOW - timedelta(days=7)
    assert parse_time("30m", NOW) == NOW - timedelta(minutes=30)
    assert parse_time("2024-06-01", NOW) == datetime(2024, 6, 1, tzinfo=UTC)
    assert parse_time("2024-06-01T12:30Z", NOW) == datetime(2024, 6, 1, 12, 30, tzinfo=UTC)
    assert parse_time("2024-06-01 12:30+02:00", NOW) == datetime(2024, 6, 1, 10, 30, tzinfo=UTC)
    assert parse_time("1717243200", NOW) == datetime(2024, 6, 1, 12, tzinfo=UTC)
    with pytest.raises(UsageError, match="--since 'yesterday' not understood"):
        parse_range("yesterday", None, NOW, names=("--since", "--until"))
    with pytest.raises(UsageError, match="at or after it ends"):
        parse_range("2024-06-02", "2024-06-01", NOW)
    assert parse_duration("90", "--interval") == timedelta(seconds=90)
    assert parse_duration("5m", "--interval") == timedelta(minutes=5)


def test_s3_key_times_and_window() -> None:
    key = (
        "AWSLogs/1/vpcflowlogs/us-east-1/2024/06/01/"
        "1_vpcflowlogs_us-east-1_fl-1_20240601T1620Z_ab.log.gz"
    )
    assert key_time(key) == datetime(2024, 6, 1, 16, 20, tzinfo=UTC)
    assert key_time("AWSLogs/1/vpcflowlogs/us-east-1/2024/06/01/other.log.gz") is None
    w = TimeRange(datetime(2024, 6, 1, 16, 23, tzinfo=UTC), datetime(2024, 6, 1, 17, tzinfo=UTC))
    assert in_window(key, w)  # records ending 16:20-16:25 overlap a window from 16:23
    assert not in_window(key.replace("T1620Z", "T1615Z"), w)
    assert not in_window(key.replace("T1620Z", "T1700Z"), w)
    assert in_window("folder/no-time.log.gz", w)
    day = datetime(2024, 6, 1).date()
    assert day_prefix(day, hive=False) == "2024/06/01/"
    assert day_prefix(day, hive=True) == "year=2024/month=06/day=01/"


def test_layout_from_a_log_format_with_an_unknown_field() -> None:
    layout, notes = tolerant_layout("${srcaddr} ${shiny-new} ${dstaddr}", "LogFormat of fl-1")
    assert layout.names == ("srcaddr", "shiny-new", "dstaddr")
    assert layout.unknown == ("shiny-new",)
    assert notes == [
        "the flow log's LogFormat names field(s) flowscope does not know: shiny-new; "
        "their values are not stored"
    ]


def _message(*events: tuple[str, str], kind: str = "DATA_MESSAGE") -> dict[str, object]:
    return {
        "messageType": kind,
        "logGroup": "G",
        "logStream": "eni-1-all",
        "logEvents": [{"id": i, "timestamp": 1, "message": m} for i, m in events],
    }


def test_payload_shapes_decode_to_the_same_events() -> None:
    msg = _message(("1", "a"), ("2", "b"))
    blob = base64.b64encode(gzip.compress(json.dumps(msg).encode())).decode()
    shapes = [
        {"awslogs": {"data": blob}},
        {"Records": [{"kinesis": {"data": blob}}]},
        {"Records": [{"Data": blob, "SequenceNumber": "1"}]},
        {"records": [{"recordId": "x", "data": blob}]},
        blob,
        msg,
    ]
    for shape in shapes:
        counts = Counts()
        assert list(events_of(shape, counts)) == [("1", "a"), ("2", "b")], shape
    control = Counts()
    assert list(events_of(_message(("9", "health"), kind="CONTROL_MESSAGE"), control)) == []
    assert control.control == 1


def test_payload_items_split_lines_and_concatenated_json() -> None:
    text = b'{"a": 1}{"b": [2]}\n  bGluZQ==\n\n[3]'
    assert list(items(iter([text[:7], text[7:20], text[20:]]))) == [
        {"a": 1},
        {"b": [2]},
        "bGluZQ==",
        [3],
    ]
