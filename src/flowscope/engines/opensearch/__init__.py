"""The cluster engine: flows in OpenSearch or Elasticsearch indices.

:mod:`.url` parses ``opensearch[s]://`` / ``elasticsearch[s]://`` store URLs; :mod:`.store`
talks to the cluster through :mod:`.cluster` (version check, templates, retention; failures
explained by :mod:`.errors`); :mod:`.writer`
bulk-loads documents with computed ids and rolls back failed loads; :mod:`.schema` holds the
index mappings and builds the documents; :mod:`.query` answers the query model in the search
DSL; :mod:`.kibana` writes saved objects for Kibana / OpenSearch Dashboards.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flowscope.engines.opensearch.query import OpenSearchBackend
    from flowscope.engines.opensearch.store import OpenSearchStore


def open_url(value: str) -> OpenSearchStore:
    """The cluster store named by a store URL."""
    from flowscope.engines.opensearch.store import OpenSearchStore
    from flowscope.engines.opensearch.url import parse_url

    return OpenSearchStore(parse_url(value))


def backend(
    store: OpenSearchStore,
    *,
    timeout: float | None = None,
    row_cap: int | None = None,
    lock_wait: float | None = None,
) -> OpenSearchBackend:
    """The query backend over the cluster of ``store`` (``lock_wait`` has no meaning here)."""
    from flowscope.engines.opensearch.query import OpenSearchBackend

    return OpenSearchBackend(store, timeout=timeout, row_cap=row_cap)
