"""The embedded engine: flows in one DuckDB file.

:mod:`.store` opens the file (read connections kept warm for ``serve``, one writer at a time)
and writes loads with their ledger rows and cursors in one transaction; :mod:`.compile` turns
the neutral filter tree into parameterised SQL; :mod:`.query` answers the query model;
:mod:`.admin` holds the read-only SQL of ``flowscope sql`` and the ledger listings.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from flowscope import settings
from flowscope.errors import UsageError

if TYPE_CHECKING:
    from flowscope.engines.duckdb.query import DuckBackend
    from flowscope.engines.duckdb.store import DuckStore


def default_path() -> Path:
    """Where the store lives when nothing names one: ``$XDG_DATA_HOME/flowscope/flows.duckdb``."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "flowscope" / "flows.duckdb"


def open_path(value: str | None) -> DuckStore:
    """The DuckDB store at ``value`` (a path), or at :func:`default_path`."""
    from flowscope.engines.duckdb.store import DuckStore

    try:
        timeout = float(settings.LOCK_TIMEOUT.get())
    except ValueError as e:
        raise UsageError(f"{settings.LOCK_TIMEOUT.env} must be a number of seconds") from e
    path = Path(value).expanduser() if value else default_path()
    return DuckStore(path, lock_timeout=timeout, memory_limit=settings.MEMORY_LIMIT.get())


def backend(
    store: DuckStore,
    *,
    timeout: float | None = None,
    row_cap: int | None = None,
    lock_wait: float | None = None,
) -> DuckBackend:
    """The query backend over the file of ``store``."""
    from flowscope.engines.duckdb.query import DuckBackend

    return DuckBackend(store, timeout=timeout, row_cap=row_cap, lock_wait=lock_wait)
