"""The built-in rules. Each asks the store top-N, histogram and metrics questions of the query
layer (so it runs on every engine) and turns the answers into alerts in Python.

Thresholds and severities follow ``shared/docs/detections.md`` (sections 1-9): failed attempts
are ``REJECT`` records, connections are counted as distinct source ports, inbound internet
activity is demoted and activity sourced by our own hosts promoted, and nothing is asked of
traffic flow logs never record. Where a flow has no ``src_scope``/``dst_scope`` (no estate),
"internet" and "internal" fall back to address ranges (:func:`~flowscope.detect.model.public`).
"""

from __future__ import annotations

import ipaddress
import statistics
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, timedelta
from typing import Any

from flowscope.detect.model import (
    Alert,
    Context,
    Rule,
    Severity,
    any_of,
    conj,
    internal,
    public,
    value,
)
from flowscope.query.model import HistQuery, HistResult, Metric, TopQuery, TopResult, TopRow
from flowscope.times import TimeRange

#: Candidates a first question may name for a second one (bounds the filter's size too).
CANDIDATES = 150
#: Rows a second question may return (groups of a candidate's flows).
DETAIL_ROWS = 250_000
#: Alerts one rule reports at most (the strongest first).
MAX_ALERTS = 50

ADMIN_PORTS: dict[int, str] = {
    22: "SSH",
    23: "Telnet",
    135: "MS RPC",
    445: "SMB",
    1433: "SQL Server",
    3306: "MySQL",
    3389: "RDP",
    5432: "PostgreSQL",
    5984: "CouchDB",
    6379: "Redis",
    9200: "Elasticsearch",
    9300: "Elasticsearch transport",
    11211: "Memcached",
    27017: "MongoDB",
}
COMMON_PROTOCOLS = (1, 6, 17, 58)


def top(
    ctx: Context,
    fields: tuple[str, ...],
    where: str,
    size: int,
    by: Metric = "count",
    time: TimeRange | None = None,
) -> TopResult:
    result = ctx.one(TopQuery(fields, by, size, ctx.scope(where, time)))
    assert isinstance(result, TopResult)
    return result


def _is_internal(addr: str) -> bool:
    try:
        ip = ipaddress.ip_address(addr)
    except ValueError:
        return False
    return ip.is_private and not ip.is_link_local


def _scope_of(ctx: Context, side: str, addrs: Iterable[str]) -> dict[str, str]:
    """``{address: scope}`` for ``side`` (src/dst): from the flows' scope where they have one,
    else internal or internet by address range."""
    wanted = sorted(set(addrs))[:CANDIDATES]
    if not wanted:
        return {}
    res = top(ctx, (f"{side}addr", f"{side}_scope"), any_of(f"{side}addr", wanted), len(wanted) * 4)
    out: dict[str, str] = {}
    for r in res.rows:
        if r.key[1] is not None:
            out.setdefault(str(r.key[0]), str(r.key[1]))
    for a in wanted:
        out.setdefault(a, "private" if _is_internal(a) else "internet")
    return out


def _ours(scope: str) -> bool:
    return scope in ("same-vpc", "other-vpc", "private")


def _pairs_then_detail(
    ctx: Context,
    first: tuple[str, ...],
    detail: tuple[str, ...],
    where: str,
    minimum: int,
    by: Metric = "count",
) -> tuple[list[TopRow], dict[tuple[Any, ...], list[TopRow]]]:
    """Two questions: the groups of ``first`` with at least ``minimum`` flows (candidates),
    then those groups' flows grouped by ``detail`` (which starts with ``first``), keyed by the
    candidate."""
    cands = [r for r in top(ctx, first, where, CANDIDATES, by).rows if r.totals.count >= minimum]
    if not cands:
        return [], {}
    k0 = first[0]
    narrowed = conj(where, any_of(k0, sorted({str(r.key[0]) for r in cands})))
    rows = top(ctx, detail, narrowed, DETAIL_ROWS).rows
    wanted = {r.key for r in cands}
    grouped: dict[tuple[Any, ...], list[TopRow]] = defaultdict(list)
    n = len(first)
    for r in rows:
        if r.key[:n] in wanted:
            grouped[r.key[:n]].append(r)
    return cands, grouped


