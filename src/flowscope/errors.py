"""flowscope's errors: one small hierarchy, each error able to explain itself in one line.

::

    error                      exit  HTTP
    FlowscopeError                1   500  (message, hint; .transient: a retry may help)
    ├── UsageError                2   400  a bad option or argument (a format, a store URL, a time)
    ├── InputError                4   422  a source that cannot be read as flow logs (one file)
    │   └── TruncatedInput        4   422  a gzip stream that ends early, a Parquet file cut short
    ├── SourceError               1   502  a remote source failed (AWS access, network)
    ├── StoreError                1   503  the store cannot be opened, read or written
    │   ├── StoreBusy             1   503  another process holds the DuckDB file; transient
    │   ├── StoreDamaged          1   500  the DuckDB file is corrupt (a block fails its checksum)
    │   └── ClusterUnreachable    1   503  the cluster did not answer; transient
    └── QueryError                2   400  a filter or query that cannot be compiled or run
        ├── UnknownReport         2   404  a report name that is not one of the reports
        └── QueryTimeout          2   504  a query ran past the time limit; transient

Each class carries its exit code and HTTP status: the CLI prints ``str(error)`` (one line, plus
the hint) and exits with ``exit_code``; the API answers ``http_status`` with a JSON error body.
"""

from __future__ import annotations


class FlowscopeError(Exception):
    """Base class. ``hint`` says what to do next; ``transient`` that a retry may succeed."""

    transient = False
    exit_code = 1
    http_status = 500

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message} ({self.hint})"


class UsageError(FlowscopeError):
    exit_code = 2
    http_status = 400


class InputError(FlowscopeError):
    """A whole input (file, object, payload) that could not be loaded; nothing of it was stored."""

    exit_code = 4
    http_status = 422

    def __init__(self, source: str, message: str, *, hint: str | None = None) -> None:
        super().__init__(f"{source}: {message}", hint=hint)
        self.source = source


class TruncatedInput(InputError):
    pass


class SourceError(FlowscopeError):
    http_status = 502

    def __init__(self, message: str, *, hint: str | None = None, transient: bool = False) -> None:
        super().__init__(message, hint=hint)
        self.transient = transient


class StoreError(FlowscopeError):
    http_status = 503


class StoreBusy(StoreError):
    transient = True


class ClusterUnreachable(StoreError):
    """The cluster did not answer (refused, timed out, name not found, TLS failed)."""

    transient = True


class StoreDamaged(StoreError):
    """The DuckDB file is corrupt: retrying will not help, so no 503 and no Retry-After."""

    http_status = 500


class QueryError(FlowscopeError):
    """A query that cannot be compiled or run; ``position`` points into the filter text."""

    exit_code = 2
    http_status = 400

    def __init__(
        self, message: str, *, position: int | None = None, hint: str | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        self.position = position


class UnknownReport(QueryError):
    """A report name that is not one of the reports."""

    http_status = 404


class QueryTimeout(QueryError):
    """A query ran past the time limit and was stopped; a narrower question may pass."""

    transient = True
    http_status = 504
