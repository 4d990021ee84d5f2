"""Country and ASN of public addresses: MaxMind-format ``.mmdb`` files, or an embedded default.

Two sources answer the same question (:meth:`lookup`: per address ``country`` as an ISO 3166
alpha-2 code, ``asn`` as a number, ``as_org``), for public addresses only: an address that
:mod:`flowscope.estate.special` names (private, link-local, ...) gets nulls.

- :class:`MmdbGeo` reads one or more ``.mmdb`` files given by path (GeoLite2-Country/-ASN/-City,
  DB-IP lite country/ASN, IPinfo's country_asn): each field comes from the first file that has
  it, whatever the file's vendor calls it. The reader (``maxminddb``) answers one address at a
  time, so it is called once per distinct address.
- :class:`EmbeddedGeo` is the default, so a fresh install answers offline: the country + ASN
  database shipped by the ``geoip2fast`` package (``geoip2fast-asn-ipv6.dat.gz``, built from
  MaxMind's GeoLite2 Country and ASN CSV of 2024-06-18, under MaxMind's GeoLite End User
  License Agreement, which takes in CC BY-SA 4.0's attribution ("This product includes GeoLite2
  data created by MaxMind, available from https://www.maxmind.com") and asks that old copies
  give way to current data: see the README). Its file holds
  sorted ranges; flowscope loads them into numpy arrays and looks every address up at once with
  ``searchsorted`` (the package's own lookup is one address at a time). That file keeps the AS
  organisation but not the AS number, so ``asn`` is null from the default: give an ASN
  ``.mmdb`` for numbers.

A file that is missing or not a MaxMind database is a :class:`~flowscope.errors.UsageError`
naming it; nothing is half-opened.
"""

from __future__ import annotations

import gzip
import importlib.resources
import ipaddress
import os
import pickle
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import maxminddb
import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from flowscope.errors import UsageError
from flowscope.estate.prefixes import ParsedAddresses, parse_addresses
from flowscope.estate.special import SpecialAddresses

GEO_SCHEMA = pa.schema([("country", pa.string()), ("asn", pa.int64()), ("as_org", pa.string())])

EMBEDDED_SOURCE = (
    "geoip2fast 1.2.2 (geoip2fast-asn-ipv6.dat.gz): MaxMind GeoLite2 Country and ASN, "
    "2024-06-18, GeoLite EULA (CC BY-SA 4.0 attribution)"
)


class GeoSource(Protocol):
    def lookup(self, addresses: pa.Array | pa.ChunkedArray) -> pa.Table: ...


_SPECIAL = SpecialAddresses()


def _public_mask(parsed: ParsedAddresses, count: int) -> npt.NDArray[np.bool_]:
    """Addresses that parse and that no special range holds."""
    public = np.zeros(count, dtype=bool)
    public[parsed.v4_pos] = True
    public[parsed.v6_pos] = True
    special = _SPECIAL.lookup_parsed(parsed, count)
    public &= np.asarray(pc.is_null(special).to_numpy(zero_copy_only=False), dtype=bool)
    return public


