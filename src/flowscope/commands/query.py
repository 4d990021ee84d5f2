"""The read commands: top, hist, search, summary, metrics, report, and serve (the API).

Each parses its options with :mod:`flowscope.query.build`, asks the backend one question and
renders the answer: a Rich table with bars for people, ``--json`` (an array of objects) or
``--csv`` for scripts. A filter mistake is shown under the filter with a caret at its position.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from flowscope import render, settings
from flowscope.commands.common import (
    CsvOpt,
    JsonOpt,
    StoreOpt,
    err,
    option,
    out,
    print_data,
    print_rows,
    store_url,
)
from flowscope.errors import QueryError
from flowscope.query import build
from flowscope.query.intervals import format_interval
from flowscope.query.model import (
    Backend,
    HistResult,
    Metric,
    Scope,
    TopResult,
    Totals,
)
from flowscope.query.reports import REPORTS, run_report
from flowscope.times import TIME_HELP

WhereOpt = Annotated[
    str | None,
    typer.Option("--where", "-w", help="Filter, e.g. 'action:REJECT and dstport:(22 or 3389)'."),
]
SinceOpt = Annotated[str | None, typer.Option(help=f"Start: {TIME_HELP}.")]
UntilOpt = Annotated[str | None, typer.Option(help="End (exclusive), like --since.")]
ByOpt = Annotated[str, typer.Option("--by", help="Rank by count, bytes or packets.")]

BAR_WIDTH = 30
COLORS = ("green", "red", "cyan", "yellow", "magenta", "blue", "bright_green", "bright_red")


def _backend(store: str | None) -> Backend:
    from flowscope.engines import backend_for, open_store

    return backend_for(open_store(store_url(store)))


@contextmanager
def _explain(where: str | None) -> Iterator[None]:
    """Show where in the filter a QueryError points before the error line is printed."""
    try:
        yield
    except QueryError as e:
        if where and e.position is not None and e.position <= len(where):
            err.print(Text("  " + where), highlight=False)
            err.print(Text("  " + " " * e.position + "^", style="red"), highlight=False)
        raise


def _bar(value: float, largest: float, width: int = BAR_WIDTH) -> str:
    if largest <= 0 or value <= 0:
        return ""
    return "█" * max(1, round(width * value / largest))


def _amount(metric: Metric, value: int) -> str:
    return render.human(value, "B") if metric == "bytes" else f"{value:,}"


def _top_table(result: TopResult, title: str) -> Table:
    by = result.by
    t = Table(title=title, show_edge=False, header_style="bold", title_justify="left")
    for f in result.fields:
        t.add_column(f)
    for name in ("count", "bytes", "packets", "share"):
        t.add_column(name, justify="right")
    t.add_column(by)
    whole = result.total.get(by)
    largest = max((r.totals.get(by) for r in result.rows), default=0)

    def share(tot: Totals) -> str:
        return f"{100 * tot.get(by) / whole:.1f}%" if whole else "-"

    def cells(tot: Totals) -> list[str]:
        return [f"{tot.count:,}", render.human(tot.bytes, "B"), f"{tot.packets:,}", share(tot)]

    for r in result.rows:
        keys = ["-" if v is None else str(render.plain(v)) for v in r.key]
        t.add_row(*keys, *cells(r.totals), Text(_bar(r.totals.get(by), largest), "cyan"))
    pad = [""] * (len(result.fields) - 1)
    if result.other.count:
        t.add_row("(other)", *pad, *cells(result.other), "", style="dim")
    if result.missing.count:
        t.add_row("(missing)", *pad, *cells(result.missing), "", style="dim")
    t.add_row("total", *pad, *cells(result.total), f"{result.distinct:,} distinct", style="bold")
    return t


def _print_top(result: TopResult, title: str, as_json: bool, as_csv: bool) -> None:
    if as_json:
        print_data(result.to_dict())
    elif as_csv:
        head = ["value"] if len(result.fields) == 1 else list(result.fields)
        rows = [(*r.key, r.totals.count, r.totals.bytes, r.totals.packets) for r in result.rows]
        print_rows([*head, "count", "bytes", "packets"], rows, False, True)
    else:
        out.print(_top_table(result, title))


def _print_hist(result: HistResult, as_json: bool, as_csv: bool, by: Metric = "count") -> None:
    if as_json:
        print_data(result.to_dict())
        return
    if as_csv:
        cols = ["time", *(["key"] if result.split else []), "count", "bytes", "packets"]
        rows: list[tuple[Any, ...]] = []
        for i, when in enumerate(result.times):
            for s in result.series:
                if s.count[i]:
                    key = [s.label] if result.split else []
                    rows.append((when, *key, s.count[i], s.bytes[i], s.packets[i]))
        print_rows(cols, rows, False, True)
        return
    if not result.times:
        out.print("no flows in the range")
        return
    assert result.start is not None and result.end is not None
    t = Table(
        title=f"{by} per {format_interval(result.interval)}, "
        f"{result.start:%Y-%m-%d %H:%M} to {result.end:%Y-%m-%d %H:%M} UTC",
        show_edge=False,
        header_style="bold",
        title_justify="left",
    )
    t.add_column("time (UTC)")
    t.add_column(by, justify="right")
    t.add_column("")
    values = {"count": "count", "bytes": "bytes", "packets": "packets"}[by]
    sums = [sum(getattr(s, values)[i] for s in result.series) for i in range(len(result.times))]
    largest = max(sums, default=0)
    for i, when in enumerate(result.times):
        bar = Text()
        for n, s in enumerate(result.series):
            bar.append(_bar(getattr(s, values)[i], largest), COLORS[n % len(COLORS)])
        t.add_row(when.strftime("%Y-%m-%d %H:%M"), _amount(by, sums[i]), bar)
    out.print(t)
    if result.split:
        legend = Text("  ")
        for n, s in enumerate(result.series):
            legend.append("█ ", COLORS[n % len(COLORS)]).append(f"{s.label}  ")
        out.print(legend)


def top(
    field: Annotated[list[str], typer.Argument(help="Field(s) to rank, e.g. dstaddr.")],
    by: ByOpt = "count",
    size: Annotated[int, typer.Option("-n", "--size", help="How many values.")] = 10,
    where: WhereOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
    as_csv: CsvOpt = False,
) -> None:
    """The top values of a field by count, bytes or packets, with the rest and the total."""
    with _explain(where):
        q = build.top_query(field, by, size, build.make_scope(where, since, until))
        result = _backend(store).top(q)
    title = f"top {', '.join(q.fields)} by {q.by}"
    _print_top(result, title, as_json, as_csv)


def hist(
    interval: Annotated[str, typer.Option(help="Bucket width: auto, 1m, 5m, 1h, 1d…")] = "auto",
    split: Annotated[str | None, typer.Option(help="Split each bucket by a field.")] = None,
    by: ByOpt = "count",
    where: WhereOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
    as_csv: CsvOpt = False,
) -> None:
    """Traffic over time, as bars in the terminal."""
    with _explain(where):
        q = build.hist_query(interval, split, 10, by, build.make_scope(where, since, until))
        result = _backend(store).hist(q)
    _print_hist(result, as_json, as_csv, q.by)


def search(
    where: WhereOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    sort: Annotated[str, typer.Option(help="field:asc or field:desc.")] = "start_time:desc",
    limit: Annotated[int, typer.Option("--limit", "-n", help="Records per page.")] = 50,
    columns: Annotated[
        str | None, typer.Option(help="Comma-separated fields, or all (default: a useful few).")
    ] = None,
    cursor: Annotated[str | None, typer.Option(help="Continue after a previous page.")] = None,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
    as_csv: CsvOpt = False,
) -> None:
    """Flow records matching a filter, newest first; prints a cursor for the next page."""
    with _explain(where):
        q = build.search_query(columns, sort, limit, cursor, build.make_scope(where, since, until))
        result = _backend(store).search(q)
    title = f"{len(result.rows):,} of {result.total:,} flows"
    if as_json:
        print_data(result.to_dict())
    else:
        print_rows(result.columns, result.rows, False, as_csv, title=title)
    if result.next_cursor:
        err.print(f"next page: --cursor {result.next_cursor}", highlight=False)


def summary(
    field: Annotated[str, typer.Argument(help="The field to describe.")],
    size: Annotated[int, typer.Option("-n", "--size", help="How many top values.")] = 5,
    where: WhereOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
    as_csv: CsvOpt = False,
) -> None:
    """A field at a glance: its top values with their share, distinct values, missing."""
    with _explain(where):
        q = build.summary_query(field, size, build.make_scope(where, since, until))
        result = _backend(store).summary(q)
    title = (
        f"{result.field}: {result.distinct:,} distinct values, "
        f"{result.missing:,} of {result.total:,} flows without one"
    )
    if as_json:
        print_data(result.to_dict())
        return
    rows: list[tuple[object, ...]] = [(v, c, round(s, 4)) for v, c, s in result.values]
    if not as_csv:
        out.print(title, highlight=False)
    print_rows(["value", "count", "share"], rows, False, as_csv)


def metrics(
    where: WhereOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
    as_csv: CsvOpt = False,
) -> None:
    """Flows, bytes, packets, distinct sources and destinations, first and last time."""
    with _explain(where):
        result = _backend(store).metrics(build.metrics_query(build.make_scope(where, since, until)))
    data = result.to_dict()
    if as_json:
        print_data(data)
    else:
        print_rows(list(data), [tuple(data.values())], False, as_csv)


def report(
    name: Annotated[str, typer.Argument(help=f"One of: {', '.join(REPORTS)}.")],
    size: Annotated[int | None, typer.Option("-n", "--size", help="How many rows.")] = None,
    where: WhereOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
    as_csv: CsvOpt = False,
) -> None:
    """A canned report: talkers, rejected, ssh-rdp, ports, interfaces, skipdata."""
    with _explain(where):
        scope: Scope = build.make_scope(where, since, until)
        answer = run_report(_backend(store), name, scope, size)
    result = answer.result
    if as_json:
        print_data(answer.to_dict())
    elif isinstance(result, TopResult):
        _print_top(result, f"{answer.report.title}: {answer.report.question}", as_json, as_csv)
    else:
        if not (as_json or as_csv):
            out.print(f"[bold]{answer.report.title}[/bold]: {answer.report.question}")
        _print_hist(result, as_json, as_csv)


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8080,
    timeout: Annotated[
        float, option(settings.SERVE_TIMEOUT, min=0.001, max=settings.MAX_TIMEOUT)
    ] = (settings.SERVE_TIMEOUT.number()),
    row_cap: Annotated[int, option(settings.SERVE_ROW_CAP, min=1, max=settings.MAX_ROW_CAP)] = int(
        settings.SERVE_ROW_CAP.number()
    ),
    cors: Annotated[
        list[str] | None, typer.Option(help="Allow this browser origin (CORS); repeatable.")
    ] = None,
    allow_host: Annotated[
        list[str] | None,
        typer.Option(
            help="Also answer requests for this Host name (loopback names always); repeatable. "
            f"Also {settings.ALLOW_HOSTS.env}, comma-separated."
        ),
    ] = None,
    token_file: Annotated[Path | None, option(settings.TOKEN_FILE, show_default=False)] = None,
    trust_proxy_header: Annotated[
        str | None, option(settings.TRUST_PROXY_HEADER, show_default=False)
    ] = None,
    geo: Annotated[str | None, option(settings.GEO, show_default=False)] = None,
    store: StoreOpt = None,
) -> None:
    """Serve the JSON API (OpenAPI at /docs) and the dashboard, on 127.0.0.1 by default.

    It answers only requests naming a loopback host or an --allow-host name; beyond loopback
    (--host 0.0.0.0) it needs a token or a trusted proxy header.
    """
    import uvicorn

    from flowscope.api import create_app
    from flowscope.commands.estate import use_geo
    from flowscope.engines import open_store
    from flowscope.engines.duckdb.store import DuckStore
    from flowscope.web import mount_static
    from flowscope.web.access import access_for

    access = access_for(
        host,
        allow_hosts=[*(allow_host or ()), settings.ALLOW_HOSTS.get()],
        token=settings.TOKEN.get() or None,
        token_file=token_file,
        proxy_header=trust_proxy_header,
    )
    use_geo(geo)  # /api/who and /api/identify name public addresses with it
    origins = tuple(cors or ())
    opened = open_store(store_url(store))
    if isinstance(opened, DuckStore):
        opened.keep_reads_warm()
    app = create_app(opened, timeout=timeout, row_cap=row_cap, cors_origins=origins, access=access)
    mount_static(app)
    shown = f"[{host}]" if ":" in host else host
    how = ""
    if access.token:
        how = "; open it once with ?token=TOKEN, or send Authorization: Bearer TOKEN"
    elif access.proxy_header:
        how = f"; requests need the {access.proxy_header} header"
    err.print(f"serving http://{shown}:{port}/ (API docs at /docs){how}", highlight=False)
    uvicorn.run(app, host=host, port=port, log_level="warning")


def register(app: typer.Typer) -> None:
    """Add the read commands to the ``flowscope`` app."""
    for command in (top, hist, search, summary, metrics, report, serve):
        app.command()(command)
