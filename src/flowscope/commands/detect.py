"""``flowscope detect`` (run the detection rules over a window) and ``flowscope rules``.

Thin: options to :func:`flowscope.detect.detect`, its alerts to a table or ``--json``.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from flowscope.commands.common import JsonOpt, StoreOpt, err, out, print_data, store_url
from flowscope.errors import UsageError
from flowscope.times import TIME_HELP, iso, parse_duration, parse_range

_COLOURS = {"critical": "bold red", "high": "red", "medium": "yellow", "low": "cyan", "info": ""}


def load_known_bad(path: Path) -> tuple[str, ...]:
    """Addresses and networks from a file, one a line (``#`` starts a comment; a CSV's first
    column is taken). A bad line is a usage error naming the file and the line."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError(f"known-bad list {path}: {e}") from e
    out_: list[str] = []
    for n, line in enumerate(text.splitlines(), 1):
        item = line.split("#", 1)[0].split(",", 1)[0].strip()
        if not item:
            continue
        try:
            out_.append(str(ipaddress.ip_network(item, strict=False)))
        except ValueError as e:
            raise UsageError(f"known-bad list {path}:{n}: {item!r} is not an IP or CIDR") from e
    return tuple(dict.fromkeys(out_))


def detect(
    since: Annotated[str, typer.Option(help=f"Start of the window: {TIME_HELP}.")] = "24h",
    until: Annotated[str | None, typer.Option(help="End (exclusive), like --since.")] = None,
    rule: Annotated[
        list[str] | None, typer.Option("--rule", "-r", help="Run only this rule (repeatable).")
    ] = None,
    baseline: Annotated[
        str, typer.Option(help="How far before the window the baselines look, e.g. 7d.")
    ] = "7d",
    known_bad: Annotated[
        Path | None,
        typer.Option("--known-bad", help="A file of IPs/CIDRs (a threat list), one a line."),
    ] = None,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Run the detection rules over a window and print the alerts, most severe first."""
    from flowscope.detect import Options, detect
    from flowscope.engines import backend_for, open_store

    window = parse_range(since, until)
    options = Options(
        baseline=parse_duration(baseline, "--baseline"),
        known_bad=load_known_bad(known_bad) if known_bad else (),
    )
    backend = backend_for(open_store(store_url(store)))
    result = detect(backend, window, rule or None, options)
    if as_json:
        print_data(result.to_dict())
        return
    t = Table(
        title=f"{len(result.alerts)} alert(s), {result.flows:,} flows from "
        f"{iso(result.window.start or 0)} to {iso(result.window.end or 0)}",
        show_edge=False,
        header_style="bold",
        title_justify="left",
    )
    for name in ("severity", "rule", "entity", "first seen", "last seen", "flows", "what"):
        t.add_column(name, justify="right" if name == "flows" else "left")
    for a in result.alerts:
        t.add_row(
            Text(a.severity, _COLOURS.get(a.severity, "")),
            a.rule,
            a.entity,
            f"{a.first_seen:%m-%d %H:%M}" if a.first_seen else "-",
            f"{a.last_seen:%m-%d %H:%M}" if a.last_seen else "-",
            f"{a.count:,}",
            a.summary,
        )
    out.print(t)
    err.print(
        f"baseline {iso(result.baseline.start or 0)} to {iso(result.baseline.end or 0)}; "
        f"{len(result.rules)} rule(s), {result.queries} questions, {result.seconds:.1f}s",
        highlight=False,
    )


def rules(as_json: JsonOpt = False) -> None:
    """The built-in detection rules: id, severity, ATT&CK techniques, what each finds."""
    from flowscope.detect import RULES

    if as_json:
        print_data([r.to_dict() for r in RULES.values()])
        return
    t = Table(show_edge=False, header_style="bold", show_lines=True)
    for name in ("id", "severity", "ATT&CK", "what it finds"):
        t.add_column(name)
    for r in RULES.values():
        t.add_row(
            r.id,
            Text(r.severity, _COLOURS.get(r.severity, "")),
            " ".join(r.techniques),
            r.explanation,
        )
    out.print(t)


def register(app: typer.Typer) -> None:
    """Add ``detect`` and ``rules`` to the CLI."""
    app.command("detect")(detect)
    app.command("rules")(rules)
