"""S3: flow-log objects under a bucket prefix, in AWS's key layouts, pruned by date.

The layouts (``shared/docs/vpc-flow-logs.md`` §4.2), each with or without a user prefix::

    [prefix/]AWSLogs/{account}/vpcflowlogs/{region}/{yyyy}/{MM}/{dd}/[{HH}/]file
    [prefix/]AWSLogs/aws-account-id={account}/aws-service=vpcflowlogs/aws-region={region}/
        year={yyyy}/month={MM}/day={dd}/[hour={HH}/]file

A URL may point anywhere in that tree (the bucket, a user prefix, ``AWSLogs/``, an account, a
region, a day) or at any other folder. Above the region level the tree is walked with delimiter
listings; below it, a time window turns into the day prefixes it covers, so a 7-day window lists
7 days and never the rest of the bucket. Objects are then kept by the timestamp in their name
(``..._20240601T1620Z_...``: records ending in that 5-minute bucket).

Objects are identified in the ledger as ``s3://bucket/key@etag`` (never loaded twice); a day
prefix that was read whole and is older than :data:`SETTLE` is recorded in the root's cursor
(``s3:bucket/root/`` -> ``{"days": [...]}``) by a zero-row marker load, so it is not listed
again. Objects are downloaded several at a time into spooled temporary files (memory, then
disk: memory does not grow with object size) while earlier ones are parsed and stored.
"""

from __future__ import annotations

import logging
import re
import shutil
import tempfile
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import IO, Any, cast

import botocore.exceptions as bx

from flowscope.errors import InputError, SourceError, UsageError
from flowscope.parse.layout import Layout
from flowscope.parse.reader import PARQUET_MAGIC
from flowscope.parse.text import Parsed
from flowscope.sources import Checkpoints, Plan, Progress, Reading, Unit
from flowscope.sources.aws.common import (
    RESUME,
    WORKERS,
    Aws,
    call,
    error_code,
    translate,
)
from flowscope.sources.files import read_stream
from flowscope.times import TimeRange

log = logging.getLogger(__name__)

SCHEME = "s3://"
#: A day prefix is complete (never listed again) this long after the day ends.
SETTLE = timedelta(hours=2)
#: Bytes of one object kept in memory before its download spills to disk.
SPOOL = 8 << 20
_SERVICES = ("vpcflowlogs", "aws-service=vpcflowlogs")
_FILE_TIME = re.compile(r"_(\d{8}T\d{4})Z")
_SINGLE = (".gz", ".parquet", ".log", ".txt")
_DOWNLOAD_TRIES = 3


@dataclass(frozen=True)
class Obj:
    key: str
    etag: str
    size: int


@dataclass(frozen=True)
class Root:
    """A folder whose children are years (``dated``), or any other folder (or one object)."""

    prefix: str
    dated: bool = True
    hive: bool = False
    within: str | None = None
    single: bool = False


@dataclass
class Group:
    """The objects of one listing (a day prefix, or a whole folder), in key order."""

    root: Root
    listed: str
    objects: list[Obj]
    day: str | None = None
    whole: bool = False
    units: list[ObjectUnit] = field(default_factory=list)


def key_time(key: str) -> datetime | None:
    """The 5-minute bucket in an AWS flow-log file name, if any."""
    m = _FILE_TIME.search(key.rsplit("/", 1)[-1])
    if not m:
        return None
    try:
        return datetime.strptime(m.group(1), "%Y%m%dT%H%M").replace(tzinfo=UTC)
    except ValueError:
        return None


def in_window(key: str, window: TimeRange) -> bool:
    t = key_time(key)
    if t is None:
        return True
    if window.end is not None and t >= window.end:
        return False
    return not (window.start is not None and t + timedelta(minutes=5) <= window.start)


def day_prefix(day: date, hive: bool) -> str:
    if hive:
        return f"year={day.year:04d}/month={day.month:02d}/day={day.day:02d}/"
    return f"{day.year:04d}/{day.month:02d}/{day.day:02d}/"


