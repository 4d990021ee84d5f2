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

ALLOW_HOSTS = Setting(
    "allow_hosts",
    "FLOWSCOPE_ALLOW_HOSTS",
    "",
    "More Host names serve answers for, comma-separated (loopback names always).",
)
TOKEN = Setting(
    "token",
    "FLOWSCOPE_TOKEN",
    "",
    "A token serve requires (Authorization: Bearer, or ?token= once in the browser).",
)
TOKEN_FILE = Setting(
    "token_file",
    "FLOWSCOPE_TOKEN_FILE",
    "",
    "A file holding the token serve requires.",
)
TRUST_PROXY_HEADER = Setting(
    "trust_proxy_header",
    "FLOWSCOPE_TRUST_PROXY_HEADER",
    "",
    "A header an authenticating reverse proxy sets (X-Forwarded-User): serve lets its requests in.",
)

ALL = (STORE, LOCK_TIMEOUT, MEMORY_LIMIT, ALLOW_HOSTS, TOKEN, TOKEN_FILE, TRUST_PROXY_HEADER)
