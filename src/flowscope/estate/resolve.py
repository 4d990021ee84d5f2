"""Who each end of a flow is: the estate's knowledge, resolved once per distinct endpoint.

An **endpoint** is an address in one *slot* of its history. The slot of a flow's address is the
number of the address's history boundaries (the times an identity of it opened or closed) at or
before the flow's start; every flow in one slot has the same identity. History only grows at its
end (a refresh never rewrites it), so a slot, once given, keeps its meaning: everything else
known about an endpoint (its identity, network, AWS service, country, AS) is a function of
(address, slot) and can be computed again whenever the estate changes, without touching a flow.
Only ``scope`` depends on the flow as well (on its VPC), so it is computed per row.

:meth:`Estate.endpoints` does this for a parsed batch, vectorised: the addresses of both sides
are dictionary-encoded, slots found with one ``searchsorted``, and the attributes resolved for
the distinct (address, slot) pairs only (:meth:`Estate.resolve`). Engines then store what suits
them: the embedded store an endpoint id per side and a table of endpoints (joined at query
time); OpenSearch the attribute values in each document.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from flowscope.estate.awsranges import AwsRanges
from flowscope.estate.batch import BatchEndpoints
from flowscope.estate.geo import GeoSource
from flowscope.estate.history import HISTORY, as_of_rows, empty_history
from flowscope.estate.networks import Networks
from flowscope.estate.prefixes import PrefixTable
from flowscope.estate.special import SpecialAddresses
from flowscope.schema import ENDPOINT_ATTRIBUTES

#: What is known about one endpoint (see flowscope.schema.ENDPOINT_ATTRIBUTES).
ATTRIBUTES = pa.schema([(a.name, a.arrow_type) for a in ENDPOINT_ATTRIBUTES])
#: Per side ``scope`` (same-vpc, other-vpc, aws-service, internet, special, private) depends on
#: the flow's VPC too: a derived column (flowscope.schema.ESTATE_DERIVED).
SCOPES = ("same-vpc", "other-vpc", "aws-service", "internet", "special", "private")

#: Kinds the special-address table gives that are not "special" in scope terms.
_PRIVATE_KINDS = frozenset({"private", "shared"})
#: Kinds of history rows that name a range or a group, not an address.
_RANGE_KINDS = frozenset({"subnet", "vpc", "security-group"})
_SLOT_BITS = 38  # seconds up to year 10680
_STRING = pa.string()
#: Resolved pairs an estate remembers across batches (then it starts again).
_CACHE_MAX = 500_000


@dataclass
class Estate:
    """What flowscope knows about addresses: the inventory's history, the user's networks, AWS's
    ranges and a geo database. Any part may be missing; :meth:`empty` knows nothing."""

    history: pa.Table = field(default_factory=empty_history)
    networks: Networks | None = None
    ranges: AwsRanges | None = None
    geo: GeoSource | None = None

    def __post_init__(self) -> None:
        history = self.history
        if history.schema != HISTORY:
            history = history.select(HISTORY.names).cast(HISTORY)
        self.history = history
        kinds = history.column("kind")
        addresses = history.column("address")
        enis = pc.starts_with(addresses, "eni-")
        ranges = pc.is_in(kinds, pa.array(sorted(_RANGE_KINDS)))
        self._ips = history.filter(pc.invert(pc.or_(ranges, enis)))
        self._enis = history.filter(enis)
        nets = history.filter(
            pc.and_(
                pc.is_null(history.column("valid_to")), pc.is_in(kinds, pa.array(["subnet", "vpc"]))
            )
        ).select(["address", "kind", "resource_id", "vpc_id", "az"])
        self._cidr_rows = [r for r in nets.to_pylist() if _is_network(r["address"])]
        self._cidrs = PrefixTable([ipaddress.ip_network(r["address"]) for r in self._cidr_rows])
        vpc_cidrs = [
            r["address"]
            for r in self._cidr_rows
            if r["kind"] == "vpc" and ipaddress.ip_network(r["address"]).version == 4
        ]
        self.special = SpecialAddresses([c for c in vpc_cidrs if _fits_resolver(c)])
        self._build_boundaries()
        self._cache: dict[tuple[str, int], int] = {}
        self._bound_index: dict[str, int] | None = None
        self._eni_vpc: dict[str, str | None] | None = None
        self._cache_tables: list[pa.Table] = []
        self._cache_rows = 0

    @property
    def empty(self) -> bool:
        return (
            self.history.num_rows == 0
            and self.networks is None
            and self.ranges is None
            and self.geo is None
        )

    # -- slots ------------------------------------------------------------------------------

    def _build_boundaries(self) -> None:
        """Per address of the history, its sorted distinct boundary times (seconds, rounded
        up), as one sorted array of ``(address number << _SLOT_BITS) + time`` keys and each
        address's offset in it; then, once for every (address, slot), the history row that
        holds it (``_pair_rows``, -1: none), so a batch finds identities with array lookups."""
        ips = self._ips
        names = (
            pc.unique(ips.column("address")).sort() if ips.num_rows else pa.array([], pa.string())
        )
        self._bound_names = names.combine_chunks() if isinstance(names, pa.ChunkedArray) else names
        self._bound_names = self._bound_names.cast(pa.string())
        count = len(self._bound_names)
        number = pc.index_in(ips.column("address"), value_set=self._bound_names).to_numpy()
        keys = []
        for column in ("valid_from", "valid_to"):
            t = ips.column(column)
            ok = pc.is_valid(t).to_numpy(zero_copy_only=False)
            micros = t.cast(pa.int64()).fill_null(0).to_numpy(zero_copy_only=False)
            keys.append((number[ok].astype(np.int64) << _SLOT_BITS) + -(-micros[ok] // 1_000_000))
        self._bound_keys = np.unique(np.concatenate(keys)) if keys else np.zeros(0, np.int64)
        self._bound_offsets = np.searchsorted(
            self._bound_keys, np.arange(count + 1, dtype=np.int64) << _SLOT_BITS
        )
        # every (address, slot): address a has boundaries[offsets[a]:offsets[a+1]] and
        # slots 0..that many; pair index = offsets[a] + a + slot
        per = np.diff(self._bound_offsets) + 1
        owner = np.repeat(np.arange(count, dtype=np.int64), per)
        slot = np.arange(len(owner), dtype=np.int64) - np.repeat(
            self._bound_offsets[:-1] + np.arange(count), per
        )
        seconds = np.zeros(len(owner), dtype=np.int64)
        later = slot > 0
        seconds[later] = self._bound_keys[self._bound_offsets[owner[later]] + slot[later] - 1] - (
            owner[later] << _SLOT_BITS
        )
        rows = as_of_rows(
            ips,
            self._bound_names.take(pa.array(owner)),
            pa.array(seconds, pa.timestamp("s", tz="UTC")),
        )
        self._pair_rows = rows.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)

    def _positions(self, addresses: pa.Array) -> npt.NDArray[np.int64]:
        """Each address's number in ``_bound_names`` (-1: not in the history). A dict built
        once: Arrow's index_in would hash the whole history again at every call."""
        if self._bound_index is None:
            self._bound_index = {a: i for i, a in enumerate(self._bound_names.to_pylist())}
        get = self._bound_index.get
        return np.fromiter(
            (get(a, -1) for a in addresses.to_pylist()), dtype=np.int64, count=len(addresses)
        )

    def _identity_rows(self, addresses: pa.Array, slots: npt.NDArray[np.int32]) -> pa.Array:
        """The history row (of ``_ips``) holding each (address, slot); NULL: none."""
        p = self._positions(addresses)
        out = np.full(len(p), -1, dtype=np.int64)
        has = p >= 0
        if has.any():
            index = self._bound_offsets[p[has]] + p[has] + slots[has]
            out[has] = self._pair_rows[np.minimum(index, len(self._pair_rows) - 1)]
        return pa.array(out, mask=out < 0)

    def slots(self, addresses: pa.Array, seconds: npt.NDArray[np.int64]) -> npt.NDArray[np.int32]:
        """The slot of each (address, start second)."""
        encoded = pc.dictionary_encode(addresses)
        codes = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
        return self._slots(encoded.dictionary, codes, seconds)

    def _slots(
        self, dictionary: pa.Array, codes: npt.NDArray[np.int64], seconds: npt.NDArray[np.int64]
    ) -> npt.NDArray[np.int32]:
        """Slots of rows given as codes into ``dictionary`` (-1: no address): the history is
        looked up once per distinct address."""
        out = np.zeros(len(codes), dtype=np.int32)
        if not len(self._bound_keys) or not len(codes):
            return out  # no identity has opened or closed at a known time: every slot is 0
        position = np.append(self._positions(dictionary), -1)
        p = position[codes]  # (code -1 picks the appended -1)
        has = p >= 0
        if not has.any():
            return out
        p = p[has].astype(np.int64)
        t = np.clip(seconds[has], 0, (1 << _SLOT_BITS) - 1)
        found = np.searchsorted(self._bound_keys, (p << _SLOT_BITS) + t, side="right")
        out[has] = (found - self._bound_offsets[p]).astype(np.int32)
        return out

    # -- resolution -------------------------------------------------------------------------

    def resolve(self, addresses: pa.Array, slots: npt.NDArray[np.int32]) -> pa.Table:
        """The ``ATTRIBUTES`` of each (address, slot)."""
        n = len(addresses)
        if n == 0:
            return ATTRIBUTES.empty_table()
        rows = self._identity_rows(addresses, slots)
        ident = self._ips.select(
            ["kind", "resource_id", "name", "vpc_id", "subnet_id", "az", "security_groups"]
        ).take(rows)
        special = self.special.lookup(addresses)
        cidr = self._cidr_columns(addresses)
        nets = self.networks.lookup(addresses) if self.networks else None
        svc = self.ranges.lookup(addresses) if self.ranges else None
        geo = self.geo.lookup(addresses) if self.geo else None

        def col(table: pa.Table | None, name: str, kind: pa.DataType = _STRING) -> pa.Array:
            if table is None:
                return pa.nulls(n, kind)
            return table.column(name).combine_chunks()

        network = col(nets, "network")
        service = col(svc, "service")
        region = col(svc, "region")
        service_name = pc.if_else(
            pc.is_valid(region),
            pc.binary_join_element_wise(service, pc.binary_join_element_wise("(", region, ""), " "),
            service,
        )
        service_name = pc.if_else(
            pc.is_valid(region),
            pc.binary_join_element_wise(service_name, ")", ""),
            service_name,
        )
        special_kind = col(special, "kind")
        is_private = pc.fill_null(pc.is_in(special_kind, pa.array(sorted(_PRIVATE_KINDS))), False)
        special_name = pc.if_else(is_private, pa.nulls(n, pa.string()), col(special, "name"))
        name = pc.coalesce(col(ident, "name"), special_name, network, service_name)
        kind = pc.coalesce(
            col(ident, "kind"),
            special_kind,
            pc.if_else(
                pc.is_valid(service), pa.scalar("aws-service"), pa.scalar(None, pa.string())
            ),
            pc.if_else(pc.is_valid(network), pa.scalar("network"), pa.scalar(None, pa.string())),
            pa.scalar("internet"),
        )
        asn = col(geo, "asn", pa.int64())
        return pa.table(
            [
                name,
                kind,
                col(ident, "resource_id"),
                pc.coalesce(col(ident, "vpc_id"), cidr["vpc_id"]),
                pc.coalesce(col(ident, "subnet_id"), cidr["subnet_id"]),
                pc.coalesce(col(ident, "az"), cidr["az"]),
                col(ident, "security_groups", pa.list_(pa.string())),
                service,
                col(geo, "country"),
                asn.cast(pa.int64()),
                col(geo, "as_org"),
                network,
            ],
            schema=ATTRIBUTES,
        )

    def _cidr_columns(self, addresses: pa.Array) -> dict[str, pa.Array]:
        """VPC, subnet and AZ of addresses inside a known subnet or VPC (the most specific)."""
        n = len(addresses)
        if not self._cidr_rows:
            return {k: pa.nulls(n, pa.string()) for k in ("vpc_id", "subnet_id", "az")}
        index = self._cidrs.lookup(addresses)
        rows = self._cidr_rows
        vpc = pa.array([r["vpc_id"] or r["resource_id"] for r in rows], pa.string())
        subnet = pa.array(
            [r["resource_id"] if r["kind"] == "subnet" else None for r in rows], pa.string()
        )
        az = pa.array([r["az"] for r in rows], pa.string())
        return {"vpc_id": vpc.take(index), "subnet_id": subnet.take(index), "az": az.take(index)}

    def endpoints(self, table: pa.Table) -> BatchEndpoints:
        """The endpoints of a parsed batch (see the module docstring)."""
        n = table.num_rows
        src = _column(table, "srcaddr", n)
        dst = _column(table, "dstaddr", n)
        both = pa.concat_arrays([src, dst])
        encoded = pc.dictionary_encode(both)
        assert isinstance(encoded, pa.DictionaryArray)
        dictionary = encoded.dictionary
        valid = encoded.indices.is_valid().to_numpy(zero_copy_only=False)
        codes = encoded.indices.fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
        seconds = _seconds(table, n)
        slots = self._slots(
            dictionary, np.where(valid, codes, -1), np.concatenate([seconds, seconds])
        )
        if slots.any():
            key = codes * (1 << 24) + np.minimum(slots, (1 << 24) - 1)
            # distinct pairs by hashing (Arrow), not sorting: a batch has few distinct pairs
            pairs = pc.dictionary_encode(pa.array(np.where(valid, key, -1)))
            unique = pairs.dictionary.to_numpy()
            inverse = pairs.indices.to_numpy()
        else:  # no address of the batch has moved: a pair is an address
            unique = np.arange(len(dictionary), dtype=np.int64) << 24
            inverse = np.where(valid, codes, len(dictionary))
            unique = np.append(unique, -1)
        real_mask = unique >= 0
        renumber = np.cumsum(real_mask) - 1
        renumber[~real_mask] = -1
        real = unique[real_mask]
        pair_codes = (real >> 24).astype(np.int64)
        pair_slots = (real & ((1 << 24) - 1)).astype(np.int32)
        pair_addresses = dictionary.take(pa.array(pair_codes))
        attributes = self._cached_resolve(pair_addresses, pair_slots)
        index = renumber[inverse].astype(np.int32)
        mask = index < 0
        src_index = pa.array(index[:n], mask=mask[:n])
        dst_index = pa.array(index[n:], mask=mask[n:])
        scope = self._scopes(table, n, attributes, src_index, dst_index)
        return BatchEndpoints(
            pair_addresses, pa.array(pair_slots), attributes, src_index, dst_index, scope
        )

    def _cached_resolve(self, addresses: pa.Array, slots: npt.NDArray[np.int32]) -> pa.Table:
        """:meth:`resolve`, remembering pairs across batches (an ingest meets the same
        addresses file after file); a pair is resolved once per estate, up to a bound."""
        keys = list(zip(addresses.to_pylist(), slots.tolist(), strict=True))
        cache = self._cache
        missing = [i for i, k in enumerate(keys) if k not in cache]
        if missing:
            if len(cache) + len(missing) > _CACHE_MAX:
                cache.clear()
                self._cache_tables.clear()
                self._cache_rows = 0
                missing = list(range(len(keys)))
            take = pa.array(missing, pa.int64())
            fresh = self.resolve(addresses.take(take), slots[missing])
            for j, i in enumerate(missing):
                cache[keys[i]] = self._cache_rows + j
            self._cache_rows += len(missing)
            self._cache_tables.append(fresh)
            if len(self._cache_tables) > 1:
                merged = pa.concat_tables(self._cache_tables).combine_chunks()
                self._cache_tables[:] = [merged]
        rows = pa.array([cache[k] for k in keys], pa.int64())
        return self._cache_tables[0].take(rows) if keys else ATTRIBUTES.empty_table()

    def _flow_vpc(self, table: pa.Table, n: int) -> pa.Array:
        """Each flow's VPC: the record's ``vpc_id``, else that of its interface in the inventory."""
        vpc = _column(table, "vpc_id", n)
        missing = pc.is_null(vpc)
        if not self._enis.num_rows or not pc.any(missing).as_py():
            return vpc
        # An interface never changes VPC: its VPC is found once per distinct interface id.
        eni = pc.dictionary_encode(_column(table, "interface_id", n))
        if self._eni_vpc is None:
            self._eni_vpc = dict(
                zip(
                    self._enis.column("address").to_pylist(),
                    self._enis.column("vpc_id").to_pylist(),
                    strict=True,
                )
            )
        get = self._eni_vpc.get
        per_value = pa.array([get(e) for e in eni.dictionary.to_pylist()], pa.string())
        return pc.coalesce(vpc, per_value.take(eni.indices))

    def _scopes(
        self,
        table: pa.Table,
        n: int,
        attributes: pa.Table,
        src: pa.Array,
        dst: pa.Array,
    ) -> dict[str, pa.Array]:
        """Per row and side, the scope: decided per pair, except for an address in a VPC, whose
        scope compares its VPC with the flow's (as numbers of one dictionary of VPC ids)."""
        kind = attributes.column("kind").combine_chunks()
        vpc = attributes.column("vpc_id").combine_chunks()
        special_kinds = pa.array(sorted({e.kind for e in self.special.entries} - _PRIVATE_KINDS))
        is_special = pc.fill_null(pc.is_in(kind, special_kinds), False).to_numpy(
            zero_copy_only=False
        )
        in_vpc = pc.is_valid(vpc).to_numpy(zero_copy_only=False)
        service = pc.is_valid(attributes.column("service")).to_numpy(zero_copy_only=False)
        private = pc.fill_null(pc.is_in(kind, pa.array(sorted(_PRIVATE_KINDS))), False)
        # codes into SCOPES: same-vpc 0, other-vpc 1, aws-service 2, internet 3, special 4,
        # private 5; an address in a VPC is 0 here and may become 1 below
        code = np.select(
            [is_special, in_vpc, service, private.to_numpy(zero_copy_only=False)],
            [4, 0, 2, 5],
            3,
        ).astype(np.int8)
        flow_vpc = self._flow_vpc(table, n)
        vpcs = pc.unique(pa.concat_arrays([vpc.cast(pa.string()), flow_vpc.cast(pa.string())]))
        pair_vpc = pc.index_in(vpc, value_set=vpcs).fill_null(-1).to_numpy(zero_copy_only=False)
        row_vpc = pc.index_in(flow_vpc, value_set=vpcs).fill_null(-1).to_numpy(zero_copy_only=False)
        names = pa.array(SCOPES, pa.string())
        out = {}
        for side, index in (("src", src), ("dst", dst)):
            i = index.fill_null(0).to_numpy(zero_copy_only=False)
            row_code = code[i]
            other = (row_code == 0) & (row_vpc >= 0) & (pair_vpc[i] != row_vpc)
            row_code = np.where(other, 1, row_code).astype(np.int8)
            valid = index.is_valid().to_numpy(zero_copy_only=False)
            out[f"{side}_scope"] = pa.DictionaryArray.from_arrays(
                pa.array(row_code, mask=~valid), names
            ).cast(pa.string())
        return out

    # -- questions --------------------------------------------------------------------------

    def identify(self, addresses: list[str], at: datetime | None = None) -> dict[str, Any]:
        """Per address, what is known of it at ``at`` (None: now): the attributes, the identity's
        tags, account, region and interface, and since when it held."""
        if not addresses:
            return {}
        arr = pa.array(addresses, pa.string())
        if at is None:
            seconds = np.full(len(addresses), (1 << _SLOT_BITS) - 1, dtype=np.int64)
        else:
            seconds = np.full(len(addresses), int(at.timestamp()), dtype=np.int64)
        slots = self.slots(arr, seconds)
        attrs = self.resolve(arr, slots).to_pylist()
        rows = self._identity_rows(arr, slots).to_pylist()
        nets = self.networks.lookup(arr).to_pylist() if self.networks else [{}] * len(addresses)
        svc = self.ranges.lookup(arr).to_pylist() if self.ranges else [{}] * len(addresses)
        out: dict[str, Any] = {}
        for i, address in enumerate(addresses):
            ident = self._ips.slice(rows[i], 1).to_pylist()[0] if rows[i] is not None else {}
            one = dict(attrs[i])
            one["region"] = ident.get("region") or svc[i].get("region")
            one["account"] = ident.get("account") or None
            one["interface_id"] = ident.get("interface_id")
            one["tags"] = {t["key"]: t["value"] for t in ident.get("tags") or []}
            one["network_attributes"] = {
                k: v for k, v in nets[i].items() if k != "network" and v is not None
            }
            one["since"] = _iso(ident.get("valid_from")) if ident else None
            one["until"] = _iso(ident.get("valid_to")) if ident else None
            out[address] = one
        return out

    def history_of(self, address: str) -> list[dict[str, Any]]:
        """Every identity that held ``address`` (an IP or an interface id), oldest first."""
        rows = self.history.filter(pc.equal(self.history.column("address"), address))
        out = []
        for r in rows.to_pylist():
            out.append(
                {
                    "name": r["name"],
                    "kind": r["kind"],
                    "resource_id": r["resource_id"],
                    "vpc_id": r["vpc_id"],
                    "subnet_id": r["subnet_id"],
                    "az": r["az"],
                    "security_groups": r["security_groups"],
                    "account": r["account"] or None,
                    "region": r["region"] or None,
                    "interface_id": r["interface_id"],
                    "tags": {t["key"]: t["value"] for t in r["tags"] or []},
                    "since": _iso(r["valid_from"]),
                    "until": _iso(r["valid_to"]),
                }
            )
        out.sort(key=lambda r: r["since"] or "")
        return out


def _iso(t: datetime | None) -> str | None:
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z") if t else None


def _ceil_seconds(t: datetime) -> int:
    us = (
        int(t.timestamp() * 1_000_000) if t.tzinfo else int(t.replace(tzinfo=UTC).timestamp() * 1e6)
    )
    return -(-us // 1_000_000)


def _is_network(text: str) -> bool:
    try:
        ipaddress.ip_network(text)
    except ValueError:
        return False
    return True


def _fits_resolver(cidr: str) -> bool:
    return ipaddress.ip_network(cidr).prefixlen <= 28


def _column(table: pa.Table, name: str, n: int) -> pa.Array:
    if name not in table.column_names:
        return pa.nulls(n, pa.string())
    return table.column(name).combine_chunks().cast(pa.string())


def _seconds(table: pa.Table, n: int) -> npt.NDArray[np.int64]:
    if "start" not in table.column_names:
        return np.zeros(n, dtype=np.int64)
    start = table.column("start").combine_chunks()
    return np.asarray(start.fill_null(0).to_numpy(zero_copy_only=False), dtype=np.int64)


__all__ = [
    "ATTRIBUTES",
    "SCOPES",
    "BatchEndpoints",
    "Estate",
]
