"""Overlay layers shared by the builders: coloured polygons and point symbols, with tooltips.

Each takes a frame already in the display CRS (``Canvas.frame``), sends light GeoJSON
(:func:`maps.geo.light_features`: simplified, rounded, text escaped) and styles it by a
colour per row. Tooltips show named columns with Chinese aliases, escaped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import folium
import geopandas as gpd
import pandas as pd

from maps.geo import esc, light_features

__all__ = ["point_layer", "polygon_layer", "require_columns"]

_FILL = "_fill"


def require_columns(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    """Raise ValueError naming the columns a builder needs and ``frame`` lacks."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{what} need column(s): {', '.join(missing)}")


def _tooltip(fields: Mapping[str, str], data: Mapping[str, Any]) -> folium.GeoJsonTooltip | None:
    """A tooltip of ``{column: 中文名}``; none for a layer without features (folium
    checks the fields against the first feature, and an empty scope has none)."""
    if not fields or not data["features"]:
        return None
    return folium.GeoJsonTooltip(
        fields=list(fields),
        aliases=[esc(a) for a in fields.values()],
        localize=False,
        sticky=True,
        labels=True,
    )


def _with_fill(frame: gpd.GeoDataFrame, colours: Sequence[str] | pd.Series) -> gpd.GeoDataFrame:
    out = frame.copy()
    out[_FILL] = list(colours)
    return out


def polygon_layer(
    frame: gpd.GeoDataFrame,
    colours: Sequence[str] | pd.Series,
    *,
    name: str,
    tooltip: Mapping[str, str],
    tolerance_m: float,
    show: bool = True,
    line_colour: str = "#555",
    fill_opacity: float = 0.7,
) -> folium.GeoJson:
    """Polygons filled with one colour per row; a tooltip of ``{column: 中文名}``."""
    data = light_features(_with_fill(frame, colours), [*tooltip, _FILL], tolerance_m)

    def style(feature: dict[str, Any]) -> dict[str, Any]:
        return {
            "fillColor": feature["properties"][_FILL],
            "color": line_colour,
            "weight": 0.6,
            "fillOpacity": fill_opacity,
        }

    return folium.GeoJson(
        data,
        name=name,
        style_function=style,
        highlight_function=lambda _f: {"weight": 2.5, "color": "#000"},
        tooltip=_tooltip(tooltip, data),
        show=show,
        smooth_factor=1.0,
    )


def outline_layer(
    frame: gpd.GeoDataFrame,
    *,
    name: str,
    tooltip: Mapping[str, str],
    tolerance_m: float,
    colour: str,
    show: bool = True,
) -> folium.GeoJson:
    """Polygons drawn as outlines only (areas of responsibility)."""
    data = light_features(frame, list(tooltip), tolerance_m)
    return folium.GeoJson(
        data,
        name=name,
        style_function=lambda _f: {
            "color": colour,
            "weight": 2,
            "fillColor": colour,
            "fillOpacity": 0.05,
            "dashArray": "6 4",
        },
        tooltip=_tooltip(tooltip, data),
        show=show,
    )


def point_layer(
    frame: gpd.GeoDataFrame,
    *,
    name: str,
    colour: str,
    radius: float | Sequence[float],
    tooltip: Mapping[str, str],
    popup: Mapping[str, str] | None = None,
    show: bool = True,
) -> folium.GeoJson:
    """Points as circle markers of one colour; tooltip and optional popup of columns.

    ``radius`` is one size for all, or one per row (e.g. by count).
    """
    fields = list(dict.fromkeys([*tooltip, *(popup or {})]))
    size = 8.0
    if isinstance(radius, int | float):
        size = float(radius)
        sized = False
    else:
        frame = frame.assign(_r=[round(float(r), 1) for r in radius])
        fields.append("_r")
        sized = True
    data = light_features(frame, fields, 0)
    pop = (
        folium.GeoJsonPopup(
            fields=list(popup),
            aliases=[esc(a) for a in popup.values()],
            localize=False,
            labels=True,
        )
        if popup and data["features"]
        else None
    )
    return folium.GeoJson(
        data,
        name=name,
        marker=folium.CircleMarker(
            radius=size,
            color="#fff",
            weight=1.5,
            fill=True,
            fill_color=colour,
            fill_opacity=0.95,
        ),
        style_function=(lambda f: {"radius": f["properties"]["_r"]}) if sized else None,
        tooltip=_tooltip(tooltip, data),
        popup=pop,
        show=show,
    )
