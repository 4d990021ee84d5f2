"""Compile a filter tree and a time range into OpenSearch / Elasticsearch query DSL.

The DSL counterpart of :mod:`flowscope.engines.duckdb.compile`, with the same meanings: ``and`` is a
``bool`` filter, ``or`` a ``bool`` should, ``not`` a ``bool`` must_not; ``field:*`` is
``exists``; an address or CIDR block is a ``term`` on the ``ip`` field (which takes CIDR
notation and, like the SQL side, sees IPv4 as IPv4-mapped IPv6); text wildcards are
``wildcard`` queries with the literal parts escaped; comparisons are ``range`` queries. A leaf
never matches a document without the field, so under ``not`` a missing value counts as "does not
match", as in Kibana and in the DuckDB compiler. Times are sent as ISO 8601 with an explicit
format; ``start`` and ``end`` are ``date`` fields in epoch seconds, so numbers compare as seconds.

``ip`` fields take no wildcard queries; a prefix such as ``10.0.*`` or ``10.1*`` is rewritten to
the address ranges whose dotted text starts with it. Other wildcards on addresses are refused
with a QueryError suggesting a CIDR block.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from opensearchpy.exceptions import ConnectionTimeout, TransportError

from flowscope.engines.opensearch.cluster import Cluster, version_tuple
from flowscope.engines.opensearch.errors import explain
from flowscope.errors import FlowscopeError, QueryError, QueryTimeout, StoreError
from flowscope.query import buckets, cursor
from flowscope.query.fields import QUERY_FIELDS, QueryField
from flowscope.query.filter import And, Cidr, Equals, Exists, Node, Not, Or, Range, Value, Wildcard
from flowscope.query.model import (
    Backend,
    HistQuery,
    Metrics,
    MetricsQuery,
    Query,
    R,
    Result,
    SearchQuery,
    SearchResult,
    Series,
    SummaryQuery,
    TopQuery,
    TopResult,
    TopRow,
    Totals,
    check_query,
    series_label,
    summary_from_top,
)
from flowscope.times import TimeRange

DATE_FORMAT = "strict_date_optional_time"
MATCH_ALL: dict[str, Any] = {"match_all": {}}
_OPS = {"<": "lt", "<=": "lte", ">": "gt", ">=": "gte"}


def _value(value: Value) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def _range(field: str, bounds: dict[str, Value]) -> dict[str, Any]:
    body: dict[str, Any] = {op: _value(v) for op, v in bounds.items()}
    if any(isinstance(v, datetime) for v in bounds.values()):
        body["format"] = DATE_FORMAT
    return {"range": {field: body}}


def compile_filter(node: Node | None) -> dict[str, Any]:
    """The query for ``node`` (``match_all`` for no filter)."""
    return MATCH_ALL if node is None else _compile(node)


def compile_time(time: TimeRange) -> list[dict[str, Any]]:
    """Flows overlapping the range: ending at or after its start, starting before its end."""
    parts = []
    if time.start is not None:
        parts.append(_range("end_time", {"gte": time.start}))
    if time.end is not None:
        parts.append(_range("start_time", {"lt": time.end}))
    return parts


def compile_where(node: Node | None, time: TimeRange, *extra: dict[str, Any]) -> dict[str, Any]:
    """One query for a filter, a time range and any extra clauses (all must hold)."""
    parts = [*([] if node is None else [_compile(node)]), *compile_time(time), *extra]
    if not parts:
        return MATCH_ALL
    return parts[0] if len(parts) == 1 else {"bool": {"filter": parts}}


def _compile(node: Node) -> dict[str, Any]:
    if isinstance(node, And):
        return {"bool": {"filter": [_compile(i) for i in node.items]}}
    if isinstance(node, Or):
        return {"bool": {"should": [_compile(i) for i in node.items], "minimum_should_match": 1}}
    if isinstance(node, Not):
        return {"bool": {"must_not": [_compile(node.item)]}}
    if isinstance(node, Exists):
        return {"exists": {"field": node.field}}
    if isinstance(node, Equals):
        if isinstance(node.value, datetime):
            return _range(node.field, {"gte": node.value, "lte": node.value})
        return {"term": {node.field: node.value}}
    if isinstance(node, Range):
        return _range(node.field, {_OPS[node.op]: node.value})
    if isinstance(node, Cidr):
        return {"term": {node.field: str(node.network)}}
    if isinstance(node, Wildcard):
        if QUERY_FIELDS[node.field].kind == "ip":
            return ip_prefix(node.field, node.parts)
        return {"wildcard": {node.field: {"value": wildcard_pattern(node.parts)}}}
    raise TypeError(f"not a filter node: {node!r}")


def wildcard_pattern(parts: tuple[str, ...]) -> str:
    """A Lucene wildcard: the literal parts escaped, joined by ``*``."""

    def esc(p: str) -> str:
        return p.replace("\\", "\\\\").replace("*", "\\*").replace("?", "\\?")

    return "*".join(esc(p) for p in parts)


def ip_prefix(field: str, parts: tuple[str, ...]) -> dict[str, Any]:
    """Addresses whose dotted IPv4 text starts with ``parts[0]`` (the pattern ``prefix*``)."""
    prefix = parts[0]
    octets = prefix.split(".")
    fixed, partial = octets[:-1], octets[-1]
    ok = (
        len(parts) == 2
        and parts[1] == ""
        and 0 < len(fixed) + 1 <= 4
        and all(o.isdigit() and int(o) <= 255 and str(int(o)) == o for o in fixed)
        and (partial == "" or (partial.isdigit() and str(int(partial)) == partial))
        and not (partial == "" and len(fixed) == 4)
    )
    if not ok:
        raise QueryError(
            f"{field}: on OpenSearch, a wildcard on an address must be an IPv4 prefix such as "
            f"10.0.* (got {'*'.join(parts)!r})",
            hint=f"use a CIDR block instead, e.g. {field}:10.0.0.0/16",
        )
    values = [v for v in range(256) if partial == "" or str(v).startswith(partial)]
    runs: list[tuple[int, int]] = []
    for v in values:
        if runs and runs[-1][1] == v - 1:
            runs[-1] = (runs[-1][0], v)
        else:
            runs.append((v, v))
    rest = 3 - len(fixed)
    head = [int(o) for o in fixed]
    ranges = []
    for low, high in runs:
        lo = ipaddress.IPv4Address(bytes(head + [low] + [0] * rest))
        hi = ipaddress.IPv4Address(bytes(head + [high] + [255] * rest))
        ranges.append({"range": {field: {"gte": str(lo), "lte": str(hi)}}})
    if len(ranges) == 1:
        return ranges[0]
    return {"bool": {"should": ranges, "minimum_should_match": 1}}


# -- the backend -----------------------------------------------------------------------------------

_SUMS: dict[str, Any] = {"b": {"sum": {"field": "bytes"}}, "p": {"sum": {"field": "packets"}}}
#: HyperLogLog++ counts exactly up to this many distinct values, then estimates (within ~1%).
PRECISION = 40_000
#: Fields mapped as ``date`` (epoch seconds in documents, milliseconds in aggregation keys).
_DATE_FIELDS = frozenset({"start", "end", "start_time", "end_time"})


def _int(value: Any) -> int:
    return int(round(value)) if value is not None else 0


def _totals(count: int, aggs: dict[str, Any]) -> Totals:
    return Totals(int(count), _int(aggs["b"]["value"]), _int(aggs["p"]["value"]))


def from_doc(field: str, value: Any) -> Any:
    """A ``_source`` value as the DuckDB store returns it (times as UTC datetimes)."""
    if value is not None and QUERY_FIELDS[field].kind == "time":
        return datetime.fromtimestamp(int(value), UTC)
    return value


def from_key(field: str, value: Any) -> Any:
    """An aggregation key as the DuckDB store returns the value (dates come in milliseconds)."""
    if value is None or field not in _DATE_FIELDS:
        return value
    seconds = int(value) // 1000
    return datetime.fromtimestamp(seconds, UTC) if QUERY_FIELDS[field].kind == "time" else seconds


def _slack(size: int) -> int:
    """Buckets to ask for when ``size`` are wanted. Ties are broken as in SQL, by the values
    as DuckDB orders them (addresses as text, where the cluster orders them as numbers), so a
    few more than needed are fetched and the cut is made here."""
    return size * 2 + 20


def _order(by: str, count_tiebreak: bool = True) -> list[dict[str, str]]:
    first = "_count" if by == "count" else _METRIC_AGG[by]
    order = [{first: "desc"}]
    if count_tiebreak and first != "_count":
        order.append({"_count": "desc"})
    return [*order, {"_key": "asc"}]


_METRIC_AGG = {"count": "_count", "bytes": "b", "packets": "p"}


def _metric(by: str, bucket: dict[str, Any]) -> int:
    return int(bucket["doc_count"]) if by == "count" else _int(bucket[_METRIC_AGG[by]]["value"])


@dataclass
class _Plan:
    """One request body and how to read its response into a result."""

    body: dict[str, Any] | None
    read: Callable[[dict[str, Any]], Result]


class OpenSearchBackend(Backend):
    """Queries over an OpenSearch store; ``timeout`` (s) and ``row_cap`` apply to every ``run``.

    ``run`` sends all its requests as one multi-search (histograms over an open-ended range first
    ask for their bounds, in one multi-search of their own). Counts and sums are exact; distinct
    counts are exact up to :data:`PRECISION` values and estimates beyond; with more than one
    shard per index, terms rankings are the cluster's usual close approximation.
    """

    def __init__(
        self,
        store: Cluster,
        *,
        timeout: float | None = None,
        row_cap: int | None = None,
        lock_wait: float | None = None,
    ) -> None:
        self.store = store
        self.timeout = timeout
        self.row_cap = row_cap

    def fields(self) -> list[QueryField]:
        return list(QUERY_FIELDS.values())

    def run(self, queries: Sequence[Query]) -> list[Result]:
        for q in queries:
            check_query(q, self.row_cap)
        open_ended = [
            (i, q)
            for i, q in enumerate(queries)
            if isinstance(q, HistQuery) and (q.scope.time.start is None or q.scope.time.end is None)
        ]
        bounds: dict[int, tuple[int | None, int | None]] = {}
        if open_ended:
            answers = self._msearch([_bounds_body(q) for _, q in open_ended])
            for (i, _), answer in zip(open_ended, answers, strict=True):
                aggs = answer["aggregations"]
                first, last = aggs["first"]["value"], aggs["last"]["value"]
                bounds[i] = (
                    None if first is None else int(first) // 1000,
                    None if last is None else int(last) // 1000,
                )
        plans = [self._plan(q, bounds.get(i)) for i, q in enumerate(queries)]
        replies = iter(self._msearch([p.body for p in plans if p.body is not None]))
        return [p.read(next(replies) if p.body is not None else {}) for p in plans]

    def _multi_terms(self) -> bool:
        """Whether the cluster has the ``multi_terms`` aggregation (OpenSearch 2.1, Elasticsearch
        7.12 with X-Pack); older ones get the pairs from a terms aggregation over a script."""
        info = self.store.info()
        if info.serverless:
            return True
        least = (2, 1) if info.product == "opensearch" else (7, 12)
        return version_tuple(info.version) >= least

    def _plan(self, q: Query, bounds: tuple[int | None, int | None] | None) -> _Plan:
        if isinstance(q, TopQuery):
            return _top(q, len(q.fields) < 2 or self._multi_terms())
        if isinstance(q, HistQuery):
            return _hist(q, bounds)
        if isinstance(q, SearchQuery):
            return _search(q, self.store.target.shards > 1)
        if isinstance(q, SummaryQuery):
            plan = _top(TopQuery((q.field,), "count", q.size, q.scope), True)
            read = plan.read
            return _Plan(plan.body, lambda r: summary_from_top(q, _as(read(r), TopResult)))
        return _metrics(q)

    def _msearch(self, bodies: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if not bodies:
            return []
        lines: list[dict[str, Any]] = []
        for body in bodies:
            lines += [{"index": self.store.names.alias}, body]
        params: dict[str, Any] = {}
        if self.timeout is not None:
            params["request_timeout"] = self.timeout
        try:
            found = self.store.client().msearch(body=lines, **params)
        except ConnectionTimeout as e:
            raise QueryTimeout(
                f"the query took longer than {self.timeout:g}s and was stopped",
                hint="narrow the time range or the filter",
            ) from e
        except TransportError as e:
            raise explain(self.store.target, e, "answering a query") from e
        answers: list[dict[str, Any]] = found["responses"]
        for answer in answers:
            error = answer.get("error")
            if error:
                raise self._error(error)
            if answer.get("timed_out"):
                raise QueryTimeout("the query took longer than the cluster's time limit")
        return answers

    def _error(self, error: Any) -> FlowscopeError:
        cause = error.get("root_cause", [error])[0] if isinstance(error, dict) else {}
        kind = str(cause.get("type", "error"))
        reason = str(cause.get("reason", error))
        if kind == "index_not_found_exception":
            return StoreError(
                f"no flows in {self.store.url} yet",
                hint="load data first: flowscope ingest FILES --store " + self.store.url,
            )
        return QueryError(f"the cluster at {self.store.url} refused the query: {kind}: {reason}")


def _as(result: Result, kind: type[R]) -> R:
    assert isinstance(result, kind)
    return result


def _script_value(field: str) -> str:
    """Painless for the text of a field's value (dates as epoch milliseconds, as aggregation
    keys carry them; Elasticsearch 7 hands a date field over as a ZonedDateTime)."""
    if field in _DATE_FIELDS:
        return f"String.valueOf(doc['{field}'].value.toInstant().toEpochMilli())"
    return f"String.valueOf(doc['{field}'].value)"


def pair_key_script(fields: list[str]) -> str:
    """Painless joining the fields' values, each length-prefixed (``3:tcp5:10.0.0.1`` never
    collides with another tuple); :func:`split_pair_key` reads it back."""
    values = "".join(f"String v{i} = {_script_value(f)}; " for i, f in enumerate(fields))
    joined = " + ".join(f"v{i}.length() + ':' + v{i}" for i in range(len(fields)))
    return f"{values}return {joined};"


def split_pair_key(fields: list[str], key: str) -> list[Any]:
    """The values of a :func:`pair_key_script` key, typed as ``multi_terms`` gives them."""
    values: list[Any] = []
    at = 0
    for f in fields:
        colon = key.index(":", at)
        size = int(key[at:colon])
        text = key[colon + 1 : colon + 1 + size]
        at = colon + 1 + size
        numeric = QUERY_FIELDS[f].kind in ("int", "long") or f in _DATE_FIELDS
        values.append(int(text) if numeric else text)
    return values


def _multi_terms_key(field: str, value: Any) -> Any:
    """A ``multi_terms`` key part as ``terms`` gives it: multi_terms formats a date in the
    field's format (``"1736121600"``, epoch seconds) where terms gives epoch milliseconds."""
    if field in _DATE_FIELDS and isinstance(value, str):
        return int(value) * 1000
    return value


