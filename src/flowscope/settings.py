"""Settings declared once: name, environment variable, default, command-line flag and help.

The CLI builds its options from these (:func:`flowscope.commands.common.option`), the library
reads the same values, and the README's table of environment variables is :func:`table`
(a test holds the two together). This module imports nothing of flowscope's, so the build hook
(``setup.py``) can read it too.
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
    #: the command and flag that set it too, e.g. ``serve --timeout`` (None: environment only)
    flag: str | None = None

    def get(self) -> str:
        return os.environ.get(self.env, self.default)

    def number(self) -> float:
        """The default as a number (for an option's default value)."""
        return float(self.default)


STORE = Setting(
    "store",
    "FLOWSCOPE_STORE",
    "",
    "Where flows are stored: a DuckDB file path (default ~/.local/share/flowscope/flows.duckdb)"
    " or an opensearch:// / elasticsearch:// URL.",
    "--store",
)
STORE_PASSWORD = Setting(
    "store_password",
    "FLOWSCOPE_STORE_PASSWORD",
    "",
    "Password for an opensearch:// store URL that names a user but no password.",
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
SERVE_TIMEOUT = Setting(
    "serve_timeout",
    "FLOWSCOPE_SERVE_TIMEOUT",
    "10",
    "Seconds one API request's queries may run (waiting for a busy file included).",
    "serve --timeout",
)
SERVE_ROW_CAP = Setting(
    "serve_row_cap",
    "FLOWSCOPE_SERVE_ROW_CAP",
    "10000",
    "Most rows one API query may return.",
    "serve --row-cap",
)
SQL_TIMEOUT = Setting(
    "sql_timeout",
    "FLOWSCOPE_SQL_TIMEOUT",
    "60",
    "Seconds a flowscope sql query may run.",
    "sql --timeout",
)
SQL_ROW_CAP = Setting(
    "sql_row_cap",
    "FLOWSCOPE_SQL_ROW_CAP",
    "10000",
    "Most rows flowscope sql prints.",
    "sql --row-cap",
)
ALLOW_HOSTS = Setting(
    "allow_hosts",
    "FLOWSCOPE_ALLOW_HOSTS",
    "",
    "More Host names serve answers for, comma-separated (loopback names always).",
    "serve --allow-host",
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
    "serve --token-file",
)
TRUST_PROXY_HEADER = Setting(
    "trust_proxy_header",
    "FLOWSCOPE_TRUST_PROXY_HEADER",
    "",
    "A header an authenticating reverse proxy sets (X-Forwarded-User): serve lets its requests in.",
    "serve --trust-proxy-header",
)
GEO = Setting(
    "geo",
    "FLOWSCOPE_GEO",
    "",
    "Country and ASN data for naming addresses: empty for the embedded default (GeoLite2, June"
    " 2024), off, or MaxMind-format .mmdb paths joined by ':' (each field from the first that"
    " has it). Also --geo on follow, demo, serve, inventory, networks, ip-ranges and who.",
    "ingest --geo",
)
IP_RANGES_URL = Setting(
    "ip_ranges_url",
    "FLOWSCOPE_IP_RANGES_URL",
    "https://ip-ranges.amazonaws.com/ip-ranges.json",
    "Where ip-ranges --fetch downloads AWS's ip-ranges.json from.",
    "ip-ranges --url",
)
SKIP_WEB_BUILD = Setting(
    "skip_web_build",
    "FLOWSCOPE_SKIP_WEB_BUILD",
    "",
    "1: build a wheel without running scripts/web-build (it ships the page already built, if any).",
)

#: Bounds of the time limits and row caps (a day; ten million rows): past them a value is a typo,
#: and the time limit's watchdog could not even schedule it.
MAX_TIMEOUT = 86_400.0
MAX_ROW_CAP = 10_000_000

ALL = (
    STORE,
    STORE_PASSWORD,
    LOCK_TIMEOUT,
    MEMORY_LIMIT,
    SERVE_TIMEOUT,
    SERVE_ROW_CAP,
    SQL_TIMEOUT,
    SQL_ROW_CAP,
    ALLOW_HOSTS,
    TOKEN,
    TOKEN_FILE,
    TRUST_PROXY_HEADER,
    GEO,
    IP_RANGES_URL,
    SKIP_WEB_BUILD,
)


def table() -> str:
    """The README's table of environment variables, one row a setting."""
    rows = ["| variable | default | flag | meaning |", "|---|---|---|---|"]
    for s in ALL:
        default = f"`{s.default}`" if s.default else ""
        flag = f"`{s.flag}`" if s.flag else ""
        meaning = s.help.replace("|", "\\|")
        rows.append(f"| `{s.env}` | {default} | {flag} | {meaning} |")
    return "\n".join(rows) + "\n"