def _as_array(addresses: pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(addresses, pa.ChunkedArray):
        addresses = addresses.combine_chunks()
    if not pa.types.is_string(addresses.type):
        addresses = addresses.cast(pa.string())
    return addresses


class MmdbGeo:
    """Country and ASN from one or more MaxMind-format databases, each field from the first."""

    def __init__(self, paths: Sequence[str | Path]) -> None:
        self.paths = [Path(p) for p in paths]
        readers = []
        try:
            for path in self.paths:
                readers.append(_open_mmdb(path))
        except UsageError:
            for reader in readers:
                reader.close()
            raise
        self._readers = readers

    def close(self) -> None:
        for reader in self._readers:
            reader.close()

    def lookup(self, addresses: pa.Array | pa.ChunkedArray) -> pa.Table:
        addresses = _as_array(addresses)
        public = _public_mask(parse_addresses(addresses), len(addresses))
        countries: list[str | None] = [None] * len(addresses)
        asns: list[int | None] = [None] * len(addresses)
        orgs: list[str | None] = [None] * len(addresses)
        texts = addresses.to_pylist()
        for i in np.flatnonzero(public).tolist():
            text = _unmapped(texts[i])
            for reader in self._readers:
                try:
                    record = reader.get(text)
                except ValueError:  # not an address, or IPv6 in an IPv4-only file
                    continue
                if not isinstance(record, dict):
                    continue
                country, asn, org = _fields(record)
                countries[i] = countries[i] or country
                asns[i] = asns[i] or asn
                orgs[i] = orgs[i] or org
        return pa.table(
            [pa.array(countries, pa.string()), pa.array(asns, pa.int64()), pa.array(orgs)],
            schema=GEO_SCHEMA,
        )


def _unmapped(text: str) -> str:
    # Not every .mmdb aliases ::ffff:0:0/96 to its IPv4 tree (MaxMind's do, others may not).
    if ":" in text:
        try:
            mapped = ipaddress.IPv6Address(text).ipv4_mapped
        except ValueError:
            return text
        if mapped is not None:
            return str(mapped)
    return text


def _open_mmdb(path: Path) -> maxminddb.Reader:
    if not path.is_file():
        raise UsageError(f"MaxMind database {path}: no such file")
    try:
        return maxminddb.open_database(str(path))
    except (maxminddb.InvalidDatabaseError, ValueError, OSError) as e:
        raise UsageError(
            f"MaxMind database {path}: not a valid .mmdb file ({e})",
            hint="give a GeoLite2, DB-IP or IPinfo .mmdb database",
        ) from e


def _fields(record: dict[str, Any]) -> tuple[str | None, int | None, str | None]:
    country: str | None = None
    value = record.get("country")
    if isinstance(value, dict):  # GeoLite2, DB-IP
        code = value.get("iso_code")
        country = code if isinstance(code, str) else None
    elif isinstance(value, str):  # IPinfo country_asn
        country = value
    if country is None and isinstance(record.get("registered_country"), dict):
        code = record["registered_country"].get("iso_code")
        country = code if isinstance(code, str) else None
    asn: int | None = None
    raw_asn = record.get("autonomous_system_number", record.get("asn"))
    if isinstance(raw_asn, int):
        asn = raw_asn
    elif isinstance(raw_asn, str) and raw_asn.upper().removeprefix("AS").isdigit():
        asn = int(raw_asn.upper().removeprefix("AS"))
    org = record.get("autonomous_system_organization", record.get("as_name"))
    return country, asn, org if isinstance(org, str) and org else None


class _Ranges:
    """Sorted, non-overlapping ranges of one family with a value id each."""

    def __init__(self, first: npt.NDArray[Any], last: npt.NDArray[Any], ids: npt.NDArray[np.int32]):
        order = np.argsort(first, kind="stable")
        self.first, self.last, self.ids = first[order], last[order], ids[order]

    def find(self, keys: npt.NDArray[Any]) -> npt.NDArray[np.int32]:
        at = np.searchsorted(self.first, keys, side="right") - 1
        ok = at >= 0
        at = np.maximum(at, 0)
        ok &= keys <= self.last[at] if len(self.last) else False
        return np.where(ok, self.ids[at], -1).astype(np.int32)


def _v6_bytes(values: Sequence[int]) -> npt.NDArray[np.bytes_]:
    return np.frombuffer(b"".join(v.to_bytes(16, "big") for v in values), dtype="S16")


def _build_ranges(
    first_chunks: list[list[int]], netlen_chunks: list[list[int]], id_chunks: list[list[int]]
) -> tuple[_Ranges, _Ranges]:
    v4: tuple[list[int], list[int], list[int]] = ([], [], [])
    v6: tuple[list[int], list[int], list[int]] = ([], [], [])
    for firsts, lengths, ids in zip(first_chunks, netlen_chunks, id_chunks, strict=True):
        for first, length, value in zip(firsts, lengths, ids, strict=True):
            # geoip2fast keeps IPv4 and IPv6 in one integer space: IPv4 as itself, IPv6 above
            # 2**32 (the IPv6 ranges it holds all start far above ::ffff:0:0/96).
            if first <= 0xFFFFFFFF and length <= 32:
                target, size = v4, 1 << (32 - length)
            else:
                target, size = v6, 1 << (128 - length)
            target[0].append(first)
            target[1].append(first + size - 1)
            target[2].append(value)
    return (
        _Ranges(np.array(v4[0], np.uint32), np.array(v4[1], np.uint32), np.array(v4[2], np.int32)),
        _Ranges(_v6_bytes(v6[0]), _v6_bytes(v6[1]), np.array(v6[2], np.int32)),
    )


class EmbeddedGeo:
    """The default: geoip2fast's GeoLite2 country + ASN ranges, looked up vectorised."""

    source = EMBEDDED_SOURCE

    def __init__(self, data_file: str | Path | None = None) -> None:
        # data_file: another geoip2fast country + ASN .dat.gz. It is a pickle, so only ever a
        # trusted file (the package's own, or one its geoip2dat tool built): never user input.
        if data_file is None:
            data_file = Path(
                str(importlib.resources.files("geoip2fast") / "geoip2fast-asn-ipv6.dat.gz")
            )
        path = Path(data_file)
        cache = _cache_file(path)
        if cache is not None and cache.exists():
            try:
                self._load_cache(cache)
                return
            except (OSError, ValueError, KeyError):
                pass  # rebuilt below
        self._build(path)
        if cache is not None:
            self._save_cache(cache)

    _ARRAYS = (
        "country_v4",
        "country_v6",
        "asn_v4",
        "asn_v6",
    )

    def _save_cache(self, cache: Path) -> None:
        """Keep the built arrays (a pickle of half a million ranges takes a second to turn
        into arrays; the arrays load in a few milliseconds)."""
        arrays: dict[str, Any] = {
            "countries": np.array(self._countries.to_pylist(), dtype=object),
            "orgs": np.array(self._orgs.to_pylist(), dtype=object),
            "info": np.array([self.info]),
        }
        for name in self._ARRAYS:
            r: _Ranges = getattr(self, "_" + name)
            arrays[name + "_first"], arrays[name + "_last"], arrays[name + "_ids"] = (
                r.first,
                r.last,
                r.ids,
            )
        try:
            cache.parent.mkdir(parents=True, exist_ok=True)
            tmp = cache.with_suffix(f".{os.getpid()}.tmp.npz")
            np.savez(
                tmp,
                **{k: v.astype(str) if v.dtype == object else v for k, v in arrays.items()},
                nulls_c=np.array([c is None for c in arrays["countries"]]),
                nulls_o=np.array([o is None for o in arrays["orgs"]]),
            )
            os.replace(tmp, cache)
        except OSError:
            pass  # a cache is only a cache

    def _load_cache(self, cache: Path) -> None:
        with np.load(cache, allow_pickle=False) as z:
            countries = [
                None if n else str(c) for c, n in zip(z["countries"], z["nulls_c"], strict=True)
            ]
            orgs = [None if n else str(o) for o, n in zip(z["orgs"], z["nulls_o"], strict=True)]
            self._countries = pa.array(countries, pa.string())
            self._orgs = pa.array(orgs, pa.string())
            self.info = str(z["info"][0])
            for name in self._ARRAYS:
                r = _Ranges.__new__(_Ranges)
                r.first, r.last, r.ids = z[name + "_first"], z[name + "_last"], z[name + "_ids"]
                setattr(self, "_" + name, r)

    def _build(self, path: Path) -> None:
        try:
            with gzip.open(path, "rb") as f:
                # The package's own data file, loaded as the package itself loads it.
                version, info, _total, database = pickle.load(f)  # noqa: S301
            (
                _index,
                _index_asn,
                country_names,
                asn_names,
                first_ip,
                first_ip_asn,
                country_ids,
                asn_ids,
                netlen,
                netlen_asn,
            ) = database
        except Exception as e:  # a damaged pickle can raise almost anything
            raise UsageError(f"embedded geo database {path}: cannot be read ({e})") from e
        if version not in (120, 121) or not (info.get("country") and info.get("asn")):
            raise UsageError(f"embedded geo database {path}: not a country + ASN file")
        self.info = str(info.get("info", ""))
        codes = [str(n).split(":", 1)[0] for n in country_names]
        # The first 16 country ids are geoip2fast's private/reserved pseudo-countries.
        self._countries = pa.array([c if i >= 16 else None for i, c in enumerate(codes)])
        self._orgs = pa.array(
            [str(n) if n and n not in ("<unknown>", "IANA.ORG") else None for n in asn_names],
            pa.string(),
        )
        self._country_v4, self._country_v6 = _build_ranges(first_ip, netlen, country_ids)
        self._asn_v4, self._asn_v6 = _build_ranges(first_ip_asn, netlen_asn, asn_ids)

    def lookup(self, addresses: pa.Array | pa.ChunkedArray) -> pa.Table:
        addresses = _as_array(addresses)
        count = len(addresses)
        parsed: ParsedAddresses = parse_addresses(addresses)
        country_id = np.full(count, -1, np.int32)
        asn_id = np.full(count, -1, np.int32)
        # Sorted keys make searchsorted walk the half-million ranges in order (4x faster).
        for pos, keys, by_country, by_asn in (
            (parsed.v4_pos, parsed.v4, self._country_v4, self._asn_v4),
            (parsed.v6_pos, parsed.v6, self._country_v6, self._asn_v6),
        ):
            order = np.argsort(keys, kind="stable")
            country_id[pos[order]] = by_country.find(keys[order])
            asn_id[pos[order]] = by_asn.find(keys[order])
        public = _public_mask(parsed, count)
        country_id[~public] = -1
        asn_id[~public] = -1
        country = self._countries.take(pa.array(country_id, mask=country_id < 0))
        org = self._orgs.take(pa.array(asn_id, mask=asn_id < 0))
        return pa.table([country, pa.nulls(count, pa.int64()), org], schema=GEO_SCHEMA)


def _cache_file(data: Path) -> Path | None:
    """Where the arrays built from ``data`` are kept: per user, per version of the data file."""
    try:
        st = data.stat()
    except OSError:
        return None
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "flowscope"
    return base / f"geo-{st.st_size}-{int(st.st_mtime)}-v1.npz"


def open_geo(paths: Sequence[str | Path] = ()) -> GeoSource:
    """The ``.mmdb`` files given, or the embedded default when none is."""
    return MmdbGeo(paths) if paths else EmbeddedGeo()


__all__ = ["EMBEDDED_SOURCE", "EmbeddedGeo", "GeoSource", "MmdbGeo", "open_geo"]
