"""Heat maps of complaints: a density picture, and its change by week or day.

Both take a pandas frame in WGS84 with ``lon`` and ``lat`` and either one row per
complaint, or one row per aggregated cell with a ``count`` column (the server did the
binning, e.g. ``ST_SnapToGrid`` in EPSG:4547). Raw points are drawn as they are only up
to ``CG_MAP_RAW_POINTS_MAX``; above it they are counted in fixed square cells of
``CG_MAP_CELL_M`` metres (:func:`maps.geo.bin_points`), the cell growing until at most
that many cells remain. So a year of 1M complaints becomes a page of a few hundred KB.
"""

from __future__ import annotations

from typing import Any, Final, Literal

import folium
import numpy as np
import pandas as pd
from folium.plugins import HeatMap, HeatMapWithTime

from maps.base import BaseName, Canvas, Legend, LegendItem, js_data
from maps.geo import bin_points

__all__ = ["heatmap", "heatmap_over_time"]

_GRADIENT: Final = {0.2: "#2c7bb6", 0.4: "#00a6ca", 0.6: "#90eb9d", 0.8: "#f9d057", 1.0: "#d7191c"}
_RAMP: Final = ",".join(_GRADIENT.values())
_WEIGHT_STEPS: Final = 100  # time frames carry integer weights 1..100


def _require(points: pd.DataFrame, columns: tuple[str, ...]) -> None:
    missing = [c for c in columns if c not in points.columns]
    if missing:
        raise ValueError(f"the points need column(s) {', '.join(missing)} (WGS84 lon/lat)")


def _cells(
    points: pd.DataFrame, cell_m: float, budget: int, keys: tuple[str, ...] = ()
) -> tuple[pd.DataFrame, float]:
    """Bin raw points, the cell doubling until at most ``budget`` rows remain."""
    cells = bin_points(
        points["lon"].to_numpy(),
        points["lat"].to_numpy(),
        cell_m,
        weight=points["count"].to_numpy() if "count" in points.columns else None,
        keys={k: points[k].to_numpy() for k in keys},
        max_cells=budget,
    )
    size = float(cells["cell_m"].iloc[0]) if len(cells) else cell_m
    return cells.drop(columns="cell_m"), size


