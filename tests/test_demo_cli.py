"""`flowscope demo` through the real command: generate, ingest, summarise (no server here)."""

from __future__ import annotations

import json
from pathlib import Path

from flowscope.estate.aws import Identity
from flowscope.estate.awsranges import load_ip_ranges
from flowscope.estate.networks import load_networks
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
    # The VPC's estate is written beside the logs, in a dot folder that ingest passes by.
    estate = data / ".estate"
    assert load_ip_ranges(estate / "ip-ranges.json").ranges
    assert {n.name for n in load_networks(estate / "networks.yaml").entries} >= {"office", "db"}
    snapshots = sorted(estate.glob("inventory-*.json"))
    assert len(snapshots) == 2
    docs = [json.loads(p.read_text()) for p in snapshots]
    identities = [Identity(**i) for d in docs for i in d["identities"]]
    assert {i.kind for i in identities} >= {"instance", "nat-gateway", "load-balancer"}
    interfaces = {i.address for i in identities if i.address.startswith("eni-")}
    logged = query(store, "SELECT DISTINCT interface_id FROM flows")
    assert {row[0] for row in logged} <= interfaces
    # ... and saved into the store before the ingest, which names the flows' endpoints with it.
    assert query(store, "SELECT name FROM estate ORDER BY 1") == [
        ("history",),
        ("ip-ranges",),
        ("networks",),
    ]
    named = {row[0] for row in query(store, "SELECT DISTINCT name FROM endpoints")}
    assert {"nat-a", "web-alb", "S3 (us-east-1)", "S3 (eu-west-1)", "db-primary"} <= named
    assert {"com.amazonaws.us-east-1.ssm", "partner"} <= named  # SSH from the office: by day
    # Running the demo again generates the same files: the ledger adds nothing.
    again = run_flowscope(
        "-s", str(store), "demo", "--no-serve", "--hours", "2", "--data", str(data)
    )
    assert again.returncode == 0, again.stderr
    assert "48 already loaded" in again.stderr
    assert query(store, "SELECT count(DISTINCT load_id) FROM flows") == [(48,)]
