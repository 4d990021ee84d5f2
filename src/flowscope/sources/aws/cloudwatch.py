"""CloudWatch Logs: a log group's streams read with GetLogEvents, resumed from checkpoints.

A run reads every stream of the group (or those named or matched by ``--streams``), every
page, within the window, several streams at once. The API's quirks
(``shared/docs/vpc-flow-logs.md`` §5): DescribeLogStreams pages hold at most 50 streams;
GetLogEvents pages hold at most 10,000 events or 1 MB, may be empty while more remain, and at
the end of the stream return the token they were given (the loop stops on a repeated token, not
on an empty page); paging forward needs ``startFromHead``. Throttling is retried by botocore.

Each stream has a cursor (key ``cloudwatch:<region>:<group>:<stream>``) committed with the rows
of each unit (a page set of one stream)::

    {"done": [[a, b, w], ...],   ms ranges of event time read whole: every event there that
                                  CloudWatch ingested at or before w is loaded (w null: all)
     "seen": {"<ms>": {"<ingested>:<hash>": n}},  loaded events the ranges do not account for
     "lo": ms}                    start of the first window read (where a run without --since
                                  starts)

"Late" is about ingestion, not timestamps: GetLogEvents selects by event time, so an event
whose timestamp is in a range already read, ingested after that read, is invisible to a run
that only reads what is new. Each event carries its ``ingestionTime``, so a range is marked
read with the time of the run (minus SETTLE, CloudWatch's visibility lag): an event there with
a later ingestion time was not loaded. A run reads the gaps of its window not in ``done`` (the
whole window with ``whole``, an explicit ``--since/--until``) plus, for a stream whose
DescribeLogStreams ``lastIngestionTime`` is after a range's watermark (it lags, so a late event
is noticed at most a run or two later), the part of that range from ``watermark - late`` on:
events that arrive up to ``late`` (``--overlap``) after their timestamp are found there.
Ranges no late event can reach any more are merged (``seal``). An event is dropped when its
range's watermark covers it or ``seen`` holds it (a multiset, so two identical records stay
two). A unit commits its rows and the cursor covering them together, so a run killed at any
moment resumes without loss or duplicates.
"""

from __future__ import annotations

import bisect
import fnmatch
import hashlib
import logging
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from flowscope.errors import InputError, SourceError, UsageError
from flowscope.parse.layout import DEFAULT_LAYOUT, Layout
from flowscope.parse.text import BlockParser, Parsed
from flowscope.schema import BY_NAME
from flowscope.sources import Checkpoints, Plan, Progress, Reading, Unit
from flowscope.sources.aws.common import (
    RESUME,
    WORKERS,
    Aws,
    Emit,
    FailedUnit,
    call,
    error_code,
    fan_out,
    now_ms,
)
from flowscope.times import TimeRange, iso

log = logging.getLogger(__name__)

SCHEME = "cloudwatch://"
#: Late records are caught when they arrive within this long after their timestamp (--overlap).
OVERLAP = timedelta(hours=1)
#: Events ingested this long before a run started count as visible to it (CloudWatch's
#: visibility lag and clock skew); those ingested later and loaded are kept in ``seen``.
SETTLE = 5 * 60 * 1000
#: A unit (one transaction) holds at most this many events or bytes of one stream.
UNIT_EVENTS = 100_000
UNIT_BYTES = 8 << 20
#: DescribeLogStreams' lastEventTimestamp lags (usually < 1 h); skip a stream only beyond this.
STALE = 2 * 3600 * 1000
_GLOB = re.compile(r"[*?\[]")


def message_hash(message: str) -> str:
    return hashlib.blake2b(message.encode(), digest_size=8).hexdigest()


def event_key(ingested: int, message: str) -> str:
    """How ``seen`` names a loaded event: its ingestion time and message hash."""
    return f"{ingested}:{message_hash(message)}"


def _key_ingested(key: str) -> int | None:
    """The ingestion time in a ``seen`` key; None for keys of older cursors (a bare hash)."""
    head, sep, _ = key.partition(":")
    return int(head) if sep else None


def _w(w: int | None) -> float:
    """A range's watermark for comparisons: None (final) is later than any time."""
    return float("inf") if w is None else w


