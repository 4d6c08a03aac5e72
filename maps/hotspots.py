"""Hot and cold spots (Getis-Ord Gi*) and emerging hot spots, per grid.

The statistics are computed elsewhere (gis/, esda); these builders draw their classes:

- :func:`hotspots`: a ``hotspot_class`` per grid, one of :data:`HOTSPOT_CLASSES`, and the
  name of the false-discovery-rate method used, which the legend states;
- :func:`emerging`: a ``pattern`` per grid, one of :data:`EMERGING_PATTERNS` (the
  space-time classes of ArcGIS's emerging hot spot analysis, for hot and cold alike).

A ``label`` column, when present, overrides the Chinese name of a class in the legend
and tooltips (it is escaped like any text).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

import folium
import geopandas as gpd

from maps.base import BaseName, Canvas, Legend, LegendItem
from maps.layers import polygon_layer, require_columns

__all__ = ["EMERGING_PATTERNS", "HOTSPOT_CLASSES", "emerging", "hotspots"]

HOTSPOT_CLASSES: Final[dict[str, tuple[str, str]]] = {
    "hot_99": ("#d7191c", "热点（99% 置信度）"),
    "hot_95": ("#f07c4a", "热点（95% 置信度）"),
    "hot_90": ("#fdc38d", "热点（90% 置信度）"),
    "not_significant": ("#f2f2ee", "不显著"),
    "cold_90": ("#b9d7ea", "冷点（90% 置信度）"),
    "cold_95": ("#6ea6cd", "冷点（95% 置信度）"),
    "cold_99": ("#2c7bb6", "冷点（99% 置信度）"),
}
"""Gi* classes: key -> (colour, 中文名), in legend order."""

_PATTERN_NAMES: Final = (
    ("new", "新增"),
    ("consecutive", "连续"),
    ("intensifying", "加强"),
    ("persistent", "持续"),
    ("diminishing", "减弱"),
    ("sporadic", "零星"),
    ("oscillating", "振荡"),
    ("historical", "历史"),
)
_HOT_SHADES: Final = (
    "#67000d",
    "#a50f15",
    "#cb181d",
    "#ef3b2c",
    "#fb6a4a",
    "#fc9272",
    "#fcbba1",
    "#fee0d2",
)
_COLD_SHADES: Final = (
    "#08306b",
    "#08519c",
    "#2171b5",
    "#4292c6",
    "#6baed6",
    "#9ecae1",
    "#c6dbef",
    "#deebf7",
)
EMERGING_PATTERNS: Final[dict[str, tuple[str, str]]] = {
    **{
        f"{key}_hot": (colour, f"{name}热点")
        for (key, name), colour in zip(_PATTERN_NAMES, _HOT_SHADES, strict=True)
    },
    **{
        f"{key}_cold": (colour, f"{name}冷点")
        for (key, name), colour in zip(_PATTERN_NAMES, _COLD_SHADES, strict=True)
    },
    "no_pattern": ("#f2f2ee", "无明显模式"),
}
"""Emerging hot-spot patterns: key -> (colour, 中文名), in legend order."""


def _class_layer(
    canvas: Canvas,
    grids: gpd.GeoDataFrame,
    column: str,
    classes: Mapping[str, tuple[str, str]],
    *,
    layer_name: str,
    legend_title: str,
    note: str,
    extra_tooltip: Mapping[str, str],
    code_column: str,
) -> Legend:
    """Colour grids by a class column; a legend of the classes present, in fixed order."""
    keys = grids[column].astype("string")
    unknown = sorted(set(keys.dropna()) - set(classes))
    if unknown or keys.isna().any():
        shown = ", ".join(unknown[:10]) or "(empty)"
        raise ValueError(f"unknown {column} value(s): {shown}; expected one of {list(classes)}")
    labels = {k: v[1] for k, v in classes.items()}
    if "label" in grids.columns:
        given = grids.dropna(subset=["label"]).drop_duplicates(column)
        labels.update(dict(zip(given[column].astype(str), given["label"].astype(str), strict=True)))
    shown = canvas.frame(grids)
    shown = shown.assign(_class_label=keys.map(labels).to_numpy())
    colours = keys.map({k: v[0] for k, v in classes.items()}).tolist()
    tooltip = {code_column: "网格编码", "_class_label": "类别"}
    tooltip.update({c: a for c, a in extra_tooltip.items() if c in grids.columns})
    layer = polygon_layer(
        shown,
        colours,
        name=layer_name,
        tooltip=tooltip,
        tolerance_m=canvas.settings.map_simplify_m,
        fill_opacity=0.75,
    )
    layer.add_to(canvas.map)
    present = set(keys)
    items = [LegendItem(classes[k][0], labels[k]) for k in classes if k in present]
    return Legend(legend_title, items, note=note, layer=layer)


def hotspots(
    grids: gpd.GeoDataFrame,
    *,
    fdr_method: str,
    title: str = "投诉热点与冷点（Getis-Ord Gi*）",
    subtitle: str = "",
    code_column: str = "code",
    base: BaseName | None = None,
) -> folium.Map:
    """Hot and cold spots per grid by significance class (``hotspot_class``).

    ``fdr_method`` names the false-discovery-rate control applied (e.g.
    "Benjamini–Hochberg，基于正态近似 p 值"); the legend states it. Optional columns
    ``name``, ``count``, ``gi_z`` and ``p_value`` are shown in the tooltip.
    """
    if not fdr_method.strip():
        raise ValueError("name the FDR method used: the legend must state it")
    require_columns(grids, [code_column, "hotspot_class"], "hot-spot grids")
    canvas = Canvas(title, subtitle, base)
    legend = _class_layer(
        canvas,
        grids,
        "hotspot_class",
        HOTSPOT_CLASSES,
        layer_name="热点与冷点",
        legend_title="Gi* 显著性",
        note=f"多重检验校正：{fdr_method}",
        extra_tooltip={
            "name": "网格名称",
            "count": "投诉数",
            "gi_z": "Gi* z 值",
            "p_value": "p 值",
        },
        code_column=code_column,
    )
    return canvas.finish(legend)


def emerging(
    grids: gpd.GeoDataFrame,
    *,
    title: str = "新兴热点分析（按月）",
    subtitle: str = "",
    note: str = "逐月 Gi* 与 Mann-Kendall 趋势检验",
    code_column: str = "code",
    base: BaseName | None = None,
) -> folium.Map:
    """Emerging hot and cold spots per grid by space-time ``pattern``.

    Optional columns ``name`` and ``trend_z``/``trend_p`` (Mann-Kendall) appear in the tooltip.
    """
    require_columns(grids, [code_column, "pattern"], "emerging hot-spot grids")
    canvas = Canvas(title, subtitle, base)
    legend = _class_layer(
        canvas,
        grids,
        "pattern",
        EMERGING_PATTERNS,
        layer_name="新兴热点模式",
        legend_title="时空模式",
        note=note,
        extra_tooltip={"name": "网格名称", "trend_z": "趋势 z 值", "trend_p": "趋势 p 值"},
        code_column=code_column,
    )
    return canvas.finish(legend)
