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

Run as ``.venv/bin/python -m bench.maps`` (``--sizes 100000`` for a quick run); prints JSON
(``--markdown``: the RESULTS.md lines too). ``run()`` returns the figures and ``render()``
the markdown lines, for bench/run.py (``--only maps``).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
from folium.plugins import HeatMap

from bench.common import ok
from maps.base import Canvas
from maps.choropleth import choropleth
from maps.heat import heatmap, heatmap_over_time
from maps.offline import render as render_page
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
    html = render_page(make())
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


def run(sizes: list[int], repeat: int = 3) -> dict[str, Any]:
    """Build and measure every page at every size; the figures (see the module docs)."""
    from playwright.sync_api import sync_playwright

    results: dict[str, Any] = {
        "targets_1M": TARGETS,
        "repeat": repeat,
        "load_average_before": round(os.getloadavg()[0], 2),
        "sizes": {},
    }
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as p:
        folder = Path(tmp)
        browser = p.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-background-networking"]
        )
        with PreviewServer(folder) as server:
            for n in sizes:
                points = complaints(n)
                counts = grid_counts(points)
                pages: dict[str, Callable[[], folium.Map]] = {
                    "floor_empty_map": lambda: Canvas("空白").finish(),
                    "anchor_raw_heatmap": partial(raw_heatmap, points),
                    "heatmap": partial(heatmap, points),
                    "heatmap_by_week": partial(heatmap_over_time, points),
                    "choropleth_grids": partial(choropleth, counts, {"count": "投诉数"}),
                }
                size: dict[str, Any] = {"load_average_before": round(os.getloadavg()[0], 2)}
                for name, make in pages.items():
                    key = f"{name}_{n}"
                    figures = build(make, folder, key)
                    figures.update(measure(browser, server.url(f"{key}.html"), repeat))
                    size[name] = figures
                    print(f"{key}: {figures}", file=sys.stderr)
                anchor = size["anchor_raw_heatmap"]
                for name in PAGES:
                    figures = size[name]
                    figures["vs_anchor"] = {
                        k: round(figures[k] / anchor[k], 4) if anchor[k] else None
                        for k in ("html_gzip_bytes", "first_draw_ms", "redraw_ms")
                    }
                size["load_average_after"] = round(os.getloadavg()[0], 2)
                results["sizes"][str(n)] = size
        browser.close()
    results["load_average_after"] = round(os.getloadavg()[0], 2)
    return results


PAGES = {
    "heatmap": "heat map (maps.heat.heatmap: server-side bins)",
    "heatmap_by_week": "heat map by week (maps.heat.heatmap_over_time)",
    "choropleth_grids": "complaints per grid (maps.choropleth)",
}
"""The product's pages, as named in the report."""


def _mb(n: int) -> str:
    return f"{n / 1e6:.2f} MB" if n >= 100_000 else f"{n / 1e3:.0f} kB"


def render(r: dict[str, Any]) -> list[str]:
    """Markdown lines for bench/RESULTS.md: a table per size, the 1M targets."""
    t = r["targets_1M"]
    lines = [
        "## Maps for 100k and 1M complaints (bench/maps.py)",
        "",
        "Synthetic complaints over the sample district (40 clusters and a background, a year "
        "of timestamps; no database) through the builders of maps/, and, measured in the same "
        "run, the anchor: a raw folium `HeatMap` of the same points. Each page is served "
        "gzip-compressed from 127.0.0.1 and opened in Debian's headless Chromium with every "
        "other host cut off. *build* = builder + render + offline check in Python; *gzip* = "
        "the page alone, gzip -6; *transfer* = what the browser received for the page and its "
        "assets; *first draw* = navigation start to two animation frames after `load`, median "
        f"of {r.get('repeat', 3)} loads; *redraw* = `setZoom(±1)` without animation to two "
        "frames later, median of 6 per load. The empty map (no data) is the floor: what the "
        "browser and the machine cost before any data.",
        "",
    ]
    for n, size in r["sizes"].items():
        lines += [
            f"### {int(n):,} complaints (load average {size.get('load_average_before', '?')}"
            f" → {size.get('load_average_after', '?')})",
            "",
            "| page | build | HTML | gzip | transfer | first draw | redraw "
            "| gzip ÷ anchor | first draw ÷ anchor | redraw ÷ anchor |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        rows = [
            ("floor: an empty map", "floor_empty_map"),
            ("anchor: raw folium HeatMap", "anchor_raw_heatmap"),
        ]
        rows += [(f"**{label}**", key) for key, label in PAGES.items()]
        for label, key in rows:
            f = size.get(key)
            if not f:
                continue
            vs = f.get("vs_anchor") or {}
            ratios = " | ".join(
                "" if vs.get(k) is None else f"{vs[k]:.3f}"
                for k in ("html_gzip_bytes", "first_draw_ms", "redraw_ms")
            )
            if key == "anchor_raw_heatmap":
                ratios = "1 | 1 | 1"
            lines.append(
                f"| {label} | {f['build_s']} s | {_mb(f['html_bytes'])} "
                f"| {_mb(f['html_gzip_bytes'])} | {_mb(f['transfer_bytes'])} "
                f"| {f['first_draw_ms']:,} ms | {f['redraw_ms']:,} ms | {ratios} |"
            )
        errors = {
            k: f["console_errors"]
            for k, f in size.items()
            if isinstance(f, dict) and f.get("console_errors")
        }
        lines.append("")
        if errors:
            lines += [f"Console errors: {errors}", ""]
    big = r["sizes"].get("1000000")
    if big is None:
        lines += [
            "- targets for 1M complaints: not measured in this run (sizes: "
            + ", ".join(f"{int(n):,}" for n in r["sizes"])
            + ").",
            "",
        ]
        return lines
    lines.append(
        f"Targets for 1M complaints (issue 8): page ≤ {t['html_gzip_bytes'] / 1e6:.1f} MB gzip, "
        f"first draw ≤ {t['first_draw_ms']:.0f} ms, redraw after a zoom ≤ "
        f"{t['redraw_ms']:.0f} ms:"
    )
    lines.append("")
    for key, label in PAGES.items():
        f = big[key]
        lines.append(
            f"- {label}: payload {ok(f['html_gzip_bytes'] <= t['html_gzip_bytes'])} "
            f"({_mb(f['html_gzip_bytes'])}), first draw "
            f"{ok(f['first_draw_ms'] <= t['first_draw_ms'])} ({f['first_draw_ms']:,} ms; the "
            f"empty map's floor {big['floor_empty_map']['first_draw_ms']:,} ms), redraw "
            f"{ok(f['redraw_ms'] <= t['redraw_ms'])} ({f['redraw_ms']:,} ms)"
        )
    lines.append("")
    return lines


def main() -> None:
    """Run every size; print JSON (and the markdown with --markdown)."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--markdown", action="store_true", help="print RESULTS.md lines too")
    args = parser.parse_args()
    results = run(args.sizes, args.repeat)
    print(json.dumps(results, ensure_ascii=False, indent=2))
    if args.markdown:
        print("\n".join(render(results)))


if __name__ == "__main__":
    main()
