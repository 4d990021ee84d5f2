"""CloudWatch Logs subscription payloads: what a subscription filter sends to Kinesis or Lambda.

One input (a file, or ``-`` for stdin) may hold, in any mix (``shared/docs/vpc-flow-logs.md``
§5.5):

- lines of base64 of gzip of JSON (a Kinesis record's data, a Lambda event's ``awslogs.data``);
- raw gzip of JSON, as Firehose writes it (several gzip members, concatenated documents);
- plain JSON, one document per line or concatenated: a subscription message, a Lambda event
  ``{"awslogs": {"data": ...}}``, Kinesis records ``{"Records": [{"kinesis": {"data": ...}}]}``
  or ``aws kinesis get-records`` output ``{"Records": [{"Data": ...}]}``, or a Firehose
  transformation event ``{"records": [{"data": ...}]}``.

Each ``DATA_MESSAGE`` log event's message is one flow-log record, parsed with ``--format`` or the
default format; ``CONTROL_MESSAGE`` payloads (reachability checks) are skipped, and an event id
seen twice in one input is loaded once (Kinesis delivers at least once). An input is one load,
whose ledger identity is ``payload:sha256:<hash of its bytes>``.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import hashlib
import json
import sys
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from flowscope.errors import InputError
from flowscope.parse.layout import DEFAULT_LAYOUT, Layout
from flowscope.parse.text import BlockParser, Parsed
from flowscope.sources import Reading
from flowscope.sources.files import check_paths

GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1 << 20
#: Records per parsed batch.
BATCH = 100_000
#: A JSON document larger than this is refused (a Lambda payload is at most 6 MB).
MAX_DOCUMENT = 64 << 20
NOTHING_STORED = "nothing from this input was stored"


@dataclass
class Counts:
    messages: int = 0
    control: int = 0
    duplicates: int = 0
    ids: set[str] = field(default_factory=set)


def gunzip(data: bytes) -> bytes:
    """All gzip members of ``data``; raises ValueError if it is cut short, or if it inflates
    past :data:`MAX_DOCUMENT` (a bomb: a real payload is a few MB)."""
    out = []
    size = 0
    while data:
        d = zlib.decompressobj(31)
        out.append(d.decompress(data, MAX_DOCUMENT - size + 1))
        size += len(out[-1])
        if size > MAX_DOCUMENT:
            raise ValueError(f"gzip data that inflates past {MAX_DOCUMENT >> 20} MiB")
        if not d.eof:
            raise ValueError("truncated gzip data")
        data = d.unused_data.lstrip(b"\r\n\t ")
    return b"".join(out)


def _inflate(d: Any, data: bytes) -> Iterator[bytes]:
    """What ``data`` inflates to, a MiB at a time (a bomb costs no more than normal data)."""
    yield d.decompress(data, _CHUNK)
    while d.unconsumed_tail and not d.eof:
        yield d.decompress(d.unconsumed_tail, _CHUNK)


def documents(text: str) -> Iterator[Any]:
    """The JSON documents of ``text``, separated by whitespace or nothing."""
    decoder = json.JSONDecoder()
    pos = 0
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos >= len(text):
            return
        obj, pos = decoder.raw_decode(text, pos)
        yield obj


def events_of(obj: Any, counts: Counts) -> Iterator[tuple[Any, str]]:
    """(event id, message) of every log event in a decoded payload document."""
    if isinstance(obj, list):
        for item in obj:
            yield from events_of(item, counts)
    elif isinstance(obj, str):
        yield from events_of_blob(obj, counts)
    elif isinstance(obj, dict):
        if "logEvents" in obj or "messageType" in obj:
            if obj.get("messageType") == "CONTROL_MESSAGE":
                counts.control += 1
                return
            counts.messages += 1
            for ev in obj.get("logEvents") or []:
                yield ev.get("id"), str(ev["message"])
        elif "awslogs" in obj:
            yield from events_of_blob(obj["awslogs"]["data"], counts)
        elif "Records" in obj or "records" in obj:
            for r in obj.get("Records", obj.get("records")) or []:
                data = r["kinesis"]["data"] if "kinesis" in r else r.get("Data", r.get("data"))
                yield from events_of_blob(data, counts)
        else:
            raise ValueError(
                "a JSON object that is not a subscription payload "
                "(no logEvents, awslogs or Records)"
            )
    else:
        raise ValueError(f"unexpected JSON value {str(obj)[:40]!r}")


def events_of_blob(data: str | bytes, counts: Counts) -> Iterator[tuple[Any, str]]:
    """Events of base64 (of gzip) of JSON."""
    if not isinstance(data, str | bytes):
        raise ValueError("a record without data")
    raw = base64.b64decode(data, validate=True)
    yield from events_of_bytes(raw, counts)


def events_of_bytes(raw: bytes, counts: Counts) -> Iterator[tuple[Any, str]]:
    if raw.startswith(GZIP_MAGIC):
        raw = gunzip(raw)
    for doc in documents(raw.decode("utf-8")):
        yield from events_of(doc, counts)


def _chunks(raw: IO[bytes], sha: Any) -> Iterator[bytes]:
    """The input's bytes (hashed as read), gunzipped if it starts as gzip."""
    first = raw.read(_CHUNK)
    sha.update(first)
    if not first.startswith(GZIP_MAGIC):
        yield first
        while chunk := raw.read(_CHUNK):
            sha.update(chunk)
            yield chunk
        return
    d = zlib.decompressobj(31)
    in_member = False
    chunk = first
    while chunk:
        while chunk:
            in_member = True
            yield from _inflate(d, chunk)
            if d.eof:
                in_member = False
                chunk, d = d.unused_data, zlib.decompressobj(31)
            else:
                chunk = b""
        chunk = raw.read(_CHUNK)
        sha.update(chunk)
    if in_member:
        raise ValueError("truncated gzip data")