def pair_keys_script(fields: list[str]) -> str:
    """Painless for every tuple of a document's values (the product of its lists' members),
    each keyed as :func:`pair_key_script` keys one."""
    lines = ["List out = new ArrayList(); out.add('');"]
    for i, f in enumerate(fields):
        if f in _DATE_FIELDS:
            text = "String.valueOf(v.toInstant().toEpochMilli())"
        else:
            text = "String.valueOf(v)"
        lines.append(
            f"List next{i} = new ArrayList(); "
            f"for (def v : doc['{f}']) {{ String s = {text}; "
            f"for (def p : out) {{ next{i}.add(p + s.length() + ':' + s); }} }} out = next{i};"
        )
    lines.append("return out;")
    return " ".join(lines)


def _weight(lists: list[str]) -> str:
    """Painless for how many rows a document is once its lists are unnested (an empty list
    counts as one row, whose value is missing)."""
    return " * ".join(f"Math.max(1, doc['{f}'].size())" for f in lists)


def _weighted_sums(lists: list[str]) -> dict[str, Any]:
    """Count, bytes and packets of the rows of a list field unnested (see :func:`_weight`)."""
    w = _weight(lists)

    def script(value: str) -> dict[str, Any]:
        return {"sum": {"script": {"source": value, "lang": "painless"}}}

    def field(name: str) -> str:
        return f"(doc['{name}'].size() == 0 ? 0 : doc['{name}'].value)"

    return {
        "c": script(f"(long) ({w})"),
        "b": script(f"({w}) * {field('bytes')}"),
        "p": script(f"({w}) * {field('packets')}"),
    }


