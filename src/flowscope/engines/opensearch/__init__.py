"""The cluster engine: flows in OpenSearch or Elasticsearch indices.

:mod:`.url` parses ``opensearch[s]://`` / ``elasticsearch[s]://`` store URLs; :mod:`.store`
talks to the cluster (version check, templates, retention, errors explained); :mod:`.writer`
bulk-loads documents with computed ids and rolls back failed loads; :mod:`.schema` holds the
index mappings and builds the documents; :mod:`.query` answers the query model in the search
DSL; :mod:`.kibana` writes saved objects for Kibana / OpenSearch Dashboards.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flowscope.engines.opensearch.store import OpenSearchStore


def open_url(value: str) -> OpenSearchStore:
    """The cluster store named by a store URL."""
    from flowscope.engines.opensearch.store import OpenSearchStore
    from flowscope.engines.opensearch.url import parse_url

    return OpenSearchStore(parse_url(value))
