"""The scale-out store: flows in an OpenSearch or Elasticsearch cluster, loaded safely.

A load is made safe without transactions. It is first recorded in the ledger as *running*; its
records are sent with bulk ``create`` requests under computed ids (see :mod:`os_schema`), so a
record sent twice is stored once; only after every record is acknowledged are the cursors and
the ledger document (*done*) written. A load that fails is rolled back by deleting what it
created (its ``load_id``); a load killed outright stays *running* in the ledger and is rolled
back when the same input is loaded again. So a re-run adds nothing, and nothing half-written
is ever reported as loaded.

Errors: a cluster that cannot be reached (:class:`ClusterUnreachable`, transient), refuses the
credentials, is too old, has a conflicting mapping, or blocks writes (a full disk) raises
:class:`~flowscope.errors.StoreError` with one line naming the cluster (password redacted) and
what to do. Documents the cluster refuses one by one are set aside in the rejects index.
"""

from __future__ import annotations

import base64
import logging
import re
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from opensearchpy import OpenSearch, Urllib3HttpConnection
from opensearchpy.exceptions import (
    NotFoundError,
    TransportError,
)

from flowscope.engines.base import Rows
from flowscope.engines.opensearch import schema
from flowscope.engines.opensearch.errors import explain, reason_of
from flowscope.engines.opensearch.url import StoreURL, client_options
from flowscope.errors import StoreError
from flowscope.estate.store import EstateItem

log = logging.getLogger(__name__)

MIN_OPENSEARCH = (1, 0)
MIN_ELASTICSEARCH = (7, 10)

T = TypeVar("T")


class _Connection(Urllib3HttpConnection):
    """Cluster ``Warning:`` headers (deprecations) go to the log, not to Python warnings."""

    def _raise_warnings(self, warning_headers: Any) -> None:
        for header in warning_headers or ():
            log.info("cluster warning: %s", header)


def version_tuple(number: str) -> tuple[int, int]:
    """(major, minor) of a version number such as ``7.10.2``."""
    parts = [int(p) for p in re.findall(r"\d+", number)[:2]] + [0, 0]
    return parts[0], parts[1]


@dataclass(frozen=True)
class ClusterInfo:
    product: str  # "opensearch" or "elasticsearch"
    version: str
    serverless: bool = False

    def describe(self) -> str:
        return f"{'OpenSearch' if self.product == 'opensearch' else 'Elasticsearch'} {self.version}"