def items(chunks: Iterator[bytes]) -> Iterator[Any]:
    """Top-level items: JSON documents, or lines (base64 text), streamed."""
    text = codecs.getincrementaldecoder("utf-8")()
    decoder = json.JSONDecoder()
    buf = ""
    eof = False

    def more() -> bool:
        nonlocal buf, eof
        if eof:
            return False
        chunk = next(chunks, None)
        if chunk is None:
            eof = True
            buf += text.decode(b"", final=True)
            return True
        buf += text.decode(chunk)
        return True

    while True:
        buf = buf.lstrip()
        if not buf:
            if not more():
                return
            continue
        if buf[0] in "{[":
            while True:
                try:
                    obj, end = decoder.raw_decode(buf)
                    break
                except json.JSONDecodeError as e:
                    if eof:
                        raise ValueError(f"not JSON ({e.msg})") from e
                    if len(buf) > MAX_DOCUMENT:
                        raise ValueError(
                            f"a JSON document larger than {MAX_DOCUMENT >> 20} MiB"
                        ) from e
                    target = len(buf) * 2
                    while len(buf) < target and more():
                        pass
            yield obj
            buf = buf[end:]
        else:
            nl = buf.find("\n")
            while nl < 0 and more():
                nl = buf.find("\n")
                if nl < 0 and len(buf) > MAX_DOCUMENT:
                    raise ValueError(f"a line longer than {MAX_DOCUMENT >> 20} MiB")
            line, buf = (buf, "") if nl < 0 else (buf[:nl], buf[nl + 1 :])
            yield line.strip()


@dataclass
class PayloadUnit:
    """One input of subscription payloads: a file, or standard input (``path`` None)."""

    name: str
    path: Path | None = None
    identity: str | None = None
    cursor: tuple[str, dict[str, Any]] | None = None
    stream: IO[bytes] | None = None

    def read(self, fmt: Layout | None, info: Reading) -> Iterator[Parsed]:
        layout = fmt or DEFAULT_LAYOUT
        info.layout = layout
        parser = BlockParser(layout)
        counts = Counts()
        sha = hashlib.sha256()
        lines: list[bytes] = []
        first_line = 1
        try:
            raw = self.stream or (self.path.open("rb") if self.path else sys.stdin.buffer)
        except OSError as e:
            raise InputError(self.name, f"cannot open: {e.strerror}") from e
        end = object()
        try:
            stream = items(_chunks(raw, sha))
            n = 0
            try:
                while True:
                    n += 1
                    item = next(stream, end)
                    if item is end:
                        break
                    for event_id, message in events_of(item, counts):
                        if event_id is not None:
                            if event_id in counts.ids:
                                counts.duplicates += 1
                                continue
                            counts.ids.add(event_id)
                        lines.append(message.encode())
                    if len(lines) >= BATCH:
                        yield parser.parse(b"\n".join(lines) + b"\n", first_line)
                        first_line += len(lines)
                        lines = []
            except KeyError as e:
                raise InputError(
                    self.name,
                    f"payload {n}: no {e} field where one was expected",
                    hint=NOTHING_STORED,
                ) from e
            except (ValueError, binascii.Error, zlib.error, TypeError, AttributeError) as e:
                raise InputError(
                    self.name, f"payload {n}: not base64, gzip or JSON ({e})", hint=NOTHING_STORED
                ) from e
            if lines:
                yield parser.parse(b"\n".join(lines) + b"\n", first_line)
        finally:
            if self.path is not None and self.stream is None:
                raw.close()
        if counts.control:
            info.notes.append(f"skipped {counts.control} CONTROL_MESSAGE payload(s)")
        if counts.duplicates:
            info.notes.append(f"dropped {counts.duplicates} log event(s) repeated with the same id")
        if not counts.messages:
            info.notes.append("no log events in the payload(s)")
        self.identity = f"payload:sha256:{sha.hexdigest()}"


def payload_units(paths: list[str]) -> Iterator[PayloadUnit]:
    """A unit per payload file (folders expanded in name order) or ``-`` for stdin."""
    check_paths(paths)
    for p in paths:
        if p == "-":
            yield PayloadUnit("<stdin>")
            continue
        path = Path(p).expanduser()
        files = sorted(f for f in path.rglob("*") if f.is_file()) if path.is_dir() else [path]
        for f in files:
            yield PayloadUnit(str(f), f, _identity(f))


def _identity(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return f"payload:sha256:{h.hexdigest()}"
