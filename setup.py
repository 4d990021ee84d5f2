"""Build hook: a wheel carries the web dashboard (the metadata lives in pyproject.toml).

Building a wheel (``pip install .``, ``pip wheel .``, ``python -m build``) runs
``scripts/web-build`` (npm ci + vite build into ``src/flowscope/web/static/``) unless the page
there is newer than every web source, then ships the page as package data. Without Node.js and
npm the build stops with one line saying so, rather than ship a wheel whose ``serve`` says "not
built"; ``FLOWSCOPE_SKIP_WEB_BUILD=1`` builds anyway, with whatever page is already there.
Editable installs (``pip install -e .``) never build the page: ``make`` does.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.errors import ExecError

ROOT = Path(__file__).resolve().parent
WEB = ROOT / "web"
STATIC = ROOT / "src" / "flowscope" / "web" / "static"
WEB_SOURCES = (
    "src",
    "index.html",
    "package.json",
    "package-lock.json",
    "vite.config.ts",
    "tsconfig.json",
)


def _settings() -> Any:
    """flowscope.settings, read from its file: the settings are declared once, there."""
    spec = importlib.util.spec_from_file_location("_flowscope_settings", ROOT_SETTINGS)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # (dataclasses look their module up)
    spec.loader.exec_module(module)
    return module


ROOT_SETTINGS = Path(__file__).parent / "src" / "flowscope" / "settings.py"
SKIP_ENV: str = _settings().SKIP_WEB_BUILD.env


def page_is_fresh() -> bool:
    """The built page is newer than every file it is built from (make's rule)."""
    page = STATIC / "index.html"
    if not page.is_file():
        return False
    built = page.stat().st_mtime
    for name in WEB_SOURCES:
        path = WEB / name
        files = path.rglob("*") if path.is_dir() else [path]
        if any(f.is_file() and f.stat().st_mtime > built for f in files):
            return False
    return True


def build_page() -> None:
    if os.environ.get(SKIP_ENV, "") not in ("", "0"):
        if not (STATIC / "index.html").is_file():
            print(f"warning: {SKIP_ENV} is set and the web dashboard is not built: this wheel's")
            print("         `flowscope serve` will answer 'The web dashboard is not built'")
        return
    if not (WEB / "package.json").is_file():
        raise ExecError(
            f"cannot build the web dashboard: {WEB} is missing (build from a checkout or the "
            f"sdist, or set {SKIP_ENV}=1 to build without it)"
        )
    if page_is_fresh():
        print(f"web dashboard: {STATIC} is up to date")
        return
    missing = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
    if missing:
        raise ExecError(
            f"building flowscope's wheel builds its web dashboard, which needs Node.js 20.19+ "
            f"and npm ({' and '.join(missing)} not found on PATH); install them, or set "
            f"{SKIP_ENV}=1 to build a wheel without the dashboard"
        )
    print("web dashboard: running scripts/web-build")
    result = subprocess.run(["bash", str(ROOT / "scripts" / "web-build")], check=False)
    if result.returncode != 0:
        raise ExecError(
            f"scripts/web-build failed (exit {result.returncode}); see its output above, or set "
            f"{SKIP_ENV}=1 to build a wheel without the dashboard"
        )
    if not (STATIC / "index.html").is_file():
        raise ExecError(f"scripts/web-build wrote no {STATIC / 'index.html'}")


class BuildPyWithPage(build_py):
    """build_py that builds the page first and ships exactly the page just built."""

    def run(self) -> None:
        if not self.editable_mode:
            build_page()
            # The list of package data was maybe computed before the page existed.
            self.__dict__.pop("data_files", None)
            # Vite names assets by content hash: files of an earlier build left in build/lib
            # would otherwise ride along into the wheel.
            shutil.rmtree(Path(self.build_lib, "flowscope", "web", "static"), ignore_errors=True)
        super().run()


setup(cmdclass={"build_py": BuildPyWithPage})
