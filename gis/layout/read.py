"""Reading layout files: any vector format and CRS the caller names, into WGS84.

The CRS is converted once, here; a file whose declared CRS contradicts the one
named, or whose numbers cannot be longitudes and latitudes, is refused before
any check runs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
from pyproj import CRS

from gis import crs as crsmod
from gis.layout.base import PARENT_COLUMN, LayoutError
from gis.models import LEVELS


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
    if max(abs(minx), abs(maxx)) <= 180 and max(abs(miny), abs(maxy)) <= 90:
        return
    if max(abs(minx), abs(maxx)) <= 90 and max(abs(miny), abs(maxy)) <= 180:
        raise LayoutError(
            f"{path}: x runs {minx:.3f}..{maxx:.3f} and y {miny:.3f}..{maxy:.3f}: latitude and "
            "longitude look swapped (GeoJSON is lon,lat)"
        )
    raise LayoutError(
        f"{path}: coordinates ({minx:.0f}..{maxx:.0f}, {miny:.0f}..{maxy:.0f}) are not "
        f"longitudes/latitudes, so --crs {named} is wrong: they look projected "
        "(metres); name the CRS, e.g. --crs EPSG:4547"
    )
