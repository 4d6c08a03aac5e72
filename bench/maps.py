"""Map pages for 100k and 1M complaints: build time, payload, first draw and redraw.

For each size, synthetic complaints over the sample district (clusters plus background,
one year of timestamps; no database) go through the builders of maps/ and, as the
anchor measured in the same run, through a raw folium HeatMap of the same points.
Each page is served gzip-compressed from 127.0.0.1 (maps.preview) and opened in
Debian's headless Chromium with the network cut off:

- ``build_s``: builder + render + offline check, in this process;
- ``html_bytes`` / ``html_gzip_bytes``: the page itself; ``transfer_bytes``: what the
  browser received for the page and its assets (compressed, from Resource Timing);
- ``first_draw_ms``: navigation start to two animation frames after ``load``
  (a performance mark set by an init script), median of ``--repeat`` loads;
- ``redraw_ms``: ``setZoom(±1)`` without animation to two frames later, median.

``floor_empty_map`` (a map with no data) shows what the browser and machine cost
before any data: on a loaded machine it is most of every first draw.

Run as ``.venv/bin/python -m bench.maps`` (``--sizes 100000`` for a quick run); prints JSON.
"""

from __future__ import annotations

import argparse
import gzip
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
from folium.plugins import HeatMap

from maps.base import Canvas
from maps.choropleth import choropleth
from maps.heat import heatmap, heatmap_over_time
from maps.offline import render
from maps.preview import PreviewServer

ROOT = Path(__file__).resolve().parent.parent

CHROMIUM = "/usr/bin/chromium"
TARGETS = {"html_gzip_bytes": 500_000, "first_draw_ms": 500.0, "redraw_ms": 100.0}

MARK_DRAWN = """
window.addEventListener("load", () => requestAnimationFrame(() => requestAnimationFrame(
    () => performance.mark("cg-drawn"))));
"""
FIND_MAP = """() => Object.keys(window)
    .find(k => k.startsWith("map_") && window[k] instanceof L.Map) || null"""
REDRAW = """async ([name, times]) => {
    const map = window[name];
    const frames = () => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
    const out = [];
    for (let i = 0; i < times; i++) {
        const dz = i % 2 === 0 ? 1 : -1;
        const t0 = performance.now();
        map.setZoom(map.getZoom() + dz, {animate: false});
        await frames();
        out.push(performance.now() - t0);
    }
    return out;
}"""
TRANSFER = """() => {
    const nav = performance.getEntriesByType("navigation")[0];
    const res = performance.getEntriesByType("resource");
    return nav.transferSize + res.reduce((s, e) => s + e.transferSize, 0);
}"""


def complaints(n: int, seed: int = 1) -> pd.DataFrame:
    """n synthetic complaints over the sample grids' extent: 40 clusters and a background."""
    rng = np.random.default_rng(seed)
    grids = gpd.read_file(ROOT / "data" / "sample" / "grids.geojson")
    x0, y0, x1, y1 = grids.total_bounds
    centres = rng.uniform([x0, y0], [x1, y1], size=(40, 2))
    k = rng.integers(0, 40, n)
    spread = rng.uniform(0.002, 0.012, 40)[k]
    background = rng.random(n) < 0.2
    lon = np.where(background, rng.uniform(x0, x1, n), centres[k, 0] + rng.normal(0, 1, n) * spread)
    lat = np.where(background, rng.uniform(y0, y1, n), centres[k, 1] + rng.normal(0, 1, n) * spread)
    seconds = rng.integers(0, 365 * 86400, n)
    when = pd.Timestamp("2026-01-01") + pd.to_timedelta(seconds, unit="s")
    return pd.DataFrame(
        {"lon": np.clip(lon, x0, x1), "lat": np.clip(lat, y0, y1), "reported_at": when}
    )


def raw_heatmap(points: pd.DataFrame) -> folium.Map:
    """The anchor: every point in a folium HeatMap, as one would write it naively."""
    m = folium.Map(location=[22.62, 113.08], zoom_start=12, tiles=None, max_zoom=19)
    HeatMap(points[["lat", "lon"]].to_numpy()).add_to(m)
    return m


