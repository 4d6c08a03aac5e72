"""The pages in a real browser against `grid serve`, network cut off but for the app.

The test starts `grid serve` on a free port of 127.0.0.1 (the test database is
in its environment), logs in through the start page's form as a user would,
and opens every page in Debian's Chromium (Playwright, `executable_path`) with
every other host aborted. Checked: no console or page error (also inside the
command centre's map frame), the Leaflet map and its layers are there, the
command centre's figures are filled in, a resident's `<script>` stays text
(on the map's popups and in the overdue list), and a screenshot of each page
is written to var/test-output/pages/. A browser that cannot start fails.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from pages_data import PASSWORD, PWN, Planted, account, plant
from playwright.sync_api import Browser, Frame, Page, Route, sync_playwright
from sqlalchemy.engine import Engine

from api.pages.views import MAPS
from gis.settings import ROOT, Settings

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
LOCAL = {"127.0.0.1", "localhost"}
JUNE = "from=2018-06-01&to=2018-06-30"
QUERY = {name: ("to=2018-06-30&months=3" if name == "emerging" else JUNE) for name in MAPS}

FIND_MAP = """() => {
    if (typeof L === "undefined") return null;
    return Object.keys(window).find(k => k.startsWith("map_") && window[k] instanceof L.Map)
        || null;
}"""
MAP_INFO = """(name) => {
    const map = window[name];
    let layers = 0, features = 0;
    map.eachLayer(l => { layers += 1; if (l.feature) features += 1; });
    return {
        layers, features,
        overlays: [...document.querySelectorAll(".leaflet-control-layers-overlays label")]
            .map(e => e.textContent.trim()),
        legend: document.querySelector(".cg-legend")?.textContent || "",
        title: document.querySelector(".cg-title")?.textContent || "",
        bar: document.querySelector("#cg-bar")?.textContent || "",
    };
}"""
# Open every popup of the map's marker layers, as a user clicking each marker would.
OPEN_POPUPS = """(name) => {
    const map = window[name];
    let opened = 0, seen = "";
    const look = () => {
        for (const el of document.querySelectorAll(".leaflet-popup-content, .leaflet-tooltip")) {
            if (!seen && el.textContent.includes("window.__pwned")) seen = el.textContent;
        }
    };
    const groups = [];
    map.eachLayer(l => { if (l instanceof L.FeatureGroup) groups.push(l); });
    for (const group of groups) {
        for (const child of group.getLayers()) {
            const popup = child.getPopup && child.getPopup();
            if (popup) {
                const at = child.getLatLng ? child.getLatLng() : child.getBounds().getCenter();
                L.popup().setLatLng(at).setContent(popup.getContent()).openOn(map);
                opened += 1; look();
            }
        }
    }
    return {opened, seen};
}"""
FRAMES = "() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _grid() -> list[str]:
    script = Path(sys.executable).parent / "grid"
    return [str(script)] if script.exists() else [sys.executable, "-m", "gridcli.main"]


@pytest.fixture(scope="module")
def planted(engine: Engine, settings: Settings) -> Planted:
    return plant(engine, settings, 2018, 6, shift=False)


@pytest.fixture(scope="module")
def dispatcher(engine: Engine, planted: Planted) -> str:
    return account(engine, "dispatcher")


@pytest.fixture(scope="module")
def server(planted: Planted, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`grid serve` on a free port (one worker), its base URL; stopped afterwards."""
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(  # the test database is in the environment (conftest)
            [*_grid(), "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=os.environ.copy(),
        )
        try:
            deadline = time.monotonic() + 90
            while True:
                assert proc.poll() is None, log.read_text()
                assert time.monotonic() < deadline, log.read_text()
                try:
                    with urllib.request.urlopen(f"{base}/healthz", timeout=5) as resp:
                        if resp.status == 200:
                            break
                except (urllib.error.URLError, ConnectionError, TimeoutError):
                    pass
                time.sleep(0.3)
            yield base
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-background-networking"]
        )
        yield b
        b.close()


@pytest.fixture(scope="module")
def screenshots() -> Path:
    """var/test-output/pages (gitignored): kept after the run for a person to look at."""
    folder = ROOT / "var" / "test-output" / "pages"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


