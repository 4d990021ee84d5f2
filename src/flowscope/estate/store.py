"""The estate a store keeps: the inventory's history, AWS's ip-ranges.json and the networks
file, each saved as one item (bytes, where it came from, when), the same way in every engine.

Engines provide ``estate_items()`` on the store (read) and ``save_estate(items)`` and
``apply_estate(estate)`` on a writer; this module turns items into an :class:`Estate` and back.
The geo database is not stored: it is chosen per process (``FLOWSCOPE_GEO``), by path.
"""

from __future__ import annotations

import io
import logging
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa
import pyarrow.parquet as pq

from flowscope.errors import UsageError
from flowscope.estate.awsranges import parse_ip_ranges
from flowscope.estate.geo import GeoSource, open_geo
from flowscope.estate.history import HISTORY, empty_history
from flowscope.estate.networks import parse_networks
from flowscope.estate.resolve import Estate

log = logging.getLogger(__name__)

HISTORY_ITEM = "history"
IP_RANGES_ITEM = "ip-ranges"
NETWORKS_ITEM = "networks"


@dataclass(frozen=True)
class EstateItem:
    data: bytes
    source: str
    updated: datetime


class EstateStore(Protocol):
    def estate_items(self) -> dict[str, EstateItem]: ...


def history_bytes(history: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(history.cast(HISTORY), sink, compression="zstd")
    return sink.getvalue()


def history_of(items: dict[str, EstateItem]) -> pa.Table:
    item = items.get(HISTORY_ITEM)
    if item is None:
        return empty_history()
    return pq.read_table(io.BytesIO(item.data)).cast(HISTORY)


_GEO: dict[str, GeoSource | None] = {}


def geo_from_setting(value: str | None = None) -> GeoSource | None:
    """The geo database ``FLOWSCOPE_GEO`` names: ``off``, ``.mmdb`` paths joined by ``:``, or
    empty for the embedded default. Opened once per process."""
    value = os.environ.get("FLOWSCOPE_GEO", "") if value is None else value
    value = value.strip()
    if value not in _GEO:
        if value.lower() == "off":
            _GEO[value] = None
        else:
            paths = [Path(p) for p in value.split(os.pathsep) if p.strip()]
            _GEO[value] = open_geo(paths)
    return _GEO[value]


def estate_from_items(items: dict[str, EstateItem], geo: GeoSource | None) -> Estate:
    """The estate the items describe (a damaged item is a UsageError naming it)."""
    networks = ranges = None
    if NETWORKS_ITEM in items:
        item = items[NETWORKS_ITEM]
        networks = parse_networks(item.data.decode("utf-8"), item.source)
    if IP_RANGES_ITEM in items:
        item = items[IP_RANGES_ITEM]
        ranges = parse_ip_ranges(item.data, item.source)
    try:
        history = history_of(items)
    except (pa.ArrowException, OSError) as e:
        raise UsageError(f"the store's inventory cannot be read ({e})") from e
    return Estate(history, networks, ranges, geo)


_LOADED: dict[tuple[str, tuple[tuple[str, str], ...], int], Estate] = {}
_LOCK = threading.Lock()


def load_estate(store: Any, geo: GeoSource | None | str = "setting") -> Estate:
    """The estate ``store`` keeps, with the geo database of this process (the last one built
    is kept while the store's items stay the same: ``follow`` asks at every poll)."""
    return estate_loader(store, geo, background=False)()


_POOL = ThreadPoolExecutor(1, thread_name_prefix="flowscope-estate")


def estate_loader(
    store: Any, geo: GeoSource | None | str = "setting", *, background: bool = True
) -> Callable[[], Estate]:
    """Read the store's estate items now (before a writer holds the file) and build the
    estate in the background (parsing ip-ranges, the networks file and the geo arrays takes
    a second or two, which an ingest spends reading its first block meanwhile); the returned
    function waits for it."""
    items = store.estate_items() if hasattr(store, "estate_items") else {}
    url = str(getattr(store, "url", ""))

    def build() -> Estate:
        g = geo_from_setting() if geo == "setting" else geo
        assert not isinstance(g, str)
        key = (
            url,
            tuple(sorted((n, f"{i.updated.isoformat()}/{hash(i.data)}") for n, i in items.items())),
            id(g),
        )
        with _LOCK:
            if key not in _LOADED:
                _LOADED.clear()
                _LOADED[key] = estate_from_items(items, g)
            return _LOADED[key]

    if not background:
        return build
    future = _POOL.submit(build)
    return future.result


def describe(items: dict[str, EstateItem]) -> dict[str, Any]:
    """What the store knows, for ``inventory show`` and the API."""
    history = history_of(items)
    open_rows = history.filter(pa.compute.is_null(history.column("valid_to")))
    return {
        name: {"source": item.source, "updated": item.updated.isoformat(), "bytes": len(item.data)}
        for name, item in items.items()
    } | {
        "identities": history.num_rows,
        "current": open_rows.num_rows,
    }


__all__ = [
    "HISTORY_ITEM",
    "IP_RANGES_ITEM",
    "NETWORKS_ITEM",
    "EstateItem",
    "describe",
    "estate_from_items",
    "geo_from_setting",
    "history_bytes",
    "history_of",
    "estate_loader",
    "load_estate",
]
