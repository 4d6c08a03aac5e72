"""Map pages in a real browser (Debian's Chromium through Playwright), network cut off.

Every page is served from 127.0.0.1 by :class:`maps.preview.PreviewServer` (the pages
plus the installed assets at /static, as the app serves them) and opened with every
other host aborted. Checked as a user would: no console or page errors, the Leaflet
map and its layers are there, a resident's ``<script>`` stays text, and a screenshot
of each page is written to var/test-output/maps/. A browser that cannot start
fails the test: it is never skipped.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from browser_harness import (
    SHOW_EVERYTHING,
    Offline,
    open_map,
    screenshot_folder,
)
from playwright.sync_api import Browser, Route

from gis.crs import wgs84_to_gcj02
from gis.settings import ROOT
from maps.base import Canvas
from maps.choropleth import choropleth
from maps.export import save_standalone
from maps.heat import heatmap, heatmap_over_time
from maps.hotspots import EMERGING_PATTERNS, HOTSPOT_CLASSES, emerging, hotspots
from maps.offline import render
from maps.operations import operations
from maps.preview import PreviewServer

pytestmark = pytest.mark.slow

SAMPLE = ROOT / "data" / "sample"
PWN = '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=1">'
# A 1x1 grey PNG, answered for AMap tiles so that the GCJ-02 page loads with no network.
TILE = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8/5+hHgAHggJ/PchI7wAAAABJRU5ErkJggg=="
)


def _frames() -> dict[str, Any]:
    rng = np.random.default_rng(11)
    grids = gpd.read_file(SAMPLE / "grids.geojson")
    grids["name"] = "网格 " + grids["code"].str[-3:]
    grids.loc[0, "name"] = PWN
    grids["count"] = rng.poisson(40, len(grids))
    grids["rate"] = (grids["count"] / grids.to_crs("EPSG:4547").area * 1e6).round(2)
    grids["hotspot_class"] = rng.choice(list(HOTSPOT_CLASSES), len(grids))
    grids["pattern"] = rng.choice(list(EMERGING_PATTERNS), len(grids))
    stations = gpd.read_file(SAMPLE / "stations.geojson")
    stations.loc[0, "name"] = PWN
    communities = gpd.read_file(SAMPLE / "communities.geojson")
    squads = communities.dissolve(by="squad_code").reset_index()[["squad_code", "geometry"]]
    squads = squads.rename(columns={"squad_code": "code"}).assign(name="执法中队")
    x0, y0, x1, y1 = grids.total_bounds
    n = 400
    cases = pd.DataFrame(
        {
            "lon": rng.uniform(x0, x1, n),
            "lat": rng.uniform(y0, y1, n),
            "overdue": rng.random(n) < 0.3,
            "case_no": [f"AJ{i:05d}" for i in range(n)],
            "description": PWN,
            "reported_at": pd.Timestamp("2026-03-02 09:30"),
        }
    )
    k = 20_000
    points = pd.DataFrame(
        {
            "lon": rng.normal((x0 + x1) / 2, 0.02, k),
            "lat": rng.normal((y0 + y1) / 2, 0.02, k),
            "reported_at": pd.Timestamp("2026-01-01")
            + pd.to_timedelta(rng.integers(0, 180 * 86400, k), unit="s"),
        }
    )
    officers = pd.read_csv(SAMPLE / "officers.csv").head(60)
    return {
        "grids": grids,
        "stations": stations,
        "squads": squads,
        "cases": cases,
        "points": points,
        "officers": officers,
    }


PAGES = ["heatmap", "heatmap_over_time", "choropleth", "hotspots", "emerging", "operations"]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PreviewServer]:
    """All pages (served mode) plus one standalone export, behind a local server."""
    folder = tmp_path_factory.mktemp("pages")
    f = _frames()
    maps = {
        "heatmap": heatmap(f["points"]),
        "heatmap_over_time": heatmap_over_time(f["points"]),
        "choropleth": choropleth(f["grids"], {"count": "投诉数", "rate": "每平方公里投诉数"}),
        "hotspots": hotspots(f["grids"], fdr_method="Benjamini–Hochberg"),
        "emerging": emerging(f["grids"]),
        "operations": operations(
            stations=f["stations"], squads=f["squads"], officers=f["officers"], cases=f["cases"]
        ),
    }
    for name, m in maps.items():
        (folder / f"{name}.html").write_text(render(m), encoding="utf-8")
    save_standalone(
        operations(stations=f["stations"], cases=f["cases"]), folder / "standalone.html"
    )
    icons = Canvas("图标", icons=True)
    folium.Marker([22.6, 113.08], icon=folium.Icon(prefix="fa", icon="house")).add_to(icons.map)
    folium.Marker([22.61, 113.09], icon=folium.Icon(icon="info-sign")).add_to(icons.map)
    save_standalone(icons.finish(), folder / "icons.html")
    one = f["stations"].iloc[[5]]
    (folder / "amap.html").write_text(render(operations(stations=one, base="amap")), "utf-8")
    with PreviewServer(folder) as server:
        yield server


@pytest.fixture(scope="module")
def screenshots() -> Path:
    return screenshot_folder("maps")


def _tile(route: Route) -> bool:
    """AMap's tiles are answered with a grey pixel (still written down as outside)."""
    if not (urlsplit(route.request.url).hostname or "").endswith(".is.autonavi.com"):
        return False
    route.fulfill(status=200, content_type="image/png", body=TILE)
    return True


