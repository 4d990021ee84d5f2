"""The versioned inventory: each identity with the time range in which it held its address.

Pure functions over Arrow tables (DuckDB runs the joins in memory; nothing here opens a store):

- :func:`snapshot_table` turns the identities of one refresh into a table (``SNAPSHOT``);
- :func:`update` takes the history so far (``HISTORY``: the identity columns, a ``digest`` of
  them, ``valid_from`` and ``valid_to``, NULL while it still holds) and a snapshot taken at time
  T, and returns the new history: an open identity found again unchanged stays open; one that
  changed (any field: name, tags, owner...) or is gone is closed at T; a new or changed one is
  opened at T. Rows already closed are returned as they were, in the same order, and a
  snapshot older than the history's last change is refused: history is never rewritten.
  Open rows of an (account, region) the snapshot did not read completely (a denied call) are
  left open, not closed: a missing permission is not a deleted resource.
- :func:`as_of` names, for arrays of (address, time), the identity that held each address at
  that time, with one DuckDB hash join on the address (vectorised; no Python per row).

An identity holds ``[valid_from, valid_to)``. With ``backdate=True`` (what a store's refresh
uses), the identities of the first refresh of an (account, region) open with ``valid_from``
NULL, "since before the inventory began": flows
loaded before the first refresh are named by it (the best knowledge there is; flowscope cannot
know who held an address before it first looked). An identity first seen by a later refresh
opens at that refresh. A time before it, or in a gap after an identity was closed and before
the address was seen again, has no identity (NULL).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

import duckdb
import numpy as np
import pyarrow as pa

from flowscope.errors import UsageError
from flowscope.estate.aws import Identity

_TIME = pa.timestamp("us", tz="UTC")
_TAG = pa.struct([("key", pa.string()), ("value", pa.string())])

#: One refresh's identities (see :class:`flowscope.estate.aws.Identity`).
SNAPSHOT = pa.schema(
    [
        ("address", pa.string()),
        ("kind", pa.string()),
        ("resource_id", pa.string()),
        ("name", pa.string()),
        ("vpc_id", pa.string()),
        ("subnet_id", pa.string()),
        ("az", pa.string()),
        ("security_groups", pa.list_(pa.string())),
        ("account", pa.string()),
        ("region", pa.string()),
        ("tags", pa.list_(_TAG)),
        ("interface_id", pa.string()),
    ]
)
#: The history: the identity, a digest of it, and when it held (``valid_to`` NULL: still does).
HISTORY = pa.schema(
    [*SNAPSHOT, ("digest", pa.string()), ("valid_from", _TIME), ("valid_to", _TIME)]
)
_IDENTITY_COLUMNS = ", ".join(SNAPSHOT.names)


def snapshot_table(identities: Iterable[Identity]) -> pa.Table:
    """The identities of one refresh as a ``SNAPSHOT`` table."""
    rows = [
        {
            "address": i.address,
            "kind": i.kind,
            "resource_id": i.resource_id,
            "name": i.name,
            "vpc_id": i.vpc_id,
            "subnet_id": i.subnet_id,
            "az": i.az,
            "security_groups": list(i.security_groups),
            "account": i.account,
            "region": i.region,
            "tags": [{"key": k, "value": v} for k, v in i.tags],
            "interface_id": i.interface_id,
        }
        for i in identities
    ]
    return pa.Table.from_pylist(rows, schema=SNAPSHOT)


def empty_history() -> pa.Table:
    return HISTORY.empty_table()


def update(
    history: pa.Table,
    snapshot: pa.Table,
    at: datetime,
    covered: Sequence[tuple[str, str]] | None = None,
    *,
    backdate: bool = False,
) -> pa.Table:
    """The history after a snapshot taken at ``at`` (see the module docstring).

    ``covered``: the (account, region) pairs the snapshot read completely; open rows elsewhere
    are kept open. ``None``: the snapshot is complete everywhere.
    """
    if at.tzinfo is None:
        raise UsageError(f"snapshot time {at.isoformat()} has no time zone (expected UTC)")
    history = history.select(HISTORY.names).cast(HISTORY)
    snapshot = snapshot.select(SNAPSHOT.names).cast(SNAPSHOT)
    scope = pa.table(
        {
            "account": pa.array([a for a, _ in covered or ()], pa.string()),
            "region": pa.array([r for _, r in covered or ()], pa.string()),
        }
    )
    con = duckdb.connect()
    try:
        con.register("h_in", history.append_column("n", pa.array(range(history.num_rows))))
        con.register("s_in", snapshot)
        con.register("scope", scope)
        latest = con.execute("SELECT greatest(max(valid_from), max(valid_to)) FROM h_in").fetchone()
        if latest and latest[0] is not None and latest[0] > at:
            raise UsageError(
                f"snapshot at {at.isoformat()} is older than the inventory's last change "
                f"({latest[0].isoformat()})",
                hint="history is never rewritten; take a new snapshot",
            )
        con.execute(
            f"""
            CREATE TEMP TABLE s AS
            SELECT DISTINCT {_IDENTITY_COLUMNS}, md5(to_json(struct_pack({_IDENTITY_COLUMNS})))
                AS digest
            FROM s_in
            """
        )
        con.execute("CREATE TEMP TABLE h AS SELECT * FROM h_in")
        everywhere = covered is None
        result = con.sql(
            f"""
            SELECT {_IDENTITY_COLUMNS}, digest, valid_from, valid_to FROM (
                SELECT 0 AS part, n, {_IDENTITY_COLUMNS}, digest, valid_from,
                    CASE
                        WHEN valid_to IS NOT NULL THEN valid_to
                        WHEN digest IN (SELECT digest FROM s) THEN NULL
                        WHEN ? OR (account, region) IN (SELECT (account, region) FROM scope)
                            THEN ?::TIMESTAMPTZ
                        ELSE NULL
                    END AS valid_to
                FROM h
                UNION ALL
                SELECT 1 AS part,
                    row_number() OVER (ORDER BY account, region, kind, address, digest) AS n,
                    {_IDENTITY_COLUMNS}, digest,
                    CASE WHEN NOT ? OR (account, region) IN (SELECT (account, region) FROM h)
                        THEN ?::TIMESTAMPTZ END AS valid_from,
                    NULL::TIMESTAMPTZ AS valid_to
                FROM s
                WHERE digest NOT IN (SELECT digest FROM h WHERE valid_to IS NULL)
            )
            ORDER BY part, n
            """,
            params=[everywhere, at, backdate, at],
        ).to_arrow_table()
        assert result is not None
    finally:
        con.close()
    return result.cast(HISTORY)


#: What :func:`as_of` returns per (address, time): the identity, and since when it held.
AS_OF = pa.schema([*SNAPSHOT, ("valid_from", _TIME), ("valid_to", _TIME)])


def as_of(
    history: pa.Table,
    addresses: pa.Array | pa.ChunkedArray,
    times: pa.Array | pa.ChunkedArray,
    columns: Sequence[str] | None = None,
) -> pa.Table:
    """For each (address, time), the identity that held the address then (NULLs if none).

    One row per input row, in input order, with ``columns`` of ``AS_OF`` (all by default;
    asking for fewer saves gathering the lists of tags and groups). When two identities held
    one address at once (the same private address in two VPCs or accounts, or an account
    whose refresh was partial), the one opened last wins.
    """
    picked = as_of_rows(history, addresses, times)
    history = history.select(HISTORY.names).cast(HISTORY)
    return history.select(list(columns) if columns else AS_OF.names).take(picked)


def as_of_rows(
    history: pa.Table, addresses: pa.Array | pa.ChunkedArray, times: pa.Array | pa.ChunkedArray
) -> pa.Int64Array:
    """:func:`as_of` as row numbers of ``history`` (NULL: no identity), for callers that
    gather only what they need (or dictionary-encode: ``DictionaryArray.from_arrays``)."""
    if len(addresses) != len(times):
        raise ValueError("addresses and times differ in length")
    if not pa.types.is_timestamp(times.type):
        # an int64 would be taken for microseconds; flows' `start` is seconds: pass start_time
        raise TypeError(f"times must be Arrow timestamps (start_time), not {times.type}")
    history = history.select(HISTORY.names).cast(HISTORY)
    m = len(addresses)
    query = pa.table(
        {
            "n": np.arange(m, dtype=np.int64),
            "address": pa.array(addresses).cast(pa.string()),
            "t": pa.array(times).cast(_TIME),
        }
    )
    spans = pa.table(
        {
            "hn": np.arange(history.num_rows, dtype=np.int64),
            "address": history.column("address"),
            "valid_from": history.column("valid_from"),
            "valid_to": history.column("valid_to"),
        }
    )
    # A hash join on the address, the time range as its filter; it carries row numbers
    # only, and the identities are gathered afterwards with one `take`.
    con = duckdb.connect()
    try:
        con.register("h", spans)
        con.register("q", query)
        hit = con.sql(
            """
            SELECT q.n, h.hn, coalesce(epoch_us(h.valid_from), -9223372036854775807) AS since
            FROM q JOIN h ON q.address = h.address
                AND (h.valid_from IS NULL OR q.t >= h.valid_from)
                AND (h.valid_to IS NULL OR q.t < h.valid_to)
            """
        ).to_arrow_table()
        assert hit is not None
    finally:
        con.close()
    n = hit.column("n").to_numpy()
    hn = hit.column("hn").to_numpy()
    order = np.lexsort((hn, hit.column("since").to_numpy()))  # the last opened wins, below
    index = np.full(m, -1, dtype=np.int64)
    index[n[order]] = hn[order]  # numpy keeps the last of repeated indices
    return pa.array(index, mask=index < 0)