def _sample(values: Iterable[Any], n: int = 10) -> list[Any]:
    return sorted(set(values), key=lambda v: (str(type(v)), v))[:n]


# -- scans ---------------------------------------------------------------------------------------

_REJECTED = "action:REJECT and protocol:(6 or 17)"


def _scan_severity(src_scope: str, count: int, big: int) -> Severity:
    if _ours(src_scope):
        return "high"
    return "medium" if count >= big else "low"


def vertical_scan(ctx: Context) -> list[Alert]:
    minimum = ctx.options.scan_ports
    cands, detail = _pairs_then_detail(
        ctx, ("srcaddr", "dstaddr"), ("srcaddr", "dstaddr", "dstport"), _REJECTED, minimum
    )
    found = []
    for c in cands:
        ports = [r.key[2] for r in detail.get(c.key, []) if r.key[2] is not None]
        if len(set(ports)) >= minimum:
            found.append((c.key, sorted(set(ports))))
    scopes = _scope_of(ctx, "src", (str(k[0]) for k, _ in found))
    alerts = []
    for (src, dst), ports in found:
        scope = scopes.get(str(src), "internet")
        alerts.append(
            Alert(
                "port-scan-vertical",
                "Vertical port scan",
                _scan_severity(scope, len(ports), 100),
                f"{src} -> {dst}",
                conj(f"srcaddr:{value(src)} and dstaddr:{value(dst)}", _REJECTED),
                summary=f"{len(ports):,} ports of {dst} refused to {src} ({scope})",
                evidence={"ports": len(ports), "sample_ports": ports[:20], "src_scope": scope},
            )
        )
    return alerts


def horizontal_scan(ctx: Context) -> list[Alert]:
    minimum = ctx.options.sweep_hosts
    cands, detail = _pairs_then_detail(
        ctx, ("srcaddr", "dstport"), ("srcaddr", "dstport", "dstaddr"), _REJECTED, minimum
    )
    found = []
    for c in cands:
        hosts = sorted({str(r.key[2]) for r in detail.get(c.key, []) if r.key[2] is not None})
        if len(hosts) >= minimum:
            found.append((c.key, hosts))
    scopes = _scope_of(ctx, "src", (str(k[0]) for k, _ in found))
    alerts = []
    for (src, port), hosts in found:
        scope = scopes.get(str(src), "internet")
        alerts.append(
            Alert(
                "port-scan-horizontal",
                "Horizontal port scan (sweep)",
                _scan_severity(scope, len(hosts), 50),
                f"{src} -> *:{port}",
                conj(f"srcaddr:{value(src)} and dstport:{int(port)}", _REJECTED),
                summary=f"{len(hosts):,} hosts refused {src} ({scope}) on port {port}",
                evidence={"hosts": len(hosts), "sample_hosts": hosts[:20], "src_scope": scope},
            )
        )
    return alerts


# -- exposure and brute force --------------------------------------------------------------------


def _admin_ports() -> str:
    return any_of("dstport", sorted(ADMIN_PORTS))


def exposed_admin(ctx: Context) -> list[Alert]:
    # a client's source port is 1024 or more: replies from internet servers (443 -> a NAT
    # gateway's port that happens to be 5432) are not clients
    where = conj(
        "action:ACCEPT and protocol:6 and srcport >= 1024",
        _admin_ports(),
        public("src"),
        internal("dst"),
    )
    rows = top(ctx, ("dstaddr", "dstport", "srcaddr"), where, DETAIL_ROWS).rows
    by_service: dict[tuple[str, int], list[TopRow]] = defaultdict(list)
    for r in rows:
        if r.key[0] is not None and r.key[1] is not None:
            by_service[(str(r.key[0]), int(r.key[1]))].append(r)
    alerts = []
    for (dst, port), group in by_service.items():
        sources = sorted({str(r.key[2]) for r in group})
        name = ADMIN_PORTS.get(port, str(port))
        alerts.append(
            Alert(
                "exposed-admin-port",
                "Admin or database port accepted from the internet",
                "medium" if port in (22, 3389) else "high",
                f"{dst}:{port}",
                conj(f"dstaddr:{value(dst)} and dstport:{port}", where),
                summary=f"{name} on {dst} accepted {len(sources):,} internet source(s)",
                evidence={"service": name, "sources": len(sources), "sample_sources": sources[:10]},
            )
        )
    return alerts


