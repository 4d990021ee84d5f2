"""flowscope installed like any Python tool: a wheel built from a clean checkout carries the web
dashboard, and installed into a fresh virtualenv it ingests, serves the page and answers the API.

The package is built once per run, as a user would (``python -m build``: an sdist, then a wheel
built from that sdist, each in an isolated environment from PyPI), from a copy of the files git
tracks, so nothing already built in this checkout can help. setup.py is the hook under test.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import tarfile
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
STATIC = "flowscope/web/static"


def checkout_copy(dest: Path) -> Path:
    """The files git would give a fresh clone (plus new, not-ignored ones): no .venv, no
    node_modules, no built page."""
    if not (ROOT / ".git").exists():
        pytest.skip("needs a git checkout to copy from")
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():  # a file deleted but not yet committed is listed too
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    assert not (dest / "src" / STATIC).exists()
    return dest


def run(
    args: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    base.pop(SKIP, None)
    return subprocess.run(
        args,
        cwd=cwd,
        env={**base, "COLUMNS": "200", **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def build(source: Path, out: Path, *args: str, env: dict[str, str] | None = None) -> str:
    r = run([sys.executable, "-m", "build", *args, "--outdir", str(out), str(source)], out, env)
    return r.stdout + r.stderr + f"\n[exit {r.returncode}]"


SKIP = "FLOWSCOPE_SKIP_WEB_BUILD"


@dataclass
class Dist:
    sdist: Path
    wheel: Path
    seconds: float


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Dist:
    source = checkout_copy(tmp_path_factory.mktemp("checkout"))
    out = tmp_path_factory.mktemp("dist")
    started = time.monotonic()
    log = build(source, out)
    seconds = time.monotonic() - started
    assert log.endswith("[exit 0]"), log[-3000:]
    (sdist,) = out.glob("flowscope-*.tar.gz")
    (wheel,) = out.glob("flowscope-*.whl")
    print(f"python -m build (sdist, then the wheel from it): {seconds:.1f} s")
    return Dist(sdist, wheel, seconds)


def test_sdist_carries_the_web_sources_not_a_built_page(dist: Dist) -> None:
    with tarfile.open(dist.sdist) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    for needed in (
        "setup.py",
        "scripts/web-build",
        "web/package.json",
        "web/package-lock.json",
        "web/index.html",
        "web/vite.config.ts",
        "web/tsconfig.json",
        "web/src/main.ts",
    ):
        assert needed in names, needed
    assert not [n for n in names if "node_modules" in n or n.startswith(f"src/{STATIC}")]


def test_wheel_carries_the_page_and_every_asset_it_names(dist: Dist) -> None:
    with zipfile.ZipFile(dist.wheel) as whl:
        names = set(whl.namelist())
        page = whl.read(f"{STATIC}/index.html").decode()
    named = set(re.findall(r'(?:src|href)="/(assets/[^"]+)"', page))
    assert any(n.endswith(".js") for n in named) and any(n.endswith(".css") for n in named)
    shipped = {n.removeprefix(f"{STATIC}/") for n in names if n.startswith(f"{STATIC}/assets/")}
    # Every asset the page names is in the wheel; the rest are chunks the entry imports.
    assert named <= shipped, named - shipped
    assert any(n.startswith("assets/app-") for n in shipped)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def installed(dist: Dist, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv with the wheel installed; its dependencies come from PyPI."""
    venv = tmp_path_factory.mktemp("venv")
    home = tmp_path_factory.mktemp("home")
    started = time.monotonic()
    r = run([sys.executable, "-m", "venv", str(venv)], home)
    assert r.returncode == 0, r.stderr
    r = run(
        [str(venv / "bin/python"), "-m", "pip", "install", "-q", "--no-compile", str(dist.wheel)],
        home,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    print(f"fresh venv + pip install of the wheel: {time.monotonic() - started:.1f} s")
    return venv


@pytest.fixture
def server(installed: Path, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    flowscope = str(installed / "bin" / "flowscope")
    store = tmp_path / "demo.duckdb"
    r = run(
        [flowscope, "demo", "--hours", "0.2", "--no-serve", "--data", "d", "--store", str(store)],
        tmp_path,
    )
    assert r.returncode == 0, r.stderr
    port = free_port()
    proc = subprocess.Popen(
        [flowscope, "serve", "--port", str(port), "--store", str(store)],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.communicate()[1].decode()
            try:
                httpx.get(f"{url}/api/fields", timeout=5)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "serve did not answer within 60 s"
                time.sleep(0.2)
        yield url, store
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        assert proc.stderr is not None
        proc.stderr.close()


def test_installed_wheel_runs_from_its_own_venv(installed: Path, tmp_path: Path) -> None:
    r = run([str(installed / "bin" / "flowscope"), "--help"], tmp_path)
    assert r.returncode == 0, r.stderr
    assert "serve" in r.stdout and "demo" in r.stdout
    # The installed copy answers, not this checkout's src/.
    r = run(
        [str(installed / "bin" / "python"), "-c", "import flowscope; print(flowscope.__file__)"],
        tmp_path,
    )
    assert str(installed) in r.stdout and str(ROOT) not in r.stdout, r.stdout


def test_installed_wheel_serves_the_dashboard_and_the_api(server: tuple[str, Path]) -> None:
    url, _ = server
    page = httpx.get(f"{url}/", timeout=30)
    assert page.status_code == 200, page.text
    assert "not built" not in page.text
    script = re.search(r'<script type="module"[^>]* src="(/assets/[^"]+\.js)"', page.text)
    assert script, page.text
    asset = httpx.get(url + script.group(1), timeout=30)
    assert asset.status_code == 200 and "javascript" in asset.headers["content-type"]
    top = httpx.get(f"{url}/api/top", params={"field": "dstport", "from": "all"}, timeout=30)
    assert top.status_code == 200, top.text
    assert top.json()["ok"] and "443" in top.text, top.text  # the demo's busiest port


# --- the build hook without Node.js: fail clearly, or skip when told to ---


@pytest.fixture(scope="module")
def bare(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """A clean checkout copy and an environment whose PATH has no node and no npm."""
    source = checkout_copy(tmp_path_factory.mktemp("bare"))
    empty = tmp_path_factory.mktemp("no-node-bin")
    return source, {"PATH": str(empty)}


def wheel_names(out: Path) -> set[str]:
    (wheel,) = out.glob("flowscope-*.whl")
    with zipfile.ZipFile(wheel) as whl:
        return {n for n in whl.namelist() if n.startswith(STATIC)}


def test_wheel_without_npm_fails_with_one_clear_line(
    bare: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    source, env = bare
    log = build(source, tmp_path, "--wheel", env=env)
    assert not log.endswith("[exit 0]"), log[-3000:]
    assert "needs Node.js 20.19+ and npm (node and npm not found on PATH)" in log, log[-3000:]
    assert f"set {SKIP}=1" in log
    assert not list(tmp_path.glob("*.whl"))


def test_skip_ships_the_page_there_is_and_only_that(
    bare: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    source, env = bare
    env = {**env, SKIP: "1"}
    first, second, third = (tmp_path / n for n in ("1", "2", "3"))
    for out in (first, second, third):
        out.mkdir()
    log = build(source, first, "--wheel", env=env)
    assert log.endswith("[exit 0]"), log[-3000:]
    assert "the web dashboard is not built" in log
    assert wheel_names(first) == set()

    static = source / "src" / STATIC
    (static / "assets").mkdir(parents=True)
    (static / "index.html").write_text('<script src="/assets/app-old1.js"></script>')
    (static / "assets" / "app-old1.js").write_text("1")
    log = build(source, second, "--wheel", env=env)
    assert log.endswith("[exit 0]"), log[-3000:]
    assert wheel_names(second) == {f"{STATIC}/index.html", f"{STATIC}/assets/app-old1.js"}

    # A rebuilt page has new hashed names: the old ones left in build/lib must not ride along.
    (static / "assets" / "app-old1.js").unlink()
    (static / "index.html").write_text('<script src="/assets/app-new2.js"></script>')
    (static / "assets" / "app-new2.js").write_text("2")
    log = build(source, third, "--wheel", env=env)
    assert log.endswith("[exit 0]"), log[-3000:]
    assert wheel_names(third) == {f"{STATIC}/index.html", f"{STATIC}/assets/app-new2.js"}


def test_editable_install_builds_no_page_and_needs_no_node(tmp_path: Path) -> None:
    source = checkout_copy(tmp_path / "checkout")
    venv = tmp_path / "venv"
    r = run([sys.executable, "-m", "venv", str(venv)], tmp_path)
    assert r.returncode == 0, r.stderr
    empty = tmp_path / "no-node-bin"
    empty.mkdir()
    started = time.monotonic()
    r = run(
        [str(venv / "bin/python"), "-m", "pip", "install", "-q", "--no-deps", "-e", str(source)],
        tmp_path,
        env={"PATH": str(empty)},
    )
    assert r.returncode == 0, r.stderr[-3000:]
    print(f"editable install (no deps): {time.monotonic() - started:.1f} s")
    assert not (source / "src" / STATIC).exists()
    assert not (source / "web" / "node_modules").exists()
    r = run(
        [str(venv / "bin/python"), "-c", "import flowscope; print(flowscope.__file__)"], tmp_path
    )
    assert str(source / "src") in r.stdout, r.stdout + r.stderr