def _number(segment: str) -> int | None:
    value = segment.rstrip("/").rsplit("/", 1)[-1].rsplit("=", 1)[-1]
    return int(value) if value.isdigit() else None


class _Peekable:
    """``peek`` for a seekable file, as :func:`read_stream` sniffs the first bytes."""

    def __init__(self, f: IO[bytes]) -> None:
        self.f = f

    def peek(self, n: int = 1) -> bytes:
        pos = self.f.tell()
        data = self.f.read(n)
        self.f.seek(pos)
        return data

    def read(self, n: int = -1) -> bytes:
        return self.f.read(n)


@dataclass
class ObjectUnit:
    """One S3 object, downloading in the background; parsed like a local file."""

    name: str
    identity: str | None
    download: Future[IO[bytes]]
    cursor: tuple[str, dict[str, Any]] | None = None
    ok: bool = False

    def read(self, fmt: Layout | None, info: Reading) -> Iterator[Parsed]:
        f = self.download.result()
        try:
            path = Path(f.name) if isinstance(getattr(f, "name", None), str) else None
            if path is None and f.read(4) == PARQUET_MAGIC:
                f.seek(0)
                named = tempfile.NamedTemporaryFile(suffix=".parquet")
                shutil.copyfileobj(f, named)
                named.flush()
                f.close()
                f, path = named, Path(named.name)
            f.seek(0)
            yield from read_stream(cast(IO[bytes], _Peekable(f)), self.name, fmt, info, path)
            self.ok = True
        finally:
            f.close()


@dataclass
class MarkerUnit:
    """No rows: records in the root's cursor that a day prefix was read whole."""

    name: str
    cursor: tuple[str, dict[str, Any]] | None
    identity: str | None = None

    def read(self, fmt: Layout | None, info: Reading) -> Iterator[Parsed]:
        return iter(())


