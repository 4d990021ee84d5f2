"""What the estate commands do, for any engine: refresh or import the inventory, load a
networks file or AWS's ip-ranges.json, re-name the flows already stored, and answer "who".

Every operation checks its whole input first (a snapshot, a file), then saves it through the
store's writer (``save_estate``: one transaction) and, unless told not to, names the flows
already stored again (``apply_estate``). Nothing engine-specific is called: the store gives
``estate_items()`` and ``write()``, the writer ``save_estate(items)`` and
``apply_estate(estate, progress)``. A bad input raises before anything is saved.

Exceptions: :class:`~flowscope.errors.UsageError` for a bad file, address or time (exit 2);
:class:`~flowscope.errors.SourceError` from AWS or a download; store errors from the engine.
"""

from __future__ import annotations

import ipaddress
import json
import tempfile
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, cast

import pyarrow.compute as pc

from flowscope.errors import UsageError
from flowscope.estate.aws import PAGE_SIZE, Identity, Snapshot, read_estate
from flowscope.estate.awsranges import AWS_IP_RANGES_URL, fetch_ip_ranges, parse_ip_ranges
from flowscope.estate.history import snapshot_table, update
from flowscope.estate.networks import load_networks
from flowscope.estate.resolve import Estate
from flowscope.estate.store import (
    HISTORY_ITEM,
    IP_RANGES_ITEM,
    NETWORKS_ITEM,
    EstateItem,
    describe,
    history_bytes,
    history_of,
    load_estate,
)

#: Most addresses one ``identify`` call names (the API's limit).
MAX_IDENTIFY = 1000

Progress = Callable[[int], None]


class EstateWriter(Protocol):
    def save_estate(self, items: dict[str, EstateItem]) -> None: ...
    def apply_estate(self, estate: Estate, progress: Progress | None = None) -> int: ...


class EstateStore(Protocol):
    @property
    def url(self) -> str: ...
    def estate_items(self) -> dict[str, EstateItem]: ...
    def write(self) -> AbstractContextManager[Any]: ...


def estate_store(store: object) -> EstateStore:
    """``store`` if its engine keeps an estate, else a UsageError saying so."""
    if not (hasattr(store, "estate_items") and hasattr(store, "write")):
        kind = getattr(store, "kind", type(store).__name__)
        raise UsageError(
            f"the {kind} store does not keep an inventory yet",
            hint="use the embedded DuckDB store (--store PATH)",
        )
    return cast(EstateStore, store)


# --- Saving and applying -------------------------------------------------------------------


def save(
    store: object,
    items: dict[str, EstateItem],
    apply: bool = True,
    progress: Progress | None = None,
) -> int | None:
    """Keep ``items``, then (``apply``) name the stored flows with the estate they make.
    Returns the number of flows named, or None when not applied."""
    st = estate_store(store)
    with st.write() as writer:
        cast(EstateWriter, writer).save_estate(items)
    return apply_estate(st, progress) if apply else None


def apply_estate(store: object, progress: Progress | None = None) -> int:
    """Name every stored flow again with the estate the store keeps (and this process's geo)."""
    st = estate_store(store)
    estate = load_estate(st)
    with st.write() as writer:
        return cast(EstateWriter, writer).apply_estate(estate, progress)


# --- The inventory -------------------------------------------------------------------------


@dataclass
class InventoryChange:
    """What one refresh or import changed in the inventory's history."""

    source: str
    taken_at: datetime
    opened: int = 0
    closed: int = 0
    unchanged: int = 0
    warnings: list[str] = field(default_factory=list)
    #: flows named again (None: not applied, or nothing changed)
    named: int | None = None

    @property
    def changed(self) -> bool:
        return bool(self.opened or self.closed)

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "taken_at": _iso(self.taken_at),
            "opened": self.opened,
            "closed": self.closed,
            "unchanged": self.unchanged,
            "warnings": list(self.warnings),
            "named": self.named,
        }


def record_snapshot(
    store: object,
    snapshot: Snapshot,
    source: str,
    *,
    covered: Sequence[tuple[str, str]] | None,
    apply: bool = True,
    progress: Progress | None = None,
) -> InventoryChange:
    """Add ``snapshot`` to the store's inventory history (never rewriting it), save it, and
    name the stored flows again when anything changed (and ``apply``)."""
    st = estate_store(store)
    old = history_of(st.estate_items())
    new = update(
        old, snapshot_table(snapshot.identities), snapshot.taken_at, covered, backdate=True
    )
    was_open = pc.is_null(old.column("valid_to"))
    still_open = pc.is_null(new.column("valid_to").slice(0, old.num_rows))
    closed = pc.sum(pc.and_(was_open, pc.invert(still_open))).as_py() or 0
    unchanged = pc.sum(pc.and_(was_open, still_open)).as_py() or 0
    change = InventoryChange(
        source=source,
        taken_at=snapshot.taken_at,
        opened=new.num_rows - old.num_rows,
        closed=int(closed),
        unchanged=int(unchanged),
        warnings=list(snapshot.warnings),
    )
    item = EstateItem(history_bytes(new), source, snapshot.taken_at)
    change.named = save(st, {HISTORY_ITEM: item}, apply and change.changed, progress)
    return change


