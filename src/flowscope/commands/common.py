"""What every command shares: global state, common options, rendering and the ingest runner."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from flowscope import pipeline, render, settings
from flowscope.engines import open_store
from flowscope.parse.layout import Layout, parse_log_format
from flowscope.sources import Unit

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


@dataclass
class State:
    store: str | None = None
    debug: bool = False


state = State()


def option(setting: settings.Setting, *names: str, **kwargs: Any) -> Any:
    """A typer option for ``setting``: its flag, environment variable and help, declared once
    in :mod:`flowscope.settings`."""
    flag = (setting.flag or "").split()[-1:]
    return typer.Option(
        *(names or flag), envvar=setting.env, help=setting.help, show_envvar=True, **kwargs
    )


StoreOpt = Annotated[
    str | None,
    option(settings.STORE, "--store", "-s", show_default=False),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
CsvOpt = Annotated[bool, typer.Option("--csv", help="Print CSV instead of a table.")]


def store_url(local: str | None) -> str | None:
    return local or state.store


def layout_option(fmt: str | None) -> Layout | None:
    return parse_log_format(fmt) if fmt else None


def print_rows(
    columns: list[str],
    rows: list[tuple[object, ...]],
    as_json: bool,
    as_csv: bool,
    title: str | None = None,
) -> None:
    if as_json:
        sys.stdout.write(render.to_json(columns, rows) + "\n")
    elif as_csv:
        sys.stdout.write(render.to_csv(columns, rows))
    else:
        out.print(render.rich_table(columns, rows, title))


def print_data(data: object) -> None:
    """``--json``: what the JSON API answers in ``data`` for the same question, as it is."""
    sys.stdout.write(json.dumps(data, indent=2, default=render.plain) + "\n")


#: Inputs already loaded are named up to this many; ``--debug`` names every one.
SKIPPED_NAMED = 3


def report(summary: pipeline.Summary, quiet: bool = False) -> None:
    skipped = 0
    for u in summary.units:
        if u.status == "failed":
            err.print(f"[red]failed[/red] {u.error}", highlight=False)
        if u.status == "skipped":
            skipped += 1
            if quiet or (skipped > SKIPPED_NAMED and not state.debug):
                continue
        for note in u.notes:
            err.print(f"[yellow]note[/yellow] {u.name}: {note}", highlight=False)
        for r in u.sample:
            err.print(f"[yellow]set aside[/yellow] {u.name}:{r.line}: {r.reason}", highlight=False)
        if u.rejects > len(u.sample):
            err.print(f"  … and {u.rejects - len(u.sample)} more from {u.name}", highlight=False)
    if skipped > SKIPPED_NAMED and not quiet and not state.debug:
        err.print(
            f"[yellow]note[/yellow] … and {skipped - SKIPPED_NAMED:,} more inputs already "
            "loaded (--debug names them all)",
            highlight=False,
        )
    loaded = summary.count("loaded")
    line = (
        f"{summary.rows:,} records loaded from {loaded} input(s); "
        f"{summary.rejects:,} set aside; {summary.count('skipped')} already loaded; "
        f"{summary.count('failed')} failed"
    )
    err.print(line, highlight=False)
    if summary.rejects:
        err.print("see the set-aside records with: flowscope rejects", highlight=False)


def run_ingest(
    units: Iterable[Unit], store_url: str | None, fmt: Layout | None, quiet: bool = False
) -> pipeline.Summary:
    store = open_store(store_url)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:,.0f} records"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=quiet or not err.is_terminal,
    ) as bar:
        task = bar.add_task("ingesting", total=None)

        def done(result: pipeline.UnitResult) -> None:
            bar.update(task, description=f"ingesting {result.name}")

        def rows(n: int) -> None:
            bar.advance(task, n)

        summary = pipeline.ingest(units, store, fmt, progress=done, rows_done=rows)
    return summary
