"""Realistic synthetic AWS VPC Flow Logs, generated with numpy and written as AWS would.

One VPC (10.0.0.0/16 plus an IPv6 /56) in three AZs: public subnets holding a NAT gateway, the
ENIs of an application load balancer and a bastion; private app subnets with the app instances,
an internal DNS resolver, a monitoring host and an idle instance; db subnets with RDS ENIs;
cache subnets with ElastiCache ENIs. Traffic is drawn per *conversation* (a 5-tuple living one
or more 60 s aggregation intervals) and written as AWS records it: one record per interval,
direction and recording ENI, so a request and its reply are two records, a flow between two
instances of the VPC four, and an instance reaching the internet through the NAT gateway six
(the NAT ENI records the forwarded packets with ``pkt-dstaddr`` / ``pkt-srcaddr`` set to the
real peer, and its own port translation).

Mix: clients on the internet calling the load balancer on 443 (some over IPv6), the load
balancer and the apps calling apps on 8080, apps using PostgreSQL (5432, pooled long-lived
connections) and Redis (6379), DNS to the internal resolver which forwards upstream, NTP,
HTTP/HTTPS to the internet through the NAT gateway, S3 and DynamoDB through gateway endpoints,
IPv6 egress, ICMP pings from the monitoring host, SSH sessions through the bastion, scanners
probing 22/3389 and other ports (REJECT, SYN only), packets arriving after close (REJECT),
NODATA and SKIPDATA records. Payload sizes are heavy tailed (lognormal body, Pareto tail up to
multi-GB S3 transfers); packet counts follow from payload, MTU and ACKs, so bytes/packets stays
between 40 and 9001. Volume follows a diurnal curve peaking at 15:00 UTC.

The S3 layout is one gzip object per flow log and 5-minute window of ``end`` (AWS's publishing
period), named ``{account}_vpcflowlogs_{region}_{flow-log-id}_{YYYYMMDDTHHmmZ}_{hash8}.log.gz``,
starting with the header line and sorted by ``end``. Text is built column-wise with Arrow and
compressed on worker threads (zlib releases the GIL).

Reference: ``shared/docs/vpc-flow-logs.md`` sections 1, 2, 3, 4.2 and 6.
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import os
import struct
import sys
import zlib
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]

# --------------------------------------------------------------------------------------------
# Formats
# --------------------------------------------------------------------------------------------

_VERSION_OF: dict[str, int] = {
    **dict.fromkeys(
        "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes"
        " start end action log-status".split(),
        2,
    ),
    **dict.fromkeys(
        "vpc-id subnet-id instance-id tcp-flags type pkt-srcaddr pkt-dstaddr".split(), 3
    ),
    **dict.fromkeys("region az-id sublocation-type sublocation-id".split(), 4),
    **dict.fromkeys(
        "pkt-src-aws-service pkt-dst-aws-service flow-direction traffic-path".split(), 5
    ),
}

DEFAULT_FIELDS: tuple[str, ...] = tuple(f for f, v in _VERSION_OF.items() if v == 2)
# The field order of AWS's own v5 example (doc section 6), not the table order.
V5_FIELDS: tuple[str, ...] = tuple(
    "version srcaddr dstaddr srcport dstport protocol start end type packets bytes account-id"
    " vpc-id subnet-id instance-id interface-id region az-id sublocation-type sublocation-id"
    " action tcp-flags pkt-srcaddr pkt-dstaddr pkt-src-aws-service pkt-dst-aws-service"
    " traffic-path flow-direction log-status".split()
)


def to_log_format(fields: Sequence[str]) -> str:
    """``['srcaddr', 'dstaddr']`` -> ``'${srcaddr} ${dstaddr}'``."""
    return " ".join(f"${{{f}}}" for f in fields)


def format_fields(log_format: str) -> list[str]:
    """The field names of an AWS ``LogFormat`` string, checked against the v2..v5 fields."""
    names = [tok.strip()[2:-1] for tok in log_format.split()]
    bad = [n for n in names if n not in _VERSION_OF]
    if bad or not names:
        raise ValueError(f"unsupported fields for the demo generator: {bad or log_format!r}")
    return names


DEFAULT_FORMAT: str = to_log_format(DEFAULT_FIELDS)
V5_FORMAT: str = to_log_format(V5_FIELDS)

FLOW_LOGS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("fl-0demo0default", DEFAULT_FIELDS),
    ("fl-0demo0v5custom", V5_FIELDS),
)
WINDOW_SECONDS = 300  # S3 publishing period: one object per flow log and 5 minutes of `end`


def _yesterday_midnight() -> datetime:
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - timedelta(days=1)


@dataclass(frozen=True)
class DemoSpec:
    """What to generate. ``records=None`` gives the natural volume (~450k records a day)."""

    start: datetime = field(default_factory=_yesterday_midnight)
    hours: float = 24.0
    records: int | None = None
    seed: int = 7
    account_id: str = "123456789012"
    region: str = "us-east-1"
    enis: int = 48

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.start.utcoffset() is None:
            raise ValueError("DemoSpec.start must be timezone-aware (UTC)")
        if not self.hours > 0:
            raise ValueError("DemoSpec.hours must be > 0")
        if self.records is not None and self.records <= 0:
            raise ValueError("DemoSpec.records must be > 0")
        if self.enis < 12:
            raise ValueError("DemoSpec.enis must be >= 12")


# --------------------------------------------------------------------------------------------
# Topology
# --------------------------------------------------------------------------------------------

_SERVICES = ("-", "AMAZON", "S3", "DYNAMODB", "CLOUDFRONT")
_SVC = {name: i for i, name in enumerate(_SERVICES)}

_NAT, _ALB, _BASTION, _APP, _DB, _CACHE, _DNS, _MON, _IDLE = range(9)
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
    "amazon": (("52.94.0.0/16", "54.239.0.0/17", "52.46.0.0/18"), 60, "AMAZON"),
    "s3": (("52.216.0.0/15", "3.5.0.0/19", "16.182.0.0/16"), 300, "S3"),
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


class _Topology:
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
        n_app = e - 1 - n_alb - 1 - 1 - 1 - 1 - n_db - n_cache
        plan: list[tuple[int, int, int]] = [(_NAT, _PUBLIC_TIER, 0)]
        plan += [(_ALB, _PUBLIC_TIER, i % 3) for i in range(n_alb)]
        plan += [(_BASTION, _PUBLIC_TIER, 0), (_DNS, _APP_TIER, 0), (_MON, _APP_TIER, 1)]
        plan += [(_IDLE, _APP_TIER, 2)]
        plan += [(_DB, _DB_TIER, i % 3) for i in range(n_db)]
        plan += [(_CACHE, _CACHE_TIER, (i + 1) % 3) for i in range(n_cache)]
        plan += [(_APP, _APP_TIER, i % 3) for i in range(n_app)]

        self.eni_id: list[str] = []
        self.instance_id: list[str] = []
        self.subnet_id: list[str] = []
        self.az_id: list[str] = []
        ip4: list[int] = []
        ip6: list[int] = []
        roles: list[int] = []
        azs: list[int] = []
        for role, tier, az in plan:
            self.eni_id.append(_hex_id(rng, "eni"))
            managed = role in (_NAT, _ALB, _DB, _CACHE)  # requester-managed: no instance id
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
            azs.append(az)
        self.eni_ip4 = np.array(ip4, dtype=np.int64)
        self.eni_ip6 = np.array(ip6, dtype=np.int64)
        self.role = np.array(roles, dtype=np.int64)
        # Two flow logs on different subnets: the v5 one covers the subnets of the third AZ.
        self.flow_log = (np.array(azs) == 2).astype(np.int64)
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

        self.renderers: dict[tuple[str, ...], _Renderer] = {}


# --------------------------------------------------------------------------------------------
# Conversations
# --------------------------------------------------------------------------------------------

_TCP, _UDP, _ICMP, _ICMP6 = 6, 17, 1, 58
_STREAM, _DGRAM, _PROBE = 0, 1, 2  # TCP with payload; UDP/ICMP datagrams; one-sided REJECT
_CONV_DEFAULTS: dict[str, int] = {
    "n_int": 1,
    "dur": -1,
    "cli_eni": -1,
    "srv_eni": -1,
    "cli": 0,
    "srv": 0,
    "cport": 0,
    "sport": 0,
    "proto": _TCP,
    "fwd": 0,
    "rev": 0,
    "fwd_n": 1,
    "rev_n": 1,
    "mtu": 1500,
    "hdr": 52,
    "kind": _STREAM,
    "nat": 0,
    "reject": 0,
    "est": 0,
    "rst": 0,
    "v6": 0,
    "cpath": 1,
    "spath": 1,
    "pflag": 2,
    "nat_port": 0,
}
Conv = dict[str, I64]
Cols = dict[str, I64]
_COLS = (
    "eni src dst psrc pdst sport dport proto packets bytes start end action status flags"
    " type dir path"
).split()
_ACCEPT, _REJECT = 1, 2  # index into ("-", "ACCEPT", "REJECT")
_INGRESS, _EGRESS = 1, 2  # index into ("-", "ingress", "egress")


def _conv(t: I64, **cols: npt.ArrayLike) -> Conv:
    n = len(t)
    out: Conv = {"t": t}
    for key, default in _CONV_DEFAULTS.items():
        v = np.asarray(cols.pop(key, default)).astype(np.int64)
        out[key] = np.full(n, v, dtype=np.int64) if v.ndim == 0 else v
    if cols:
        raise TypeError(f"unknown conversation columns {sorted(cols)}")
    return out


def _diurnal(t: I64) -> F64:
    """1.0 on average over a day; 0.3 at 03:00 UTC, 1.7 at 15:00 UTC."""
    hour = (t % 86400) / 3600.0
    return np.asarray(0.3 + 0.7 * (1.0 + np.cos(2 * np.pi * (hour - 15.0) / 24.0)), np.float64)


class _Traffic:
    """Draws the conversations of each kind of traffic for a list of start times."""

    def __init__(self, topo: _Topology, rng: np.random.Generator) -> None:
        self.topo = topo
        self.rng = rng

    # helpers ---------------------------------------------------------------------------------
    def eph(self, n: int) -> I64:
        return self.rng.integers(32768, 61000, n, dtype=np.int64)

    def any_port(self, n: int) -> I64:
        r = self.rng.random(n)
        lo = np.where(r < 0.5, 49152, np.where(r < 0.8, 32768, 1024))
        hi = np.where(r < 0.5, 65536, np.where(r < 0.8, 61000, 65536))
        out: I64 = lo + (self.rng.random(n) * (hi - lo)).astype(np.int64)
        return out

    def heavy(
        self,
        n: int,
        median: float,
        sigma: float,
        tail_p: float = 0.0,
        tail_scale: float = 0.0,
        cap: float = 2e10,
    ) -> I64:
        x = median * self.rng.lognormal(0.0, sigma, n)
        if tail_p > 0:
            tail = self.rng.random(n) < tail_p
            x = np.where(tail, tail_scale * (1.0 + self.rng.pareto(1.1, n)), x)
        return np.minimum(x, cap).astype(np.int64)

    def pick(self, group: I64, n: int, cdf: F64 | None = None) -> I64:
        if cdf is None:
            return group[self.rng.integers(0, len(group), n)]
        pos = np.minimum(np.searchsorted(cdf, self.rng.random(n), side="right"), len(group) - 1)
        return group[pos]

    def apps(self, n: int) -> I64:
        return self.pick(self.topo.apps, n, self.topo.app_cdf)

    def keepalive(self, n: int, p: float, mean: float) -> I64:
        more = self.rng.random(n) < p
        return np.where(more, 1 + self.rng.geometric(1.0 / mean, n), 1).astype(np.int64)

    def bulk_intervals(self, n_int: I64, total: I64) -> I64:
        """Big transfers last long enough for 40-110 MB/s per 60 s interval."""
        rate = self.rng.uniform(40e6, 110e6, len(total)) * 60.0
        return np.maximum(n_int, np.ceil(total / rate).astype(np.int64))

    # traffic ---------------------------------------------------------------------------------
    def web_in(self, t: I64) -> Conv:
        n, tp, r = len(t), self.topo, self.rng
        v6 = r.random(n) < 0.3
        alb = self.pick(tp.albs, n)
        cli = np.where(v6, tp.pools["web6"].pick(r, n), tp.pools["web4"].pick(r, n))
        srv = np.where(v6, tp.eni_ip6[alb], tp.eni_ip4[alb])
        http = r.random(n) < 0.05
        rev = np.where(http, r.integers(180, 400, n), self.heavy(n, 9000, 1.6, 0.003, 5e6, 3e9))
        fwd = self.heavy(n, 700, 0.7)
        n_int = self.bulk_intervals(self.keepalive(n, 0.12, 3.0), rev)
        return _conv(
            t,
            srv_eni=alb,
            cli=cli,
            srv=srv,
            cport=self.any_port(n),
            sport=np.where(http, 80, 443),
            fwd=fwd,
            rev=rev,
            n_int=n_int,
            hdr=np.where(v6, 72, 52),
            v6=v6.astype(np.int64),
            spath=2,
            rst=(r.random(n) < 0.04).astype(np.int64),
        )

    def alb_app(self, t: I64) -> Conv:
        n, tp = len(t), self.topo
        alb, app = self.pick(tp.albs, n), self.apps(n)
        n_int = self.keepalive(n, 0.35, 4.0)
        est = ((n_int > 1) & (self.rng.random(n) < 0.5)).astype(np.int64)
        return _conv(
            t,
            cli_eni=alb,
            srv_eni=app,
            cli=tp.eni_ip4[alb],
            srv=tp.eni_ip4[app],
            cport=self.rng.integers(1024, 65536, n),
            sport=8080,
            fwd=self.heavy(n, 900, 0.7) * n_int,
            rev=self.heavy(n, 7000, 1.5, 0.002, 3e6) * n_int,
            n_int=n_int,
            est=est,
            mtu=9001,
        )

    def app_app(self, t: I64) -> Conv:
        n, tp = len(t), self.topo
        a = self.apps(n)
        b = self.pick(tp.apps, n)
        b = np.where(a == b, tp.apps[(np.searchsorted(tp.apps, b) + 1) % len(tp.apps)], b)
        return _conv(
            t,
            cli_eni=a,
            srv_eni=b,
            cli=tp.eni_ip4[a],
            srv=tp.eni_ip4[b],
            cport=self.eph(n),
            sport=8080,
            fwd=self.heavy(n, 600, 0.8),
            rev=self.heavy(n, 3000, 1.3),
            n_int=self.keepalive(n, 0.15, 3.0),
            mtu=9001,
        )

    def _pooled(
        self,
        t: I64,
        servers: I64,
        cdf: F64 | None,
        port: int,
        f: float,
        rv: float,
        p_est: float,
        mean: float,
    ) -> Conv:
        n, tp, r = len(t), self.topo, self.rng
        app = self.apps(n)
        srv = self.pick(servers, n, cdf)
        est = r.random(n) < p_est
        n_int = np.where(est, 1 + r.geometric(1.0 / mean, n), self.keepalive(n, 0.1, 2.0))
        fwd = self.heavy(n, f, 1.0) * n_int
        rev = self.heavy(n, rv, 1.5, 0.002, 2e7, 2e9) * n_int
        return _conv(
            t,
            cli_eni=app,
            srv_eni=srv,
            cli=tp.eni_ip4[app],
            srv=tp.eni_ip4[srv],
            cport=self.eph(n),
            sport=port,
            fwd=fwd,
            rev=rev,
            n_int=n_int,
            est=est.astype(np.int64),
            mtu=9001,
        )

    def app_db(self, t: I64) -> Conv:
        return self._pooled(t, self.topo.dbs, self.topo.db_cdf, 5432, 1500, 4000, 0.7, 6.0)

    def app_cache(self, t: I64) -> Conv:
        return self._pooled(t, self.topo.caches, None, 6379, 400, 1500, 0.6, 3.0)

    def dns_int(self, t: I64) -> Conv:
        n, tp, r = len(t), self.topo, self.rng
        others = np.array([tp.bastion, tp.mon], dtype=np.int64)
        cli = np.where(r.random(n) < 0.92, self.apps(n), self.pick(others, n))
        q = r.integers(1, 4, n)
        return _conv(
            t,
            cli_eni=cli,
            srv_eni=tp.dns,
            cli=tp.eni_ip4[cli],
            srv=tp.eni_ip4[tp.dns],
            cport=self.eph(n),
            sport=53,
            proto=_UDP,
            kind=_DGRAM,
            fwd_n=q,
            rev_n=q,
            fwd=r.integers(60, 100, n),
            rev=r.integers(90, 420, n),
            dur=r.integers(0, 3, n),
        )

    def _via_nat(self, t: I64, cli: I64, pool: str, port: int, **kw: npt.ArrayLike) -> Conv:
        n, tp = len(t), self.topo
        return _conv(
            t,
            cli_eni=cli,
            cli=tp.eni_ip4[cli],
            srv=tp.pools[pool].pick(self.rng, n),
            sport=port,
            nat=1,
            nat_port=self.rng.integers(1024, 65536, n),
            **kw,
        )

    def dns_up(self, t: I64) -> Conv:
        n, r = len(t), self.rng
        cli = np.full(n, self.topo.dns, dtype=np.int64)
        return self._via_nat(
            t,
            cli,
            "dns",
            53,
            cport=self.eph(n),
            proto=_UDP,
            kind=_DGRAM,
            fwd=r.integers(70, 100, n),
            rev=r.integers(100, 500, n),
            dur=r.integers(0, 2, n),
        )

    def api_out(self, t: I64) -> Conv:
        n = len(t)
        rev = self.heavy(n, 6000, 1.7, 0.002, 2e7, 3e9)
        n_int = self.bulk_intervals(self.keepalive(n, 0.1, 3.0), rev)
        return self._via_nat(
            t,
            self.apps(n),
            "api",
            443,
            cport=self.eph(n),
            fwd=self.heavy(n, 1200, 0.9),
            rev=rev,
            n_int=n_int,
        )

    def aws_out(self, t: I64) -> Conv:
        n = len(t)
        return self._via_nat(
            t,
            self.apps(n),
            "amazon",
            443,
            cport=self.eph(n),
            fwd=self.heavy(n, 1500, 0.8),
            rev=self.heavy(n, 2500, 1.0),
            n_int=self.keepalive(n, 0.2, 2.0),
        )

    def _endpoint(self, t: I64, pool: str, big: bool) -> Conv:
        n, tp, r = len(t), self.topo, self.rng
        app = self.apps(n)
        if big:
            size = self.heavy(n, 40000, 2.3, 0.01, 5e8, 3e10)
            put = r.random(n) < 0.4
            fwd = np.where(put, size, self.heavy(n, 900, 0.6))
            rev = np.where(put, self.heavy(n, 600, 0.5), size)
            n_int = self.bulk_intervals(np.ones(n, dtype=np.int64), size)
        else:
            fwd, rev = self.heavy(n, 700, 0.6), self.heavy(n, 1200, 1.0)
            n_int = self.keepalive(n, 0.15, 2.0)
        return _conv(
            t,
            cli_eni=app,
            cli=tp.eni_ip4[app],
            srv=tp.pools[pool].pick(r, n),
            cport=self.eph(n),
            sport=443,
            fwd=fwd,
            rev=rev,
            n_int=n_int,
            cpath=7,
        )

    def s3(self, t: I64) -> Conv:
        return self._endpoint(t, "s3", True)

    def ddb(self, t: I64) -> Conv:
        return self._endpoint(t, "ddb", False)

    def http_out(self, t: I64) -> Conv:
        n = len(t)
        rev = self.heavy(n, 60000, 1.8, 0.01, 5e7, 2e9)
        n_int = self.bulk_intervals(np.ones(n, dtype=np.int64), rev)
        return self._via_nat(
            t,
            self.apps(n),
            "mirror",
            80,
            cport=self.eph(n),
            fwd=self.heavy(n, 400, 0.4),
            rev=rev,
            n_int=n_int,
        )

    def ntp(self, t: I64) -> Conv:
        n, tp, r = len(t), self.topo, self.rng
        cli = self.pick(tp.instances, n)
        direct = cli == tp.bastion
        conv = self._via_nat(
            t,
            cli,
            "ntp",
            123,
            cport=np.where(r.random(n) < 0.5, 123, self.eph(n)),
            proto=_UDP,
            kind=_DGRAM,
            fwd=76,
            rev=76,
            dur=0,
        )
        conv["nat"] = np.where(direct, 0, 1).astype(np.int64)
        conv["cpath"] = np.where(direct, 8, 1).astype(np.int64)
        return conv

    def v6_out(self, t: I64) -> Conv:
        n, tp, r = len(t), self.topo, self.rng
        app = self.apps(n)
        cf = r.random(n) < 0.2
        srv = np.where(cf, tp.pools["cloudfront6"].pick(r, n), tp.pools["v6site"].pick(r, n))
        rev = self.heavy(n, 8000, 1.7, 0.002, 2e7, 2e9)
        return _conv(
            t,
            cli_eni=app,
            cli=tp.eni_ip6[app],
            srv=srv,
            cport=self.eph(n),
            sport=443,
            fwd=self.heavy(n, 1000, 0.8),
            rev=rev,
            n_int=self.bulk_intervals(self.keepalive(n, 0.1, 3.0), rev),
            v6=1,
            hdr=72,
            cpath=8,
        )

    def ssh(self, t: I64) -> Conv:
        n, tp, r = len(t), self.topo, self.rng
        hop = r.random(n) < 0.5  # bastion -> app, else admin -> bastion
        app = self.apps(n)
        n_int = 1 + r.geometric(0.08, n)
        return _conv(
            t,
            cli_eni=np.where(hop, tp.bastion, -1),
            srv_eni=np.where(hop, app, tp.bastion),
            cli=np.where(hop, tp.eni_ip4[tp.bastion], tp.pools["admin"].pick(r, n)),
            srv=np.where(hop, tp.eni_ip4[app], tp.eni_ip4[tp.bastion]),
            cport=np.where(hop, self.eph(n), self.any_port(n)),
            sport=22,
            fwd=self.heavy(n, 2500, 1.0) * n_int,
            rev=self.heavy(n, 15000, 1.5) * n_int,
            n_int=n_int,
            spath=np.where(hop, 1, 8),
            mtu=np.where(hop, 9001, 1500),
        )

    def ping(self, t: I64) -> Conv:
        n, tp, r = len(t), self.topo, self.rng
        dst = self.pick(tp.instances[tp.instances != tp.mon], n)
        v6 = r.random(n) < 0.1
        k = r.integers(1, 5, n)
        size = np.where(v6, 104, 84)
        return _conv(
            t,
            cli_eni=tp.mon,
            srv_eni=dst,
            cli=np.where(v6, tp.eni_ip6[tp.mon], tp.eni_ip4[tp.mon]),
            srv=np.where(v6, tp.eni_ip6[dst], tp.eni_ip4[dst]),
            proto=np.where(v6, _ICMP6, _ICMP),
            kind=_DGRAM,
            fwd_n=k,
            rev_n=k,
            fwd=size,
            rev=size,
            v6=v6.astype(np.int64),
            dur=k - 1,
        )

    def scan(self, t: I64) -> Conv:
        n, tp, r = len(t), self.topo, self.rng
        dst = self.pick(tp.public, n)
        u = r.random(n)
        odd = np.array([23, 445, 1433, 3306, 5900, 8080, 8443, 6379, 9200, 2375, 5432, 25, 21, 81])
        port = np.where(u < 0.55, 22, np.where(u < 0.85, 3389, odd[r.integers(0, len(odd), n)]))
        icmp = r.random(n) < 0.04
        noise = r.random(n) < 0.15  # background radiation from anywhere, any port
        cli = np.where(noise, tp.pools["noise"].pick(r, n), tp.pools["scanner"].pick(r, n))
        port = np.where(noise, r.integers(1, 65536, n), port)
        return _conv(
            t,
            srv_eni=dst,
            cli=cli,
            srv=tp.eni_ip4[dst],
            cport=np.where(icmp, 0, self.any_port(n)),
            sport=np.where(icmp, 0, port),
            proto=np.where(icmp, _ICMP, _TCP),
            kind=_PROBE,
            reject=1,
            fwd_n=np.where(r.random(n) < 0.75, 1, 2),
            fwd=np.where(icmp, 84, r.choice(np.array([40, 44, 60]), n)),
            pflag=np.where(icmp, 0, 2),
        )

    def late(self, t: I64) -> Conv:
        """REJECTs that are not scans: packets after close, and a misconfigured client."""
        n, tp, r = len(t), self.topo, self.rng
        wrong = r.random(n) < 0.3  # app -> db on 3306, dropped by the db security group
        alb = self.pick(tp.albs, n)
        app, db = self.apps(n), self.pick(tp.dbs, n)
        srv_eni = np.where(wrong, db, alb)
        return _conv(
            t,
            cli_eni=np.where(wrong, app, -1),
            srv_eni=srv_eni,
            cli=np.where(wrong, tp.eni_ip4[app], tp.pools["web4"].pick(r, n)),
            srv=tp.eni_ip4[srv_eni],
            cport=np.where(wrong, self.eph(n), self.any_port(n)),
            sport=np.where(wrong, 3306, 443),
            kind=_PROBE,
            reject=1,
            fwd_n=r.integers(1, 4, n),
            fwd=np.where(wrong, 60, 52),
            pflag=np.where(wrong, 2, r.choice(np.array([1, 4, 4, 0]), n)),
        )


# (name, conversations per minute for 48 ENIs at the daily mean, diurnal weight 0..1)
_MIX: tuple[tuple[str, float, float], ...] = (
    ("web_in", 20.0, 1.0),
    ("alb_app", 4.5, 1.0),
    ("app_app", 3.0, 0.7),
    ("app_db", 2.2, 0.6),
    ("app_cache", 3.0, 0.6),
    ("dns_int", 4.5, 0.6),
    ("dns_up", 1.0, 0.6),
    ("api_out", 5.5, 0.8),
    ("aws_out", 1.5, 0.3),
    ("s3", 1.5, 0.5),
    ("ddb", 2.5, 0.6),
    ("http_out", 0.15, 0.2),
    ("ntp", 1.0, 0.0),
    ("v6_out", 4.5, 0.8),
    ("ssh", 0.04, 1.0),
    ("ping", 1.5, 0.0),
    ("scan", 3.5, 0.0),
    ("late", 0.7, 1.0),
)
_NATURAL_PER_MINUTE = 320.0  # records a minute for 48 ENIs at the daily mean (calibrated)
_NODATA_SHARE, _SKIPDATA_SHARE = 0.005, 0.0005


def _expected_records(spec: DemoSpec) -> float:
    minutes = np.arange(int(np.ceil(spec.hours * 60)), dtype=np.int64) * 60
    t = int(spec.start.timestamp()) + minutes
    weight = 0.3 + 0.7 * _diurnal(t)
    return float(_NATURAL_PER_MINUTE * spec.enis / 48.0 * weight.sum())


# --------------------------------------------------------------------------------------------
# Conversations -> records
# --------------------------------------------------------------------------------------------


def _expand(
    c: Conv, nat_eni: int, nat_ip: int, rng: np.random.Generator, keep: Sequence[str] = _COLS
) -> list[Cols]:
    """Records of the conversations: one per interval, direction and recording ENI."""
    n_int = np.maximum(c["n_int"], 1)
    n = len(n_int)
    total = int(n_int.sum())
    ci = np.repeat(np.arange(n), n_int)
    k = np.arange(total) - np.repeat(np.cumsum(n_int) - n_int, n_int)
    dur = np.where(
        c["dur"] >= 0,
        np.minimum(c["dur"], 59),
        np.where(
            n_int > 1,
            60 * (n_int - 1) + rng.integers(0, 60, n),
            np.minimum(59, rng.exponential(4.0, n).astype(np.int64)),
        ),
    )
    t = c["t"][ci]
    start = t + 60 * k
    end = np.minimum(start + 59, t + dur[ci])

    w = rng.random(total) + 0.1
    frac = w / np.bincount(ci, weights=w, minlength=n)[ci]
    kind = c["kind"][ci]
    first = ((k == 0) & (c["est"][ci] == 0)).astype(np.int64)
    last = (k == n_int[ci] - 1).astype(np.int64)
    hdr = c["hdr"][ci]
    mss = c["mtu"][ci] - hdr
    f_pay = np.rint(c["fwd"][ci] * frac).astype(np.int64)
    r_pay = np.rint(c["rev"][ci] * frac).astype(np.int64)
    f_data = -(-f_pay // mss)
    r_data = -(-r_pay // mss)
    f_pk_s = np.maximum(1, f_data + (r_data + 1) // 2 + first + last)
    r_pk_s = np.maximum(1, r_data + (f_data + 1) // 2 + first + last)
    f_pk_d = np.maximum(1, np.rint(c["fwd_n"][ci] * frac)).astype(np.int64)
    r_pk_d = np.maximum(1, np.rint(c["rev_n"][ci] * frac)).astype(np.int64)
    stream, probe = kind == _STREAM, kind == _PROBE
    f_pk = np.where(stream, f_pk_s, np.where(probe, c["fwd_n"][ci], f_pk_d))
    r_pk = np.where(stream, r_pk_s, r_pk_d)
    f_by = np.where(stream, f_pay + f_pk * hdr, f_pk * c["fwd"][ci])
    r_by = np.where(stream, r_pay + r_pk * hdr, r_pk * c["rev"][ci])
    rst = c["rst"][ci]
    f_fl = np.where(stream, 2 * first + last * (1 + 3 * rst), np.where(probe, c["pflag"][ci], 0))
    r_fl = np.where(stream, 18 * first + last * (1 - rst), 0)

    cli_eni, srv_eni = c["cli_eni"][ci], c["srv_eni"][ci]
    cli, srv = c["cli"][ci], c["srv"][ci]
    cport, sport, nport = c["cport"][ci], c["sport"][ci], c["nat_port"][ci]
    rej, nat = c["reject"][ci] == 1, c["nat"][ci] == 1
    typ = 1 + c["v6"][ci]
    proto = c["proto"][ci]
    cpath = np.where(nat, 1, c["cpath"][ci])
    spath = c["spath"][ci]
    fwd = (f_pk, f_by, f_fl)
    rev = (r_pk, r_by, r_fl)
    nat_e = np.full(total, nat_eni, dtype=np.int64)
    nat_a = np.full(total, nat_ip, dtype=np.int64)
    no_path = np.full(total, -1, dtype=np.int64)
    accept = np.full(total, _ACCEPT, dtype=np.int64)
    zeros = np.zeros(total, dtype=np.int64)
    directions = {d: np.full(total, d, dtype=np.int64) for d in (_INGRESS, _EGRESS)}

    legs: list[Cols] = []

    def leg(
        mask: npt.NDArray[np.bool_],
        eni: I64,
        addrs: tuple[I64, I64, I64, I64],
        ports: tuple[I64, I64],
        stats: tuple[I64, I64, I64],
        direction: int,
        path: I64,
        action: I64,
    ) -> None:
        idx = np.flatnonzero(mask)
        if len(idx) == 0:
            return
        src, dst, psrc, pdst = addrs
        full = {
            "eni": eni,
            "src": src,
            "dst": dst,
            "psrc": psrc,
            "pdst": pdst,
            "sport": ports[0],
            "dport": ports[1],
            "proto": proto,
            "packets": stats[0],
            "bytes": stats[1],
            "start": start,
            "end": end,
            "action": action,
            "status": zeros,
            "flags": stats[2],
            "type": typ,
            "dir": directions[direction],
            "path": path,
        }
        legs.append({col: full[col][idx] for col in keep})

    has_cli, has_srv = cli_eni >= 0, srv_eni >= 0
    out = (cli, srv, cli, srv)
    back = (srv, cli, srv, cli)
    leg(has_cli, cli_eni, out, (cport, sport), fwd, _EGRESS, cpath, accept)
    leg(has_cli & ~rej, cli_eni, back, (sport, cport), rev, _INGRESS, no_path, accept)
    leg(
        has_srv,
        srv_eni,
        out,
        (cport, sport),
        fwd,
        _INGRESS,
        no_path,
        np.where(rej, _REJECT, _ACCEPT),
    )
    leg(has_srv & ~rej, srv_eni, back, (sport, cport), rev, _EGRESS, spath, accept)
    # Through the NAT gateway: its ENI sees the instance side and the internet side.
    leg(nat, nat_e, (cli, nat_a, cli, srv), (cport, sport), fwd, _INGRESS, no_path, accept)
    leg(
        nat,
        nat_e,
        (nat_a, srv, nat_a, srv),
        (nport, sport),
        fwd,
        _EGRESS,
        np.full(total, 8, dtype=np.int64),
        accept,
    )
    leg(nat & ~rej, nat_e, (srv, nat_a, srv, nat_a), (sport, nport), rev, _INGRESS, no_path, accept)
    leg(
        nat & ~rej,
        nat_e,
        (nat_a, cli, srv, cli),
        (sport, cport),
        rev,
        _EGRESS,
        np.ones(total, dtype=np.int64),
        accept,
    )
    return legs


def _concat(parts: Sequence[Cols], keep: Sequence[str] = _COLS) -> Cols:
    if not parts:
        return {c: np.zeros(0, dtype=np.int64) for c in keep}
    return {c: np.concatenate([p[c] for p in parts]) for c in keep}


def _take(cols: Cols, idx: I64 | npt.NDArray[np.bool_]) -> Cols:
    return {c: v[idx] for c, v in cols.items()}


def _status_records(
    topo: _Topology,
    rng: np.random.Generator,
    n: int,
    status: int,
    enis: I64,
    t0: int,
    t1: int,
    keep: Sequence[str] = _COLS,
) -> Cols:
    """NODATA / SKIPDATA records: only ENI, times and status; the rest is ``-``."""
    eni = enis[rng.integers(0, len(enis), n)]
    minutes = max(1, (t1 - t0) // 60)
    start = t0 + 60 * rng.integers(0, minutes, n) + topo.phase[eni]
    end = start + rng.integers(50, 60, n)
    dash = np.full(n, -1, dtype=np.int64)
    zero = np.zeros(n, dtype=np.int64)
    full = {
        "eni": eni,
        "src": zero,
        "dst": zero,
        "psrc": zero,
        "pdst": zero,
        "sport": dash,
        "dport": dash,
        "proto": dash,
        "packets": dash,
        "bytes": dash,
        "start": start,
        "end": end,
        "action": zero,
        "status": np.full(n, status, dtype=np.int64),
        "flags": dash,
        "type": zero,
        "dir": zero,
        "path": dash,
    }
    return {c: full[c] for c in keep}


_CHUNK_SECONDS = 3600


def _chunk(
    topo: _Topology,
    spec: DemoSpec,
    index: int,
    t0: int,
    t1: int,
    scale: float,
    keep: Sequence[str] = _COLS,
) -> list[Cols]:
    """Records of the conversations starting in [t0, t1), in no particular order."""
    rng = np.random.default_rng([spec.seed, index, 0xC4])
    traffic = _Traffic(topo, rng)
    minutes = np.arange(t0, t1, 60, dtype=np.int64)
    d = _diurnal(minutes)
    noise = rng.lognormal(0.0, 0.12, len(minutes))
    convs: list[Conv] = []
    for name, rate, weight in _MIX:
        lam = rate * scale * ((1.0 - weight) + weight * d) * noise
        if name == "scan":  # scanners come in bursts
            lam = lam * rng.gamma(0.5, 2.0, len(minutes))
        if name == "ssh":  # people work 13:00-22:00 UTC
            hour = (minutes % 86400) // 3600
            lam = lam * np.where((hour >= 13) & (hour < 22), 3.0, 0.1)
        counts = rng.poisson(lam)
        t = np.repeat(minutes, counts) + rng.integers(0, 60, int(counts.sum()))
        t = t[t < t1]
        if len(t):
            gen: Callable[[I64], Conv] = getattr(traffic, name)
            convs.append(gen(t.astype(np.int64)))
    conv = {key: np.concatenate([c[key] for c in convs]) for key in convs[0]} if convs else None
    parts: list[Cols] = []
    if conv is not None:
        parts += _expand(conv, topo.nat, int(topo.eni_ip4[topo.nat]), rng, keep)
    ok = sum(len(p["end"]) for p in parts)
    n_nodata = int(rng.poisson(_NODATA_SHARE * ok))
    idle_share = rng.random(n_nodata) < 0.6
    n_idle = int(idle_share.sum())
    parts.append(_status_records(topo, rng, n_idle, 1, topo.idle, t0, t1, keep))
    parts.append(_status_records(topo, rng, n_nodata - n_idle, 1, topo.quiet, t0, t1, keep))
    parts.append(
        _status_records(
            topo, rng, int(rng.poisson(_SKIPDATA_SHARE * ok)), 2, topo.busy, t0, t1, keep
        )
    )
    return parts


def _iter_batches(
    spec: DemoSpec, topo: _Topology, scale: float | None = None, keep: Sequence[str] = _COLS
) -> Iterator[Cols]:
    """Records sorted by ``end``, an hour at a time, every ``end`` inside the spec's period."""
    if scale is None:
        scale = spec.enis / 48.0
        if spec.records is not None:
            scale *= spec.records / _expected_records(spec)
    begin = int(spec.start.timestamp())
    finish = begin + int(round(spec.hours * 3600))
    carry: Cols | None = None
    index = 0
    t0 = begin
    while t0 < finish:
        t1 = min(t0 + _CHUNK_SECONDS, finish)
        parts = _chunk(topo, spec, index, t0, t1, scale, keep)
        cols = _concat(parts if carry is None else [carry, *parts], keep)
        end = cols["end"]
        done = np.flatnonzero(end < min(t1, finish))
        carry = _take(cols, np.flatnonzero(end >= t1)) if t1 < finish else None
        key = end[done]
        if len(key) and int(key.max()) - int(key.min()) < 65536:  # radix sort on 16 bits
            key = (key - key.min()).astype(np.uint16)
        yield _take(cols, done[np.argsort(key, kind="stable")])
        index += 1
        t0 = t1