def refresh_inventory(
    store: object,
    regions: Sequence[str] = (),
    *,
    profile: str | None = None,
    role_arn: str | None = None,
    external_id: str | None = None,
    apply: bool = True,
    progress: Progress | None = None,
    page_size: int = PAGE_SIZE,
) -> InventoryChange:
    """Read the estate from AWS (:func:`~flowscope.estate.aws.read_estate`) and record it.
    A denied permission is a warning in the result; that account and region stay as they were."""
    estate_store(store)  # before reading AWS: an engine without an inventory says so first
    if external_id and not role_arn:
        raise UsageError("--external-id goes with --role-arn")
    snapshot = read_estate(
        list(regions),
        profile=profile,
        role_arn=role_arn,
        external_id=external_id,
        page_size=page_size,
    )
    accounts = sorted({a for a, _ in snapshot.covered} | {i.account for i in snapshot.identities})
    names = sorted({r for _, r in snapshot.covered} | {i.region for i in snapshot.identities})
    source = f"aws account {','.join(a for a in accounts if a) or '?'} {','.join(names)}"
    return record_snapshot(
        store, snapshot, source, covered=snapshot.covered, apply=apply, progress=progress
    )


_IDENTITY_KEYS = {
    "address",
    "kind",
    "resource_id",
    "name",
    "vpc_id",
    "subnet_id",
    "az",
    "security_groups",
    "account",
    "region",
    "tags",
    "interface_id",
}
_REQUIRED = ("address", "kind", "name")


def read_identities(path: str | Path) -> tuple[list[Identity], datetime | None]:
    """The identities of an inventory file, and when they were seen if it says. The file is a
    JSON list of objects with the fields of :class:`~flowscope.estate.aws.Identity`
    (``address``, ``kind``, ``name`` required; ``tags`` an object, a list of ``{"Key",
    "Value"}`` or of ``[key, value]``), or ``{"taken_at": ISO, "identities": [...]}`` (what
    ``flowscope demo`` writes). The whole file is checked."""
    path = Path(path)
    try:
        doc = json.loads(path.read_bytes())
    except OSError as e:
        raise UsageError(f"inventory file {path}: cannot be read ({e.strerror or e})") from e
    except (ValueError, UnicodeDecodeError) as e:
        raise UsageError(
            f"inventory file {path}: not JSON ({e})",
            hint="expected a JSON list of identities; nothing was saved",
        ) from e
    taken: datetime | None = None
    if isinstance(doc, dict) and isinstance(doc.get("identities"), list):
        stamp = doc.get("taken_at")
        if stamp is not None:
            try:
                taken = datetime.fromisoformat(str(stamp))
            except ValueError:
                taken = None
            if taken is None or taken.tzinfo is None:
                raise UsageError(
                    f"inventory file {path}: taken_at {str(stamp)[:40]!r} is not an ISO time "
                    "with a zone",
                    hint="nothing was saved",
                )
        doc = doc["identities"]
    if not isinstance(doc, list):
        raise UsageError(
            f"inventory file {path}: expected a JSON list of identities, got {type(doc).__name__}",
            hint="nothing was saved",
        )
    return [_identity(path, n, item) for n, item in enumerate(doc)], taken


