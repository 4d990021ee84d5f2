"""Local inputs: files, folders (recursively), and standard input (``-``).

gzip and plain text are told apart by their first bytes, not their names, and so is Parquet.
A file's ledger identity is the SHA-256 of its bytes, so the same file loaded again from another
path is still recognised; standard input is hashed as it streams.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from flowscope.errors import InputError, UsageError
from flowscope.parse.layout import Layout
from flowscope.parse.reader import TextReader, read_parquet, sniff
from flowscope.parse.text import Parsed
from flowscope.sources import Reading


def file_identity(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return f"sha256:{h.hexdigest()}"


def read_stream(
    raw: IO[bytes], name: str, fmt: Layout | None, info: Reading, path: Path | None = None
) -> Iterator[Parsed]:
    """Parsed batches of any input stream (gzip, text, or, given a path, Parquet)."""
    head = raw.peek(4)[:4] if hasattr(raw, "peek") else b""
    kind = sniff(head)
    if kind == "parquet":
        if path is None:
            raise InputError(name, "Parquet data can only be read from a file or S3 object")
        info.layout = None
        yield from read_parquet(str(path), name)
        return
    reader = TextReader(raw, name, layout=fmt, gzipped=kind == "gzip")
    try:
        yield from reader
    finally:
        info.layout = reader.layout
        info.notes.extend(reader.notes)


@dataclass
class FileUnit:
    path: Path
    name: str
    identity: str | None = None
    cursor: tuple[str, dict[str, Any]] | None = None

    def read(self, fmt: Layout | None, info: Reading) -> Iterator[Parsed]:
        try:
            raw = self.path.open("rb")
        except OSError as e:
            raise InputError(self.name, f"cannot open: {e.strerror}") from e
        with raw:
            yield from read_stream(raw, self.name, fmt, info, self.path)


class _HashingReader:
    """A binary stream wrapper that hashes what passes through it."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw
        self.sha = hashlib.sha256()
        self._peeked = b""

    def peek(self, n: int) -> bytes:
        while len(self._peeked) < n:
            more = self.raw.read(n - len(self._peeked))
            if not more:
                break
            self._peeked += more
        return self._peeked

    def read(self, n: int = -1) -> bytes:
        if self._peeked:
            data, self._peeked = self._peeked, b""
            if n < 0 or len(data) < n:
                data += self.raw.read(-1 if n < 0 else n - len(data))
        else:
            data = self.raw.read(n)
        self.sha.update(data)
        return data

    def read1(self, n: int = -1) -> bytes:
        """What is there, up to ``n`` bytes, without waiting for more (a pipe still open)."""
        if self._peeked:
            if n < 0 or n >= len(self._peeked):
                data, self._peeked = self._peeked, b""
            else:
                data, self._peeked = self._peeked[:n], self._peeked[n:]
        else:
            data = getattr(self.raw, "read1", self.raw.read)(n)
        self.sha.update(data)
        return data


@dataclass
class StdinUnit:
    name: str = "<stdin>"
    identity: str | None = None
    cursor: tuple[str, dict[str, Any]] | None = None
    stream: IO[bytes] | None = None

    def read(self, fmt: Layout | None, info: Reading) -> Iterator[Parsed]:
        hashing = _HashingReader(self.stream or sys.stdin.buffer)
        yield from read_stream(hashing, self.name, fmt, info)  # type: ignore[arg-type]
        self.identity = f"sha256:{hashing.sha.hexdigest()}"


def check_paths(paths: list[str]) -> None:
    """Refuse missing paths before anything is loaded."""
    for p in paths:
        if p == "-":
            continue
        path = Path(p).expanduser()
        if not path.exists():
            raise UsageError(f"{p}: no such file or folder")
        if not (path.is_dir() or path.is_file()):
            raise UsageError(f"{p}: not a regular file or folder")


def local_units(paths: list[str]) -> Iterator[FileUnit | StdinUnit]:
    """Units for the paths given on the command line, folders expanded in name order."""
    check_paths(paths)
    for p in paths:
        if p == "-":
            yield StdinUnit()
            continue
        path = Path(p).expanduser()
        if path.is_dir():
            files = sorted(
                f
                for f in path.rglob("*")
                if f.is_file()
                and not any(part.startswith(".") for part in f.relative_to(path).parts)
            )
            for f in files:
                yield FileUnit(f, str(f), file_identity(f))
        else:
            yield FileUnit(path, str(path), file_identity(path))
