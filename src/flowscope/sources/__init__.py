"""Sources: where flow logs come from. Each yields *units*, the pieces loaded all-or-nothing.

A unit is one file, one S3 object, one page set of a CloudWatch stream or one subscription
payload. It knows its name (for messages), its identity (for the loads ledger, so the same
input is never loaded twice), an optional cursor to commit with its rows, and how to read
itself as parsed batches.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from flowscope.parse.layout import Layout
from flowscope.parse.text import Parsed


@dataclass
class Reading:
    """What a unit's read produced besides batches: the layout used and any notes."""

    layout: Layout | None = None
    notes: list[str] = field(default_factory=list)


class Unit(Protocol):
    name: str
    #: Ledger identity; may be filled in only after the read (stdin is hashed as it streams).
    identity: str | None
    #: (key, value) committed with the unit's rows, for sources that resume from a cursor.
    cursor: tuple[str, dict[str, Any]] | None

    def read(self, fmt: Layout | None, info: Reading) -> Iterator[Parsed]: ...
