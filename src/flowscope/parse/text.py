"""Turn flow-log text into typed Arrow tables, a block of lines at a time.

Each block (a few MB of whole lines) first takes the fast path: PyArrow's multi-threaded CSV
reader with the layout's types, then vectorised checks (enumerations, ranges, IP addresses).
A block that fails any check is parsed again on the careful path, which tokenises line by line
so that every bad record is reported with its exact line number and reason, and the good
records of the block are kept. Clean data never pays for the careful path.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from flowscope.parse.layout import Layout
from flowscope.schema import Field

INT32_MAX = 2**31 - 1
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_IPV4 = rf"^{_OCTET}\.{_OCTET}\.{_OCTET}\.{_OCTET}$"


@dataclass(frozen=True)
class Reject:
    """A record set aside: where it was, why, and its text as read."""

    line: int
    reason: str
    raw: str


@dataclass
class Parsed:
    """The typed records of one block (columns named as in the store) and its rejects."""

    table: pa.Table
    rejects: list[Reject] = field(default_factory=list)


class IpCheck:
    """Validates address columns through their distinct values, remembering good ones."""

    def __init__(self) -> None:
        self._good: set[str] = set()

    def bad_values(self, column: pa.Array | pa.ChunkedArray) -> set[str]:
        # Distinct values first (flow logs repeat addresses a lot), then one vectorised regex
        # for well-formed IPv4; only the rest (IPv6, mistakes) goes through ipaddress.
        uniques = pc.unique(column)
        rest = pc.filter(
            uniques, pc.invert(pc.fill_null(pc.match_substring_regex(uniques, _IPV4), True))
        )
        bad: set[str] = set()
        for value in rest.to_pylist():
            if value is None or value in self._good:
                continue
            try:
                ipaddress.ip_address(value)
            except ValueError:
                bad.add(value)
            else:
                self._good.add(value)
        return bad


def _problem(f: Field, values: pa.Array, ipcheck: IpCheck) -> pa.Array | None:
    """A string array with a reason per bad value (null where fine), or None if all are fine."""
    if f.kind in ("int", "long"):
        digits = pc.match_substring_regex(values, r"^[0-9]{1,19}$")
        bad = pc.and_(pc.is_valid(values), pc.invert(digits))
        reasons = pc.if_else(
            bad,
            pc.binary_join_element_wise(
                f"{f.name} ", pc.utf8_slice_codeunits(values, 0, 40), " is not a whole number", ""
            ),
            pa.scalar(None, pa.string()),
        )
        limit = (
            f.max_value
            if f.max_value is not None
            else (INT32_MAX if f.kind == "int" else 2**63 - 1)
        )
        numbers = pc.cast(
            pc.if_else(digits, values, pa.scalar(None, pa.string())), pa.decimal128(20, 0)
        )
        too_big = pc.fill_null(pc.greater(numbers, pa.scalar(limit, pa.decimal128(20, 0))), False)
        reasons = pc.if_else(
            too_big,
            pc.binary_join_element_wise(
                f"{f.name} ", values, f" is out of range (0 to {limit})", ""
            ),
            reasons,
        )
    elif f.kind == "ip":
        bad_set = ipcheck.bad_values(values)
        if not bad_set:
            return None
        bad = pc.fill_null(pc.is_in(values, pa.array(sorted(bad_set), pa.string())), False)
        reasons = pc.if_else(
            bad,
            pc.binary_join_element_wise(
                f"{f.name} ",
                pc.utf8_slice_codeunits(values, 0, 60),
                " is not an IPv4 or IPv6 address",
                "",
            ),
            pa.scalar(None, pa.string()),
        )
    elif f.enum is not None:
        allowed = pa.array(sorted(f.enum), pa.string())
        bad = pc.and_(pc.is_valid(values), pc.invert(pc.is_in(values, allowed)))
        expected = " or ".join(sorted(f.enum))
        reasons = pc.if_else(
            bad,
            pc.binary_join_element_wise(
                f"{f.name} ", pc.utf8_slice_codeunits(values, 0, 40), f" is not {expected}", ""
            ),
            pa.scalar(None, pa.string()),
        )
    else:
        return None
    if pc.all(pc.is_null(reasons)).as_py():
        return None
    return reasons


def typed_from_strings(
    layout: Layout,
    columns: list[pa.Array],
    lines: pa.Array,
    raw: Callable[[int], str],
    ipcheck: IpCheck,
) -> Parsed:
    """Check and convert string columns (``-`` already null) to the store's types.

    ``columns`` follow ``layout.names``; ``lines`` holds each row's line number and ``raw(i)``
    gives the text of row ``i`` for the rejects table.
    """
    first_reason: pa.Array | None = None
    for f, values in zip(layout.fields, columns, strict=True):
        if f is None:
            continue
        reasons = _problem(f, values, ipcheck)
        if reasons is not None:
            first_reason = reasons if first_reason is None else pc.coalesce(first_reason, reasons)
    rejects: list[Reject] = []
    keep: pa.Array | None = None
    if first_reason is not None:
        bad_idx = pc.indices_nonzero(pc.is_valid(first_reason)).to_pylist()
        reason_list = first_reason.take(pa.array(bad_idx, pa.int64())).to_pylist()
        line_list = lines.take(pa.array(bad_idx, pa.int64())).to_pylist()
        rejects = [
            Reject(ln, r, raw(i)) for i, ln, r in zip(bad_idx, line_list, reason_list, strict=True)
        ]
        keep = pc.is_null(first_reason)
    out_names: list[str] = []
    out_cols: list[pa.Array] = []
    for f, values in zip(layout.fields, columns, strict=True):
        if f is None:
            continue
        col = values if keep is None else pc.filter(values, keep)
        out_names.append(f.column)
        out_cols.append(pc.cast(col, f.arrow_type))
    return Parsed(pa.Table.from_arrays(out_cols, names=out_names), rejects)


class BlockParser:
    """Parses blocks of whole lines for one layout; keeps IP checks cached across blocks."""

    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self.ipcheck = IpCheck()
        self._names = [f.column if f else f"__unknown_{i}" for i, f in enumerate(layout.fields)]
        self._known = [(f, n) for f, n in zip(layout.fields, self._names, strict=True) if f]
        self._read = pcsv.ReadOptions(
            column_names=self._names, use_threads=True, block_size=4 << 20
        )
        self._convert = pcsv.ConvertOptions(
            column_types={n: f.arrow_type for f, n in self._known},
            include_columns=[n for _, n in self._known],
            null_values=["-"],
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
        )

    def parse(self, block: bytes, first_line: int) -> Parsed:
        """Parse ``block`` (whole lines, the first being line ``first_line`` of its source)."""
        fast = self._fast(block)
        if fast is not None:
            return Parsed(fast)
        return self._careful(block, first_line)

    # The fast path: None means "something is off, take the careful path".
    def _fast(self, block: bytes) -> pa.Table | None:
        invalid = False

        def on_invalid(_row: object) -> str:
            nonlocal invalid
            invalid = True
            return "skip"

        try:
            table = pcsv.read_csv(
                pa.py_buffer(block),
                read_options=self._read,
                parse_options=pcsv.ParseOptions(
                    delimiter=" ", quote_char=False, invalid_row_handler=on_invalid
                ),
                convert_options=self._convert,
            )
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            return None
        if invalid:
            return None
        for f, name in self._known:
            col = table.column(name)
            if f.kind in ("int", "long"):
                lo = pc.min(col).as_py()
                hi = pc.max(col).as_py()
                if lo is not None and (lo < 0 or (f.max_value is not None and hi > f.max_value)):
                    return None
            elif f.kind == "ip":
                if self.ipcheck.bad_values(col):
                    return None
            elif f.enum is not None:
                allowed = pa.array(sorted(f.enum), pa.string())
                if not pc.all(pc.or_kleene(pc.is_null(col), pc.is_in(col, allowed))).as_py():
                    return None
        return table.combine_chunks()

    def _careful(self, block: bytes, first_line: int) -> Parsed:
        width = self.layout.width
        rows: list[list[str]] = []
        texts: list[str] = []
        line_numbers: list[int] = []
        rejects: list[Reject] = []
        for offset, raw_line in enumerate(block.split(b"\n")):
            line_no = first_line + offset
            data = raw_line.rstrip(b"\r")
            if not data.strip():
                continue
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                rejects.append(
                    Reject(line_no, "not UTF-8 text", data[:200].decode("utf-8", "replace"))
                )
                continue
            if "\x00" in text:
                rejects.append(
                    Reject(
                        line_no,
                        "contains NUL bytes (binary data)",
                        text[:200].replace("\x00", "\\0"),
                    )
                )
                continue
            tokens = text.split(" ")
            if len(tokens) != width:
                # AWS writes single spaces; hand-made samples sometimes do not.
                tokens = text.split()
                if len(tokens) != width:
                    rejects.append(
                        Reject(
                            line_no,
                            f"{len(tokens)} fields, expected {width} ({self.layout.describe()})",
                            text,
                        )
                    )
                    continue
            rows.append(tokens)
            texts.append(text)
            line_numbers.append(line_no)
        columns = _string_columns(rows, width)
        parsed = typed_from_strings(
            self.layout,
            columns,
            pa.array(line_numbers, pa.int64()),
            texts.__getitem__,
            self.ipcheck,
        )
        parsed.rejects = sorted(rejects + parsed.rejects, key=lambda r: r.line)
        return parsed


def _string_columns(rows: Iterable[list[str]], width: int) -> list[pa.Array]:
    cols: list[list[str | None]] = [[] for _ in range(width)]
    for tokens in rows:
        for i, tok in enumerate(tokens):
            cols[i].append(None if tok == "-" else tok)
    return [pa.array(c, pa.string()) for c in cols]
