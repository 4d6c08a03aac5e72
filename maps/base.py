"""The frame every map shares: base layer from settings, title, legend, layer control.

Base layers (``CG_MAP_BASE_LAYER``):

``none`` (default)
    no tiles, a plain background: works with no network at all.
``tianditu``
    天地图 vector tiles and labels, Web Mercator on CGCS2000, so WGS84 overlays line
    up as they are. Needs ``CG_TIANDITU_KEY``.
``amap``
    高德 tiles in GCJ-02: every overlay is shifted to GCJ-02 for display, once, through
    :meth:`Canvas.points` / :meth:`Canvas.frame` (``maps.geo``).

Tile URLs of these two are the only external references :func:`maps.offline.render`
lets through (:func:`tile_url_allowed`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

import folium
import geopandas as gpd
import numpy as np
import numpy.typing as npt
from branca.element import Element, MacroElement
from jinja2 import Template

from gis.settings import Settings, get_settings
from maps.geo import GCJ02, WGS84, esc, points_to_display, to_display

__all__ = [
    "BASE_LAYERS",
    "BaseName",
    "Canvas",
    "Legend",
    "LegendItem",
    "tile_url_allowed",
]

BaseName = Literal["none", "tianditu", "amap"]

# Pengjiang district (蓬江区), the default view when a map has no data.
_DEFAULT_BOUNDS: Final = ((22.55, 112.95), (22.80, 113.20))

_TIANDITU_URL: Final = (
    "https://t{s}.tianditu.gov.cn/{layer}_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0"
    "&LAYER={layer}&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles"
    "&TILEMATRIX={z}&TILEROW={y}&TILECOL={x}&tk={key}"
)
_AMAP_URL: Final = (
    "https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8"
    "&x={x}&y={y}&z={z}"
)
_TILE_HOSTS: Final = (
    re.compile(r"https://t(?:\{s\}|[0-7])\.tianditu\.gov\.cn/(?:vec|cva)_w/wmts\?.*"),
    re.compile(r"https://webrd0(?:\{s\}|[1-4])\.is\.autonavi\.com/appmaptile\?.*"),
)


@dataclass(frozen=True)
class BaseLayerSpec:
    """What a base layer needs: its display CRS and a title for the layer control."""

    name: BaseName
    title: str
    display_crs: str


BASE_LAYERS: Final[dict[str, BaseLayerSpec]] = {
    "none": BaseLayerSpec("none", "无底图", WGS84),
    "tianditu": BaseLayerSpec("tianditu", "天地图", WGS84),
    "amap": BaseLayerSpec("amap", "高德地图", GCJ02),
}


def tile_url_allowed(url: str) -> bool:
    """Whether an external URL is a tile template of a supported online base layer."""
    return any(p.fullmatch(url) for p in _TILE_HOSTS)


@dataclass(frozen=True)
class LegendItem:
    """One row of a legend: a colour swatch (fill) and its Chinese label.

    For ``shape="ramp"`` the colour is a comma-separated list of colours (a gradient).
    """

    colour: str
    label: str
    shape: Literal["box", "dot", "ramp"] = "box"


_HEX = re.compile(r"#[0-9a-fA-F]{3,8}|[a-z]{3,20}")


class Legend(MacroElement):
    """A legend in the map's bottom-right corner: title, rows, an optional note.

    All text is escaped here. With ``layer`` the legend shows only while that layer
    is on the map (for maps with several alternative layers).
    """

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        (function () {
            var legend = L.control({position: "bottomright"});
            legend.onAdd = function () {
                var div = L.DomUtil.create("div", "cg-legend");
                div.innerHTML = {{ this.html|tojson }};
                L.DomEvent.disableClickPropagation(div);
                return div;
            };
            var map = {{ this._parent.get_name() }};
            {%- if this.layer_name %}
            var layer = {{ this.layer_name }};
            if (map.hasLayer(layer)) { legend.addTo(map); }
            map.on("overlayadd", function (e) { if (e.layer === layer) legend.addTo(map); });
            map.on("overlayremove", function (e) { if (e.layer === layer) legend.remove(); });
            {%- else %}
            legend.addTo(map);
            {%- endif %}
        })();
        {% endmacro %}
        """
    )

    def __init__(
        self,
        title: str,
        items: Sequence[LegendItem],
        note: str = "",
        layer: folium.map.Layer | None = None,
    ) -> None:
        super().__init__()
        self._name = "Legend"
        self.layer_name = layer.get_name() if layer is not None else ""
        rows = []
        for item in items:
            if item.shape == "ramp":
                stops = [c for c in item.colour.split(",") if _HEX.fullmatch(c)]
                ramp = f"linear-gradient(to right,{','.join(stops)})"
                swatch = f'<i class="cg-ramp" style="background:{ramp}"></i>'
            else:
                colour = item.colour if _HEX.fullmatch(item.colour) else "#999"
                radius = "50%" if item.shape == "dot" else "2px"
                swatch = f'<i style="background:{colour};border-radius:{radius}"></i>'
            rows.append(f"<div>{swatch}{esc(item.label)}</div>")
        note_html = f'<div class="cg-note">{esc(note)}</div>' if note else ""
        self.html = f"<b>{esc(title)}</b>{''.join(rows)}{note_html}"


