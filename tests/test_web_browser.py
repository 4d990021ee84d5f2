"""The web dashboard in a real browser: headless Chromium (Debian's) driven by Playwright, against
a real ``flowscope serve`` over demo flow logs ingested into a DuckDB file by the real CLI.

Every test also checks, through the ``page`` fixture, that the page logged no error and sent no
request anywhere but the server on 127.0.0.1. Screenshots go to ``artifacts/web/``.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.conftest import run_flowscope

pytestmark = pytest.mark.browser

sync_api = pytest.importorskip("playwright.sync_api")

ROOT = Path(__file__).resolve().parents[1]
STATIC = ROOT / "src" / "flowscope" / "web" / "static"
ARTIFACTS = ROOT / "artifacts" / "web"
CHROMIUM = os.environ.get("FLOWSCOPE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PANELS = ("traffic", "protocols", "inout", "ports", "talkers", "rejected", "interfaces")


# -- fixtures: the page built, a store of demo data, the server, the browser ---------------------


@pytest.fixture(scope="session")
def built_page() -> Path:
    """The built dashboard; built now (scripts/web-build) when it is missing."""
    if not (STATIC / "index.html").is_file():
        if shutil.which("npm") is None:
            pytest.fail("the dashboard is not built and npm is missing: run scripts/web-build")
        subprocess.run([str(ROOT / "scripts" / "web-build")], check=True, timeout=600)
    return STATIC


@pytest.fixture(scope="session")
def web_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Six hours of demo flow logs up to this hour, loaded by the real ``flowscope ingest``."""
    from flowscope.demo.generate import DemoSpec, write_demo

    base = tmp_path_factory.mktemp("web")
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    spec = DemoSpec(start=hour - timedelta(hours=6), hours=6, records=30_000, seed=11)
    write_demo(base / "logs", spec)
    store = base / "store.duckdb"
    done = run_flowscope("-s", str(store), "ingest", str(base / "logs"), "-q")
    assert done.returncode == 0, done.stderr
    return store


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def server(
    built_page: Path, web_store: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """``flowscope serve`` in a subprocess; yields its base URL."""
    yield from _serve(web_store, tmp_path_factory)


#: The networks file of the named store: the demo VPC, one subnet of it named apart.
NETWORKS = b"10.0.0.0/16: demo-vpc\n10.0.0.0/24:\n  name: web-tier\n  role: web\n"


@pytest.fixture(scope="session")
def named_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three hours of demo flow logs loaded by the real ``flowscope ingest``, then named by a
    networks file kept in the store and applied to the flows already stored (what ``flowscope
    networks FILE`` does); public addresses get countries and AS organisations from the
    embedded geo data."""
    from flowscope.demo.generate import DemoSpec, write_demo
    from flowscope.engines import open_store
    from flowscope.estate.store import NETWORKS_ITEM, EstateItem, load_estate

    base = tmp_path_factory.mktemp("named")
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    write_demo(base / "logs", DemoSpec(start=hour - timedelta(hours=3), hours=3, records=8_000))
    store = base / "store.duckdb"
    done = run_flowscope("-s", str(store), "ingest", str(base / "logs"), "-q")
    assert done.returncode == 0, done.stderr
    duck = open_store(str(store))
    item = EstateItem(NETWORKS, "networks.yaml", datetime.now(UTC))
    with duck.write() as w:
        w.save_estate({NETWORKS_ITEM: item})
    estate = load_estate(duck)
    with duck.write() as w:
        w.apply_estate(estate)
    return store


@pytest.fixture(scope="session")
def named_server(
    built_page: Path, named_store: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    yield from _serve(named_store, tmp_path_factory)


def _serve(store: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = _free_port()
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "flowscope", "-s", str(store), "serve"]
            + ["--host", "127.0.0.1", "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    if httpx.get(f"{base}/api/fields", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"flowscope serve did not start:\n{log.read_text()}")
                time.sleep(0.2)
            yield base
        finally:
            proc.terminate()
            proc.wait(timeout=10)


@pytest.fixture(scope="session")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"no Chromium at {CHROMIUM}: run scripts/install-chromium")
    with sync_api.sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=CHROMIUM,
            args=CHROMIUM_ARGS,
            viewport={"width": 1440, "height": 1000},
            color_scheme="light",
            locale="en-US",
            timezone_id="UTC",
        )
        try:
            yield context
        finally:
            context.close()


@dataclass
class Watch:
    """What the page did: console errors, uncaught exceptions, every request's URL."""

    origin: str
    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)
    expected_errors: list[str] = field(default_factory=list)

    def unexpected(self) -> list[str]:
        return [e for e in self.errors if not any(x in e for x in self.expected_errors)]


