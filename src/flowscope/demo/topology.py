"""The synthetic VPC: subnets in three AZs, ENIs by role, and the table of every address a record
can name.

Part of the demo generator; :mod:`flowscope.demo.generate` is its public face.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from flowscope.demo.spec import F64, I64, DemoSpec

_SERVICES = ("-", "AMAZON", "S3", "DYNAMODB", "CLOUDFRONT")
_SVC = {name: i for i, name in enumerate(_SERVICES)}

# _VPCE: an interface VPC endpoint (SSM); _SPARE: the instance that takes over the address of
# one app instance halfway through the window (see Topology.moved).
_NAT, _ALB, _BASTION, _APP, _DB, _CACHE, _DNS, _MON, _IDLE, _VPCE, _SPARE = range(11)
ROLE_NAMES = (
    "nat",
    "alb",
    "bastion",
    "app",
    "db",
    "cache",
    "dns",
    "monitoring",
    "idle",
    "vpc-endpoint",
    "spare",
)
_PUBLIC_TIER, _APP_TIER, _DB_TIER, _CACHE_TIER = range(4)
_TIER_CIDRS = (
    ("10.0.0.0/24", "10.0.1.0/24", "10.0.2.0/24"),
    ("10.0.16.0/20", "10.0.32.0/20", "10.0.48.0/20"),
    ("10.0.64.0/24", "10.0.65.0/24", "10.0.66.0/24"),
    ("10.0.72.0/24", "10.0.73.0/24", "10.0.74.0/24"),
)
_VPC6 = int(ipaddress.IPv6Address("2600:1f18:abcd:1200::"))
_DIRS = dict(  # region word -> AZ-id letters: ap-southeast-2 -> apse2
    zip(
        "north south east west central northeast northwest southeast southwest".split(),
        "n s e w c ne nw se sw".split(),
        strict=True,
    )
)

# Public peers: (prefixes, size of the pool, AWS service code or "-").
_PEERS: dict[str, tuple[tuple[str, ...], int, str]] = {
    "api": (
        (
            "140.82.112.0/22",
            "104.16.0.0/13",
            "151.101.0.0/16",
            "142.250.0.0/15",
            "13.107.0.0/16",
            "185.199.108.0/22",
            "199.232.0.0/16",
            "23.32.0.0/11",
            "34.96.0.0/12",
        ),
        400,
        "-",
    ),
    "amazon": (("54.239.16.0/20", "52.94.224.0/20", "52.46.128.0/19"), 60, "AMAZON"),
    "s3": (("52.216.0.0/15", "3.5.0.0/19", "16.182.0.0/16"), 300, "S3"),
    "s3eu": (("52.218.0.0/17", "3.5.64.0/21"), 40, "S3"),  # a bucket in eu-west-1, via the NAT
    "ddb": (("3.218.180.0/22",), 40, "DYNAMODB"),
    "dns": (("8.8.8.8/32", "8.8.4.4/32", "1.1.1.1/32", "1.0.0.1/32"), 4, "-"),
    "ntp": (("162.159.200.0/24", "129.6.15.0/28", "216.239.35.0/29"), 8, "-"),
    "mirror": (("91.189.91.0/24", "185.125.190.0/24", "151.101.2.0/24"), 12, "-"),
    "v6site": (
        ("2606:4700::/32", "2a00:1450:4001::/48", "2620:1ec::/36", "2a03:2880::/32"),
        200,
        "-",
    ),
    "cloudfront6": (("2600:9000:2000::/36",), 40, "CLOUDFRONT"),
    "web6": (
        (
            "2a01:e0a::/32",
            "2003:e0::/28",
            "2600:1700::/28",
            "2601:600::/24",
            "2405:201::/32",
            "2a02:c7f::/32",
            "2604:3d08::/32",
        ),
        3000,
        "-",
    ),
    "scanner": (
        (
            "45.128.0.0/10",
            "185.224.0.0/13",
            "193.32.0.0/14",
            "89.248.160.0/19",
            "162.142.0.0/16",
            "141.98.0.0/16",
            "194.26.0.0/16",
        ),
        7,
        "-",
    ),
    "admin": (("81.2.0.0/16", "203.175.0.0/16", "73.128.0.0/10"), 3, "-"),
    # The networks file of the demo's estate names these two (flowscope.demo.estate).
    "office": (("81.2.69.160/28",), 6, "-"),
    "partner": (("217.160.0.0/27",), 5, "-"),
}
_RESERVED_FIRST_OCTETS = {0, 10, 100, 127, 169, 172, 192, 198}


@dataclass
class _Pool:
    first: int  # index of the first address in the address table
    cdf: F64  # cumulative popularity (Zipf-like)

    def pick(self, rng: np.random.Generator, n: int) -> I64:
        pos = np.searchsorted(self.cdf, rng.random(n), side="right")
        return np.minimum(pos, len(self.cdf) - 1).astype(np.int64) + self.first


def _zipf_cdf(rng: np.random.Generator, n: int, s: float) -> F64:
    w = 1.0 / np.arange(1, n + 1, dtype=np.float64) ** s
    rng.shuffle(w)
    c = np.cumsum(w)
    return np.asarray(c / c[-1], dtype=np.float64)


def _hex_id(rng: np.random.Generator, prefix: str) -> str:
    return f"{prefix}-0{rng.bytes(8).hex()}"


def _az_prefix(region: str) -> str:
    parts = region.split("-")
    if len(parts) < 3:
        return region.replace("-", "")
    return parts[0] + "".join(_DIRS.get(p, p[:1]) for p in parts[1:-1]) + parts[-1]


class Topology:
    """ENIs, subnets and the table of every address a record can name (index 0 is ``-``)."""

    def __init__(self, spec: DemoSpec) -> None:
        rng = np.random.default_rng([spec.seed, 0x70B0])
        self.account = spec.account_id
        self.region = spec.region
        self.vpc_id = _hex_id(rng, "vpc")
        numbers = (1, 2, 4) if spec.region == "us-east-1" else (1, 2, 3)
        az_ids = [f"{_az_prefix(spec.region)}-az{n}" for n in numbers]
        self.addrs: list[str] = ["-"]
        svc: list[int] = [0]

        subnet_ids = [[_hex_id(rng, "subnet") for _ in range(3)] for _ in _TIER_CIDRS]
        used: set[int] = set()

        def host(tier: int, az: int) -> int:
            net = ipaddress.IPv4Network(_TIER_CIDRS[tier][az])
            while True:
                a = int(net.network_address) + int(rng.integers(4, net.num_addresses - 1))
                if a not in used:
                    used.add(a)
                    return a

        # (role, tier, AZ) in a fixed order, AZs round-robin; the rest of the ENIs are apps.
        e = spec.enis
        n_alb = 3 if e >= 16 else 2
        n_db = max(2, round(e * 0.08))
        n_cache = max(2, round(e * 0.06))
        n_vpce = 2 if e >= 16 else 1  # the SSM interface endpoint: one ENI per AZ it serves
        n_app = e - 1 - n_alb - 1 - 1 - 1 - 1 - n_vpce - n_db - n_cache
        plan: list[tuple[int, int, int]] = [(_NAT, _PUBLIC_TIER, 0)]
        plan += [(_ALB, _PUBLIC_TIER, i % 3) for i in range(n_alb)]
        plan += [(_BASTION, _PUBLIC_TIER, 0), (_DNS, _APP_TIER, 0), (_MON, _APP_TIER, 1)]
        plan += [(_IDLE, _APP_TIER, 2)]
        plan += [(_VPCE, _APP_TIER, i % 3) for i in range(n_vpce)]
        plan += [(_DB, _DB_TIER, i % 3) for i in range(n_db)]
        plan += [(_CACHE, _CACHE_TIER, (i + 1) % 3) for i in range(n_cache)]
        plan += [(_APP, _APP_TIER, i % 3) for i in range(n_app)]

        self.az_index: list[int] = []
        self.tier: list[int] = []
        self.subnets = subnet_ids
        self.eni_id: list[str] = []
        self.instance_id: list[str] = []
        self.subnet_id: list[str] = []
        self.az_id: list[str] = []
        ip4: list[int] = []
        ip6: list[int] = []
        roles: list[int] = []
        for role, tier, az in plan:
            self.eni_id.append(_hex_id(rng, "eni"))
            managed = role in (_NAT, _ALB, _DB, _CACHE, _VPCE)  # requester-managed: no instance
            self.instance_id.append("-" if managed else _hex_id(rng, "i"))
            self.subnet_id.append(subnet_ids[tier][az])
            self.az_id.append(az_ids[az])
            ip4.append(len(self.addrs))
            self.addrs.append(str(ipaddress.IPv4Address(host(tier, az))))
            svc.append(0)
            if role in (_ALB, _BASTION, _APP, _MON, _DNS):
                sub6 = _VPC6 + ((tier * 3 + az) << 64)
                ip6.append(len(self.addrs))
                self.addrs.append(
                    ipaddress.IPv6Address(sub6 + int(rng.integers(1, 2**62))).compressed
                )
                svc.append(0)
            else:
                ip6.append(0)
            roles.append(role)
            self.az_index.append(az)
            self.tier.append(tier)
        self.eni_ip4 = np.array(ip4, dtype=np.int64)
        self.eni_ip6 = np.array(ip6, dtype=np.int64)
        self.role = np.array(roles, dtype=np.int64)
        # Two flow logs on different subnets: the v5 one covers the subnets of the third AZ.
        self.flow_log = (np.array(self.az_index) == 2).astype(np.int64)
        self.phase = rng.integers(0, 60, len(plan)).astype(np.int64)

        def group(*rs: int) -> I64:
            return np.flatnonzero(np.isin(self.role, rs)).astype(np.int64)

        self.nat = int(group(_NAT)[0])
        self.albs = group(_ALB)
        self.bastion = int(group(_BASTION)[0])
        self.dns = int(group(_DNS)[0])
        self.mon = int(group(_MON)[0])
        self.apps = group(_APP)
        self.dbs = group(_DB)
        self.caches = group(_CACHE)
        self.idle = group(_IDLE)
        self.vpces = group(_VPCE)
        self.instances = group(_APP, _BASTION, _DNS, _MON)
        self.public = group(_ALB, _BASTION)
        self.quiet = group(_DB, _CACHE, _BASTION, _MON)
        self.busy = group(_NAT, _ALB)
        app_w = rng.lognormal(0.0, 0.7, len(self.apps))
        self.app_cdf = np.cumsum(app_w) / app_w.sum()
        db_w = np.full(len(self.dbs), 0.4 / max(1, len(self.dbs) - 1))
        db_w[0] = 0.6  # the writer
        self.db_cdf = np.cumsum(db_w) / db_w.sum()

        # Public peers.
        self.pools: dict[str, _Pool] = {}
        for name, (prefixes, size, code) in _PEERS.items():
            first = len(self.addrs)
            nets = [ipaddress.ip_network(p) for p in prefixes]
            seen: set[str] = set()
            while len(seen) < size:
                net = nets[int(rng.integers(0, len(nets)))]
                span = min(net.num_addresses, 2**62)
                at = int(net.network_address) + (int(rng.integers(0, span)) if span > 2 else 0)
                text = (
                    str(ipaddress.IPv4Address(at))
                    if net.version == 4
                    else ipaddress.IPv6Address(at).compressed
                )
                if text not in seen:
                    seen.add(text)
                    self.addrs.append(text)
                    svc.append(_SVC[code])
            self.pools[name] = _Pool(first, _zipf_cdf(rng, size, 1.0))
        for name, size, s in (("web4", 30000, 1.05), ("noise", 5000, 0.3)):
            first = len(self.addrs)
            octets = np.array([o for o in range(1, 224) if o not in _RESERVED_FIRST_OCTETS])
            a = rng.choice(octets, size)
            rest = rng.integers(0, 256, (size, 3))
            rest[:, 2] = np.clip(rest[:, 2], 1, 254)
            parts = [pc.cast(pa.array(x), pa.string()) for x in (a, *rest.T)]
            self.addrs += pc.binary_join_element_wise(*parts, ".").to_pylist()
            svc += [0] * size
            self.pools[name] = _Pool(first, _zipf_cdf(rng, size, s))
        self.svc = np.array(svc, dtype=np.int64)

        # Halfway through the window one app instance is replaced: a new instance with a new
        # ENI (role _SPARE, never picked by the traffic itself) takes over its addresses, and
        # every record from ``move_at`` on that the old ENI would have logged comes from the new
        # one (see records._iter_batches), so the estate's history has a move to show.
        self.moved = int(self.apps[min(3, len(self.apps) - 1)])
        self.spare = len(self.eni_id)
        self.move_at = int(spec.start.timestamp()) + max(60, int(spec.hours * 3600 / 2) // 60 * 60)
        self.eni_id.append(_hex_id(rng, "eni"))
        self.instance_id.append(_hex_id(rng, "i"))
        self.subnet_id.append(self.subnet_id[self.moved])
        self.az_id.append(self.az_id[self.moved])
        self.az_index.append(self.az_index[self.moved])
        self.tier.append(self.tier[self.moved])
        self.eni_ip4 = np.append(self.eni_ip4, self.eni_ip4[self.moved])
        self.eni_ip6 = np.append(self.eni_ip6, self.eni_ip6[self.moved])
        self.role = np.append(self.role, _SPARE)
        self.flow_log = np.append(self.flow_log, self.flow_log[self.moved])
        self.phase = np.append(self.phase, self.phase[self.moved])
        # The attackers of ``DemoSpec.attacks``, last, so the normal traffic keeps its addresses.
        self.attackers: dict[str, int] | None = None
        if spec.attacks:
            from flowscope.demo.attacks import add_addresses

            self.attackers = add_addresses(self)
