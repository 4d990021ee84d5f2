"""Turn flow-log text into typed Arrow tables, a block of lines at a time.

Each block (a few MB of whole lines) first takes the fast path: PyArrow's multi-threaded CSV
reader with the layout's types, then vectorised checks (enumerations, ranges, IP addresses).
A block that fails any check is parsed again on the careful path, which tokenises line by line
so that every bad record is reported with its exact line number and reason, and the good
records of the block are kept. Clean data never pays for the careful path.
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from flowscope.parse.layout import Layout
from flowscope.schema import Field

if TYPE_CHECKING:
    from flowscope.estate.batch import BatchEndpoints

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
    #: Who each end is (set by the pipeline when an estate is known; see flowscope.estate).
    endpoints: BatchEndpoints | None = None


#: Addresses found valid, shared by every parser of the process: AWS writes a file per
#: interface every few minutes, and the same addresses come back file after file.
_GOOD: set[str] = set()
_GOOD_MAX = 1_000_000


class IpCheck:
    """Validates address columns through their distinct values, remembering good ones."""

    def __init__(self) -> None:
        if len(_GOOD) > _GOOD_MAX:
            _GOOD.clear()
        self._good = _GOOD

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


def _reasons(bad: pa.Array, name: str, values: pa.Array, what: str) -> pa.Array | None:
    """'<name> <value> <what>' where ``bad`` is true, null elsewhere; None if nothing is bad."""
    bad = pc.fill_null(bad, False)
    if not pc.any(bad).as_py():
        return None
    text = pc.binary_join_element_wise(
        f"{name} ", pc.utf8_slice_codeunits(values, 0, 60), f" {what}", ""
    )
    return pc.if_else(bad, text, pa.scalar(None, pa.string()))


def _problem(f: Field, values: pa.Array, ipcheck: IpCheck) -> pa.Array | None:
    """A string array with a reason per bad value (null where fine), or None if all are fine."""
    if f.kind in ("int", "long"):
        limit = (
            f.max_value
            if f.max_value is not None
            else (INT32_MAX if f.kind == "int" else 2**63 - 1)
        )
        try:
            numbers = pc.cast(values, pa.int64())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            numbers = None
        if numbers is not None:
            lo, hi = pc.min(numbers).as_py(), pc.max(numbers).as_py()
            if lo is None or (
                lo >= 0
                and hi <= limit
                and pc.all(pc.match_substring_regex(pc.fill_null(values, "0"), r"^[0-9]+$")).as_py()
            ):
                return None
        digits = pc.match_substring_regex(values, r"^[0-9]+$")
        not_number = _reasons(pc.invert(digits), f.name, values, "is not a whole number")
        # (a whole number of 20 digits or more is past every limit: only shorter ones are cast)
        short = pc.match_substring_regex(values, r"^[0-9]{1,19}$")
        as_dec = pc.cast(
            pc.if_else(short, values, pa.scalar(None, pa.string())), pa.decimal128(20, 0)
        )
        too_big = _reasons(
            pc.or_kleene(
                pc.and_(digits, pc.invert(short)),
                pc.greater(as_dec, pa.scalar(limit, pa.decimal128(20, 0))),
            ),
            f.name,
            values,
            f"is out of range (0 to {limit})",
        )
        if not_number is None or too_big is None:
            return not_number if too_big is None else too_big
        return pc.coalesce(not_number, too_big)
    if f.kind == "ip":
        bad_set = ipcheck.bad_values(values)
        if not bad_set:
            return None
        bad = pc.is_in(values, pa.array(sorted(bad_set), pa.string()))
        return _reasons(bad, f.name, values, "is not an IPv4 or IPv6 address")
    if f.enum is not None:
        allowed = pa.array(sorted(f.enum), pa.string())
        expected = " or ".join(sorted(f.enum))
        return _reasons(pc.invert(pc.is_in(values, allowed)), f.name, values, f"is not {expected}")
    return None


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
        if not _is_utf8(block):
            # Arrow's CSV reader decodes a row with the wrong field count before handing it to
            # ``invalid_row_handler``; bytes that are not UTF-8 make that decode fail inside the
            # reader, which prints the error and its traceback on stderr ("Exception ignored
            # in ... _handle_invalid_row") and gives up. Such text goes line by line instead.
            return self._line_by_line(block, first_line)
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
                bounds = pc.min_max(col)
                lo, hi = bounds["min"].as_py(), bounds["max"].as_py()
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
        """Strings first (one CSV pass, single-threaded so bad rows carry their numbers),
        then vectorised checks; only rows with the wrong field count are handled one by one.
        Text that is not UTF-8 falls through to :meth:`_line_by_line`."""
        width = self.layout.width
        odd: list[tuple[int, str]] = []

        def on_invalid(row: pcsv.InvalidRow) -> str:
            odd.append((row.number, row.text))
            return "skip"

        try:
            table = pcsv.read_csv(
                pa.py_buffer(block),
                read_options=pcsv.ReadOptions(
                    column_names=[f"c{i}" for i in range(width)], use_threads=False
                ),
                parse_options=pcsv.ParseOptions(
                    delimiter=" ",
                    quote_char=False,
                    invalid_row_handler=on_invalid,
                    ignore_empty_lines=False,
                ),
                convert_options=pcsv.ConvertOptions(
                    column_types={f"c{i}": pa.string() for i in range(width)},
                    null_values=["-"],
                    strings_can_be_null=True,
                ),
            )
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            return self._line_by_line(block, first_line)
        if any(n is None for n, _ in odd) or b"\x00" in block:
            return self._line_by_line(block, first_line)
        total = block.count(b"\n") + (0 if block.endswith(b"\n") else 1)
        if table.num_rows + len(odd) != total:
            return self._line_by_line(block, first_line)
        # Line numbers of the table's rows: every line but the odd ones, in order.
        odd_set = {n for n, _ in odd}
        lines = [first_line + i - 1 for i in range(1, total + 1) if i not in odd_set]
        columns = [table.column(i).combine_chunks() for i in range(width)]
        # Blank lines come through as rows of empty strings.
        blank = pc.equal(pc.fill_null(columns[0], "-"), "")
        for col in columns[1:]:
            blank = pc.and_(blank, pc.equal(pc.fill_null(col, "-"), ""))
        rejects: list[Reject] = []
        extra_rows: list[list[str]] = []
        extra_lines: list[int] = []
        for n, text in odd:
            line_no = first_line + n - 1
            tokens = text.rstrip("\r").split()  # AWS writes single spaces; hand-made samples not
            if not tokens:
                continue
            if len(tokens) != width:
                reason = f"{len(tokens)} fields, expected {width} ({self.layout.describe()})"
                rejects.append(Reject(line_no, reason, text))
                continue
            extra_rows.append(tokens)
            extra_lines.append(line_no)
        keep = pc.invert(blank)
        kept = [pc.filter(c, keep) for c in columns]
        line_arr = pc.filter(pa.array(lines, pa.int64()), keep)
        if extra_rows:
            more = _string_columns(extra_rows, width)
            kept = [pa.concat_arrays([a, b]) for a, b in zip(kept, more, strict=True)]
            line_arr = pa.concat_arrays([line_arr, pa.array(extra_lines, pa.int64())])
        line_list = line_arr

        def raw(i: int) -> str:
            return " ".join("-" if c[i].as_py() is None else str(c[i].as_py()) for c in kept)

        parsed = typed_from_strings(self.layout, kept, line_list, raw, self.ipcheck)
        parsed.rejects = sorted(rejects + parsed.rejects, key=lambda r: r.line)
        return parsed

    def _line_by_line(self, block: bytes, first_line: int) -> Parsed:
        """The slowest, most forgiving path: for text that is not clean UTF-8."""
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


def _is_utf8(block: bytes) -> bool:
    """Whether ``block`` is valid UTF-8 (Arrow's validation, without copying the bytes)."""
    offsets = pa.py_buffer(struct.pack("<2q", 0, len(block)))
    text = pa.Array.from_buffers(pa.large_utf8(), 1, [None, offsets, pa.py_buffer(block)])
    try:
        text.validate(full=True)
    except pa.ArrowInvalid:
        return False
    return True


def _string_columns(rows: Iterable[list[str]], width: int) -> list[pa.Array]:
    cols: list[list[str | None]] = [[] for _ in range(width)]
    for tokens in rows:
        for i, tok in enumerate(tokens):
            cols[i].append(None if tok == "-" else tok)
    return [pa.array(c, pa.string()) for c in cols]
