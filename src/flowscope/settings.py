"""Settings declared once: name, environment variable, default and help.

The CLI builds its global options from these, the API reads the same values, and the README's
table of environment variables is this list.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Setting:
    name: str
    env: str
    default: str
    help: str

    def get(self) -> str:
        return os.environ.get(self.env, self.default)


STORE = Setting(
    "store",
    "FLOWSCOPE_STORE",
    "",
    "Where flows are stored: a DuckDB file path (default ~/.local/share/flowscope/flows.duckdb)"
    " or an opensearch:// URL.",
)
LOCK_TIMEOUT = Setting(
    "lock_timeout",
    "FLOWSCOPE_LOCK_TIMEOUT",
    "30",
    "Seconds to wait for a DuckDB file another process is writing.",
)
MEMORY_LIMIT = Setting(
    "memory_limit",
    "FLOWSCOPE_MEMORY_LIMIT",
    "1GB",
    "DuckDB memory limit for one flowscope process.",
)

ALL = (STORE, LOCK_TIMEOUT, MEMORY_LIMIT)
