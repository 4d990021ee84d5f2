"""Writing to the OpenSearch store: the ledger, cursors, loads and the bulk sender they share.

How a load stays all-or-nothing without transactions (the module docstring of
:mod:`flowscope.engines.opensearch.store` tells the whole story): ledger document *running*, records
sent in bulk ``create`` requests under computed ids, rejects, cursors, ledger document *done*;
on failure, what the load created is deleted by its ``load_id``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from opensearchpy import helpers
from opensearchpy.exceptions import ConnectionError, NotFoundError, TransportError

from flowscope.engines.base import LoadRecord
from flowscope.engines.opensearch import estate, schema
from flowscope.engines.opensearch.cluster import Cluster
from flowscope.engines.opensearch.errors import blocked_error, explain
from flowscope.errors import StoreError
from flowscope.estate.store import EstateItem
from flowscope.parse.text import Parsed, Reject

if TYPE_CHECKING:
    from flowscope.estate.resolve import Estate

log = logging.getLogger(__name__)

#: Documents per bulk request, and bytes: AWS domains of small instance types take 10 MiB.
CHUNK_DOCS = 5000
CHUNK_BYTES = 8 << 20
#: Bulk requests in flight at once.
THREADS = 2
#: Retries of documents the cluster answered 429 or 5xx for, with exponential backoff.
RETRIES = 5
BACKOFF = 0.5
#: Statuses worth sending a document again for (busy, or a shard briefly unavailable); a whole
#: request is sent again on 429 and any 5xx, a document the cluster refused alone on these only.
TRANSIENT = frozenset({429, 502, 503, 504})


def _as_is(line: tuple[str, str]) -> tuple[str, str]:
    return line


#: This machine, as the loads ledger names it (with the process id of each running load).
HOST = socket.gethostname()


def _alive(pid: object) -> bool:
    """Whether process ``pid`` of this host still runs (an unknown pid counts as alive)."""
    if not isinstance(pid, int) or pid <= 0:
        return True
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _now() -> str:
    return datetime.now(UTC).isoformat()


class OpenSearchWriter:
    """Ledger and cursor look-ups, loads, and the bulk sender they share."""

    def __init__(self, store: Cluster) -> None:
        self.store = store
        self.names = store.names
        self.client = store.client()
        store.prepare()
        self.builder = schema.DocumentBuilder(self.names)
        self.ready: set[str] = set()
        self.wrote = False
        self._last_id = 0
        self._orphans_checked = False

    def close(self) -> None:
        self.builder.close()
        if self.wrote:
            with suppress(StoreError):
                self.store.refresh()
            self.store.apply_retention()

    def release(self) -> None:
        """Nothing to let go of: a cluster has no file lock."""

    def yield_to_readers(self, pause: float = 0.3) -> None:
        """Readers never wait for a cluster's writers."""

    def failed(self) -> dict[int, str]:
        """Each load here finishes on its own (a failure is raised by the load): none."""
        return {}

    def loaded(self, identity: str) -> LoadRecord | None:
        body = {
            "query": {
                "bool": {"filter": [{"term": {"identity": identity}}, {"term": {"status": "done"}}]}
            },
            "sort": [{"load_id": "asc"}],
            "size": 1,
        }
        found = self.store.call(
            "reading the loads ledger", self.client.search, index=self.names.loads, body=body
        )
        hits = found["hits"]["hits"]
        if not hits:
            return None
        doc = hits[0]["_source"]
        return LoadRecord(
            int(doc["load_id"]),
            str(doc["source"]),
            int(doc["rows"]),
            int(doc["rejects"]),
            datetime.fromisoformat(doc["finished"]),
        )

    def cursor(self, key: str) -> dict[str, Any] | None:
        try:
            doc = self.client.get(index=self.names.cursors, id=_cursor_id(key))
        except NotFoundError:
            return None
        except TransportError as e:
            raise explain(self.store.target, e, "reading a cursor") from e
        value: dict[str, Any] = json.loads(doc["_source"]["cursor"])
        return value

    def new_load_id(self) -> int:
        # Microseconds since the epoch: unique across the processes writing one store.
        self._last_id = max(self._last_id + 1, time.time_ns() // 1000)
        return self._last_id

    @contextmanager
    def load(self, source: str, identity: str | None, layout: str = "") -> Iterator[OpenSearchLoad]:
        """One load: ledger *running*, records, rejects, cursors, ledger *done*."""
        if not self._orphans_checked:
            self.roll_back_orphans()
        if identity is not None:
            self.roll_back_dead(identity)
        job = OpenSearchLoad(
            self, self.new_load_id(), source, identity, layout, key=identity or source
        )
        self.ledger(job, "running")
        self.wrote = True
        try:
            yield job
            job.finish()
        except BaseException:
            self.roll_back(job.load_id)
            raise

    def ledger(self, job: OpenSearchLoad, status: str) -> None:
        doc = {
            "load_id": job.load_id,
            "status": status,
            "source": job.source,
            "identity": job.identity,
            "layout": job.layout,
            "rows": job.rows,
            "rejects": job.rejected,
            "notes": "; ".join(job.notes) or None,
            "started": job.started.isoformat(),
            "finished": _now() if status == "done" else None,
            "host": HOST,
            "pid": os.getpid(),
        }
        self.store.call(
            "writing the loads ledger",
            self.client.index,
            index=self.names.loads,
            id=str(job.load_id),
            body=doc,
            refresh=True,
        )

    def roll_back_orphans(self) -> None:
        """Roll back the loads left *running* by processes of this host that are gone (killed):
        their records would otherwise stay searchable, and an input read from standard input,
        which has no identity when its load starts, would be loaded twice. Loads of other
        hosts are left to :meth:`roll_back_dead` (their processes cannot be asked)."""
        self._orphans_checked = True
        body = {
            "query": {
                "bool": {"filter": [{"term": {"status": "running"}}, {"term": {"host": HOST}}]}
            },
            "size": 1000,
        }
        found = self.store.call(
            "reading the loads ledger", self.client.search, index=self.names.loads, body=body
        )
        for hit in found["hits"]["hits"]:
            doc = hit["_source"]
            if _alive(doc.get("pid")):
                continue
            log.info(
                "rolling back load %d of %s: its process is gone", doc["load_id"], doc["source"]
            )
            self.roll_back(int(doc["load_id"]))

    def roll_back_dead(self, identity: str) -> None:
        """Remove what earlier, killed attempts at loading ``identity`` left behind."""
        body = {
            "query": {
                "bool": {
                    "filter": [{"term": {"identity": identity}}, {"term": {"status": "running"}}]
                }
            },
            "size": 100,
        }
        found = self.store.call(
            "reading the loads ledger", self.client.search, index=self.names.loads, body=body
        )
        for hit in found["hits"]["hits"]:
            load_id = int(hit["_source"]["load_id"])
            log.info("rolling back load %d of %s, interrupted earlier", load_id, identity)
            self.roll_back(load_id)

    def roll_back(self, load_id: int) -> None:
        """Delete the records and rejects of ``load_id``, then its ledger document."""
        try:
            self.store.refresh()
            query = {"query": {"term": {"load_id": load_id}}, "_source": False}
            hits = helpers.scan(
                self.client,
                query=query,
                index=f"{self.names.pattern},{self.names.rejects}",
                ignore_unavailable=True,
                allow_no_indices=True,
                size=5000,
            )
            deletes = (({"delete": {"_index": h["_index"], "_id": h["_id"]}}, None) for h in hits)
            for ok, item in helpers.streaming_bulk(
                self.client,
                deletes,
                chunk_size=CHUNK_DOCS,
                expand_action_callback=_as_is,
                raise_on_error=False,
            ):
                if not ok and item.get("delete", {}).get("status") != 404:
                    raise StoreError(f"could not delete {item}")
            with suppress(NotFoundError):
                self.client.delete(index=self.names.loads, id=str(load_id), refresh=True)
        except (TransportError, StoreError) as e:
            log.warning(
                "load %d could not be rolled back (%s); it stays 'running' in %s and is rolled "
                "back when the same input is loaded again",
                load_id,
                explain(self.store.target, e, "rolling back"),
                self.names.loads,
            )

    def save_estate(self, items: dict[str, EstateItem]) -> None:
        """Keep the estate ``items`` (each replaces the item of its name)."""
        estate.save_estate(self, items)

    def apply_estate(self, found: Estate, progress: Callable[[int], None] | None = None) -> int:
        """Name the flows already stored with ``found`` (partial updates of every document's
        endpoint fields, a batch at a time); returns the number of flows."""
        return estate.apply_estate(self, found, progress)

    def ensure_indices(self, indices: list[str]) -> None:
        """Create the daily indices a batch goes to (the template shapes them), and check them."""
        for index in indices:
            if index in self.ready:
                continue
            if not self.store.create_index(index):
                found = self.store.call(f"reading {index}", self.client.indices.get, index=index)
                body = found.get(index, {})
                self.store.check_mapping(index, body.get("mappings", {}))
                self.store.add_missing_fields(index, body.get("mappings", {}))
                if self.names.alias not in body.get("aliases", {}):
                    self.store.call(
                        "adding the alias",
                        self.client.indices.put_alias,
                        index=index,
                        name=self.names.alias,
                    )
            self.ready.add(index)

    def send(self, lines: list[tuple[str, str]]) -> list[tuple[tuple[str, str], str]]:
        """Bulk-send ``lines``; returns the documents refused for good, with the reason.

        An id that already exists (409 on create) was stored by an earlier attempt: done.
        429s and 5xx are retried with backoff, so is a request that failed as a whole (the ids
        make sending twice harmless); a write block is a StoreError at once.
        """
        where = self.store.url
        pending = lines
        refused: list[tuple[tuple[str, str], str]] = []
        last = ""
        for attempt in range(RETRIES + 1):
            if attempt:
                delay = BACKOFF * 2 ** (attempt - 1)
                log.info("retrying %d documents in %.1fs (%s)", len(pending), delay, last)
                time.sleep(delay)
            retry: list[tuple[str, str]] = []
            try:
                results = helpers.parallel_bulk(
                    self.client,
                    pending,
                    thread_count=THREADS,
                    chunk_size=CHUNK_DOCS,
                    max_chunk_bytes=CHUNK_BYTES,
                    expand_action_callback=_as_is,
                    raise_on_error=False,
                    raise_on_exception=True,
                )
                for line, (ok, item) in zip(pending, results, strict=True):
                    if ok:
                        continue
                    info = next(iter(item.values()))
                    status = int(info.get("status", 500))
                    error = info.get("error") or {}
                    kind = str(error.get("type", "error")) if isinstance(error, dict) else "error"
                    reason = str(error.get("reason", "")) if isinstance(error, dict) else str(error)
                    if status == 409:
                        continue
                    if kind == "cluster_block_exception":
                        raise blocked_error(where, str(info.get("_index", "")), reason)
                    if status in TRANSIENT:
                        retry.append(line)
                        last = f"{status} {kind}"
                        continue
                    refused.append((line, f"refused by the cluster: {kind}: {reason}"[:1000]))
            except TransportError as e:
                code = e.status_code
                transient = isinstance(e, ConnectionError) or (
                    isinstance(code, int) and (code == 429 or code >= 500)
                )
                if not transient or attempt == RETRIES:
                    raise explain(self.store.target, e, "indexing flows") from e
                retry, last = pending, str(explain(self.store.target, e, "indexing flows"))
            if not retry:
                return refused
            pending = retry
        raise StoreError(
            f"the cluster at {where} kept refusing {len(pending)} documents ({last}) "
            f"after {RETRIES} retries",
            hint="the cluster is overloaded; this input was not recorded as loaded, so running "
            "the same command again resumes",
        )


def _cursor_id(key: str) -> str:
    return key if len(key.encode()) <= 200 else "sha256:" + hashlib.sha256(key.encode()).hexdigest()


@dataclass
class OpenSearchLoad:
    """One unit's load into the cluster (the :class:`~flowscope.engines.base.LoadJob` protocol)."""

    writer: OpenSearchWriter
    load_id: int
    source: str
    identity: str | None
    layout: str
    key: str
    rows: int = 0
    rejected: int = 0
    notes: list[str] = field(default_factory=list)
    cursors: dict[str, dict[str, Any]] = field(default_factory=dict)
    started: datetime = field(default_factory=lambda: datetime.now(UTC))
    ordinal: int = 0

    def append(self, parsed: Parsed, source: str | None = None) -> None:
        table = parsed.table
        if table.num_rows and parsed.endpoints is not None:
            # who each end is, as of the flow's start (scope is in the table already)
            for column, values in parsed.endpoints.columns().items():
                if column not in table.column_names:
                    table = table.append_column(column, values)
        if table.num_rows:
            w = self.writer
            indices, lines = w.builder.build(table, self.ordinal, self.key, self.load_id)
            self.ordinal += table.num_rows
            w.ensure_indices(indices)
            refused = w.send(lines)
            self.rows += table.num_rows - len(refused)
            if refused:
                self._set_aside(
                    [Reject(0, reason, body) for (_, body), reason in refused], source, line=False
                )
        if parsed.rejects:
            self.add_rejects(parsed.rejects, source)

    def add_rejects(self, rejects: list[Reject], source: str | None = None) -> None:
        self._set_aside(rejects, source)

    def _set_aside(self, rejects: list[Reject], source: str | None, line: bool = True) -> None:
        w = self.writer
        action = json.dumps({"index": {"_index": w.names.rejects}})
        lines = [
            (
                action,
                json.dumps(
                    {
                        "load_id": self.load_id,
                        "source": source or self.source,
                        "line": r.line if line else None,
                        "reason": r.reason,
                        "raw": r.raw,
                    }
                ),
            )
            for r in rejects
        ]
        refused = w.send(lines)
        if refused:
            raise StoreError(
                f"the cluster at {w.store.url} refused to store rejected records: {refused[0][1]}",
                hint=f"check the index {w.names.rejects}; nothing of this input was recorded",
            )
        self.rejected += len(rejects)

    def set_cursor(self, key: str, value: dict[str, Any]) -> None:
        self.cursors[key] = value

    def finish(self) -> None:
        w = self.writer
        for key, value in self.cursors.items():
            w.store.call(
                "writing a cursor",
                w.client.index,
                index=w.names.cursors,
                id=_cursor_id(key),
                body={
                    "source_key": key,
                    "cursor": json.dumps(value, sort_keys=True),
                    "updated": _now(),
                },
            )
        w.ledger(self, "done")
