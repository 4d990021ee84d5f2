"""The demo VPC's estate: who holds each of its addresses, AWS's ranges for its peers, and a
networks file, so the demo shows names at once.

:func:`demo_estate` builds, from the same :class:`~flowscope.demo.topology.Topology` the traffic
is drawn from (so every ENI and address of the records has an identity), what
``flowscope inventory refresh``, ``flowscope ip-ranges`` and ``flowscope networks`` would have
given for it:

- ``snapshots``: the estate as :func:`flowscope.estate.aws.read_estate` represents it (one
  :class:`~flowscope.estate.aws.Identity` per interface id and per address of each interface;
  subnets and the VPC by their CIDRs; security groups by id; the gateway endpoints by id), taken
  twice: at the window's start, and halfway through, when one app instance is replaced by a new
  one that takes over its addresses (``moved_address``, ``moved_at``), so the history has a
  move to show;
- ``ip_ranges``: a small ``ip-ranges.json`` covering the demo's AWS peers (see :data:`_RANGES`);
- ``networks_yaml``: a networks file naming the tiers, the VPC, the office and a partner.
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from flowscope.demo import topology as tp
from flowscope.demo.spec import DemoSpec
from flowscope.demo.topology import Topology
from flowscope.estate.aws import Identity, Tags

_TIER_NAMES = ("public", "app", "db", "cache")
_AZ_LETTERS = "abc"
_VPC_CIDR = "10.0.0.0/16"
_VPC6_CIDR = f"{ipaddress.IPv6Address(tp._VPC6)}/56"
_OFFICE = tp._PEERS["office"][0][0]
_PARTNER = tp._PEERS["partner"][0][0]

# A few real prefixes of AWS's published ip-ranges.json
# (https://ip-ranges.amazonaws.com/ip-ranges.json), with the service and region it lists them
# under, as published in January 2026 (checked against a public mirror of the file). They
# cover the demo's AWS peers (topology._PEERS). AWS also lists every prefix under AMAZON, so the
# service prefixes appear twice, as in the real file. This is a fixture, not a copy: only these
# entries, and the document's syncToken and createDate are the demo's own (``at``).
_RANGES: tuple[tuple[str, str, str], ...] = (
    ("52.216.0.0/15", "us-east-1", "S3"),
    ("3.5.0.0/19", "us-east-1", "S3"),
    ("16.182.0.0/16", "us-east-1", "S3"),
    ("52.218.0.0/17", "eu-west-1", "S3"),
    ("3.5.64.0/21", "eu-west-1", "S3"),
    ("3.218.180.0/22", "us-east-1", "DYNAMODB"),
    ("54.239.16.0/20", "us-east-1", "AMAZON"),
    ("52.94.224.0/20", "us-east-1", "AMAZON"),
    ("52.46.128.0/19", "us-east-1", "AMAZON"),
    ("2600:9000:2000::/36", "GLOBAL", "CLOUDFRONT"),
)


@dataclass(frozen=True)
class DemoEstate:
    """The demo's estate (see the module docstring)."""

    at: datetime
    snapshots: list[tuple[datetime, list[Identity]]]
    ip_ranges: bytes
    networks_yaml: str
    moved_address: str
    moved_at: datetime

    @property
    def identities(self) -> list[Identity]:
        """Every identity of every snapshot, once, in snapshot order."""
        return list(dict.fromkeys(i for _, ids in self.snapshots for i in ids))


