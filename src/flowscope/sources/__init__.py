"""Sources: where flow logs come from. Each yields *units*, the pieces loaded all-or-nothing.

A unit is one file, one S3 object, one page set of a CloudWatch stream or one subscription
payload. It knows its name (for messages), its identity (for the loads ledger, so the same
input is never loaded twice), an optional cursor to commit with its rows, and how to read
itself as parsed batches.

A source that resumes (CloudWatch, S3) is read in two steps: :meth:`Source.plan` lists what
is there and asks the :class:`Checkpoints` the pipeline hands it (cursors, the ledger), then
the plan's units go through the pipeline, each committed with its cursor. Sources never open
the store themselves.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from flowscope.engines.base import LoadRecord
from flowscope.errors import SourceError
from flowscope.parse.layout import Layout
from flowscope.parse.text import Parsed


@dataclass
class Reading:
    """What a unit's read produced besides batches: the layout used and any notes."""

    layout: Layout | None = None
    notes: list[str] = field(default_factory=list)


class Unit(Protocol):
    name: str
    #: Ledger identity; may be filled in only after the read (stdin is hashed as it streams).
    identity: str | None
    #: (key, value) committed with the unit's rows, for sources that resume from a cursor.
    cursor: tuple[str, dict[str, Any]] | None

    def read(self, fmt: Layout | None, info: Reading) -> Iterator[Parsed]: ...


class Checkpoints(Protocol):
    """What a source may ask of the store while it plans: its cursors and the ledger."""

    def cursor(self, key: str) -> dict[str, Any] | None: ...
    def loaded(self, identity: str) -> LoadRecord | None: ...
    def release(self) -> None:
        """Let others at the store while the source does slow work (listing); asking again
        takes it back."""
        ...


@dataclass
class Progress:
    """Counters a reader updates from its threads and the CLI shows (streams or objects)."""

    what: str = "streams"
    total: int = 0
    done: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def finish_one(self) -> None:
        with self.lock:
            self.done += 1


@dataclass
class Plan:
    """What a run will read: its units (lazy), what to say first, progress counters."""

    units: Iterator[Unit]
    notes: list[str]
    progress: Progress
    layout: Layout | None = None
    #: names of units that only move a cursor, left out of what is reported
    markers: set[str] = field(default_factory=set)


class Source(Protocol):
    """A source read in runs that resume: CloudWatch Logs, S3."""

    url: str
    #: names the source in cursors and locks
    key: str

    def plan(self, checkpoints: Checkpoints, fmt: Layout | None) -> Plan: ...
    def describe(self, plan: Plan) -> str: ...


@contextmanager
def source_lock(store_url: str, source_key: str) -> Iterator[None]:
    """Refuse a second flowscope process reading the same source into the same store.

    Two readers would both start from the same checkpoint and load the same records twice.
    The lock is advisory (``flock``) on a file in the temp folder, released when the process
    ends, even by kill -9.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: no lock, as before
        yield
        return
    where = store_url if "://" in store_url else str(Path(store_url).expanduser().resolve())
    digest = hashlib.sha256(f"{where}\0{source_key}".encode()).hexdigest()[:16]
    lock_path = Path(tempfile.gettempdir()) / f"flowscope-{os.getuid()}-{digest}.lock"
    with lock_path.open("a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            f.seek(0)
            pid = f.read().strip() or "?"
            raise SourceError(
                f"{source_key}: another flowscope process (pid {pid}) is reading it into "
                f"{store_url}",
                hint="wait for it to finish or stop it; two readers would load records twice",
            ) from None
        f.seek(0)
        f.truncate()
        f.write(str(os.getpid()))
        f.flush()
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
