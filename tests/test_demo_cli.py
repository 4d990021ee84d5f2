"""`flowscope demo` through the real command: generate, ingest, summarise (no server here)."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import query, run_flowscope


def test_demo_generates_ingests_and_summarises(tmp_path: Path) -> None:
    store = tmp_path / "demo.duckdb"
    data = tmp_path / "demo-data"
    r = run_flowscope("-s", str(store), "demo", "--no-serve", "--hours", "2", "--data", str(data))
    assert r.returncode == 0, r.stderr
    assert "48 files written" in r.stderr  # 24 five-minute windows x 2 flow logs
    assert "0 set aside" in r.stderr and "0 failed" in r.stderr
    assert "top destination ports: 443/tcp" in r.stdout
    rows = query(store, "SELECT count(*), count(DISTINCT load_id) FROM flows")
    assert rows[0][0] > 10_000 and rows[0][1] == 48
    # Both layouts are present: the default format and the v5 custom one.
    assert query(store, "SELECT count(*) > 0 FROM flows WHERE flow_direction IS NOT NULL") == [
        (True,)
    ]
    assert query(store, "SELECT count(*) > 0 FROM flows WHERE log_status = 'NODATA'") == [(True,)]
    assert query(store, "SELECT count(*) > 0 FROM flows WHERE srcaddr LIKE '%:%'") == [(True,)]
    # Running the demo again generates the same files: the ledger adds nothing.
    again = run_flowscope(
        "-s", str(store), "demo", "--no-serve", "--hours", "2", "--data", str(data)
    )
    assert again.returncode == 0, again.stderr
    assert "48 already loaded" in again.stderr
    assert query(store, "SELECT count(DISTINCT load_id) FROM flows") == [(48,)]
