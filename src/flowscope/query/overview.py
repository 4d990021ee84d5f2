"""The overview printed after a load: counts, time range, actions, statuses, top ports, and
the top talkers and AWS services by name when the store knows an estate.

Asked through the neutral query model, so every engine gives it the same way.
"""

from __future__ import annotations

from typing import Any

from flowscope.query.model import Backend, Metrics, MetricsQuery, Scope, TopQuery, TopResult


def overview(backend: Backend) -> dict[str, Any]:
    """What a user wants to see after a load, in one round of queries."""
    everything = Scope()
    m, actions, statuses, ports, talkers, services = backend.run(
        [
            MetricsQuery(everything),
            TopQuery(("action",), "count", 10, everything),
            TopQuery(("log_status",), "count", 10, everything),
            TopQuery(("dstport", "protocol_name"), "count", 5, everything),
            TopQuery(("src_name",), "bytes", 5, everything),
            TopQuery(("dst_service",), "bytes", 5, everything),
        ]
    )
    assert isinstance(m, Metrics) and isinstance(ports, TopResult)
    assert isinstance(talkers, TopResult) and isinstance(services, TopResult)
    by: list[dict[str, int]] = []
    for top in (actions, statuses):
        assert isinstance(top, TopResult)
        counts = {str(r.key[0]): r.totals.count for r in top.rows}
        if top.missing.count:
            counts["-"] = top.missing.count
        by.append(dict(sorted(counts.items(), key=lambda kv: -kv[1])))
    return {
        "flows": m.count,
        "first": m.first,
        "last": m.last,
        "bytes": m.bytes,
        "by_action": by[0],
        "by_status": by[1],
        "top_dstports": [
            {"dstport": r.key[0], "protocol": r.key[1], "flows": r.totals.count} for r in ports.rows
        ],
        # empty without an estate: names come with `flowscope inventory refresh`
        "top_talkers": [{"name": r.key[0], "bytes": r.totals.bytes} for r in talkers.rows],
        "top_services": [{"service": r.key[0], "bytes": r.totals.bytes} for r in services.rows],
    }
