"""flowscope's errors: one small hierarchy, each error able to explain itself in one line.

::

    FlowscopeError                 (message, hint; .transient says whether a retry may help)
    ├── UsageError                 a bad option or argument (a format string, a store URL, a time)
    ├── InputError                 a source that cannot be read as flow logs (one file, one object)
    │   └── TruncatedInput         a gzip stream that ends early, a Parquet file cut short
    ├── SourceError                a remote source failed (AWS access, network), see sources/aws
    ├── StoreError                 the store cannot be opened or written
    │   ├── StoreBusy              another process holds the DuckDB file; transient
    │   └── StoreDamaged           the DuckDB file is corrupt (a block fails its checksum)
    └── QueryError                 a filter or query that cannot be compiled or run

The CLI prints ``str(error)`` (one line, plus the hint) and exits with the error's exit code;
the API turns the same error into a JSON error body.
"""

from __future__ import annotations


class FlowscopeError(Exception):
    """Base class. ``hint`` says what to do next; ``transient`` that a retry may succeed."""

    transient = False
    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message} ({self.hint})"


class UsageError(FlowscopeError):
    exit_code = 2


class InputError(FlowscopeError):
    """A whole input (file, object, payload) that could not be loaded; nothing of it was stored."""

    def __init__(self, source: str, message: str, *, hint: str | None = None) -> None:
        super().__init__(f"{source}: {message}", hint=hint)
        self.source = source


class TruncatedInput(InputError):
    pass


class SourceError(FlowscopeError):
    def __init__(self, message: str, *, hint: str | None = None, transient: bool = False) -> None:
        super().__init__(message, hint=hint)
        self.transient = transient


class StoreError(FlowscopeError):
    pass


class StoreBusy(StoreError):
    transient = True


class StoreDamaged(StoreError):
    pass


class QueryError(FlowscopeError):
    """A query that cannot be compiled or run; ``position`` points into the filter text."""

    exit_code = 2

    def __init__(
        self, message: str, *, position: int | None = None, hint: str | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        self.position = position