def brute_force(ctx: Context) -> list[Alert]:
    minimum = ctx.options.brute_connections
    where = "action:ACCEPT and protocol:6 and dstport:(22 or 3389)"
    cands, detail = _pairs_then_detail(
        ctx,
        ("srcaddr", "dstaddr", "dstport"),
        ("srcaddr", "dstaddr", "dstport", "srcport"),
        where,
        minimum,
    )
    found = []
    for c in cands:
        conns = detail.get(c.key, [])
        short = [r for r in conns if r.totals.packets <= 40]
        if len(short) >= minimum and len(short) >= 0.8 * len(conns):
            found.append((c.key, len(short), len(conns)))
    src_scopes = _scope_of(ctx, "src", (str(k[0]) for k, _, _ in found))
    dst_scopes = _scope_of(ctx, "dst", (str(k[1]) for k, _, _ in found))
    alerts = []
    for (src, dst, port), n_short, n_conns in found:
        s_scope = src_scopes.get(str(src), "internet")
        d_scope = dst_scopes.get(str(dst), "internet")
        inbound = not _ours(s_scope)
        alerts.append(
            Alert(
                "brute-force",
                "SSH/RDP brute force",
                "medium" if inbound else "high",
                f"{src} -> {dst}:{port}",
                conj(f"srcaddr:{value(src)} and dstaddr:{value(dst)} and dstport:{port}", where),
                summary=f"{n_short:,} short {ADMIN_PORTS[int(port)]} connections from {src} "
                f"({s_scope}) to {dst} ({d_scope})",
                evidence={
                    "short_connections": n_short,
                    "connections": n_conns,
                    "src_scope": s_scope,
                },
            )
        )
    return alerts


# -- exfiltration: large egress to a new destination -----------------------------------------

_EGRESS = conj(internal("src"), public("dst"), "srcport >= 1024", "not pkt_dst_aws_service:*")


def exfiltration(ctx: Context) -> list[Alert]:
    o = ctx.options
    res = top(ctx, ("dstaddr", "srcaddr"), _EGRESS, CANDIDATES, "bytes")
    per_dst: dict[str, list[TopRow]] = defaultdict(list)
    for r in res.rows:
        if r.totals.bytes >= o.exfil_bytes and r.key[0] is not None:
            per_dst[str(r.key[0])].append(r)
    if not per_dst:
        return []
    seen = top(
        ctx, ("dstaddr",), any_of("dstaddr", sorted(per_dst)), len(per_dst), time=ctx.baseline
    )
    known = {str(r.key[0]) for r in seen.rows}
    alerts = []
    for dst, rows in per_dst.items():
        if dst in known:
            continue
        # a transfer through a NAT gateway is logged twice (instance and NAT): the largest
        # source stands for it, not the sum
        biggest = max(r.totals.bytes for r in rows)
        sources = sorted({str(r.key[1]) for r in rows})
        alerts.append(
            Alert(
                "exfiltration-new-destination",
                "Large egress to a new destination",
                "high" if biggest >= o.exfil_high_bytes else "medium",
                dst,
                conj(f"dstaddr:{value(dst)}", _EGRESS),
                summary=f"{biggest / 1e6:,.0f} MB sent to {dst}, not seen in the baseline",
                evidence={"bytes": biggest, "sources": sources[:10]},
            )
        )
    return alerts


# -- beaconing -----------------------------------------------------------------------------------

