"""Engines: one package per kind of store, one object per ``--store`` value.

::

    engines/
    ├── base.py        the protocols every engine provides (Store, Writer, LoadJob)
    ├── duckdb/        the embedded store, a DuckDB file: store, writer, SQL compiler, admin SQL
    └── opensearch/    OpenSearch and Elasticsearch clusters: URL, store, writer, index schema,
                       DSL compiler, query backend, Kibana export

:func:`open_store` turns a ``--store`` value into its engine's store; :func:`backend_for` gives
the store's query backend (the neutral :class:`~flowscope.query.model.Backend`). Nothing here
imports an engine until a value names it, so asking for the protocols loads neither DuckDB nor
opensearch-py.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from flowscope import settings
from flowscope.errors import UsageError

if TYPE_CHECKING:
    from flowscope.engines.duckdb.store import DuckStore
    from flowscope.engines.opensearch.store import OpenSearchStore
    from flowscope.query.model import Backend

REMOTE_SCHEMES = ("opensearch://", "opensearchs://", "elasticsearch://", "elasticsearchs://")


def open_store(url: str | None = None) -> DuckStore | OpenSearchStore:
    """The store named by ``url`` (a path, or a URL), else FLOWSCOPE_STORE, else the default.

    ``opensearch[s]://`` and ``elasticsearch[s]://`` URLs name a cluster store (see
    :mod:`flowscope.engines.opensearch.url`); anything else without a scheme is a DuckDB file.
    """
    value = url or settings.STORE.get()
    if value and value.lower().startswith(REMOTE_SCHEMES):
        from flowscope.engines.opensearch import open_url

        return open_url(value)
    if value and "://" in value:
        raise UsageError(
            f"store {value.split('@')[-1]!r}: unknown scheme",
            hint="use a DuckDB file path or opensearch://host:port/name",
        )
    from flowscope.engines.duckdb import open_path

    return open_path(value)


def open_duck_store(url: str | None, what: str) -> DuckStore:
    """The embedded store named by ``url``, for commands that only the DuckDB store has."""
    from flowscope.engines.duckdb.store import DuckStore

    store = open_store(url)
    if not isinstance(store, DuckStore):
        raise UsageError(
            f"{what} works on the embedded DuckDB store only",
            hint="give --store a DuckDB file path",
        )
    return store


def backend_for(
    store: object,
    *,
    timeout: float | None = None,
    row_cap: int | None = None,
    lock_wait: float | None = None,
) -> Backend:
    """The query backend of ``store`` (as :func:`open_store` returns it), or a Backend as it is.

    Each engine package gives its own (``backend``), chosen by the store's ``kind``.
    """
    from flowscope.query.model import Backend

    if isinstance(store, Backend):
        return store
    kind = getattr(store, "kind", None)
    if kind == "duckdb":
        from flowscope.engines import duckdb

        return duckdb.backend(
            cast("DuckStore", store), timeout=timeout, row_cap=row_cap, lock_wait=lock_wait
        )
    if kind == "opensearch":
        from flowscope.engines import opensearch

        return opensearch.backend(cast("OpenSearchStore", store), timeout=timeout, row_cap=row_cap)
    raise UsageError(f"{type(store).__name__} is not a store", hint="open it with open_store")
