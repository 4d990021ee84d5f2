"""Read one input (a file, an object body, stdin) as flow logs: gzip or plain text, or Parquet.

The reader finds the layout (header line, else ``--format``, else the default), decompresses on
a background thread while the caller parses and stores (zlib releases the GIL, so the two cores
both work), cuts the text into blocks of whole lines and hands each to a
:class:`~flowscope.parse.text.BlockParser`. A truncated or corrupt gzip stream raises
:class:`~flowscope.errors.TruncatedInput` / :class:`~flowscope.errors.InputError` after the
blocks read so far, so the caller can roll the whole input back.
"""

from __future__ import annotations

import queue
import threading
import zlib
from collections.abc import Iterator
from typing import IO

import pyarrow as pa
import pyarrow.parquet as pq

from flowscope.errors import InputError, TruncatedInput
from flowscope.parse.layout import DEFAULT_LAYOUT, Layout, header_layout
from flowscope.parse.text import BlockParser, IpCheck, Parsed, typed_from_strings
from flowscope.schema import BY_COLUMN

GZIP_MAGIC = b"\x1f\x8b"
PARQUET_MAGIC = b"PAR1"
BLOCK_SIZE = 8 << 20
_READ_SIZE = 1 << 20


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

    def _blocks(self) -> Iterator[tuple[bytes, int]]:
        """(block of whole lines, number of its first line), decompressed on a thread."""
        q: queue.Queue[tuple[bytes, int] | BaseException | None] = queue.Queue(maxsize=3)
        stop = threading.Event()

        def produce() -> None:
            try:
                pending = b""
                line = 1
                for chunk in _decompressed_checked(self.raw, self.source, self.gzipped):
                    if stop.is_set():
                        return
                    pending += chunk
                    if len(pending) < self.block_size:
                        continue
                    cut = pending.rfind(b"\n")
                    if cut < 0:
                        continue
                    block, pending = pending[: cut + 1], pending[cut + 1 :]
                    q.put((block, line))
                    line += block.count(b"\n")
                if pending:
                    q.put((pending, line))
                q.put(None)
            except BaseException as e:  # handed to the consumer, which re-raises it
                q.put(e)

        thread = threading.Thread(target=produce, name=f"read {self.source}", daemon=True)
        thread.start()
        try:
            while True:
                item = q.get()
                if item is None:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            stop.set()
            while thread.is_alive():
                try:
                    q.get(timeout=0.05)
                except queue.Empty:
                    pass

    def __iter__(self) -> Iterator[Parsed]:
        parser: BlockParser | None = None
        for block, first_line in self._blocks():
            if parser is None:
                if b"\x00" in block[:8192]:
                    raise InputError(
                        self.source,
                        "binary data: not flow-log text, gzip or Parquet",
                        hint="nothing from this file was stored",
                    )
                block, first_line = self._take_header(block, first_line)
                parser = BlockParser(self.layout)
            yield parser.parse(block, first_line)
        if parser is None:
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


def _decompressed_checked(raw: IO[bytes], source: str, gzipped: bool) -> Iterator[bytes]:
    """The input's bytes, gunzipped when ``gzipped``; raises on corrupt or truncated gzip.

    A new decompressor per gzip member handles concatenated gzip files; a stream that ends
    while a member is open (zlib has not seen its end) is truncated.
    """
    if not gzipped:
        while chunk := raw.read(_READ_SIZE):
            yield chunk
        return
    d = zlib.decompressobj(31)
    in_member = False
    while True:
        chunk = raw.read(_READ_SIZE)
        if not chunk:
            break
        while chunk:
            in_member = True
            try:
                out = d.decompress(chunk)
            except zlib.error as e:
                raise InputError(
                    source, f"corrupt gzip data ({e})", hint="nothing from this file was stored"
                ) from e
            if out:
                yield out
            if d.eof:
                in_member = False
                chunk = d.unused_data
                d = zlib.decompressobj(31)
            else:
                chunk = b""
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
