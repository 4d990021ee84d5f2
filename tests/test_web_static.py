"""The built page as the server hands it out: caching, security headers, a missing build."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from fastapi import FastAPI

from flowscope.web.server import CSP, IMMUTABLE, mount_static


class Client:
    """Requests straight into the ASGI app (no socket), each on its own event loop in a thread:
    the browser tests' Playwright keeps an event loop running in the main thread."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    def request(self, method: str, path: str) -> httpx.Response:
        async def go() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
                return await c.request(method, path)

        with ThreadPoolExecutor(1) as pool:
            return pool.submit(asyncio.run, go()).result()

    def get(self, path: str) -> httpx.Response:
        return self.request("GET", path)

    def head(self, path: str) -> httpx.Response:
        return self.request("HEAD", path)


def site(tmp_path: Path, built: bool = True) -> Client:
    static = tmp_path / "static"
    if built:
        (static / "assets").mkdir(parents=True)
        (static / "index.html").write_text('<!doctype html><script src="/assets/app-1a2b.js">')
        (static / "assets" / "app-1a2b.js").write_text("console.log(1)")
        (static / "assets" / "app-1a2b.css").write_text("body{}")
    (tmp_path / "secret.txt").write_text("not for the web")
    app = FastAPI()

    @app.get("/api/fields")
    def fields() -> dict[str, bool]:
        return {"ok": True}

    mount_static(app, static)
    return Client(app)


def test_index_is_revalidated_and_locked_to_this_origin(tmp_path: Path) -> None:
    client = site(tmp_path)
    for path in ("/", "/index.html"):
        r = client.get(path)
        assert r.status_code == 200
        assert r.text.startswith("<!doctype html>")
        assert r.headers["content-type"] == "text/html; charset=utf-8"
        assert r.headers["cache-control"] == "no-cache"
        assert r.headers["content-security-policy"] == CSP
        assert "connect-src 'self'" in CSP and "default-src 'self'" in CSP
    assert client.head("/").status_code == 200


def test_hashed_assets_are_immutable(tmp_path: Path) -> None:
    client = site(tmp_path)
    js = client.get("/assets/app-1a2b.js")
    assert js.status_code == 200
    assert js.text == "console.log(1)"
    assert js.headers["cache-control"] == IMMUTABLE == "public, max-age=31536000, immutable"
    assert "javascript" in js.headers["content-type"]
    css = client.get("/assets/app-1a2b.css")
    assert css.headers["content-type"].startswith("text/css")


def test_only_files_inside_assets_are_served(tmp_path: Path) -> None:
    client = site(tmp_path)
    assert client.get("/assets/nope.js").status_code == 404
    assert client.get("/assets/").status_code == 404
    assert client.get("/assets/%2e%2e/%2e%2e/secret.txt").status_code == 404
    assert client.get("/assets/..%2F..%2Fsecret.txt").status_code == 404
    assert client.get("/secret.txt").status_code == 404


def test_api_routes_are_untouched(tmp_path: Path) -> None:
    assert site(tmp_path).get("/api/fields").json() == {"ok": True}


def test_a_missing_build_says_how_to_build(tmp_path: Path) -> None:
    r = site(tmp_path, built=False).get("/")
    assert r.status_code == 503
    assert "scripts/web-build" in r.text
    assert r.headers["cache-control"] == "no-store"