@pytest.fixture
def page(browser: Any, server: str) -> Iterator[tuple[Any, Watch]]:
    """A fresh tab; afterwards: no console error, and no request off the machine."""
    yield from _tab(browser, server)


@pytest.fixture
def named_page(browser: Any, named_server: str) -> Iterator[tuple[Any, Watch]]:
    """A fresh tab on the server of the named store, watched like ``page``."""
    yield from _tab(browser, named_server)


def _tab(browser: Any, server: str) -> Iterator[tuple[Any, Watch]]:
    tab = browser.new_page()
    watch = Watch(server)
    tab.on("console", lambda m: watch.errors.append(m.text) if m.type == "error" else None)
    tab.on("pageerror", lambda e: watch.errors.append(f"uncaught: {e}"))
    tab.on("request", lambda r: watch.requests.append(r.url))

    def guard(route: Any) -> None:
        url = route.request.url
        if url.startswith(server + "/"):
            route.continue_()
        else:
            watch.blocked.append(url)
            route.abort()

    tab.route("**/*", guard)
    try:
        yield tab, watch
    finally:
        tab.close()
    assert watch.unexpected() == []
    assert watch.blocked == []
    off_machine = [u for u in watch.requests if urlsplit(u).hostname != "127.0.0.1"]
    assert off_machine == []
    assert watch.requests, "the page made no request at all"


# -- helpers ---------------------------------------------------------------------------------------


def updates(tab: Any) -> int:
    n: int = tab.evaluate("() => (window.__flowscopeTimings || {}).updates || 0")
    return n


def settled(tab: Any, after: int) -> None:
    """Wait until the view finished an update begun after ``after`` updates, and is idle."""
    tab.wait_for_function(
        "n => window.__flowscopeTimings && window.__flowscopeTimings.updates > n"
        " && document.querySelector('main').getAttribute('aria-busy') !== 'true'",
        arg=after,
        timeout=20_000,
    )


def open_view(tab: Any, url: str) -> dict[str, Any]:
    tab.goto(url)
    settled(tab, 0)
    timings: dict[str, Any] = tab.evaluate("() => window.__flowscopeTimings")
    return timings


def state(tab: Any) -> dict[str, list[str]]:
    """The URL fragment's query, parsed."""
    fragment = urlsplit(tab.url).fragment
    return parse_qs(fragment.partition("?")[2])


