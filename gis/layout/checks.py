"""Checking a layer against its parents before anything is written.

Each check reports findings with a location (lon, lat in WGS84): invalid
geometry (optionally repaired), duplicate or malformed codes, overlaps between
siblings, gaps in the parent's coverage, children outside their parent, and a
CRS that looks wrong (the layer fits its parent far better read in another
CRS). Lengths and areas are measured in a metric CRS centred on the layer's own
parents (:func:`gis.crs.metric_crs`), so tolerances in metres and square metres
mean the same for a district at any latitude.
"""

from __future__ import annotations

import re

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from gis import crs as crsmod
from gis.layout.base import CheckReport, Finding, Layer
from gis.models import CODE_LENGTH, PARENT
from gis.settings import Settings, get_settings


def _metric(frame: gpd.GeoDataFrame, metric: str) -> gpd.GeoSeries:
    return frame.geometry.to_crs(metric)


def _where(geom_metric: BaseGeometry, metric: CRS) -> dict[str, float]:
    """Where a finding is, in WGS84: a point on the surface of `geom_metric`."""
    point = shapely.point_on_surface(geom_metric)
    lon, lat = crsmod.metric_transformer(metric.srs).transform(
        shapely.get_x(point), shapely.get_y(point), direction="INVERSE"
    )
    return {"lon": round(float(lon), 6), "lat": round(float(lat), 6)}


def _polygonal(geom: BaseGeometry) -> MultiPolygon | None:
    """Keep the polygonal part of a geometry, as a MultiPolygon."""
    parts = [g for g in shapely.get_parts(geom) if isinstance(g, Polygon) and not g.is_empty]
    if not parts:
        collections = [g for g in shapely.get_parts(geom) if g.geom_type == "GeometryCollection"]
        for c in collections:
            parts.extend(p for p in shapely.get_parts(c) if isinstance(p, Polygon))
    if not parts:
        return None
    return MultiPolygon(parts)


def check_geometry(frame: gpd.GeoDataFrame, report: CheckReport, repair: bool) -> None:
    """Invalid, empty and non-polygon geometry; repaired in place with `repair`."""
    new_geoms: list[BaseGeometry | None] = []
    for code, row, geom in zip(frame["code"], frame["row"], frame.geometry, strict=True):
        label = code or f"row {row}"
        if geom is None or geom.is_empty:
            report.add(Finding("empty_geometry", "error", f"{label}: no geometry", code))
            new_geoms.append(geom)
            continue
        if geom.geom_type not in ("Polygon", "MultiPolygon"):
            report.add(
                Finding(
                    "not_polygon", "error", f"{label}: {geom.geom_type}, a polygon is needed", code
                )
            )
            new_geoms.append(geom)
            continue
        if not geom.is_valid:
            reason = shapely.is_valid_reason(geom)
            where = _reason_location(reason) or _lonlat_of(geom)
            fixed = _polygonal(shapely.make_valid(geom)) if repair else None
            if fixed is not None:
                report.add(
                    Finding(
                        "invalid_geometry", "warning", f"{label}: {reason}; repaired", code, *where
                    )
                )
                geom = fixed
            else:
                hint = "" if repair else " (re-run with --repair to fix it with make_valid)"
                report.add(
                    Finding("invalid_geometry", "error", f"{label}: {reason}{hint}", code, *where)
                )
        new_geoms.append(MultiPolygon([geom]) if isinstance(geom, Polygon) else geom)
    frame.geometry = gpd.GeoSeries(new_geoms, index=frame.index, crs="EPSG:4326")


def _reason_location(reason: str) -> tuple[float, float] | None:
    match = re.search(r"\[([-\d.eE+]+)\s+([-\d.eE+]+)\]", reason)
    return (round(float(match[1]), 6), round(float(match[2]), 6)) if match else None


def _lonlat_of(geom: BaseGeometry) -> tuple[float, float]:
    p = geom.representative_point() if geom.is_valid else shapely.centroid(geom)
    return round(p.x, 6), round(p.y, 6)


def check_codes(frame: gpd.GeoDataFrame, level: str, report: CheckReport) -> None:
    """Duplicate codes, and codes that are not N digits under their parent's code."""
    length = CODE_LENGTH[level]
    codes = frame["code"]
    for code in sorted(codes[codes.duplicated(keep=False) & codes.notna()].unique()):
        rows = frame.loc[codes == code, "row"].tolist()
        geom = frame.geometry[codes == code].iloc[0]
        report.add(
            Finding(
                "duplicate_code",
                "error",
                f"code {code} is used by rows {rows}",
                code,
                *_lonlat_of(geom),
            )
        )
    for code, parent, geom in zip(codes, frame["parent_code"], frame.geometry, strict=True):
        if code is None:
            continue
        if not (len(code) == length and code.isdigit()):
            report.add(
                Finding(
                    "bad_code",
                    "error",
                    f"code {code!r} is not {length} digits",
                    code,
                    *_lonlat_of(geom),
                )
            )
        elif parent and not code.startswith(parent):
            report.add(
                Finding(
                    "bad_code",
                    "error",
                    f"code {code} does not start with its parent's code {parent}",
                    code,
                    *_lonlat_of(geom),
                )
            )