def _weights(counts: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """Counts to intensities in (0, 1]: relative to the 99th percentile, so that a few
    extreme cells do not wash everything else out."""
    if counts.size == 0:
        return counts.astype(float)
    top = float(np.percentile(counts, 99)) or float(counts.max()) or 1.0
    return np.clip(counts / top, 0.01, 1.0)


def _prepare(
    points: pd.DataFrame, canvas: Canvas, cell_m: float | None
) -> tuple[pd.DataFrame, str, int]:
    """Rows to draw (lon, lat, count) and a note on how they were made."""
    _require(points, ("lon", "lat"))
    settings = canvas.settings
    budget = settings.map_raw_points_max
    if "count" in points.columns:
        total = int(points["count"].sum())
        if len(points) <= budget:
            note = f"服务器汇总的网格，共 {total:,} 件"
            return points[["lon", "lat", "count"]], note, total
        cells, size = _cells(points, cell_m or settings.map_cell_m, budget)
        return cells, f"按 {size:g} 米方格汇总，共 {total:,} 件", total
    total = len(points)
    if total <= budget:
        raw = pd.DataFrame({"lon": points["lon"], "lat": points["lat"], "count": 1.0})
        return raw, f"原始点位，共 {total:,} 件", total
    cells, size = _cells(points, cell_m or settings.map_cell_m, budget)
    return cells, f"按 {size:g} 米方格汇总，共 {total:,} 件", total


def heatmap(
    points: pd.DataFrame,
    *,
    title: str = "投诉热力图",
    subtitle: str = "",
    base: BaseName | None = None,
    cell_m: float | None = None,
) -> folium.Map:
    """A heat map of complaints (WGS84 ``lon``/``lat``, optional ``count`` per cell)."""
    canvas = Canvas(title, subtitle, base)
    rows, note, _total = _prepare(points, canvas, cell_m)
    lon, lat = canvas.points(rows["lon"].to_numpy(), rows["lat"].to_numpy())
    weights = _weights(rows["count"].to_numpy(dtype=float))
    data = np.column_stack([np.round(lat, 5), np.round(lon, 5), np.round(weights, 3)])
    layer = HeatMap(
        data.tolist(),
        name="投诉热力",
        radius=14,
        blur=12,
        min_opacity=0.35,
        gradient=_GRADIENT,
    )
    layer.add_to(canvas.map)
    legend = Legend(
        "投诉密度",
        [LegendItem(_RAMP, "少 → 多", "ramp")],
        note=note,
        layer=layer,
    )
    return canvas.finish(legend)


class _JsExpr:
    """A JavaScript expression that folium's template prints with ``{{ ... }}``."""

    def __init__(self, js: str, length: int) -> None:
        self.js = js
        self.length = length

    def __str__(self) -> str:
        return self.js

    def __len__(self) -> int:
        return self.length


_EXPAND_FRAMES: Final = (
    "(function(c,f){return f.map(function(a){var o=[];"
    "for(var i=0;i<a.length;i+=2){var p=c[a[i]];o.push([p[0],p[1],a[i+1]/%d]);}"
    "return o;});})(%s,%s)"
)


class _CompactHeatMapWithTime(HeatMapWithTime):
    """folium's HeatMapWithTime fed from cell centres sent once plus sparse frames.

    A frame is a flat list ``[cell index, weight 1..100, ...]``; the page expands it
    before handing it to folium's own template. Weekly frames of 1,700 cells shrink
    from megabytes to a few hundred KB this way.
    """

    def __init__(
        self,
        centres: list[list[float]],
        frames: list[list[int]],
        labels: list[str],
        bounds: list[list[float | None]],
        **kwargs: Any,
    ) -> None:
        super().__init__([[]] * len(frames), index=list(labels), **kwargs)
        js = _EXPAND_FRAMES % (_WEIGHT_STEPS, js_data(centres), js_data(frames))
        self.data = _JsExpr(js, len(frames))
        self.index = _JsExpr(js_data(labels), len(labels))
        self._bounds = bounds

    def _get_self_bounds(self) -> list[list[float | None]]:
        return self._bounds


def _periods(when: pd.Series, freq: Literal["W", "D"]) -> tuple[pd.Series, list[str]]:
    """Each timestamp's period start, and the Chinese label of every period in range."""
    ts = pd.to_datetime(when)
    if ts.isna().any():
        raise ValueError(f"{int(ts.isna().sum())} row(s) have no valid time")
    if getattr(ts.dt, "tz", None) is not None:
        ts = ts.dt.tz_convert("Asia/Shanghai").dt.tz_localize(None)
    day = ts.dt.normalize()
    start = day - pd.to_timedelta(day.dt.day_of_week, unit="D") if freq == "W" else day
    if start.empty:
        return start, []
    step = "7D" if freq == "W" else "D"
    every = pd.date_range(start.min(), start.max(), freq=step)
    fmt = "%Y-%m-%d 起一周" if freq == "W" else "%Y-%m-%d"
    return start, [d.strftime(fmt) for d in every]


def heatmap_over_time(
    points: pd.DataFrame,
    *,
    freq: Literal["W", "D"] = "W",
    time_column: str = "reported_at",
    title: str = "投诉热力变化",
    subtitle: str = "",
    base: BaseName | None = None,
    cell_m: float | None = None,
    max_frames: int = 400,
) -> folium.Map:
    """A heat map with a time slider, one frame per week (``W``) or day (``D``).

    ``points``: WGS84 ``lon``/``lat``, a time column (``reported_at``), optional
    ``count`` per cell and period. Points are always counted per cell and period here;
    the cell grows until all frames together hold at most 4 x ``CG_MAP_RAW_POINTS_MAX``
    cells, which bounds the page. Weights are relative to the whole range, so a quiet
    week looks quiet.
    """
    if freq not in ("W", "D"):
        raise ValueError("freq must be 'W' (week) or 'D' (day)")
    _require(points, ("lon", "lat", time_column))
    canvas = Canvas(title, subtitle, base)
    start, labels = _periods(points[time_column], freq)
    if not labels:  # nothing in scope: one empty frame, so the page still draws
        labels = ["所选范围内没有投诉"]
    if len(labels) > max_frames:
        raise ValueError(
            f"{len(labels)} periods is more than {max_frames}; choose a shorter range or weeks"
        )
    frame = pd.DataFrame({"lon": points["lon"].to_numpy(), "lat": points["lat"].to_numpy()})
    if "count" in points.columns:
        frame["count"] = points["count"].to_numpy()
    frame["period"] = start.to_numpy()
    budget = 4 * canvas.settings.map_raw_points_max
    cells, size = _cells(frame, cell_m or canvas.settings.map_cell_m * 2, budget, ("period",))
    lon, lat = canvas.points(cells["lon"].to_numpy(), cells["lat"].to_numpy())
    centre_key = np.round(lon, 5) * 1e6 + np.round(lat, 5)
    _keys, cell_index = np.unique(centre_key, return_inverse=True)
    first = np.unique(cell_index, return_index=True)[1]
    centres = np.column_stack([np.round(lat[first], 5), np.round(lon[first], 5)]).tolist()
    weights = np.maximum(
        1, np.rint(_weights(cells["count"].to_numpy(dtype=float)) * _WEIGHT_STEPS)
    ).astype(int)
    period_start = pd.to_datetime(cells["period"])
    step = pd.Timedelta(days=7 if freq == "W" else 1)
    origin = start.min() if len(start) else pd.Timestamp(0)
    frame_no = ((period_start - origin) / step).astype(int).to_numpy()
    order = np.lexsort((cell_index, frame_no))
    pairs = np.column_stack([cell_index[order], weights[order]]).ravel()
    ends = 2 * np.cumsum(np.bincount(frame_no, minlength=len(labels)))[:-1]
    frames = [chunk.tolist() for chunk in np.split(pairs, ends)]
    bounds: list[list[float | None]] = (
        [[float(lat.min()), float(lon.min())], [float(lat.max()), float(lon.max())]]
        if len(lat)
        else [[22.55, 112.95], [22.8, 113.2]]
    )
    layer = _CompactHeatMapWithTime(
        centres,
        frames,
        labels,
        bounds,
        name="投诉热力（按周）" if freq == "W" else "投诉热力（按日）",
        radius=16,
        min_opacity=0.0,
        max_opacity=0.8,
        gradient=_GRADIENT,
        auto_play=False,
        position="bottomleft",
    )
    layer.add_to(canvas.map)
    total = int(points["count"].sum()) if "count" in points.columns else len(points)
    unit = "周" if freq == "W" else "日"
    legend = Legend(
        f"投诉密度（每{unit}）",
        [LegendItem(_RAMP, "少 → 多", "ramp")],
        note=f"按 {size:g} 米方格汇总，共 {total:,} 件，{len(labels)} 个{unit}",
        layer=layer,
    )
    return canvas.finish(legend)
