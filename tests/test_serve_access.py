"""Who ``serve`` answers: the Host allow-list (DNS rebinding), tokens, a trusted proxy header.

Through FastAPI's TestClient with every kind of Host header, then one real ``flowscope serve``
(uvicorn on 127.0.0.1) end to end.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from subprocess import CompletedProcess
from typing import Any

import pytest

from flowscope.api import create_app
from flowscope.engines.duckdb.store import DuckStore
from flowscope.errors import UsageError
from flowscope.web import mount_static
from flowscope.web.access import COOKIE, Access, access_for
from tests.test_query_support import FLOWS, make_store

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx` with")
    from fastapi.testclient import TestClient

TOKEN = "0123456789abcdef-not-a-real-token"
Cli = Callable[..., CompletedProcess[str]]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_store(tmp_path_factory.mktemp("access"), FLOWS)


def client(store: Path, access: Access | None = None, host: str = "127.0.0.1") -> TestClient:
    app = create_app(DuckStore(store), access=access if access is not None else Access())
    mount_static(app)
    return TestClient(app, base_url=f"http://{host}", follow_redirects=False)


def refused(r: Any, status: int, kind: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["ok"] is False and body["error"]["type"] == kind, body
    assert "data" not in body
    return dict(body["error"])


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "127.0.0.1:8080",
        "localhost",
        "LOCALHOST:1",
        "[::1]",
        "[::1]:8080",
        "localhost.",
    ],
)
def test_loopback_names_are_answered(store: Path, host: str) -> None:
    with client(store) as c:
        r = c.get("/api/metrics", headers={"host": host})
    assert r.status_code == 200 and r.json()["data"]["count"] == 11


@pytest.mark.parametrize(
    "host",
    [
        "evil.example",
        "evil.example:8080",
        "127.0.0.1.evil.example",
        "localhost.evil.example",
        "127.0.0.2",  # loopback, but not a name a user types for this server
        "[::1",
        "::1",
        "127.0.0.1:80:80",
        "127.0.0.1:http",
        "",
        "user@127.0.0.1",
    ],
)
def test_other_hosts_get_a_421_and_no_data(store: Path, host: str) -> None:
    with client(store) as c:
        for path in ("/api/metrics", "/api/search", "/", "/docs", "/openapi.json"):
            e = refused(c.get(path, headers={"host": host}), 421, "HostNotAllowed")
            assert "--allow-host" in e["hint"]


def test_allow_host_adds_names(store: Path) -> None:
    access = access_for("127.0.0.1", allow_hosts=["flows.example", "a.example,b.example"])
    with client(store, access) as c:
        for host in ("flows.example", "flows.example:8080", "B.example", "localhost"):
            assert c.get("/api/fields", headers={"host": host}).status_code == 200
        refused(c.get("/api/fields", headers={"host": "c.example"}), 421, "HostNotAllowed")
    # the address serve listens on is a name it answers for
    assert "192.0.2.7" in access_for("192.0.2.7", token=TOKEN).hosts
    assert "0.0.0.0" not in access_for("0.0.0.0", token=TOKEN).hosts


def test_beyond_loopback_needs_authentication() -> None:
    for listen in ("0.0.0.0", "::", "192.0.2.7", "flows.example"):
        with pytest.raises(UsageError, match="needs authentication") as e:
            access_for(listen)
        assert e.value.hint is not None and "FLOWSCOPE_TOKEN" in e.value.hint
    with pytest.raises(UsageError, match="at least 16"):
        access_for("0.0.0.0", token="short")
    assert access_for("::1").hosts == ("localhost", "127.0.0.1", "::1")


def test_serve_refuses_to_start_beyond_loopback_without_auth(cli: Cli, tmp_path: Path) -> None:
    env = {"FLOWSCOPE_TOKEN": ""}
    r = cli("-s", str(tmp_path / "s.duckdb"), "serve", "--host", "0.0.0.0", env=env)
    assert r.returncode == 2, r.stderr
    assert r.stderr.startswith("error: serve --host 0.0.0.0 answers beyond this machine")
    assert "FLOWSCOPE_TOKEN" in r.stderr and "--token-file" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    missing = cli("serve", "--host", "0.0.0.0", "--token-file", str(tmp_path / "none"), env=env)
    assert missing.returncode == 2 and "--token-file" in missing.stderr


def test_token(store: Path) -> None:
    access = access_for("0.0.0.0", token=TOKEN, allow_hosts=["flows.example"])
    with client(store, access, "flows.example:8080") as c:
        e = refused(c.get("/api/metrics"), 401, "AuthenticationRequired")
        assert "Bearer" in e["hint"] and TOKEN not in json.dumps(e)
        assert c.get("/api/metrics").headers["www-authenticate"].startswith("Bearer")
        refused(c.get("/"), 401, "AuthenticationRequired")
        bad = {"authorization": "Bearer " + TOKEN[:-1] + "X"}
        refused(c.get("/api/metrics", headers=bad), 401, "AuthenticationRequired")
        refused(
            c.get("/api/metrics", headers={"authorization": TOKEN}), 401, "AuthenticationRequired"
        )
        good = {"authorization": "Bearer " + TOKEN}
        assert c.get("/api/metrics", headers=good).json()["data"]["count"] == 11
        # a token does not excuse a foreign Host
        evil = {**good, "host": "evil.example"}
        refused(c.get("/api/metrics", headers=evil), 421, "HostNotAllowed")


def test_browser_logs_in_once_with_a_cookie(store: Path) -> None:
    access = access_for("0.0.0.0", token=TOKEN, allow_hosts=["flows.example"])
    with client(store, access, "flows.example") as c:
        refused(c.get("/", params={"token": "wrong-token-0123456789"}), 401, "AuthenticationFailed")
        assert COOKIE not in c.cookies
        r = c.get("/", params={"token": TOKEN, "x": "1"})
        assert r.status_code == 303 and r.headers["location"] == "/?x=1"
        cookie = r.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
        assert TOKEN not in cookie
        assert c.cookies[COOKIE] == access.session
        assert c.get("/").status_code in (200, 503)  # the page, built or not
        assert c.get("/api/metrics").json()["data"]["count"] == 11
        c.cookies.set(COOKIE, "forged")
        refused(c.get("/api/metrics"), 401, "AuthenticationRequired")


def test_trusted_proxy_header(store: Path) -> None:
    access = access_for("0.0.0.0", proxy_header="X-Forwarded-User", allow_hosts=["flows.example"])
    with client(store, access, "flows.example") as c:
        e = refused(c.get("/api/metrics"), 401, "AuthenticationRequired")
        assert "X-Forwarded-User" in e["hint"]
        refused(
            c.get("/api/metrics", headers={"x-forwarded-user": " "}), 401, "AuthenticationRequired"
        )
        r = c.get("/api/metrics", headers={"x-forwarded-user": "alice"})
        assert r.json()["data"]["count"] == 11


# --- a real server ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(store: Path, tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """``flowscope --debug serve`` with a token, on 127.0.0.1; its stderr goes to a file."""
    port = free_port()
    log = tmp_path / "serve.log"
    env = {**os.environ, "FLOWSCOPE_TOKEN": TOKEN}
    with log.open("w") as errors:
        proc = subprocess.Popen(
            [sys.executable, "-m", "flowscope", "--debug", "-s", str(store), "serve"]
            + ["--port", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=errors,
            env=env,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert proc.poll() is None, log.read_text()
                assert time.monotonic() < deadline, "serve did not start"
                time.sleep(0.2)
        yield port, log
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_real_server_end_to_end(server: tuple[int, Path]) -> None:
    port, log = server
    con = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:

        def get(path: str, **headers: str) -> tuple[int, dict[str, Any]]:
            con.request("GET", path, headers=headers)
            r = con.getresponse()
            return r.status, json.loads(r.read())

        auth = f"Bearer {TOKEN}"
        status, body = get("/api/metrics", Host=f"evil.example:{port}", Authorization=auth)
        assert status == 421 and body["error"]["type"] == "HostNotAllowed"
        status, body = get("/api/metrics")
        assert status == 401 and body["error"]["type"] == "AuthenticationRequired"
        # one keep-alive connection: a bad request is a 400 and the next one still answers
        status, body = get("/api/metrics?from=now-99999999999d", Authorization=auth)
        assert status == 400 and "outside 1970-01-01 to 9999-12-31" in body["error"]["message"]
        status, body = get(
            "/api/search?where=" + "not%20" * 1000 + "dstport:22", Authorization=auth
        )
        assert status == 400 and "nested more than 64 deep" in body["error"]["message"]
        status, body = get("/api/metrics", Authorization=auth)
        assert status == 200 and body["data"]["count"] == 11
        # logging in redirects to this site whatever the path looks like
        con.request("GET", f"//evil.example/?token={TOKEN}")
        r = con.getresponse()
        r.read()
        assert r.status == 303 and r.headers["location"] == "/evil.example/"
    finally:
        con.close()
    assert TOKEN not in log.read_text()
