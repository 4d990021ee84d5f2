"""The ingest pipeline: units from a source, parsed and enriched, committed to a store.

Top to bottom: for each unit, skip it if the ledger already has its identity; otherwise open a
load, append its parsed batches (rows and rejects), and commit the load with the unit's cursor.
An error reading a unit rolls its load back and is reported; the next unit still loads, and so
does a unit the store refuses when its group of small loads commits (the writer reports it).

A source that resumes (CloudWatch, S3) is planned first with the store's checkpoints
(:func:`read_source`); :func:`follow` does that for a few sources again and again, each under
a lock so that no other process reads the same source into the same store.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field

from flowscope.engines.base import Store, Writer
from flowscope.enrich import enrich_parsed
from flowscope.errors import InputError, SourceError
from flowscope.estate.resolve import Estate
from flowscope.estate.store import estate_loader
from flowscope.parse.layout import HeaderError, Layout
from flowscope.parse.text import Parsed, Reject
from flowscope.readahead import read_ahead
from flowscope.sources import Plan, Reading, Source, Unit, source_lock

log = logging.getLogger(__name__)

#: How many rejects of one unit are kept in memory for the summary (all go to the store).
SAMPLE_REJECTS = 5


class AlreadyLoaded(Exception):
    """Raised inside a load to roll it back when a streamed input's hash is already known."""


@dataclass
class UnitResult:
    name: str
    status: str  # "loaded", "skipped" (already loaded), "failed"
    rows: int = 0
    rejects: int = 0
    layout: str = ""
    notes: list[str] = field(default_factory=list)
    sample: list[Reject] = field(default_factory=list)
    error: str | None = None
    load_id: int | None = None


@dataclass
class Summary:
    units: list[UnitResult] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return sum(u.rows for u in self.units)

    @property
    def rejects(self) -> int:
        return sum(u.rejects for u in self.units)

    def count(self, status: str) -> int:
        return sum(1 for u in self.units if u.status == status)

    @property
    def exit_code(self) -> int:
        """0 all loaded; 3 some records set aside; 4 some inputs failed (see the README)."""
        if self.count("failed"):
            return 4
        if self.rejects:
            return 3
        return 0


Progress = Callable[[UnitResult], None]


def ingest(
    units: Iterable[Unit],
    store: Store,
    fmt: Layout | None = None,
    progress: Progress | None = None,
    rows_done: Callable[[int], None] | None = None,
) -> Summary:
    """Load every unit into ``store``; one transaction per unit."""
    estate = estate_loader(store)
    with store.write() as writer:
        summary = _ingest(units, writer, fmt, progress, rows_done, estate)
    _refused(summary, writer.failed())  # the last group commits as the writer closes
    return summary


def read_source(
    source: Source,
    store: Store,
    fmt: Layout | None = None,
    *,
    on_plan: Callable[[Plan], None] | None = None,
    progress: Progress | None = None,
    rows_done: Callable[[int], None] | None = None,
) -> Summary:
    """One run over a resumable source: planned with the store's checkpoints, then loaded."""
    estate = estate_loader(store)
    with store.write() as writer:
        plan = source.plan(writer, fmt)
        if on_plan:
            on_plan(plan)
        summary = _ingest(plan.units, writer, plan.layout or fmt, progress, rows_done, estate)
    _refused(summary, writer.failed())
    summary.units = [u for u in summary.units if u.name not in plan.markers]
    return summary


@dataclass
class Poll:
    """One source's run in :func:`follow`: what it loaded, or the transient error it met."""

    source: Source
    summary: Summary | None = None
    error: SourceError | None = None


