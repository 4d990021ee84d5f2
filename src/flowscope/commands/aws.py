"""AWS commands: ``ingest`` of cloudwatch:// and s3:// sources and --payload, and ``follow``.

``flowscope ingest`` hands its arguments here when one of them is an AWS URL or an AWS option
is given; ``follow`` polls the same readers until stopped. Both only parse options, call the
readers in :mod:`flowscope.sources.aws` through :func:`flowscope.pipeline.ingest` and render
the result; the store is released between polls, so ``flowscope serve`` can read it.
"""

from __future__ import annotations

import signal
import time
from datetime import UTC, datetime
from types import FrameType
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from flowscope import pipeline
from flowscope.commands.common import (
    StoreOpt,
    err,
    layout_option,
    report,
    run_ingest,
    store_url,
)
from flowscope.commands.estate import GeoOpt, use_geo
from flowscope.engines import open_store
from flowscope.errors import FlowscopeError, UsageError
from flowscope.parse.layout import Layout
from flowscope.times import TIME_HELP, parse_duration, parse_range

if TYPE_CHECKING:
    from flowscope.engines.base import Store
    from flowscope.sources import Plan, Source

SCHEMES = ("cloudwatch://", "s3://")

PayloadOpt = Annotated[
    bool,
    typer.Option(
        "--payload",
        help="The inputs are CloudWatch Logs subscription payloads (base64/gzip/JSON, "
        "Kinesis or Lambda events), e.g. `... | flowscope ingest --payload -`.",
    ),
]
SinceOpt = Annotated[
    str | None,
    typer.Option("--since", help=f"AWS sources: from this time: {TIME_HELP}."),
]
UntilOpt = Annotated[
    str | None,
    typer.Option("--until", help=f"AWS sources: up to this time (exclusive): {TIME_HELP}."),
]
StreamsOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--streams",
        help="cloudwatch://: only these log streams: names or globs ('eni-0abc*'), "
        "repeatable or comma-separated.",
    ),
]
OverlapOpt = Annotated[
    str | None,
    typer.Option(
        "--overlap",
        help="cloudwatch://: catch records that reach CloudWatch up to this long after their "
        "timestamp (default 1h): streams that received events since they were read are "
        "re-read this far back; duplicates are dropped.",
    ),
]
ProfileOpt = Annotated[
    str | None, typer.Option("--profile", help="AWS profile (default: the standard chain).")
]
RegionOpt = Annotated[
    str | None, typer.Option("--region", help="AWS region (default: AWS_REGION / the profile).")
]
FormatOpt = Annotated[
    str | None,
    typer.Option(
        "--format",
        "-f",
        help="LogFormat of the records. Default: the flow log's own (ec2:DescribeFlowLogs), "
        "else the v2 default format.",
    ),
]


def is_aws(paths: list[str], *options: object) -> bool:
    """Whether ``ingest`` should hand its arguments to :func:`ingest_aws`."""
    return any(p.startswith(SCHEMES) for p in paths) or any(bool(o) for o in options)


def _patterns(streams: list[str] | None) -> tuple[str, ...]:
    return tuple(p.strip() for s in streams or [] for p in s.split(",") if p.strip())


def ingest_aws(
    paths: list[str],
    *,
    payload: bool = False,
    since: str | None = None,
    until: str | None = None,
    streams: list[str] | None = None,
    overlap: str | None = None,
    profile: str | None = None,
    region: str | None = None,
    fmt: str | None = None,
    store: str | None = None,
    quiet: bool = False,
) -> int:
    """``flowscope ingest`` with AWS sources (and maybe local paths): returns the exit code."""
    layout = layout_option(fmt)
    remote = [p for p in paths if p.startswith(SCHEMES)]
    if payload:
        if remote:
            raise UsageError("--payload reads files or '-', not cloudwatch:// or s3:// URLs")
        if since or until or streams or overlap:
            raise UsageError("--since, --until, --streams and --overlap do not apply to --payload")
        from flowscope.sources.aws.payload import payload_units

        summary = run_ingest(payload_units(paths), store_url(store), layout, quiet)
        report(summary, quiet)
        return summary.exit_code
    if not remote:
        raise UsageError(
            "--since, --until, --streams, --overlap, --profile and --region apply to "
            "cloudwatch:// and s3:// sources only"
        )
    if overlap and not any(p.startswith("cloudwatch://") for p in remote):
        raise UsageError("--overlap applies to cloudwatch:// sources only")
    from flowscope.sources import source_lock
    from flowscope.sources.aws import OVERLAP, Aws, open_source
    from flowscope.sources.files import local_units

    window = parse_range(since, until, names=("--since", "--until"))
    late = parse_duration(overlap, "--overlap") if overlap else OVERLAP
    aws = Aws(profile, region)
    # An explicit window is read whole: what is already loaded is dropped, late records load.
    whole = bool(since or until)
    sources = {
        p: open_source(p, aws, window, _patterns(streams), late, whole=whole) for p in remote
    }
    st = open_store(store_url(store))
    total = pipeline.Summary()
    for p in paths:
        if p in sources:
            src = sources[p]
            with source_lock(st.url, src.key):
                total.units += read_source(src, st, layout, quiet).units
        else:
            total.units += run_ingest(local_units([p]), store_url(store), layout, quiet).units
    report(total, quiet)
    return total.exit_code


