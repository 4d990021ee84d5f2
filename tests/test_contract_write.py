"""One write contract, every store: loads, rejects, the ledger and cursors behave alike.

Each case runs on a DuckDB file in tmp_path and on a fresh store name on the session's real
OpenSearch node (``tests/test_opensearch_node.py``). Loads go through the real ``flowscope
ingest`` command (a subprocess), or through the Writer/LoadJob protocol of
:mod:`flowscope.engines.base` for cursors; what was stored is read back by each engine's own
readers (its query backend, its ledger and rejects listings), and compared with values written
out here. Where the engines may differ by design, the case says how (a cluster shows a killed
load's records until the next load on the host rolls them back; DuckDB never shows them).
"""

from __future__ import annotations

import gzip
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from flowscope.demo.generate import write_benchmark_file
from flowscope.engines import backend_for, open_store
from flowscope.engines.duckdb.store import DuckStore
from flowscope.engines.opensearch.store import OpenSearchStore
from flowscope.parse.text import Parsed, Reject
from flowscope.query import build
from flowscope.schema import arrow_schema
from tests.conftest import run_flowscope
from tests.test_opensearch_node import drop, fresh_name, node

HEADER = (
    "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes "
    "start end action log-status\n"
)
LAYOUT = "header line: " + " ".join(f"${{{n}}}" for n in HEADER.split())
T0 = 1736121600  # 2025-01-06T00:00:00Z
SMALL = 15_000  # records in each file of the kill test
#: Records in the big file: past the first 8 MiB block of the reader (~73,000 records), so
#: that a load reading it hands records to the store well before it ends.
BIG = 80_000


def rec(i: int, port: int = 443, action: str = "ACCEPT") -> str:
    """A v2 record: source 10.0.0.i, i+1 packets of 100 bytes, minute i of the day."""
    t = T0 + 60 * i
    return (
        f"2 123456789012 eni-0a{i % 3:015d} 10.0.0.{i} 10.1.0.{i % 9} {40000 + i} {port} 6 "
        f"{i + 1} {(i + 1) * 100} {t} {t + 60} {action} OK\n"
    )


# -- the two engines -----------------------------------------------------------------------------


