"""Attack scenarios added to the demo's traffic (``flowscope demo --attacks``).

Each scenario is drawn as conversations of :mod:`~flowscope.demo.traffic` and written as AWS
would record them, from its own random stream (the normal traffic is the same with or
without attacks) and at fixed fractions of the demo's span, so a short demo has them too:

==========================  =====================================================  ==========
scenario                    what                                                   when
==========================  =====================================================  ==========
``vertical-scan``           one internet source probes ports 1-1100 of the           55 %
                            bastion in 10 minutes; all refused but SSH
``horizontal-scan``         another sweeps port 445 of every instance and the       60 %
                            load balancer in 5 minutes, all refused
``brute-force``             400 short SSH connections from one internet source to    80 %
                            the bastion in 40 minutes, accepted (the bastion is
                            open to the world, as in the normal traffic)
``exfiltration``            an app instance uploads 3 GB through the NAT gateway     70 %
                            to an address never contacted before
``beacon``                  another app instance calls one internet address on      40-95 %
                            443 every 60 s (jitter ±6 s), through the NAT gateway
``reject-spike``            6,000 refused flows from 300 sources to the load         85 %
                            balancer in 10 minutes
``new-service``             an app instance starts accepting internet clients on     65 %
                            port 4444 (a backdoor)
``gre-tunnel``              an app instance exchanges GRE (protocol 47) with an      75 %
                            internet address
==========================  =====================================================  ==========

Nothing for what flow logs never record (metadata service, Amazon DNS, Time Sync, DHCP).
"""

from __future__ import annotations

import numpy as np

from flowscope.demo.spec import I64, DemoSpec
from flowscope.demo.topology import Topology
from flowscope.demo.traffic import _DGRAM, _PROBE, _STREAM, Conv, Traffic, _conv

#: The attackers' addresses (public, outside every pool of the normal traffic).
ADDRESSES: dict[str, str] = {
    "vertical-scan": "45.148.10.81",
    "horizontal-scan": "80.94.95.214",
    "brute-force": "218.92.0.112",
    "exfiltration": "185.234.216.59",
    "beacon": "45.9.148.125",
    "gre-tunnel": "193.142.146.35",
}
SCENARIOS = (
    "vertical-scan",
    "horizontal-scan",
    "brute-force",
    "exfiltration",
    "beacon",
    "reject-spike",
    "new-service",
    "gre-tunnel",
)
BACKDOOR_PORT = 4444
EXFIL_BYTES = 3_000_000_000


def add_addresses(topo: Topology) -> dict[str, int]:
    """Append the attackers' addresses to the topology's table; their indexes by scenario."""
    out = {}
    for name, addr in ADDRESSES.items():
        out[name] = len(topo.addrs)
        topo.addrs.append(addr)
    topo.svc = np.append(topo.svc, np.zeros(len(ADDRESSES), dtype=np.int64))
    return out


