"""Renderings of one result: a Rich table for people, JSON and CSV for scripts.

Every read command returns plain rows (a list of column names and a list of tuples); these
functions are the only place that decides how they look.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from rich.table import Table


def plain(value: Any) -> Any:
    """A JSON-ready value: times in ISO 8601, decimals as numbers."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value


def to_json(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    return json.dumps(
        [{c: plain(v) for c, v in zip(columns, r, strict=True)} for r in rows], indent=2
    )


def cell(value: Any) -> str:
    """A value as one CSV or table cell: a list (security groups) as its members joined by a
    space, not Python's repr."""
    if isinstance(value, list | tuple):
        return " ".join(cell(v) for v in value)
    return str(plain(value))


def to_csv(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(columns)
    for r in rows:
        w.writerow(["" if v is None else cell(v) for v in r])
    return buf.getvalue()


def human(n: float, unit: str = "") -> str:
    """1234 -> '1.2k', 1.2e9 bytes -> '1.2 GB' (decimal units, like Kibana)."""
    if unit == "B":
        for suffix in ("B", "kB", "MB", "GB", "TB", "PB"):
            if abs(n) < 1000 or suffix == "PB":
                return f"{n:.0f} {suffix}" if suffix == "B" else f"{n:.1f} {suffix}"
            n /= 1000
    for suffix in ("", "k", "M", "G", "T"):
        if abs(n) < 1000 or suffix == "T":
            return f"{n:.0f}" if suffix == "" else f"{n:.1f}{suffix}"
        n /= 1000
    return str(n)


def rich_table(
    columns: Sequence[str], rows: Sequence[Sequence[Any]], title: str | None = None
) -> Table:
    t = Table(title=title, show_edge=False, header_style="bold")
    for c in columns:
        t.add_column(c)
    for r in rows:
        t.add_row(*["-" if v is None else cell(v) for v in r])
    return t