@dataclass
class Engine:
    kind: str
    url: str
    store: DuckStore | OpenSearchStore

    def reopen(self) -> None:
        """A new store object, as the next command would open it."""
        if isinstance(self.store, OpenSearchStore):
            self.store.close()
        self.store = open_store(self.url)

    def _refresh(self) -> None:
        if isinstance(self.store, OpenSearchStore):
            self.store.refresh()  # what a killed writer did not make visible yet

    def flows(self) -> int:
        """How many flows the store's query side counts."""
        if not self.store.exists():
            return 0
        self._refresh()
        return backend_for(self.store).run([build.metrics_query(None)])[0].count  # type: ignore[union-attr]

    def ledger(self) -> list[tuple[str, int, int, str]]:
        """(source, rows, rejects, layout) of every committed load, by source."""
        if not self.store.exists():
            return []
        rows = self.store.list_loads(1000).rows
        return sorted((r[1], r[2], r[3], r[4]) for r in rows)

    def rejects(self) -> list[tuple[str, int, str]]:
        """(source, line, reason) of every record set aside."""
        if not self.store.exists():
            return []
        self._refresh()
        rows = self.store.list_rejects(1000).rows
        return sorted((r[0], r[1], r[2]) for r in rows)

    def busy(self) -> bool:
        """Whether a writer has started putting something in the store."""
        if isinstance(self.store, DuckStore):
            return Path(f"{self.store.path}.wal").exists()
        return self.flows() > 0

    def ingest(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return run_flowscope("ingest", *args, "--store", self.url, timeout=timeout)


ENGINES = [
    pytest.param("duckdb", id="duckdb"),
    pytest.param("opensearch", id="opensearch", marks=pytest.mark.opensearch),
]


@pytest.fixture
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "duckdb":
        url = str(tmp_path / "store.duckdb")
        yield Engine("duckdb", url, open_store(url))
        return
    n = node(request.config)
    name = fresh_name()
    url = f"{n.url}/{name}"
    e = Engine("opensearch", url, open_store(url))
    try:
        yield e
    finally:
        if isinstance(e.store, OpenSearchStore):
            e.store.close()
        drop(n, name)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Default-format .log.gz files of distinct content: three of SMALL records, one of BIG."""
    folder = tmp_path_factory.mktemp("generated")
    made = {
        f"small{s}": write_benchmark_file(folder / f"small{s}.log.gz", SMALL, s) for s in (1, 2, 3)
    }
    made["big"] = write_benchmark_file(folder / "big.log.gz", BIG, seed=4)
    return made


# -- ingest, re-ingest ---------------------------------------------------------------------------


def _three_files(tmp_path: Path) -> tuple[Path, Path, Path]:
    plain = tmp_path / "plain.log"  # header line; line 4 has a bad port
    plain.write_text(
        HEADER + rec(0) + rec(1) + rec(2).replace(" 443 ", " abc ") + rec(3) + rec(4) + rec(5)
    )
    zipped = tmp_path / "zipped.log.gz"  # gzip, header line; lines 4 and 6 are bad
    with gzip.open(zipped, "wt") as f:
        f.write(
            HEADER
            + rec(10, 22)
            + rec(11, 22, "REJECT")
            + "only three fields\n"
            + rec(12, 22)
            + rec(13, 22).replace("10.0.0.13 ", "10.0.0.999 ")
            + rec(14, 22, "REJECT")
        )
    bare = tmp_path / "bare.log"  # no header: the default v2 format
    bare.write_text(rec(20, 3389) + rec(21, 3389) + rec(22, 3389, "REJECT"))
    return plain, zipped, bare


@pytest.mark.parametrize("engine", ENGINES, indirect=True)
def test_ingest_rows_rejects_ledger_and_the_query_side(engine: Engine, tmp_path: Path) -> None:
    plain, zipped, bare = _three_files(tmp_path)
    r = engine.ingest(str(plain), str(zipped), str(bare))
    assert r.returncode == 3, r.stderr
    assert "12 records loaded from 3 input(s); 3 set aside; 0 already loaded; 0 failed" in r.stderr
    assert f"{plain}:4: dstport abc is not a whole number" in r.stderr
    assert "Traceback" not in r.stderr

    assert engine.rejects() == [
        (str(plain), 4, "dstport abc is not a whole number"),
        (str(zipped), 4, f"3 fields, expected 14 ({LAYOUT})"),
        (str(zipped), 6, "srcaddr 10.0.0.999 is not an IPv4 or IPv6 address"),
    ]
    assert engine.ledger() == [
        (str(bare), 3, 0, "default format (v2)"),
        (str(plain), 5, 1, LAYOUT),
        (str(zipped), 4, 2, LAYOUT),
    ]
    backend = backend_for(engine.store)
    metrics, top, hist = backend.run(
        [
            build.metrics_query(None),
            build.top_query("dstport", "bytes", 5, None),
            build.hist_query("10m", "action", 5, "count", None),
        ]
    )
    assert metrics.to_dict() == {
        "count": 12,
        "bytes": 13_500,
        "packets": 135,
        "sources": 12,
        "destinations": 6,
        "first": "2025-01-06T00:00:00+00:00",
        "last": "2025-01-06T00:23:00+00:00",
    }
    assert [(row["value"], row["count"], row["bytes"]) for row in top.to_dict()["rows"]] == [
        (3389, 3, 6_600),
        (22, 4, 5_100),
        (443, 5, 1_800),
    ]
    assert [(s["label"], s["count"]) for s in hist.to_dict()["series"]] == [
        ("ACCEPT", [5, 2, 2]),
        ("REJECT", [0, 2, 1]),
    ]


@pytest.mark.parametrize("engine", ENGINES, indirect=True)
def test_reingest_and_a_renamed_copy_add_nothing(engine: Engine, tmp_path: Path) -> None:
    plain, zipped, bare = _three_files(tmp_path)
    assert engine.ingest(str(plain), str(zipped), str(bare)).returncode == 3
    ledger, rejects = engine.ledger(), engine.rejects()
    copy = tmp_path / "copy" / "renamed.txt"
    copy.parent.mkdir()
    copy.write_bytes(zipped.read_bytes())

    again = engine.ingest(str(plain), str(zipped), str(bare), str(copy.parent))
    assert again.returncode == 0, again.stderr
    assert "0 records loaded from 0 input(s); 0 set aside; 4 already loaded; 0 failed" in (
        again.stderr
    )
    assert "and 1 more inputs already loaded" in again.stderr  # the first three are named
    alone = engine.ingest(str(copy))
    assert alone.returncode == 0, alone.stderr
    assert re.search(
        rf"{re.escape(str(copy))}: already loaded \(load \d+, {zipped}\)", alone.stderr
    )
    assert engine.flows() == 12
    assert engine.ledger() == ledger
    assert engine.rejects() == rejects

    # the same content twice in one run loads once
    other = tmp_path / "other.log"
    other.write_text(HEADER + rec(30) + rec(31))
    twin = tmp_path / "twin.log"
    twin.write_bytes(other.read_bytes())
    both = engine.ingest(str(other), str(twin))
    assert both.returncode == 0, both.stderr
    assert "2 records loaded from 1 input(s); 0 set aside; 1 already loaded" in both.stderr
    assert engine.flows() == 14
    assert [row[:2] for row in engine.ledger()] == sorted(
        [(str(bare), 3), (str(plain), 5), (str(zipped), 4), (str(other), 2)]
    )


# -- failures ------------------------------------------------------------------------------------


@pytest.mark.parametrize("engine", ENGINES, indirect=True)
def test_a_load_failing_part_way_leaves_nothing_and_the_others_land(
    engine: Engine, tmp_path: Path, files: dict[str, Path]
) -> None:
    first = tmp_path / "first.log"
    first.write_text(HEADER + rec(0) + rec(1))
    last = tmp_path / "last.log.gz"
    last.write_bytes(gzip.compress((HEADER + rec(2) + rec(3) + rec(4)).encode()))
    # The cut comes past the reader's first block: that block is parsed and handed to the
    # store (the cluster indexes it) before the end of the file is found missing.
    whole = files["big"].read_bytes()
    cut = tmp_path / "cut.log.gz"
    cut.write_bytes(whole[: len(whole) * 19 // 20])

    r = engine.ingest(str(first), str(cut), str(last))
    assert r.returncode == 4, r.stderr
    assert f"{cut}: truncated gzip: the file ends inside the compressed stream" in r.stderr
    assert "5 records loaded from 2 input(s); 0 set aside; 0 already loaded; 1 failed" in r.stderr
    assert engine.flows() == 5
    assert engine.ledger() == [(str(first), 2, 0, LAYOUT), (str(last), 3, 0, LAYOUT)]
    assert engine.rejects() == []


def _ingest_killed(engine: Engine, args: list[str], wait: Callable[[], None]) -> bool:
    """Start ``flowscope ingest ARGS``, ``wait()``, kill -9 it; whether it was still running."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "flowscope", "ingest", *args, "--store", engine.url],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait()
        running = proc.poll() is None
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
    return running


@pytest.mark.parametrize("engine", ENGINES, indirect=True)
def test_killed_loads_then_a_rerun_give_exact_counts(
    engine: Engine, files: dict[str, Path]
) -> None:
    args = [str(files[f"small{s}"]) for s in (1, 2, 3)]

    def until_busy() -> None:
        deadline = time.monotonic() + 60
        while not engine.busy() and time.monotonic() < deadline:
            time.sleep(0.05)

    # several moments: as soon as the store shows a write, then after fixed delays
    moments: list[Callable[[], None]] = [
        until_busy,
        lambda: time.sleep(0.3),
        lambda: time.sleep(1.5),
    ]
    landed = 0
    for wait in moments:
        landed += _ingest_killed(engine, args, wait)
        ledger = [row[:3] for row in engine.ledger()]
        # an input is in the ledger once at most, with all its records
        assert len({row[0] for row in ledger}) == len(ledger)
        assert all(row[1:] == (SMALL, 0) for row in ledger), ledger
        assert engine.flows() >= SMALL * len(ledger)
    assert landed >= 1, "the ingests finished before they could be killed"

    rerun = engine.ingest(*args)
    assert rerun.returncode == 0, rerun.stderr
    assert engine.flows() == 3 * SMALL
    assert [row[:3] for row in engine.ledger()] == [(a, SMALL, 0) for a in sorted(args)]
    assert engine.rejects() == []


def _stdin_killed(engine: Engine, data: bytes) -> None:
    """``flowscope ingest -`` fed ``data`` and never closed (so it cannot finish), killed once
    it has started to write (the cluster) or after 3 s (DuckDB keeps a load this small in
    memory until it ends)."""
    before = engine.flows()
    proc = subprocess.Popen(
        [sys.executable, "-m", "flowscope", "ingest", "-", "--store", engine.url],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    assert proc.stdin is not None
    try:
        proc.stdin.write(data)
        proc.stdin.flush()
        if engine.kind == "duckdb":
            time.sleep(3)
        deadline = time.monotonic() + 60
        while engine.kind == "opensearch" and engine.flows() == before:
            assert time.monotonic() < deadline, "nothing was written in 60 s"
            time.sleep(0.1)
        assert proc.poll() is None
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        proc.stdin.close()


@pytest.mark.parametrize("engine", ENGINES, indirect=True)
def test_a_killed_load_leaves_nothing_and_the_same_input_loads_once(
    engine: Engine, files: dict[str, Path], tmp_path: Path
) -> None:
    small = tmp_path / "small.log"
    small.write_text(HEADER + rec(0) + rec(1))
    assert engine.ingest(str(small)).returncode == 0
    data = gzip.decompress(files["big"].read_bytes())
    _stdin_killed(engine, data)
    assert [row[:2] for row in engine.ledger()] == [(str(small), 2)]
    seen = engine.flows()
    # DuckDB shows nothing of a killed load. A cluster shows what the load had indexed until
    # the next load on this host rolls it back (the process that left it running is gone).
    assert seen == 2 if engine.kind == "duckdb" else seen >= 2
    same = tmp_path / "same.log"
    same.write_bytes(data)
    r = engine.ingest(str(same))
    assert r.returncode == 0, r.stderr
    assert [row[:3] for row in engine.ledger()] == sorted([(str(small), 2, 0), (str(same), BIG, 0)])
    assert engine.flows() == 2 + BIG  # once: the killed load's records were rolled back


# -- cursors and the ledger, through the Writer/LoadJob protocol ---------------------------------


def _rows(first: int, n: int, columns: tuple[str, ...] = ("dstport",)) -> Parsed:
    """``n`` flows (minutes ``first``…) with the time columns and ``columns``."""
    schema = arrow_schema()
    values: dict[str, list[Any]] = {
        "version": [2] * n,
        "start": [T0 + 60 * i for i in range(first, first + n)],
        "end": [T0 + 60 * i + 60 for i in range(first, first + n)],
        "dstport": [443] * n,
        "action": ["ACCEPT"] * n,
    }
    names = ("version", "start", "end", *columns)
    return Parsed(pa.table({c: pa.array(values[c], schema.field(c).type) for c in names}))


@pytest.mark.parametrize("engine", ENGINES, indirect=True)
def test_a_cursor_commits_with_its_rows_and_a_failed_load_leaves_neither(
    engine: Engine,
) -> None:
    with engine.store.write() as w:
        with w.load("stream-a", "cw:a:1") as job:
            job.append(_rows(0, 3))
            job.set_cursor("cloudwatch:g:a", {"token": "t1", "ms": 1})
        assert w.cursor("cloudwatch:g:a") == {"ms": 1, "token": "t1"}
        with pytest.raises(RuntimeError), w.load("stream-a", "cw:a:2") as job:
            job.append(_rows(3, 2))
            job.add_rejects([Reject(7, "bad record", "x y z")])
            job.set_cursor("cloudwatch:g:a", {"token": "t2", "ms": 2})
            job.set_cursor("cloudwatch:g:b", {"token": "b1", "ms": 5})
            raise RuntimeError("the source broke mid-unit")
        assert w.cursor("cloudwatch:g:a") == {"ms": 1, "token": "t1"}
        assert w.cursor("cloudwatch:g:b") is None
    engine.reopen()
    with engine.store.write() as w:
        assert w.cursor("cloudwatch:g:a") == {"ms": 1, "token": "t1"}
        assert w.cursor("cloudwatch:g:b") is None
    assert engine.flows() == 3
    assert engine.ledger() == [("stream-a", 3, 0, "")]
    assert engine.rejects() == []


@pytest.mark.parametrize("engine", ENGINES, indirect=True)
def test_a_failed_load_keeps_the_loads_before_it(engine: Engine) -> None:
    # A load whose batches change columns (Parquet row groups, say) and then fails: the loads
    # finished before it in the same writer stay, with their cursors.
    with engine.store.write() as w:
        with w.load("a", "id:a") as job:
            job.append(_rows(0, 3))
            job.set_cursor("k", {"n": 1})
        with pytest.raises(RuntimeError), w.load("b", "id:b") as job:
            job.append(_rows(3, 2))
            job.append(_rows(5, 2, ("dstport", "action")))
            job.set_cursor("k", {"n": 2})
            raise RuntimeError("the source broke mid-unit")
        with w.load("c", "id:c") as job:
            job.append(_rows(7, 1, ("action",)))
        record = w.loaded("id:a")
        assert record is not None and (record.source, record.rows, record.rejects) == ("a", 3, 0)
        assert w.loaded("id:b") is None
        assert w.cursor("k") == {"n": 1}
    engine.reopen()
    assert engine.flows() == 4
    assert [row[:3] for row in engine.ledger()] == [("a", 3, 0), ("c", 1, 0)]
    with engine.store.write() as w:
        assert w.cursor("k") == {"n": 1}


@pytest.mark.parametrize("engine", ENGINES, indirect=True)
def test_the_ledger_answers_for_committed_loads_only(engine: Engine) -> None:
    with engine.store.write() as w:
        assert w.loaded("id:x") is None
        with w.load("x.log", "id:x", "default format (v2)") as job:
            job.append(_rows(0, 2))
            job.add_rejects([Reject(3, "3 fields, expected 14", "a b c")])
        with pytest.raises(KeyboardInterrupt), w.load("y.log", "id:y") as job:
            job.append(_rows(2, 5))
            raise KeyboardInterrupt
        with w.load("z.log", None) as job:  # no identity: loaded, but nothing to find it by
            job.append(_rows(7, 1))
        x = w.loaded("id:x")
        assert x is not None and (x.source, x.rows, x.rejects) == ("x.log", 2, 1)
        assert w.loaded("id:y") is None
    engine.reopen()
    with engine.store.write() as w:
        x2 = w.loaded("id:x")
        assert x2 is not None and (x2.load_id, x2.source, x2.rows, x2.rejects) == (
            x.load_id,
            "x.log",
            2,
            1,
        )
        assert w.loaded("id:y") is None
        assert w.loaded("z.log") is None
    assert engine.ledger() == [("x.log", 2, 1, "default format (v2)"), ("z.log", 1, 0, "")]
    assert engine.rejects() == [("x.log", 3, "3 fields, expected 14")]
    assert engine.flows() == 3
