"""The ``flowscope`` command: a thin shell over the library.

Each command parses its options, calls one core function and renders the result. Errors from the
core (:mod:`flowscope.errors`) become one line on stderr and an exit code; ``--debug`` shows the
traceback instead. Exit codes: 0 done; 1 error; 2 bad usage; 3 loaded, but some records were
set aside in ``rejects``; 4 some inputs could not be loaded at all.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated

import typer

from flowscope import render, settings
from flowscope.commands import aws as aws_cmd
from flowscope.commands import detect as detect_cmd
from flowscope.commands import estate as estate_cmd
from flowscope.commands import opensearch as cluster_cmd
from flowscope.commands import query as query_cmd
from flowscope.commands.common import (
    CsvOpt,
    JsonOpt,
    StoreOpt,
    err,
    layout_option,
    option,
    out,
    print_rows,
    report,
    run_ingest,
    state,
    store_url,
)
from flowscope.engines import backend_for, open_duck_store, open_store
from flowscope.errors import FlowscopeError
from flowscope.schema import DERIVED, FIELDS

app = typer.Typer(
    name="flowscope",
    help="See what happens on an AWS network: read VPC Flow Logs, store them typed, ask.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        out.print(f"flowscope {version('flowscope')}", highlight=False)
        raise typer.Exit()


@app.callback()
def _main(
    store: StoreOpt = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks and debug logs.")] = False,
    _show_version: Annotated[
        bool,
        typer.Option(
            "--version", help="Print the version and exit.", callback=_version, is_eager=True
        ),
    ] = False,
) -> None:
    state.store = store
    state.debug = debug
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )


@app.command()
def ingest(
    paths: Annotated[
        list[str],
        typer.Argument(
            help="Files or folders (recursive) of flow logs: text, .gz or Parquet; '-' for stdin; "
            "cloudwatch://GROUP; s3://bucket/prefix/."
        ),
    ],
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format",
            "-f",
            help="LogFormat of records without a header line, "
            "e.g. '${version} ${srcaddr} ...'. Default: the v2 default format.",
        ),
    ] = None,
    store: StoreOpt = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only print the summary.")] = False,
    # --- AWS sources and options: flowscope.commands.aws ---
    payload: aws_cmd.PayloadOpt = False,
    since: aws_cmd.SinceOpt = None,
    until: aws_cmd.UntilOpt = None,
    streams: aws_cmd.StreamsOpt = None,
    overlap: aws_cmd.OverlapOpt = None,
    profile: aws_cmd.ProfileOpt = None,
    region: aws_cmd.RegionOpt = None,
    geo: estate_cmd.GeoOpt = None,
) -> None:
    """Load flow logs into the store (each input once: a re-run adds nothing)."""
    from flowscope.sources.files import local_units

    estate_cmd.use_geo(geo)
    if aws_cmd.is_aws(paths, payload, since, until, streams, overlap, profile, region):
        code = aws_cmd.ingest_aws(
            paths,
            payload=payload,
            since=since,
            until=until,
            streams=streams,
            overlap=overlap,
            profile=profile,
            region=region,
            fmt=fmt,
            store=store,
            quiet=quiet,
        )
        raise typer.Exit(code)
    # --- end of AWS sources ---
    layout = layout_option(fmt)
    summary = run_ingest(local_units(paths), store_url(store), layout, quiet)
    report(summary, quiet)
    raise typer.Exit(summary.exit_code)


@app.command()
def sql(
    query: Annotated[str, typer.Argument(help="A SQL query (DuckDB dialect) over flows.")],
    store: StoreOpt = None,
    as_json: JsonOpt = False,
    as_csv: CsvOpt = False,
    timeout: Annotated[float, option(settings.SQL_TIMEOUT, min=0.001, max=settings.MAX_TIMEOUT)] = (
        settings.SQL_TIMEOUT.number()
    ),
    row_cap: Annotated[int, option(settings.SQL_ROW_CAP, min=1, max=settings.MAX_ROW_CAP)] = int(
        settings.SQL_ROW_CAP.number()
    ),
    no_limits: Annotated[
        bool, typer.Option("--no-limits", help="No time limit and no row cap.")
    ] = False,
) -> None:
    """Run a read-only SQL query, e.g. "select dstport, count(*) from flows group by 1".

    It reads the store's tables only: no file writes, no other files, no network, no extensions.
    """
    from flowscope.engines.duckdb.admin import run_sql

    result = run_sql(
        open_duck_store(store_url(store), "flowscope sql"),
        query,
        limit=None if no_limits else row_cap,
        timeout=None if no_limits else timeout,
    )
    print_rows(result.columns, result.rows, as_json, as_csv)
    if result.truncated:
        err.print(
            f"[yellow]note[/yellow] only the first {row_cap:,} rows are shown: "
            "add a LIMIT, or pass --row-cap N or --no-limits",
            highlight=False,
        )


@app.command()
def fields(as_json: JsonOpt = False, as_csv: CsvOpt = False) -> None:
    """List the columns of the flows table: AWS field, version, type."""
    rows: list[tuple[object, ...]] = [
        (f.column, "${" + f.name + "}", f.version, f.sql_type) for f in FIELDS
    ]
    rows += [(d.column, "(derived)", None, d.sql_type) for d in DERIVED]
    print_rows(["column", "aws_field", "version", "type"], rows, as_json, as_csv)


LimitOpt = Annotated[
    int, typer.Option("--limit", "-n", help="At most this many rows.", min=0, max=1_000_000)
]


@app.command()
def rejects(
    store: StoreOpt = None, limit: LimitOpt = 50, as_json: JsonOpt = False, as_csv: CsvOpt = False
) -> None:
    """Show records that were set aside, with file, line and reason."""
    result = open_store(store_url(store)).list_rejects(limit)
    print_rows(result.columns, result.rows, as_json, as_csv)


@app.command()
def loads(
    store: StoreOpt = None, limit: LimitOpt = 50, as_json: JsonOpt = False, as_csv: CsvOpt = False
) -> None:
    """Show the loads ledger, newest first."""
    result = open_store(store_url(store)).list_loads(limit)
    print_rows(result.columns, result.rows, as_json, as_csv)


def print_overview(store_url: str | None) -> None:
    from flowscope.query.overview import overview

    o = overview(backend_for(open_store(store_url)))
    out.print(
        f"[bold]{o['flows']:,}[/bold] flows, {render.human(o['bytes'], 'B')}, "
        f"from {o['first']} to {o['last']}",
        highlight=False,
    )
    out.print(
        "by action: " + ", ".join(f"{k} {v:,}" for k, v in o["by_action"].items()), highlight=False
    )
    out.print(
        "by status: " + ", ".join(f"{k} {v:,}" for k, v in o["by_status"].items()), highlight=False
    )
    out.print(
        "top destination ports: "
        + ", ".join(f"{p['dstport']}/{p['protocol']} {p['flows']:,}" for p in o["top_dstports"]),
        highlight=False,
    )
    if o["top_talkers"]:
        out.print(
            "top talkers by name: "
            + ", ".join(f"{t['name']} {render.human(t['bytes'], 'B')}" for t in o["top_talkers"]),
            highlight=False,
        )
    if o["top_services"]:
        out.print(
            "AWS services: "
            + ", ".join(
                f"{t['service']} {render.human(t['bytes'], 'B')}" for t in o["top_services"]
            ),
            highlight=False,
        )


@app.command()
def demo(
    store: StoreOpt = None,
    data: Annotated[Path, typer.Option(help="Where to write the generated flow logs.")] = Path(
        "demo-data"
    ),
    hours: Annotated[float, typer.Option(help="Hours of traffic to generate.")] = 24.0,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same data).")] = 7,
    serve: Annotated[
        bool, typer.Option("--serve/--no-serve", help="Then serve the dashboard.")
    ] = True,
    port: Annotated[int, typer.Option(help="Port of the dashboard (on 127.0.0.1).")] = 8080,
    geo: estate_cmd.GeoOpt = None,
    attacks: Annotated[
        bool, typer.Option("--attacks", help="Add attack scenarios (see flowscope detect).")
    ] = False,
) -> None:
    """Generate a day of realistic flow logs, ingest them, summarise, serve the dashboard."""
    from datetime import UTC, datetime

    from flowscope.demo.estate import demo_estate, write_estate
    from flowscope.demo.generate import DemoSpec, write_demo
    from flowscope.sources.files import local_units

    estate_cmd.use_geo(geo)
    spec = DemoSpec(hours=hours, seed=seed, attacks=attacks)
    err.print(f"writing demo flow logs to {data}/ …", highlight=False)
    files = write_demo(data, spec)
    estate = demo_estate(spec, datetime.now(UTC))
    write_estate(data / ".estate", estate)  # a dot folder: `ingest DATA` passes it by
    err.print(
        f"{len(files)} files written, and the VPC's estate to {data / '.estate'}/; ingesting …",
        highlight=False,
    )
    target = open_store(store_url(store))
    if hasattr(target, "save_estate") or hasattr(target, "estate_items"):
        from flowscope.demo.estate import estate_items

        with target.write() as writer:  # so that ingest names the flows as it loads them
            if hasattr(writer, "save_estate"):
                writer.save_estate(estate_items(estate))
    summary = run_ingest(local_units([str(data)]), store_url(store), None)
    report(summary, quiet=True)
    print_overview(store_url(store))
    if summary.exit_code == 0 and serve:
        from flowscope.commands.query import serve as serve_command

        serve_command(port=port, store=store)
    raise typer.Exit(summary.exit_code)


# Command modules register themselves here, one line each.
aws_cmd.register(app)
query_cmd.register(app)
cluster_cmd.register(app)
estate_cmd.register(app)
detect_cmd.register(app)


def main() -> None:
    try:
        # Typer itself shows usage mistakes (its "Usage: … Try 'flowscope --help'" block, exit
        # 2), --help and Ctrl-C; flowscope's own errors come out of it to be shown here.
        app(prog_name="flowscope")
        code = 0
    except KeyboardInterrupt:
        err.print("interrupted")
        code = 130
    except FlowscopeError as e:
        if state.debug:
            raise
        err.print(f"[red]error:[/red] {e}", highlight=False)
        code = e.exit_code
    except Exception as e:
        if state.debug:
            raise
        err.print(
            f"[red]unexpected error:[/red] {type(e).__name__}: {e} "
            "(run with --debug for the traceback)",
            highlight=False,
        )
        code = 1
    sys.exit(code if isinstance(code, int) else 0)


__all__ = ["app", "main"]
