"""Writers: the S3 key layout, one gzip object per flow log and 5 minutes, and the benchmark file.

Part of the demo generator; :mod:`flowscope.demo.generate` is its public face.
"""

from __future__ import annotations

import hashlib
import os
import struct
import sys
import zlib
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from flowscope.demo.records import _concat, _iter_batches, _take
from flowscope.demo.render import _needed, _render_lines, _text, header_line
from flowscope.demo.spec import DEFAULT_FIELDS, FLOW_LOGS, WINDOW_SECONDS, DemoSpec
from flowscope.demo.topology import Topology
from flowscope.demo.traffic import Cols


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
    topo = Topology(spec)
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
    cols: Cols, fields: Sequence[str], topo: Topology, level: int
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
    topo = Topology(spec)
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
    topo: Topology,
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
