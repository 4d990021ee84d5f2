"""Stores: where parsed flows go. ``open_store`` picks the backend from a ``--store`` value."""

from __future__ import annotations

from pathlib import Path

from flowscope import settings
from flowscope.errors import UsageError
from flowscope.store.duck import DuckStore, default_path

REMOTE_SCHEMES = ("opensearch://", "opensearchs://", "elasticsearch://", "elasticsearchs://")


def open_store(url: str | None = None) -> DuckStore:
    """The store named by ``url`` (a path, or a URL), else FLOWSCOPE_STORE, else the default."""
    value = url or settings.STORE.get() or str(default_path())
    if value.startswith(REMOTE_SCHEMES):
        raise UsageError(f"store {value.split('@')[-1]}: OpenSearch stores are not available yet")
    if "://" in value:
        raise UsageError(
            f"store {value!r}: unknown scheme",
            hint="use a DuckDB file path or opensearch://host:port/name",
        )
    try:
        timeout = float(settings.LOCK_TIMEOUT.get())
    except ValueError as e:
        raise UsageError(f"{settings.LOCK_TIMEOUT.env} must be a number of seconds") from e
    return DuckStore(
        Path(value).expanduser(), lock_timeout=timeout, memory_limit=settings.MEMORY_LIMIT.get()
    )
