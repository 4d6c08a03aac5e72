"""Map builders without a browser: offline pages, Chinese legends, escaping, GCJ-02, size.

The pages are rendered as the app would serve them (assets at /static) and read back
with an HTML parser: what a browser would fetch, what a user would read.
"""

from __future__ import annotations

import gzip
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from folium.plugins import Fullscreen

from gis.crs import wgs84_to_gcj02
from gis.settings import ROOT, get_settings
from maps.base import Canvas
from maps.choropleth import choropleth
from maps.export import save_standalone
from maps.heat import heatmap, heatmap_over_time
from maps.hotspots import EMERGING_PATTERNS, HOTSPOT_CLASSES, emerging, hotspots
from maps.offline import STATIC_DIR, ExternalReferenceError, missing_assets, render
from maps.operations import operations

SAMPLE = ROOT / "data" / "sample"
PWN = '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=1">'
FDR = "Benjamini–Hochberg（正态近似 p 值）"


# ------------------------------------------------------------------ data


@pytest.fixture(scope="module")
def grids() -> gpd.GeoDataFrame:
    g = gpd.read_file(SAMPLE / "grids.geojson")
    rng = np.random.default_rng(7)
    g["name"] = "网格 " + g["code"].str[-3:]
    g.loc[0, "name"] = PWN
    g["count"] = rng.poisson(40, len(g))
    g["rate"] = g["count"] / g.to_crs("EPSG:4547").area * 1e6
    g["hotspot_class"] = rng.choice(list(HOTSPOT_CLASSES), len(g))
    g["pattern"] = rng.choice(list(EMERGING_PATTERNS), len(g))
    g["gi_z"] = rng.normal(0, 2, len(g))
    g["p_value"] = rng.uniform(0, 1, len(g))
    return g


@pytest.fixture(scope="module")
def stations() -> gpd.GeoDataFrame:
    s = gpd.read_file(SAMPLE / "stations.geojson")
    s.loc[0, "name"] = PWN
    return s


