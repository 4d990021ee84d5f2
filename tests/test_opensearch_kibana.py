"""``flowscope kibana-export``: NDJSON the Saved Objects import API takes, references resolved."""

from __future__ import annotations

import json
from typing import Any

from flowscope.engines.opensearch.kibana import dangling_references, saved_objects, to_ndjson
from flowscope.engines.opensearch.schema import flow_properties
from tests.conftest import run_flowscope


def _objects(text: str) -> list[dict[str, Any]]:
    lines = text.splitlines()
    assert lines and all(line.strip() for line in lines)
    return [json.loads(line) for line in lines]


def test_export_is_ndjson_with_every_reference_resolved() -> None:
    done = run_flowscope(
        "kibana-export", "--store", "opensearchs://kibana:hunter2@search.example:443/vpcflow"
    )
    assert done.returncode == 0, done.stderr
    objects = _objects(done.stdout)
    assert [(o["type"], o["id"]) for o in objects] == [
        ("index-pattern", "flowscope-vpcflow"),
        ("visualization", "flowscope-vpcflow-top-dstaddr"),
        ("visualization", "flowscope-vpcflow-top-dstport"),
        ("visualization", "flowscope-vpcflow-traffic-by-action"),
        ("visualization", "flowscope-vpcflow-accept-reject"),
        ("visualization", "flowscope-vpcflow-top-dst-name"),
        ("visualization", "flowscope-vpcflow-top-dst-service"),
        ("dashboard", "flowscope-vpcflow-dashboard"),
    ]
    assert dangling_references(objects) == []
    assert "hunter2" not in done.stdout
    pattern = objects[0]["attributes"]
    assert (pattern["title"], pattern["timeFieldName"]) == ("vpcflow", "@timestamp")
    fields = {f["name"]: f["type"] for f in json.loads(pattern["fields"])}
    assert (fields["dstaddr"], fields["bytes"], fields["@timestamp"]) == ("ip", "number", "date")
    assert (fields["dst_name"], fields["src_security_groups"], fields["dst_asn"]) == (
        "string",
        "string",
        "number",
    )
    assert fields["src_scope"] == fields["dst_network"] == "string"


def test_visualizations_use_mapped_fields_and_the_dashboard_shows_them_all() -> None:
    objects = saved_objects("flows")
    mapped = set(flow_properties())
    titles = {}
    for o in objects[1:-1]:
        state = json.loads(o["attributes"]["visState"])
        titles[o["id"]] = state["title"]
        used = {a["params"]["field"] for a in state["aggs"] if "field" in a["params"]}
        assert used <= mapped, used - mapped
        meta = json.loads(o["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"])
        assert meta["indexRefName"] == o["references"][0]["name"]
        assert o["references"][0] == {
            "name": "kibanaSavedObjectMeta.searchSourceJSON.index",
            "type": "index-pattern",
            "id": "flowscope-flows",
        }
    assert titles == {
        "flowscope-flows-top-dstaddr": "Top 20 destination addresses",
        "flowscope-flows-top-dstport": "Top 20 destination ports",
        "flowscope-flows-traffic-by-action": "Traffic over time by action (bytes)",
        "flowscope-flows-accept-reject": "Accepted vs rejected flows",
        "flowscope-flows-top-dst-name": "Top 20 destinations by name",
        "flowscope-flows-top-dst-service": "Traffic by AWS service",
    }
    dashboard = objects[-1]
    panels = json.loads(dashboard["attributes"]["panelsJSON"])
    refs = {r["name"]: r["id"] for r in dashboard["references"]}
    assert [refs[p["panelRefName"]] for p in panels] == list(titles)
    sizes = [
        json.loads(o["attributes"]["visState"])["aggs"][-1]["params"].get("size")
        for o in objects[1:3]
    ]
    assert sizes == [20, 20]


def test_a_broken_reference_is_reported() -> None:
    objects = saved_objects("flows")
    objects[-1]["references"][0]["id"] = "nope"
    assert dangling_references(objects) == [
        "dashboard/flowscope-flows-dashboard -> visualization/nope"
    ]
    assert to_ndjson(objects).count("\n") == len(objects)


def test_export_refuses_a_duckdb_store(tmp_path: Any) -> None:
    done = run_flowscope("kibana-export", "--store", str(tmp_path / "flows.duckdb"))
    assert done.returncode == 2
    assert "kibana-export needs an OpenSearch store" in " ".join(done.stderr.split())


def _semver(v: str) -> tuple[int, ...]:
    return tuple(int(p) for p in v.split("."))


def test_migration_versions_are_ones_kibana_7_10_and_dashboards_know() -> None:
    """Kibana 7.10.2 and OpenSearch Dashboards refuse an object whose migrationVersion is newer
    than the last migration they have for its type ("belongs to a more recent version"); these
    are those last migrations, from their index-pattern, visualization and dashboard types."""
    latest = {"index-pattern": "7.6.0", "visualization": "7.10.0", "dashboard": "7.9.3"}
    done = run_flowscope("kibana-export", "--store", "elasticsearch://127.0.0.1:9200/vpcflow")
    assert done.returncode == 0, done.stderr
    objects = _objects(done.stdout)
    for o in objects:
        assert list(o["migrationVersion"]) == [o["type"]]
        have = o["migrationVersion"][o["type"]]
        assert _semver(have) <= _semver(latest[o["type"]]), (o["id"], have)
        assert have == latest[o["type"]]  # no older: newer Kibanas migrate from here
