"""What every store backend provides to the ingest pipeline (DuckDB file, OpenSearch index).

A store opens a *writer*; a writer answers ledger and cursor questions and opens *loads*; a
load takes parsed batches, enriched once by the pipeline for every engine, and rejects, and is
committed as one unit together with its cursor (DuckDB: one transaction; OpenSearch: idempotent
document ids, then the ledger document). A store also lists its ledger (loads and rejects).
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from flowscope.parse.text import Parsed, Reject


@dataclass
class Rows:
    """A small table: column names and row tuples (the ledger listings, ``flowscope sql``)."""

    columns: list[str]
    rows: list[tuple[Any, ...]]
    #: More rows than a row cap matched; ``rows`` holds the first of them.
    truncated: bool = False


@dataclass(frozen=True)
class LoadRecord:
    load_id: int
    source: str
    rows: int
    rejects: int
    finished: datetime


class LoadJob(Protocol):
    load_id: int
    identity: str | None
    layout: str
    rows: int
    rejected: int
    notes: list[str]

    def append(self, parsed: Parsed, source: str | None = None) -> None: ...
    def add_rejects(self, rejects: list[Reject], source: str | None = None) -> None: ...
    def set_cursor(self, key: str, value: dict[str, Any]) -> None: ...


class Writer(Protocol):
    def loaded(self, identity: str) -> LoadRecord | None: ...
    def cursor(self, key: str) -> dict[str, Any] | None: ...
    def load(
        self, source: str, identity: str | None, layout: str = ""
    ) -> AbstractContextManager[LoadJob]: ...
    def yield_to_readers(self, pause: float = 0.3) -> None: ...
    def release(self) -> None: ...
    def failed(self) -> dict[int, str]:
        """Loads refused when their group committed, since the last call: load_id -> reason."""
        ...


class Store(Protocol):
    kind: str

    @property
    def url(self) -> str: ...
    def exists(self) -> bool: ...
    def write(self) -> AbstractContextManager[Writer]: ...
    def list_loads(self, limit: int = 50) -> Rows:
        """Committed loads, newest first (the columns of the embedded store's ``loads``)."""
        ...

    def list_rejects(self, limit: int = 50) -> Rows:
        """Records set aside, in load and line order: source, line, reason, raw."""
        ...