@pytest.fixture(scope="module")
def squads(grids: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    c = gpd.read_file(SAMPLE / "communities.geojson")
    out = c.dissolve(by="squad_code").reset_index()[["squad_code", "geometry"]]
    return out.rename(columns={"squad_code": "code"}).assign(name="执法中队")


@pytest.fixture(scope="module")
def cases(grids: gpd.GeoDataFrame) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    x0, y0, x1, y1 = grids.total_bounds
    n = 300
    return pd.DataFrame(
        {
            "lon": rng.uniform(x0, x1, n),
            "lat": rng.uniform(y0, y1, n),
            "overdue": rng.random(n) < 0.3,
            "case_no": [f"AJ{i:05d}" for i in range(n)],
            "description": PWN,
            "address": "蓬江区 <b>某路</b> 1 号",
            "reported_at": pd.Timestamp("2026-03-02 09:30"),
        }
    )


def complaints(n: int, seed: int = 1) -> pd.DataFrame:
    """Synthetic complaints over the sample district: clustered plus background."""
    rng = np.random.default_rng(seed)
    g = gpd.read_file(SAMPLE / "grids.geojson")
    x0, y0, x1, y1 = g.total_bounds
    centres = rng.uniform([x0, y0], [x1, y1], size=(40, 2))
    k = rng.integers(0, 40, n)
    spread = rng.uniform(0.002, 0.01, 40)[k]
    lon = np.clip(centres[k, 0] + rng.normal(0, 1, n) * spread, x0, x1)
    lat = np.clip(centres[k, 1] + rng.normal(0, 1, n) * spread, y0, y1)
    seconds = rng.integers(0, 365 * 86400, n)
    when = pd.Timestamp("2026-01-01") + pd.to_timedelta(seconds, unit="s")
    return pd.DataFrame({"lon": lon, "lat": lat, "reported_at": when})


# ------------------------------------------------------------------ reading pages


class _Refs(HTMLParser):
    """Every URL an element would load or link to."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in {"src", "href", "action", "poster", "data", "srcset"} and value:
                self.urls.append(value)


def references(html: str) -> list[str]:
    parser = _Refs()
    parser.feed(html)
    return parser.urls


def texts_shown(html: str) -> str:
    """The HTML that the page's controls (legend, title) put on screen, decoded."""
    found = re.findall(r"div\.innerHTML = (\"(?:[^\"\\]|\\.)*\");", html)
    return "\n".join(json.loads(s) for s in found)


def assert_offline(html: str) -> None:
    urls = references(html)
    assert urls, "a map page loads Leaflet at least"
    for url in urls:
        assert url.startswith("/static/vendor/"), url
        assert (STATIC_DIR / url.removeprefix("/static/")).is_file(), f"{url} not installed"
    assert not re.search(r"https?://", html), re.findall(r"https?://[^\s\"']+", html)[:5]
    assert not re.search(r"""(?:src|href)\s*=\s*["']?//""", html)


BUILDERS = {
    "heatmap": lambda g, s, q, c: heatmap(complaints(5_000)),
    "heatmap_over_time": lambda g, s, q, c: heatmap_over_time(complaints(5_000)),
    "choropleth": lambda g, s, q, c: choropleth(g, {"count": "投诉数", "rate": "每平方公里投诉数"}),
    "hotspots": lambda g, s, q, c: hotspots(g, fdr_method=FDR),
    "emerging": lambda g, s, q, c: emerging(g),
    "operations": lambda g, s, q, c: operations(
        stations=s, squads=q, officers=pd.read_csv(SAMPLE / "officers.csv").head(40), cases=c
    ),
}
LEGEND_WORDS = {
    "heatmap": ["投诉密度", "少 → 多"],
    "heatmap_over_time": ["投诉密度（每周）"],
    "choropleth": ["投诉数（按网格）", "分位数"],
    "hotspots": ["Gi* 显著性", "热点（99% 置信度）", "不显著", f"多重检验校正：{FDR}"],
    "emerging": ["时空模式", "新增热点", "持续冷点"],
    "operations": ["图例", "社区城管服务站", "超期案件", "执法中队辖区"],
}


@pytest.fixture(scope="module")
def pages(
    grids: gpd.GeoDataFrame,
    stations: gpd.GeoDataFrame,
    squads: gpd.GeoDataFrame,
    cases: pd.DataFrame,
) -> dict[str, str]:
    return {k: render(build(grids, stations, squads, cases)) for k, build in BUILDERS.items()}


# ------------------------------------------------------------------ tests


def test_assets_are_installed() -> None:
    assert missing_assets() == [], "run scripts/assets.sh"


@pytest.mark.parametrize("name", list(BUILDERS))
def test_page_refers_to_no_external_host(pages: dict[str, str], name: str) -> None:
    assert_offline(pages[name])


@pytest.mark.parametrize("name", list(BUILDERS))
def test_page_has_chinese_legend_and_layer_control(pages: dict[str, str], name: str) -> None:
    html = pages[name]
    shown = texts_shown(html)
    for word in LEGEND_WORDS[name]:
        assert word.replace("&", "&amp;") in shown, word
    assert "L.control.layers(" in html


@pytest.mark.parametrize("name", ["choropleth", "hotspots", "emerging", "operations"])
def test_user_text_is_escaped(pages: dict[str, str], name: str) -> None:
    html = pages[name]
    assert "window.__pwned" in html  # the text is there, as text
    assert "<script>window.__pwned" not in html
    assert "<img src=x" not in html
    assert "\\u003cscript\\u003ewindow" not in html  # not as markup inside JSON either
    assert "\\u0026lt;script\\u0026gt;window.__pwned" in html


def test_class_level_asset_lists_are_untouched(pages: dict[str, str]) -> None:
    assert any(url.startswith("https://") for _, url in folium.Map.default_js)


def test_gcj02_shift_for_amap(stations: gpd.GeoDataFrame) -> None:
    one = stations.iloc[[3]]
    lon, lat = one.geometry.x.iloc[0], one.geometry.y.iloc[0]
    glon, glat = wgs84_to_gcj02(lon, lat)
    shifted = render(operations(stations=one, base="amap"))
    plain = render(operations(stations=one, base="none"))
    at = '"coordinates": [{:.6f}, {:.6f}]'
    assert at.format(round(glon, 6), round(glat, 6)).replace(".000000", ".0") in shifted or (
        f"[{round(glon, 6)}, {round(glat, 6)}]" in shifted
    )
    assert f"[{round(lon, 6)}, {round(lat, 6)}]" in plain
    assert f"[{round(lon, 6)}, {round(lat, 6)}]" not in shifted
    assert "webrd0{s}.is.autonavi.com" in shifted  # the one external reference allowed


def test_gcj02_shift_for_polygons_and_heat(grids: gpd.GeoDataFrame) -> None:
    first = grids.iloc[[0]][["code", "count", "geometry"]]
    x, y = first.geometry.iloc[0].exterior.coords[0]
    gx, gy = wgs84_to_gcj02(x, y)
    page = render(choropleth(first, {"count": "投诉数"}, base="amap"))
    assert f"[{round(gx, 6)}, {round(gy, 6)}]" in page
    pts = pd.DataFrame({"lon": [113.08], "lat": [22.60]})
    hx, hy = wgs84_to_gcj02(113.08, 22.60)
    heat = render(heatmap(pts, base="amap"))
    assert f"[{round(hy, 5)}, {round(hx, 5)}, 1.0]" in heat


def test_tianditu_needs_its_key(monkeypatch: pytest.MonkeyPatch) -> None:
    pts = pd.DataFrame({"lon": [113.08], "lat": [22.60]})
    monkeypatch.delenv("CG_TIANDITU_KEY", raising=False)
    get_settings.cache_clear()
    with pytest.raises(ValueError, match="CG_TIANDITU_KEY"):
        heatmap(pts, base="tianditu")
    monkeypatch.setenv("CG_TIANDITU_KEY", "k123")
    get_settings.cache_clear()
    try:
        page = render(heatmap(pts, base="tianditu"))
    finally:
        get_settings.cache_clear()
    assert "tianditu.gov.cn/vec_w/wmts" in page and "tianditu.gov.cn/cva_w/wmts" in page
    assert "[22.6, 113.08, 1.0]" in page  # CGCS2000 tiles: no shift


def test_an_unknown_cdn_asset_fails_loudly() -> None:
    m = heatmap(pd.DataFrame({"lon": [113.08], "lat": [22.6]}))
    Fullscreen().add_to(m)
    with pytest.raises(ExternalReferenceError) as err:
        render(m)
    assert "leaflet.fullscreen" in str(err.value)


def icon_map() -> folium.Map:
    """A page with folium's Icon markers: Bootstrap, Font Awesome, glyphicons, images."""
    canvas = Canvas("图标", icons=True)
    folium.Marker([22.6, 113.08], icon=folium.Icon(prefix="fa", icon="house")).add_to(canvas.map)
    folium.Marker([22.61, 113.09], icon=folium.Icon(icon="info-sign")).add_to(canvas.map)
    return canvas.finish()


def test_lean_pages_load_only_what_they_use(pages: dict[str, str]) -> None:
    assert "bootstrap" not in " ".join(references(pages["choropleth"]))
    icons = references(render(icon_map()))
    assert any("fontawesome" in u for u in icons) and any("glyphicons" in u for u in icons)


def test_standalone_page_has_everything_inside(tmp_path: Path, stations: gpd.GeoDataFrame) -> None:
    path = save_standalone(icon_map(), tmp_path / "icons.html")
    html = path.read_text(encoding="utf-8")
    assert references(html) == []  # no src/href at all: scripts and styles are inline
    assert not re.search(r"https?://", html.split("<body>")[1])
    assert "Leaflet 1.9.4" in html
    assert "data:font/woff2;base64," in html  # Font Awesome's fonts, embedded
    assert "data:image/png;base64," in html  # awesome-markers' sprite
    ops = save_standalone(operations(stations=stations), tmp_path / "ops.html")
    assert references(ops.read_text(encoding="utf-8")) == []


def test_standalone_copy_mode_copies_the_assets_it_uses(tmp_path: Path) -> None:
    m = heatmap(pd.DataFrame({"lon": [113.08], "lat": [22.6]}))
    path = save_standalone(m, tmp_path / "heat.html", assets="copy")
    urls = references(path.read_text(encoding="utf-8"))
    assert urls and all(u.startswith("./vendor/") for u in urls)
    for url in urls:
        assert (tmp_path / url).is_file()
    leaflet_images = tmp_path / "vendor/leaflet/dist/images/layers.png"
    assert leaflet_images.is_file()  # what leaflet.css refers to comes along


def test_raw_points_below_the_threshold_cells_above(monkeypatch: pytest.MonkeyPatch) -> None:
    few = complaints(500)
    assert "原始点位，共 500 件" in texts_shown(render(heatmap(few)))
    monkeypatch.setenv("CG_MAP_RAW_POINTS_MAX", "200")
    get_settings.cache_clear()
    try:
        page = render(heatmap(few))
    finally:
        get_settings.cache_clear()
    shown = texts_shown(page)
    assert "米方格汇总，共 500 件" in shown
    data = json.loads(re.search(r"L\.heatLayer\(\s*(\[.*?\]\]),", page, re.S).group(1))
    assert 0 < len(data) <= 200


def test_server_side_cells_keep_their_counts() -> None:
    cells = pd.DataFrame({"lon": [113.07, 113.09], "lat": [22.60, 22.61], "count": [10, 990]})
    page = render(heatmap(cells))
    assert "服务器汇总的网格，共 1,000 件" in texts_shown(page)


def test_many_open_cases_are_aggregated(monkeypatch: pytest.MonkeyPatch) -> None:
    many = complaints(3_000).assign(overdue=False)
    monkeypatch.setenv("CG_MAP_MARKERS_MAX", "500")
    get_settings.cache_clear()
    try:
        page = render(operations(cases=many))
    finally:
        get_settings.cache_clear()
    assert "未结案件：3,000 件，按" in texts_shown(page)
    assert "L.markerClusterGroup" not in page.split("</head>")[1].split("超期案件")[0]


def test_bad_inputs_are_refused(grids: gpd.GeoDataFrame) -> None:
    with pytest.raises(ValueError, match="WGS84"):
        heatmap(pd.DataFrame({"lon": [500000.0], "lat": [2500000.0]}))
    with pytest.raises(ValueError, match="EPSG:4326"):
        choropleth(grids.to_crs("EPSG:4547"), {"count": "投诉数"})
    wrong = grids.assign(hotspot_class="very_hot")
    with pytest.raises(ValueError, match="very_hot"):
        hotspots(wrong, fdr_method=FDR)
    with pytest.raises(ValueError, match="FDR"):
        hotspots(grids, fdr_method=" ")
    with pytest.raises(ValueError, match="periods"):
        heatmap_over_time(complaints(1_000), freq="D", max_frames=30)


def test_payload_of_a_year_of_one_million_complaints() -> None:
    """Issue 8's target: the first page of 1M complaints is at most 0.5 MB gzip."""
    year = complaints(1_000_000)
    for build in (heatmap, heatmap_over_time):
        page = render(build(year))
        assert_offline(page)
        size = len(gzip.compress(page.encode("utf-8"), 6))
        assert size <= 500_000, (build.__name__, size)