def demo_estate(spec: DemoSpec, at: datetime) -> DemoEstate:
    """The estate of the VPC that :func:`~flowscope.demo.generate.write_demo` draws for ``spec``.

    ``at`` is when the estate is taken (the demo's "now"); it dates the ip-ranges document.
    The snapshots are at the window's start and at the move, halfway through.
    """
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("demo_estate: at must be timezone-aware (UTC)")
    topo = Topology(spec)
    builder = _Builder(spec, topo)
    start = spec.start.astimezone(UTC)
    moved_at = datetime.fromtimestamp(topo.move_at, UTC)
    before = [e for e in range(len(topo.eni_id)) if e != topo.spare]
    after = [e for e in range(len(topo.eni_id)) if e != topo.moved]
    return DemoEstate(
        at=at.astimezone(UTC),
        snapshots=[(start, builder.snapshot(before)), (moved_at, builder.snapshot(after))],
        ip_ranges=ip_ranges_document(at),
        networks_yaml=networks_yaml(spec.region),
        moved_address=topo.addrs[int(topo.eni_ip4[topo.moved])],
        moved_at=moved_at,
    )


def ip_ranges_document(at: datetime) -> bytes:
    """An ``ip-ranges.json`` of :data:`_RANGES`, in AWS's format, dated ``at``."""
    at = at.astimezone(UTC)

    def entry(cidr: str, region: str, service: str) -> dict[str, str]:
        key = "ip_prefix" if ipaddress.ip_network(cidr).version == 4 else "ipv6_prefix"
        return {key: cidr, "region": region, "service": service, "network_border_group": region}

    prefixes: list[dict[str, str]] = []
    ipv6: list[dict[str, str]] = []
    for cidr, region, service in _RANGES:
        into = ipv6 if ":" in cidr else prefixes
        into.append(entry(cidr, region, "AMAZON"))
        if service != "AMAZON":
            into.append(entry(cidr, region, service))
    doc = {
        "syncToken": str(int(at.timestamp())),
        "createDate": at.strftime("%Y-%m-%d-%H-%M-%S"),
        "prefixes": prefixes,
        "ipv6_prefixes": ipv6,
    }
    return (json.dumps(doc, indent=2) + "\n").encode()


def networks_yaml(region: str = "us-east-1") -> str:
    """The demo's networks file (:mod:`flowscope.estate.networks` format)."""
    lines = [
        "# The demo's networks: its VPC, the subnets of each tier, the office and a partner.",
        "# Load it with: flowscope networks FILE",
        f"{_VPC_CIDR}: {{name: demo-vpc, site: {region}, tenant: demo}}",
        f"{_VPC6_CIDR}: {{name: demo-vpc, site: {region}, tenant: demo}}",
    ]
    for version in (4, 6):
        for tier, cidrs in enumerate(tp._TIER_CIDRS):
            for az, cidr in enumerate(cidrs):
                name, zone = _TIER_NAMES[tier], f"{region}{_AZ_LETTERS[az]}"
                net = cidr if version == 4 else _subnet6(tier, az)
                lines.append(f"{net}: {{name: {name}, tier: {name}, az: {zone}}}")
    lines.append(f"{_OFFICE}: {{name: office, site: london}}")
    lines.append(f"{_PARTNER}: {{name: partner, tenant: acme-logistics}}")
    return "\n".join(lines) + "\n"


def _subnet6(tier: int, az: int) -> str:
    return f"{ipaddress.IPv6Address(tp._VPC6 + ((tier * 3 + az) << 64))}/64"