def read_source(
    src: Source, store: Store, fmt: Layout | None, quiet: bool, said: set[str] | None = None
) -> pipeline.Summary:
    """One run over one AWS source, with its plan said first and a progress bar."""
    said = set() if said is None else said
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:,.0f}/{task.total:,.0f} {task.fields[what]}"),
        TextColumn("{task.fields[records]:,} records"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=quiet or not err.is_terminal,
    )
    shown: list[Plan] = []
    records = 0

    def on_plan(plan: Plan) -> None:
        for line in [src.describe(plan), *plan.notes]:
            if line not in said and not quiet:
                err.print(line, highlight=False, markup=False, soft_wrap=True)
            said.add(line)
        shown.append(plan)
        bar.add_task(src.url, total=plan.progress.total or 1, what=plan.progress.what, records=0)

    def rows(n: int) -> None:
        nonlocal records
        records += n
        bar.update(bar.task_ids[0], completed=shown[0].progress.done, records=records)

    def done(_result: pipeline.UnitResult) -> None:
        bar.update(bar.task_ids[0], completed=shown[0].progress.done)

    with bar:
        return pipeline.read_source(src, store, fmt, on_plan=on_plan, progress=done, rows_done=rows)


def follow(
    sources: Annotated[
        list[str],
        typer.Argument(help="cloudwatch://GROUP or s3://bucket/prefix/ sources to follow."),
    ],
    interval: Annotated[
        str, typer.Option("--interval", help="Time between polls: 30s, 1m, 1.5h.")
    ] = "60s",
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            help=f"Only records from this time on: {TIME_HELP} (default: all retained data "
            "not loaded yet).",
        ),
    ] = None,
    streams: StreamsOpt = None,
    overlap: OverlapOpt = None,
    fmt: FormatOpt = None,
    profile: ProfileOpt = None,
    region: RegionOpt = None,
    store: StoreOpt = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only print errors.")] = False,
    inventory_every: Annotated[
        str | None,
        typer.Option(
            "--inventory-every",
            help="Also refresh the inventory from AWS (in --region, with --profile) at the "
            "first poll and then this often: 1h, 30m. A refresh that fails is a warning.",
        ),
    ] = None,
    geo: GeoOpt = None,
) -> None:
    """Keep ingesting new records from AWS until stopped (Ctrl-C); resumes from checkpoints."""
    from flowscope.sources.aws import OVERLAP, Aws, open_source

    bad = [s for s in sources if not s.startswith(SCHEMES)]
    if bad:
        raise UsageError(f"{bad[0]}: follow reads cloudwatch://GROUP or s3://bucket/prefix/")
    pause = parse_duration(interval, "--interval").total_seconds()
    if pause < 0.1:  # (0 polled AWS without a pause)
        raise UsageError(
            f"--interval {interval!r} is shorter than 0.1s", hint="poll every 0.1s or more"
        )
    every = None
    if inventory_every is not None:
        every = parse_duration(inventory_every, "--inventory-every").total_seconds()
        if every < 1:
            raise UsageError(f"--inventory-every {inventory_every!r} is shorter than 1s")
    use_geo(geo)
    window = parse_range(since, None, names=("--since", "--until"))
    aws = Aws(profile, region)
    layout = layout_option(fmt)
    srcs = [
        open_source(
            s,
            aws,
            window,
            _patterns(streams),
            parse_duration(overlap, "--overlap") if overlap else OVERLAP,
        )
        for s in sources
    ]
    st = open_store(store_url(store))

    def stop(_sig: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    loaded = polls = 0
    said: set[str] = set()
    warned: dict[str, str] = {}
    refreshed: float | None = None
    try:
        for poll in pipeline.follow(
            srcs, st, pause, lambda s: read_source(s, st, layout, quiet, said)
        ):
            url = poll.source.url
            polls += poll.source is srcs[-1]  # a poll ends with the last source
            if every is not None and poll.source is srcs[0]:
                due = refreshed is None or time.monotonic() - refreshed >= every
                if due:
                    refreshed = time.monotonic()
                    _refresh_inventory(st, region, profile, quiet)
            if poll.error is not None:
                if warned.get(url) != str(poll.error):
                    err.print(
                        f"[yellow]warning[/yellow] {poll.error}; trying again every {pause:g}s",
                        highlight=False,
                        soft_wrap=True,
                    )
                warned[url] = str(poll.error)
                continue
            summary = poll.summary
            assert summary is not None
            warned.pop(url, None)
            loaded += summary.rows
            if summary.count("failed") or summary.rejects:
                report(summary, quiet=True)
            elif summary.rows and not quiet:
                err.print(
                    f"{datetime.now(UTC):%H:%M:%S} {url}: +{summary.rows:,} records "
                    f"({summary.count('loaded')} loads)",
                    highlight=False,
                )
    except KeyboardInterrupt:
        err.print(
            f"stopped after {polls} poll(s): {loaded:,} records loaded; "
            "the next run resumes from the checkpoints",
            highlight=False,
        )
        raise typer.Exit(0) from None


def _refresh_inventory(st: Store, region: str | None, profile: str | None, quiet: bool) -> None:
    """One inventory refresh between polls; a failure is a warning and the loop goes on."""
    from flowscope.estate.refresh import refresh_inventory

    try:
        change = refresh_inventory(st, [region] if region else [], profile=profile)
    except FlowscopeError as e:
        err.print(
            f"[yellow]warning[/yellow] inventory refresh failed: {e}; trying again later",
            highlight=False,
            soft_wrap=True,
        )
        return
    for warning in change.warnings:
        err.print(f"[yellow]warning[/yellow] {warning}", highlight=False, soft_wrap=True)
    if not quiet:
        named = f"; named {change.named:,} stored flows" if change.named is not None else ""
        err.print(
            f"{datetime.now(UTC):%H:%M:%S} inventory: {change.opened:,} opened, "
            f"{change.closed:,} closed, {change.unchanged:,} unchanged{named}",
            highlight=False,
        )


def register(app: typer.Typer) -> None:
    """Add ``follow`` to the CLI (``ingest`` calls :func:`ingest_aws` itself)."""
    app.command()(follow)