# --------------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------------

_ACTIONS = ("-", "ACCEPT", "REJECT")
_STATUSES = ("OK", "NODATA", "SKIPDATA")
_TYPES = ("-", "IPv4", "IPv6")
_DIRECTIONS = ("-", "ingress", "egress")
_NUMBERS = ("-", *(str(i) for i in range(256)))  # value v at index v + 1
_PORTS = ("-", *(str(i) for i in range(65536)))
_FUSE_LIMIT = 1 << 18  # largest lookup table made by fusing neighbouring fields
_NUMERIC = {"packets": "packets", "bytes": "bytes", "start": "start", "end": "end"}
_ADDRS = {"srcaddr": "src", "dstaddr": "dst", "pkt-srcaddr": "psrc", "pkt-dstaddr": "pdst"}
_SHIFTED = {
    "srcport": ("sport", _PORTS),
    "dstport": ("dport", _PORTS),
    "protocol": ("proto", _NUMBERS),
    "tcp-flags": ("flags", _NUMBERS),
    "traffic-path": ("path", _NUMBERS),
}
_ENUMS = {
    "action": ("action", _ACTIONS),
    "log-status": ("status", _STATUSES),
    "type": ("type", _TYPES),
    "flow-direction": ("dir", _DIRECTIONS),
}
IndexFn = Callable[[Cols], I64]


