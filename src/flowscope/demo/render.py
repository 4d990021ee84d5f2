"""Records to text: column-wise rendering of flow log lines with Arrow, in any field order.

Part of the demo generator; :mod:`flowscope.demo.generate` is its public face.
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from flowscope.demo.records import _iter_batches
from flowscope.demo.spec import _VERSION_OF, I64, DemoSpec
from flowscope.demo.topology import _SERVICES, Topology
from flowscope.demo.traffic import _COLS, Cols

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

    def __init__(self, fields: Sequence[str], topo: Topology) -> None:
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


# One renderer per topology and field order (its lookup tables are costly to build).
_RENDERERS: weakref.WeakKeyDictionary[Topology, dict[tuple[str, ...], _Renderer]] = (
    weakref.WeakKeyDictionary()
)


def _render_lines(cols: Cols, fields: Sequence[str], topo: Topology) -> Any:
    """An Arrow string array of lines, each ending in a newline."""
    key = tuple(fields)
    cache = _RENDERERS.setdefault(topo, {})
    renderer = cache.get(key)
    if renderer is None:
        renderer = cache[key] = _Renderer(key, topo)
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
    topo = Topology(spec)
    for cols in _iter_batches(spec, topo):
        if len(cols["eni"]) == 0:
            continue
        text = _text(_render_lines(cols, fmt_fields, topo)).decode()
        for line in text.splitlines():
            yield line.split(" ")
