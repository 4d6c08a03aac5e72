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

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from browser_harness import (
    FRAMES,
    SHOW_EVERYTHING,
    Offline,
    grid_serve,
    open_map,
    screenshot_folder,
)
from pages_data import PASSWORD, PWN, Planted, account, plant
from playwright.sync_api import Browser
from sqlalchemy.engine import Engine

from api.pages.views import MAPS
from gis.settings import Settings

pytestmark = pytest.mark.slow

JUNE = "from=2018-06-01&to=2018-06-30"
QUERY = {name: ("to=2018-06-30&months=3" if name == "emerging" else JUNE) for name in MAPS}


@pytest.fixture(scope="module")
def planted(engine: Engine, settings: Settings) -> Planted:
    return plant(engine, settings, 2018, 6, shift=False)


@pytest.fixture(scope="module")
def dispatcher(engine: Engine, planted: Planted) -> str:
    return account(engine, "dispatcher")


@pytest.fixture(scope="module")
def server(planted: Planted, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`grid serve` on a free port (one worker), its base URL; stopped afterwards."""
    with grid_serve(tmp_path_factory.mktemp("serve"), "--workers", "1") as (base, _log):
        yield base


@pytest.fixture(scope="module")
def screenshots() -> Path:
    return screenshot_folder("pages")


class Session(Offline):
    """One logged-in browser tab, network cut off but for the app; what it logged and tried."""

    def __init__(self, browser: Browser, base: str, username: str) -> None:
        super().__init__(browser, 1280, 860)
        self.base = base
        self.login(username)

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

    def open_map(self, url: str) -> str:
        """Go to a map page; the Leaflet map's name."""
        return open_map(self.page, url)


@pytest.fixture
def session(browser: Browser, server: str, dispatcher: str) -> Iterator[Session]:
    with Session(browser, server, dispatcher) as s:
        yield s


def test_chromium_starts(browser: Browser) -> None:
    assert browser.version


@pytest.mark.parametrize("name", list(MAPS))
def test_map_page_draws_offline_without_errors(
    session: Session, screenshots: Path, name: str
) -> None:
    url = f"{session.base}/maps/{name}?{QUERY[name]}"
    info = session.map_page(url, screenshots / f"{name}.png")
    assert info["title"] == info["title"].strip()
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
    result = session.page.evaluate(SHOW_EVERYTHING, map_name)
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
    open_map(frame)
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
