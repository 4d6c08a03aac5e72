"""Data frames into light, safe map data: display CRS, bins, simplified GeoJSON, escaped text.

Every builder of maps/ goes through these functions, so each rule lives here once:

- :func:`to_display` / :func:`points_to_display`: the GCJ-02 shift for an AMap base
  layer (display only; the data stay WGS84), vectorised with :mod:`gis.crs`.
- :func:`bin_points`: fixed square bins in metres (EPSG:4547), counts per bin, for
  when there are too many points to send (1M complaints become a few thousand cells).
- :func:`light_features`: polygons simplified with a tolerance in metres, coordinates
  rounded to 6 decimals (~0.1 m), properties HTML-escaped.
- :func:`esc`: the one HTML escape for any text that came from a user.
"""

from __future__ import annotations

import functools
import html
import math
from collections.abc import Iterable, Mapping
from typing import Any, Final

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely
from pyproj import Transformer

from gis.crs import (
    metric_crs_around,
    metric_transformer,
    to_metric,
    transform_geometry,
    wgs84_to_gcj02,
)

__all__ = [
    "COORD_DECIMALS",
    "bin_points",
    "esc",
    "light_features",
    "points_to_display",
    "to_display",
]

COORD_DECIMALS: Final = 6
"""Decimals of a displayed coordinate: 1e-6 degree is ~0.1 m, below any data here."""

WGS84: Final = "wgs84"
GCJ02: Final = "gcj02"