@dataclass
class StreamCursor:
    """Where a stream stands: ranges read, up to which ingestion time, and loaded events
    that those ranges do not account for."""

    done: list[list[Any]] = field(default_factory=list)
    seen: dict[int, Counter[str]] = field(default_factory=dict)
    lo: int | None = None

    @classmethod
    def load(cls, value: dict[str, Any] | None) -> StreamCursor:
        if not value:
            return cls()
        return cls(
            # Ranges of older cursors ([a, b]) carry no watermark: they count as final.
            [
                [int(r[0]), int(r[1]), None if len(r) < 3 or r[2] is None else int(r[2])]
                for r in value.get("done", [])
            ],
            {int(ts): Counter(c) for ts, c in value.get("seen", {}).items()},
            value.get("lo"),
        )

    def dump(self) -> dict[str, Any]:
        return {
            "done": [list(r) for r in self.done],
            "seen": {str(ts): dict(c) for ts, c in sorted(self.seen.items())},
            "lo": self.lo,
        }

    def watermark(self, ts: int) -> tuple[bool, int | None]:
        """Whether ``ts`` is in a range read before, and that range's watermark."""
        i = bisect.bisect_right(self.done, ts, key=lambda r: r[0]) - 1
        if i >= 0 and self.done[i][0] <= ts < self.done[i][1]:
            return True, self.done[i][2]
        return False, None

    def to_read(
        self, start: int, end: int | None, last_ingested: int | None, late_ms: int, whole: bool
    ) -> list[tuple[int, int | None]]:
        """The parts of [start, end) this run reads (``end`` None: open).

        Everything not read before; with ``whole``, everything. Of a range read before, the
        part where events that arrived since could be: from ``watermark - late_ms`` on, when
        DescribeLogStreams says the stream received events after the watermark (or says
        nothing); records older than that arrived more than ``late_ms`` late.
        """
        quiet: list[list[int]] = []
        if not whole:
            for a, b, w in self.done:
                recheck = w is not None and (last_ingested is None or last_ingested > w)
                upto = max(a, min(b, w - late_ms)) if recheck and w is not None else b
                if upto > a:
                    quiet.append([a, upto])
        out: list[tuple[int, int | None]] = []
        cur = start
        for a, b in quiet:
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

    def cover(self, a: int, b: int, w: int | None) -> None:
        """Mark [a, b) read: every event there ingested up to ``w`` is loaded (or was before).

        Parts read before keep the later of the two watermarks. Loaded events inside that the
        watermark accounts for are forgotten (``seen`` keeps only those ingested after it).
        """
        if b <= a:
            return
        pieces: list[list[Any]] = []
        cur = a
        for x, y, v in self.done:
            if y <= a or x >= b:
                pieces.append([x, y, v])
                continue
            if x < a:
                pieces.append([x, a, v])
            if x > cur:
                pieces.append([cur, x, w])
            lo, hi = max(x, a), min(y, b)
            pieces.append([lo, hi, v if _w(v) >= _w(w) else w])
            cur = max(cur, hi)
            if y > b:
                pieces.append([b, y, v])
        if cur < b:
            pieces.append([cur, b, w])
        self.done = _merge(sorted(pieces, key=lambda r: r[0]), lambda p, q: p[2] == q[2])
        for ts in [t for t in self.seen if a <= t < b]:
            _, mark = self.watermark(ts)
            keep = Counter(
                {
                    k: n
                    for k, n in self.seen[ts].items()
                    if (i := _key_ingested(k)) is not None and n > 0 and i > _w(mark)
                }
            )
            if keep:
                self.seen[ts] = keep
            else:
                del self.seen[ts]

    def seal(self, late_ms: int) -> None:
        """Merge neighbouring ranges no late record can still reach (``end <= w - late``).

        The merged range takes the later watermark: records that arrived between the two
        reads more than ``late_ms`` late then count as loaded (the bound, see the README).
        """

        def sealed(r: list[Any]) -> bool:
            return bool(r[2] is None or r[1] <= r[2] - late_ms)

        def both(p: list[Any], q: list[Any]) -> bool:
            return sealed(p) and sealed(q)

        self.done = _merge(self.done, both)
        for ts in list(self.seen):
            _, mark = self.watermark(ts)
            if mark is None:
                continue  # a final range holds no seen events (cover forgot them)
            keep = Counter(
                {k: n for k, n in self.seen[ts].items() if (_key_ingested(k) or mark + 1) > mark}
            )
            if keep:
                self.seen[ts] = keep
            else:
                del self.seen[ts]