class Cluster:
    """The cluster behind a store URL: its client, version, indices and retention, under the
    alias ``name``. The writer and the query backend work through it."""

    def __init__(self, url: StoreURL) -> None:
        self.target = url
        self.names = schema.Names(url.name)
        self._client: OpenSearch | None = None
        self._info: ClusterInfo | None = None
        self._prepared = False
        # The client logs every failed attempt with a traceback; flowscope's own error line
        # says what happened, so keep those for --debug.
        client_log = logging.getLogger("opensearch")
        if client_log.level == logging.NOTSET and not logging.getLogger().isEnabledFor(
            logging.DEBUG
        ):
            client_log.setLevel(logging.ERROR)

    def close(self) -> None:
        """Close the client's connections (a store can be used again afterwards)."""
        if self._client is not None:
            self._client.close()
            self._client = None

    @property
    def url(self) -> str:
        return self.target.redacted()

    def client(self) -> OpenSearch:
        if self._client is None:
            self._client = OpenSearch(connection_class=_Connection, **client_options(self.target))
        return self._client

    def call(self, doing: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``fn(*args, **kwargs)`` with client errors turned into one-line StoreErrors."""
        try:
            return fn(*args, **kwargs)
        except (TransportError, StoreError) as e:
            raise explain(self.target, e, doing) from e

    def info(self) -> ClusterInfo:
        """Which product and version the cluster runs; too old a version is an error."""
        if self._info is not None:
            return self._info
        if self.target.aws_sigv4 == "aoss":  # Serverless has no GET /; it is current by design
            self._info = ClusterInfo("opensearch", "serverless", serverless=True)
            return self._info
        body = self.call("answering GET /", self.client().info)
        version = body.get("version", {})
        number = str(version.get("number", "0"))
        product = "opensearch" if version.get("distribution") == "opensearch" else "elasticsearch"
        found = ClusterInfo(product, number)
        least = MIN_OPENSEARCH if product == "opensearch" else MIN_ELASTICSEARCH
        if version_tuple(number) < least:
            raise StoreError(
                f"the cluster at {self.url} runs {found.describe()}; flowscope needs "
                f"OpenSearch {MIN_OPENSEARCH[0]}.{MIN_OPENSEARCH[1]} or later, or Elasticsearch "
                f"{MIN_ELASTICSEARCH[0]}.{MIN_ELASTICSEARCH[1]} or later",
                hint="upgrade the cluster, or keep flows in the embedded store (a DuckDB file)",
            )
        self._info = found
        return found

    def exists(self) -> bool:
        """Whether the store's alias exists (any flows were ever loaded)."""
        client = self.client()
        return bool(
            self.call("checking the alias", client.indices.exists_alias, name=self.names.alias)
        )

    def refresh(self) -> None:
        """Make every acknowledged document visible to searches now."""
        self.call(
            "refreshing the flows indices",
            self.client().indices.refresh,
            index=f"{self.names.pattern},{self.names.rejects}",
            ignore_unavailable=True,
            allow_no_indices=True,
        )

    # Setup ---------------------------------------------------------------------------------

    def prepare(self) -> None:
        """Template, side indices and retention policy; refuse conflicting existing indices.

        Done once per store object: ``follow`` opens a writer per round and need not repeat it.
        """
        if self._prepared:
            return
        info = self.info()
        client = self.client()
        self._refuse_concrete_alias()
        ilm = None
        if self.target.retention_days and info.product == "elasticsearch":
            ilm = self._put_ilm_policy()
        template = schema.flow_template(
            self.names,
            shards=self.target.shards,
            replicas=self.target.replicas,
            refresh=self.target.refresh,
            ilm_policy=ilm,
            serverless=info.serverless,
        )
        self.call(
            f"installing the index template {self.names.template}",
            client.indices.put_index_template,
            name=self.names.template,
            body=template,
        )
        for index, body in (
            (self.names.loads, schema.loads_index(info.serverless)),
            (self.names.rejects, schema.rejects_index(info.serverless)),
            (self.names.cursors, schema.cursors_index(info.serverless)),
            (self.names.estate, schema.estate_index(info.serverless)),
        ):
            if not self.create_index(index, body):
                # an index from an older flowscope: add the fields it lacks (additions only)
                self.call(
                    f"updating the mapping of {index}",
                    client.indices.put_mapping,
                    index=index,
                    body={"properties": body["mappings"]["properties"]},
                )
        mappings = self.call(
            "reading the flows mappings",
            client.indices.get_mapping,
            index=self.names.pattern,
            allow_no_indices=True,
            ignore_unavailable=True,
            # types only: a year of daily indices need not send a year of mappings
            filter_path="*.mappings.properties.*.type,*.mappings.properties.*.format",
        )
        for index, body in mappings.items():
            self.check_mapping(index, body.get("mappings", {}))
            self.add_missing_fields(index, body.get("mappings", {}))
        if self.target.retention_days and info.product == "opensearch" and not info.serverless:
            self._put_ism_policy()
        self._prepared = True

    def _refuse_concrete_alias(self) -> None:
        client = self.client()
        alias = self.names.alias
        if self.call("looking up the alias", client.indices.exists_alias, name=alias):
            return
        if self.call(f"looking up {alias}", client.indices.exists, index=alias):
            raise StoreError(
                f"the cluster at {self.url} already has an index named {alias}, "
                "where flowscope keeps an alias over its daily indices",
                hint="name another store (opensearch://host:port/othername) or reindex and "
                f"delete the index {alias}",
            )

    def create_index(self, index: str, body: dict[str, Any] | None = None) -> bool:
        """Create ``index`` unless it exists; True if this call created it."""
        try:
            self.client().indices.create(index=index, body=body or {})
            return True
        except TransportError as e:
            if reason_of(e)[0] == "resource_already_exists_exception":
                return False
            raise explain(self.target, e, f"creating the index {index}") from e

    def check_mapping(self, index: str, mappings: dict[str, Any]) -> None:
        problems = schema.mapping_conflicts(index, mappings.get("properties", {}))
        if problems:
            more = f" (and {len(problems) - 2} more)" if len(problems) > 2 else ""
            raise StoreError(
                f"the cluster at {self.url} has a mapping flowscope cannot use: "
                + "; ".join(problems[:2])
                + more,
                hint=f"delete or reindex {index}, or name another store "
                "(opensearch://host:port/othername); nothing was loaded",
            )

    def add_missing_fields(self, index: str, mappings: dict[str, Any]) -> None:
        """Give an index made by an older flowscope the fields it lacks (additions only: its
        documents stay as they are, and the new fields are absent from them until written)."""
        missing = schema.missing_fields(mappings.get("properties", {}))
        if missing:
            log.info("adding %d fields to the mapping of %s", len(missing), index)
            self.call(
                f"adding fields to the mapping of {index}",
                self.client().indices.put_mapping,
                index=index,
                body={"properties": missing},
            )

    def _has_ilm(self) -> bool:
        """Whether the Elasticsearch cluster has ILM (X-Pack); the OSS distribution has not, and
        answers ``/_ilm/status`` as a request for an index named ``_ilm`` (400) or not at all."""
        try:
            self.client().transport.perform_request("GET", "/_ilm/status")
            return True
        except TransportError as e:
            if e.status_code in (400, 404, 405):
                return False
            raise explain(self.target, e, "checking for ILM") from e

    def _put_ilm_policy(self) -> str | None:
        if not self._has_ilm():
            log.info("no ILM on %s: retention is applied by flowscope after loads", self.url)
            return None
        days = self.target.retention_days
        body = {
            "policy": {
                "phases": {
                    "hot": {"actions": {}},
                    "delete": {"min_age": f"{days}d", "actions": {"delete": {}}},
                }
            }
        }
        path = f"/_ilm/policy/{self.names.policy}"
        self.call(
            "installing the ILM retention policy",
            self.client().transport.perform_request,
            "PUT",
            path,
            body=body,
        )
        return self.names.policy

    def _put_ism_policy(self) -> None:
        client = self.client()
        try:
            plugins = client.cat.plugins(format="json")
        except TransportError as e:
            raise explain(self.target, e, "listing plugins") from e
        if not any(p.get("component") == "opensearch-index-management" for p in plugins):
            log.info("no ISM plugin on %s: retention is applied by flowscope after loads", self.url)
            return
        days = self.target.retention_days
        policy = {
            "policy": {
                "description": f"flowscope: delete {self.names.pattern} after {days} days",
                "default_state": "hot",
                "states": [
                    {
                        "name": "hot",
                        "actions": [],
                        "transitions": [
                            {"state_name": "delete", "conditions": {"min_index_age": f"{days}d"}}
                        ],
                    },
                    {"name": "delete", "actions": [{"delete": {}}], "transitions": []},
                ],
                "ism_template": [{"index_patterns": [self.names.pattern], "priority": 100}],
            }
        }
        path = f"/_plugins/_ism/policies/{self.names.policy}"
        params: dict[str, Any] = {}
        with suppress(NotFoundError):
            old = client.transport.perform_request("GET", path)
            params = {"if_seq_no": old["_seq_no"], "if_primary_term": old["_primary_term"]}
        self.call(
            "installing the ISM retention policy",
            client.transport.perform_request,
            "PUT",
            path,
            params=params,
            body=policy,
        )

    def apply_retention(self, today: datetime | None = None) -> list[str]:
        """Delete daily indices whose day is more than ``retention_days`` before today."""
        days = self.target.retention_days
        if not days:
            return []
        cutoff = (today or datetime.now(UTC)).date() - timedelta(days=days)
        rows = self.call(
            "listing the flows indices",
            self.client().cat.indices,
            index=self.names.pattern,
            format="json",
            h="index",
        )
        old = []
        for row in rows:
            suffix = str(row.get("index", ""))[len(self.names.prefix) :]
            with suppress(ValueError):
                if datetime.strptime(suffix, "%Y.%m.%d").date() < cutoff:
                    old.append(row["index"])
        for i in range(0, len(old), 50):
            self.call(
                "deleting expired indices",
                self.client().indices.delete,
                index=",".join(old[i : i + 50]),
            )
        if old:
            log.info("retention: deleted %d indices older than %s", len(old), cutoff)
        return sorted(old)

    # The ledger, read back (what ``flowscope loads`` and ``flowscope rejects`` show) ----------

    def _rows(
        self, index: str, columns: list[str], sort: list[dict[str, Any]], limit: int, query: Any
    ) -> Rows:
        found = self.call(
            f"reading {index}",
            self.client().search,
            index=index,
            body={"query": query, "sort": sort, "size": limit, "_source": columns},
            ignore_unavailable=True,
        )
        rows = [tuple(h["_source"].get(c) for c in columns) for h in found["hits"]["hits"]]
        return Rows(columns, rows)

    def list_loads(self, limit: int = 50) -> Rows:
        """Committed loads, newest first: the columns of the embedded store's ``loads``."""
        columns = ["load_id", "source", "rows", "rejects", "layout", "notes", "finished"]
        done = {"term": {"status": "done"}}
        found = self._rows(self.names.loads, columns, [{"load_id": "desc"}], limit, done)
        when = columns.index("finished")
        return Rows(
            columns,
            [
                (*r[:when], datetime.fromisoformat(r[when]) if r[when] else None, *r[when + 1 :])
                for r in found.rows
            ],
        )

    def estate_items(self) -> dict[str, EstateItem]:
        """The estate this store keeps (none before the first refresh, or before any load)."""
        self.info()  # the first request to a cluster: too old a version is said first
        found = self.call(
            "reading the estate",
            self.client().search,
            index=self.names.estate,
            body={"query": {"match_all": {}}, "size": 100},
            ignore_unavailable=True,
        )
        out = {}
        for hit in found["hits"]["hits"]:
            doc = hit["_source"]
            out[str(doc["name"])] = EstateItem(
                base64.b64decode(doc["data"]),
                str(doc["source"]),
                datetime.fromisoformat(doc["updated"]),
            )
        return out

    def list_rejects(self, limit: int = 50) -> Rows:
        """Records set aside, in load and line order."""
        columns = ["source", "line", "reason", "raw"]
        order: list[dict[str, Any]] = [
            {"load_id": "asc"},
            {"line": {"order": "asc", "missing": "_last"}},
        ]
        return self._rows(self.names.rejects, columns, order, limit, {"match_all": {}})
