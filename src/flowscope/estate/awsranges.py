"""AWS's published address ranges (``ip-ranges.json``): the service and region of an address.

The file (https://docs.aws.amazon.com/vpc/latest/userguide/aws-ip-ranges.html) lists
``prefixes`` (``ip_prefix``) and ``ipv6_prefixes`` (``ipv6_prefix``), each with ``region``,
``network_border_group`` and ``service``, plus ``syncToken`` and ``createDate``. Every service's
ranges are also listed under ``AMAZON``, so the same CIDR often appears several times. An
address takes the most specific prefix holding it; among entries for that same prefix a specific
service wins over ``EC2`` (customers' instances), and ``EC2`` over ``AMAZON``; the other services
listed for that prefix are kept in ``services``.

:func:`load_ip_ranges` reads a file; :func:`fetch_ip_ranges` refreshes a file from AWS (or any
URL serving the same document), checking the download before it replaces the old copy, so a bad
download never leaves a broken file. An invalid document (not JSON, not the expected shape, a bad
CIDR) is a :class:`~flowscope.errors.UsageError` naming the file and the entry.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import os
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from flowscope.errors import SourceError, UsageError
from flowscope.estate.prefixes import Network, PrefixTable

AWS_IP_RANGES_URL = "https://ip-ranges.amazonaws.com/ip-ranges.json"

# Lower ranks win among entries for the same prefix.
_RANK = {"AMAZON": 2, "EC2": 1}


@dataclass(frozen=True)
class AwsRange:
    network: Network
    service: str
    region: str
    network_border_group: str
    services: tuple[str, ...]


class IpRangesError(UsageError):
    def __init__(self, source: str, message: str) -> None:
        super().__init__(
            f"AWS ip-ranges {source}: {message}",
            hint="expected AWS's ip-ranges.json; nothing from it was applied",
        )
        self.source = source


class AwsRanges:
    """The ranges of one ``ip-ranges.json``, with a longest-prefix-match lookup."""

    def __init__(
        self, ranges: list[AwsRange], *, sync_token: str, created: datetime | None
    ) -> None:
        self.ranges = ranges
        self.sync_token = sync_token
        self.created = created
        self._table = PrefixTable([r.network for r in ranges])

    def lookup(self, addresses: pa.Array | pa.ChunkedArray) -> pa.Table:
        """Per address: ``service``, ``region``, ``network_border_group`` and ``services``."""
        return self.columns.take(self._table.lookup(addresses))

    @functools.cached_property
    def columns(self) -> pa.Table:
        """One row per range (built once: a lookup is then one ``take``)."""
        rs = self.ranges
        return pa.table(
            {
                "service": pa.array([r.service for r in rs], pa.string()),
                "region": pa.array([r.region for r in rs], pa.string()),
                "network_border_group": pa.array([r.network_border_group for r in rs], pa.string()),
                "services": pa.array([list(r.services) for r in rs], pa.list_(pa.string())),
            }
        )


def parse_ip_ranges(data: bytes | str, source: str = "document") -> AwsRanges:
    """Check and index an ``ip-ranges.json`` document."""
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError) as e:
        raise IpRangesError(source, f"not JSON ({e})") from e
    if not isinstance(doc, dict):
        raise IpRangesError(source, f"expected a JSON object, got {type(doc).__name__}")
    missing = [k for k in ("prefixes", "syncToken") if k not in doc]
    if missing:
        raise IpRangesError(source, f"missing {', '.join(missing)}")
    created = _created(source, doc.get("createDate"))
    entries: dict[Network, list[tuple[int, int, str, str, str]]] = {}
    order = 0
    for list_key, cidr_key in (("prefixes", "ip_prefix"), ("ipv6_prefixes", "ipv6_prefix")):
        items = doc.get(list_key, [])
        if not isinstance(items, list):
            raise IpRangesError(source, f"{list_key} is not a list")
        for position, item in enumerate(items):
            where = f"{list_key}[{position}]"
            network, service, region, group = _entry(source, where, item, cidr_key)
            order += 1
            entries.setdefault(network, []).append(
                (_RANK.get(service, 0), order, service, region, group)
            )
    ranges = []
    for network, candidates in entries.items():
        candidates.sort()
        _, _, service, region, group = candidates[0]
        services = tuple(dict.fromkeys(c[2] for c in candidates))
        ranges.append(AwsRange(network, service, region, group, services))
    return AwsRanges(ranges, sync_token=str(doc["syncToken"]), created=created)


def _created(source: str, value: Any) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.strptime(str(value), "%Y-%m-%d-%H-%M-%S").replace(tzinfo=UTC)
    except ValueError as e:
        raise IpRangesError(source, f"createDate {value!r}: expected YYYY-MM-DD-hh-mm-ss") from e


def _entry(source: str, where: str, item: Any, cidr_key: str) -> tuple[Network, str, str, str]:
    if not isinstance(item, dict):
        raise IpRangesError(source, f"{where} is not an object")
    values = {}
    for key in (cidr_key, "service", "region"):
        value = item.get(key)
        if not isinstance(value, str) or not value:
            raise IpRangesError(source, f"{where}: {key} missing or not a string")
        values[key] = value
    try:
        network = ipaddress.ip_network(values[cidr_key], strict=True)
    except ValueError as e:
        raise IpRangesError(source, f"{where}: {values[cidr_key]!r} is not a CIDR") from e
    if (network.version == 4) != (cidr_key == "ip_prefix"):
        raise IpRangesError(
            source, f"{where}: {network} is not an IPv{4 if network.version == 6 else 6} prefix"
        )
    group = item.get("network_border_group")
    return network, values["service"], values["region"], group if isinstance(group, str) else ""


def load_ip_ranges(path: str | Path) -> AwsRanges:
    """Read an ``ip-ranges.json`` file."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise IpRangesError(str(path), f"cannot be read ({e.strerror or e})") from e
    return parse_ip_ranges(data, str(path))


def fetch_ip_ranges(
    dest: str | Path, url: str = AWS_IP_RANGES_URL, *, timeout: float = 30
) -> AwsRanges:
    """Download ``ip-ranges.json`` to ``dest``, replacing it only once the download is valid."""
    dest = Path(dest)
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310
            data = response.read()
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", None) or e
        raise SourceError(
            f"cannot fetch AWS ip-ranges from {url}: {reason}",
            hint=f"the previous copy{' at ' + str(dest) if dest.exists() else ''} is kept",
            transient=True,
        ) from e
    ranges = parse_ip_ranges(data, url)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=".ip-ranges-", suffix=".json")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return ranges
