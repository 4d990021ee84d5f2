"""Conversations: each kind of traffic drawn as 5-tuples living one or more 60 s intervals.

Part of the demo generator; :mod:`flowscope.demo.generate` is its public face.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from flowscope.demo.spec import F64, I64, DemoSpec
from flowscope.demo.topology import Topology

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


class Traffic:
    """Draws the conversations of each kind of traffic for a list of start times."""

    def __init__(self, topo: Topology, rng: np.random.Generator) -> None:
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

    def s3_nat(self, t: I64) -> Conv:
        """S3 in another region (eu-west-1): the gateway endpoint does not reach it, the NAT
        gateway does."""
        n = len(t)
        size = self.heavy(n, 30000, 2.0, 0.005, 2e8, 5e9)
        put = self.rng.random(n) < 0.3
        return self._via_nat(
            t,
            self.apps(n),
            "s3eu",
            443,
            cport=self.eph(n),
            fwd=np.where(put, size, self.heavy(n, 900, 0.6)),
            rev=np.where(put, self.heavy(n, 600, 0.5), size),
            n_int=self.bulk_intervals(np.ones(n, dtype=np.int64), size),
        )

    def ssm(self, t: I64) -> Conv:
        """The SSM agent of every instance polling through the interface VPC endpoint."""
        n, tp = len(t), self.topo
        cli = self.pick(tp.instances, n)
        vpce = self.pick(tp.vpces, n)
        return _conv(
            t,
            cli_eni=cli,
            srv_eni=vpce,
            cli=tp.eni_ip4[cli],
            srv=tp.eni_ip4[vpce],
            cport=self.eph(n),
            sport=443,
            fwd=self.heavy(n, 1500, 0.5),
            rev=self.heavy(n, 2500, 0.8),
            n_int=self.keepalive(n, 0.3, 3.0),
        )

    def partner_in(self, t: I64) -> Conv:
        """A partner's servers calling the API behind the load balancer."""
        n, tp, r = len(t), self.topo, self.rng
        alb = self.pick(tp.albs, n)
        rev = self.heavy(n, 20000, 1.2)
        return _conv(
            t,
            srv_eni=alb,
            cli=tp.pools["partner"].pick(r, n),
            srv=tp.eni_ip4[alb],
            cport=self.any_port(n),
            sport=443,
            fwd=self.heavy(n, 5000, 1.0),
            rev=rev,
            n_int=self.keepalive(n, 0.2, 2.0),
            spath=2,
        )

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
        hop = r.random(n) < 0.5  # bastion -> app, else the office or an admin -> bastion
        app = self.apps(n)
        n_int = 1 + r.geometric(0.08, n)
        outside = np.where(
            r.random(n) < 0.7, tp.pools["office"].pick(r, n), tp.pools["admin"].pick(r, n)
        )
        return _conv(
            t,
            cli_eni=np.where(hop, tp.bastion, -1),
            srv_eni=np.where(hop, app, tp.bastion),
            cli=np.where(hop, tp.eni_ip4[tp.bastion], outside),
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
    ("s3_nat", 0.3, 0.5),
    ("ssm", 2.0, 0.0),
    ("partner_in", 0.4, 0.8),
    ("http_out", 0.15, 0.2),
    ("ntp", 1.0, 0.0),
    ("v6_out", 4.5, 0.8),
    ("ssh", 0.04, 1.0),
    ("ping", 1.5, 0.0),
    ("scan", 3.5, 0.0),
    ("late", 0.7, 1.0),
)
_NATURAL_PER_MINUTE = 338.0  # records a minute for 48 ENIs at the daily mean (calibrated)
_NODATA_SHARE, _SKIPDATA_SHARE = 0.005, 0.0005


def _expected_records(spec: DemoSpec) -> float:
    minutes = np.arange(int(np.ceil(spec.hours * 60)), dtype=np.int64) * 60
    t = int(spec.start.timestamp()) + minutes
    weight = 0.3 + 0.7 * _diurnal(t)
    return float(_NATURAL_PER_MINUTE * spec.enis / 48.0 * weight.sum())