class Session:
    """One logged-in browser, network cut off but for the app; what it logged and tried."""

    def __init__(self, browser: Browser, base: str, username: str) -> None:
        self.base = base
        self.errors: list[str] = []
        self.outside: list[str] = []
        self.context = browser.new_context(
            service_workers="block", viewport={"width": 1280, "height": 860}, locale="zh-CN"
        )
        self.context.route("**/*", self._route)
        self.page: Page = self.context.new_page()
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(f"page error: {e}"))
        self.login(username)

    def _route(self, route: Route) -> None:
        url = route.request.url
        if (urlsplit(url).hostname or "") in LOCAL or url.startswith(("data:", "blob:")):
            route.continue_()
        else:
            self.outside.append(url)
            route.abort()

    def login(self, username: str) -> None:
        """Through the start page's form, as a person would."""
        page = self.page
        page.goto(f"{self.base}/maps/hotspots?{JUNE}", wait_until="load")
        assert urlsplit(page.url).path == "/", "a page without login shows the login form"
        page.fill("#username", username)
        page.fill("#password", PASSWORD)
        with page.expect_navigation(wait_until="load"):
            page.click("button[type=submit]")
        assert urlsplit(page.url).path == "/maps/hotspots", page.url

    def open_map(self, url: str, frame: Page | Frame | None = None) -> str:
        """Go to a map page (or wait for one in a frame); the Leaflet map's name."""
        target = frame or self.page
        if frame is None:
            self.page.goto(url, wait_until="load")
        target.wait_for_function(FIND_MAP, timeout=30_000)
        target.evaluate(FRAMES)
        return str(target.evaluate(FIND_MAP))

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def session(browser: Browser, server: str, dispatcher: str) -> Iterator[Session]:
    s = Session(browser, server, dispatcher)
    yield s
    s.close()


def test_chromium_starts(browser: Browser) -> None:
    assert browser.version


@pytest.mark.parametrize("name", list(MAPS))
def test_map_page_draws_offline_without_errors(
    session: Session, screenshots: Path, name: str
) -> None:
    map_name = session.open_map(f"{session.base}/maps/{name}?{QUERY[name]}")
    info: dict[str, Any] = session.page.evaluate(MAP_INFO, map_name)
    shot = screenshots / f"{name}.png"
    session.page.screenshot(path=str(shot))
    assert shot.stat().st_size > 5_000
    assert session.errors == []
    assert session.outside == []
    assert info["overlays"], "the layer control lists the layers"
    assert info["legend"] and info["title"] == info["title"].strip() and info["title"]
    assert MAPS[name].title in info["bar"] and "筛选" in info["bar"]
    if name in ("choropleth", "hotspots", "emerging"):
        assert info["features"] > 100  # every grid of the district
    if name == "operations":
        assert info["features"] > 20  # stations at least
    assert session.page.evaluate("() => window.__pwned") is None


def test_start_page_and_the_filter_form(session: Session, screenshots: Path) -> None:
    page = session.page
    page.goto(f"{session.base}/", wait_until="load")
    links = page.eval_on_selector_all("main a", "els => els.map(e => e.getAttribute('href'))")
    assert {f"/maps/{n}" for n in MAPS} <= set(links) and "/docs" in links
    assert "/dashboard" in links
    page.screenshot(path=str(screenshots / "start.png"))
    # The hot-spot map's own filter form: one subclass, applied.
    session.open_map(f"{session.base}/maps/hotspots?{JUNE}")
    page.click("#cg-bar summary")
    page.select_option("#cg-subclass", "0401")
    with page.expect_navigation(wait_until="load"):
        page.click("#cg-bar button[type=submit]")
    assert "subclass=0401" in page.url and "from=2018-06-01" in page.url
    session.open_map(page.url)
    assert page.input_value("#cg-subclass") == "0401"
    assert session.errors == [] and session.outside == []


def test_a_residents_script_stays_text(session: Session, planted: Planted) -> None:
    map_name = session.open_map(f"{session.base}/maps/operations?{JUNE}")
    result = session.page.evaluate(OPEN_POPUPS, map_name)
    assert result["opened"] > 0
    session.page.wait_for_timeout(300)  # an <img onerror> would have fired by now
    assert session.page.evaluate("() => window.__pwned") is None
    assert "<script>window.__pwned=1</script>" in result["seen"]  # on screen, as text
    assert session.errors == []


def test_command_centre_screen(session: Session, screenshots: Path, planted: Planted) -> None:
    page = session.page
    page.goto(f"{session.base}/dashboard", wait_until="load")
    page.wait_for_function(
        "() => document.querySelector('#cg-today-total').textContent.trim() !== '–'"
    )
    assert int(page.text_content("#cg-today-total") or "0") >= 1
    assert int(page.text_content("#cg-overdue-total") or "0") >= 1
    assert page.locator("#cg-open tbody tr").count() == 3
    rows = page.locator("#cg-overdue tbody tr")
    assert rows.count() >= 1
    listed = page.text_content("#cg-overdue tbody") or ""
    assert PWN in listed  # the resident's text, shown as text
    frame = next(f for f in page.frames if "/maps/operations" in f.url)
    session.open_map("", frame)
    assert frame.evaluate("() => document.querySelector('.cg-legend') !== null")
    page.evaluate(FRAMES)
    page.screenshot(path=str(screenshots / "dashboard.png"), full_page=True)
    # It refreshes itself: a fetch of the figures answers 200 with the cookie.
    status = page.evaluate(
        "() => fetch('/api/v1/dashboard', {credentials: 'same-origin'}).then(r => r.status)"
    )
    assert status == 200
    assert page.evaluate("() => window.__pwned") is None
    assert session.errors == [] and session.outside == []