def check_overlaps(
    frame: gpd.GeoDataFrame,
    metric: gpd.GeoSeries,
    report: CheckReport,
    tolerance_m2: float,
    severity: str = "error",
) -> None:
    """Pairs of siblings that overlap by more than `tolerance_m2`."""
    geoms = metric.values
    left, right = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    keep = left < right
    for i, j in zip(left[keep], right[keep], strict=True):
        overlap = shapely.intersection(geoms[i], geoms[j])
        area = overlap.area
        if area > tolerance_m2:
            a, b = frame["code"].iloc[i], frame["code"].iloc[j]
            report.add(
                Finding(
                    "overlap",
                    severity,
                    f"{a} and {b} overlap by {area:,.0f} m²",
                    a,
                    **_where(overlap, metric.crs),
                    area_m2=round(area, 1),
                )
            )


def assign_parents(
    frame: gpd.GeoDataFrame,
    metric: gpd.GeoSeries,
    parents: gpd.GeoDataFrame,
    parents_metric: gpd.GeoSeries,
    report: CheckReport,
) -> None:
    """Fill parent_code by largest overlap where the file did not name it."""
    missing = frame["parent_code"].isna()
    if missing.any():
        tree = shapely.STRtree(parents_metric.values)
        chosen: list[str | None] = []
        for geom in metric[missing]:
            hits = tree.query(geom, predicate="intersects")
            if len(hits) == 0:
                chosen.append(None)
                continue
            areas = shapely.area(shapely.intersection(parents_metric.values[hits], geom))
            chosen.append(parents["code"].iloc[hits[int(np.argmax(areas))]])
        frame.loc[missing, "parent_code"] = chosen
    known = set(parents["code"])
    for code, parent, row, geom in zip(
        frame["code"], frame["parent_code"], frame["row"], frame.geometry, strict=True
    ):
        if parent is None:
            report.add(
                Finding(
                    "outside_parent",
                    "error",
                    f"{code or f'row {row}'} lies in no {report.level}'s parent",
                    code,
                    *_lonlat_of(geom),
                )
            )
        elif parent not in known:
            report.add(
                Finding(
                    "unknown_parent",
                    "error",
                    f"{code or f'row {row}'}: parent {parent} does not exist",
                    code,
                    *_lonlat_of(geom),
                )
            )


def check_containment(
    frame: gpd.GeoDataFrame,
    metric: gpd.GeoSeries,
    parents: gpd.GeoDataFrame,
    parents_metric: gpd.GeoSeries,
    report: CheckReport,
    settings: Settings,
) -> None:
    """Children sticking out of their parent, and gaps in each parent's coverage."""
    parent_geom = dict(zip(parents["code"], parents_metric.values, strict=True))
    for code, parent, geom in zip(frame["code"], frame["parent_code"], metric.values, strict=True):
        if parent not in parent_geom or geom is None or not geom.is_valid:
            continue
        outside = shapely.difference(geom, parent_geom[parent])
        if outside.area > settings.outside_tolerance_m2:
            report.add(
                Finding(
                    "outside_parent",
                    "error",
                    f"{code}: {outside.area:,.0f} m² lies outside its parent {parent}",
                    code,
                    **_where(outside, metric.crs),
                    area_m2=round(outside.area, 1),
                )
            )
    by_parent = pd.Series(list(metric.values), index=frame.index).groupby(
        frame["parent_code"].values
    )
    for parent, children in by_parent:
        if parent not in parent_geom:
            continue
        covered = shapely.union_all([g for g in children if g is not None and g.is_valid])
        gaps = shapely.difference(parent_geom[parent], covered)
        for part in shapely.get_parts(gaps):
            if part.area > settings.gap_tolerance_m2:
                report.add(
                    Finding(
                        "gap",
                        "error",
                        f"a gap of {part.area:,.0f} m² in {parent} is covered by no {report.level}",
                        str(parent),
                        **_where(part, metric.crs),
                        area_m2=round(part.area, 1),
                    )
                )
    for parent in sorted(set(parent_geom) - set(frame["parent_code"].dropna())):
        report.add(
            Finding(
                "gap",
                "error",
                f"{parent} has no {report.level} at all",
                parent,
                **_where(parent_geom[parent], metric.crs),
            )
        )


