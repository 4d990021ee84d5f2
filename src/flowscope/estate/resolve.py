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


@dataclass
class BatchEndpoints:
    """The endpoints of one batch: the distinct (address, slot) pairs and their attributes, and
    per row the position of each side's pair in them."""

    addresses: pa.Array  # string, one per pair
    slots: pa.Array  # int32, one per pair
    attributes: pa.Table  # ATTRIBUTES, one row per pair
    src: pa.Array  # int32 per row (NULL: no address)
    dst: pa.Array
    scope: dict[str, pa.Array]  # src_scope / dst_scope per row

    def columns(self) -> dict[str, pa.Array]:
        """Every endpoint column per row (what a document store keeps)."""
        out: dict[str, pa.Array] = {}
        for side, index in (("src", self.src), ("dst", self.dst)):
            for name in ATTRIBUTES.names:
                out[f"{side}_{name}"] = self.attributes.column(name).take(index).combine_chunks()
            out[f"{side}_scope"] = self.scope[f"{side}_scope"]
        return out


@dataclass
class Estate:
    """What flowscope knows about addresses: the inventory's history, the user's networks, AWS's
    ranges and a geo database. Any part may be missing; :meth:`empty` knows nothing."""

    history: pa.Table = field(default_factory=empty_history)
    networks: Networks | None = None
    ranges: AwsRanges | None = None
    geo: GeoSource | None = None

    def __post_init__(self) -> None:
        history = self.history.select(HISTORY.names).cast(HISTORY)
        self.history = history
        kinds = history.column("kind")
        ranges = pc.is_in(kinds, pa.array(sorted(_RANGE_KINDS)))
        addresses = history.column("address")
        is_ip = pc.invert(
            pc.or_(ranges, pc.starts_with(addresses, "eni-")),
        )
        self._ips = history.filter(is_ip)
        self._enis = history.filter(pc.starts_with(addresses, "eni-"))
        open_rows = history.filter(pc.is_null(history.column("valid_to")))
        vpcs = [r for r in open_rows.to_pylist() if r["kind"] in ("vpc", "subnet")]
        self._cidr_rows = [r for r in vpcs if _is_network(r["address"])]
        self._cidrs = PrefixTable([ipaddress.ip_network(r["address"]) for r in self._cidr_rows])
        vpc_cidrs = [
            r["address"]
            for r in self._cidr_rows
            if r["kind"] == "vpc" and ipaddress.ip_network(r["address"]).version == 4
        ]
        self.special = SpecialAddresses([c for c in vpc_cidrs if _fits_resolver(c)])
        self._build_boundaries()

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
        ips = self._ips
        frame: dict[str, list[int]] = {}
        for address, start, end in zip(
            ips.column("address").to_pylist(),
            ips.column("valid_from").to_pylist(),
            ips.column("valid_to").to_pylist(),
            strict=True,
        ):
            times = frame.setdefault(address, [])
            for t in (start, end):
                if t is not None:
                    times.append(_ceil_seconds(t))
        names = sorted(frame)
        offsets = [0]
        keys: list[int] = []
        for i, name in enumerate(names):
            for t in sorted(set(frame[name])):
                keys.append((i << _SLOT_BITS) + t)
            offsets.append(len(keys))
        self._bound_names = pa.array(names, pa.string())
        self._bound_keys = np.array(keys, dtype=np.int64)
        self._bound_offsets = np.array(offsets, dtype=np.int64)

    def slots(self, addresses: pa.Array, seconds: npt.NDArray[np.int64]) -> npt.NDArray[np.int32]:
        """The slot of each (address, start second)."""
        out = np.zeros(len(addresses), dtype=np.int32)
        if not len(self._bound_names) or not len(addresses):
            return out
        pos = pc.index_in(addresses, value_set=self._bound_names)
        has = pc.is_valid(pos).to_numpy(zero_copy_only=False)
        if not has.any():
            return out
        p = pos.filter(pc.is_valid(pos)).to_numpy().astype(np.int64)
        t = np.clip(seconds[has], 0, (1 << _SLOT_BITS) - 1)
        found = np.searchsorted(self._bound_keys, (p << _SLOT_BITS) + t, side="right")
        out[has] = (found - self._bound_offsets[p]).astype(np.int32)
        return out

    def _slot_times(self, addresses: pa.Array, slots: npt.NDArray[np.int32]) -> pa.Array:
        """A time inside each (address, slot): 1970 for slot 0, else the boundary opening it."""
        seconds = np.zeros(len(addresses), dtype=np.int64)
        later = slots > 0
        if later.any():
            pos = pc.index_in(addresses.filter(pa.array(later)), value_set=self._bound_names)
            p = pos.to_numpy(zero_copy_only=False).astype(np.int64)
            keys = self._bound_keys[self._bound_offsets[p] + slots[later] - 1]
            seconds[later] = keys - (p << _SLOT_BITS)
        return pa.array(seconds, pa.timestamp("s", tz="UTC"))

    # -- resolution -------------------------------------------------------------------------

    def resolve(self, addresses: pa.Array, slots: npt.NDArray[np.int32]) -> pa.Table:
        """The ``ATTRIBUTES`` of each (address, slot)."""
        n = len(addresses)
        if n == 0:
            return ATTRIBUTES.empty_table()
        rows = as_of_rows(self._ips, addresses, self._slot_times(addresses, slots))
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
        seconds2 = np.concatenate([seconds, seconds])
        slots = np.zeros(2 * n, dtype=np.int32)
        if len(self._bound_names):
            slots[valid] = self.slots(both.filter(pa.array(valid)), seconds2[valid])
        key = codes * (1 << 24) + np.minimum(slots, (1 << 24) - 1)
        key[~valid] = -1
        unique, inverse = np.unique(key, return_inverse=True)
        has_null = bool(len(unique)) and unique[0] == -1
        real = unique[1:] if has_null else unique
        pair_codes = (real >> 24).astype(np.int64)
        pair_slots = (real & ((1 << 24) - 1)).astype(np.int32)
        pair_addresses = dictionary.take(pa.array(pair_codes))
        attributes = self.resolve(pair_addresses, pair_slots)
        index = inverse.astype(np.int32) - (1 if has_null else 0)
        mask = index < 0
        src_index = pa.array(index[:n], mask=mask[:n])
        dst_index = pa.array(index[n:], mask=mask[n:])
        scope = self._scopes(table, n, attributes, src_index, dst_index)
        return BatchEndpoints(
            pair_addresses, pa.array(pair_slots), attributes, src_index, dst_index, scope
        )

    def _flow_vpc(self, table: pa.Table, n: int) -> pa.Array:
        """Each flow's VPC: the record's ``vpc_id``, else that of its interface in the inventory."""
        vpc = _column(table, "vpc_id", n)
        missing = pc.is_null(vpc)
        if not self._enis.num_rows or not pc.any(missing).as_py():
            return vpc
        eni = _column(table, "interface_id", n)
        rows = as_of_rows(
            self._enis, eni, pa.array(_seconds(table, n), pa.timestamp("s", tz="UTC"))
        )
        from_eni = self._enis.column("vpc_id").take(rows).combine_chunks()
        return pc.coalesce(vpc, from_eni)

    def _scopes(
        self,
        table: pa.Table,
        n: int,
        attributes: pa.Table,
        src: pa.Array,
        dst: pa.Array,
    ) -> dict[str, pa.Array]:
        flow_vpc = self._flow_vpc(table, n)
        kind = attributes.column("kind").combine_chunks()
        vpc = attributes.column("vpc_id").combine_chunks()
        service = attributes.column("service").combine_chunks()
        special = self.special
        special_kinds = pa.array(sorted({e.kind for e in special.entries} - _PRIVATE_KINDS))
        out = {}
        for side, index in (("src", src), ("dst", dst)):
            k = kind.take(index)
            v = vpc.take(index)
            is_special = pc.fill_null(pc.is_in(k, special_kinds), False)
            same = pc.or_kleene(pc.is_null(flow_vpc), pc.equal(v, flow_vpc))
            in_vpc = pc.if_else(
                pc.fill_null(same, False), pa.scalar("same-vpc"), pa.scalar("other-vpc")
            )
            private = pc.fill_null(pc.is_in(k, pa.array(sorted(_PRIVATE_KINDS))), False)
            scope = pc.case_when(
                pc.make_struct(
                    pc.is_null(index),
                    is_special,
                    pc.is_valid(v),
                    pc.is_valid(service.take(index)),
                    private,
                ),
                pa.nulls(n, pa.string()),
                pa.scalar("special"),
                in_vpc,
                pa.scalar("aws-service"),
                pa.scalar("private"),
                pa.scalar("internet"),
            )
            out[f"{side}_scope"] = scope
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
        rows = as_of_rows(self._ips, arr, self._slot_times(arr, slots)).to_pylist()
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
