"""What the browser tests share: Debian's Chromium with the network cut off, `grid serve`.

The pages, the maps and the API's documentation are checked in a real browser as a
user would see them: Debian's /usr/bin/chromium driven by Playwright, every request to
a host other than the app aborted (and written down), console and page errors
collected, screenshots kept under var/test-output/ for a person to look at. The pages
and the documentation are served by `grid serve` as a real process on a free port of
127.0.0.1 (the test database is in its environment, see conftest.py). A browser that
cannot start fails the test: it is never skipped.

Imported as `browser_harness` (pytest puts tests/ on sys.path); conftest.py's
`browser` fixture starts `chromium()` once a module; test_serve.py uses `grid_serve` too.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any, Self
from urllib.parse import urlsplit

from playwright.sync_api import Browser, Frame, Page, Route, sync_playwright

from gis.settings import ROOT

CHROMIUM = "/usr/bin/chromium"
LOCAL = {"127.0.0.1", "localhost"}

# The Leaflet map of a folium page (folium names it map_<id>); null until it is there.
FIND_MAP = """() => {
    if (typeof L === "undefined") return null;
    return Object.keys(window).find(k => k.startsWith("map_") && window[k] instanceof L.Map)
        || null;
}"""
# Two animation frames: everything drawn after load has been painted.
FRAMES = "() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))"
# What a person sees of a map: its layers and features, the layer control, the legend,
# the title, the filter bar (app pages), the heat canvas and the zoom of the view.
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
        heat: document.querySelectorAll("canvas.leaflet-heatmap-layer").length,
        zoom: map.getZoom(),
    };
}"""
# Hover and click every feature as a user would (events propagate to the layer that
# bound the tooltip/popup); clustered markers hidden in a cluster get their popup
# opened directly. Returns how many were opened, and the first text that contains
# the injected markup (window.__pwned) as the user sees it.
SHOW_EVERYTHING = """(name) => {
    const map = window[name];
    let opened = 0, seen = "";
    const look = () => {
        for (const el of document.querySelectorAll(".leaflet-tooltip, .leaflet-popup-content")) {
            if (!seen && el.textContent.includes("window.__pwned")) seen = el.textContent;
        }
    };
    const groups = [];
    map.eachLayer(l => { if (l instanceof L.FeatureGroup) groups.push(l); });
    for (const group of groups) {
        for (const child of group.getLayers()) {
            const at = child.getLatLng ? child.getLatLng() : child.getBounds().getCenter();
            if (group.getTooltip && group.getTooltip()) {
                child.fire("mouseover", {latlng: at}, true); opened += 1; look();
            }
            if (group.getPopup && group.getPopup()) {
                child.fire("click", {latlng: at}, true); opened += 1; look();
            }
            const popup = child.getPopup && child.getPopup();
            if (popup) {
                L.popup().setLatLng(at).setContent(popup.getContent()).openOn(map);
                opened += 1; look();
            }
        }
    }
    return {opened, seen};
}"""


def free_port() -> int:
    """A TCP port of 127.0.0.1 nobody listens on (now)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def grid_command() -> list[str]:
    """The `grid` CLI of this venv (or `python -m gridcli.main` where it is not installed)."""
    script = Path(sys.executable).parent / "grid"
    return [str(script)] if script.exists() else [sys.executable, "-m", "gridcli.main"]


@contextmanager
def grid_serve(folder: Path, *options: str, wait_s: float = 90) -> Iterator[tuple[str, Path]]:
    """`grid serve` on a free port of 127.0.0.1 until /healthz answers 200.

    Yields the base URL and the server's log (folder/serve.log, stdout and stderr);
    stopped afterwards. `options` go to the command (e.g. "--workers", "1"). A server
    that exits or is not up within `wait_s` seconds fails the test with its log.
    """
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = folder / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(  # the test database is in the environment (conftest)
            [*grid_command(), "serve", "--host", "127.0.0.1", "--port", str(port), *options],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=os.environ.copy(),
        )
        try:
            deadline = time.monotonic() + wait_s
            while True:
                assert proc.poll() is None, log.read_text()
                assert time.monotonic() < deadline, log.read_text()
                try:
                    with urllib.request.urlopen(f"{base}/healthz", timeout=5) as resp:
                        if resp.status == 200:
                            break
                except (urllib.error.URLError, ConnectionError, TimeoutError):
                    pass
                time.sleep(0.2)
            yield base, log
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=20)


@contextmanager
def chromium() -> Iterator[Browser]:
    """Debian's Chromium, headless, without the sandbox (containers) or background traffic."""
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-background-networking"]
        )
        try:
            yield browser
        finally:
            browser.close()


def screenshot_folder(name: str) -> Path:
    """var/test-output/<name> (gitignored): screenshots kept for a person to look at."""
    folder = ROOT / "var" / "test-output" / name
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def is_local(url: str) -> bool:
    """A request that stays on this machine: to 127.0.0.1/localhost, or a data:/blob: URL."""
    return (urlsplit(url).hostname or "") in LOCAL or url.startswith(("data:", "blob:"))


class Offline:
    """One browser tab with the network cut off but for this machine; what it did.

    `errors`: console errors and uncaught page errors; `outside`: every request to
    another host (aborted, unless `answer` answers it and returns True, as a test
    does for map tiles); `requests`: every URL the page asked for. A context
    manager: the browser context is closed at the end.
    """

    def __init__(
        self,
        browser: Browser,
        width: int,
        height: int,
        answer: Callable[[Route], bool] | None = None,
    ) -> None:
        self.errors: list[str] = []
        self.outside: list[str] = []
        self.requests: list[str] = []
        self._answer = answer
        self.context = browser.new_context(
            service_workers="block", viewport={"width": width, "height": height}, locale="zh-CN"
        )
        self.context.route("**/*", self._route)
        self.page: Page = self.context.new_page()
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(f"page error: {e}"))
        self.page.on("request", lambda r: self.requests.append(r.url))

    def _route(self, route: Route) -> None:
        url = route.request.url
        if is_local(url):
            route.continue_()
            return
        self.outside.append(url)
        if self._answer is None or not self._answer(route):
            route.abort()

    def map_page(self, url: str, shot: Path) -> dict[str, Any]:
        """Open the map page at `url` and screenshot it to `shot`; what MAP_INFO reads.

        Checked as on every map page: the screenshot is not blank, no console or page
        error, no request to another host, the layer control lists layers, a legend
        and a title are shown.
        """
        info: dict[str, Any] = self.page.evaluate(MAP_INFO, open_map(self.page, url))
        self.page.screenshot(path=str(shot))
        assert shot.stat().st_size > 5_000
        assert self.errors == []
        assert self.outside == []
        assert info["overlays"], "the layer control lists the layers"
        assert info["legend"] and info["title"]
        return info

    def close(self) -> None:
        self.context.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def open_map(target: Page | Frame, url: str | None = None) -> str:
    """Go to a map page (or wait in a frame that loads one); the Leaflet map's name.

    Waits until the map exists and two frames have been drawn after it.
    """
    if url is not None:
        target.goto(url, wait_until="load")
    target.wait_for_function(FIND_MAP, timeout=30_000)
    target.evaluate(FRAMES)
    return str(target.evaluate(FIND_MAP))