def _rows_totals(count: Any, aggs: dict[str, Any]) -> Totals:
    """Totals of a top's scope or missing part: rows of the lists unnested when it has lists."""
    if "c" not in aggs:
        return _totals(count, aggs)
    return Totals(_int(aggs["c"]["value"]), _int(aggs["b"]["value"]), _int(aggs["p"]["value"]))


def _top(q: TopQuery, multi_terms: bool) -> _Plan:
    where = compile_where(q.scope.where, q.scope.time)
    fields = list(q.fields)
    order = _order(q.by)
    scripted = len(fields) > 1 and not multi_terms
    # a list field (security groups) counts a flow once per member, as DuckDB's unnest does
    lists = [f for f in fields if QUERY_FIELDS[f].kind == "list"]
    sums = _weighted_sums(lists) if lists else _SUMS
    if len(fields) == 1:
        (name,) = fields
        top: dict[str, Any] = {
            "terms": {
                "field": name,
                "size": _slack(q.size),
                "shard_size": max(_slack(q.size) * 5, 100),
                "order": order,
            }
        }
        missing: dict[str, Any] = {"missing": {"field": name}}
        distinct: dict[str, Any] = {
            "cardinality": {"field": name, "precision_threshold": PRECISION}
        }
    else:
        absent = [{"bool": {"must_not": [{"exists": {"field": f}}]}} for f in fields]
        missing = {"filter": {"bool": {"should": absent, "minimum_should_match": 1}}}
        every = {"bool": {"filter": [{"exists": {"field": f}} for f in fields]}}
        key = {
            "source": pair_keys_script(fields) if lists else pair_key_script(fields),
            "lang": "painless",
        }
        distinct = {
            "filter": every,
            "aggs": {"n": {"cardinality": {"script": key, "precision_threshold": PRECISION}}},
        }
        if scripted:  # only tuples with every field present, as multi_terms counts them
            terms = {
                "script": key,
                "size": _slack(q.size),
                "shard_size": max(_slack(q.size) * 5, 100),
                "order": order,
            }
            top = {"filter": every, "aggs": {"t": {"terms": terms, "aggs": _SUMS}}}
        else:
            top = {
                "multi_terms": {
                    "terms": [{"field": f} for f in fields],
                    "size": _slack(q.size),
                    "order": order,
                }
            }
    body = {
        "size": 0,
        "track_total_hits": True,
        "query": where,
        "aggs": {
            **sums,
            "top": top if scripted else {**top, "aggs": _SUMS},
            "missing": {**missing, "aggs": sums},
            "distinct": distinct,
        },
    }

    def read(r: dict[str, Any]) -> Result:
        aggs = r["aggregations"]
        total = _rows_totals(r["hits"]["total"]["value"], aggs)
        missing_t = _rows_totals(aggs["missing"]["doc_count"], aggs["missing"])
        rows = []
        buckets = aggs["top"]["t"]["buckets"] if scripted else aggs["top"]["buckets"]
        for b in buckets:
            if scripted:
                keys = split_pair_key(fields, b["key"])
            elif len(fields) > 1:
                keys = [_multi_terms_key(f, k) for f, k in zip(fields, b["key"], strict=True)]
            else:
                keys = [b["key"]]
            key = tuple(from_key(f, k) for f, k in zip(fields, keys, strict=True))
            rows.append(TopRow(key, _totals(b["doc_count"], b)))
        rows.sort(key=lambda row: (-row.totals.get(q.by), -row.totals.count, row.key))
        rows = rows[: q.size]
        d = aggs["distinct"]
        distinct_n = int(d["value"] if "value" in d else d["n"]["value"])
        return TopResult.of(q, rows, total, missing_t, distinct_n)

    return _Plan(body, read)


