"""Hostile inputs (issue 10, items 3 and 4): bombs, endless lines, blank lines, bad bytes.

Memory must stay bounded whatever the input, a line over 1 MiB is set aside, blank lines cost
nothing, and text that is not UTF-8 never prints a traceback.
"""

from __future__ import annotations

import gzip
import subprocess
import sys
import zlib
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from flowscope.parse.reader import _cut, _decompressed_checked
from tests.conftest import query, run_flowscope

MiB = 1 << 20


def rec(i: int) -> bytes:
    return (
        f"2 123456789010 eni-0a{i % 7} 10.0.{i % 3}.{i % 250} 52.94.1.{i % 200} "
        f"{40000 + i % 20000} 443 6 {1 + i % 9} {100 + i} {1718000000 + i} "
        f"{1718000060 + i} ACCEPT OK\n"
    ).encode()


def gz_of(path: Path, byte: bytes, size: int) -> Path:
    comp = zlib.compressobj(6, zlib.DEFLATED, 31)
    with path.open("wb") as f:
        for _ in range(size // MiB):
            f.write(comp.compress(byte * MiB))
        f.write(comp.flush())
    return path


def ingest(store: Path, *paths: Path) -> subprocess.CompletedProcess[str]:
    return run_flowscope("--store", str(store), "ingest", *map(str, paths))


# --- the cutter and the decompressor, on their own ---


@st.composite
def lines_and_chunks(draw: st.DrawFn) -> tuple[bytes, list[int], int, int]:
    max_line = draw(st.integers(4, 40))
    pieces = draw(
        st.lists(
            st.one_of(
                st.just(b""),
                st.binary(min_size=1, max_size=max_line).map(lambda b: b.replace(b"\n", b"x")),
                st.integers(max_line + 1, 3 * max_line + 5).map(lambda n: b"L" * n),
            ),
            max_size=30,
        )
    )
    data = b"\n".join(pieces) + draw(st.sampled_from([b"", b"\n"]))
    sizes = draw(st.lists(st.integers(1, max_line), min_size=1, max_size=10))
    block_size = draw(st.integers(1, 4 * max_line))
    return data, sizes, max_line, block_size


@settings(max_examples=300, deadline=None)
@given(lines_and_chunks())
def test_cut_keeps_every_short_line_and_sets_aside_every_long_one(
    case: tuple[bytes, list[int], int, int],
) -> None:
    data, sizes, max_line, block_size = case
    chunks, pos, i = [], 0, 0
    while pos < len(data):
        chunks.append(data[pos : pos + sizes[i % len(sizes)]])
        pos += sizes[i % len(sizes)]
        i += 1
    expected_kept: dict[int, bytes] = {}
    expected_long: dict[int, bytes] = {}
    lines = data.split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    for n, text in enumerate(lines, 1):
        (expected_long if len(text) > max_line else expected_kept)[n] = text
    kept: dict[int, bytes] = {}
    long: dict[int, str] = {}
    blocks = list(_cut(iter(chunks), block_size, max_line))
    for b in blocks:
        assert b.lines == b.data.count(b"\n")
        assert len(b.data) <= block_size + 2 * max_line + 1
        for r in b.rejects:
            assert r.reason == f"line longer than {max_line} bytes"
            long[r.line] = r.raw
        got = b.data.split(b"\n")
        if got[-1] == b"":
            got.pop()
        for n, text in enumerate(got, b.line):
            kept[n] = text
    for b in blocks[:-1]:
        assert b.data == b"" or b.data.endswith(b"\n")
    assert kept == expected_kept
    # A long line's text is its first 200 bytes, or as many as were read when it ran over.
    assert long.keys() == expected_long.keys()
    for n, raw in long.items():
        shown = expected_long[n][:200].decode("utf-8", "replace")
        assert shown.startswith(raw) and len(raw) >= min(200, max_line + 1)


def test_a_gzip_bomb_comes_out_a_mebibyte_at_a_time() -> None:
    member = gzip.compress(b"\0" * (40 * MiB))
    sizes = [len(c) for c in _decompressed_checked(_Bytes(member + member), "bomb", True)]
    assert sum(sizes) == 80 * MiB
    assert max(sizes) == MiB


class _Bytes:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def read(self, n: int = -1) -> bytes:
        out = self.data[self.pos : self.pos + n]
        self.pos += len(out)
        return out


# --- the four shapes of the attack report, through the real command ---


def test_gzipped_zeros_are_refused_as_binary(tmp_path: Path, store_path: Path) -> None:
    bomb = gz_of(tmp_path / "zeros.gz", b"\0", 64 * MiB)
    r = ingest(store_path, bomb)
    assert r.returncode == 4, r.stderr
    assert f"failed {bomb}: binary data: not flow-log text, gzip or Parquet" in r.stderr
    assert "Traceback" not in r.stderr
    assert query(store_path, "SELECT count(*) FROM loads") == [(0,)]


def test_a_line_with_no_newline_is_set_aside_truncated(tmp_path: Path, store_path: Path) -> None:
    f = tmp_path / "one-line.txt"
    f.write_bytes(b"a" * (3 * MiB))
    r = ingest(store_path, f)
    assert r.returncode == 3, r.stderr
    assert f"set aside {f}:1: line longer than 1 MiB" in r.stderr
    assert "Traceback" not in r.stderr
    assert query(store_path, "SELECT source, line, reason, raw FROM rejects") == [
        (str(f), 1, "line longer than 1 MiB", "a" * 200)
    ]
    assert query(store_path, "SELECT rows, rejects FROM loads") == [(0, 1)]


def test_long_lines_between_records_keep_line_numbers(tmp_path: Path, store_path: Path) -> None:
    f = tmp_path / "mixed.log"
    f.write_bytes(
        rec(1)
        + b"b" * (3 * MiB)
        + b"\n"
        + rec(2)
        + b"\n" * 300_000
        + b"x\n"
        + rec(3)
        # the last line ends the file without a newline
        + b"\xff" * (MiB + 1)
    )
    r = ingest(store_path, f)
    assert r.returncode == 3, r.stderr
    assert query(store_path, "SELECT line, reason, length(raw) FROM rejects ORDER BY line") == [
        (2, "line longer than 1 MiB", 200),
        (300_004, "1 fields, expected 14 (default format (v2))", 1),
        (300_006, "line longer than 1 MiB", 200),
    ]
    assert query(store_path, "SELECT bytes FROM flows ORDER BY bytes") == [(101,), (102,), (103,)]


def test_a_wide_bad_line_is_stored_clipped(tmp_path: Path, store_path: Path) -> None:
    """300 lines of 1 MiB, each a reject, took 2.4 GB of RSS: each kept its whole text."""
    f = tmp_path / "wide.log"
    f.write_bytes(rec(1) + (b"x " * 300_000 + b"x\n") * 3)
    r = ingest(store_path, f)
    assert r.returncode == 3, r.stderr
    assert query(store_path, "SELECT line, reason, raw FROM rejects ORDER BY line") == [
        (n, "300001 fields, expected 14 (default format (v2))", ("x " * 256)[:512])
        for n in (2, 3, 4)
    ]


def test_gzipped_newlines_load_nothing_and_fail_nothing(tmp_path: Path, store_path: Path) -> None:
    bomb = gz_of(tmp_path / "newlines.gz", b"\n", 32 * MiB)
    r = ingest(store_path, bomb)
    assert r.returncode == 0, r.stderr
    assert "0 records loaded from 1 input(s); 0 set aside" in r.stderr
    assert query(store_path, "SELECT rows, rejects FROM loads") == [(0, 0)]


def test_blank_lines_are_skipped_around_records(tmp_path: Path, store_path: Path) -> None:
    f = tmp_path / "blank.log"
    blank = b"\n" * (4 * MiB)
    f.write_bytes(blank + rec(1) + blank + b"oops\n" + rec(2) + blank)
    r = ingest(store_path, f)
    assert r.returncode == 3, r.stderr
    assert f"set aside {f}:{2 * 4 * MiB + 2}: 1 fields, expected 14" in r.stderr
    assert query(store_path, "SELECT line, raw FROM rejects") == [(2 * 4 * MiB + 2, "oops")]
    assert query(store_path, "SELECT count(*) FROM flows") == [(2,)]


#: Starts a command and prints its peak RSS (KiB) and exit code. A bare launcher, because a
#: child's ``ru_maxrss`` starts at its parent's size (the forked image counts until ``exec``),
#: and pytest's process is big.
LAUNCHER = """
import os, sys
pid = os.fork()
if pid == 0:
    os.execv(sys.argv[1], sys.argv[1:])
_, status, usage = os.wait4(pid, 0)
print(usage.ru_maxrss, os.waitstatus_to_exitcode(status))
"""


def test_peak_memory_of_a_blank_line_bomb_stays_small(tmp_path: Path, store_path: Path) -> None:
    """8 MiB of gzipped newlines took 1.5 GiB of RSS (190 bytes a blank line); now ~200 MiB."""
    bomb = gz_of(tmp_path / "newlines.gz", b"\n", 8 * MiB)
    lines = tmp_path / "one-line.txt"
    lines.write_bytes(b"a" * (64 * MiB))
    cmd = [sys.executable, "-m", "flowscope", "-s", str(store_path), "ingest", str(bomb)]
    cmd.append(str(lines))
    proc = subprocess.run(
        [sys.executable, "-c", LAUNCHER, *cmd], capture_output=True, text=True, check=True
    )
    peak_kib, code = (int(x) for x in proc.stdout.split()[-2:])
    assert code == 3, proc.stderr
    assert peak_kib < 400 * 1024, f"peak RSS {peak_kib // 1024} MiB"


# --- item 4: no traceback for text that is not UTF-8 ---


def test_bytes_that_are_not_utf8_past_8k_print_no_traceback(
    tmp_path: Path, store_path: Path
) -> None:
    body = b"".join(rec(i) for i in range(200))  # about 22 kB
    assert len(body) > 8192
    plain = tmp_path / "bad.log"
    plain.write_bytes(
        body
        + b"\xff\xfe garbage\n"
        + body
        + b"2 1 eni-\xff 10.0.0.1 10.0.0.2 1 2 6 1 1 1 2 ACCEPT OK\n"
    )
    gz = tmp_path / "bad.log.gz"
    gz.write_bytes(gzip.compress(b"version srcaddr\n" + b"10.0.0.1 10.0.0.\xff\n" * 3 + b"\xff\n"))
    r = ingest(store_path, plain, gz)
    assert r.returncode == 3, r.stderr
    assert "Traceback" not in r.stderr and "Exception ignored" not in r.stderr
    assert query(store_path, "SELECT source, line, reason FROM rejects ORDER BY source, line") == [
        (str(plain), 201, "not UTF-8 text"),
        (str(plain), 402, "not UTF-8 text"),
        (str(gz), 2, "not UTF-8 text"),
        (str(gz), 3, "not UTF-8 text"),
        (str(gz), 4, "not UTF-8 text"),
        (str(gz), 5, "not UTF-8 text"),
    ]
    assert query(store_path, "SELECT count(*), sum(bytes) FROM flows") == [
        (400, 2 * sum(100 + i for i in range(200)))
    ]