_OUTBOUND = conj(internal("src"), public("dst"), "protocol:(6 or 17)", "srcport >= 1024")


def beacon_score(starts: list[int]) -> tuple[float, float, float] | None:
    """(score, median interval, jitter) of connection times, RITA-style: the mean of the
    Bowley-skew score and the MAD score of the intervals between distinct times."""
    times = sorted(set(starts))
    gaps = [b - a for a, b in zip(times, times[1:], strict=False) if b > a]
    if len(gaps) < 3:
        return None
    q1, q2, q3 = statistics.quantiles(gaps, n=4)
    median = statistics.median(gaps)
    mad = statistics.median(abs(g - median) for g in gaps)
    iqr = q3 - q1
    skew = 0.0 if iqr < 10 or q2 in (q1, q3) else abs((q1 + q3 - 2 * q2) / iqr)
    mad_score = max(0.0, (median - mad) / median) if median > 0 else 0.0
    return (1.0 - skew + mad_score) / 2.0, float(median), mad / median if median else 1.0


def beaconing(ctx: Context) -> list[Alert]:
    o = ctx.options
    fields = ("dstaddr", "dstport", "srcaddr")
    cands = [
        r
        for r in top(ctx, fields, _OUTBOUND, CANDIDATES * 2).rows
        if o.beacon_connections <= r.totals.count <= 86_400
    ]
    # the fewest flows first: a beacon is steady and thin, the busiest pairs are not
    cands.sort(key=lambda r: r.totals.count)
    budget, chosen = DETAIL_ROWS, []
    for r in cands:
        if r.totals.count <= budget:
            chosen.append(r)
            budget -= r.totals.count
    if not chosen:
        return []
    where = conj(_OUTBOUND, any_of("dstaddr", sorted({str(r.key[0]) for r in chosen})))
    rows = top(ctx, (*fields, "srcport", "start"), where, DETAIL_ROWS).rows
    # a connection living several capture windows has a record a window: its first start
    # stands for it (connections are told apart by their source port)
    opened: dict[tuple[Any, ...], int] = {}
    for r in rows:
        if r.key[4] is not None:
            conn, t = r.key[:4], int(r.key[4])
            opened[conn] = min(t, opened.get(conn, t))
    starts: dict[tuple[Any, ...], list[int]] = defaultdict(list)
    for conn, t in opened.items():
        starts[conn[:3]].append(t)
    # the same beacon through a NAT gateway is logged from the instance and from the NAT:
    # one alert per destination and port, naming every source
    best: dict[tuple[str, int], tuple[float, float, float, list[str], int]] = {}
    for c in chosen:
        got = beacon_score(starts.get(c.key, []))
        if got is None or len(set(starts[c.key])) < o.beacon_connections:
            continue
        score, period, jitter = got
        if score < 0.8 or period < 10:
            continue
        key = (str(c.key[0]), int(c.key[1]))
        prev = best.get(key)
        srcs = [*(prev[3] if prev else []), str(c.key[2])]
        if prev is None or score > prev[0]:
            best[key] = (score, period, jitter, srcs, len(set(starts[c.key])))
        else:
            best[key] = (*prev[:3], srcs, prev[4])
    alerts = []
    for (dst, port), (score, period, jitter, srcs, n) in best.items():
        alerts.append(
            Alert(
                "beaconing",
                "Beaconing (regular connections to one destination)",
                "medium" if score >= 0.9 else "low",
                f"{dst}:{port}",
                conj(f"dstaddr:{value(dst)} and dstport:{port}", _OUTBOUND),
                summary=f"{n:,} connections to {dst}:{port} every {period:,.0f} s "
                f"(jitter {100 * jitter:.0f}%, score {score:.2f})",
                evidence={
                    "score": round(score, 3),
                    "period_seconds": period,
                    "jitter": round(jitter, 3),
                    "connections": n,
                    "sources": sorted(set(srcs)),
                },
            )
        )
    return alerts