def _merge(
    ranges: list[list[Any]], joinable: Callable[[list[Any], list[Any]], bool]
) -> list[list[Any]]:
    """Join touching ranges for which ``joinable`` holds, keeping the later watermark."""
    out: list[list[Any]] = []
    for r in ranges:
        if out and out[-1][1] == r[0] and joinable(out[-1], r):
            prev = out[-1]
            prev[1] = r[1]
            prev[2] = None if prev[2] is None or r[2] is None else max(prev[2], r[2])
        else:
            out.append(list(r))
    return out


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
    last_ingested: int | None = None


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
        window: TimeRange,
        streams: tuple[str, ...] = (),
        overlap: timedelta = OVERLAP,
        workers: int = WORKERS,
        whole: bool = False,
    ) -> None:
        self.group = url[len(SCHEME) :]
        if not self.group:
            raise UsageError(f"{url}: no log group", hint="e.g. cloudwatch://VPCFlowLogs")
        self.url = url
        self.aws = aws
        self.region = aws.require_region(url)
        self.window = window
        self.patterns = streams
        self.late_ms = int(overlap.total_seconds() * 1000)
        self.whole = whole
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
                    found[name] = StreamInfo(
                        name, s.get("lastEventTimestamp"), s.get("lastIngestionTime")
                    )
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

    def plan(self, checkpoints: Checkpoints, fmt: Layout | None) -> Plan:
        """List the streams, read their cursors, and return the lazy units of this run."""
        layout, notes = self.layout(fmt)
        streams = self.list_streams()
        cursors = {
            s.name: StreamCursor.load(checkpoints.cursor(self.cursor_key(s.name))) for s in streams
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

    def describe(self, plan: Plan) -> str:
        """The line said before a run: what will be read, the window, the layout."""
        what = f"{plan.progress.total} {plan.progress.what}"
        layout = plan.layout.describe() if plan.layout else "default format (v2)"
        return f"{self.url} ({self.region}): {what}, {self.window.describe()}; layout: {layout}"

    def _read_stream(
        self,
        stream: StreamInfo,
        cursor: StreamCursor,
        layout: Layout,
        started: int,
        emit: Emit[Unit],
    ) -> None:
        since, until = self.window.start_ms, self.window.end_ms
        start = since if since is not None else (cursor.lo if cursor.lo is not None else 0)
        # Events ingested up to `mark` are visible by the time this run reads (SETTLE covers
        # CloudWatch's short visibility lag and clock skew); those ingested later and loaded
        # now are kept in `seen`.
        mark = started - SETTLE
        cursor.seal(self.late_ms)
        before = StreamCursor([list(r) for r in cursor.done], {}, cursor.lo)
        remaining = {ts: Counter(c) for ts, c in cursor.seen.items()}
        cursor.lo = start if cursor.lo is None else min(cursor.lo, start)
        base = f"{SCHEME}{self.group}/{stream.name}"
        spans = cursor.to_read(start, until, stream.last_ingested, self.late_ms, self.whole)
        for g0, g1 in spans:
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
                        ingested = int(ev.get("ingestionTime") or started)
                        read, w = before.watermark(ts)
                        if read and ingested <= _w(w):
                            continue  # loaded when this range was read
                        key = event_key(ingested, message)
                        left = remaining.get(ts)
                        if left is not None and left[key] > 0:
                            left[key] -= 1
                            continue
                        if left is not None and left[message_hash(message)] > 0:
                            # Loaded under an older cursor's key: keep it under the new one.
                            left[message_hash(message)] -= 1
                            cursor.seen.setdefault(ts, Counter())[key] += 1
                            continue
                        cursor.seen.setdefault(ts, Counter())[key] += 1
                        if not lines:
                            first = ts
                        data = message.encode()
                        lines.append(data)
                        size += len(data) + 1
                        if len(lines) >= UNIT_EVENTS or size >= UNIT_BYTES:
                            if in_order:
                                # Events come in timestamp order: all before `last` were seen.
                                cursor.cover(g0, min(last, started), mark)
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
            cursor.cover(g0, started if g1 is None else min(g1, started), mark)
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