def _identity(path: Path, n: int, item: Any) -> Identity:
    def bad(message: str) -> UsageError:
        return UsageError(f"inventory file {path}: item {n}: {message}", hint="nothing was saved")

    if not isinstance(item, dict):
        raise bad(f"expected an object, got {type(item).__name__}")
    unknown = sorted(set(item) - _IDENTITY_KEYS)
    if unknown:
        raise bad(f"unknown field {unknown[0]!r} (fields: {', '.join(sorted(_IDENTITY_KEYS))})")
    for key in _REQUIRED:
        if not isinstance(item.get(key), str) or not item[key].strip():
            raise bad(f"{key} missing or not a string")
    for key in _IDENTITY_KEYS - {"security_groups", "tags"}:
        value = item.get(key)
        if value is not None and not isinstance(value, str):
            raise bad(f"{key} is not a string")
    groups = item.get("security_groups") or []
    if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
        raise bad("security_groups is not a list of strings")
    tags = _tags(item.get("tags"))
    if tags is None:
        raise bad('tags: expected an object of strings or a list of {"Key", "Value"}')
    return Identity(
        address=_canonical(item["address"].strip()),
        kind=item["kind"].strip(),
        resource_id=item.get("resource_id") or item["address"].strip(),
        name=item["name"].strip(),
        vpc_id=item.get("vpc_id"),
        subnet_id=item.get("subnet_id"),
        az=item.get("az"),
        security_groups=tuple(sorted(groups)),
        account=item.get("account") or "",
        region=item.get("region") or "",
        tags=tags,
        interface_id=item.get("interface_id"),
    )


def _canonical(address: str) -> str:
    """One spelling per address or network, as :func:`read_estate` gives them; ids as they are."""
    try:
        return address_key(address) if not address.startswith("eni-") else address
    except UsageError:
        pass
    try:
        return ipaddress.ip_network(address, strict=False).compressed
    except ValueError:
        return address


def _tags(raw: Any) -> tuple[tuple[str, str], ...] | None:
    if raw is None:
        return ()
    if isinstance(raw, dict):
        pairs = list(raw.items())
    elif isinstance(raw, list) and all(isinstance(t, dict) and "Key" in t for t in raw):
        pairs = [(t["Key"], t.get("Value", "")) for t in raw]
    elif isinstance(raw, list) and all(isinstance(t, list) and len(t) == 2 for t in raw):
        pairs = [(t[0], t[1]) for t in raw]
    else:
        return None
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in pairs):
        return None
    return tuple(sorted(pairs))


def import_inventory(
    store: object,
    path: str | Path,
    at: datetime | None = None,
    *,
    apply: bool = True,
    progress: Progress | None = None,
) -> InventoryChange:
    """Record the identities of an inventory file as a snapshot taken ``at`` (default: the
    file's ``taken_at``, else now).
    The file stands for the (account, region) pairs it names: their identities it lacks are
    closed; other accounts' are left as they were."""
    st = estate_store(store)
    identities, stamped = read_identities(path)
    taken = at or stamped or datetime.now(UTC)
    covered = sorted({(i.account, i.region) for i in identities})
    snapshot = Snapshot(taken_at=taken, identities=identities, covered=covered)
    return record_snapshot(
        st, snapshot, f"file {Path(path)}", covered=covered, apply=apply, progress=progress
    )


# --- Networks and AWS ranges -----------------------------------------------------------------


def set_networks(
    store: object, path: str | Path, *, apply: bool = True, progress: Progress | None = None
) -> tuple[int, int | None]:
    """Check a networks file and keep it (replacing the one before). Returns (networks,
    flows named or None)."""
    st = estate_store(store)
    path = Path(path).absolute()
    networks = load_networks(path)  # the whole file is checked before anything is saved
    data = path.read_text(encoding="utf-8-sig").encode()
    item = EstateItem(data, str(path), datetime.now(UTC))
    return len(networks.entries), save(st, {NETWORKS_ITEM: item}, apply, progress)


#: What a cleared networks item holds: an empty YAML document, read as no networks.
CLEARED = "(cleared).yaml"


def clear_networks(
    store: object, *, apply: bool = True, progress: Progress | None = None
) -> int | None:
    """Forget the networks file: an empty one takes its place (the writer has no delete)."""
    st = estate_store(store)
    if NETWORKS_ITEM not in st.estate_items():
        return None
    item = EstateItem(b"", CLEARED, datetime.now(UTC))
    return save(st, {NETWORKS_ITEM: item}, apply, progress)


@dataclass
class RangesLoaded:
    source: str
    prefixes: int
    created: datetime | None
    sync_token: str
    named: int | None


def set_ip_ranges(
    store: object,
    path: str | Path | None = None,
    *,
    url: str = AWS_IP_RANGES_URL,
    apply: bool = True,
    progress: Progress | None = None,
) -> RangesLoaded:
    """Keep AWS's ip-ranges.json, read from ``path`` or downloaded from ``url`` (checked
    before it is kept)."""
    st = estate_store(store)
    if path is not None:
        source = str(Path(path).absolute())
        try:
            data = Path(path).read_bytes()
        except OSError as e:
            raise UsageError(f"AWS ip-ranges {path}: cannot be read ({e.strerror or e})") from e
    else:
        source = url
        with tempfile.TemporaryDirectory(prefix="flowscope-ranges-") as tmp:
            dest = Path(tmp) / "ip-ranges.json"
            fetch_ip_ranges(dest, url)
            data = dest.read_bytes()
    ranges = parse_ip_ranges(data, source)
    item = EstateItem(data, source, datetime.now(UTC))
    named = save(st, {IP_RANGES_ITEM: item}, apply, progress)
    return RangesLoaded(source, len(ranges.ranges), ranges.created, ranges.sync_token, named)