# -- reject spike --------------------------------------------------------------------------------


def reject_spike(ctx: Context) -> list[Alert]:
    assert ctx.window.start and ctx.window.end
    start = ctx.baseline.start or ctx.window.start
    span = TimeRange(min(start, ctx.window.start), ctx.window.end)
    hist = ctx.one(HistQuery(3600, scope=ctx.scope("action:REJECT", span)))
    allq = ctx.one(HistQuery(3600, scope=ctx.scope("", span)))
    assert isinstance(hist, HistResult) and isinstance(allq, HistResult)
    rejects = [sum(s.count[i] for s in hist.series) for i in range(len(hist.times))]
    flows = [sum(s.count[i] for s in allq.series) for i in range(len(allq.times))]
    if len(flows) != len(rejects):
        return []
    # hours with no flow at all are outside the data, not quiet hours
    hours = [(t, r) for t, r, f in zip(hist.times, rejects, flows, strict=True) if f > 0]
    base = [r for t, r in hours if t < ctx.window.start]
    if len(base) < 6:
        base = [r for _, r in hours]
    if len(base) < 6:
        return []
    median = statistics.median(base)
    mad = statistics.median(abs(x - median) for x in base) or 1.0
    alerts = []
    for t, r in hours:
        if t < ctx.window.start:
            continue
        z = 0.6745 * (r - median) / mad
        if z < 3.5 or r < 100 or r < 2 * median:
            continue
        hour = TimeRange(t, t + timedelta(seconds=3600))
        srcs = top(ctx, ("srcaddr",), "action:REJECT", 5, time=hour)
        alerts.append(
            Alert(
                "reject-spike",
                "Spike of rejected flows",
                "low",
                f"rejects {t:%Y-%m-%d %H}:00",
                "action:REJECT",
                summary=f"{r:,} rejected flows in the hour from {t:%H}:00 UTC, against a "
                f"median of {median:,.0f} (robust z {z:.1f})",
                evidence={
                    "rejects": r,
                    "median": median,
                    "z": round(z, 1),
                    "hour": t.astimezone(UTC).isoformat(),
                    "top_sources": [
                        {"srcaddr": x.key[0], "count": x.totals.count} for x in srcs.rows
                    ],
                },
            )
        )
    return alerts


# -- new listening service -------------------------------------------------------------------

_SERVING = conj(
    "action:ACCEPT and protocol:6", internal("dst"), "dstport < 32768", "srcport >= 1024"
)


def _answered(ctx: Context, services: list[tuple[str, int]]) -> set[tuple[str, int]]:
    """Those of ``services`` (address, port) that sent accepted records from that port."""
    if not services:
        return set()
    where = conj(
        "action:ACCEPT",
        any_of("srcaddr", sorted({a for a, _ in services})),
        any_of("srcport", sorted({p for _, p in services})),
    )
    rows = top(ctx, ("srcaddr", "srcport"), where, DETAIL_ROWS).rows
    return {(str(r.key[0]), int(r.key[1])) for r in rows if r.key[1] is not None}


def new_service(ctx: Context) -> list[Alert]:
    cands, detail = _pairs_then_detail(
        ctx, ("dstaddr", "dstport"), ("dstaddr", "dstport", "srcaddr"), _SERVING, 3
    )
    busy = {}
    for c in cands:
        clients = sorted({str(r.key[2]) for r in detail.get(c.key, [])})
        if len(clients) >= 3:
            busy[(str(c.key[0]), int(c.key[1]))] = clients
    # the service must have answered: an accepted record from it, from that port (a client's
    # own interface logs its attempts as accepted even when the server refuses them)
    answered = _answered(ctx, list(busy))
    busy = {k: v for k, v in busy.items() if k in answered}
    if not busy:
        return []
    ports = sorted({p for _, p in busy})
    seen = top(
        ctx,
        ("dstaddr", "dstport"),
        conj("action:ACCEPT", any_of("dstport", ports)),
        DETAIL_ROWS,
        time=ctx.baseline,
    )
    known = {(str(r.key[0]), int(r.key[1])) for r in seen.rows if r.key[1] is not None}
    busy = {k: v for k, v in busy.items() if k not in known}
    public_clients = _scope_of(ctx, "src", (c for cl in busy.values() for c in cl))
    alerts = []
    for (dst, port), clients in busy.items():
        exposed = any(public_clients.get(c) == "internet" for c in clients)
        alerts.append(
            Alert(
                "new-listening-service",
                "New listening service",
                "medium" if exposed or port in ADMIN_PORTS else "low",
                f"{dst}:{port}",
                conj(f"dstaddr:{value(dst)} and dstport:{port}", _SERVING),
                summary=f"{dst} accepted {len(clients):,} clients on port {port}, never in "
                "the baseline" + (" (internet clients)" if exposed else ""),
                evidence={"clients": len(clients), "sample_clients": clients[:10]},
            )
        )
    return alerts


