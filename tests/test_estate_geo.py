"""Country and ASN: an embedded default offline, .mmdb files by path, a bad file a clear error."""

from __future__ import annotations

import gzip
import pickle
from pathlib import Path

import pyarrow as pa
import pytest
from mmdb_writer import MMDBWriter
from netaddr import IPSet

from flowscope.errors import UsageError
from flowscope.estate.geo import EmbeddedGeo, MmdbGeo, open_geo


@pytest.fixture(scope="module")
def embedded() -> EmbeddedGeo:
    return EmbeddedGeo()


def test_embedded_default_knows_well_known_public_addresses(embedded: EmbeddedGeo) -> None:
    got = embedded.lookup(
        pa.array(
            [
                "8.8.8.8",
                "2001:4860:4860::8888",
                "1.1.1.1",
                "2606:4700:4700::1111",
                "9.9.9.9",
                "81.2.69.160",  # MaxMind's own test address
                "::ffff:8.8.8.8",
            ]
        )
    )
    assert got.to_pydict() == {
        "country": ["US", "US", "AU", "US", "US", "GB", "US"],
        # The embedded data keeps AS organisations, not AS numbers (see geo.py).
        "asn": [None] * 7,
        "as_org": [
            "GOOGLE",
            "GOOGLE",
            "CLOUDFLARENET",
            "CLOUDFLARENET",
            "QUAD9-AS-1",
            "Andrews & Arnold Ltd",
            "GOOGLE",
        ],
    }


def test_embedded_default_leaves_special_and_invalid_addresses_alone(
    embedded: EmbeddedGeo,
) -> None:
    got = embedded.lookup(
        pa.array(["10.0.3.17", "169.254.169.254", "fd00:ec2::254", "192.0.2.1", "nope", None])
    )
    assert got.to_pydict() == {
        "country": [None] * 6,
        "asn": [None] * 6,
        "as_org": [None] * 6,
    }


def test_open_geo_without_paths_is_the_embedded_default() -> None:
    assert isinstance(open_geo(), EmbeddedGeo)


def _write_dbs(tmp_path: Path) -> tuple[Path, Path]:
    country = MMDBWriter(ip_version=6, database_type="GeoLite2-Country", ipv4_compatible=True)
    country.insert_network(IPSet(["8.8.8.0/24"]), {"country": {"iso_code": "US"}})
    country.insert_network(
        IPSet(["193.0.0.0/16"]),
        {"registered_country": {"iso_code": "NL"}},  # no "country": the registered one is used
    )
    country.insert_network(IPSet(["2a00:1450::/32"]), {"country": {"iso_code": "IE"}})
    country_path = tmp_path / "country.mmdb"
    country.to_db_file(str(country_path))
    asn = MMDBWriter(ip_version=6, database_type="GeoLite2-ASN", ipv4_compatible=True)
    asn.insert_network(
        IPSet(["8.8.8.0/24", "2a00:1450::/32"]),
        {"autonomous_system_number": 15169, "autonomous_system_organization": "GOOGLE"},
    )
    asn.insert_network(
        IPSet(["1.1.1.0/24"]),  # IPinfo's shape: "AS" strings
        {"country": "AU", "asn": "AS13335", "as_name": "Cloudflare, Inc."},
    )
    asn_path = tmp_path / "asn.mmdb"
    asn.to_db_file(str(asn_path))
    return country_path, asn_path


def test_mmdb_files_each_field_from_the_first_file_that_has_it(tmp_path: Path) -> None:
    country_path, asn_path = _write_dbs(tmp_path)
    geo = MmdbGeo([country_path, asn_path])
    try:
        got = geo.lookup(
            pa.array(
                [
                    "8.8.8.8",
                    "1.1.1.1",
                    "193.0.6.139",
                    "2a00:1450::1",
                    "::ffff:8.8.8.8",
                    "10.1.1.1",
                    "x",
                ]
            )
        )
    finally:
        geo.close()
    assert got.to_pydict() == {
        "country": ["US", "AU", "NL", "IE", "US", None, None],
        "asn": [15169, 13335, None, 15169, 15169, None, None],
        "as_org": ["GOOGLE", "Cloudflare, Inc.", None, "GOOGLE", "GOOGLE", None, None],
    }


def test_an_ipv4_only_mmdb_skips_ipv6_addresses(tmp_path: Path) -> None:
    writer = MMDBWriter(ip_version=4, database_type="GeoLite2-Country")
    writer.insert_network(IPSet(["8.8.8.0/24"]), {"country": {"iso_code": "US"}})
    path = tmp_path / "v4.mmdb"
    writer.to_db_file(str(path))
    geo = MmdbGeo([path])
    try:
        got = geo.lookup(pa.array(["8.8.8.8", "2a00:1450::1"]))
    finally:
        geo.close()
    assert got.column("country").to_pylist() == ["US", None]


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty"])
def test_a_corrupt_mmdb_is_a_clear_error(tmp_path: Path, damage: str) -> None:
    country_path, asn_path = _write_dbs(tmp_path)
    data = asn_path.read_bytes()
    bad = tmp_path / "bad.mmdb"
    bad.write_bytes(
        {
            "garbage": b"\x00not a maxmind database" * 100,
            "truncated": data[: len(data) // 2],
            "empty": b"",
        }[damage]
    )
    with pytest.raises(UsageError, match=f"^MaxMind database {bad}: not a valid .mmdb file"):
        MmdbGeo([country_path, bad])


def test_a_missing_mmdb_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no such file"):
        MmdbGeo([tmp_path / "GeoLite2-ASN.mmdb"])


@pytest.mark.parametrize(
    "content",
    [
        b"not gzip at all",
        gzip.compress(b"not a pickle"),
        gzip.compress(pickle.dumps((120, {}, 0, ()))),
    ],
)
def test_an_unreadable_embedded_data_file_is_a_clear_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "geoip2fast-asn-ipv6.dat.gz"
    path.write_bytes(content)
    with pytest.raises(UsageError, match=f"^embedded geo database {path}: cannot be read"):
        EmbeddedGeo(path)
