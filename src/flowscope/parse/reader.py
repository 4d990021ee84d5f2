"""Read one input (a file, an object body, stdin) as flow logs: gzip or plain text, or Parquet.

The reader finds the layout (header line, else ``--format``, else the default), decompresses on
a background thread while the caller parses and stores (zlib releases the GIL, so the two cores
both work), cuts the text into blocks of whole lines and hands each to a
:class:`~flowscope.parse.text.BlockParser`. A truncated or corrupt gzip stream raises
:class:`~flowscope.errors.TruncatedInput` / :class:`~flowscope.errors.InputError` after the
blocks read so far, so the caller can roll the whole input back.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO

import pyarrow as pa
import pyarrow.parquet as pq

from flowscope.errors import InputError, TruncatedInput
from flowscope.parse.layout import DEFAULT_LAYOUT, Layout, header_layout
from flowscope.parse.text import BlockParser, IpCheck, Parsed, Reject, typed_from_strings
from flowscope.readahead import read_ahead
from flowscope.schema import BY_COLUMN

GZIP_MAGIC = b"\x1f\x8b"
PARQUET_MAGIC = b"PAR1"
BLOCK_SIZE = 8 << 20
#: A longer line is set aside unread (a flow record is a few hundred bytes at most).
MAX_LINE = 1 << 20
#: A block of more lines is parsed in pieces (see :func:`_pieces`).
MAX_BLOCK_LINES = 1 << 17
_READ_SIZE = MAX_LINE  # no chunk, read or decompressed, is longer than a line may be
_SNIFF = 8192
_REJECT_TEXT = 200
#: The raw text of a reject is cut to this many characters: the store holds up to 500,000
#: rejects before it writes them, so their size bounds memory too.
MAX_REJECT_TEXT = 512


def sniff(head: bytes) -> str:
    """'gzip', 'parquet' or 'text' from an input's first bytes."""
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    if head.startswith(PARQUET_MAGIC):
        return "parquet"
    return "text"


class TextReader:
    """Iterates the parsed blocks of one text input; ``layout`` is known after the first block."""

    def __init__(
        self,
        raw: IO[bytes],
        source: str,
        *,
        layout: Layout | None = None,
        gzipped: bool = False,
        block_size: int = BLOCK_SIZE,
    ) -> None:
        self.raw = raw
        self.source = source
        self.format_layout = layout
        self.layout: Layout = layout or DEFAULT_LAYOUT
        self.gzipped = gzipped
        self.block_size = block_size
        self.notes: list[str] = []

    def _blocks(self) -> Iterator[_Block]:
        """The input's blocks, decompressed and cut on a thread (see :func:`_cut`)."""
        chunks = _decompressed_checked(self.raw, self.source, self.gzipped)
        blocks = _cut(_not_binary(chunks, self.source), self.block_size)
        return read_ahead(blocks, 3, f"read {self.source}")

    def __iter__(self) -> Iterator[Parsed]:
        parser: BlockParser | None = None
        seen = False
        for item in self._blocks():
            seen = True
            block, first_line = item.data, item.line
            count: int | None = item.lines
            # Blank lines are skipped for free: a block of nothing else is never parsed.
            if block and not block.isspace():
                if parser is None:
                    if first_line == 1:
                        block, first_line = self._take_header(block, first_line)
                        count = None
                    parser = BlockParser(self.layout)
                for piece, line in _pieces(block, first_line, MAX_BLOCK_LINES, count):
                    parsed = parser.parse(piece, line)
                    if parsed.rejects:
                        parsed.rejects = _clipped(parsed.rejects)
                    if item.rejects:
                        parsed.rejects = sorted(item.rejects + parsed.rejects, key=_by_line)
                        item.rejects = []
                    yield parsed
            if item.rejects:
                yield Parsed(pa.table({}), item.rejects)
        if not seen:
            self.notes.append("empty input: no records")

    def _take_header(self, block: bytes, first_line: int) -> tuple[bytes, int]:
        end = block.find(b"\n")
        first = block if end < 0 else block[:end]
        try:
            text = first.decode("utf-8").strip()
        except UnicodeDecodeError:
            return block, first_line
        found = header_layout(text)
        if found is None:
            return block, first_line
        if self.format_layout is not None and self.format_layout.names != found.names:
            self.notes.append("the header line's layout was used, not --format")
        if found.unknown:
            self.notes.append(
                "header line names unknown field(s) "
                + ", ".join(found.unknown)
                + ": their values are not stored"
            )
        self.layout = found
        return (b"" if end < 0 else block[end + 1 :]), first_line + 1