# -- known-bad addresses ----------------------------------------------------------------------


def known_bad(ctx: Context) -> list[Alert]:
    listed = ctx.options.known_bad
    if not listed:
        return []
    nets = [ipaddress.ip_network(x, strict=False) for x in listed]
    hits: dict[str, dict[str, Any]] = {}
    for i in range(0, len(listed), 200):
        chunk = listed[i : i + 200]
        where = f"{any_of('srcaddr', chunk)} or {any_of('dstaddr', chunk)}"
        for r in top(ctx, ("srcaddr", "dstaddr", "action"), where, DETAIL_ROWS).rows:
            src, dst, action = (str(x) if x is not None else "" for x in r.key)
            for addr, peer, way in ((src, dst, "from"), (dst, src, "to")):
                try:
                    ip = ipaddress.ip_address(addr)
                except ValueError:
                    continue
                if any(ip.version == n.version and ip in n for n in nets):
                    h = hits.setdefault(addr, {"peers": set(), "ways": set(), "flows": 0})
                    h["peers"].add(peer)
                    h["flows"] += r.totals.count
                    if action == "ACCEPT":
                        h["ways"].add(way)
    alerts = []
    for addr, h in hits.items():
        ways = h["ways"]
        severity: Severity = "high" if len(ways) == 2 else "medium" if ways else "info"
        alerts.append(
            Alert(
                "known-bad",
                "Traffic with a listed address",
                severity,
                addr,
                f"srcaddr:{value(addr)} or dstaddr:{value(addr)}",
                summary=f"{h['flows']:,} flows with {addr} (listed), accepted "
                + (" and ".join(sorted(ways)) if ways else "never"),
                evidence={"peers": sorted(h["peers"])[:10], "accepted": sorted(ways)},
            )
        )
    return alerts


# -- unusual protocols -------------------------------------------------------------------------


def unusual_protocol(ctx: Context) -> list[Alert]:
    where = f"protocol:* and not {any_of('protocol', COMMON_PROTOCOLS)} and action:ACCEPT"
    rows = top(ctx, ("protocol", "srcaddr", "dstaddr"), where, CANDIDATES).rows
    pairs: dict[tuple[int, str, str], int] = defaultdict(int)
    for r in rows:
        proto, src, dst = r.key
        if proto is not None:  # both directions of one exchange make one alert
            a, b = sorted((str(src), str(dst)))
            pairs[(int(proto), a, b)] += r.totals.count
    alerts = []
    for (proto, a, b), flows in pairs.items():
        alerts.append(
            Alert(
                "unusual-protocol",
                "Unusual IP protocol",
                "medium",
                f"{a} <-> {b} protocol {proto}",
                f"protocol:{proto} and srcaddr:({value(a)} or {value(b)}) "
                f"and dstaddr:({value(a)} or {value(b)})",
                summary=f"{flows:,} accepted flows of IP protocol {proto} between {a} and {b}",
                evidence={"protocol": proto, "flows": flows},
            )
        )
    return alerts