@functools.cache
def _small_numbers() -> Any:
    return pa.array(_PORTS, pa.string())


def _number(v: I64) -> Any:
    """Decimal text of ``v`` (``-`` for negative values), by lookup when the range is small."""
    if len(v) == 0:
        return pa.array([], pa.string())
    lo, hi = int(v.min()), int(v.max())
    if lo >= -1 and hi < 65536:
        return pc.take(_small_numbers(), pa.array(v + 1))
    if lo >= 0 and hi - lo < len(v) // 4:  # e.g. times within an hour
        table = pc.cast(pa.array(np.arange(lo, hi + 1, dtype=np.int64)), pa.string())
        return pc.take(table, pa.array(v - lo))
    if lo < 0:
        return pc.fill_null(pc.cast(pa.array(v, mask=v < 0), pa.string()), "-")
    return pc.cast(pa.array(v), pa.string())


class _Renderer:
    """Turns record columns into text lines of one format, column-wise with Arrow.

    Every field but the four large counters is a lookup (an index into a table of strings);
    neighbouring lookups are fused into one table of their joined values, so ``version
    account-id interface-id`` or ``action log-status`` cost one ``take`` and the final join
    handles fewer, longer columns.
    """

    def __init__(self, fields: Sequence[str], topo: _Topology) -> None:
        version = str(max(_VERSION_OF[f] for f in fields))
        scalars = {
            "version": version,
            "account-id": topo.account,
            "vpc-id": topo.vpc_id,
            "region": topo.region,
            "sublocation-type": "-",
            "sublocation-id": "-",
        }
        per_eni = {
            "interface-id": topo.eni_id,
            "instance-id": topo.instance_id,
            "subnet-id": topo.subnet_id,
            "az-id": topo.az_id,
        }
        # plan: ("n", column) for counters, ("t", [(index fn or None, table)]) for lookups
        self.plan: list[tuple[str, Any]] = []
        for f in fields:
            lookup: tuple[IndexFn | None, Sequence[str]]
            if f in _NUMERIC:
                self.plan.append(("n", _NUMERIC[f]))
                continue
            if f in scalars:
                lookup = (None, (scalars[f],))
            elif f in per_eni:
                lookup = (_column("eni"), per_eni[f])
            elif f in _ADDRS:
                lookup = (_column(_ADDRS[f]), topo.addrs)
            elif f in _SHIFTED:
                lookup = (_shifted(_SHIFTED[f][0]), _SHIFTED[f][1])
            elif f in _ENUMS:
                lookup = (_column(_ENUMS[f][0]), _ENUMS[f][1])
            elif f in ("pkt-src-aws-service", "pkt-dst-aws-service"):
                addr = "psrc" if f == "pkt-src-aws-service" else "pdst"
                lookup = (_service(topo.svc, addr), _SERVICES)
            else:
                raise ValueError(f"unsupported field {f!r}")
            last = self.plan[-1] if self.plan else None
            if last and last[0] == "t" and _size(last[1]) * len(lookup[1]) <= _FUSE_LIMIT:
                last[1].append(lookup)
            else:
                self.plan.append(("t", [lookup]))
        self.tables: list[Any] = []
        for i, (kind, what) in enumerate(self.plan):
            if kind != "t":
                self.tables.append(None)
                continue
            table = pa.array(list(what[0][1]), pa.string())
            for _, values in what[1:]:
                right = pa.array(list(values), pa.string())
                a, b = len(table), len(right)
                table = pc.binary_join_element_wise(
                    pc.take(table, pa.array(np.repeat(np.arange(a), b))),
                    pc.take(right, pa.array(np.tile(np.arange(b), a))),
                    " ",
                )
            if i == len(self.plan) - 1:
                table = pc.binary_join_element_wise(table, "", "\n")
            self.tables.append(table)

    def lines(self, cols: Cols) -> Any:
        """An Arrow string array: one line per record, each ending in a newline."""
        n = len(cols["end"])
        out: list[Any] = []
        for (kind, what), table in zip(self.plan, self.tables, strict=True):
            if kind == "n":
                out.append(_number(cols[what]))
                continue
            idx = np.zeros(n, dtype=np.int64)
            for fn, values in what:
                if fn is not None:
                    idx = idx * len(values) + fn(cols) if len(what) > 1 else fn(cols)
            out.append(pc.take(table, pa.array(idx)))
        if self.plan[-1][0] == "n":
            out[-1] = pc.binary_join_element_wise(out[-1], "", "\n")
        if len(out) == 1:
            return out[0]
        return pc.binary_join_element_wise(*out, " ")