_PAGE_STYLE: Final = """
<style>
  html body .leaflet-container { background: #eef0f3; }
  .cg-legend, .cg-title { background: rgba(255,255,255,.92); padding: 6px 10px;
    border-radius: 4px; box-shadow: 0 1px 4px rgba(0,0,0,.3); font: 13px/1.5 sans-serif; }
  .cg-legend i { display: inline-block; width: 14px; height: 14px; margin-right: 6px;
    vertical-align: -2px; border: 1px solid rgba(0,0,0,.25); }
  .cg-legend i.cg-ramp { width: 90px; }
  .cg-legend .cg-note { margin-top: 4px; color: #555; font-size: 12px; max-width: 240px; }
  .cg-title { font-size: 15px; font-weight: bold; }
  .cg-popup td, .cg-popup th { padding: 1px 6px 1px 0; vertical-align: top; }
  .cg-popup th { white-space: nowrap; color: #555; font-weight: normal; }
</style>
"""


class _Title(MacroElement):
    """The map's title, top-left beside the zoom buttons (escaped)."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        (function () {
            var title = L.control({position: "topright"});
            title.onAdd = function () {
                var div = L.DomUtil.create("div", "cg-title");
                div.innerHTML = {{ this.html|tojson }};
                return div;
            };
            title.addTo({{ this._parent.get_name() }});
        })();
        {% endmacro %}
        """
    )

    def __init__(self, text: str, subtitle: str = "") -> None:
        super().__init__()
        self._name = "Title"
        sub = f'<div style="font-weight:normal;font-size:12px">{esc(subtitle)}</div>'
        self.html = esc(text) + (sub if subtitle else "")


_LEAN_JS: Final = frozenset({"leaflet", "jquery"})
_LEAN_CSS: Final = frozenset({"leaflet_css"})
_ZOOM_RANGE: Final[dict[str, Any]] = {"minZoom": 8, "maxZoom": 19}


