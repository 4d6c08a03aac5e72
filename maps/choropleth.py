"""Choropleth of counts and rates per grid or per community.

Input: polygons in WGS84 (one row per grid or community) with a code, an optional
name, and one or more value columns (counts, rates). Each value column becomes one
layer with its own quantile classes and legend; the first is shown, the others can be
switched on in the layer control.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

import folium
import geopandas as gpd
import numpy as np
import pandas as pd

from maps.base import BaseName, Canvas, Legend, LegendItem
from maps.layers import polygon_layer, require_columns

__all__ = ["choropleth", "quantile_classes"]

PALETTE: Final = ("#ffffb2", "#fecc5c", "#fd8d3c", "#f03b20", "#bd0026")
NO_DATA: Final = "#d9d9d9"


def _fmt(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"


def quantile_classes(
    values: pd.Series, k: int = len(PALETTE)
) -> tuple[list[str], list[LegendItem]]:
    """A colour per value (quantile classes, at most ``k``) and the legend rows.

    Equal breaks collapse, so a column of few distinct values gets fewer classes;
    missing values are grey ("无数据").
    """
    v = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    ok = np.isfinite(v)
    if not ok.any():
        return [NO_DATA] * len(v), [LegendItem(NO_DATA, "无数据")]
    edges = np.unique(np.quantile(v[ok], np.linspace(0, 1, k + 1)))
    if len(edges) == 1:
        edges = np.array([edges[0], edges[0]])
    n = len(edges) - 1
    palette = [PALETTE[round(i * (len(PALETTE) - 1) / max(n - 1, 1))] for i in range(n)]
    idx = np.clip(np.searchsorted(edges, v, side="right") - 1, 0, n - 1)
    colours = [palette[i] if good else NO_DATA for i, good in zip(idx, ok, strict=True)]
    items = [LegendItem(palette[i], f"{_fmt(edges[i])} – {_fmt(edges[i + 1])}") for i in range(n)]
    if not ok.all():
        items.append(LegendItem(NO_DATA, "无数据"))
    return colours, items


def choropleth(
    areas: gpd.GeoDataFrame,
    values: Mapping[str, str],
    *,
    level: str = "网格",
    code_column: str = "code",
    name_column: str | None = "name",
    title: str | None = None,
    subtitle: str = "",
    base: BaseName | None = None,
) -> folium.Map:
    """A choropleth of ``values`` ({column: 中文名, e.g. {"count": "投诉数"}}) per area.

    ``level`` names the areas in Chinese (网格, 社区). Polygons are simplified for
    display with ``CG_MAP_SIMPLIFY_M`` metres.
    """
    if not values:
        raise ValueError("name at least one value column to map")
    name_col = name_column if name_column and name_column in areas.columns else None
    require_columns(areas, [code_column, *values], f"{level} polygons")
    canvas = Canvas(title or f"{level}投诉分布", subtitle, base)
    shown = canvas.frame(areas)
    tooltip = {code_column: f"{level}编码"}
    if name_col:
        tooltip[name_col] = f"{level}名称"
    tolerance = canvas.settings.map_simplify_m
    legends = []
    for i, (column, caption) in enumerate(values.items()):
        colours, items = quantile_classes(shown[column])
        rounded = shown.copy()
        rounded[column] = pd.to_numeric(rounded[column], errors="coerce").round(2)
        layer = polygon_layer(
            rounded,
            colours,
            name=f"{caption}（按{level}）",
            tooltip={**tooltip, column: caption},
            tolerance_m=tolerance,
            show=i == 0,
        )
        layer.add_to(canvas.map)
        legends.append(Legend(f"{caption}（按{level}）", items, note="分级：分位数", layer=layer))
    return canvas.finish(*legends)
