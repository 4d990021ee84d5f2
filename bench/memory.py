"""Memory benchmark: peak RSS of ``flowscope ingest`` on hostile inputs, beside normal ones.

Generates, in a temporary folder, the four inputs of the attack report (issue 10, item 3) and
loads each with the real command in a fresh subprocess, one store per input:

- ``zeros.gz``: N bytes of zeros, gzipped (a decompression bomb; refused as binary data);
- ``one-line.txt``: N bytes of ``a`` with no newline (one line far over the 1 MiB limit);
- ``newlines.gz``: N bytes of newlines, gzipped (a bomb of blank lines);
- ``blank.txt``: N bytes of blank lines in plain text;
- ``bad.log``: N records of about 600 bytes, each set aside (an address that is not one), so
  the rejects themselves, not the text, are what could pile up.

Beside them, the baselines: a normal default-format ``.log.gz`` of flow records whose
decompressed size is about the largest hostile input's, ingested the same way, and ``gzip -dc
FILE > /dev/null`` on the biggest gzip input. Each row prints the process's peak RSS (its
``ru_maxrss``, through :mod:`rss`'s launcher), its time, its exit code and what the store holds.

Usage: ``python bench/memory.py [--quick] [--zeros-mb 2048] [--line-mb 2048] [--newlines-mb
200] [--blank-mb 10] [--bad-lines 600000] [--records N]``. ``--quick`` divides every size by 10.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import zlib
from pathlib import Path

import duckdb
import rss

from flowscope.demo.generate import write_benchmark_file

MB = 1 << 20
#: Bytes of one default-format record in the benchmark file, about (for --records' default).
RECORD_BYTES = 110


def write_repeated(path: Path, byte: bytes, size: int, gzipped: bool) -> None:
    """``size`` copies of ``byte``, gzipped or not, written a MiB at a time."""
    piece = byte * MB
    with path.open("wb") as f:
        comp = zlib.compressobj(6, zlib.DEFLATED, 31) if gzipped else None
        left = size
        while left > 0:
            data = piece if left >= MB else byte * left
            left -= len(data)
            f.write(comp.compress(data) if comp else data)
        if comp:
            f.write(comp.flush())


BAD_LINE = b"2 123456789012 eni-1 not-an-address 10.0.0.2 1 2 6 1 40 1700000000 1700000060 ACCEPT"


def write_bad(path: Path, lines: int) -> None:
    """``lines`` records of ~600 bytes that each fail the address check."""
    line = BAD_LINE + b" " + b"x" * (600 - len(BAD_LINE) - 2) + b"\n"
    with path.open("wb") as f:
        for done in range(0, lines, 1000):
            f.write(line * min(1000, lines - done))


def measure(cmd: list[str]) -> tuple[float, int, int, str]:
    """(seconds, peak RSS in bytes, exit code, last line of stderr) of one command."""
    r = rss.run(cmd)
    err = r.stderr.strip()
    return r.seconds, r.peak_rss, r.returncode, err.splitlines()[-1] if err else ""


def stored(store: Path) -> str:
    if not store.exists():
        return "no store"
    con = duckdb.connect(str(store), read_only=True)
    try:
        rows = con.execute("SELECT count(*) FROM flows").fetchall()[0][0]
        rejects = con.execute("SELECT count(*) FROM rejects").fetchall()[0][0]
    finally:
        con.close()
    return f"{rows:,} rows, {rejects:,} rejects"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="every size divided by 10")
    ap.add_argument("--zeros-mb", type=int, default=2048)
    ap.add_argument("--line-mb", type=int, default=2048)
    ap.add_argument("--newlines-mb", type=int, default=200)
    ap.add_argument("--blank-mb", type=int, default=10)
    ap.add_argument("--bad-lines", type=int, default=600_000)
    ap.add_argument("--records", type=int, help="records of the normal file (default: ~200 MB)")
    args = ap.parse_args()
    div = 10 if args.quick else 1
    sizes = {
        "zeros": args.zeros_mb * MB // div,
        "line": args.line_mb * MB // div,
        "newlines": args.newlines_mb * MB // div,
        "blank": args.blank_mb * MB // div,
    }
    records = args.records or max(sizes["newlines"], sizes["blank"]) // RECORD_BYTES
    flowscope = [sys.executable, "-m", "flowscope"]
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        inputs = [
            ("zeros", tmp / "zeros.gz", "zeros, gzipped", b"\0", True),
            ("line", tmp / "one-line.txt", "`a`, no newline", b"a", False),
            ("newlines", tmp / "newlines.gz", "newlines, gzipped", b"\n", True),
            ("blank", tmp / "blank.txt", "blank lines, plain text", b"\n", False),
        ]
        t = time.perf_counter()
        for key, path, _, byte, gz in inputs:
            write_repeated(path, byte, sizes[key], gz)
        bad = tmp / "bad.log"
        write_bad(bad, args.bad_lines // div)
        inputs_bad = [("bad", bad, f"{args.bad_lines // div:,} records set aside")]
        normal = tmp / "normal.log.gz"
        write_benchmark_file(normal, records)
        print(f"generated the inputs in {time.perf_counter() - t:.1f}s", file=sys.stderr)
        rows: list[tuple[str, float, int, int, str]] = []
        for key, path, what, _, _ in inputs:
            store = tmp / f"{key}.duckdb"
            secs, rss, code, last = measure([*flowscope, "-s", str(store), "ingest", str(path)])
            label = f"{sizes[key] / MB:,.0f} MiB of {what} ({path.stat().st_size / MB:,.1f} MiB)"
            what_stored = stored(store) if code in (0, 3, 4) else f"{stored(store)}; {last}"
            rows.append((label, secs, rss, code, what_stored))
        for key, path, what in inputs_bad:
            store = tmp / f"{key}.duckdb"
            secs, rss, code, last = measure([*flowscope, "-s", str(store), "ingest", str(path)])
            label = f"{what} ({path.stat().st_size / MB:,.1f} MiB)"
            rows.append((label, secs, rss, code, stored(store)))
        store = tmp / "normal.duckdb"
        secs, rss, code, _ = measure([*flowscope, "-s", str(store), "ingest", str(normal)])
        rows.append(
            (
                f"baseline: {normal.name}, {records:,} records "
                f"({normal.stat().st_size / MB:,.1f} MiB file)",
                secs,
                rss,
                code,
                stored(store),
            )
        )
        biggest = max((p for _, p, _, _, gz in inputs if gz), key=lambda p: p.stat().st_size)
        secs, peak, code, _ = measure(["/bin/sh", "-c", f"gzip -dc {biggest} > /dev/null"])
        rows.append((f"baseline: gzip -dc {biggest.name} > /dev/null", secs, peak, code, ""))
    width = max(len(r[0]) for r in rows)
    print(f"\n{'input':{width}} {'peak RSS':>10} {'seconds':>8} {'exit':>4}  stored")
    for label, secs, rss, code, what in rows:
        print(f"{label:{width}} {rss / MB:7,.0f} MiB {secs:8.2f} {code:4}  {what}")


if __name__ == "__main__":
    main()