def follow(
    sources: Sequence[Source],
    store: Store,
    interval: float,
    read: Callable[[Source], Summary],
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[Poll]:
    """Read every source with ``read`` (say, :func:`read_source` with progress), sleep
    ``interval`` seconds, and again, until the consumer stops (Ctrl-C raises in ``sleep``).

    The store is released between runs, so ``serve`` can read it. A transient source error
    (throttling, a bucket not there yet) is yielded and the source tried at the next poll;
    any other error ends the loop.
    """
    with ExitStack() as locks:
        for s in sources:
            locks.enter_context(source_lock(store.url, s.key))
        while True:
            for s in sources:
                try:
                    summary = read(s)
                except SourceError as e:
                    if not e.transient:
                        raise
                    yield Poll(s, error=e)
                    continue
                yield Poll(s, summary)
            sleep(interval)


def _ingest(
    units: Iterable[Unit],
    writer: Writer,
    fmt: Layout | None,
    progress: Progress | None,
    rows_done: Callable[[int], None] | None,
    estate: Callable[[], Estate] | None = None,
) -> Summary:
    summary = Summary()
    for unit in units:
        result = _load_unit(unit, writer, fmt, rows_done, estate)
        summary.units.append(result)
        _refused(summary, writer.failed())
        if progress:
            progress(result)
        writer.yield_to_readers()
    return summary


def _refused(summary: Summary, failed: dict[int, str]) -> None:
    """Mark the units whose loads the store refused at their group's commit as failed."""
    if not failed:
        return
    for u in summary.units:
        if u.load_id in failed:
            u.status, u.error = "failed", failed[u.load_id]
            u.rows, u.rejects, u.sample = 0, 0, []


def _enriched(batches: Iterable[Parsed], estate: Callable[[], Estate] | None) -> Iterator[Parsed]:
    """The batches enriched. With an estate, the next batch is read and parsed on a thread
    while this one is enriched (the lookups are array work that mostly runs without the GIL);
    each batch is handed on as soon as it is enriched, so a pipe left open still loads what
    came through it."""
    if estate is None:
        yield from (enrich_parsed(p) for p in batches)
        return
    for parsed in read_ahead(batches, 2, "flowscope-read"):
        yield enrich_parsed(parsed, estate())


def _load_unit(
    unit: Unit,
    writer: Writer,
    fmt: Layout | None,
    rows_done: Callable[[int], None] | None,
    estate: Callable[[], Estate] | None = None,
) -> UnitResult:
    if unit.identity is not None:
        prior = writer.loaded(unit.identity)
        if prior is not None:
            return UnitResult(
                unit.name,
                "skipped",
                notes=[f"already loaded (load {prior.load_id}, {prior.source})"],
            )
    info = Reading()
    result = UnitResult(unit.name, "loaded")
    try:
        with writer.load(unit.name, unit.identity) as job:
            result.load_id = job.load_id
            for parsed in _enriched(unit.read(fmt, info), estate):
                job.append(parsed)
                if len(result.sample) < SAMPLE_REJECTS:
                    result.sample.extend(parsed.rejects[: SAMPLE_REJECTS - len(result.sample)])
                if rows_done:
                    rows_done(parsed.table.num_rows + len(parsed.rejects))
            if job.identity is None and unit.identity is not None:
                prior = writer.loaded(unit.identity)
                if prior is not None:
                    raise AlreadyLoaded(prior.source)
                job.identity = unit.identity
            if info.layout is not None:
                job.layout = info.layout.describe()
            if (
                job.rows == 0
                and job.rejected == 0
                and info.layout is not None
                and info.layout.origin == "header line"
            ):
                info.notes.append("empty input: a header line and no records")
            if job.rows == 0 and job.rejected > 0:
                info.notes.append(
                    "no record matched the layout "
                    f"({info.layout.describe() if info.layout else 'Parquet'}); "
                    "is --format right?"
                )
            job.notes.extend(info.notes)
            if unit.cursor is not None:
                job.set_cursor(*unit.cursor)
            result.rows, result.rejects = job.rows, job.rejected
    except AlreadyLoaded as e:
        return UnitResult(unit.name, "skipped", notes=[f"already loaded ({e})"])
    except InputError as e:
        return UnitResult(unit.name, "failed", error=str(e), notes=info.notes)
    except HeaderError as e:
        refused = InputError(unit.name, str(e), hint="nothing from this input was stored")
        return UnitResult(unit.name, "failed", error=str(refused), notes=info.notes)
    result.layout = info.layout.describe() if info.layout else "Parquet schema"
    result.notes = info.notes
    return result
