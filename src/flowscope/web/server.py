"""Serve the built dashboard (``static/``, the output of ``scripts/web-build``) from the API app.

``mount_static(app)`` adds two routes and nothing else, so it never shadows ``/api/``:
``/`` (and ``/index.html``) answers the page with ``Cache-Control: no-cache`` so a new build is
seen at once, and ``/assets/{name}`` answers Vite's content-hashed files as ``immutable`` for a
year. The page keeps its whole state in the URL fragment, so no other path needs the page.
Its Content-Security-Policy allows requests to this origin only: the page works offline and
cannot reach off the machine. When the page was never built, ``/`` says how to build it.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, HTTPException
from fastapi.responses import FileResponse, HTMLResponse, Response

STATIC_DIR = Path(__file__).parent / "static"

# Vite writes every asset under a content hash, so a name never changes its bytes.
IMMUTABLE = "public, max-age=31536000, immutable"
# The page names the current hashes: always revalidate it (ETag/Last-Modified make that cheap).
REVALIDATE = "no-cache"
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; font-src 'self'; connect-src 'self'; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
PAGE_HEADERS = {
    "Cache-Control": REVALIDATE,
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
NOT_BUILT = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>flowscope</title></head><body style="font-family:system-ui,sans-serif;margin:3rem">
<h1>flowscope</h1><p>The web dashboard is not built. Build it with
<code>scripts/web-build</code> (needs Node.js 20+), then reload. The JSON API is at
<a href="/api/fields">/api/fields</a>.</p></body></html>"""


def mount_static(app: FastAPI, static_dir: Path = STATIC_DIR) -> None:
    """Serve ``static_dir/index.html`` at ``/`` and ``static_dir/assets/*`` at ``/assets/``."""
    assets = static_dir / "assets"

    def index() -> Response:
        page = static_dir / "index.html"
        if not page.is_file():
            return HTMLResponse(NOT_BUILT, status_code=503, headers={"Cache-Control": "no-store"})
        return FileResponse(page, media_type="text/html; charset=utf-8", headers=PAGE_HEADERS)

    def asset(name: str) -> Response:
        path = (assets / name).resolve()
        # Only plain files inside assets/: no '..', no symlink out, no directory listing.
        if not path.is_relative_to(assets.resolve()) or not path.is_file():
            raise HTTPException(status_code=404, detail=f"no asset {name!r}")
        return FileResponse(
            path,
            headers={"Cache-Control": IMMUTABLE, "X-Content-Type-Options": "nosniff"},
        )

    for route in ("/", "/index.html"):
        app.add_api_route(
            route, index, methods=["GET", "HEAD"], include_in_schema=False, response_model=None
        )
    app.add_api_route(
        "/assets/{name:path}",
        asset,
        methods=["GET", "HEAD"],
        include_in_schema=False,
        response_model=None,
    )