def shot(tab: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    tab.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def api(server: str, path: str, **params: str) -> Any:
    body = httpx.get(f"{server}/api/{path}", params=params, timeout=30).json()
    assert body["ok"], body
    return body["data"]


def chart_rows(tab: Any, panel: str) -> list[list[str]]:
    """The numbers behind a chart, from the table kept beside it for screen readers."""
    rows: list[list[str]] = tab.eval_on_selector_all(
        f"[data-testid=panel-{panel}] .chart-data tbody tr",
        "trs => trs.map(tr => [...tr.cells].map(td => td.textContent))",
    )
    return rows


def exact_count(text: str) -> int:
    m = re.search(r"[\d,]+", text)
    assert m, text
    return int(m.group(0).replace(",", ""))


def type_query(tab: Any, text: str) -> None:
    box = tab.get_by_test_id("query-input")
    box.fill("")
    box.type(text)


# -- the tests -------------------------------------------------------------------------------------


def test_dashboard_loads_every_panel_quickly(page: tuple[Any, Watch], server: str) -> None:
    tab, _ = page
    timings = open_view(tab, server + "/")
    # The bare address opens the dashboard on the last 24 hours, written into the URL.
    assert urlsplit(tab.url).fragment.startswith("/dashboard")
    assert state(tab)["from"] == ["now-24h"] and state(tab)["to"] == ["now"]
    # Reloaded, the URL names its range: the page no longer waits for the store's extent.
    tab.reload()
    settled(tab, 0)
    again = tab.evaluate("() => window.__flowscopeTimings")
    for name, t in (("bare /", timings), ("reload", again)):
        steps = {k: round(v) for k, v in t.items() if isinstance(v, float | int)}
        calls = [(r["path"], round(r["ms"]), r["took_ms"]) for r in t["requests"]]
        print(f"\ndashboard {name}: {steps} requests (path, ms, server ms): {calls}")
    # The goal is under 1 s on an idle machine; this bound only catches a gross regression on a
    # loaded CI machine (2 cores shared with other suites).
    assert timings["firstRender"] < 5000 and again["firstRender"] < 5000
    for panel in PANELS:
        marks = tab.locator(f"[data-testid=panel-{panel}] .chart svg path").count()
        assert marks > 3, f"panel {panel} drew {marks} marks"
    everything = api(server, "metrics", **{"from": "now-24h", "to": "now"})
    flows = tab.get_by_test_id("stat-flows")
    assert exact_count(flows.get_attribute("title") or "") == everything["count"]
    ports = chart_rows(tab, "ports")
    assert ports[0][0] == "443 https"
    assert len(ports) == 12
    assert tab.get_by_role("heading", name="VPC traffic").is_visible()
    shot(tab, "dashboard-light")
    n = updates(tab)
    tab.get_by_test_id("theme-toggle").click()
    settled(tab, n)
    assert tab.evaluate("() => document.documentElement.dataset.theme") == "dark"
    # A new theme redraws the same numbers; it does not ask the server again.
    assert chart_rows(tab, "ports") == ports
    tab.wait_for_timeout(300)  # let the charts' colour transition finish
    shot(tab, "dashboard-dark")
    n = updates(tab)
    tab.get_by_test_id("theme-toggle").click()
    settled(tab, n)
    assert tab.evaluate("() => document.documentElement.dataset.theme") == "light"


def test_a_typed_filter_changes_every_panel(page: tuple[Any, Watch], server: str) -> None:
    tab, _ = page
    open_view(tab, server + "/#/dashboard")
    before = exact_count(tab.get_by_test_id("stat-flows").get_attribute("title") or "")
    box = tab.get_by_test_id("query-input")
    box.click()
    box.type("dstp")
    # Field names complete; choosing one then offers that field's values.
    tab.get_by_role("option", name=re.compile("dstport")).first.wait_for()
    box.press("ArrowDown")
    box.press("Enter")
    assert box.input_value() == "dstport:"
    tab.get_by_role("option", name=re.compile(r"^value\s*443")).first.wait_for()
    n = updates(tab)
    box.type("22")
    box.press("Enter")
    settled(tab, n)
    assert state(tab)["q"] == ["dstport:22"]
    after = exact_count(tab.get_by_test_id("stat-flows").get_attribute("title") or "")
    expected = api(server, "metrics", where="dstport:22", **{"from": "all"})["count"]
    assert 0 < after == expected < before
    assert [r[0] for r in chart_rows(tab, "ports")] == ["22 ssh"]
    rejected = api(server, "top", field="srcaddr", where="dstport:22 and action:REJECT", size="10")
    assert [r[0] for r in chart_rows(tab, "rejected")] == [r["value"] for r in rejected["rows"]]
    shot(tab, "dashboard-filtered")


def test_brushing_the_histogram_narrows_the_time_range(
    page: tuple[Any, Watch], server: str
) -> None:
    tab, _ = page
    open_view(tab, server + "/#/discover?from=all&to=all")
    total = exact_count(tab.get_by_test_id("hit-count").inner_text())
    chart = tab.locator("[data-testid=histogram] .chart")
    box = chart.bounding_box()
    assert box is not None
    y = box["y"] + box["height"] * 0.45
    n = updates(tab)
    tab.mouse.move(box["x"] + box["width"] * 0.35, y)
    tab.mouse.down()
    tab.mouse.move(box["x"] + box["width"] * 0.65, y, steps=12)
    tab.mouse.up()
    settled(tab, n)
    s = state(tab)
    start = datetime.fromisoformat(s["from"][0])
    end = datetime.fromisoformat(s["to"][0])
    everything = api(server, "metrics")
    first = datetime.fromisoformat(everything["first"])
    last = datetime.fromisoformat(everything["last"])
    assert first <= start < end <= last
    assert end - start < (last - first) * 0.5
    narrowed = exact_count(tab.get_by_test_id("hit-count").inner_text())
    assert 0 < narrowed < total
    assert "→" in tab.get_by_test_id("time-label").inner_text()
    shot(tab, "discover-brushed")
    # Back restores the whole range.
    n = updates(tab)
    tab.go_back()
    settled(tab, n)
    assert state(tab)["from"] == ["all"]
    assert exact_count(tab.get_by_test_id("hit-count").inner_text()) == total


def test_clicking_a_field_value_adds_a_filter(page: tuple[Any, Watch], server: str) -> None:
    tab, _ = page
    open_view(tab, server + "/#/discover?from=all&to=all")
    tab.locator("[data-field=action] > button").click()
    include = tab.locator(
        "[data-testid=field-details-action] [data-value=REJECT] >> [data-testid=include]"
    )
    n = updates(tab)
    include.click()
    settled(tab, n)
    assert state(tab)["f"] == ["action:REJECT"]
    assert tab.get_by_test_id("pill").inner_text().strip() == "action: REJECT"
    rejected = api(server, "metrics", where="action:REJECT")["count"]
    assert exact_count(tab.get_by_test_id("hit-count").inner_text()) == rejected
    actions = tab.locator("table.flows tbody td .tag").all_inner_texts()
    assert actions and set(actions) == {"REJECT"}
    # An address in the table filters too.
    address = tab.locator("table.flows tbody tr.row button[data-filter=srcaddr]").first
    value = address.inner_text()
    n = updates(tab)
    address.click()
    settled(tab, n)
    assert state(tab)["f"] == ["action:REJECT", f"srcaddr:{value}"]
    assert set(tab.locator("table.flows tbody button[data-filter=srcaddr]").all_inner_texts()) == {
        value
    }
    # A row opens to every field it has.
    tab.get_by_test_id("expand-row").first.click()
    fields = tab.locator("tr.doc dt").all_inner_texts()
    assert {"interface_id", "srcaddr", "dstaddr", "action", "log_status"} <= set(fields)
    shot(tab, "discover-filtered")


def test_a_bad_filter_is_explained_under_the_query_bar(
    page: tuple[Any, Watch], server: str
) -> None:
    tab, watch = page
    # The browser logs the API's 400 answer itself; that one message is expected here.
    watch.expected_errors.append("status of 400")
    open_view(tab, server + "/#/dashboard")
    n = updates(tab)
    type_query(tab, "dstport:(22 or")
    tab.get_by_test_id("query-input").press("Enter")
    settled(tab, n)
    error = tab.get_by_test_id("query-error")
    assert error.is_visible()
    text = error.inner_text()
    assert "expected a value for dstport" in text
    assert text.rstrip().endswith("^")
    assert tab.get_by_test_id("query-input").get_attribute("aria-invalid") == "true"
    shot(tab, "query-error")
    n = updates(tab)
    type_query(tab, "dstprot:22")
    tab.get_by_test_id("query-input").press("Enter")
    settled(tab, n)
    assert "did you mean dstport" in error.inner_text()
    n = updates(tab)
    type_query(tab, "dstport:22")
    tab.get_by_test_id("query-input").press("Enter")
    settled(tab, n)
    assert not error.is_visible()
    assert tab.get_by_test_id("query-input").get_attribute("aria-invalid") is None
    assert [r[0] for r in chart_rows(tab, "ports")] == ["22 ssh"]


def test_the_url_restores_the_same_view(page: tuple[Any, Watch], browser: Any, server: str) -> None:
    tab, watch = page
    open_view(tab, server + "/#/visualize?from=all&to=all")
    steps = [
        lambda: tab.get_by_test_id("vis-field").select_option("protocol_name"),
        lambda: tab.get_by_test_id("vis-metric").select_option("bytes"),
        lambda: tab.get_by_test_id("vis-split").select_option("action"),
        lambda: tab.locator("button[data-type=area]").click(),
    ]
    for step in steps:
        n = updates(tab)
        step()
        settled(tab, n)
    n = updates(tab)
    type_query(tab, "not dstport:53")
    tab.get_by_test_id("query-input").press("Enter")
    settled(tab, n)
    title = tab.locator("[data-testid=panel-visualization] h2").inner_text()
    assert title == "Top 20 protocol_name by bytes, split by action"
    rows = chart_rows(tab, "visualization")
    assert rows and rows[0][0] == "tcp"
    url = tab.url
    shot(tab, "visualize-area")

    other = browser.new_page()
    other.on("console", lambda m: watch.errors.append(m.text) if m.type == "error" else None)
    other.on("request", lambda r: watch.requests.append(r.url))
    try:
        open_view(other, url)
        assert other.url == url
        assert other.get_by_test_id("query-input").input_value() == "not dstport:53"
        assert other.locator("[data-testid=panel-visualization] h2").inner_text() == title
        assert other.locator("button[data-type=area]").get_attribute("aria-pressed") == "true"
        assert other.get_by_test_id("vis-split").input_value() == "action"
        assert chart_rows(other, "visualization") == rows
    finally:
        other.close()

    # Every chart type draws from the same state; the Sankey follows the same filter.
    for kind in ("bar", "line", "pie", "table", "sankey"):
        n = updates(tab)
        tab.locator(f"button[data-type={kind}]").click()
        settled(tab, n)
        if kind == "table":
            assert tab.get_by_test_id("vis-table").locator("tbody tr").count() >= 2
        else:
            assert tab.locator("[data-testid=panel-visualization] .chart svg path").count() > 3
    links = chart_rows(tab, "visualization")
    targets = {r[1] for r in links}
    assert "443 https" in targets and "53 dns" not in targets
    shot(tab, "visualize-sankey")


def test_panels_of_names_say_so_when_the_store_has_none(
    page: tuple[Any, Watch], server: str
) -> None:
    # This store was loaded without any inventory, networks file or ip-ranges: no flow has a name.
    tab, watch = page
    open_view(tab, server + "/#/dashboard?from=all&to=all")
    names = tab.get_by_test_id("panel-names")
    assert names.locator(".empty").inner_text() == (
        "No names yet: run flowscope inventory refresh or see README."
    )
    assert names.locator(".chart").count() == 0
    # The page asked no name of an address the server cannot name.
    if not any(f["name"] == "src_name" for f in api(server, "fields")):
        assert not [u for u in watch.requests if u.endswith("/api/identify")]


def test_names_and_the_map_in_discover_and_the_dashboard(
    named_page: tuple[Any, Watch], named_server: str
) -> None:
    tab, watch = named_page
    server = named_server
    # Discover first: the map's chunk is not fetched by a page that does not show it.
    open_view(tab, server + "/#/discover?from=all&to=all&q=src_name:web-tier")
    assert not [u for u in watch.requests if "/assets/worldmap-" in u]
    rows = api(server, "search", where="src_name:web-tier", columns="all", size="50")["rows"]
    first = tab.locator("table.flows tbody tr.row").first
    src = first.locator("td.addr").first
    assert src.locator("button").inner_text() == rows[0]["srcaddr"]
    name = src.locator(".addr-name")
    assert name.inner_text() == "· web-tier" and name.is_visible()
    assert name.get_attribute("title").startswith(rows[0]["srcaddr"])
    # The expanded flow shows the estate's fields, and the name beside its addresses.
    tab.get_by_test_id("expand-row").first.click()
    fields = tab.locator("tr.doc dt").all_inner_texts()
    shown = ("src_name", "src_network", "src_scope", "dst_name", "dst_scope", "dst_country")
    expected = {k for k in shown if rows[0].get(k) not in (None, [])}
    assert {"src_name", "src_network", "src_scope"} <= expected <= set(fields)
    assert "· web-tier" in tab.locator("tr.doc dd").all_inner_texts()[fields.index("srcaddr")]
    # The field sidebar lists the estate's fields; the list field by its own badge.
    groups = tab.locator("[data-field=src_security_groups] .field-type")
    assert groups.get_attribute("title") == "list"
    shot(tab, "discover-names")

    n = updates(tab)
    tab.get_by_role("link", name="Dashboard").click()
    settled(tab, n)
    # Top talkers by name: the same ranking as the API's.
    expected = api(
        server, "top", field="src_name", by="bytes", size="10", where="src_name:web-tier"
    )
    assert [r[0] for r in chart_rows(tab, "names")] == [r["value"] for r in expected["rows"]]
    open_view(tab, server + "/#/dashboard?from=all&to=all")
    everything = api(server, "top", field="src_name", by="bytes", size="10", **{"from": "all"})
    assert [r[0] for r in chart_rows(tab, "names")] == [r["value"] for r in everything["rows"]]
    assert {"demo-vpc", "web-tier"} <= {r[0] for r in chart_rows(tab, "names")}
    # Countries: the map draws its shapes, coloured by bytes, the top countries beside it.
    countries = api(server, "top", field="dst_country", by="bytes", size="8", **{"from": "all"})
    assert countries["rows"], "the embedded geo data gave no country"
    chart = tab.locator("[data-testid=panel-countries] .chart")
    assert int(chart.get_attribute("data-shapes") or 0) > 150
    assert chart.locator("svg path").count() > 150
    listed = tab.locator("[data-testid=country-list] [data-country]")
    assert [listed.nth(i).get_attribute("data-country") for i in range(listed.count())] == [
        r["value"] for r in countries["rows"]
    ]
    assert len([u for u in watch.requests if "/assets/worldmap-" in u]) == 1
    shot(tab, "dashboard-names")
    # Clicking a country filters on it, like the other panels.
    code = countries["rows"][0]["value"]
    n = updates(tab)
    listed.first.click()
    settled(tab, n)
    assert state(tab)["f"] == [f"dst_country:{code}"]
    flows = api(server, "metrics", where=f"dst_country:{code}", **{"from": "all"})["count"]
    assert exact_count(tab.get_by_test_id("stat-flows").get_attribute("title") or "") == flows
    # From: the sources' countries, without asking the server again.
    asked = len([u for u in watch.requests if u.endswith("/api/dashboard")])
    n = updates(tab)
    tab.locator("[data-testid=panel-countries] [data-geo=src]").click()
    settled(tab, n)
    assert state(tab)["geo"] == ["src"]
    assert len([u for u in watch.requests if u.endswith("/api/dashboard")]) == asked