class Canvas:
    """A new folium map on the configured base layer, and the display shift for its overlays.

    Builders make one Canvas, convert their WGS84 data with :meth:`points` /
    :meth:`frame`, add layers to :attr:`map`, then call :meth:`finish` (legend, layer
    control, view). ``base`` overrides the setting (``None``: from settings). Pass
    ``icons=True`` to keep Bootstrap and Font Awesome for ``folium.Icon`` markers.
    """

    def __init__(
        self,
        title: str,
        subtitle: str = "",
        base: BaseName | None = None,
        settings: Settings | None = None,
        icons: bool = False,
    ) -> None:
        self.settings = settings or get_settings()
        name = base or self.settings.map_base_layer
        if name not in BASE_LAYERS:
            raise ValueError(f"unknown base layer {name!r}; choose one of {sorted(BASE_LAYERS)}")
        self.base = BASE_LAYERS[name]
        self.map = folium.Map(
            location=None,
            tiles=None,
            prefer_canvas=True,
            control_scale=True,
            zoom_control=True,
            # The map's own zoom range (no tile layer sets one when there are no tiles;
            # marker clusters need it).
            **_ZOOM_RANGE,
        )
        if not icons:
            # This map only: folium's Map loads Bootstrap, Font Awesome and
            # awesome-markers for its Icon markers; pages without them load less.
            self.map.default_js = [a for a in folium.Map.default_js if a[0] in _LEAN_JS]
            self.map.default_css = [a for a in folium.Map.default_css if a[0] in _LEAN_CSS]
        root: Any = self.map.get_root()
        root.header.add_child(Element(_PAGE_STYLE), name="cg_style")
        root.title = esc(title)
        self._add_base_layer()
        self.map.add_child(_Title(title, subtitle))
        self._bounds: list[tuple[float, float]] = []

    @property
    def display_crs(self) -> str:
        """``wgs84`` or ``gcj02``: the CRS every overlay is drawn in."""
        return self.base.display_crs

    def _add_base_layer(self) -> None:
        if self.base.name == "tianditu":
            key = self.settings.tianditu_key
            if not key:
                raise ValueError("the Tianditu base layer needs a key: set CG_TIANDITU_KEY")
            for layer, title, overlay in (("vec", "天地图", False), ("cva", "天地图注记", True)):
                folium.TileLayer(
                    tiles=_TIANDITU_URL.replace("{layer}", layer).replace("{key}", key),
                    attr="天地图",
                    name=title,
                    subdomains="01234567",
                    overlay=overlay,
                    control=True,
                    max_zoom=18,
                ).add_to(self.map)
        elif self.base.name == "amap":
            folium.TileLayer(
                tiles=_AMAP_URL,
                attr="高德地图",
                name="高德地图",
                subdomains="1234",
                max_zoom=18,
            ).add_to(self.map)

    def points(
        self, lon: npt.ArrayLike, lat: npt.ArrayLike
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """WGS84 lon/lat arrays in the display CRS (and remembered for the view)."""
        x, y = points_to_display(lon, lat, self.display_crs)
        if x.size:
            self._bounds += [
                (float(np.min(y)), float(np.min(x))),
                (float(np.max(y)), float(np.max(x))),
            ]
        return x, y

    def add_style(self, css: str, name: str) -> None:
        """Add a ``<style>`` block (our own CSS, never user text) to the page's head."""
        root: Any = self.map.get_root()
        root.header.add_child(Element(css), name=name)

    def frame(self, gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
        """A WGS84 GeoDataFrame in the display CRS (and remembered for the view)."""
        out = to_display(gdf, self.display_crs)
        if not out.empty:
            minx, miny, maxx, maxy = (float(v) for v in out.total_bounds)
            if np.isfinite([minx, miny, maxx, maxy]).all():
                self._bounds += [(miny, minx), (maxy, maxx)]
        return out

    def finish(self, *legends: Legend) -> folium.Map:
        """Add the legends and a layer control, fit the view to the data; return the map."""
        for legend in legends:
            self.map.add_child(legend)
        folium.LayerControl(collapsed=False, position="topleft").add_to(self.map)
        if self._bounds:
            lats = [b[0] for b in self._bounds]
            lons = [b[1] for b in self._bounds]
            self.map.fit_bounds([[min(lats), min(lons)], [max(lats), max(lons)]])
        else:
            self.map.fit_bounds([list(_DEFAULT_BOUNDS[0]), list(_DEFAULT_BOUNDS[1])])
        return self.map


def js_data(value: object) -> str:
    """Compact JSON for embedding in a script (no spaces; ``<``, ``>``, ``&`` escaped)."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