def check_crs_fit(
    path_frame: gpd.GeoDataFrame,
    crs_name: str,
    parents_metric: gpd.GeoSeries,
    report: CheckReport,
) -> None:
    """A layer that should tile its parents but fits them far better in another CRS.

    Data from AMap or WeChat is GCJ-02 even when it says WGS84; read as WGS84
    it sits several hundred metres off. Compare the mismatch as named with
    the mismatch under the other Chinese CRSs, and with the axes swapped (a
    lat,lon file whose numbers are all within range), and say which one fits.
    """
    if crs_name.startswith("EPSG:") and crs_name not in ("EPSG:4326", "EPSG:4490"):
        return
    target = shapely.union_all(parents_metric.values)
    target = target if target.is_valid else shapely.make_valid(target)
    as_named_wgs = shapely.union_all(path_frame.geometry.values)
    # Back to the file's own numbers, then read them in each candidate CRS.
    original = crsmod.transform_geometry(as_named_wgs, "wgs84", crs_name)
    transformer = crsmod.metric_transformer(parents_metric.crs.srs)

    def mismatch(candidate: str, swap: bool = False) -> float:
        raw = shapely.transform(original, lambda xy: xy[:, ::-1]) if swap else original
        wgs = crsmod.transform_geometry(raw, candidate, "wgs84")
        geom = shapely.transform(
            wgs, lambda xy: np.column_stack(transformer.transform(xy[:, 0], xy[:, 1]))
        )
        # Reprojection may make a ring touch itself; repair before the overlay.
        geom = geom if geom.is_valid else shapely.make_valid(geom)
        return float(shapely.symmetric_difference(geom, target).area / target.area)

    named = mismatch(crs_name)
    if named < 0.002:
        return
    minx, _, maxx, _ = shapely.bounds(original)
    if max(abs(minx), abs(maxx)) <= 90:
        swapped = mismatch(crs_name, swap=True)
        if swapped < named * 0.5:
            report.add(
                Finding(
                    "crs_suspect",
                    "error",
                    f"read as lon,lat the layer misses its parent by {named:.1%} of its area; "
                    f"read as lat,lon by {swapped:.1%}: latitude and longitude look swapped "
                    "(GeoJSON is lon,lat)",
                )
            )
            return
    scores = {c: mismatch(c) for c in ("wgs84", "gcj02", "bd09") if c != crs_name}
    best = min(scores, key=lambda c: scores[c])
    if scores[best] < named * 0.5:
        report.add(
            Finding(
                "crs_suspect",
                "error",
                f"read as {crs_name} the layer misses its parent by {named:.1%} of its area; read "
                f"as {best} by {scores[best]:.1%}: the data is probably {best}, pass --crs {best}",
            )
        )


def number_codes(frame: gpd.GeoDataFrame, metric: gpd.GeoSeries, level: str) -> None:
    """Give codes to features without one: parent code + sequence, west→east, north→south.

    Rows are bands as tall as the median feature: a feature's row is how many
    such bands its representative point lies below the parent's northernmost
    child; within a row, west to east.
    """
    width = CODE_LENGTH[level] - CODE_LENGTH[PARENT[level]]
    points = shapely.point_on_surface(metric.values)
    xs, ys = shapely.get_x(points), shapely.get_y(points)
    bounds = shapely.bounds(metric.values)
    for parent, idx in frame.groupby("parent_code").groups.items():
        pos = frame.index.get_indexer(idx)
        band = float(np.median(bounds[pos, 3] - bounds[pos, 1])) or 1.0
        rows = np.floor((ys[pos].max() - ys[pos]) / band)
        order = np.lexsort((xs[pos], rows))
        taken = set(frame["code"].iloc[pos].dropna())
        seq = 0
        for k in order:
            if frame["code"].iloc[pos[k]] is not None:
                continue
            seq += 1
            while f"{parent}{seq:0{width}d}" in taken:
                seq += 1
            frame.iloc[pos[k], frame.columns.get_loc("code")] = f"{parent}{seq:0{width}d}"


def prepare_layer(
    frame: gpd.GeoDataFrame,
    level: str,
    crs_name: str,
    parents: gpd.GeoDataFrame | None,
    *,
    repair: bool = False,
    settings: Settings | None = None,
    source_hash: str = "",
) -> Layer:
    """Run every check on a WGS84 layer against its parents; errors raise nothing here."""
    settings = settings or get_settings()
    report = CheckReport(level, len(frame))
    frame = frame.copy()
    check_geometry(frame, report, repair)
    if report.errors:
        return Layer(level, frame, source_hash, report)
    # One metric CRS for the layer and its parents, centred on the parents when
    # there are any (a misplaced layer must not move the yardstick).
    around = parents if parents is not None and not parents.empty else frame
    metric_crs = crsmod.metric_crs_around(around.total_bounds)
    metric = _metric(frame, metric_crs)
    if level == "district":
        check_codes(frame, level, report)
        check_overlaps(frame, metric, report, settings.overlap_tolerance_m2, severity="warning")
        return Layer(level, frame, source_hash, report)
    if parents is None or parents.empty:
        report.add(
            Finding(
                "unknown_parent",
                "error",
                f"no {PARENT[level]} layer is loaded; load it before {level}s",
            )
        )
        return Layer(level, frame, source_hash, report)
    parents_metric = _metric(parents, metric_crs)
    check_crs_fit(frame, crs_name, parents_metric, report)
    if report.errors:
        return Layer(level, frame, source_hash, report)
    assign_parents(frame, metric, parents, parents_metric, report)
    if frame["code"].isna().any() and not frame["parent_code"].isna().any():
        number_codes(frame, metric, level)
    check_codes(frame, level, report)
    check_overlaps(frame, metric, report, settings.overlap_tolerance_m2)
    check_containment(frame, metric, parents, parents_metric, report, settings)
    return Layer(level, frame, source_hash, report)
