"""Loading layout files with checks, and writing them as a new generation.

A load reads a file (GeoJSON, GeoPackage, Shapefile; any CRS the caller
names), converts it to WGS84 once, checks it against its parent level, and only
then writes. Every write makes a complete new generation (the loaded levels
replaced, the others carried forward) and makes it current in the same
transaction: a failed load leaves nothing behind.

Checks, each reported with a location (lon, lat in WGS84):
invalid geometry (optionally repaired), duplicate or malformed codes, overlaps
between siblings, gaps in the parent's coverage, children outside their parent,
and a CRS that looks wrong (the layer fits its parent far better read in
another CRS, or its numbers are not longitudes and latitudes at all).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
import sqlalchemy as sa
from pyproj import CRS
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry
from sqlalchemy.engine import Connection, Engine

from gis import crs as crsmod
from gis.models import CODE_LENGTH, LEVELS, PARENT
from gis.settings import Settings, get_settings

TABLE = {
    "district": "district",
    "subdistrict": "subdistrict",
    "community": "community",
    "grid": "grid_cell",
}
PARENT_COLUMN = {
    "subdistrict": "district_code",
    "community": "subdistrict_code",
    "grid": "community_code",
}
CHILD = {parent: child for child, parent in PARENT.items()}


@dataclass(frozen=True)
class Finding:
    """One problem found in a layer, with where it is."""

    check: str
    severity: str  # "error" stops the load; "warning" is reported only
    message: str
    code: str | None = None
    lon: float | None = None
    lat: float | None = None
    area_m2: float | None = None

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready view."""
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass
class CheckReport:
    """All findings for one level of a load."""

    level: str
    features: int = 0
    findings: list[Finding] = field(default_factory=list)

    @property
    def errors(self) -> list[Finding]:
        """Findings that stop the load."""
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list[Finding]:
        """Findings that are only reported."""
        return [f for f in self.findings if f.severity == "warning"]

    def add(self, finding: Finding) -> None:
        """Record a finding."""
        self.findings.append(finding)


class LayoutError(Exception):
    """A load that must not be written; `reports` says why, with locations."""

    def __init__(self, message: str, reports: list[CheckReport] | None = None) -> None:
        super().__init__(message)
        self.reports = reports or []


@dataclass
class Layer:
    """A checked layer in WGS84: columns code, name, parent_code, geometry."""

    level: str
    frame: gpd.GeoDataFrame
    source_hash: str
    report: CheckReport


# ---------------------------------------------------------------- reading ---


def _file_hash(path: Path) -> str:
    digest = hashlib.sha256()
    files = [path]
    if path.suffix.lower() == ".shp":
        files = sorted(path.parent.glob(path.stem + ".*"))
    for f in files:
        digest.update(f.read_bytes())
    return digest.hexdigest()[:16]