def _needed(fields: Sequence[str]) -> tuple[str, ...]:
    """The record columns that rendering ``fields`` reads (plus ``eni`` and ``end``)."""
    need = {"eni", "end"}
    for f in fields:
        if f in _NUMERIC:
            need.add(_NUMERIC[f])
        elif f in _ADDRS:
            need.add(_ADDRS[f])
        elif f in _SHIFTED:
            need.add(_SHIFTED[f][0])
        elif f in _ENUMS:
            need.add(_ENUMS[f][0])
        elif f in ("pkt-src-aws-service", "pkt-dst-aws-service"):
            need.update(("psrc", "pdst"))
    return tuple(c for c in _COLS if c in need)


def _size(lookups: list[tuple[IndexFn | None, Sequence[str]]]) -> int:
    size = 1
    for _, values in lookups:
        size *= len(values)
    return size


def _column(name: str) -> IndexFn:
    return lambda cols: cols[name]


def _shifted(name: str) -> IndexFn:
    return lambda cols: cols[name] + 1


def _service(svc: I64, name: str) -> IndexFn:
    return lambda cols: svc[cols[name]]


def _render_lines(cols: Cols, fields: Sequence[str], topo: _Topology) -> Any:
    """An Arrow string array of lines, each ending in a newline."""
    key = tuple(fields)
    renderer = topo.renderers.get(key)
    if renderer is None:
        renderer = topo.renderers[key] = _Renderer(key, topo)
    return renderer.lines(cols)


