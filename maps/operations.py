"""The operations map: stations, squads' areas, officers on duty, open and overdue cases.

Inputs (all WGS84, all optional so that the map shows what the caller may see):

- ``stations``: points with ``code``, ``name`` (and ``address``);
- ``squads``: polygons with ``code``, ``name``;
- ``officers``: on duty now, ``name`` and either ``lon``/``lat`` (a position) or
  ``station_code`` (drawn at their station, listed in its popup);
- ``cases``: ``lon``, ``lat``, ``overdue`` (bool), and any of :data:`CASE_FIELDS`; or
  cells the server counted already, with ``lon``, ``lat``, ``overdue`` and ``count``
  (per layer: the open layer may be cells while the overdue one is single cases,
  whose ``count`` is then empty).

Cases are clustered markers with a popup each while a layer has at most
``CG_MAP_MARKERS_MAX`` of them; above that they are counted in square cells
(:func:`maps.geo.bin_points`) and drawn as circles sized by count.
"""

from __future__ import annotations

from typing import Any, Final

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
from folium.plugins import FastMarkerCluster

from maps.base import BaseName, Canvas, Legend, LegendItem
from maps.geo import bin_points, esc, rounded
from maps.layers import outline_layer, point_layer, require_columns

__all__ = ["CASE_FIELDS", "operations"]

CASE_FIELDS: Final[dict[str, str]] = {
    "case_no": "案件编号",
    "subclass": "类别",
    "status": "状态",
    "tier": "等级",
    "reported_at": "受理时间",
    "due_at": "办结时限",
    "address": "地址",
    "description": "描述",
}
"""Case columns shown in a popup, in order, with their Chinese names."""

_STATION: Final = "#1a9850"
_OFFICER: Final = "#7b3294"
_SQUAD: Final = "#4d4d4d"
_OPEN: Final = "#2c7bb6"
_OVERDUE: Final = "#d7191c"

_MARKER_STYLE: Final = """
<style>
  .cg-dot { border-radius: 50%; border: 2px solid #fff; box-shadow: 0 0 2px rgba(0,0,0,.6); }
  .cg-dot-open { background: #2c7bb6; }
  .cg-dot-overdue { background: #d7191c; }
  .cg-cluster-open { background-color: rgba(44,123,182,.35); }
  .cg-cluster-open div { background-color: rgba(44,123,182,.8); color: #fff; }
  .cg-cluster-overdue { background-color: rgba(215,25,28,.35); }
  .cg-cluster-overdue div { background-color: rgba(215,25,28,.8); color: #fff; }
</style>
"""

_CLUSTER_ICON: Final = """
function (cluster) {
    return L.divIcon({
        html: "<div><span>" + cluster.getChildCount() + "</span></div>",
        className: "marker-cluster %s",
        iconSize: new L.Point(40, 40)
    });
}
"""

# Rows are [lat, lon, popup HTML]; the HTML was built from escaped text in Python.
_CALLBACK: Final = """
function (row) {
    var icon = L.divIcon({className: "cg-dot %s", iconSize: [12, 12]});
    var marker = L.marker(new L.LatLng(row[0], row[1]), {icon: icon});
    marker.bindPopup(row[2], {maxWidth: 320});
    return marker;
}
"""


def _popup_html(cases: pd.DataFrame) -> list[str]:
    """One escaped HTML table per case, of the :data:`CASE_FIELDS` columns present."""
    cols = [c for c in CASE_FIELDS if c in cases.columns]
    if not cols:
        return ["<div class='cg-popup'>案件</div>"] * len(cases)
    parts = []
    for col in cols:
        values = cases[col]
        if pd.api.types.is_datetime64_any_dtype(values):
            text = values.dt.strftime("%Y-%m-%d %H:%M").fillna("")
        else:
            text = values.map(esc)
        parts.append(f"<tr><th>{esc(CASE_FIELDS[col])}</th><td>" + text.astype(str) + "</td></tr>")
    body = parts[0]
    for part in parts[1:]:
        body = body + part
    return ("<table class='cg-popup'>" + body + "</table>").tolist()


def _case_layer(
    canvas: Canvas, cases: pd.DataFrame, *, name: str, css: str, colour: str
) -> tuple[Any, str]:
    """Clustered markers (few cases) or count circles per cell (many); and a legend note."""
    if cases.empty:
        return folium.FeatureGroup(name=f"{name}（0 件）"), "0 件"
    limit = canvas.settings.map_markers_max
    # Cells the server counted already (a layer is either cells or single cases).
    counted = "count" in cases.columns and bool(cases["count"].notna().all())
    total = int(cases["count"].sum()) if counted else len(cases)
    if not counted and len(cases) <= limit:
        lon, lat = canvas.points(cases["lon"].to_numpy(), cases["lat"].to_numpy())
        rows = [
            [la, lo, html]
            for la, lo, html in zip(rounded(lat), rounded(lon), _popup_html(cases), strict=True)
        ]
        cluster = FastMarkerCluster(
            rows,
            callback=_CALLBACK % css,
            name=f"{name}（{len(cases)} 件）",
            icon_create_function=_CLUSTER_ICON % css.replace("cg-dot", "cg-cluster"),
        )
        return cluster, f"{len(cases)} 件，逐件显示"
    cells = bin_points(
        cases["lon"].to_numpy(),
        cases["lat"].to_numpy(),
        canvas.settings.map_cell_m * 2,
        weight=cases["count"].to_numpy() if counted else None,
        max_cells=limit,
    )
    cell_m = float(cells["cell_m"].iloc[0])
    x, y = canvas.points(cells["lon"].to_numpy(), cells["lat"].to_numpy())
    frame = gpd.GeoDataFrame(
        {"count": cells["count"].astype(int)},
        geometry=gpd.points_from_xy(x, y),
        crs="EPSG:4326",
    )
    radius = np.clip(3 + 2.5 * np.log2(frame["count"].to_numpy()), 3, 18).round()
    layer = point_layer(
        frame,
        name=f"{name}（{total:,} 件，按方格汇总）",
        colour=colour,
        radius=radius.tolist(),
        tooltip={"count": "件数"},
    )
    return layer, f"{total:,} 件，按 {cell_m:g} 米方格汇总"


