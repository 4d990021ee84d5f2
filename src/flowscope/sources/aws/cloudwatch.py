"""CloudWatch Logs: a log group's streams read with GetLogEvents, resumed from checkpoints.

A run reads every stream of the group (or those named or matched by ``--streams``), every
page, within the window, several streams at once. The API's quirks
(``shared/docs/vpc-flow-logs.md`` §5): DescribeLogStreams pages hold at most 50 streams;
GetLogEvents pages hold at most 10,000 events or 1 MB, may be empty while more remain, and at
the end of the stream return the token they were given (the loop stops on a repeated token, not
on an empty page); paging forward needs ``startFromHead``. Throttling is retried by botocore.

Each stream has a cursor (key ``cloudwatch:<region>:<group>:<stream>``) committed with the rows
of each unit (a page set of one stream)::

    {"done": [[a, b], ...],        ms ranges whose events are all loaded
     "seen": {"<ms>": {"<hash>": n}},  loaded events outside "done": time -> message hash -> count
     "lo": ms}                      start of the first window read (where a run without --since
                                     starts)

A run reads the gaps of its window not in ``done``. Ranges only become ``done`` once they are
older than the overlap (default 15 minutes: CloudWatch receives flow-log records minutes after
their timestamp, the record's start); newer events are re-read on the next run and dropped when
they match ``seen`` (a multiset, so two identical records stay two). A unit commits its rows and
the cursor covering them together, so a run killed at any moment resumes without loss or
duplicates.
"""

from __future__ import annotations

import fnmatch
import hashlib
import logging
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from flowscope.engines.base import Store
from flowscope.errors import InputError, SourceError, UsageError
from flowscope.parse.layout import DEFAULT_LAYOUT, Layout
from flowscope.parse.text import BlockParser, Parsed
from flowscope.schema import BY_NAME
from flowscope.sources import Reading, Unit
from flowscope.sources.aws.common import (
    RESUME,
    WORKERS,
    Aws,
    Emit,
    FailedUnit,
    Plan,
    Progress,
    Window,
    call,
    error_code,
    fan_out,
    iso,
    now_ms,
)

log = logging.getLogger(__name__)

SCHEME = "cloudwatch://"
#: Late records are caught when they arrive within this long after their timestamp.
OVERLAP = timedelta(minutes=15)
#: A unit (one transaction) holds at most this many events or bytes of one stream.
UNIT_EVENTS = 100_000
UNIT_BYTES = 8 << 20
#: DescribeLogStreams' lastEventTimestamp lags (usually < 1 h); skip a stream only beyond this.
STALE = 2 * 3600 * 1000
_GLOB = re.compile(r"[*?\[]")


def message_hash(message: str) -> str:
    return hashlib.blake2b(message.encode(), digest_size=8).hexdigest()


@dataclass
class StreamCursor:
    """Where a stream stands: ranges fully loaded, and loaded events outside them."""

    done: list[list[int]] = field(default_factory=list)
    seen: dict[int, Counter[str]] = field(default_factory=dict)
    lo: int | None = None

    @classmethod
    def load(cls, value: dict[str, Any] | None) -> StreamCursor:
        if not value:
            return cls()
        return cls(
            [[int(a), int(b)] for a, b in value.get("done", [])],
            {int(ts): Counter(c) for ts, c in value.get("seen", {}).items()},
            value.get("lo"),
        )

    def dump(self) -> dict[str, Any]:
        return {
            "done": [list(r) for r in self.done],
            "seen": {str(ts): dict(c) for ts, c in sorted(self.seen.items())},
            "lo": self.lo,
        }

    def gaps(self, start: int, end: int | None) -> list[tuple[int, int | None]]:
        """The parts of [start, end) not in ``done`` (``end`` None: open)."""
        out: list[tuple[int, int | None]] = []
        cur = start
        for a, b in self.done:
            if b <= cur:
                continue
            if end is not None and a >= end:
                break
            if a > cur:
                out.append((cur, a))
            cur = max(cur, b)
        if end is None or cur < end:
            out.append((cur, end))
        return out

    def cover(self, a: int, b: int) -> None:
        """Mark [a, b) fully loaded; forget the seen events inside it."""
        if b <= a:
            return
        merged: list[list[int]] = []
        for r in sorted([*self.done, [a, b]]):
            if merged and r[0] <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], r[1])
            else:
                merged.append(list(r))
        self.done = merged
        for ts in [t for t in self.seen if any(x <= t < y for x, y in merged)]:
            del self.seen[ts]


@dataclass
class EventsUnit:
    """Events already fetched (one stream, one page set), parsed when the pipeline reads it."""

    name: str
    block: bytes
    layout: Layout
    cursor: tuple[str, dict[str, Any]] | None
    identity: str | None = None

    def read(self, fmt: Layout | None, info: Reading) -> Iterator[Parsed]:
        info.layout = self.layout
        if self.block:
            yield BlockParser(self.layout).parse(self.block, 1)