def _hist_where(q: HistQuery) -> dict[str, Any]:
    return compile_where(q.scope.where, q.scope.time, {"exists": {"field": "start"}})


def _bounds_body(q: HistQuery) -> dict[str, Any]:
    return {
        "size": 0,
        "query": _hist_where(q),
        "aggs": {"first": {"min": {"field": "start"}}, "last": {"max": {"field": "start"}}},
    }


def _hist(q: HistQuery, bounds: tuple[int | None, int | None] | None) -> _Plan:
    """Buckets of ``start`` (epoch-aligned, as ``start // step * step`` in SQL); flows that
    began before the range but overlap it count in its first bucket."""
    span = q.scope.time
    plan = buckets.plan(q, *(bounds or (None, None)))
    if plan is None:
        empty = buckets.empty(q)
        return _Plan(None, lambda r: empty)
    low, step, count = plan.low, plan.step, plan.count
    over_time: dict[str, Any] = {
        "late": {
            "filter": {"range": {"start": {"gte": low}}} if span.start else MATCH_ALL,
            "aggs": {
                "t": {
                    "date_histogram": {
                        "field": "start",
                        "fixed_interval": f"{step}s",
                        "min_doc_count": 1,
                    },
                    "aggs": _SUMS,
                }
            },
        }
    }
    if span.start:
        over_time["early"] = {"filter": {"range": {"start": {"lt": low}}}, "aggs": _SUMS}
    aggs: dict[str, Any] = dict(over_time)
    if q.split:
        split_aggs = {**_SUMS, **over_time}
        aggs["keys"] = {
            "terms": {
                "field": q.split,
                "size": _slack(q.split_size),
                "shard_size": max(_slack(q.split_size) * 5, 100),
                "order": _order(q.by, count_tiebreak=False),
            },
            "aggs": split_aggs,
        }
        aggs["nokey"] = {"missing": {"field": q.split}, "aggs": split_aggs}
    body = {"size": 0, "query": _hist_where(q), "aggs": aggs}

    def arrays(node: dict[str, Any]) -> list[list[int]]:
        out = [[0] * count for _ in range(3)]
        slots: list[tuple[int | None, dict[str, Any]]] = [
            (plan.slot(int(b["key"]) // 1000), b) for b in node["late"]["t"]["buckets"]
        ]
        if "early" in node:
            slots.append((0, node["early"]))
        for slot, b in slots:
            if slot is None:
                continue
            out[0][slot] += int(b["doc_count"])
            out[1][slot] += _int(b["b"]["value"])
            out[2][slot] += _int(b["p"]["value"])
        return out

    def read(r: dict[str, Any]) -> Result:
        a = r["aggregations"]
        whole = arrays(a)
        series: list[Series] = []
        if q.split:
            candidates = [(from_key(q.split, b["key"]), b) for b in a["keys"]["buckets"]]
            if a["nokey"]["doc_count"]:
                candidates.append((None, a["nokey"]))
            candidates.sort(
                key=lambda c: (-_metric(q.by, c[1]), c[0] is None, 0 if c[0] is None else c[0])
            )
            rest = [list(x) for x in whole]
            for key, b in candidates[: q.split_size]:
                c, by, p = arrays(b)
                for arr, part in zip(rest, (c, by, p), strict=True):
                    for i, v in enumerate(part):
                        arr[i] -= v
                series.append(Series(key, series_label(q.split, key, False), False, c, by, p))
            if any(rest[0]):
                series.append(Series(None, series_label(q.split, None, True), True, *rest))
        elif any(whole[0]):
            series.append(Series(None, series_label(None, None, False), False, *whole))
        return plan.result(q, series)

    return _Plan(body, read)


def _metrics(q: MetricsQuery) -> _Plan:
    aggs: dict[str, Any] = {
        **_SUMS,
        "first": {"min": {"field": "start_time"}},
        "last": {"max": {"field": "end_time"}},
    }
    if q.distinct:
        for name, column in (("src", "srcaddr"), ("dst", "dstaddr")):
            card = {"field": column, "precision_threshold": PRECISION}
            aggs[name] = {"cardinality": card}
    body = {
        "size": 0,
        "track_total_hits": True,
        "query": compile_where(q.scope.where, q.scope.time),
        "aggs": aggs,
    }

    def read(r: dict[str, Any]) -> Result:
        a = r["aggregations"]
        t = _totals(r["hits"]["total"]["value"], a)

        def when(v: Any) -> datetime | None:
            return None if v is None else datetime.fromtimestamp(int(v) // 1000, UTC)

        return Metrics(
            t.count,
            t.bytes,
            t.packets,
            int(a["src"]["value"]) if "src" in a else None,
            int(a["dst"]["value"]) if "dst" in a else None,
            when(a["first"]["value"]),
            when(a["last"]["value"]),
        )

    return _Plan(body, read)


# -- search: search_after over (sort value, index, sequence number) ------------------------------


def _encode_cursor(q: SearchQuery, values: list[Any]) -> str:
    return cursor.encode(q, {"a": values})


def _decode_cursor(q: SearchQuery, token: str) -> list[Any]:
    values = cursor.decode(q, token).get("a")
    if not isinstance(values, list):
        raise QueryError("invalid cursor: pass the next_cursor of a previous page")
    return values


def _search(q: SearchQuery, many_shards: bool) -> _Plan:
    """Keyset paging: each index has one shard by default, where (``_index``, ``_seq_no``) names
    a document for good (flows are never updated); with more shards ``_id`` breaks the ties."""
    columns = list(dict.fromkeys(q.columns))
    direction = "desc" if q.descending else "asc"
    sort: list[dict[str, Any]] = [
        {q.sort: {"order": direction, "missing": "_last"}},
        {"_index": {"order": direction}},
        {"_seq_no": {"order": direction}},
    ]
    if many_shards:
        sort.append({"_id": {"order": direction}})
    body: dict[str, Any] = {
        "size": q.size + 1,
        "track_total_hits": True,
        "query": compile_where(q.scope.where, q.scope.time),
        "sort": sort,
        "_source": columns,
    }
    if q.cursor:
        body["search_after"] = _decode_cursor(q, q.cursor)

    def read(r: dict[str, Any]) -> Result:
        hits = r["hits"]["hits"]
        page = hits[: q.size]
        rows = [tuple(from_doc(c, h["_source"].get(c)) for c in columns) for h in page]
        cursor = _encode_cursor(q, page[-1]["sort"]) if len(hits) > q.size and page else None
        return SearchResult(columns, rows, int(r["hits"]["total"]["value"]), cursor)

    return _Plan(body, read)