@pytest.fixture
def visit(browser: Browser) -> Iterator[Offline]:
    with Offline(browser, 1200, 850, answer=_tile) as tab:
        yield tab


def test_chromium_starts(browser: Browser) -> None:
    assert browser.version


@pytest.mark.parametrize("name", PAGES)
def test_page_draws_offline_without_errors(
    site: PreviewServer, visit: Offline, screenshots: Path, name: str
) -> None:
    info = visit.map_page(site.url(f"{name}.html"), screenshots / f"{name}.png")
    assert info["zoom"] >= 9, "the view is fitted to the district"
    if name.startswith("heatmap"):
        assert info["heat"] >= 1 or visit.page.locator("canvas").count() >= 1
    else:
        assert info["features"] > 50


@pytest.mark.parametrize("name", ["choropleth", "hotspots", "emerging", "operations", "standalone"])
def test_injected_script_does_not_run(site: PreviewServer, visit: Offline, name: str) -> None:
    map_name = open_map(visit.page, site.url(f"{name}.html"))
    result = visit.page.evaluate(SHOW_EVERYTHING, map_name)
    assert result["opened"] > 0
    visit.page.wait_for_timeout(300)  # an <img onerror> would have fired by now
    assert visit.page.evaluate("() => window.__pwned") is None
    # The resident's text was on screen, as text.
    assert "<script>window.__pwned=1</script>" in result["seen"]
    assert visit.errors == []


@pytest.mark.parametrize("name", ["standalone", "icons"])
def test_standalone_page_fetches_nothing_else(
    site: PreviewServer, visit: Offline, screenshots: Path, name: str
) -> None:
    url = site.url(f"{name}.html")
    open_map(visit.page, url)
    visit.page.screenshot(path=str(screenshots / f"standalone-{name}.png"))
    if name == "icons":
        # Font Awesome and the glyphicons are embedded: their fonts load with no request.
        loaded = visit.page.evaluate(
            """async () => [
                (await document.fonts.load('900 16px "Font Awesome 6 Free"')).length,
                (await document.fonts.load('16px "Glyphicons Halflings"')).length,
            ]"""
        )
        assert loaded == [1, 1]
        assert visit.page.locator(".awesome-marker:not(.awesome-marker-shadow)").count() == 2
    assert visit.requests == [url]
    assert visit.errors == []


def test_station_sits_on_its_gcj02_pixel_over_amap(
    site: PreviewServer, visit: Offline, screenshots: Path
) -> None:
    stations = gpd.read_file(SAMPLE / "stations.geojson").iloc[[5]]
    lon, lat = float(stations.geometry.x.iloc[0]), float(stations.geometry.y.iloc[0])
    glon, glat = wgs84_to_gcj02(lon, lat)
    map_name = open_map(visit.page, site.url("amap.html"))
    px = visit.page.evaluate(
        """([name, glat, glon, lat, lon]) => {
            const map = window[name];
            map.setView([glat, glon], 16, {animate: false});
            let drawn = null;
            map.eachLayer(l => { if (l instanceof L.CircleMarker && l._point) drawn = l; });
            const at = map.layerPointToContainerPoint(drawn._point);
            const gcj = map.latLngToContainerPoint([glat, glon]);
            const wgs = map.latLngToContainerPoint([lat, lon]);
            return {at: [at.x, at.y], gcj: [gcj.x, gcj.y], wgs: [wgs.x, wgs.y]};
        }""",
        [map_name, glat, glon, lat, lon],
    )
    visit.page.screenshot(path=str(screenshots / "amap.png"))
    assert abs(px["at"][0] - px["gcj"][0]) < 1 and abs(px["at"][1] - px["gcj"][1]) < 1
    # ... and not on its WGS84 pixel, hundreds of metres (many pixels at zoom 16) away.
    assert np.hypot(px["at"][0] - px["wgs"][0], px["at"][1] - px["wgs"][1]) > 50
    assert visit.outside and all("autonavi.com" in u for u in visit.outside)
    assert visit.errors == []