def _text(lines: Any, lo: int = 0, hi: int | None = None) -> bytes:
    """The bytes of ``lines[lo:hi]`` concatenated, straight from the Arrow buffers."""
    hi = len(lines) if hi is None else hi
    if hi <= lo:
        return b""
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32)
    a, b = int(offsets[lines.offset + lo]), int(offsets[lines.offset + hi])
    return bytes(memoryview(lines.buffers()[2])[a:b])


def header_line(fields: Sequence[str]) -> bytes:
    return (" ".join(fields) + "\n").encode()


def generate_records(spec: DemoSpec, fmt_fields: list[str]) -> Iterator[list[str]]:
    """Every record of ``spec`` (all ENIs, both flow logs) as tokens in ``fmt_fields`` order."""
    for f in fmt_fields:
        if f not in _VERSION_OF:
            raise ValueError(f"unsupported field {f!r}")
    topo = _Topology(spec)
    for cols in _iter_batches(spec, topo):
        if len(cols["eni"]) == 0:
            continue
        text = _text(_render_lines(cols, fmt_fields, topo)).decode()
        for line in text.splitlines():
            yield line.split(" ")


# --------------------------------------------------------------------------------------------
# Writers
# --------------------------------------------------------------------------------------------


def _gzip(data: bytes) -> bytes:
    c = zlib.compressobj(6, zlib.DEFLATED, 31)  # gzip wrapper, mtime 0: reproducible
    return c.compress(data) + c.flush()


