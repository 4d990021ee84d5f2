"""Which query backend answers for a store: a DuckStore file or an OpenSearch index."""

from __future__ import annotations

from flowscope.errors import UsageError
from flowscope.query.model import Backend


def backend_for(
    store: object,
    *,
    timeout: float | None = None,
    row_cap: int | None = None,
    lock_wait: float | None = None,
) -> Backend:
    """The backend for ``store`` (as ``open_store`` returns it), or a Backend as it is."""
    if isinstance(store, Backend):
        return store
    from flowscope.store.duck import DuckStore

    if isinstance(store, DuckStore):
        from flowscope.query.duck import DuckBackend

        return DuckBackend(store, timeout=timeout, row_cap=row_cap, lock_wait=lock_wait)
    from flowscope.store.opensearch import OpenSearchStore

    if isinstance(store, OpenSearchStore):
        from flowscope.query.opensearch import OpenSearchBackend

        return OpenSearchBackend(store, timeout=timeout, row_cap=row_cap)
    raise UsageError(
        f"queries over a {getattr(store, 'kind', type(store).__name__)} store are not available "
        "yet",
        hint="query a DuckDB store",
    )
