"""Conversations to records: one per interval, direction and recording ENI (NAT translation
included), chunked by hour.

Part of the demo generator; :mod:`flowscope.demo.generate` is its public face.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import numpy as np
import numpy.typing as npt

from flowscope.demo.spec import I64, DemoSpec
from flowscope.demo.topology import Topology
from flowscope.demo.traffic import (
    _ACCEPT,
    _COLS,
    _EGRESS,
    _INGRESS,
    _MIX,
    _NODATA_SHARE,
    _PROBE,
    _REJECT,
    _SKIPDATA_SHARE,
    _STREAM,
    Cols,
    Conv,
    Traffic,
    _diurnal,
    _expected_records,
)


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
    topo: Topology,
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
    topo: Topology,
    spec: DemoSpec,
    index: int,
    t0: int,
    t1: int,
    scale: float,
    keep: Sequence[str] = _COLS,
) -> list[Cols]:
    """Records of the conversations starting in [t0, t1), in no particular order."""
    rng = np.random.default_rng([spec.seed, index, 0xC4])
    traffic = Traffic(topo, rng)
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
    if spec.attacks:  # from their own random stream: the normal traffic stays the same
        from flowscope.demo.attacks import Attacks

        arng = np.random.default_rng([spec.seed, index, 0xA7])
        found = Attacks(topo, spec, arng).convs(t0, t1)
        if found:
            merged = {key: np.concatenate([c[key] for c in found]) for key in found[0]}
            parts += _expand(merged, topo.nat, int(topo.eni_ip4[topo.nat]), arng, keep)
    return parts


def _moved(topo: Topology, cols: Cols) -> Cols:
    """From ``topo.move_at`` on, what the replaced instance's ENI would log comes from the new
    instance's ENI, which holds the same addresses (the estate's move)."""
    when = cols.get("start", cols.get("end"))  # by start; the end when only that is kept
    if "eni" in cols and when is not None and len(when) and int(when.max()) >= topo.move_at:
        after = (cols["eni"] == topo.moved) & (when >= topo.move_at)
        cols["eni"] = np.where(after, topo.spare, cols["eni"])
    return cols


def _iter_batches(
    spec: DemoSpec, topo: Topology, scale: float | None = None, keep: Sequence[str] = _COLS
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
        yield _moved(topo, _take(cols, done[np.argsort(key, kind="stable")]))
        index += 1
        t0 = t1
