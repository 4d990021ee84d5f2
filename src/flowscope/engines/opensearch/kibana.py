"""Saved objects for Kibana and OpenSearch Dashboards: the recipe's dashboard over flowscope data.

:func:`saved_objects` returns the objects (plain dicts) and :func:`to_ndjson` the file the Saved
Objects import API and the UI (Stack Management → Saved objects → Import) take: an index
pattern (a data view in Kibana 8) over the store's alias with ``@timestamp`` as its time field,
six aggregation-based visualizations (top 20 destination addresses, top 20 destination ports,
traffic over time by action, accepted vs rejected, top 20 destinations by name, traffic by AWS
service: the estate's endpoint fields, see :mod:`.schema`) and a dashboard holding them.
Aggregation-based (legacy) visualizations are the kind both Kibana 7.10+ and OpenSearch
Dashboards import. Each object's ``migrationVersion`` is the last migration Kibana 7.10.2 (and so
OpenSearch Dashboards, its fork) has for that type, see :data:`MIGRATIONS`, so newer versions
migrate them on import. Ids are derived from the store name, so importing again overwrites
instead of duplicating.
"""

from __future__ import annotations

import json
from typing import Any

from flowscope.engines.opensearch.schema import TIMESTAMP, flow_properties

#: The version dashboard panels are written at (what OpenSearch Dashboards forked from).
MIGRATION = "7.10.0"
#: Per type, the newest saved-object migration Kibana 7.10.2 registers (index_pattern_migrations,
#: visualization_migrations, dashboard_migrations; OpenSearch Dashboards kept them). An import
#: whose migrationVersion is newer than that is refused ("belongs to a more recent version of
#: Kibana"), so 7.10.0 on an index pattern or a dashboard fails there.
MIGRATIONS = {"index-pattern": "7.6.0", "visualization": "7.10.0", "dashboard": "7.9.3"}
_KIBANA_TYPES = {
    "keyword": "string",
    "text": "string",
    "ip": "ip",
    "date": "date",
    "long": "number",
    "integer": "number",
}


def _fields() -> str:
    """The index pattern's field list (Kibana 7 and Dashboards use it until refreshed)."""
    out = []
    for name, spec in flow_properties().items():
        out.append(
            {
                "name": name,
                "type": _KIBANA_TYPES[spec["type"]],
                "esTypes": [spec["type"]],
                "count": 0,
                "scripted": False,
                "searchable": True,
                "aggregatable": True,
                "readFromDocValues": True,
            }
        )
    for meta, kind in (("_id", "string"), ("_index", "string"), ("_source", "_source")):
        out.append(
            {
                "name": meta,
                "type": kind,
                "count": 0,
                "scripted": False,
                "searchable": meta != "_source",
                "aggregatable": meta == "_index",
                "readFromDocValues": False,
            }
        )
    return json.dumps(out)


def _search_source(query: str = "") -> str:
    return json.dumps(
        {
            "query": {"query": query, "language": "kuery"},
            "filter": [],
            "indexRefName": "kibanaSavedObjectMeta.searchSourceJSON.index",
        }
    )


def _terms(agg_id: str, field: str, size: int, schema: str, order_by: str = "1") -> dict[str, Any]:
    return {
        "id": agg_id,
        "enabled": True,
        "type": "terms",
        "schema": schema,
        "params": {
            "field": field,
            "size": size,
            "order": "desc",
            "orderBy": order_by,
            "otherBucket": False,
            "missingBucket": False,
        },
    }


def _count() -> dict[str, Any]:
    return {"id": "1", "enabled": True, "type": "count", "schema": "metric", "params": {}}


def _sum(agg_id: str, field: str) -> dict[str, Any]:
    return {
        "id": agg_id,
        "enabled": True,
        "type": "sum",
        "schema": "metric",
        "params": {"field": field, "customLabel": field},
    }


def _table(title: str, field: str, label: str) -> dict[str, Any]:
    return {
        "title": title,
        "type": "table",
        "aggs": [
            _count(),
            _sum("2", "bytes"),
            _sum("3", "packets"),
            {
                **_terms("4", field, 20, "bucket"),
                "params": {**_terms("4", field, 20, "bucket")["params"], "customLabel": label},
            },
        ],
        "params": {
            "perPage": 20,
            "showPartialRows": False,
            "showMetricsAtAllLevels": False,
            "sort": {"columnIndex": None, "direction": None},
            "showTotal": False,
            "totalFunc": "sum",
            "percentageCol": "",
        },
    }


def _over_time(title: str) -> dict[str, Any]:
    return {
        "title": title,
        "type": "histogram",
        "aggs": [
            _sum("1", "bytes"),
            {
                "id": "2",
                "enabled": True,
                "type": "date_histogram",
                "schema": "segment",
                "params": {
                    "field": TIMESTAMP,
                    "useNormalizedOpenSearchInterval": True,
                    "useNormalizedEsInterval": True,
                    "interval": "auto",
                    "drop_partials": False,
                    "min_doc_count": 1,
                    "extended_bounds": {},
                },
            },
            _terms("3", "action", 5, "group"),
        ],
        "params": {
            "type": "histogram",
            "addTooltip": True,
            "addLegend": True,
            "legendPosition": "right",
            "times": [],
            "addTimeMarker": False,
            "seriesParams": [
                {
                    "show": True,
                    "type": "histogram",
                    "mode": "stacked",
                    "data": {"label": "bytes", "id": "1"},
                    "valueAxis": "ValueAxis-1",
                }
            ],
        },
    }