@dataclass(frozen=True)
class StreamInfo:
    name: str
    last_event: int | None


def tolerant_layout(log_format: str, origin: str) -> tuple[Layout, list[str]]:
    """A layout from a flow log's LogFormat; fields flowscope does not know are skipped."""
    names = tuple(n.strip() for n in re.findall(r"\$\{([^}]*)\}", log_format))
    unknown = tuple(n for n in names if n not in BY_NAME)
    notes = []
    if unknown:
        notes.append(
            "the flow log's LogFormat names field(s) flowscope does not know: "
            + ", ".join(unknown)
            + "; their values are not stored"
        )
    return Layout(names, origin, unknown), notes


class CloudWatchSource:
    """``cloudwatch://GROUP``: the flow-log streams of one log group."""

    def __init__(
        self,
        url: str,
        aws: Aws,
        window: Window,
        streams: tuple[str, ...] = (),
        overlap: timedelta = OVERLAP,
        workers: int = WORKERS,
    ) -> None:
        self.group = url[len(SCHEME) :]
        if not self.group:
            raise UsageError(f"{url}: no log group", hint="e.g. cloudwatch://VPCFlowLogs")
        self.url = url
        self.aws = aws
        self.region = aws.require_region(url)
        self.window = window
        self.patterns = streams
        self.overlap_ms = int(overlap.total_seconds() * 1000)
        self.workers = workers
        self.key = f"cloudwatch:{self.region}:{self.group}"
        self.logs = aws.client("logs")

    def layout(self, fmt: Layout | None) -> tuple[Layout, list[str]]:
        """--format, else the LogFormat of the flow log writing to the group, else default."""
        if fmt is not None:
            return fmt, []
        try:
            resp = call(
                self.aws,
                "ec2",
                self.aws.client("ec2").describe_flow_logs,
                "ec2:DescribeFlowLogs",
                f"the flow logs of log group {self.group}",
                Filters=[{"Name": "log-group-name", "Values": [self.group]}],
            )
        except SourceError as e:
            return DEFAULT_LAYOUT, [
                f"could not look up the flow log's LogFormat ({e}); using the default format; "
                "pass --format if the flow log has a custom one"
            ]
        found = sorted(
            (fl for fl in resp.get("FlowLogs", []) if fl.get("LogFormat")),
            key=lambda fl: str(fl.get("CreationTime", "")),
        )
        if not found:
            return DEFAULT_LAYOUT, [
                f"no flow log in {self.region} writes to log group {self.group} "
                "(ec2:DescribeFlowLogs); using the default format"
            ]
        formats = {fl["LogFormat"] for fl in found}
        first = found[0]
        layout, notes = tolerant_layout(
            first["LogFormat"], f"LogFormat of flow log {first.get('FlowLogId', '?')}"
        )
        if len(formats) > 1:
            notes.append(
                f"{len(found)} flow logs with different formats write to this group "
                f"({', '.join(str(fl.get('FlowLogId')) for fl in found)}); using the first; "
                "pass --format to choose"
            )
        return layout, notes

    def list_streams(self) -> list[StreamInfo]:
        """Every stream of the group matching the patterns (all DescribeLogStreams pages)."""
        exact = [p for p in self.patterns if not _GLOB.search(p)]
        prefixes = {_GLOB.split(p, 1)[0] for p in self.patterns} or {""}
        if "" in prefixes:
            prefixes = {""}
        found: dict[str, StreamInfo] = {}
        for prefix in sorted(prefixes):
            for s in self._describe(prefix):
                name = s["logStreamName"]
                if not self.patterns or any(fnmatch.fnmatchcase(name, p) for p in self.patterns):
                    found[name] = StreamInfo(name, s.get("lastEventTimestamp"))
        missing = [p for p in exact if p not in found]
        if missing:
            raise SourceError(
                f"log group {self.group}: no stream named {', '.join(missing)}",
                hint="see the names with: aws logs describe-log-streams "
                f"--log-group-name {self.group}",
            )
        return [found[n] for n in sorted(found)]

    def _describe(self, prefix: str) -> Iterator[dict[str, Any]]:
        kwargs: dict[str, Any] = {"logGroupName": self.group, "limit": 50}
        if prefix:
            kwargs["logStreamNamePrefix"] = prefix
        token: str | None = None
        while True:
            resp = call(
                self.aws,
                "logs",
                self.logs.describe_log_streams,
                "logs:DescribeLogStreams",
                f"log group {self.group}",
                **kwargs,
            )
            yield from resp.get("logStreams", [])
            nxt = resp.get("nextToken")
            if not nxt or nxt == token:
                return
            token = kwargs["nextToken"] = nxt

    def cursor_key(self, stream: str) -> str:
        return f"{self.key}:{stream}"

    def plan(self, store: Store, fmt: Layout | None) -> Plan:
        """List the streams, read their cursors, and return the lazy units of this run."""
        layout, notes = self.layout(fmt)
        streams = self.list_streams()
        with store.write() as writer:
            cursors = {
                s.name: StreamCursor.load(writer.cursor(self.cursor_key(s.name))) for s in streams
            }
        if not streams:
            notes.append(f"log group {self.group} has no stream matching {self.patterns or '*'}")
        progress = Progress("streams", total=len(streams))
        started = now_ms()

        def task(s: StreamInfo) -> Any:
            def run(emit: Emit[Unit]) -> None:
                try:
                    self._read_stream(s, cursors[s.name], layout, started, emit)
                finally:
                    progress.finish_one()

            return run

        units = fan_out([task(s) for s in streams], self.workers)
        return Plan(units, notes, progress, layout)

    def _read_stream(
        self,
        stream: StreamInfo,
        cursor: StreamCursor,
        layout: Layout,
        started: int,
        emit: Emit[Unit],
    ) -> None:
        since, until = self.window.since_ms, self.window.until_ms
        start = since if since is not None else (cursor.lo if cursor.lo is not None else 0)
        settle = started - self.overlap_ms
        remaining = {ts: Counter(c) for ts, c in cursor.seen.items()}
        cursor.lo = start if cursor.lo is None else min(cursor.lo, start)
        base = f"{SCHEME}{self.group}/{stream.name}"
        for g0, g1 in cursor.gaps(start, until):
            if stream.last_event is not None and stream.last_event + STALE < g0:
                continue  # nothing there, per DescribeLogStreams (a stream with no new events)
            lines: list[bytes] = []
            size = 0
            first = last = g0
            in_order = True
            try:
                for page in self._pages(stream.name, g0, g1):
                    for ev in page:
                        ts = int(ev["timestamp"])
                        if ts < g0 or (g1 is not None and ts >= g1):
                            continue  # endTime is exclusive in AWS (moto includes it)
                        in_order = in_order and ts >= last
                        last = max(last, ts)
                        message = ev["message"]
                        h = message_hash(message)
                        left = remaining.get(ts)
                        if left is not None and left[h] > 0:
                            left[h] -= 1
                            continue
                        cursor.seen.setdefault(ts, Counter())[h] += 1
                        if not lines:
                            first = ts
                        data = message.encode()
                        lines.append(data)
                        size += len(data) + 1
                        if len(lines) >= UNIT_EVENTS or size >= UNIT_BYTES:
                            if in_order:
                                # Events come in timestamp order: all before `last` were seen.
                                cursor.cover(g0, min(last, settle))
                            emit(self._unit(base, first, last, lines, layout, stream.name, cursor))
                            lines, size = [], 0
            except SourceError as e:
                if e.__cause__ is None or error_code(e.__cause__) != "ResourceNotFoundException":
                    raise
                emit(
                    FailedUnit(
                        base,
                        InputError(
                            base, "the log stream (or its group) no longer exists", hint=RESUME
                        ),
                    )
                )
                return
            cursor.cover(g0, settle if g1 is None else min(g1, settle))
            if lines:
                emit(self._unit(base, first, last, lines, layout, stream.name, cursor))

    def _unit(
        self,
        base: str,
        first: int,
        last: int,
        lines: list[bytes],
        layout: Layout,
        stream: str,
        cursor: StreamCursor,
    ) -> EventsUnit:
        return EventsUnit(
            f"{base}@{iso(first)}..{iso(last)}",
            b"\n".join(lines) + b"\n",
            layout,
            (self.cursor_key(stream), cursor.dump()),
        )

    def _pages(self, stream: str, start: int, end: int | None) -> Iterator[list[dict[str, Any]]]:
        """Every page of GetLogEvents for [start, end), oldest first."""
        kwargs: dict[str, Any] = {
            "logGroupName": self.group,
            "logStreamName": stream,
            "startTime": start,
            "startFromHead": True,
        }
        if end is not None:
            kwargs["endTime"] = end
        token: str | None = None
        while True:
            resp = call(
                self.aws,
                "logs",
                self.logs.get_log_events,
                "logs:GetLogEvents",
                f"log stream {stream} of log group {self.group}",
                **kwargs,
            )
            yield resp.get("events", [])
            nxt = resp.get("nextForwardToken")
            # The end of the stream: the same token comes back (an empty page is not the end).
            if not nxt or nxt == token:
                return
            token = kwargs["nextToken"] = nxt