def esc(value: object) -> str:
    """HTML-escape one value for a popup, tooltip or table (None -> "").

    Everything a user typed (descriptions, addresses, names) goes through this before
    it reaches a page: Leaflet and folium insert popup/tooltip content as HTML, so an
    unescaped ``<img onerror=...>`` would run.
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return html.escape(str(value), quote=True)


def _check_lonlat(lon: npt.NDArray[np.float64], lat: npt.NDArray[np.float64]) -> None:
    bad = ~(np.isfinite(lon) & np.isfinite(lat))
    bad |= (np.abs(lon) > 180) | (np.abs(lat) > 90)
    if bad.any():
        raise ValueError(
            f"{int(bad.sum())} point(s) are not WGS84 lon/lat (EPSG:4326); "
            "convert them with gis.crs first"
        )


def points_to_display(
    lon: npt.ArrayLike, lat: npt.ArrayLike, display_crs: str
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """WGS84 lon/lat arrays to the display CRS of the base layer (``wgs84`` or ``gcj02``)."""
    x = np.asarray(lon, dtype=np.float64)
    y = np.asarray(lat, dtype=np.float64)
    _check_lonlat(x, y)
    if display_crs == GCJ02:
        return wgs84_to_gcj02(x, y)
    return x, y


def to_display(frame: gpd.GeoDataFrame, display_crs: str) -> gpd.GeoDataFrame:
    """A copy of a WGS84 GeoDataFrame with its geometry in the display CRS.

    Raises ValueError when the frame says it is in another CRS: maps/ takes EPSG:4326
    only (convert at the edge, once).
    """
    if frame.crs is not None and not frame.crs.equals("EPSG:4326"):
        raise ValueError(f"maps take EPSG:4326 data; this frame is {frame.crs.to_string()}")
    if display_crs == WGS84:
        return frame
    geoms = np.asarray(frame.geometry.array, dtype=object)
    shifted = transform_geometry(geoms, WGS84, display_crs)
    out = frame.copy()
    out[frame.geometry.name] = gpd.GeoSeries(shifted, index=frame.index, crs="EPSG:4326")
    return out


@functools.lru_cache(maxsize=8)
def _inverse(metric: str) -> Transformer:
    return Transformer.from_crs(metric, "EPSG:4326", always_xy=True)


def bin_points(
    lon: npt.ArrayLike,
    lat: npt.ArrayLike,
    cell_m: float,
    weight: npt.ArrayLike | None = None,
    keys: Mapping[str, npt.ArrayLike] | None = None,
    max_cells: int | None = None,
) -> pd.DataFrame:
    """Count WGS84 points in square cells of ``cell_m`` metres; one row per cell.

    Columns: ``lon``, ``lat`` (the cell's centre, WGS84), ``count`` (sum of ``weight``,
    1 per point by default), one column per extra grouping key (e.g. a period), and
    ``cell_m``. With ``max_cells`` the cell doubles until at most that many rows remain
    (up to 6.4 km). Cells are squares of :func:`gis.crs.metric_crs` round the points
    (centred to 0.1 degree), so one district's bins stay put from one map to the next.
    """
    if cell_m <= 0:
        raise ValueError("cell_m must be positive")
    x = np.asarray(lon, dtype=np.float64)
    y = np.asarray(lat, dtype=np.float64)
    _check_lonlat(x, y)
    extra = list(keys or {})
    if x.size == 0:
        empty: dict[str, list[float]] = {"lon": [], "lat": [], "count": [], "cell_m": []}
        empty.update({k: [] for k in extra})
        return pd.DataFrame(empty)
    metric = metric_crs_around([x.min(), y.min(), x.max(), y.max()])
    ex, ny = (np.asarray(v) for v in metric_transformer(metric).transform(x, y))
    w = np.ones(len(x)) if weight is None else np.asarray(weight, dtype=np.float64)
    while True:
        frame = pd.DataFrame(
            {
                "ix": np.floor(ex / cell_m).astype(np.int64),
                "iy": np.floor(ny / cell_m).astype(np.int64),
                "count": w,
            }
        )
        for name, values in (keys or {}).items():
            frame[name] = np.asarray(values)
        cells = (
            frame.groupby(["ix", "iy", *extra], sort=True, observed=True)["count"]
            .sum()
            .reset_index()
        )
        if max_cells is None or len(cells) <= max(max_cells, 1) or cell_m >= 6_400:
            break
        cell_m *= 2
    clon, clat = _inverse(metric).transform(
        (cells["ix"].to_numpy() + 0.5) * cell_m, (cells["iy"].to_numpy() + 0.5) * cell_m
    )
    out = pd.DataFrame({"lon": np.asarray(clon), "lat": np.asarray(clat)})
    for name in extra:
        out[name] = cells[name].to_numpy()
    out["count"] = cells["count"].to_numpy()
    out["cell_m"] = cell_m
    return out


def _round_coords(geoms: npt.NDArray[np.object_]) -> npt.NDArray[np.object_]:
    return shapely.transform(geoms, lambda c: np.round(c, COORD_DECIMALS))


def simplify_m(geoms: gpd.GeoSeries, tolerance_m: float) -> gpd.GeoSeries:
    """Simplify WGS84 geometries with a tolerance in metres (topology kept per geometry).

    Done in a metric CRS round the data and back; a tolerance of 0 changes nothing.
    Polygons that would vanish keep their original shape.
    """
    if tolerance_m <= 0 or geoms.empty:
        return geoms
    metric = to_metric(geoms.set_crs("EPSG:4326", allow_override=True))
    simple = metric.simplify(tolerance_m, preserve_topology=True)
    simple = simple.where(~simple.is_empty, metric)
    return simple.to_crs("EPSG:4326")


def _plain(value: object, escape: bool) -> object:
    """A JSON-ready property: numbers as numbers (NaN -> None), text escaped."""
    if value is None:
        return None
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        v = float(value)
        return None if math.isnan(v) else round(v, 6)
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return esc(value) if escape else str(value)


def light_features(
    frame: gpd.GeoDataFrame,
    properties: Iterable[str],
    tolerance_m: float,
) -> dict[str, Any]:
    """A GeoJSON FeatureCollection to embed: simplified, rounded, text escaped.

    ``frame`` must already be in the display CRS (:func:`to_display`). Only the named
    ``properties`` are kept, each string HTML-escaped by :func:`esc`. Features get
    ``id`` = their position, which folium's style switch uses.
    """
    cols = list(properties)
    missing = [c for c in cols if c not in frame.columns]
    if missing:
        raise ValueError(f"missing column(s): {', '.join(missing)}")
    geoms = simplify_m(frame.geometry, tolerance_m)
    rounded = _round_coords(np.asarray(geoms.array, dtype=object))
    records = frame[cols].to_dict(orient="records") if cols else [{}] * len(frame)
    features = []
    for i, (geom, props) in enumerate(zip(rounded, records, strict=True)):
        if geom is None or geom.is_empty:
            continue
        features.append(
            {
                "type": "Feature",
                "id": str(i),
                "properties": {k: _plain(v, escape=True) for k, v in props.items()},
                "geometry": shapely.geometry.mapping(geom),
            }
        )
    return {"type": "FeatureCollection", "features": features}


def rounded(values: npt.ArrayLike, decimals: int = COORD_DECIMALS) -> list[float]:
    """Coordinates rounded for the page (shorter JSON, ~0.1 m at 6 decimals)."""
    return [float(v) for v in np.round(np.asarray(values, dtype=np.float64), decimals)]