@dataclass
class _Block:
    """Whole lines starting at line ``line`` (maybe none), and the over-long lines before them."""

    data: bytes
    line: int
    lines: int  # newlines in ``data``
    rejects: list[Reject] = field(default_factory=list)


def _clipped(rejects: list[Reject]) -> list[Reject]:
    """``rejects`` with their text cut to :data:`MAX_REJECT_TEXT` characters.

    A bad line may be up to 1 MiB long, and the store holds many rejects before writing them.
    """
    return [
        r if len(r.raw) <= MAX_REJECT_TEXT else Reject(r.line, r.reason, r.raw[:MAX_REJECT_TEXT])
        for r in rejects
    ]


def _by_line(r: Reject) -> int:
    return r.line


def _not_binary(chunks: Iterator[bytes], source: str) -> Iterator[bytes]:
    """``chunks``, refused as binary data when the first 8 kB hold a NUL byte."""
    head = b""
    for chunk in chunks:
        if len(head) < _SNIFF:
            head += chunk[: _SNIFF - len(head)]
            if b"\x00" in head:
                raise InputError(
                    source,
                    "binary data: not flow-log text, gzip or Parquet",
                    hint="nothing from this file was stored",
                )
        yield chunk


def _cut(chunks: Iterator[bytes], block_size: int, max_line: int = MAX_LINE) -> Iterator[_Block]:
    """Cut decompressed chunks (each at most ``max_line`` bytes) into blocks of whole lines.

    Memory stays bounded whatever the input: a block ends at the first newline after
    ``block_size`` bytes, and a line longer than ``max_line`` is not kept but set aside (its
    first bytes as the reject's text) and skipped up to its newline. Only the line open at the
    end of the previous chunk can grow past the limit, as no chunk is longer.
    """
    too_long = (
        f"line longer than {max_line >> 20} MiB"
        if max_line % (1 << 20) == 0
        else f"line longer than {max_line} bytes"
    )
    parts: list[bytes] = []  # the current block: whole lines, then an open line of ``tail`` bytes
    size = tail = 0
    line = 1  # the number of the block's first line
    skipping = False  # inside an over-long line, dropping bytes until its newline
    rejects: list[Reject] = []
    for chunk in chunks:
        nl = chunk.find(b"\n")
        if skipping:
            if nl < 0:
                continue
            skipping = False
            chunk = chunk[nl + 1 :]
            nl = chunk.find(b"\n")
        elif tail + (end := len(chunk) if nl < 0 else nl) > max_line:
            block = b"".join(parts)
            start = len(block) - tail
            head = (
                block[start : start + _REJECT_TEXT] + chunk[: max(0, min(end, _REJECT_TEXT - tail))]
            )
            if start:
                lines = block.count(b"\n", 0, start)
                yield _Block(block[:start], line, lines, rejects)
                line += lines
                rejects = []
            rejects.append(Reject(line, too_long, _shown(head)))
            line += 1
            parts, size, tail = [], 0, 0
            if nl < 0:
                skipping = True
                continue
            chunk = chunk[nl + 1 :]
            nl = chunk.find(b"\n")
        if not chunk:
            continue
        last = chunk.rfind(b"\n") if nl >= 0 else -1
        if last >= 0 and size + last + 1 >= block_size:
            # Cut after the chunk's last newline: one join, and the rest starts the next block.
            block = b"".join([*parts, chunk[: last + 1]])
            lines = block.count(b"\n")
            yield _Block(block, line, lines, rejects)
            line += lines
            rejects = []
            rest = chunk[last + 1 :]
            parts, size, tail = ([rest], len(rest), len(rest)) if rest else ([], 0, 0)
            continue
        parts.append(chunk)
        size += len(chunk)
        tail = tail + len(chunk) if last < 0 else len(chunk) - last - 1
    if parts or rejects:
        block = b"".join(parts)
        yield _Block(block, line, block.count(b"\n"), rejects)


def _shown(head: bytes) -> str:
    return head.decode("utf-8", "replace").replace("\x00", "\\0")