def _officers_at_stations(officers: pd.DataFrame, stations: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Stations with the names and number of their officers on duty (names escaped later)."""
    grouped = (
        officers.groupby("station_code")["name"]
        .agg(lambda names: "、".join(str(n) for n in names))
        .rename("officer_names")
    )
    counts = officers.groupby("station_code").size().rename("officer_count")
    out = stations.merge(grouped, left_on="code", right_index=True, how="inner")
    return out.merge(counts, left_on="code", right_index=True, how="inner")


def operations(
    *,
    stations: gpd.GeoDataFrame | None = None,
    squads: gpd.GeoDataFrame | None = None,
    officers: pd.DataFrame | None = None,
    cases: pd.DataFrame | None = None,
    title: str = "城管运行态势",
    subtitle: str = "",
    base: BaseName | None = None,
) -> folium.Map:
    """Stations, squads' areas, officers on duty and open/overdue cases on one map."""
    canvas = Canvas(title, subtitle, base)
    canvas.add_style(_MARKER_STYLE, "cg_markers")
    tolerance = canvas.settings.map_simplify_m
    items: list[LegendItem] = []
    notes: list[str] = []
    if squads is not None:
        require_columns(squads, ["code", "name"], "squad areas")
        outline_layer(
            canvas.frame(squads),
            name="执法中队辖区",
            tooltip={"name": "执法中队", "code": "编码"},
            tolerance_m=tolerance,
            colour=_SQUAD,
        ).add_to(canvas.map)
        items.append(LegendItem(_SQUAD, "执法中队辖区"))
    if stations is not None:
        require_columns(stations, ["code", "name"], "stations")
        fields = {"name": "服务站", "code": "编码"}
        if "address" in stations.columns:
            fields["address"] = "地址"
        point_layer(
            canvas.frame(stations),
            name="社区城管服务站",
            colour=_STATION,
            radius=7,
            tooltip={"name": "服务站"},
            popup=fields,
        ).add_to(canvas.map)
        items.append(LegendItem(_STATION, "社区城管服务站", "dot"))
    if officers is not None:
        require_columns(officers, ["name"], "officers")
        _add_officers(canvas, officers, stations)
        items.append(LegendItem(_OFFICER, f"在岗人员（{len(officers)} 人）", "dot"))
    if cases is not None:
        require_columns(cases, ["lon", "lat", "overdue"], "cases")
        overdue = cases["overdue"].fillna(False).astype(bool)
        for subset, name, css, colour in (
            (cases[~overdue], "未结案件", "cg-dot-open", _OPEN),
            (cases[overdue], "超期案件", "cg-dot-overdue", _OVERDUE),
        ):
            layer, note = _case_layer(canvas, subset, name=name, css=css, colour=colour)
            layer.add_to(canvas.map)
            items.append(LegendItem(colour, name, "dot"))
            notes.append(f"{name}：{note}")
    return canvas.finish(Legend("图例", items, note="；".join(notes)))


def _add_officers(
    canvas: Canvas, officers: pd.DataFrame, stations: gpd.GeoDataFrame | None
) -> None:
    if {"lon", "lat"} <= set(officers.columns):
        placed = officers.dropna(subset=["lon", "lat"])
        lon, lat = canvas.points(placed["lon"].to_numpy(), placed["lat"].to_numpy())
        cols = [c for c in ("name", "station_code") if c in placed.columns]
        frame = gpd.GeoDataFrame(
            placed[cols].reset_index(drop=True),
            geometry=gpd.points_from_xy(lon, lat),
            crs="EPSG:4326",
        )
        point_layer(
            frame, name="在岗人员", colour=_OFFICER, radius=5, tooltip={"name": "在岗人员"}
        ).add_to(canvas.map)
        return
    if stations is None or "station_code" not in officers.columns:
        raise ValueError("officers need lon/lat, or station_code together with the stations")
    at = _officers_at_stations(officers, stations)
    point_layer(
        canvas.frame(at),
        name="在岗人员（按服务站）",
        colour=_OFFICER,
        radius=10,
        tooltip={"name": "服务站", "officer_count": "在岗人数"},
        popup={"name": "服务站", "officer_count": "在岗人数", "officer_names": "在岗人员"},
    ).add_to(canvas.map)