# --- Questions -----------------------------------------------------------------------------


def show(store: object) -> dict[str, Any]:
    """What the store knows: each item (source, when, size), identities in the history and
    open now, and the open identities per kind."""
    st = estate_store(store)
    items = st.estate_items()
    out = describe(items)
    history = history_of(items)
    current = history.filter(pc.is_null(history.column("valid_to")))
    kinds = current.group_by("kind").aggregate([("kind", "count")]).to_pylist()
    out["kinds"] = {r["kind"]: r["kind_count"] for r in sorted(kinds, key=lambda r: r["kind"])}
    if NETWORKS_ITEM in items and items[NETWORKS_ITEM].source == CLEARED:
        del out[NETWORKS_ITEM]
    if IP_RANGES_ITEM in out:
        ranges = parse_ip_ranges(items[IP_RANGES_ITEM].data, items[IP_RANGES_ITEM].source)
        out[IP_RANGES_ITEM]["created"] = _iso(ranges.created)
        out[IP_RANGES_ITEM]["sync_token"] = ranges.sync_token
        out[IP_RANGES_ITEM]["prefixes"] = len(ranges.ranges)
    for name in (HISTORY_ITEM, NETWORKS_ITEM, IP_RANGES_ITEM):
        if name in out:
            out[name]["updated"] = _iso(items[name].updated)
    return out


def address_key(text: str) -> str:
    """An address as the inventory spells it (IPv6 compressed, IPv4-mapped as IPv4), or an
    interface id; a UsageError for anything else."""
    value = text.strip()
    if value.startswith("eni-"):
        return value
    try:
        ip = ipaddress.ip_address(value)
    except ValueError:
        raise UsageError(f"{text[:60]!r} is not an IP address or an interface id (eni-…)") from None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return ip.compressed


def identify(store: object, addresses: Sequence[str], at: datetime | None = None) -> dict[str, Any]:
    """Per address (each key as asked), its identity at ``at`` (None: the latest)."""
    if len(addresses) > MAX_IDENTIFY:
        raise UsageError(f"{len(addresses)} addresses: at most {MAX_IDENTIFY} at a time")
    keys = {a: address_key(a) for a in addresses}
    estate = load_estate(estate_store(store))
    ips = [k for k in dict.fromkeys(keys.values()) if not k.startswith("eni-")]
    found = estate.identify(ips, at)
    for k in dict.fromkeys(keys.values()):
        if k.startswith("eni-"):
            found[k] = _interface(estate, k, at)
    return {a: found[k] for a, k in keys.items()}


def who(store: object, address: str, at: datetime | None = None) -> dict[str, Any]:
    """What held ``address`` at ``at`` (None: now), since when, and every identity it had."""
    key = address_key(address)
    st = estate_store(store)
    ident = identify(st, [key], at)[key]
    estate = load_estate(st)
    return {
        "address": key,
        "at": _iso(at),
        "identity": ident,
        "history": estate.history_of(key),
    }


def _interface(estate: Estate, eni: str, at: datetime | None) -> dict[str, Any] | None:
    """The identity an interface id had at ``at`` (the last opened, as for addresses)."""

    def holds(h: dict[str, Any]) -> bool:
        if at is None:
            return h["until"] is None
        since = datetime.fromisoformat(h["since"]) if h["since"] else None
        until = datetime.fromisoformat(h["until"]) if h["until"] else None
        return (since is None or since <= at) and (until is None or at < until)

    held = [h for h in estate.history_of(eni) if holds(h)]
    if not held:
        return None
    one = dict(held[-1])
    for key in ("service", "country", "asn", "as_org", "network"):
        one.setdefault(key, None)
    one["network_attributes"] = {}
    return one


def _iso(t: datetime | None) -> str | None:
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z") if t else None


__all__ = [
    "MAX_IDENTIFY",
    "InventoryChange",
    "RangesLoaded",
    "apply_estate",
    "clear_networks",
    "estate_store",
    "identify",
    "import_inventory",
    "read_identities",
    "record_snapshot",
    "refresh_inventory",
    "set_ip_ranges",
    "set_networks",
    "show",
    "who",
]