class S3Source:
    """``s3://bucket/prefix``: flow-log objects (gzip text or Parquet) under a prefix."""

    def __init__(self, url: str, aws: Aws, window: TimeRange, workers: int = WORKERS) -> None:
        rest = url[len(SCHEME) :]
        self.bucket, _, prefix = rest.partition("/")
        if not self.bucket:
            raise UsageError(f"{url}: no bucket", hint="e.g. s3://my-bucket/AWSLogs/")
        self.single = prefix.endswith(_SINGLE) and not prefix.endswith("/")
        self.prefix = prefix if self.single or not prefix or prefix.endswith("/") else prefix + "/"
        self.url = url
        self.aws = aws
        self.window = window
        self.workers = workers
        self.s3 = aws.client("s3")
        self.key = f"s3:{self.bucket}/{self.prefix}"

    def _list(self, prefix: str, delimiter: bool = False) -> Iterator[dict[str, Any]]:
        """ListObjectsV2 pages (all of them) under ``prefix``."""
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix}
        if delimiter:
            kwargs["Delimiter"] = "/"
        while True:
            resp = call(
                self.aws,
                "s3",
                self.s3.list_objects_v2,
                "s3:ListBucket",
                f"bucket {self.bucket}" if not prefix else f"s3://{self.bucket}/{prefix}",
                **kwargs,
            )
            yield resp
            token = resp.get("NextContinuationToken")
            if not resp.get("IsTruncated") or not token:
                return
            kwargs["ContinuationToken"] = token

    def _children(self, prefix: str) -> list[str]:
        return [
            p["Prefix"] for page in self._list(prefix, True) for p in page.get("CommonPrefixes", [])
        ]

    def _objects(self, prefix: str) -> list[Obj]:
        return [
            Obj(o["Key"], str(o.get("ETag", "")).strip('"'), int(o.get("Size", 0)))
            for page in self._list(prefix)
            for o in page.get("Contents", [])
            if not o["Key"].endswith("/")
        ]

    def roots(self, prefix: str) -> list[Root]:
        """The region-level folders (or other folders) under ``prefix``."""
        if self.single:
            return [Root(prefix, dated=False, single=True)]
        parts = prefix.rstrip("/").split("/") if prefix else []
        if "AWSLogs" not in parts:
            if f"{prefix}AWSLogs/" in self._children(prefix):
                return self.roots(f"{prefix}AWSLogs/")
            return [Root(prefix, dated=False)]
        i = len(parts) - 1 - parts[::-1].index("AWSLogs")
        depth = len(parts) - i - 1
        if depth == 0:
            return [r for child in self._children(prefix) for r in self.roots(child)]
        hive = parts[i + 1].startswith("aws-account-id=")
        if depth == 1:
            return [
                r
                for child in self._children(prefix)
                if child.rstrip("/").rsplit("/", 1)[-1] in _SERVICES
                for r in self.roots(child)
            ]
        if depth == 2:
            return [Root(child, hive=hive) for child in self._children(prefix)]
        if depth == 3:
            return [Root(prefix, hive=hive)]
        root = "/".join(parts[: i + 4]) + "/"
        return [Root(root, hive=hive, within=prefix)]

    def _days(self, root: Root, now: datetime) -> list[date]:
        """The days to list: those of the window, else every day folder that exists."""
        if self.window.start is not None:
            first = (self.window.start - timedelta(hours=1)).date()
            last = ((self.window.end or now) + timedelta(hours=1)).date()
            return [first + timedelta(days=n) for n in range((last - first).days + 1)]
        days = []
        for y in self._children(root.prefix):
            if _number(y) is None:
                continue
            for m in self._children(y):
                for d in self._children(m):
                    ny, nm, nd = _number(y), _number(m), _number(d)
                    if ny and nm and nd:
                        try:
                            days.append(date(ny, nm, nd))
                        except ValueError:
                            continue
        if self.window.end is not None:
            days = [d for d in days if d <= self.window.end.date()]
        return sorted(days)

    def groups(self, root: Root, complete: set[str], now: datetime) -> Iterator[Group]:
        """The listings of one root, each with its objects in the window."""
        if not root.dated:
            objs = self._objects(root.prefix)
            if root.single:
                objs = [o for o in objs if o.key == root.prefix]
            yield Group(root, root.prefix, [o for o in objs if in_window(o.key, self.window)])
            return
        for day in self._days(root, now):
            label = day.isoformat()
            if label in complete:
                continue
            prefix = root.prefix + day_prefix(day, root.hive)
            whole = True
            if root.within is not None:
                if root.within.startswith(prefix) and root.within != prefix:
                    prefix, whole = root.within, False
                elif not prefix.startswith(root.within):
                    continue
            objs = self._objects(prefix)
            kept = [o for o in objs if in_window(o.key, self.window)]
            end = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=1)
            whole = whole and len(kept) == len(objs) and now >= end + SETTLE
            yield Group(root, prefix, kept, label, whole)

    def plan(self, checkpoints: Checkpoints, fmt: Layout | None) -> Plan:
        """List what the window needs, leave out what the ledger has, return lazy units."""
        now = datetime.now(UTC)
        roots = self.roots(self.prefix)
        days = {
            r.prefix: set((checkpoints.cursor(self._cursor_key(r)) or {}).get("days", []))
            for r in roots
        }
        checkpoints.release()  # listing the days can take a while: readers may go first
        groups = [g for r in roots for g in self.groups(r, days[r.prefix], now)]
        listed = sum(len(g.objects) for g in groups)
        notes: list[str] = []
        if listed == 0 and not any(days.values()):
            probe = next(self._list_one())
            if not probe.get("KeyCount") and not probe.get("Contents"):
                raise SourceError(
                    f"{self.url}: no objects under this prefix",
                    hint="check the bucket and prefix (s3://bucket/AWSLogs/... or a folder)",
                    transient=True,  # follow waits for the first delivery
                )
        skipped = 0
        for g in groups:
            keep = []
            for o in g.objects:
                if checkpoints.loaded(self._identity(o)) is None:
                    keep.append(o)
                else:
                    skipped += 1
            g.objects = keep
        if listed == 0:
            notes.append(f"no object in the window ({self.window.describe()})")
        if skipped:
            notes.append(f"{skipped} object(s) already loaded")
        progress = Progress("objects", total=sum(len(g.objects) for g in groups))
        plan = Plan(iter(()), notes, progress)
        plan.units = self._units(groups, days, plan)
        return plan

    def describe(self, plan: Plan) -> str:
        """The line said before a run: how many objects, the window."""
        what = f"{plan.progress.total} {plan.progress.what}"
        return f"{self.url}: {what} to read, {self.window.describe()}"

    def _list_one(self) -> Iterator[dict[str, Any]]:
        yield call(
            self.aws,
            "s3",
            self.s3.list_objects_v2,
            "s3:ListBucket",
            f"bucket {self.bucket}",
            Bucket=self.bucket,
            Prefix=self.prefix,
            MaxKeys=1,
        )

    def _cursor_key(self, root: Root) -> str:
        return f"s3:{self.bucket}/{root.prefix}"

    def _identity(self, o: Obj) -> str:
        return f"s3://{self.bucket}/{o.key}@{o.etag}"

    def _units(self, groups: list[Group], days: dict[str, set[str]], plan: Plan) -> Iterator[Unit]:
        """Units in key order, the next few objects downloading while one is parsed."""
        items: list[tuple[Group, Obj | None]] = []
        for g in groups:
            items += [(g, o) for o in g.objects]
            if g.whole and g.day:
                items.append((g, None))
        pool = ThreadPoolExecutor(self.workers, thread_name_prefix="flowscope-s3")
        started: dict[int, Future[IO[bytes]]] = {}
        ahead = self.workers + 1
        try:
            for i, (g, obj) in enumerate(items):
                for j in range(i, min(len(items), i + ahead)):
                    nxt = items[j][1]
                    if nxt is not None and j not in started:
                        started[j] = pool.submit(self._download, nxt)
                if obj is None:
                    if all(u.ok for u in g.units):
                        done = days.setdefault(g.root.prefix, set())
                        done.add(str(g.day))
                        name = f"s3://{self.bucket}/{g.listed} (day complete)"
                        plan.markers.add(name)
                        yield MarkerUnit(name, (self._cursor_key(g.root), {"days": sorted(done)}))
                    continue
                unit = ObjectUnit(
                    f"s3://{self.bucket}/{obj.key}", self._identity(obj), started.pop(i)
                )
                g.units.append(unit)
                yield unit
                plan.progress.finish_one()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            for f in started.values():  # downloaded, never read: free their temporary files
                if f.done() and not f.cancelled() and f.exception() is None:
                    f.result().close()

    def _download(self, obj: Obj) -> IO[bytes]:
        """The object's bytes in a temporary file (spooled in memory up to :data:`SPOOL`)."""
        name = f"s3://{self.bucket}/{obj.key}"
        for attempt in range(1, _DOWNLOAD_TRIES + 1):
            try:
                resp = call(
                    self.aws,
                    "s3",
                    self.s3.get_object,
                    "s3:GetObject",
                    name,
                    Bucket=self.bucket,
                    Key=obj.key,
                    **({"IfMatch": f'"{obj.etag}"'} if obj.etag else {}),
                )
            except SourceError as e:
                code = error_code(e.__cause__) if e.__cause__ else ""
                if code in ("NoSuchKey", "PreconditionFailed", "412"):
                    raise InputError(
                        name, "the object was deleted or replaced since it was listed", hint=RESUME
                    ) from e
                raise
            f: IO[bytes]
            if obj.key.endswith(".parquet"):
                f = tempfile.NamedTemporaryFile(suffix=".parquet")
            else:
                f = cast(IO[bytes], tempfile.SpooledTemporaryFile(max_size=SPOOL))
            try:
                for chunk in resp["Body"].iter_chunks(1 << 20):
                    f.write(chunk)
            except (bx.BotoCoreError, OSError) as e:
                f.close()
                if attempt == _DOWNLOAD_TRIES:
                    raise translate(e, self.aws, "s3", "s3:GetObject", name) from e
                log.debug("download of %s failed (%s), retrying", name, e)
                continue
            except BaseException:
                f.close()
                raise
            f.seek(0)
            return f
        raise AssertionError("unreachable")