def _pie(title: str) -> dict[str, Any]:
    return {
        "title": title,
        "type": "pie",
        "aggs": [_count(), _terms("2", "action", 5, "segment")],
        "params": {
            "type": "pie",
            "addTooltip": True,
            "addLegend": True,
            "legendPosition": "right",
            "isDonut": True,
            "labels": {"show": True, "values": True, "last_level": True, "truncate": 100},
        },
    }


def saved_objects(name: str) -> list[dict[str, Any]]:
    """The saved objects for the store named ``name`` (index pattern first, dashboard last)."""
    pattern_id = f"flowscope-{name}"
    index_ref = [
        {
            "name": "kibanaSavedObjectMeta.searchSourceJSON.index",
            "type": "index-pattern",
            "id": pattern_id,
        }
    ]
    visuals = [
        ("top-dstaddr", _table("Top 20 destination addresses", "dstaddr", "destination")),
        ("top-dstport", _table("Top 20 destination ports", "dstport", "port")),
        ("traffic-by-action", _over_time("Traffic over time by action (bytes)")),
        ("accept-reject", _pie("Accepted vs rejected flows")),
        ("top-dst-name", _table("Top 20 destinations by name", "dst_name", "destination")),
        ("top-dst-service", _table("Traffic by AWS service", "dst_service", "service")),
    ]
    objects: list[dict[str, Any]] = [
        {
            "type": "index-pattern",
            "id": pattern_id,
            "attributes": {"title": name, "timeFieldName": TIMESTAMP, "fields": _fields()},
            "references": [],
            "migrationVersion": {"index-pattern": MIGRATIONS["index-pattern"]},
        }
    ]
    for suffix, state in visuals:
        objects.append(
            {
                "type": "visualization",
                "id": f"{pattern_id}-{suffix}",
                "attributes": {
                    "title": f"{state['title']} [{name}]",
                    "visState": json.dumps(state),
                    "uiStateJSON": "{}",
                    "description": "flowscope: AWS VPC Flow Logs",
                    "version": 1,
                    "kibanaSavedObjectMeta": {"searchSourceJSON": _search_source()},
                },
                "references": index_ref,
                "migrationVersion": {"visualization": MIGRATIONS["visualization"]},
            }
        )
    layout = [
        (0, 0, 24, 15),
        (24, 0, 24, 15),
        (0, 15, 32, 15),
        (32, 15, 16, 15),
        (0, 30, 24, 15),
        (24, 30, 24, 15),
    ]
    panels = []
    references = []
    for i, ((suffix, _), (x, y, w, h)) in enumerate(zip(visuals, layout, strict=True)):
        panels.append(
            {
                "version": MIGRATION,
                "gridData": {"x": x, "y": y, "w": w, "h": h, "i": str(i + 1)},
                "panelIndex": str(i + 1),
                "embeddableConfig": {},
                "panelRefName": f"panel_{i}",
            }
        )
        references.append(
            {"name": f"panel_{i}", "type": "visualization", "id": f"{pattern_id}-{suffix}"}
        )
    objects.append(
        {
            "type": "dashboard",
            "id": f"{pattern_id}-dashboard",
            "attributes": {
                "title": f"VPC Flow Logs [{name}]",
                "description": "flowscope: who talks to whom, on which ports, accepted or not",
                "panelsJSON": json.dumps(panels),
                "optionsJSON": json.dumps({"useMargins": True, "hidePanelTitles": False}),
                "version": 1,
                "timeRestore": True,
                "timeFrom": "now-24h",
                "timeTo": "now",
                "refreshInterval": {"pause": True, "value": 0},
                "kibanaSavedObjectMeta": {
                    "searchSourceJSON": json.dumps(
                        {"query": {"query": "", "language": "kuery"}, "filter": []}
                    )
                },
            },
            "references": references,
            "migrationVersion": {"dashboard": MIGRATIONS["dashboard"]},
        }
    )
    return objects


def to_ndjson(objects: list[dict[str, Any]]) -> str:
    """One JSON object per line, as the Saved Objects import API reads it."""
    return "".join(json.dumps(o, sort_keys=True) + "\n" for o in objects)


def dangling_references(objects: list[dict[str, Any]]) -> list[str]:
    """References to objects not in ``objects`` (empty when the file imports on its own)."""
    present = {(o["type"], o["id"]) for o in objects}
    return [
        f"{o['type']}/{o['id']} -> {r['type']}/{r['id']}"
        for o in objects
        for r in o.get("references", [])
        if (r["type"], r["id"]) not in present
    ]
