"""Longest-prefix match of many addresses against many CIDRs, with numpy.

A :class:`PrefixTable` is built once from a list of IPv4 and IPv6 networks and answers, for an
Arrow array of address strings, the index (in the list it was built from) of the most specific
network holding each address, or null. It is the one lookup structure under every source of
identity in ``estate/`` (your networks, special addresses, AWS's ranges).

How: IPv4 addresses become ``uint32`` and IPv6 addresses 16 big-endian bytes (numpy ``S16``,
which sorts and compares as the 128-bit number would). At build, each family's networks are
flattened into disjoint intervals (the edges of every network, each interval owned by the most
specific network covering it: paint the widest first, the narrowest last); a lookup is then one
``searchsorted`` of all addresses into at most 2N+1 edges, whatever the prefix lengths. IPv4
strings are parsed by Arrow compute (vectorised); IPv6 strings, usually few, once each with
``inet_pton``. An IPv4-mapped IPv6 address (``::ffff:a.b.c.d``) is looked up as its IPv4
address. A string that is not an address matches nothing (null).

When two entries are the same network, the first one given wins: callers that rank overlapping
sources (an AWS service over ``AMAZON``) order their entries accordingly.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

_MAPPED_PREFIX = bytes(10) + b"\xff\xff"
_IPV4_RE = r"^[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}$"


@dataclass(frozen=True)
class _Intervals:
    """One family's networks flattened into disjoint intervals, each with its most specific
    network: ``owner[i]`` holds for addresses in ``[bounds[i], bounds[i + 1])`` (-1: none)."""

    bounds: npt.NDArray[np.generic]
    owner: npt.NDArray[np.int32]

    @classmethod
    def build(cls, entries: list[tuple[int, Network]], bits: int) -> _Intervals:
        top = 1 << bits
        edges = {0}
        for _, network in entries:
            first = int(network.network_address)
            edges.add(first)
            if first + network.num_addresses < top:
                edges.add(first + network.num_addresses)
        ordered = sorted(edges)
        owner = np.full(len(ordered), -1, dtype=np.int32)
        where = {edge: i for i, edge in enumerate(ordered)}
        # Paint the widest networks first so that narrower ones overwrite them; among equal
        # networks the first given is painted last, so it wins.
        for index, network in sorted(entries, key=lambda e: (e[1].prefixlen, -e[0])):
            first = int(network.network_address)
            end = first + network.num_addresses
            owner[where[first] : where[end] if end < top else len(ordered)] = index
        bounds: npt.NDArray[np.generic]
        if bits == 32:
            bounds = np.array(ordered, dtype=np.uint32)
        else:
            bounds = np.frombuffer(b"".join(e.to_bytes(16, "big") for e in ordered), dtype="S16")
        return cls(bounds, owner)

    def find(self, keys: npt.NDArray[np.generic]) -> npt.NDArray[np.int32]:
        # bounds[0] is the family's first address, so every key lands in some interval.
        at = np.searchsorted(self.bounds, keys, side="right") - 1
        return self.owner[at]


@dataclass(frozen=True)
class ParsedAddresses:
    """Address strings split by family: positions into the input and their integer forms."""

    v4_pos: npt.NDArray[np.int64]
    v4: npt.NDArray[np.uint32]
    v6_pos: npt.NDArray[np.int64]
    v6: npt.NDArray[np.bytes_]


def parse_addresses(addresses: pa.Array | pa.ChunkedArray) -> ParsedAddresses:
    """Split address strings into IPv4 (``uint32``) and IPv6 (``S16``); others are left out."""
    if isinstance(addresses, pa.ChunkedArray):
        addresses = addresses.combine_chunks()
    if not pa.types.is_string(addresses.type) and not pa.types.is_large_string(addresses.type):
        addresses = addresses.cast(pa.string())
    is_v4 = pc.fill_null(pc.match_substring_regex(addresses, _IPV4_RE), False)
    v4_pos = np.flatnonzero(is_v4.to_numpy(zero_copy_only=False)).astype(np.int64)
    v4_strings = addresses.take(pa.array(v4_pos, type=pa.int64()))
    octets = pc.list_flatten(pc.split_pattern(v4_strings, ".")).cast(pa.uint32())
    parts = octets.to_numpy().reshape(-1, 4) if len(v4_pos) else np.zeros((0, 4), np.uint32)
    valid = (parts <= 255).all(axis=1)
    v4_all = (parts[:, 0] << 24) | (parts[:, 1] << 16) | (parts[:, 2] << 8) | parts[:, 3]
    v4_pos = v4_pos[valid]
    v4: npt.NDArray[np.uint32] = v4_all[valid].astype(np.uint32)

    # Everything else with a colon: IPv6 (or mapped IPv4), parsed once per string.
    has_colon = pc.fill_null(pc.match_substring(addresses, ":"), False)
    other_pos = np.flatnonzero(has_colon.to_numpy(zero_copy_only=False))
    mapped_pos: list[int] = []
    mapped: list[int] = []
    v6_pos: list[int] = []
    v6_bytes: list[bytes] = []
    strings = addresses.take(pa.array(other_pos, type=pa.int64())).to_pylist()
    for pos, text in zip(other_pos.tolist(), strings, strict=True):
        try:
            packed = socket.inet_pton(socket.AF_INET6, text)  # ~40x faster than ipaddress
        except (OSError, ValueError):
            continue
        if packed[:12] == _MAPPED_PREFIX:
            mapped_pos.append(pos)
            mapped.append(int.from_bytes(packed[12:], "big"))
        else:
            v6_pos.append(pos)
            v6_bytes.append(packed)
    if mapped_pos:
        v4_pos = np.concatenate([v4_pos, np.array(mapped_pos, dtype=np.int64)])
        v4 = np.concatenate([v4, np.array(mapped, dtype=np.uint32)])
    v6 = np.frombuffer(b"".join(v6_bytes), dtype="S16") if v6_bytes else np.zeros(0, "S16")
    return ParsedAddresses(v4_pos, v4, np.array(v6_pos, dtype=np.int64), v6)


class PrefixTable:
    """Networks built once; :meth:`lookup` gives the most specific one's index per address."""

    def __init__(self, networks: Sequence[Network]) -> None:
        self.size = len(networks)
        entries = list(enumerate(networks))
        self._v4 = _Intervals.build([(i, n) for i, n in entries if n.version == 4], 32)
        self._v6 = _Intervals.build([(i, n) for i, n in entries if n.version == 6], 128)

    def lookup(self, addresses: pa.Array | pa.ChunkedArray) -> pa.Int32Array:
        """The index of the most specific network holding each address, or null."""
        return self.lookup_parsed(parse_addresses(addresses), len(addresses))

    def lookup_parsed(self, parsed: ParsedAddresses, count: int) -> pa.Int32Array:
        """:meth:`lookup` over addresses already parsed (to share one parse among tables)."""
        result = np.full(count, -1, dtype=np.int32)
        result[parsed.v4_pos] = self._v4.find(parsed.v4)
        result[parsed.v6_pos] = self._v6.find(parsed.v6)
        return pa.array(result, mask=result < 0, type=pa.int32())
