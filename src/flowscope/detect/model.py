"""Alerts, rules and the context a rule runs in: engine-neutral, over the query layer's model.

A rule asks its questions as :mod:`flowscope.query.model` requests (top-N of field tuples,
histograms, metrics) through :class:`Context`, so the same rule runs on the embedded DuckDB
store and on OpenSearch. It answers :class:`Alert` objects: what was found, about whom, how
bad, and the filter and time range that show the flows behind it (a Discover link).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal
from urllib.parse import urlencode

from flowscope.query.filter import Node, parse_filter, quote_value
from flowscope.query.model import Backend, Query, Result, Scope
from flowscope.times import TimeRange, iso

Severity = Literal["info", "low", "medium", "high", "critical"]
SEVERITIES: tuple[Severity, ...] = ("info", "low", "medium", "high", "critical")


def severity_rank(s: str) -> int:
    return SEVERITIES.index(s) if s in SEVERITIES else -1


# -- filter text shared by the rules -----------------------------------------------------------

#: Ranges that are never "the internet" (RFC 1918, CGNAT, loopback, link-local, multicast,
#: ULA, IPv6 link-local and multicast); used where a flow has no scope (no estate).
NOT_PUBLIC = (
    "10.0.0.0/8 or 172.16.0.0/12 or 192.168.0.0/16 or 100.64.0.0/10 or 127.0.0.0/8 or "
    "169.254.0.0/16 or 224.0.0.0/4 or 0.0.0.0/8 or fc00::/7 or fe80::/10 or ff00::/8"
)
INTERNAL_RANGES = "10.0.0.0/8 or 172.16.0.0/12 or 192.168.0.0/16 or 100.64.0.0/10 or fc00::/7"


def public(side: str) -> str:
    """``src``/``dst`` is an internet address: its scope says so, or, with no scope, it is
    outside the private and special ranges."""
    return f"({side}_scope:internet or (not {side}_scope:* and not {side}addr:({NOT_PUBLIC})))"


def internal(side: str) -> str:
    """``src``/``dst`` is ours: in a VPC or a private network (by scope), else RFC 1918/ULA."""
    return (
        f"({side}_scope:(same-vpc or other-vpc or private) or "
        f"(not {side}_scope:* and {side}addr:({INTERNAL_RANGES})))"
    )


def value(v: object) -> str:
    """A filter value: quoted when it needs to be (IPv6 addresses, text)."""
    return quote_value(str(v)) if not isinstance(v, int) else str(v)


def any_of(field_: str, values: Sequence[object]) -> str:
    """``field:(a or b …)``."""
    return f"{field_}:({' or '.join(value(v) for v in values)})"


def conj(*parts: str) -> str:
    return " and ".join(f"({p})" for p in parts if p)


# -- alerts ------------------------------------------------------------------------------------


@dataclass
class Alert:
    """One finding of one rule about one entity (a source, a destination and port…)."""

    rule: str
    title: str
    severity: Severity
    entity: str
    #: The flows behind it: a filter in flowscope's language, and the time range it covers.
    where: str
    count: int = 0
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    summary: str = ""
    techniques: tuple[str, ...] = ()
    evidence: dict[str, Any] = field(default_factory=dict)

    def discover_link(self) -> str:
        """The web page's Discover view on the flows behind the alert (``#/discover?…``)."""
        params = {"q": self.where}
        if self.first_seen is not None:
            params["from"] = iso(self.first_seen)
        if self.last_seen is not None:
            params["to"] = iso(self.last_seen + timedelta(seconds=1))
        return "#/discover?" + urlencode(params)

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "title": self.title,
            "severity": self.severity,
            "entity": self.entity,
            "summary": self.summary,
            "count": self.count,
            "first_seen": iso(self.first_seen) if self.first_seen else None,
            "last_seen": iso(self.last_seen) if self.last_seen else None,
            "techniques": list(self.techniques),
            "where": self.where,
            "discover": self.discover_link(),
            "evidence": self.evidence,
        }


# -- rules and their context -------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    """What a run of the rules may be told (every threshold has a default)."""

    #: How far back before the examined window the baselines reach.
    baseline: timedelta = timedelta(days=7)
    #: Addresses and networks of a threat list (``--known-bad FILE``).
    known_bad: tuple[str, ...] = ()
    #: Bytes to one new destination that make an exfiltration alert (``high_bytes``: high).
    exfil_bytes: int = 100_000_000
    exfil_high_bytes: int = 1_000_000_000
    scan_ports: int = 15
    sweep_hosts: int = 20
    brute_connections: int = 30
    beacon_connections: int = 24


@dataclass
class Context:
    """The window a run examines, its baseline, and a memo of the questions already asked
    (rules asking the same question get one answer)."""

    backend: Backend
    window: TimeRange  # examined: both ends set
    baseline: TimeRange  # before the window (or its first quarter, see detect.engine)
    options: Options = field(default_factory=Options)
    _memo: dict[Query, Result] = field(default_factory=dict)
    queries: int = 0

    def scope(self, where: str, time: TimeRange | None = None) -> Scope:
        return Scope(parse_filter(where), time or self.window)

    def run(self, queries: Sequence[Query]) -> list[Result]:
        todo = [q for q in dict.fromkeys(queries) if q not in self._memo]
        if todo:
            self.queries += len(todo)
            for q, r in zip(todo, self.backend.run(todo), strict=True):
                self._memo[q] = r
        return [self._memo[q] for q in queries]

    def one(self, query: Query) -> Result:
        return self.run([query])[0]


@dataclass(frozen=True)
class Rule:
    """A built-in detection: who it is for, and the function that finds its alerts."""

    id: str
    title: str
    severity: Severity  # the usual (highest default) severity
    techniques: tuple[str, ...]
    explanation: str
    find: Callable[[Context], list[Alert]] = field(repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "severity": self.severity,
            "techniques": list(self.techniques),
            "explanation": self.explanation,
        }


def node(where: str) -> Node | None:
    return parse_filter(where)
