"""The filter language: what Kibana users type (KQL), parsed into a backend-neutral tree.

Grammar (keywords are case-insensitive; ``not`` binds tighter than ``and``, ``and`` than ``or``)::

    filter  := [or]
    or      := and ("or" and)*
    and     := not ("and" not)*
    not     := "not" not | "(" or ")" | clause
    clause  := FIELD ":" values | FIELD ("<" | "<=" | ">" | ">=") value
    values  := "*" | value | "(" vor ")" | "[" value "to" value "]"
    vor     := vand ("or" vand)*          vand := vnot ("and" vnot)*
    vnot    := "not" vnot | "(" vor ")" | value
    value   := '"' text '"'  |  bare text up to a space or parenthesis

In a bare value ``*`` is a wildcard and a backslash escapes the next character; a quoted value
is taken literally (``\\"`` and ``\\\\`` escape). On an address field a value is an address or a
CIDR block (IPv4 or IPv6); ``field:*`` means the field has a value. ``protocol:tcp`` names the
protocol. A mistake raises :class:`~flowscope.errors.QueryError` with the character position
(0-based) where the filter stopped making sense and what was expected there.

The tree (:data:`Node`) names columns, never SQL: each backend compiles it (``query.duck_sql``).
Under ``not`` a missing value counts as "does not match", as in Kibana: ``not dstport:22``
keeps the NODATA records that have no port.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, TypeAlias

from flowscope.errors import QueryError, UsageError
from flowscope.query.fields import PROTOCOL_BY_NAME, QueryField, lookup, resolve
from flowscope.times import TIME_HELP, parse_time

Network: TypeAlias = ipaddress.IPv4Network | ipaddress.IPv6Network
Value: TypeAlias = int | str | datetime
Op = Literal["<", "<=", ">", ">="]


@dataclass(frozen=True)
class And:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    item: Node


@dataclass(frozen=True)
class Exists:
    """The field has a value (is not NULL)."""

    field: str


@dataclass(frozen=True)
class Equals:
    field: str
    value: Value


@dataclass(frozen=True)
class Wildcard:
    """Text matching ``parts`` joined by "anything": ``eni-0ab*`` is ``("eni-0ab", "")``."""

    field: str
    parts: tuple[str, ...]


@dataclass(frozen=True)
class Cidr:
    """An address inside ``network``; a single address is a /32 or /128."""

    field: str
    network: Network


@dataclass(frozen=True)
class Range:
    field: str
    op: Op
    value: Value


Node: TypeAlias = And | Or | Not | Exists | Equals | Wildcard | Cidr | Range

KEYWORDS = ("and", "or", "not", "to")
MAX_LENGTH = 20_000
MAX_DEPTH = 64
_WS = " \t\r\n"
_NAME = re.compile(r"[A-Za-z_@][A-Za-z0-9_.@-]*")
_WORD = re.compile(r"[A-Za-z]+")
_OP = re.compile(r"<=|>=|<|>")
_INT = re.compile(r"^[+-]?\d+$")
_BARE = re.compile(r"^[A-Za-z0-9_.:/@+-]+$")


@dataclass(frozen=True)
class _Raw:
    """A value as typed: its text pieces around unescaped ``*``, and where it started."""

    parts: tuple[str, ...]
    quoted: bool
    pos: int

    @property
    def text(self) -> str:
        return "*".join(self.parts)

    @property
    def wild(self) -> bool:
        return len(self.parts) > 1


def parse_filter(text: str | None) -> Node | None:
    """The tree for ``text``; None when the filter is empty (everything matches)."""
    if text is None or not text.strip():
        return None
    if len(text) > MAX_LENGTH:
        raise QueryError(f"the filter is longer than {MAX_LENGTH} characters", position=0)
    return _Parser(text).parse()


def and_all(*nodes: Node | None) -> Node | None:
    """The conjunction of the given filters (None ones ignored)."""
    items = tuple(n for n in nodes if n is not None)
    if not items:
        return None
    return items[0] if len(items) == 1 else And(items)


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.depth = 0

    # -- scanning -------------------------------------------------------------------------

    def skip(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in _WS:
            self.pos += 1

    def peek(self) -> str:
        self.skip()
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def keyword(self) -> str | None:
        """The keyword at the cursor (not consumed), if the next word is one."""
        self.skip()
        m = _WORD.match(self.text, self.pos)
        if not m:
            return None
        end = m.end()
        if end < len(self.text) and self.text[end] not in _WS + '()"[]':
            return None
        word = m.group(0).lower()
        return word if word in KEYWORDS else None

    def take(self, word: str) -> bool:
        if self.keyword() == word:
            self.pos += len(word)
            return True
        return False

    def found(self) -> str:
        self.skip()
        if self.pos >= len(self.text):
            return "the end of the filter"
        m = re.match(r'[^\s()"\[\]]+', self.text[self.pos :])
        token = m.group(0) if m else self.text[self.pos]
        return repr(token[:30])

    def error(self, message: str, pos: int | None = None, hint: str | None = None) -> QueryError:
        return QueryError(message, position=self.pos if pos is None else pos, hint=hint)

    def expected(self, what: str) -> QueryError:
        return self.error(f"expected {what}, found {self.found()}")

    def open_group(self) -> int:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(f"parentheses nested more than {MAX_DEPTH} deep")
        opened = self.pos
        self.pos += 1
        return opened

    def close_group(self, opened: int) -> None:
        if self.peek() != ")":
            raise self.expected(f"')' to close the '(' at position {opened}")
        self.pos += 1
        self.depth -= 1

    # -- the boolean structure --------------------------------------------------------------

    def parse(self) -> Node:
        node = self.or_()
        if self.peek():
            if self.peek() == ")":
                raise self.error("unbalanced ')': no '(' before it")
            raise self.expected("'and', 'or' or the end of the filter")
        return node

    def or_(self) -> Node:
        items = [self.and_()]
        while self.take("or"):
            items.append(self.and_())
        return items[0] if len(items) == 1 else Or(tuple(items))

    def and_(self) -> Node:
        items = [self.not_()]
        while self.take("and"):
            items.append(self.not_())
        return items[0] if len(items) == 1 else And(tuple(items))

    def negate(self) -> None:
        """Count a ``not`` towards the nesting limit: each one is a level of recursion."""
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(f"'not' and parentheses nested more than {MAX_DEPTH} deep")

    def not_(self) -> Node:
        if self.take("not"):
            self.negate()
            negated = Not(self.not_())
            self.depth -= 1
            return negated
        if self.peek() == "(":
            opened = self.open_group()
            node = self.or_()
            self.close_group(opened)
            return node
        return self.clause()

    def clause(self) -> Node:
        self.skip()
        start = self.pos
        m = _NAME.match(self.text, self.pos)
        if self.keyword() or self.peek() in ("", ")"):
            raise self.expected("a field name")
        free_text = QueryError(
            f"expected field:value, found {self.found()}",
            position=start,
            hint="free-text search is not supported; name the field, e.g. srcaddr:10.0.0.1",
        )
        if not m:
            raise free_text
        name = m.group(0)
        self.pos = m.end()
        sep = self.peek()
        if sep != ":" and not _OP.match(self.text, self.pos):
            if lookup(name) is None:
                raise free_text
            raise self.expected(f"':' or a comparison (<, <=, >, >=) after {name!r}")
        field = resolve(name, start)
        if sep == ":":
            self.pos += 1
            return self.values(field)
        op = _OP.match(self.text, self.pos)
        assert op is not None
        self.pos = op.end()
        raw = self.value(field)
        return Range(field.name, _op(op.group(0)), self.convert(field, raw, ranged=True))

    # -- values -------------------------------------------------------------------------------

    def values(self, field: QueryField) -> Node:
        c = self.peek()
        if c == "(":
            opened = self.open_group()
            node = self.vor(field)
            self.close_group(opened)
            return node
        if c == "[":
            return self.bracket(field)
        return self.leaf(field, self.value(field))

    def vor(self, field: QueryField) -> Node:
        items = [self.vand(field)]
        while self.take("or"):
            items.append(self.vand(field))
        return items[0] if len(items) == 1 else Or(tuple(items))

    def vand(self, field: QueryField) -> Node:
        items = [self.vnot(field)]
        while self.take("and"):
            items.append(self.vnot(field))
        return items[0] if len(items) == 1 else And(tuple(items))

    def vnot(self, field: QueryField) -> Node:
        if self.take("not"):
            self.negate()
            negated = Not(self.vnot(field))
            self.depth -= 1
            return negated
        if self.peek() == "(":
            opened = self.open_group()
            node = self.vor(field)
            self.close_group(opened)
            return node
        return self.leaf(field, self.value(field))

    def bracket(self, field: QueryField) -> Node:
        opened = self.pos
        self.pos += 1
        low = self.value(field, stops="]")
        if not self.take("to"):
            raise self.expected("'to' between the bounds of the range")
        high = self.value(field, stops="]")
        if self.peek() != "]":
            raise self.expected(f"']' to close the range opened at position {opened}")
        self.pos += 1
        bounds: list[Node] = []
        if low.text != "*" or low.quoted:
            bounds.append(Range(field.name, ">=", self.convert(field, low, ranged=True)))
        if high.text != "*" or high.quoted:
            bounds.append(Range(field.name, "<=", self.convert(field, high, ranged=True)))
        node = and_all(*bounds)
        return node if node is not None else Exists(field.name)

    def value(self, field: QueryField, stops: str = "") -> _Raw:
        self.skip()
        start = self.pos
        text = self.text
        if start >= len(text):
            raise self.expected(f"a value for {field.name}")
        if text[start] == '"':
            return self.quoted(start)
        if self.keyword():
            raise self.expected(f"a value for {field.name}") from None
        parts: list[str] = []
        buf: list[str] = []
        i = start
        while i < len(text) and text[i] not in _WS + '()"' + stops:
            c = text[i]
            if c == "\\" and i + 1 < len(text):
                buf.append(text[i + 1])
                i += 2
                continue
            if c == "*":
                parts.append("".join(buf))
                buf = []
            else:
                buf.append(c)
            i += 1
        if i == start:
            raise self.expected(f"a value for {field.name}")
        parts.append("".join(buf))
        self.pos = i
        return _Raw(tuple(parts), False, start)

    def quoted(self, start: int) -> _Raw:
        text = self.text
        buf: list[str] = []
        i = start + 1
        while i < len(text):
            c = text[i]
            if c == "\\" and i + 1 < len(text):
                buf.append(text[i + 1])
                i += 2
            elif c == '"':
                self.pos = i + 1
                return _Raw(("".join(buf),), True, start)
            else:
                buf.append(c)
                i += 1
        raise self.error("unterminated quoted value: a closing '\"' is missing", start)

    # -- typing the values ----------------------------------------------------------------------

    def leaf(self, field: QueryField, raw: _Raw) -> Node:
        if raw.wild:
            if not any(raw.parts):
                return Exists(field.name)
            if field.kind not in ("str", "ip", "list"):
                raise self.error(
                    f"wildcards apply to text and address fields; {field.name} is a "
                    + ("time" if field.kind == "time" else "number"),
                    raw.pos,
                )
            return Wildcard(field.name, raw.parts)
        if field.kind == "ip":
            return Cidr(field.name, self.network(field, raw))
        return Equals(field.name, self.convert(field, raw))

    def network(self, field: QueryField, raw: _Raw) -> Network:
        try:
            return ipaddress.ip_network(raw.text.strip(), strict=False)
        except ValueError:
            raise self.error(
                f"{field.name} takes an address or a CIDR block (10.0.0.0/8, 2600:1f18::/32), "
                f"got {raw.text!r}",
                raw.pos,
            ) from None

    def convert(self, field: QueryField, raw: _Raw, ranged: bool = False) -> Value:
        text = raw.text
        if raw.wild:
            raise self.error("wildcards cannot be used in a comparison", raw.pos)
        if field.kind == "ip":
            raise self.error(
                f"{field.name} is an address: compare it with a CIDR block, "
                f"e.g. {field.name}:10.0.0.0/8",
                raw.pos,
            )
        if field.kind == "list" and ranged:
            raise self.error(f"{field.name} is a list: it cannot be compared", raw.pos)
        if field.kind == "time":
            try:
                when = parse_time(text)
            except UsageError:
                when = None
            if when is None:
                raise self.error(f"{field.name} takes a time ({TIME_HELP}), got {text!r}", raw.pos)
            return when
        if field.numeric:
            return self.number(field, raw, ranged)
        if field.enum:
            for member in field.enum:
                if member.lower() == text.lower():
                    return member
            if not ranged:
                raise self.error(
                    f"{field.name} is one of {', '.join(field.enum)}; got {text!r}", raw.pos
                )
        if field.name == "protocol_name":
            return text.lower()
        return text

    def number(self, field: QueryField, raw: _Raw, ranged: bool) -> int:
        text = raw.text.strip()
        if field.name == "protocol" and not _INT.match(text):
            number = PROTOCOL_BY_NAME.get(text.lower())
            if number is None:
                raise self.error(
                    f"unknown protocol {text!r}: expected a number from 0 to 255 or a name "
                    "such as tcp, udp, icmp, ipv6-icmp",
                    raw.pos,
                )
            return number
        if not _INT.match(text):
            raise self.error(f"{field.name} is a number, got {text!r}", raw.pos)
        value = int(text)
        low, high = field.bounds
        if ranged:
            # a comparison may reach past the values a field holds, not past its storage type
            low, high = (-(2**31), 2**31 - 1) if field.kind == "int" else (-(2**63), 2**63 - 1)
        if not low <= value <= high:
            raise self.error(f"{field.name} is a number from {low} to {high}, got {value}", raw.pos)
        return value


def _op(text: str) -> Op:
    ops: dict[str, Op] = {"<": "<", "<=": "<=", ">": ">", ">=": ">="}
    return ops[text]


# -- printing a tree back as filter text (tests, reports, error messages) ----------------------


def quote_value(value: str) -> str:
    """``value`` as the filter language reads it literally: bare when safe, else quoted."""
    if _BARE.match(value) and value.lower() not in KEYWORDS:
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _literal(value: Value) -> str:
    if isinstance(value, datetime):
        return quote_value(value.isoformat())
    return quote_value(str(value))


def _escape_bare(part: str) -> str:
    return re.sub(r'([\s()"\[\]*\\])', r"\\\1", part)


def format_filter(node: Node) -> str:
    """Filter text that parses back to ``node``."""
    if isinstance(node, And):
        return " and ".join(
            f"({format_filter(i)})" if isinstance(i, Or) else format_filter(i) for i in node.items
        )
    if isinstance(node, Or):
        return " or ".join(format_filter(i) for i in node.items)
    if isinstance(node, Not):
        inner = format_filter(node.item)
        return f"not ({inner})" if isinstance(node.item, And | Or) else f"not {inner}"
    if isinstance(node, Exists):
        return f"{node.field}:*"
    if isinstance(node, Equals):
        return f"{node.field}:{_literal(node.value)}"
    if isinstance(node, Wildcard):
        return f"{node.field}:" + "*".join(_escape_bare(p) for p in node.parts)
    if isinstance(node, Cidr):
        net = node.network
        text = str(net.network_address) if net.prefixlen == net.max_prefixlen else str(net)
        return f"{node.field}:{quote_value(text)}"
    return f"{node.field} {node.op} {_literal(node.value)}"