def grid_counts(points: pd.DataFrame) -> gpd.GeoDataFrame:
    """Complaints per sample grid (what the server's query would hand the choropleth)."""
    grids = gpd.read_file(ROOT / "data" / "sample" / "grids.geojson")
    pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(points["lon"], points["lat"]), crs=4326)
    joined = gpd.sjoin(pts, grids[["code", "geometry"]], predicate="within")
    counts = joined.groupby("code").size()
    grids["count"] = grids["code"].map(counts).fillna(0).astype(int)
    return grids


def build(make: Callable[[], folium.Map], folder: Path, name: str) -> dict[str, Any]:
    """Build and render one page into folder; sizes and build time."""
    t0 = time.perf_counter()
    html = render(make())
    seconds = time.perf_counter() - t0
    (folder / f"{name}.html").write_text(html, encoding="utf-8")
    data = html.encode("utf-8")
    return {
        "build_s": round(seconds, 2),
        "html_bytes": len(data),
        "html_gzip_bytes": len(gzip.compress(data, 6)),
    }


def measure(browser: Any, url: str, repeat: int) -> dict[str, Any]:
    """First draw (median of loads) and redraw after zoom (median) of one page."""
    draws: list[float] = []
    redraws: list[float] = []
    transfer = 0
    errors: list[str] = []
    for _ in range(repeat):
        context = browser.new_context(
            service_workers="block", viewport={"width": 1200, "height": 850}
        )
        context.route(
            "**/*",
            lambda route: (
                route.continue_()
                if route.request.url.startswith("http://127.0.0.1")
                else route.abort()
            ),
        )
        context.add_init_script(MARK_DRAWN)
        page = context.new_page()
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(url, wait_until="load", timeout=180_000)
        page.wait_for_function(
            "() => performance.getEntriesByName('cg-drawn').length > 0", timeout=180_000
        )
        draws.append(page.evaluate("() => performance.getEntriesByName('cg-drawn')[0].startTime"))
        transfer = int(page.evaluate(TRANSFER))
        name = page.evaluate(FIND_MAP)
        redraws += page.evaluate(REDRAW, [name, 6])
        context.close()
    return {
        "transfer_bytes": transfer,
        "first_draw_ms": round(statistics.median(draws), 1),
        "redraw_ms": round(statistics.median(redraws), 1),
        "console_errors": errors[:3],
    }


def main() -> None:
    """Run every size; print JSON."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    results: dict[str, Any] = {"targets_1M": TARGETS, "sizes": {}}
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as p:
        folder = Path(tmp)
        browser = p.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-background-networking"]
        )
        with PreviewServer(folder) as server:
            for n in args.sizes:
                points = complaints(n)
                counts = grid_counts(points)
                pages: dict[str, Callable[[], folium.Map]] = {
                    "floor_empty_map": lambda: Canvas("空白").finish(),
                    "anchor_raw_heatmap": lambda pts=points: raw_heatmap(pts),
                    "heatmap": lambda pts=points: heatmap(pts),
                    "heatmap_by_week": lambda pts=points: heatmap_over_time(pts),
                    "choropleth_grids": lambda g=counts: choropleth(g, {"count": "投诉数"}),
                }
                size: dict[str, Any] = {}
                for name, make in pages.items():
                    key = f"{name}_{n}"
                    figures = build(make, folder, key)
                    figures.update(measure(browser, server.url(f"{key}.html"), args.repeat))
                    size[name] = figures
                    print(f"{key}: {figures}", file=sys.stderr)
                anchor = size["anchor_raw_heatmap"]
                for name, figures in size.items():
                    if name in ("anchor_raw_heatmap", "floor_empty_map"):
                        continue
                    figures["vs_anchor"] = {
                        k: round(figures[k] / anchor[k], 4) if anchor[k] else None
                        for k in ("html_gzip_bytes", "first_draw_ms", "redraw_ms")
                    }
                results["sizes"][str(n)] = size
        browser.close()
    print(json.dumps(results, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
