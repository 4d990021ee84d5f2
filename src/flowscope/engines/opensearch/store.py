"""The cluster store: what the pipeline and the query layer open for an ``opensearch://`` or
``elasticsearch://`` store URL. The cluster's own work lives in :mod:`.cluster`, loads in
:mod:`.writer`, queries in :mod:`.query`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from flowscope.engines.opensearch.cluster import Cluster
from flowscope.engines.opensearch.writer import OpenSearchWriter


class OpenSearchStore(Cluster):
    """A flowscope store in an OpenSearch or Elasticsearch cluster, under the alias ``name``."""

    kind = "opensearch"

    @contextmanager
    def write(self) -> Iterator[OpenSearchWriter]:
        """A writer; each load is recorded in the ledger once all its records are stored."""
        writer = OpenSearchWriter(self)
        try:
            yield writer
        finally:
            writer.close()
