"""``flowscope sql`` keeps its read-only promise: the store's tables, nothing else.

Each attack from the report runs through the real CLI on a real store; afterwards the file it
aimed at must not exist (or be unchanged), and a local HTTP server must have seen no request.
"""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from subprocess import CompletedProcess

import pytest

from tests.test_query_support import FLOWS, make_store

Cli = Callable[..., CompletedProcess[str]]
REFUSED = "flowscope sql reads the store's tables only"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_store(tmp_path_factory.mktemp("sql"), FLOWS)


class _Recorder(http.server.BaseHTTPRequestHandler):
    seen: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 (the standard library's name)
        self.seen.append(self.path)
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"a,b\n1,2\n")

    do_HEAD = do_GET

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def web() -> Iterator[tuple[str, list[str]]]:
    """An HTTP server on 127.0.0.1 that records every request it gets."""
    seen: list[str] = []
    handler = type("Handler", (_Recorder,), {"seen": seen})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def sql(cli: Cli, store: Path, text: str, *extra: str) -> CompletedProcess[str]:
    return cli("-s", str(store), "sql", text, *extra, timeout=60)


def refused(r: CompletedProcess[str]) -> None:
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert REFUSED in r.stderr or "flowscope sql is read-only" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr


def test_no_file_is_written(cli: Cli, store: Path, tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    refused(sql(cli, store, f"COPY (SELECT 'x') TO '{victim}'"))
    assert victim.read_text() == "precious\n"
    parquet = tmp_path / "out.parquet"
    refused(sql(cli, store, f"COPY (SELECT * FROM flows) TO '{parquet}' (FORMAT parquet)"))
    assert not parquet.exists()
    export = tmp_path / "export"
    refused(sql(cli, store, f"EXPORT DATABASE '{export}'"))
    assert not export.exists()


def test_the_lock_markers_cannot_be_forged(cli: Cli, store: Path) -> None:
    for marker in (Path(f"{store}.readers"), Path(f"{store}.writer")):
        marker.unlink(missing_ok=True)
        refused(sql(cli, store, f"COPY (SELECT 1) TO '{marker}'"))
        assert not marker.exists()


def test_other_local_files_cannot_be_read(cli: Cli, store: Path, tmp_path: Path) -> None:
    secret = tmp_path / "secret.csv"
    secret.write_text("user,password\nroot,hunter2\n")
    for text in (
        "SELECT * FROM read_csv('/etc/passwd')",
        f"SELECT * FROM read_csv('{secret}')",
        f"SELECT * FROM '{secret}'",
        f"SELECT * FROM read_text('{secret}')",
        "SELECT * FROM glob('/etc/*')",
        f"ATTACH '{tmp_path / 'other.duckdb'}' AS other",
    ):
        r = sql(cli, store, text)
        refused(r)
        assert "hunter2" not in r.stdout and "root:" not in r.stdout
    assert not (tmp_path / "other.duckdb").exists()


def test_no_network_and_no_extensions(
    cli: Cli, store: Path, web: tuple[str, list[str]], tmp_path: Path
) -> None:
    url, seen = web
    home = tmp_path / "home"  # where DuckDB would keep extensions and secrets
    home.mkdir()
    env = {"HOME": str(home)}
    for text in (
        f"SELECT * FROM read_csv('{url}/data.csv')",
        f"SELECT * FROM '{url}/data.parquet'",
        "INSTALL httpfs",
        f"FORCE INSTALL httpfs FROM '{url}'",
        "LOAD httpfs",
        "CREATE SECRET s3secret (TYPE s3, KEY_ID 'AKIA', SECRET 'x')",
        "CREATE PERSISTENT SECRET p (TYPE s3, KEY_ID 'AKIA', SECRET 'x')",
    ):
        refused(cli("-s", str(store), "sql", text, env=env, timeout=60))
    assert seen == []
    assert list(home.rglob("*")) == []


def test_the_sandbox_cannot_be_undone(cli: Cli, store: Path) -> None:
    for text in (
        "SET enable_external_access = true",
        "SET lock_configuration = false",
        "RESET enable_external_access",
        "SET autoinstall_known_extensions = true",
        "SET memory_limit = '100GB'",
    ):
        refused(sql(cli, store, text))


def test_reading_the_store_still_works(cli: Cli, store: Path) -> None:
    r = sql(cli, store, "SELECT count(*) AS n FROM flows", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == [{"n": 11}]
    r = sql(cli, store, "SELECT count(*) AS n FROM loads JOIN rejects USING (load_id)", "--csv")
    assert r.returncode == 0 and r.stdout.splitlines() == ["n", "0"], r.stderr


def test_row_cap_and_time_limit(cli: Cli, store: Path) -> None:
    capped = sql(cli, store, "SELECT range AS i FROM range(25)", "--row-cap", "10", "--csv")
    assert capped.returncode == 0, capped.stderr
    assert capped.stdout.splitlines() == ["i", *map(str, range(10))]
    assert "only the first 10 rows are shown" in capped.stderr
    default = sql(cli, store, "SELECT range AS i FROM range(10001)", "--csv")
    assert len(default.stdout.splitlines()) == 1 + 10_000
    assert "only the first 10,000 rows are shown" in default.stderr
    lifted = sql(cli, store, "SELECT range AS i FROM range(10001)", "--csv", "--no-limits")
    assert len(lifted.stdout.splitlines()) == 1 + 10_001 and lifted.stderr == ""
    slow = "SELECT count(*) FROM range(1000000000) a, range(1000) b WHERE a.range * b.range < 0"
    stopped = sql(cli, store, slow, "--timeout", "0.5")
    assert stopped.returncode == 2, stopped.stderr
    assert "error: the query took longer than 0.5s and was stopped" in stopped.stderr
