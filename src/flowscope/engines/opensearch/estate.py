"""The estate on a cluster: its items kept in ``<name>-flowscope-estate``, and the flows already
stored named again when it changes.

Each item (inventory history, ip-ranges.json, networks file; see :mod:`flowscope.estate.store`)
is one document, id = the item's name, its bytes base64 in a ``binary`` field (neither indexed
nor in doc values). :func:`apply_estate` walks every flow document with a scroll (a point in
time: the updates it sends do not move it), a batch at a time, reads what naming needs
(``srcaddr``, ``dstaddr``, ``start``, ``vpc_id``, ``interface_id``), resolves the batch with
:meth:`Estate.endpoints <flowscope.estate.resolve.Estate.endpoints>` (once per distinct address
and slot) and sends partial updates by ``_id`` with every endpoint field, NULL ones included
(so a name the new estate no longer gives is removed). Memory is one batch; a run stopped half-way
leaves older names on the rest: run it again.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa
from opensearchpy import helpers
from opensearchpy.exceptions import TransportError

from flowscope.engines.opensearch.errors import explain
from flowscope.engines.opensearch.schema import ESTATE_COLUMNS
from flowscope.errors import StoreError
from flowscope.estate.store import EstateItem

if TYPE_CHECKING:
    from flowscope.engines.opensearch.writer import OpenSearchWriter
    from flowscope.estate.resolve import Estate

#: Flow documents read (and updated) per batch.
BATCH = 5000
#: What naming a flow reads from its document.
READ = ("srcaddr", "dstaddr", "start", "vpc_id", "interface_id")
_READ_SCHEMA = pa.schema(
    [
        ("srcaddr", pa.string()),
        ("dstaddr", pa.string()),
        ("start", pa.int64()),
        ("vpc_id", pa.string()),
        ("interface_id", pa.string()),
    ]
)


def save_estate(writer: OpenSearchWriter, items: dict[str, EstateItem]) -> None:
    """Keep ``items``, each replacing the item of its name, visible at once."""
    store = writer.store
    for name, item in items.items():
        store.call(
            f"saving the estate item {name}",
            writer.client.index,
            index=writer.names.estate,
            id=name,
            body={
                "name": name,
                "data": base64.b64encode(item.data).decode("ascii"),
                "source": item.source,
                "updated": item.updated.isoformat(),
            },
            refresh=True,
        )


def _update_sql(columns: list[str]) -> str:
    fields = ", ".join(f"'{c}', \"{c}\"" for c in columns)
    return f"""
        SELECT
            json_object('update', json_object('_index', _index, '_id', _id))::VARCHAR AS action,
            json_object('doc', json_object({fields}))::VARCHAR AS source
        FROM batch
    """


def apply_estate(
    writer: OpenSearchWriter, estate: Estate, progress: Callable[[int], None] | None = None
) -> int:
    """Name every stored flow with ``estate`` (see the module docstring); returns the number of
    flows."""
    store = writer.store
    store.refresh()
    hits = helpers.scan(
        writer.client,
        query={"query": {"match_all": {}}, "_source": list(READ)},
        index=writer.names.pattern,
        ignore_unavailable=True,
        allow_no_indices=True,
        size=BATCH,
        scroll="10m",
    )
    con = duckdb.connect(":memory:")
    sql = _update_sql(list(ESTATE_COLUMNS))
    done = 0
    try:
        batch: list[dict[str, Any]] = []
        for hit in hits:
            batch.append(hit)
            if len(batch) == BATCH:
                done += _apply_batch(writer, con, sql, estate, batch)
                if progress:
                    progress(len(batch))
                batch = []
        if batch:
            done += _apply_batch(writer, con, sql, estate, batch)
            if progress:
                progress(len(batch))
    except TransportError as e:
        raise explain(store.target, e, "naming the stored flows") from e
    finally:
        con.close()
    store.refresh()
    return done


def _apply_batch(
    writer: OpenSearchWriter,
    con: duckdb.DuckDBPyConnection,
    sql: str,
    estate: Estate,
    hits: list[dict[str, Any]],
) -> int:
    sources = [h.get("_source", {}) for h in hits]
    table = pa.table(
        {name: pa.array([s.get(name) for s in sources], t) for name, t in _by_name()},
        schema=_READ_SCHEMA,
    )
    found = estate.endpoints(table).columns()
    update = pa.table(
        {
            "_index": pa.array([h["_index"] for h in hits], pa.string()),
            "_id": pa.array([h["_id"] for h in hits], pa.string()),
            **{c: found[c] for c in ESTATE_COLUMNS},
        }
    )
    con.register("batch", update)
    try:
        relation = con.sql(sql)
        assert relation is not None
        lines = relation.to_arrow_table()
    finally:
        con.unregister("batch")
    pairs = list(
        zip(lines.column("action").to_pylist(), lines.column("source").to_pylist(), strict=True)
    )
    refused = [
        (line, reason)
        for line, reason in writer.send(pairs)
        # a flow deleted meanwhile (retention, a load rolled back) needs no name
        if "document_missing_exception" not in reason
    ]
    if refused:
        (action, _), reason = refused[0]
        raise StoreError(
            f"the cluster at {writer.store.url} refused to rename {len(refused)} flows "
            f"({json.loads(action)['update']['_id']}: {reason})",
            hint="flows renamed before this batch keep their new names; run the same command "
            "again to name the rest",
        )
    return len(hits)


def _by_name() -> list[tuple[str, pa.DataType]]:
    return [(f.name, f.type) for f in _READ_SCHEMA]
