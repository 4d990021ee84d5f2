"""Bad input that must never cost other inputs: values the store cannot hold, loads the store
refuses at commit, broken headers, a first ingest killed early, a damaged store file."""

from __future__ import annotations

import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from flowscope import pipeline
from flowscope.api import create_app
from flowscope.engines.duckdb import store as duck
from flowscope.engines.duckdb.store import DuckStore
from flowscope.parse.layout import DEFAULT_LAYOUT, Layout
from flowscope.parse.text import Parsed
from flowscope.sources import Reading
from tests.conftest import query, run_flowscope

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx` with")
    from fastapi.testclient import TestClient

GOOD = "2 123456789012 eni-1 10.0.0.1 10.0.0.2 1 2 6 1 40 1700000000 1700000060 ACCEPT OK\n"
FAR = "2 123456789012 eni-1 10.0.0.1 10.0.0.2 1 2 6 1 40 9999999999999 9999999999999 ACCEPT OK\n"


def good(i: int) -> str:
    return GOOD.replace("1700000000", str(1700000000 + i))


def test_time_past_the_store_range_is_a_reject_and_costs_no_other_input(
    tmp_path: Path, store_path: Path
) -> None:
    files = []
    for i in range(10):
        f = tmp_path / f"good{i}.log"
        f.write_text(good(i))
        files.append(str(f))
    bad = tmp_path / "z_bad.log"
    bad.write_text(FAR)
    r = run_flowscope("-s", str(store_path), "ingest", *files, str(bad))
    assert r.returncode == 3, r.stderr
    assert f"{bad}:1: start 9999999999999 is out of range (0 to 253402300799)" in r.stderr
    assert "unexpected error" not in r.stderr
    assert query(store_path, "SELECT count(*) FROM flows") == [(10,)]
    assert query(store_path, "SELECT source, line, reason FROM rejects") == [
        (str(bad), 1, "start 9999999999999 is out of range (0 to 253402300799)")
    ]
    again = run_flowscope("-s", str(store_path), "ingest", *files, str(bad))
    assert again.returncode == 0, again.stderr
    assert query(store_path, "SELECT count(*) FROM flows") == [(10,)]


def test_every_column_type_rejects_what_it_cannot_hold(tmp_path: Path, store_path: Path) -> None:
    fields = GOOD.split()
    lines = [GOOD]
    cases = {  # field index -> (value, reason)
        8: ("9223372036854775808", "packets 9223372036854775808 is out of range (0 to 2**63-1)"),
        9: ("99999999999999999999", "bytes 99999999999999999999 is out of range (0 to 2**63-1)"),
        10: ("253402300800", "start 253402300800 is out of range (0 to 253402300799)"),
        11: ("-1", "end -1 is not a whole number"),
        5: ("65536", "srcport 65536 is out of range (0 to 65535)"),
        0: ("4294967296", "version 4294967296 is out of range (0 to 255)"),
    }
    for index, (value, _) in cases.items():
        lines.append(" ".join(value if i == index else v for i, v in enumerate(fields)) + "\n")
    edge = fields.copy()
    edge[8], edge[10], edge[11] = "9223372036854775807", "253402300799", "253402300799"
    lines.append(" ".join(edge) + "\n")
    f = tmp_path / "edges.log"
    f.write_text("".join(lines))
    # The same values through Parquet, whose columns come typed.
    pq.write_table(
        pa.table(
            {
                "srcaddr": ["10.0.0.1", "10.0.0.2"],
                "start": pa.array([1700000000, 10**13], pa.int64()),
                "log_status": ["OK", "OK"],
            }
        ),
        tmp_path / "far.parquet",
    )
    r = run_flowscope("-s", str(store_path), "ingest", str(f), str(tmp_path / "far.parquet"))
    assert r.returncode == 3, r.stderr
    assert query(store_path, "SELECT line, reason FROM rejects ORDER BY source, line") == [
        *(
            (line, reason.replace("2**63-1", str(2**63 - 1)))
            for line, (_, reason) in enumerate(cases.values(), start=2)
        ),
        (2, "start 10000000000000 is out of range (0 to 253402300799)"),  # far.parquet
    ]
    order = "ORDER BY start DESC, packets NULLS LAST"
    assert query(store_path, f"SELECT packets, start, end_time::VARCHAR FROM flows {order}") == [
        (9223372036854775807, 253402300799, "9999-12-31 23:59:59+00"),
        (1, 1700000000, "2023-11-14 22:14:20+00"),
        (None, 1700000000, None),
    ]
    top = run_flowscope("-s", str(store_path), "search", "--json", "--where", "packets >= 2")
    assert top.returncode == 0, top.stderr


@dataclass
class HandMade:
    """An input whose records skip the parser's checks: the store is the last line of defence."""

    name: str
    table: pa.Table
    identity: str | None = None
    cursor: tuple[str, dict[str, Any]] | None = None

    def read(self, fmt: Layout | None, info: Reading) -> Iterator[Parsed]:
        info.layout = DEFAULT_LAYOUT
        yield Parsed(self.table)


def _rows(start: int, n: int = 1) -> pa.Table:
    return pa.table(
        {
            "srcaddr": pa.array(["10.0.0.1"] * n),
            "start": pa.array([start] * n, pa.int64()),
            "log_status": pa.array(["OK"] * n),
        }
    )


def test_a_load_the_store_refuses_at_its_group_commit_fails_alone(store_path: Path) -> None:
    units = [
        HandMade("a", _rows(1700000000), "id-a", ("cur-a", {"n": 1})),
        HandMade("bad", _rows(10**13), "id-bad", ("cur-bad", {"n": 2})),
        HandMade("c", _rows(1700000001), "id-c"),
    ]
    store = DuckStore(store_path)
    summary = pipeline.ingest(units, store)
    assert [(u.name, u.status, u.rows) for u in summary.units] == [
        ("a", "loaded", 1),
        ("bad", "failed", 0),
        ("c", "loaded", 1),
    ]
    error = summary.units[1].error or ""
    assert error.startswith("bad: the store refused it at commit (Conversion Error:"), error
    assert error.endswith("nothing from this input was stored")
    assert summary.exit_code == 4
    assert query(store_path, "SELECT start FROM flows ORDER BY 1") == [
        (1700000000,),
        (1700000001,),
    ]
    assert query(store_path, "SELECT source, identity FROM loads ORDER BY load_id") == [
        ("a", "id-a"),
        ("c", "id-c"),
    ]
    assert query(store_path, "SELECT source_key FROM cursors") == [("cur-a",)]
    # The refused load is not in the ledger: a re-run tries it again (and adds nothing else).
    again = pipeline.ingest(units, store)
    assert [u.status for u in again.units] == ["skipped", "failed", "skipped"]
    assert query(store_path, "SELECT count(*) FROM flows") == [(2,)]


def test_a_big_load_the_store_refuses_is_an_input_error(
    store_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(duck, "FLUSH_ROWS", 4)  # loads of 4 rows or more are big
    units = [
        HandMade("small", _rows(1700000000, 2), "id-s"),
        HandMade("big", _rows(10**13, 8), "id-big"),
        HandMade("big-ok", _rows(1700000002, 8), "id-ok"),
    ]
    summary = pipeline.ingest(units, DuckStore(store_path))
    assert [(u.name, u.status, u.rows) for u in summary.units] == [
        ("small", "loaded", 2),
        ("big", "failed", 0),
        ("big-ok", "loaded", 8),
    ]
    assert (summary.units[1].error or "").startswith("big: the store refused it (Conversion")
    assert query(store_path, "SELECT source, rows FROM loads ORDER BY load_id") == [
        ("small", 2),
        ("big-ok", 8),
    ]
    assert query(store_path, "SELECT count(*) FROM flows") == [(10,)]


def test_a_header_naming_a_field_twice_refuses_that_input_only(
    tmp_path: Path, store_path: Path
) -> None:
    a = tmp_path / "a.log"
    a.write_text(good(1))
    dup = tmp_path / "dup.log"
    dup.write_text("version srcaddr srcport srcport log-status\n2 10.0.0.1 1 2 OK\n")
    c = tmp_path / "c.log"
    c.write_text(good(2))
    r = run_flowscope("-s", str(store_path), "ingest", str(a), str(dup), str(c))
    assert r.returncode == 4, r.stderr
    assert (
        f"failed {dup}: header line names srcport twice: which column holds which value is "
        "unknown (nothing from this input was stored)"
    ) in r.stderr
    assert "Traceback" not in r.stderr and "unexpected error" not in r.stderr
    assert query(store_path, "SELECT count(*) FROM flows") == [(2,)]
    assert query(store_path, "SELECT source FROM loads ORDER BY load_id") == [(str(a),), (str(c),)]
    fmt = run_flowscope(
        "-s", str(store_path), "ingest", str(a), "--format", "${srcport} ${version} ${srcport}"
    )
    assert fmt.returncode == 2
    assert "--format: field ${srcport} appears twice" in fmt.stderr


def test_a_header_only_file_is_noted_as_empty(tmp_path: Path, store_path: Path) -> None:
    f = tmp_path / "header-only.log"
    f.write_text(
        "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets "
        "bytes start end action log-status\n"
    )
    r = run_flowscope("-s", str(store_path), "ingest", str(f))
    assert r.returncode == 0, r.stderr
    assert f"note {f}: empty input: a header line and no records" in r.stderr
    assert query(store_path, "SELECT rows, notes FROM loads") == [
        (0, "empty input: a header line and no records")
    ]


def test_reingesting_a_folder_names_three_inputs_then_counts(
    tmp_path: Path, store_path: Path
) -> None:
    folder = tmp_path / "logs"
    folder.mkdir()
    for i in range(12):
        (folder / f"f{i:02}.log").write_text(good(i))
    assert run_flowscope("-s", str(store_path), "ingest", str(folder)).returncode == 0
    r = run_flowscope("-s", str(store_path), "ingest", str(folder))
    assert r.returncode == 0, r.stderr
    lines = r.stderr.splitlines()
    assert [ln for ln in lines if "already loaded (load" in ln] == [
        f"note {folder / f'f{i:02}.log'}: already loaded (load {i + 1}, {folder / f'f{i:02}.log'})"
        for i in range(3)
    ]
    assert "note … and 9 more inputs already loaded (--debug names them all)" in lines
    assert lines[-1] == (
        "0 records loaded from 0 input(s); 0 set aside; 12 already loaded; 0 failed"
    )
    debug = run_flowscope("--debug", "-s", str(store_path), "ingest", str(folder))
    assert sum("already loaded (load" in ln for ln in debug.stderr.splitlines()) == 12
    quiet = run_flowscope("-s", str(store_path), "ingest", "-q", str(folder))
    assert "more inputs" not in quiet.stderr


@pytest.mark.parametrize("delay", [0.0, 0.01, 0.05, 0.15])
def test_a_first_ingest_killed_early_leaves_a_usable_store(
    tmp_path: Path, store_path: Path, delay: float
) -> None:
    f = tmp_path / "f.log"
    f.write_text("".join(good(i) for i in range(20_000)))
    proc = subprocess.Popen(
        [sys.executable, "-m", "flowscope", "-s", str(store_path), "ingest", str(f)],
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while not store_path.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.0005)
    time.sleep(delay)
    proc.kill()
    proc.wait()
    assert store_path.exists()
    r = run_flowscope("-s", str(store_path), "sql", "select count(*) as n from flows", "--csv")
    assert r.returncode == 0, r.stderr
    n = int(r.stdout.splitlines()[1])
    assert n in (0, 20_000)
    loads = run_flowscope("-s", str(store_path), "sql", "select count(*) from loads", "--csv")
    assert loads.returncode == 0 and loads.stdout.splitlines()[1] == ("0" if n == 0 else "1")
    with TestClient(create_app(DuckStore(store_path)), base_url="http://127.0.0.1") as client:
        metrics = client.get("/api/metrics")
        assert metrics.status_code == 200, metrics.json()
        assert metrics.json()["data"]["count"] == n
    again = run_flowscope("-s", str(store_path), "ingest", str(f))
    assert again.returncode == 0, again.stderr
    assert query(store_path, "SELECT count(*) FROM flows") == [(20_000,)]
    assert query(store_path, "SELECT count(*) FROM loads") == [(1,)]


def _damage(store: Path) -> None:
    """Flip one byte at a time in the file's data blocks until reading flows fails its checksum."""
    data = store.read_bytes()
    for offset in range(3 * 4096 + 1000, len(data), 16_384):
        damaged = bytearray(data)
        damaged[offset] ^= 0xFF
        store.write_bytes(bytes(damaged))
        try:
            con = duckdb.connect(str(store), read_only=True)
        except duckdb.Error:
            continue  # a block the catalog needs: the file no longer opens; try further on
        try:
            con.execute("SELECT sum(bytes), count(DISTINCT srcaddr) FROM flows").fetchall()
        except duckdb.Error as e:
            if "Corrupt database file" in str(e):
                return
        finally:
            con.close()
    raise AssertionError("no byte flip damaged a block that flows reads")


def test_a_damaged_store_is_a_store_error(tmp_path: Path, store_path: Path) -> None:
    f = tmp_path / "f.log"
    f.write_text(
        "".join(
            good(i).replace("10.0.0.1", f"10.{i % 200}.{i % 7}.{i % 250}") for i in range(200_000)
        )
    )
    assert run_flowscope("-s", str(store_path), "ingest", str(f)).returncode == 0
    _damage(store_path)
    r = run_flowscope(
        "-s", str(store_path), "sql", "select sum(bytes), count(distinct srcaddr) from flows"
    )
    assert r.returncode == 1, r.stderr
    assert f"store {store_path} cannot be read: Corrupt database file" in r.stderr
    assert "the file is damaged" in r.stderr
    top = run_flowscope("-s", str(store_path), "top", "srcaddr")
    assert top.returncode == 1, top.stderr
    with TestClient(create_app(DuckStore(store_path)), base_url="http://127.0.0.1") as client:
        answer = client.get("/api/top", params={"field": "srcaddr"})
        assert answer.status_code == 500, answer.json()
        assert answer.json()["error"]["type"] == "StoreDamaged"