def _pieces(
    block: bytes, line: int, max_lines: int, count: int | None = None
) -> Iterator[tuple[bytes, int]]:
    """``block`` in pieces of at most ``max_lines`` lines (halving), with their first lines.

    Flow records are a hundred bytes or so, so a normal block is one piece; a block of tiny
    lines (blank, or a byte or two) is split so that the careful path, which costs a row per
    line, stays small.
    """
    if (block.count(b"\n") if count is None else count) <= max_lines:
        yield block, line
        return
    mid = block.find(b"\n", len(block) // 2)
    if mid < 0 or mid == len(block) - 1:
        mid = block.rfind(b"\n", 0, len(block) // 2)
    left, right = block[: mid + 1], block[mid + 1 :]
    yield from _pieces(left, line, max_lines)
    yield from _pieces(right, line + left.count(b"\n"), max_lines)


def _decompressed_checked(raw: IO[bytes], source: str, gzipped: bool) -> Iterator[bytes]:
    """The input's bytes in chunks of at most MAX_LINE bytes, gunzipped when ``gzipped``.

    Raises on corrupt or truncated gzip. A new decompressor per gzip member handles
    concatenated gzip files; a stream that ends while a member is open (zlib has not seen its
    end) is truncated. Each step's output is capped, so a bomb (2 GB of zeros in 2 MB) costs
    no more memory than normal data.
    """
    # read1: what is there, without waiting for a whole chunk (a pipe left open, as by
    # `tail -f | flowscope ingest -`, is parsed as it comes)
    read = getattr(raw, "read1", raw.read)
    if not gzipped:
        while chunk := read(_READ_SIZE):
            yield chunk
        return
    d = zlib.decompressobj(31)
    in_member = False
    while True:
        chunk = read(_READ_SIZE)
        if not chunk:
            break
        while chunk:
            in_member = True
            try:
                out = d.decompress(chunk, _READ_SIZE)
                # Output may be left in zlib with no input left: ask until it is drained.
                while out:
                    yield out
                    if d.eof or (not d.unconsumed_tail and len(out) < _READ_SIZE):
                        break
                    out = d.decompress(d.unconsumed_tail, _READ_SIZE)
            except zlib.error as e:
                raise InputError(
                    source, f"corrupt gzip data ({e})", hint="nothing from this file was stored"
                ) from e
            if d.eof:
                in_member = False
                chunk = d.unused_data
                d = zlib.decompressobj(31)
            else:
                chunk = d.unconsumed_tail
    if in_member:
        raise TruncatedInput(
            source,
            "truncated gzip: the file ends inside the compressed stream",
            hint="nothing from this file was stored",
        )


def read_parquet(path: str, source: str, batch_rows: int = 262_144) -> Iterator[Parsed]:
    """Parquet flow logs (AWS ``FileFormat=parquet``): columns named like the store's."""
    try:
        pf = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as e:
        raise InputError(source, f"unreadable Parquet file ({e})") from e
    names = [n.replace("-", "_") for n in pf.schema_arrow.names]
    known = [n for n in names if n in BY_COLUMN]
    if not known:
        raise InputError(
            source,
            "Parquet file has no flow-log columns",
            hint="expected columns such as srcaddr, dstaddr, log_status",
        )
    layout = Layout(tuple(BY_COLUMN[n].name for n in known), "Parquet schema")
    ipcheck = IpCheck()
    row = 0
    try:
        for batch in pf.iter_batches(batch_size=batch_rows):
            cols = []
            for n in known:
                idx = names.index(n)
                col = batch.column(idx)
                strings = col if pa.types.is_string(col.type) else col.cast(pa.string())
                cols.append(strings)
            lines = pa.array(range(row + 1, row + 1 + batch.num_rows), pa.int64())
            strs = cols

            def raw(i: int, strs: list[pa.Array] = strs) -> str:
                return " ".join("-" if c[i].as_py() is None else str(c[i].as_py()) for c in strs)

            yield typed_from_strings(layout, cols, lines, raw, ipcheck)
            row += batch.num_rows
    except (pa.ArrowInvalid, OSError) as e:
        raise TruncatedInput(
            source,
            f"Parquet data cut short or corrupt ({e})",
            hint="nothing from this file was stored",
        ) from e
