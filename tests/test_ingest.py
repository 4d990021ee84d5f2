"""Ingest through the real command into a real DuckDB file: loads, rejects, ledger, errors."""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from tests.conftest import query, run_flowscope, write_gz

HEADER = (
    "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets "
    "bytes start end action log-status\n"
)


def rec(i: int, action: str = "ACCEPT") -> str:
    return (
        f"2 123456789010 eni-0a{i % 7} 10.0.{i % 3}.{i % 250} 52.94.1.{i % 200} "
        f"{40000 + i % 20000} 443 6 {1 + i % 9} {100 + i} {1718000000 + i} "
        f"{1718000060 + i} {action} OK\n"
    )


def test_ingest_gz_with_header_then_sql(tmp_path: Path, store_path: Path) -> None:
    f = write_gz(tmp_path / "a.log.gz", HEADER + "".join(rec(i) for i in range(100)))
    r = run_flowscope("--store", str(store_path), "ingest", str(f))
    assert r.returncode == 0, r.stderr
    assert "100 records loaded from 1 input(s); 0 set aside" in r.stderr
    assert query(store_path, "SELECT count(*), sum(bytes), min(dstport) FROM flows") == [
        (100, sum(100 + i for i in range(100)), 443)
    ]
    loads = query(store_path, "SELECT source, rows, rejects, layout FROM loads")
    assert loads == [
        (str(f), 100, 0, "header line: " + " ".join(f"${{{n}}}" for n in HEADER.split()))
    ]
    out = run_flowscope(
        "--store",
        str(store_path),
        "sql",
        "select dstport, count(*) as n from flows group by 1",
        "--json",
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == [{"dstport": 443, "n": 100}]
    csv_out = run_flowscope(
        "sql",
        "select action, count(*) as n from flows group by 1",
        "--csv",
        env={"FLOWSCOPE_STORE": str(store_path)},
    )
    assert csv_out.stdout == "action,n\nACCEPT,100\n"


def test_reingest_adds_nothing_even_from_another_path(tmp_path: Path, store_path: Path) -> None:
    data = HEADER + "".join(rec(i) for i in range(10))
    a = write_gz(tmp_path / "a.log.gz", data)
    (tmp_path / "copy").mkdir()
    b = tmp_path / "copy" / "b.log.gz"
    b.write_bytes(a.read_bytes())
    assert run_flowscope("-s", str(store_path), "ingest", str(a)).returncode == 0
    again = run_flowscope("-s", str(store_path), "ingest", str(a), str(tmp_path / "copy"))
    assert again.returncode == 0
    assert "0 records loaded from 0 input(s); 0 set aside; 2 already loaded" in again.stderr
    assert query(store_path, "SELECT count(*) FROM flows") == [(10,)]


def test_the_same_content_twice_in_one_run_loads_once(tmp_path: Path, store_path: Path) -> None:
    data = HEADER + "".join(rec(i) for i in range(10))
    a = write_gz(tmp_path / "a.log.gz", data)
    b = tmp_path / "b.log.gz"
    b.write_bytes(a.read_bytes())
    other = write_gz(tmp_path / "c.log.gz", HEADER + rec(99))
    r = run_flowscope("-s", str(store_path), "ingest", str(a), str(b), str(other))
    assert r.returncode == 0, r.stderr
    assert "11 records loaded from 2 input(s); 0 set aside; 1 already loaded" in r.stderr
    assert f"{b}: already loaded (load 1, {a})" in r.stderr
    assert query(store_path, "SELECT count(*), count(DISTINCT load_id) FROM flows") == [(11, 2)]
    assert query(store_path, "SELECT count(*) FROM loads") == [(2,)]


def test_stdin_and_format_option(store_path: Path) -> None:
    data = "".join(f"{i} 10.0.0.{i} 2600:1f18::{i:x} REJECT\n" for i in range(1, 6)).encode()
    fmt = "${dstport} ${srcaddr} ${dstaddr} ${action}"
    r = run_flowscope("-s", str(store_path), "ingest", "-", "--format", fmt, input=data)
    assert r.returncode == 0, r.stderr
    assert query(
        store_path,
        "SELECT dstport, srcaddr, dstaddr, action, version FROM flows ORDER BY dstport LIMIT 2",
    ) == [
        (1, "10.0.0.1", "2600:1f18::1", "REJECT", None),
        (2, "10.0.0.2", "2600:1f18::2", "REJECT", None),
    ]
    again = run_flowscope("-s", str(store_path), "ingest", "-", "--format", fmt, input=data)
    assert "1 already loaded" in again.stderr
    assert query(store_path, "SELECT count(*) FROM flows") == [(5,)]


def test_bad_records_are_reported_stored_and_signalled(tmp_path: Path, store_path: Path) -> None:
    lines = [
        rec(0),
        rec(1).replace(" 443 ", " abc "),
        rec(2),
        "only three fields\n",
        rec(3).replace("52.94.1.3", "52.94.1.999"),
        rec(4),
    ]
    f = tmp_path / "bad.log"
    f.write_text(HEADER + "".join(lines))
    r = run_flowscope("-s", str(store_path), "ingest", str(f))
    assert r.returncode == 3, r.stderr
    assert f"{f}:3: dstport abc is not a whole number" in r.stderr
    assert f"{f}:5: 3 fields, expected 14" in r.stderr
    assert f"{f}:6: dstaddr 52.94.1.999 is not an IPv4 or IPv6 address" in r.stderr
    assert "3 records loaded from 1 input(s); 3 set aside" in r.stderr
    assert "Traceback" not in r.stderr
    assert query(store_path, "SELECT line, reason FROM rejects ORDER BY line") == [
        (3, "dstport abc is not a whole number"),
        (
            5,
            "3 fields, expected 14 (header line: "
            + " ".join(f"${{{n}}}" for n in HEADER.split())
            + ")",
        ),
        (6, "dstaddr 52.94.1.999 is not an IPv4 or IPv6 address"),
    ]
    shown = run_flowscope("-s", str(store_path), "rejects", "--json")
    assert [row["line"] for row in json.loads(shown.stdout)] == [3, 5, 6]


def test_truncated_and_corrupt_gzip_leave_the_store_as_it_was(
    tmp_path: Path, store_path: Path
) -> None:
    good = write_gz(tmp_path / "good.log.gz", HEADER + "".join(rec(i) for i in range(50)))
    full = gzip.compress((HEADER + "".join(rec(i) for i in range(5000))).encode())
    cut = tmp_path / "cut.log.gz"
    cut.write_bytes(full[: len(full) // 2])
    corrupt = tmp_path / "corrupt.log.gz"
    corrupt.write_bytes(full[:20] + b"\x00" * 64 + full[84:])
    r = run_flowscope("-s", str(store_path), "ingest", str(good), str(cut), str(corrupt))
    assert r.returncode == 4, r.stderr
    assert f"{cut}: truncated gzip: the file ends inside the compressed stream" in r.stderr
    assert f"{corrupt}: corrupt gzip data" in r.stderr
    assert "Traceback" not in r.stderr
    assert query(store_path, "SELECT count(*) FROM flows") == [(50,)]
    assert query(store_path, "SELECT source FROM loads") == [(str(good),)]


def test_empty_binary_and_unknown_header_field(tmp_path: Path, store_path: Path) -> None:
    empty = tmp_path / "empty.log"
    empty.write_bytes(b"")
    binary = tmp_path / "image.png"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    newer = tmp_path / "newer.log"
    newer.write_text("version srcaddr shiny-new-field dstaddr\n2 10.0.0.1 x 10.0.0.2\n")
    r = run_flowscope("-s", str(store_path), "ingest", str(empty), str(binary), str(newer))
    assert r.returncode == 4, r.stderr
    assert f"{empty}: empty input: no records" in r.stderr
    assert f"{binary}: binary data: not flow-log text, gzip or Parquet" in r.stderr
    assert (
        f"{newer}: header line names unknown field(s) shiny-new-field: their values are not stored"
    ) in r.stderr
    assert query(store_path, "SELECT srcaddr, dstaddr FROM flows") == [("10.0.0.1", "10.0.0.2")]


def test_unknown_format_field_is_a_usage_error(tmp_path: Path, store_path: Path) -> None:
    f = tmp_path / "a.log"
    f.write_text(rec(1))
    r = run_flowscope("-s", str(store_path), "ingest", str(f), "--format", "${srcaddr} ${dstprt}")
    assert r.returncode == 2
    assert "unknown field ${dstprt} (did you mean ${dstport}?)" in r.stderr
    assert "Traceback" not in r.stderr
    missing = run_flowscope("-s", str(store_path), "ingest", str(tmp_path / "nope.log"))
    assert missing.returncode == 2 and "nope.log: no such file or folder" in missing.stderr


def test_folder_recursive_and_parquet(tmp_path: Path, store_path: Path) -> None:
    d = tmp_path / "logs" / "2024" / "06"
    d.mkdir(parents=True)
    write_gz(d / "a.log.gz", HEADER + rec(1) + rec(2))
    table = pa.table(
        {
            "version": pa.array([5, 5], pa.int32()),
            "srcaddr": ["10.1.0.1", "fe80::1"],
            "dstaddr": ["10.1.0.2", "not-an-ip"],
            "dstport": pa.array([5432, 6379], pa.int32()),
            "bytes": pa.array([10, 2**40], pa.int64()),
            "log_status": ["OK", "OK"],
            "flow_direction": ["egress", "ingress"],
        }
    )
    pq.write_table(table, d / "b.log.parquet", compression="gzip")
    r = run_flowscope("-s", str(store_path), "ingest", str(tmp_path / "logs"))
    assert r.returncode == 3, r.stderr
    assert f"{d / 'b.log.parquet'}:2: dstaddr not-an-ip is not an IPv4 or IPv6 address" in (
        r.stderr
    )
    assert query(
        store_path, "SELECT dstport, bytes, flow_direction FROM flows WHERE version = 5"
    ) == [(5432, 10, "egress")]
    assert query(store_path, "SELECT count(*) FROM flows") == [(3,)]


def test_sql_is_read_only(tmp_path: Path, store_path: Path) -> None:
    f = tmp_path / "a.log"
    f.write_text(rec(1))
    run_flowscope("-s", str(store_path), "ingest", str(f))
    r = run_flowscope("-s", str(store_path), "sql", "delete from flows_1")
    assert r.returncode == 2
    assert "flowscope sql is read-only" in r.stderr
    assert query(store_path, "SELECT count(*) FROM flows") == [(1,)]
    bad = run_flowscope("-s", str(store_path), "sql", "select nope from flows")
    assert bad.returncode == 2 and "nope" in bad.stderr and "Traceback" not in bad.stderr
    debug = run_flowscope("--debug", "-s", str(store_path), "sql", "select nope from flows")
    assert "Traceback" in debug.stderr
    missing = run_flowscope("-s", str(tmp_path / "none.duckdb"), "sql", "select 1")
    assert missing.returncode == 1 and "does not exist" in missing.stderr


def test_killed_ingest_leaves_no_partial_load(tmp_path: Path, store_path: Path) -> None:
    small = write_gz(tmp_path / "small.log.gz", HEADER + rec(1))
    assert run_flowscope("-s", str(store_path), "ingest", str(small)).returncode == 0
    chunk = "".join(rec(i) for i in range(10_000)).encode()
    # Feed stdin and never close it: the load is certainly unfinished when it is killed,
    # after more than a million rows (one flush to the table) went in.
    proc = subprocess.Popen(
        [sys.executable, "-m", "flowscope", "-s", str(store_path), "ingest", "-"],
        stdin=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert proc.stdin is not None
    for _ in range(120):
        proc.stdin.write(chunk)
    proc.stdin.flush()
    time.sleep(3)
    assert proc.poll() is None
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.stdin.close()
    assert query(store_path, "SELECT count(*) FROM flows") == [(1,)]
    assert query(store_path, "SELECT count(*) FROM loads") == [(1,)]
    full = tmp_path / "full.log"
    full.write_bytes(chunk * 120)
    again = run_flowscope("-s", str(store_path), "ingest", str(full))
    assert again.returncode == 0, again.stderr
    assert query(store_path, "SELECT count(*) FROM flows") == [(1_200_001,)]


def test_readers_wait_for_a_writer_and_get_in_between_loads(
    tmp_path: Path, store_path: Path
) -> None:
    # The same 100,000 records gzipped at eight levels: eight inputs with distinct identities.
    text = (HEADER + "".join(rec(i) for i in range(100_000))).encode()
    files = []
    for level in range(1, 9):
        f = tmp_path / f"f{level}.log.gz"
        f.write_bytes(gzip.compress(text, compresslevel=level))
        files.append(f)
    writer = subprocess.Popen(
        [sys.executable, "-m", "flowscope", "-s", str(store_path), "ingest", *map(str, files)],
        stderr=subprocess.DEVNULL,
    )
    counts = []
    while writer.poll() is None:
        if not store_path.exists():
            time.sleep(0.05)
            continue
        r = run_flowscope(
            "-s",
            str(store_path),
            "sql",
            "select count(*) as n from flows",
            "--json",
            env={"FLOWSCOPE_LOCK_TIMEOUT": "20"},
        )
        assert r.returncode == 0, r.stderr
        counts.append(json.loads(r.stdout)[0]["n"])
    assert writer.returncode == 0
    final = run_flowscope("-s", str(store_path), "sql", "select count(*) as n from flows", "--json")
    assert json.loads(final.stdout)[0]["n"] == 800_000
    # Readers saw whole loads only, and got in while the writer was still at work.
    assert all(c % 100_000 == 0 for c in counts), counts
    assert any(c < 800_000 for c in counts), counts


def test_a_pipe_left_open_is_parsed_as_it_comes(tmp_path: Path) -> None:
    """`tail -f … | flowscope ingest -`: a block is parsed once it is there, not at the end of
    the input (a read waited for a whole chunk, so nothing came before the pipe closed)."""
    import os
    import threading

    from flowscope.sources import Reading
    from flowscope.sources.files import StdinUnit

    data = (HEADER + "".join(rec(i % 250) for i in range(90_000))).encode()
    assert len(data) > 8 << 20  # past the reader's first block
    r, w = os.pipe()
    threading.Thread(target=os.write, args=(w, data), daemon=True).start()
    got: list[int] = []
    done = threading.Event()
    stream = os.fdopen(r, "rb")

    def consume() -> None:
        for parsed in StdinUnit(stream=stream).read(None, Reading()):
            got.append(parsed.table.num_rows)
            done.set()

    reader = threading.Thread(target=consume, daemon=True)
    reader.start()
    try:
        assert done.wait(30), "no batch while the pipe stayed open"
        assert 0 < got[0] < 90_000
    finally:
        os.close(w)  # the end of the input: the rest is read and the reader ends
        reader.join(30)
        stream.close()
    assert sum(got) == 90_000