RULES: dict[str, Rule] = {
    r.id: r
    for r in (
        Rule(
            "port-scan-vertical",
            "Vertical port scan",
            "high",
            ("T1595.001", "T1046"),
            "One source refused on many ports of one destination (at least 15 distinct ports, "
            "REJECT records, TCP or UDP) within the window. From the internet this is the "
            "background every public address sees: low, or medium past 100 ports; from one of "
            "our own hosts it is discovery after a compromise: high.",
            vertical_scan,
        ),
        Rule(
            "port-scan-horizontal",
            "Horizontal port scan (sweep)",
            "high",
            ("T1595.001", "T1046", "T1018"),
            "One source refused by many hosts on one port (at least 20 distinct destinations, "
            "REJECT records). Internet sources are low (medium past 50 hosts); one of our own "
            "hosts sweeping is high.",
            horizontal_scan,
        ),
        Rule(
            "exposed-admin-port",
            "Admin or database port accepted from the internet",
            "high",
            ("T1133", "T1190"),
            "An internet source was accepted on an administration or database port (SSH, RDP, "
            "SMB, SQL Server, MySQL, PostgreSQL, Redis, Elasticsearch, MongoDB…) of one of our "
            "addresses: the port is open to the world. SSH and RDP are medium (bastions exist), "
            "the rest high.",
            exposed_admin,
        ),
        Rule(
            "brute-force",
            "SSH/RDP brute force",
            "high",
            ("T1110.001", "T1110.003"),
            "Many short connections (at least 30 distinct source ports, each at most 40 packets, "
            "accepted) from one source to port 22 or 3389 of one destination: password "
            "guessing. Inbound from the internet is medium; from our own host, high.",
            brute_force,
        ),
        Rule(
            "exfiltration-new-destination",
            "Large egress to a new destination",
            "high",
            ("T1048", "T1041", "T1567.002", "T1030"),
            "One of our hosts sent at least 100 MB (the client side: source port 1024 or more) "
            "to an internet address no flow reached in the baseline; 1 GB or more is high. "
            "AWS services are left out (by scope, or pkt-dst-aws-service), and a transfer "
            "through a NAT gateway counts once.",
            exfiltration,
        ),
        Rule(
            "beaconing",
            "Beaconing",
            "medium",
            ("T1071", "T1571", "T1573"),
            "Connections from one of our hosts to one internet address and port at regular "
            "intervals: at least 24 distinct start times, scored like RITA (Bowley skew and "
            "median absolute deviation of the intervals); 0.8 or more is low, 0.9 medium. "
            "Never high alone: software updaters and health checks beacon too.",
            beaconing,
        ),
        Rule(
            "reject-spike",
            "Spike of rejected flows",
            "low",
            ("T1595", "T1046", "T1498"),
            "An hour with far more REJECT records than usual: robust z-score "
            "(0.6745 (x - median) / MAD) of at least 3.5 against the baseline's hours, at least "
            "100 rejects and twice the median. The alert names the hour's top sources.",
            reject_spike,
        ),
        Rule(
            "new-listening-service",
            "New listening service",
            "medium",
            ("T1543", "T1133"),
            "One of our addresses accepted at least 3 clients on a TCP port (below 32768, from "
            "client ports) it never accepted on in the baseline. Low; medium when the clients "
            "include internet addresses or the port is an admin or database port.",
            new_service,
        ),
        Rule(
            "known-bad",
            "Traffic with a listed address",
            "high",
            ("T1071", "T1090.003"),
            "Flows to or from an address of your list (--known-bad FILE: one IP or CIDR a line, "
            "an exported threat feed). Accepted both ways: high; one way: medium; only "
            "rejected: info.",
            known_bad,
        ),
        Rule(
            "unusual-protocol",
            "Unusual IP protocol",
            "medium",
            ("T1095", "T1572"),
            "Accepted flows of an IP protocol other than ICMP, TCP, UDP and ICMPv6 (GRE, ESP, "
            "IPv6-in-IPv4…): tunnels, unless they are your VPN.",
            unusual_protocol,
        ),
    )
}