def read_layer(
    path: Path,
    level: str,
    crs: str,
    *,
    name_field: str | None = None,
    code_field: str | None = None,
    parent_field: str | None = None,
    layer: str | None = None,
) -> tuple[gpd.GeoDataFrame, str]:
    """Read a file into WGS84 with columns code, name, parent_code, geometry.

    The caller names the CRS; a file that declares a different, projected CRS,
    or whose numbers cannot be longitudes and latitudes, is refused here.
    """
    if level not in LEVELS:
        raise LayoutError(f"unknown level {level!r}; use one of {', '.join(LEVELS)}")
    try:
        crs_name = crsmod.parse_crs(crs)
    except crsmod.UnknownCRSError as exc:
        raise LayoutError(str(exc)) from exc
    path = Path(path)
    if not path.exists():
        raise LayoutError(f"{path}: no such file")
    try:
        raw = gpd.read_file(path, layer=layer, engine="pyogrio")
    except Exception as exc:  # pyogrio raises many kinds; all mean "cannot read"
        raise LayoutError(f"{path}: cannot read as a vector file: {exc}") from exc
    if raw.empty:
        raise LayoutError(f"{path}: no features")
    _check_declared_crs(path, raw.crs, crs_name)
    _check_plausible_coordinates(path, raw, crs_name)

    def column(name: str | None, default: Iterable[str]) -> str | None:
        if name:
            if name not in raw.columns:
                raise LayoutError(f"{path}: no field {name!r}; fields are {list(raw.columns)}")
            return name
        return next((c for c in default if c in raw.columns), None)

    code_col = column(code_field, ["code", "adcode"])
    name_col = column(name_field, ["name", "NAME"])
    parent_col = column(parent_field, [PARENT_COLUMN.get(level, "-"), "parent_code"])
    frame = gpd.GeoDataFrame(
        {
            "code": raw[code_col].map(_as_code) if code_col else None,
            "name": raw[name_col].astype(str).str.strip() if name_col else None,
            "parent_code": raw[parent_col].map(_as_code) if parent_col else None,
        },
        geometry=np.asarray(raw.geometry.values, dtype=object),
        index=raw.index,
        crs=None,
    )
    # The CRS named by the caller wins over whatever the file says (checked above).
    if crs_name.startswith("EPSG:"):
        frame = frame.set_crs(crs_name).to_crs("EPSG:4326")
    else:
        geoms = np.asarray(frame.geometry.values, dtype=object)
        present = np.array([g is not None for g in geoms], dtype=bool)
        geoms[present] = crsmod.transform_geometry(geoms[present], crs_name)
        frame = frame.set_geometry(list(geoms), crs="EPSG:4326")
    frame["row"] = np.arange(1, len(frame) + 1)
    return frame, _file_hash(path)


