"""Detections through the real CLI on the embedded store: every attack scenario of
``flowscope demo --attacks`` is found, and the normal demo traffic alone raises no high alert."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from flowscope.demo.attacks import ADDRESSES, BACKDOOR_PORT
from flowscope.demo.generate import DemoSpec, generate_records
from flowscope.demo.spec import DEFAULT_FIELDS
from tests.conftest import run_flowscope

HOURS = 6
START = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=1)
WINDOW = ("--since", START.isoformat(), "--until", (START + timedelta(hours=HOURS)).isoformat())


def _demo(tmp: Path, attacks: bool) -> Path:
    store = tmp / "flows.duckdb"
    data = tmp / "data"
    args = ["-s", str(store), "demo", "--no-serve", "--hours", str(HOURS), "--data", str(data)]
    r = run_flowscope(*args, *(["--attacks"] if attacks else []), timeout=300)
    assert r.returncode == 0, r.stderr
    return store


def _detect(store: Path, *extra: str) -> dict[str, Any]:
    r = run_flowscope("-s", str(store), "detect", *WINDOW, "--json", *extra, timeout=300)
    assert r.returncode == 0, r.stderr
    data: dict[str, Any] = json.loads(r.stdout)
    return data


@pytest.fixture(scope="module")
def attacked(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _demo(tmp_path_factory.mktemp("attacked"), True)


@pytest.fixture(scope="module")
def attacked_alerts(attacked: Path) -> list[dict[str, Any]]:
    alerts: list[dict[str, Any]] = _detect(attacked)["alerts"]
    return alerts


def _find(alerts: list[dict[str, Any]], rule: str, text: str) -> dict[str, Any]:
    hits = [a for a in alerts if a["rule"] == rule and text in a["entity"]]
    assert hits, f"no {rule} alert about {text}: {[(a['rule'], a['entity']) for a in alerts]}"
    return hits[0]


def test_every_attack_scenario_is_detected(attacked_alerts: list[dict[str, Any]]) -> None:
    a = attacked_alerts
    v = _find(a, "port-scan-vertical", ADDRESSES["vertical-scan"])
    assert v["evidence"]["ports"] >= 1000 and v["severity"] == "medium"
    h = _find(a, "port-scan-horizontal", ADDRESSES["horizontal-scan"])
    assert h["entity"].endswith(":445") and h["evidence"]["hosts"] >= 30
    b = _find(a, "brute-force", ADDRESSES["brute-force"])
    assert b["evidence"]["short_connections"] >= 390 and b["severity"] == "medium"
    x = _find(a, "exfiltration-new-destination", ADDRESSES["exfiltration"])
    assert x["severity"] == "high" and x["evidence"]["bytes"] >= 3_000_000_000
    # through the NAT gateway it is logged twice: one alert, both sources named
    assert len(x["evidence"]["sources"]) == 2
    c2 = _find(a, "beaconing", ADDRESSES["beacon"])
    assert 55 <= c2["evidence"]["period_seconds"] <= 65 and c2["severity"] in ("low", "medium")
    spikes = [s for s in a if s["rule"] == "reject-spike"]
    assert any(s["evidence"]["rejects"] >= 6000 for s in spikes)
    _find(a, "new-listening-service", f":{BACKDOOR_PORT}")
    _find(a, "unusual-protocol", ADDRESSES["gre-tunnel"])
    # every alert carries its techniques, its dates and a Discover link that reproduces it
    for alert in a:
        assert alert["techniques"] and alert["first_seen"] and alert["last_seen"]
        assert alert["count"] > 0 and alert["discover"].startswith("#/discover?q=")


def test_normal_demo_traffic_raises_no_high_alert(tmp_path: Path) -> None:
    store = _demo(tmp_path, False)
    alerts = _detect(store)["alerts"]
    by_severity = Counter(a["severity"] for a in alerts)
    print("false positives by severity:", dict(by_severity), [(a["rule"]) for a in alerts])
    assert by_severity["high"] == 0 and by_severity["critical"] == 0, alerts
    assert not {a["rule"] for a in alerts} & {
        "exfiltration-new-destination",
        "brute-force",
        "beaconing",
        "port-scan-horizontal",
    }


def test_known_bad_list(attacked: Path, tmp_path: Path) -> None:
    bad = tmp_path / "feed.txt"
    bad.write_text(f"# a threat feed\n{ADDRESSES['beacon']}\n203.0.113.0/24, unused\n")
    alerts = _detect(attacked, "--rule", "known-bad", "--known-bad", str(bad))["alerts"]
    assert [(x["rule"], x["entity"], x["severity"]) for x in alerts] == [
        ("known-bad", ADDRESSES["beacon"], "high")  # accepted both ways
    ]
    bad.write_text("10.0.0.1\nnot-an-address\n")
    r = run_flowscope("-s", str(attacked), "detect", *WINDOW, "--known-bad", str(bad))
    assert r.returncode == 2 and "feed.txt:2: 'not-an-address'" in r.stderr
    assert "Traceback" not in r.stderr


def test_one_rule_and_an_unknown_rule(attacked: Path) -> None:
    alerts = _detect(attacked, "--rule", "beaconing")["alerts"]
    assert alerts and {a["rule"] for a in alerts} == {"beaconing"}
    r = run_flowscope("-s", str(attacked), "detect", "--rule", "port-scan")
    assert r.returncode == 2 and "unknown rule 'port-scan'" in r.stderr
    table = run_flowscope("-s", str(attacked), "detect", *WINDOW)
    assert table.returncode == 0 and "exfiltration-new-destination" in table.stdout


def test_rules_lists_the_builtins() -> None:
    r = run_flowscope("rules", "--json")
    assert r.returncode == 0, r.stderr
    rules = json.loads(r.stdout)
    assert len(rules) >= 10
    assert {"port-scan-vertical", "port-scan-horizontal", "beaconing", "known-bad"} <= {
        x["id"] for x in rules
    }
    assert all(x["techniques"] and x["explanation"] and x["severity"] for x in rules)


def test_attacks_leave_the_normal_traffic_as_it_was() -> None:
    start = datetime(2024, 6, 1, tzinfo=UTC)
    plain = DemoSpec(start=start, hours=1.0, seed=3)
    attacked = DemoSpec(start=start, hours=1.0, seed=3, attacks=True)
    lines = {ln for batch in generate_records(plain, list(DEFAULT_FIELDS)) for ln in batch}
    more = [ln for batch in generate_records(attacked, list(DEFAULT_FIELDS)) for ln in batch]
    again = [ln for batch in generate_records(attacked, list(DEFAULT_FIELDS)) for ln in batch]
    assert more == again  # deterministic with the seed
    assert lines < set(more)
    added = set(more) - lines
    assert any(ADDRESSES["beacon"] in ln for ln in added)
    assert any(ADDRESSES["exfiltration"] in ln for ln in added)