def s3_key(account: str, region: str, flow_log_id: str, window: datetime, hash8: str) -> str:
    return (
        f"AWSLogs/{account}/vpcflowlogs/{region}/{window:%Y/%m/%d}/"
        f"{account}_vpcflowlogs_{region}_{flow_log_id}_{window:%Y%m%dT%H%MZ}_{hash8}.log.gz"
    )


def write_demo(out_dir: Path, spec: DemoSpec) -> list[Path]:
    """Write ``spec`` as AWS delivers to S3: one gzip text object per flow log and 5 minutes.

    ``fl-0demo0default`` (default v2 format) covers the subnets of the first two AZs,
    ``fl-0demo0v5custom`` (:data:`V5_FORMAT`) those of the third, about 70/30 of the records.
    Returns the files written, in path order.
    """
    topo = _Topology(spec)
    written: list[Path] = []
    workers = max(1, min(4, os.cpu_count() or 1))
    with ThreadPoolExecutor(workers) as pool:
        pending: deque[Future[None]] = deque()

        def save(path: Path, data: bytes) -> None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(_gzip(data))

        for cols in _iter_batches(spec, topo):
            for fl_index, (fl_id, fields) in enumerate(FLOW_LOGS):
                part = _take(cols, topo.flow_log[cols["eni"]] == fl_index)
                if len(part["eni"]) == 0:
                    continue
                lines = _render_lines(part, fields, topo)
                window = part["end"] // WINDOW_SECONDS * WINDOW_SECONDS
                bounds = np.flatnonzero(np.diff(window)) + 1
                los = np.concatenate([[0], bounds])
                his = np.concatenate([bounds, [len(window)]])
                for lo, hi in zip(los.tolist(), his.tolist(), strict=True):
                    w = int(window[lo])
                    when = datetime.fromtimestamp(w, UTC)
                    digest = hashlib.blake2b(
                        f"{spec.seed}/{spec.account_id}/{fl_id}/{w}".encode(), digest_size=4
                    ).hexdigest()
                    path = out_dir / s3_key(spec.account_id, spec.region, fl_id, when, digest)
                    data = header_line(fields) + _text(lines, lo, hi)
                    pending.append(pool.submit(save, path, data))
                    written.append(path)
                    while len(pending) > 4 * workers:
                        pending.popleft().result()
        while pending:
            pending.popleft().result()
    return sorted(written)


_GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"  # deflate, no name, mtime 0


def _deflate_block(data: memoryview | bytes, level: int) -> bytes:
    """Raw deflate ending in a sync flush: such blocks concatenate into one deflate stream."""
    c = zlib.compressobj(level, zlib.DEFLATED, -15)
    return c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH)


def _render_and_deflate(
    cols: Cols, fields: Sequence[str], topo: _Topology, level: int
) -> tuple[Any, memoryview, bytes]:
    """Worker job: text of ``cols`` (kept alive with its Arrow array) and its deflate block."""
    lines = _render_lines(cols, fields, topo)
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32)
    a, b = int(offsets[lines.offset]), int(offsets[lines.offset + len(lines)])
    raw = memoryview(lines.buffers()[2])[a:b]
    return lines, raw, _deflate_block(raw, level)


def write_benchmark_file(path: Path, records: int, seed: int = 1) -> Path:
    """One big default-format ``.log.gz``: the header line and exactly ``records`` records.

    The demo VPC with 4x its natural traffic (~1.8M records a day) from 2025-01-06 on, every
    ENI in one file, sorted by ``end`` within each hour. The main thread draws an hour of
    records at a time while worker threads render and deflate (level 1) the previous hours
    into one gzip member (the pigz layout), so memory stays bounded whatever ``records`` is.
    """
    if records < 0:
        raise ValueError("records must be >= 0")
    spec = DemoSpec(start=datetime(2025, 1, 6, tzinfo=UTC), hours=1e6, seed=seed)
    topo = _Topology(spec)
    _render_lines(_concat([]), DEFAULT_FIELDS, topo)  # build the lookup tables up front
    path.parent.mkdir(parents=True, exist_ok=True)
    workers = max(1, min(4, os.cpu_count() or 1))
    level = 1
    header = header_line(DEFAULT_FIELDS)
    # The workers take the GIL back between Arrow calls; with the default 5 ms switch interval
    # they wait on the drawing thread far longer than they compute.
    switch = sys.getswitchinterval()
    sys.setswitchinterval(min(switch, 0.0005))
    try:
        _write_benchmark(path, records, spec, topo, workers, level, header)
    finally:
        sys.setswitchinterval(switch)
    return path