def _as_code(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    return text or None


def _check_declared_crs(path: Path, declared: CRS | None, named: str) -> None:
    if declared is None:
        return
    if declared.is_projected and not named.startswith("EPSG:"):
        raise LayoutError(
            f"{path}: the file declares a projected CRS ({declared.to_string()}) but --crs "
            f"{named} names longitude/latitude; pass --crs {declared.to_string()}"
        )
    if (
        named.startswith("EPSG:")
        and CRS.from_user_input(named).is_projected
        and (declared.is_geographic)
    ):
        raise LayoutError(
            f"{path}: the file declares geographic coordinates ({declared.to_string()}) "
            f"but --crs {named} is projected"
        )


def _check_plausible_coordinates(path: Path, frame: gpd.GeoDataFrame, named: str) -> None:
    if named.startswith("EPSG:") and CRS.from_user_input(named).is_projected:
        return
    minx, miny, maxx, maxy = frame.total_bounds
    if not np.all(np.isfinite([minx, miny, maxx, maxy])):
        raise LayoutError(f"{path}: coordinates are not finite numbers")
    if minx < -180 or maxx > 180 or miny < -90 or maxy > 90:
        raise LayoutError(
            f"{path}: coordinates ({minx:.0f}..{maxx:.0f}, {miny:.0f}..{maxy:.0f}) are not "
            f"longitudes/latitudes, so --crs {named} is wrong: they look projected "
            "(metres); name the CRS, e.g. --crs EPSG:4547"
        )
    if minx > 0 and maxx < 60 and miny > 70 and maxy < 140:
        raise LayoutError(
            f"{path}: x runs {minx:.3f}..{maxx:.3f} and y {miny:.3f}..{maxy:.3f}: latitude and "
            "longitude look swapped (GeoJSON is lon,lat)"
        )


# --------------------------------------------------------------- checking ---


def _metric(frame: gpd.GeoDataFrame) -> gpd.GeoSeries:
    return frame.geometry.to_crs(crsmod.METRIC_CRS)


def _lonlat(point_metric: BaseGeometry) -> tuple[float, float]:
    lon, lat = crsmod.metric_transformer().transform(
        shapely.get_x(point_metric), shapely.get_y(point_metric), direction="INVERSE"
    )
    return round(float(lon), 6), round(float(lat), 6)


def _where(geom_metric: BaseGeometry) -> dict[str, float]:
    lon, lat = _lonlat(shapely.point_on_surface(geom_metric))
    return {"lon": lon, "lat": lat}


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
                    **_where(overlap),
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
                    **_where(outside),
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
                        **_where(part),
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
                **_where(parent_geom[parent]),
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
    the mismatch under the other Chinese CRSs and say which one fits.
    """
    if crs_name.startswith("EPSG:") and crs_name not in ("EPSG:4326", "EPSG:4490"):
        return
    target = shapely.union_all(parents_metric.values)
    as_named_wgs = shapely.union_all(path_frame.geometry.values)
    # Back to the file's own numbers, then read them in each candidate CRS.
    original = crsmod.transform_geometry(as_named_wgs, "wgs84", crs_name)
    transformer = crsmod.metric_transformer()

    def mismatch(candidate: str) -> float:
        wgs = crsmod.transform_geometry(original, candidate, "wgs84")
        geom = shapely.transform(
            wgs, lambda xy: np.column_stack(transformer.transform(xy[:, 0], xy[:, 1]))
        )
        return float(shapely.symmetric_difference(geom, target).area / target.area)

    named = mismatch(crs_name)
    if named < 0.002:
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
    metric = _metric(frame)
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
    parents_metric = _metric(parents)
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


# ---------------------------------------------------------------- writing ---


def current_generation(conn: Connection) -> int | None:
    """The id of the current generation, or None before the first load."""
    return conn.execute(sa.text("SELECT id FROM layout_generation WHERE is_current")).scalar()


def read_level(conn: Connection, level: str, generation: int | None = None) -> gpd.GeoDataFrame:
    """One level of a generation (default: current) as a WGS84 GeoDataFrame."""
    gen = generation if generation is not None else current_generation(conn)
    parent_col = PARENT_COLUMN.get(level)
    name = "code AS name" if level == "grid" else "name"
    sql = (
        f"SELECT code, {name}, {parent_col or 'NULL'} AS parent_code, geom "
        f"FROM {TABLE[level]} WHERE generation_id = :gen"
    )
    if level == "district":
        sql += " AND is_home"
    sql += " ORDER BY code"
    frame = gpd.read_postgis(sa.text(sql), conn, params={"gen": gen}, geom_col="geom")
    return frame.rename_geometry("geometry")


def _insert_level(conn: Connection, gen: int, layer: Layer, settings: Settings) -> None:
    frame = layer.frame
    wkb = shapely.to_wkb(frame.geometry.values, hex=True)
    level = layer.level
    rows: list[dict[str, Any]]
    if level == "district":
        rows = [
            {"g": gen, "c": c, "n": n or c, "h": c == settings.home_district_code, "w": w}
            for c, n, w in zip(frame["code"], frame["name"], wkb, strict=True)
        ]
        sql = (
            "INSERT INTO district (generation_id, code, name, is_home, geom) "
            "VALUES (:g, :c, :n, :h, ST_Multi(ST_GeomFromWKB(decode(:w, 'hex'), 4326)))"
        )
    elif level == "grid":
        areas = _metric(frame).area.round(1).to_numpy()
        rows = [
            {"g": gen, "c": c, "p": p, "a": float(a), "w": w}
            for c, p, a, w in zip(frame["code"], frame["parent_code"], areas, wkb, strict=True)
        ]
        sql = (
            "INSERT INTO grid_cell (generation_id, code, community_code, area_m2, geom) "
            "VALUES (:g, :c, :p, :a, ST_Multi(ST_GeomFromWKB(decode(:w, 'hex'), 4326)))"
        )
    else:
        table, parent = TABLE[level], PARENT_COLUMN[level]
        rows = [
            {"g": gen, "c": c, "n": n or c, "p": p, "w": w}
            for c, n, p, w in zip(
                frame["code"], frame["name"], frame["parent_code"], wkb, strict=True
            )
        ]
        sql = (
            f"INSERT INTO {table} (generation_id, code, name, {parent}, geom) "
            "VALUES (:g, :c, :n, :p, ST_Multi(ST_GeomFromWKB(decode(:w, 'hex'), 4326)))"
        )
    conn.execute(sa.text(sql), rows)


_CARRY = {
    "district": "code, name, is_home, geom",
    "subdistrict": "code, name, district_code, geom",
    "community": "code, name, subdistrict_code, geom",
    "grid": "code, community_code, area_m2, geom",
}


def _carry_forward(
    conn: Connection, level: str, old: int, new: int, except_codes: list[str] | None = None
) -> None:
    cols = _CARRY[level]
    sql = (
        f"INSERT INTO {TABLE[level]} (generation_id, {cols}) "
        f"SELECT :new, {cols} FROM {TABLE[level]} WHERE generation_id = :old"
    )
    params: dict[str, Any] = {"new": new, "old": old}
    if except_codes:
        sql += " AND code <> ALL(:codes)"
        params["codes"] = except_codes
    conn.execute(sa.text(sql), params)


def _check_carried(conn: Connection, gen: int, level: str, settings: Settings) -> list[Finding]:
    """Children carried into a generation whose new parent no longer holds them."""
    child, parent = TABLE[level], TABLE[PARENT[level]]
    col = PARENT_COLUMN[level]
    rows = conn.execute(
        sa.text(f"""
        SELECT c.code, p.code IS NULL AS orphan,
               COALESCE(ST_Area(ST_Difference(c.geom, p.geom)::geography), 0) AS outside,
               ST_X(ST_PointOnSurface(c.geom)) AS lon, ST_Y(ST_PointOnSurface(c.geom)) AS lat
        FROM {child} c
        LEFT JOIN {parent} p ON p.generation_id = c.generation_id AND p.code = c.{col}
        WHERE c.generation_id = :gen
          AND (p.code IS NULL OR NOT ST_Covers(p.geom, c.geom))
    """),
        {"gen": gen},
    ).all()
    findings = []
    for code, orphan, outside, lon, lat in rows:
        if orphan:
            findings.append(
                Finding(
                    "unknown_parent",
                    "error",
                    f"existing {level} {code} has no parent in the new layout",
                    code,
                    round(lon, 6),
                    round(lat, 6),
                )
            )
        elif outside > settings.outside_tolerance_m2:
            findings.append(
                Finding(
                    "outside_parent",
                    "error",
                    f"existing {level} {code} has {outside:,.0f} m² outside its "
                    "new parent; reload it too",
                    code,
                    round(lon, 6),
                    round(lat, 6),
                    round(outside, 1),
                )
            )
    return findings


def write_generation(
    conn: Connection,
    layers: Mapping[str, Layer],
    note: str,
    settings: Settings | None = None,
    source_hash: str | None = None,
) -> int:
    """Write a complete new generation with `layers` replaced, and make it current.

    Runs inside the caller's transaction; raises LayoutError (and the caller
    rolls back) if carried-forward levels no longer fit their new parents.
    """
    settings = settings or get_settings()
    old = current_generation(conn)
    digest = (
        source_hash
        or hashlib.sha256(
            "".join(sorted(f"{k}:{v.source_hash}" for k, v in layers.items())).encode()
        ).hexdigest()[:16]
    )
    gen = conn.execute(
        sa.text("INSERT INTO layout_generation (note, source_hash) VALUES (:n, :h) RETURNING id"),
        {"n": note, "h": digest},
    ).scalar_one()
    for level in LEVELS:
        if level in layers:
            _insert_level(conn, gen, layers[level], settings)
            if level == "district" and old is not None:
                _carry_forward(conn, level, old, gen, list(layers[level].frame["code"]))
        elif old is not None:
            _carry_forward(conn, level, old, gen)
    conn.execute(
        sa.text("""
        INSERT INTO district_part (district_id, geom)
        SELECT id, ST_Subdivide(geom, 96) FROM district WHERE generation_id = :gen"""),
        {"gen": gen},
    )
    replaced = [LEVELS.index(level) for level in layers]
    findings: list[Finding] = []
    for level in LEVELS[min(replaced) + 1 :] if replaced else []:
        if level not in layers:
            findings += _check_carried(conn, gen, level, settings)
    if findings:
        report = CheckReport("carried", findings=findings)
        raise LayoutError("the new layout does not hold the levels below it", [report])
    conn.execute(sa.text("UPDATE layout_generation SET is_current = false WHERE is_current"))
    conn.execute(
        sa.text("UPDATE layout_generation SET is_current = true WHERE id = :g"), {"g": gen}
    )
    for table in ("district", "district_part", "subdistrict", "community", "grid_cell"):
        conn.execute(sa.text(f"ANALYZE {table}"))
    return gen


def load_file(
    engine: Engine,
    path: Path,
    level: str,
    crs: str,
    *,
    name_field: str | None = None,
    code_field: str | None = None,
    parent_field: str | None = None,
    layer: str | None = None,
    repair: bool = False,
    dry_run: bool = False,
    settings: Settings | None = None,
) -> tuple[int | None, CheckReport]:
    """Check a file and load it as a new current generation; `grid load` calls this.

    Returns (generation id, report); raises LayoutError with the report when
    any check fails, and then nothing is written.
    """
    settings = settings or get_settings()
    frame, digest = read_layer(
        path,
        level,
        crs,
        name_field=name_field,
        code_field=code_field,
        parent_field=parent_field,
        layer=layer,
    )
    with engine.begin() as conn:
        parents = read_level(conn, PARENT[level]) if level in PARENT else None
        prepared = prepare_layer(
            frame,
            level,
            crsmod.parse_crs(crs),
            parents,
            repair=repair,
            settings=settings,
            source_hash=digest,
        )
        if level != "district" and prepared.frame["code"].isna().any():
            prepared.report.add(Finding("bad_code", "error", "some features have no code"))
        if prepared.report.errors:
            raise LayoutError(
                f"{path}: {len(prepared.report.errors)} problem(s); nothing loaded",
                [prepared.report],
            )
        if prepared.frame["code"].isna().any():
            raise LayoutError(f"{path}: districts need a code (--code-field)", [prepared.report])
        if dry_run:
            return None, prepared.report
        gen = write_generation(
            conn, {level: prepared}, f"load {Path(path).name} as {level}", settings
        )
    return gen, prepared.report


def list_generations(conn: Connection) -> list[dict[str, Any]]:
    """Every generation, newest first, with its counts per level."""
    rows = conn.execute(
        sa.text("""
        SELECT l.id, l.created_at, l.note, l.is_current,
               (SELECT count(*) FROM subdistrict s WHERE s.generation_id = l.id) AS subdistricts,
               (SELECT count(*) FROM community c WHERE c.generation_id = l.id) AS communities,
               (SELECT count(*) FROM grid_cell g WHERE g.generation_id = l.id) AS grids
        FROM layout_generation l ORDER BY l.id DESC""")
    ).mappings()
    return [dict(r) for r in rows]


def activate_generation(conn: Connection, generation: int) -> None:
    """Make an existing generation current again (undo a load); cases keep their grids."""
    exists = conn.execute(
        sa.text("SELECT 1 FROM layout_generation WHERE id = :g"), {"g": generation}
    ).scalar()
    if not exists:
        raise LayoutError(f"no generation {generation}; `grid layout list` shows them")
    conn.execute(sa.text("UPDATE layout_generation SET is_current = false WHERE is_current"))
    conn.execute(
        sa.text("UPDATE layout_generation SET is_current = true WHERE id = :g"), {"g": generation}
    )
