"""The web dashboard's Python side: serving the page that `web/` (Vite) builds into `static/`."""

from flowscope.web.server import STATIC_DIR, mount_static

__all__ = ["STATIC_DIR", "mount_static"]