def _write_benchmark(
    path: Path,
    records: int,
    spec: DemoSpec,
    topo: _Topology,
    workers: int,
    level: int,
    header: bytes,
) -> None:
    crc = zlib.crc32(header)
    size = len(header)
    with path.open("wb") as fh, ThreadPoolExecutor(workers) as pool:
        fh.write(_GZIP_HEADER)
        fh.write(_deflate_block(header, level))
        pending: deque[Future[tuple[Any, memoryview, bytes]]] = deque()

        def drain(keep: int) -> None:
            nonlocal crc, size
            while len(pending) > keep:
                _, raw, block = pending.popleft().result()
                crc = zlib.crc32(raw, crc)
                size += len(raw)
                fh.write(block)

        left = records
        for cols in _iter_batches(spec, topo, 4.0, _needed(DEFAULT_FIELDS)):
            if left <= 0:
                break
            n = min(left, len(cols["eni"]))
            if n == 0:
                continue
            if n < len(cols["eni"]):
                cols = {c: v[:n] for c, v in cols.items()}
            left -= n
            pending.append(pool.submit(_render_and_deflate, cols, DEFAULT_FIELDS, topo, level))
            drain(workers + 1)
        drain(0)
        fh.write(zlib.compressobj(level, zlib.DEFLATED, -15).flush())  # final empty block
        fh.write(struct.pack("<II", crc & 0xFFFFFFFF, size & 0xFFFFFFFF))