class Attacks:
    """The conversations of every scenario starting in one chunk ``[t0, t1)`` of the demo."""

    def __init__(self, topo: Topology, spec: DemoSpec, rng: np.random.Generator) -> None:
        self.topo = topo
        self.rng = rng
        self.traffic = Traffic(topo, rng)
        self.begin = int(spec.start.timestamp())
        self.span = int(round(spec.hours * 3600))
        self.finish = self.begin + self.span
        assert topo.attackers is not None
        self.addr = topo.attackers

    def at(self, fraction: float) -> int:
        return self.begin + int(self.span * fraction)

    def _times(self, start: int, n: int, seconds: int, t0: int, t1: int) -> I64:
        """``n`` times spread over ``seconds`` from ``start`` (deterministic whatever the
        chunking: drawn from the scenario's own seed), kept inside ``[t0, t1)``."""
        rng = np.random.default_rng([start, n, seconds])
        t = np.sort(start + rng.integers(0, max(1, seconds), n)).astype(np.int64)
        return t[(t >= t0) & (t < t1) & (t < self.finish)]

    def convs(self, t0: int, t1: int) -> list[Conv]:
        out: list[Conv] = []
        for make in (
            self.vertical_scan,
            self.horizontal_scan,
            self.brute_force,
            self.exfiltration,
            self.beacon,
            self.reject_spike,
            self.new_service,
            self.gre_tunnel,
        ):
            conv = make(t0, t1)
            if conv is not None and len(conv["t"]):
                out.append(conv)
        return out

    def vertical_scan(self, t0: int, t1: int) -> Conv | None:
        tp, r = self.topo, self.rng
        start = self.at(0.55)
        ports = np.arange(1, 1101, dtype=np.int64)
        t = self._times(start, len(ports), 600, 0, 2**62)
        ports = ports[: len(t)]
        keep = (t >= t0) & (t < t1)
        t, ports = t[keep], ports[keep]
        n = len(t)
        if n == 0:
            return None
        open_ = ports == 22
        return _conv(
            t,
            srv_eni=tp.bastion,
            cli=self.addr["vertical-scan"],
            srv=tp.eni_ip4[tp.bastion],
            cport=r.integers(40000, 65536, n),
            sport=ports,
            kind=np.where(open_, _STREAM, _PROBE),
            reject=(~open_).astype(np.int64),
            fwd=np.where(open_, 0, 44),
            rev=0,
            fwd_n=1,
            dur=0,
            pflag=2,
            rst=1,
        )

    def horizontal_scan(self, t0: int, t1: int) -> Conv | None:
        tp, r = self.topo, self.rng
        targets = np.concatenate([tp.albs, tp.instances])
        t = self._times(self.at(0.60), len(targets), 300, 0, 2**62)
        targets = targets[: len(t)]
        keep = (t >= t0) & (t < t1)
        t, targets = t[keep], targets[keep]
        n = len(t)
        if n == 0:
            return None
        return _conv(
            t,
            srv_eni=targets,
            cli=self.addr["horizontal-scan"],
            srv=tp.eni_ip4[targets],
            cport=r.integers(40000, 65536, n),
            sport=445,
            kind=_PROBE,
            reject=1,
            fwd=60,
            fwd_n=np.where(r.random(n) < 0.7, 1, 2),
            pflag=2,
        )

    def brute_force(self, t0: int, t1: int) -> Conv | None:
        tp, r = self.topo, self.rng
        t = self._times(self.at(0.80), 400, 2400, t0, t1)
        n = len(t)
        if n == 0:
            return None
        return _conv(
            t,
            srv_eni=tp.bastion,
            cli=self.addr["brute-force"],
            srv=tp.eni_ip4[tp.bastion],
            cport=self.traffic.any_port(n),
            sport=22,
            fwd=r.integers(1500, 2600, n),
            rev=r.integers(2000, 3200, n),
            dur=r.integers(2, 9, n),
            spath=8,
        )

    def exfiltration(self, t0: int, t1: int) -> Conv | None:
        tp, r = self.topo, self.rng
        start = self.at(0.70)
        if not t0 <= start < t1:
            return None
        t = np.array([start], dtype=np.int64)
        app = np.array([tp.apps[1]], dtype=np.int64)
        size = np.array([EXFIL_BYTES], dtype=np.int64)
        return _conv(
            t,
            cli_eni=app,
            cli=tp.eni_ip4[app],
            srv=self.addr["exfiltration"],
            cport=self.traffic.eph(1),
            sport=443,
            nat=1,
            nat_port=r.integers(1024, 65536, 1),
            fwd=size,
            rev=np.array([400_000], dtype=np.int64),
            n_int=self.traffic.bulk_intervals(np.ones(1, dtype=np.int64), size),
        )

    def beacon(self, t0: int, t1: int) -> Conv | None:
        tp, r = self.topo, self.rng
        first, last = self.at(0.40), self.at(0.95)
        k = np.arange((last - first) // 60 + 1, dtype=np.int64)
        jitter = np.random.default_rng([first, 60]).integers(-6, 7, len(k))
        t = first + 60 * k + jitter
        t = t[(t >= t0) & (t < t1) & (t < self.finish)].astype(np.int64)
        n = len(t)
        if n == 0:
            return None
        app = np.full(n, tp.apps[2], dtype=np.int64)
        return _conv(
            t,
            cli_eni=app,
            cli=tp.eni_ip4[app],
            srv=self.addr["beacon"],
            cport=self.traffic.eph(n),
            sport=443,
            nat=1,
            nat_port=r.integers(1024, 65536, n),
            fwd=r.integers(300, 420, n),
            rev=r.integers(600, 900, n),
            dur=r.integers(0, 2, n),
        )

    def reject_spike(self, t0: int, t1: int) -> Conv | None:
        tp, r = self.topo, self.rng
        t = self._times(self.at(0.85), 6000, 600, t0, t1)
        n = len(t)
        if n == 0:
            return None
        bots = np.random.default_rng([self.begin, 300]).integers(0, 5000, 300)
        cli = tp.pools["noise"].first + bots[r.integers(0, len(bots), n)]
        alb = self.traffic.pick(tp.albs, n)
        return _conv(
            t,
            srv_eni=alb,
            cli=cli,
            srv=tp.eni_ip4[alb],
            cport=self.traffic.any_port(n),
            sport=8443,
            kind=_PROBE,
            reject=1,
            fwd=60,
            fwd_n=1,
            pflag=2,
        )

    def new_service(self, t0: int, t1: int) -> Conv | None:
        tp, r = self.topo, self.rng
        t = self._times(self.at(0.65), 40, 3600, t0, t1)
        n = len(t)
        if n == 0:
            return None
        clients = np.random.default_rng([self.begin, 4444]).integers(0, 5000, 6)
        app = np.full(n, tp.apps[4], dtype=np.int64)
        return _conv(
            t,
            srv_eni=app,
            cli=tp.pools["noise"].first + clients[r.integers(0, len(clients), n)],
            srv=tp.eni_ip4[app],
            cport=self.traffic.any_port(n),
            sport=BACKDOOR_PORT,
            fwd=r.integers(200, 2000, n),
            rev=r.integers(1000, 20000, n),
        )

    def gre_tunnel(self, t0: int, t1: int) -> Conv | None:
        tp, r = self.topo, self.rng
        t = self._times(self.at(0.75), 30, 1800, t0, t1)
        n = len(t)
        if n == 0:
            return None
        app = np.full(n, tp.apps[5], dtype=np.int64)
        return _conv(
            t,
            cli_eni=app,
            cli=tp.eni_ip4[app],
            srv=self.addr["gre-tunnel"],
            proto=47,
            kind=_DGRAM,
            fwd=r.integers(200, 1400, n),
            rev=r.integers(200, 1400, n),
            fwd_n=r.integers(5, 50, n),
            rev_n=r.integers(5, 50, n),
            spath=8,
            cpath=8,
        )


__all__ = ["ADDRESSES", "BACKDOOR_PORT", "EXFIL_BYTES", "SCENARIOS", "Attacks", "add_addresses"]