class _Builder:
    """Identities of the topology's ENIs and networks, with ids drawn once per spec."""

    def __init__(self, spec: DemoSpec, topo: Topology) -> None:
        self.topo = topo
        self.account = spec.account_id
        self.region = spec.region
        rng = np.random.default_rng([spec.seed, 0xE57A7E])

        def hex_id(prefix: str, digits: int = 17) -> str:
            return f"{prefix}-0{rng.bytes(9).hex()[: digits - 1]}"

        self.groups = {
            role: hex_id("sg") for role in ("alb", "bastion", "ops", "app", "db", "cache", "vpce")
        }
        self.nat_id = hex_id("nat")
        self.alb_arn = (
            f"arn:aws:elasticloadbalancing:{spec.region}:{spec.account_id}:loadbalancer/app/"
            f"web-alb/{rng.bytes(8).hex()}"
        )
        self.ssm_endpoint = hex_id("vpce")
        self.gateway_endpoints = {"s3": hex_id("vpce"), "dynamodb": hex_id("vpce")}
        taken = set(topo.addrs)
        self.public: dict[int, str] = {}
        ec2 = ipaddress.IPv4Network("44.192.0.0/11")  # an EC2 range of us-east-1: Elastic IPs
        for eni in [topo.nat, *topo.albs.tolist(), topo.bastion]:
            while True:
                address = str(ec2[int(rng.integers(1, ec2.num_addresses - 1))])
                if address not in taken:
                    taken.add(address)
                    self.public[int(eni)] = address
                    break
        self.names = self._names()

    def _names(self) -> dict[int, str]:
        topo = self.topo
        names = {topo.nat: "nat-a", topo.bastion: "bastion", topo.dns: "dns-resolver"}
        names[topo.mon] = "monitoring"
        names.update({int(e): f"batch-{i + 1}" for i, e in enumerate(topo.idle)})
        web = max(1, len(topo.apps) // 3)
        for i, e in enumerate(topo.apps.tolist()):
            names[e] = f"web-{i + 1}" if i < web else f"app-{i - web + 1}"
        prefix = names[topo.moved].split("-")[0]
        count = web if prefix == "web" else len(topo.apps) - web
        names[topo.spare] = f"{prefix}-{count + 1}"  # the next of the replaced one's group
        for i, e in enumerate(topo.dbs.tolist()):
            names[e] = "db-primary" if i == 0 else f"db-replica-{i}"
        for i, e in enumerate(topo.caches.tolist()):
            names[e] = f"sessions-{i + 1:04d}-001"
        return names

    def snapshot(self, enis: list[int]) -> list[Identity]:
        out: list[Identity] = []
        for eni in enis:
            out.extend(self._interface(eni))
        out.extend(self._networks())
        return out

    def _interface(self, eni: int) -> list[Identity]:
        topo = self.topo
        role = int(topo.role[eni])
        az = topo.az_index[eni]
        name = self.names.get(eni, "")
        kind, resource_id = "instance", topo.instance_id[eni]
        groups: tuple[str, ...] = ()
        tags: Tags = ()
        if role == tp._NAT:
            kind, resource_id, tags = "nat-gateway", self.nat_id, (("Name", name),)
        elif role == tp._ALB:
            kind, resource_id, name, groups = "load-balancer", self.alb_arn, "web-alb", ("alb",)
        elif role == tp._VPCE:
            kind, resource_id, groups = "vpc-endpoint", self.ssm_endpoint, ("vpce",)
            name = f"com.amazonaws.{self.region}.ssm"  # no Name tag: named by its service
        elif role == tp._DB:
            kind, resource_id, groups = "rds", topo.eni_id[eni], ("db",)
            tags = (("Name", name),)  # the interface's own tag, as read_estate reads it
        elif role == tp._CACHE:
            kind, resource_id, groups = "elasticache", name, ("cache",)
        else:
            group = {tp._BASTION: "bastion", tp._APP: "app", tp._SPARE: "app"}.get(role, "ops")
            groups = (group,)
            role_tag = "app" if role == tp._SPARE else tp.ROLE_NAMES[role]
            tags = (("Name", name), ("env", "demo"), ("role", role_tag))
            if role in (tp._APP, tp._SPARE):
                tags += (("aws:autoscaling:groupName", "app-asg"),)
        base = Identity(
            address=topo.eni_id[eni],
            kind=kind,
            resource_id=resource_id,
            name=name,
            vpc_id=topo.vpc_id,
            subnet_id=topo.subnet_id[eni],
            az=f"{self.region}{_AZ_LETTERS[az]}",
            security_groups=tuple(sorted(self.groups[g] for g in groups)),
            account=self.account,
            region=self.region,
            tags=tuple(sorted(tags)),
            interface_id=topo.eni_id[eni],
        )
        addresses = [topo.addrs[int(topo.eni_ip4[eni])]]
        if eni in self.public:
            addresses.append(self.public[eni])
        if topo.eni_ip6[eni]:
            addresses.append(topo.addrs[int(topo.eni_ip6[eni])])
        return [base] + [replace(base, address=a) for a in addresses]

    def _networks(self) -> list[Identity]:
        topo = self.topo
        out: list[Identity] = []

        def network(
            address: str,
            kind: str,
            resource_id: str,
            name: str,
            subnet_id: str | None = None,
            az: str | None = None,
        ) -> None:
            tags: Tags = (("Name", name),) if kind in ("subnet", "vpc") else ()
            out.append(
                Identity(
                    address=address,
                    kind=kind,
                    resource_id=resource_id,
                    name=name,
                    vpc_id=topo.vpc_id,
                    account=self.account,
                    region=self.region,
                    tags=tags,
                    subnet_id=subnet_id,
                    az=az,
                )
            )

        for tier, cidrs in enumerate(tp._TIER_CIDRS):
            for az, cidr in enumerate(cidrs):
                subnet = topo.subnets[tier][az]
                name = f"{_TIER_NAMES[tier]}-{_AZ_LETTERS[az]}"
                for address in (cidr, _subnet6(tier, az)):
                    network(
                        address,
                        "subnet",
                        subnet,
                        name,
                        subnet_id=subnet,
                        az=f"{self.region}{_AZ_LETTERS[az]}",
                    )
        for address in (_VPC_CIDR, _VPC6_CIDR):
            network(address, "vpc", topo.vpc_id, "demo-vpc")
        group_names = {"alb": "web-alb", "vpce": "endpoints"}
        for role, group in self.groups.items():
            network(group, "security-group", group, group_names.get(role, role))
        for service, endpoint in self.gateway_endpoints.items():
            network(endpoint, "vpc-endpoint", endpoint, f"com.amazonaws.{self.region}.{service}")
        return out


def write_estate(out_dir: Path, estate: DemoEstate) -> list[Path]:
    """Write ``estate`` as files: ``ip-ranges.json``, ``networks.yaml`` and one
    ``inventory-YYYYMMDDTHHMMZ.json`` per snapshot (``{"taken_at", "identities": [...]}``, each
    identity with :class:`~flowscope.estate.aws.Identity`'s fields). Returns the paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = [out_dir / "ip-ranges.json", out_dir / "networks.yaml"]
    written[0].write_bytes(estate.ip_ranges)
    written[1].write_text(estate.networks_yaml, encoding="utf-8")
    for taken_at, identities in estate.snapshots:
        path = out_dir / f"inventory-{taken_at:%Y%m%dT%H%MZ}.json"
        doc = {"taken_at": taken_at.isoformat(), "identities": [asdict(i) for i in identities]}
        path.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
        written.append(path)
    return written


def estate_items(estate: DemoEstate) -> dict[str, Any]:
    """The store items (:mod:`flowscope.estate.store`) of ``estate``: its history built from its
    snapshots (the demo's own, replacing any other), its ip-ranges and its networks."""
    from flowscope.estate import store as estate_store
    from flowscope.estate.history import empty_history, snapshot_table, update

    history = empty_history()
    for taken_at, identities in estate.snapshots:
        history = update(history, snapshot_table(identities), taken_at)
    item = estate_store.EstateItem
    return {
        estate_store.HISTORY_ITEM: item(estate_store.history_bytes(history), "demo", estate.at),
        estate_store.IP_RANGES_ITEM: item(estate.ip_ranges, "demo ip-ranges.json", estate.at),
        estate_store.NETWORKS_ITEM: item(
            estate.networks_yaml.encode(), "demo networks.yaml", estate.at
        ),
    }
