"""Stores: where parsed flows go. ``open_store`` picks the backend from a ``--store`` value."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from flowscope import settings
from flowscope.errors import UsageError
from flowscope.store.duck import DuckStore, default_path

if TYPE_CHECKING:
    from flowscope.store.opensearch import OpenSearchStore

REMOTE_SCHEMES = ("opensearch://", "opensearchs://", "elasticsearch://", "elasticsearchs://")


def open_store(url: str | None = None) -> DuckStore | OpenSearchStore:
    """The store named by ``url`` (a path, or a URL), else FLOWSCOPE_STORE, else the default.

    ``opensearch[s]://`` and ``elasticsearch[s]://`` URLs name a cluster store (see
    :mod:`flowscope.store.os_url`); anything else without a scheme is a DuckDB file.
    """
    value = url or settings.STORE.get() or str(default_path())
    if value.lower().startswith(REMOTE_SCHEMES):
        from flowscope.store.opensearch import OpenSearchStore
        from flowscope.store.os_url import parse_url

        return OpenSearchStore(parse_url(value))
    if "://" in value:
        raise UsageError(
            f"store {value.split('@')[-1]!r}: unknown scheme",
            hint="use a DuckDB file path or opensearch://host:port/name",
        )
    try:
        timeout = float(settings.LOCK_TIMEOUT.get())
    except ValueError as e:
        raise UsageError(f"{settings.LOCK_TIMEOUT.env} must be a number of seconds") from e
    return DuckStore(
        Path(value).expanduser(), lock_timeout=timeout, memory_limit=settings.MEMORY_LIMIT.get()
    )


def open_duck_store(url: str | None, what: str) -> DuckStore:
    """The embedded store named by ``url``, for commands that only the DuckDB store has."""
    store = open_store(url)
    if not isinstance(store, DuckStore):
        raise UsageError(
            f"{what} works on the embedded DuckDB store only",
            hint="give --store a DuckDB file path",
        )
    return store
