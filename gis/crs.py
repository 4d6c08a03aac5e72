"""Coordinate reference systems: names, the Chinese map offsets, and reprojection.

This is the project's one place for CRS handling. Every coordinate that enters the
system names its CRS; :func:`parse_crs` turns that name into a canonical one and the
functions below bring the coordinates to WGS84 (lon/lat, EPSG:4326), the CRS in
which everything is stored, or to a local metric CRS (:func:`metric_crs`) for
distances and areas.

The CRSs, in short (see ``DOMAIN.md``, "Coordinates in China"):

``wgs84``
    GPS, EPSG:4326.
``cgcs2000``
    China's national datum, EPSG:4490. Treated as identical to WGS84: the two differ
    by centimetres, below the accuracy of anything this service handles.
``gcj02``
    The obfuscated "Mars" coordinates of AMap/Gaode, Tencent and WeChat: WGS84 shifted
    by a smooth, position-dependent offset of a few hundred metres. pyproj does not
    know it.
``bd09``
    Baidu's coordinates (Baidu calls them ``bd09ll``): GCJ-02 shifted once more.
``EPSG:n``
    Anything else pyproj knows, e.g. ``EPSG:4547`` or ``EPSG:32649``.

The GCJ-02 and BD-09 forward formulas are the widely published ones (Krasovsky 1940
ellipsoid for GCJ-02, the ``x_pi`` rotation for BD-09). Their inverses have no closed
form; they are solved by fixed-point iteration to well below a millimetre. That
arithmetic lives in :mod:`gis.offsets`; its functions are re-exported here.

All point transforms are vectorised with numpy: scalars in give Python floats out,
array-likes in give float64 ndarrays (broadcast to a common shape) out.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Final, TypeVar, overload

import numpy as np
import numpy.typing as npt
import shapely
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError
from shapely.geometry.base import BaseGeometry

from gis.offsets import (
    FloatArray,
    _apply,
    _as_arrays,
    _bd09_to_gcj02_core,
    _bd09_to_wgs84_core,
    _Core,
    _gcj02_to_bd09_core,
    _gcj02_to_wgs84_core,
    _identity,
    _result,
    _wgs84_to_bd09_core,
    _wgs84_to_gcj02_core,
    bd09_to_gcj02,
    bd09_to_wgs84,
    gcj02_to_bd09,
    gcj02_to_wgs84,
    in_china,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)

if TYPE_CHECKING:
    import geopandas as gpd

__all__ = [
    "CANONICAL_NAMES",
    "UnknownCRSError",
    "bd09_to_gcj02",
    "bd09_to_wgs84",
    "from_wgs84",
    "gcj02_to_bd09",
    "gcj02_to_wgs84",
    "geodataframe_to_wgs84",
    "in_china",
    "metric_crs",
    "metric_crs_around",
    "metric_transformer",
    "parse_crs",
    "to_metric",
    "to_wgs84",
    "transform_coords",
    "transform_geometry",
    "wgs84_to_bd09",
    "wgs84_to_gcj02",
]

GeomT = TypeVar("GeomT", bound=BaseGeometry)
FrameT = TypeVar("FrameT", "gpd.GeoDataFrame", "gpd.GeoSeries")

# --------------------------------------------------------------------------- names

WGS84: Final = "wgs84"
CGCS2000: Final = "cgcs2000"
GCJ02: Final = "gcj02"
BD09: Final = "bd09"
CANONICAL_NAMES: Final = (WGS84, CGCS2000, GCJ02, BD09)
"""The named CRSs; any ``EPSG:n`` that pyproj knows is accepted as well."""

_ALIASES: Final[dict[str, str]] = {
    "wgs84": WGS84,
    "wgs-84": WGS84,
    "wgs84ll": WGS84,
    "epsg:4326": WGS84,
    "cgcs2000": CGCS2000,
    "epsg:4490": CGCS2000,
    "gcj02": GCJ02,
    "gcj-02": GCJ02,
    "gcj02ll": GCJ02,
    "bd09": BD09,
    "bd-09": BD09,
    "bd09ll": BD09,
}
_EPSG_RE: Final = re.compile(r"epsg:(\d{1,6})")
# The named CRSs that pyproj can handle itself, as pyproj inputs.
_PYPROJ_NAME: Final[dict[str, str]] = {WGS84: "EPSG:4326", CGCS2000: "EPSG:4490"}


class UnknownCRSError(ValueError):
    """A CRS name that is neither one of the named CRSs nor an EPSG code pyproj knows."""

    def __init__(self, name: object, reason: str = "") -> None:
        accepted = ", ".join(CANONICAL_NAMES)
        detail = f" ({reason})" if reason else ""
        super().__init__(
            f"unknown CRS {name!r}{detail}; accepted: {accepted} "
            "(aliases EPSG:4326, EPSG:4490, gcj-02, bd-09, bd09ll), "
            "or EPSG:<code> for a 2-D geographic or projected CRS known to pyproj"
        )
        self.name = name


@functools.lru_cache(maxsize=256)
def _check_epsg(code: int) -> str:
    """Return "" if pyproj knows EPSG:code as a usable 2-D CRS, else the reason why not."""
    try:
        crs = CRS.from_epsg(code)
    except CRSError:
        return "pyproj does not know this EPSG code"
    if not (crs.is_geographic or crs.is_projected):
        return "not a geographic or projected CRS"
    return ""


def parse_crs(name: str) -> str:
    """Return the canonical name of a CRS: a name in :data:`CANONICAL_NAMES` or ``EPSG:n``.

    Case and surrounding whitespace are ignored. ``EPSG:4326`` and ``EPSG:4490`` map to
    ``wgs84`` and ``cgcs2000`` so that each CRS has exactly one spelling downstream.
    Raises :class:`UnknownCRSError` for anything else, including EPSG codes that pyproj
    does not know or that are not 2-D geographic/projected CRSs (vertical, geocentric).
    """
    if not isinstance(name, str):
        raise UnknownCRSError(name, "not a string")
    key = name.strip().lower()
    if key in _ALIASES:
        return _ALIASES[key]
    match = _EPSG_RE.fullmatch(key)
    if match is None:
        raise UnknownCRSError(name)
    code = int(match.group(1))
    reason = _check_epsg(code)
    if reason:
        raise UnknownCRSError(name, reason)
    canonical = f"EPSG:{code}"
    return _ALIASES.get(canonical.lower(), canonical)


# The offset arithmetic lives in gis.offsets; its public functions are re-exported here.

# ------------------------------------------------------------ dispatch by name


@functools.lru_cache(maxsize=64)
def _pyproj_transformer(src: str, dst: str) -> Transformer:
    """Cached lon/lat-ordered pyproj transformer (pyproj >= 3.1 makes it thread-safe)."""
    return Transformer.from_crs(src, dst, always_xy=True)


def _pyproj_apply(
    src: str, dst: str, lon: npt.ArrayLike, lat: npt.ArrayLike
) -> tuple[float, float] | tuple[FloatArray, FloatArray]:
    x, y, scalar = _as_arrays(lon, lat)
    ox, oy = _pyproj_transformer(src, dst).transform(x, y)
    return _result(np.asarray(ox, dtype=np.float64), np.asarray(oy, dtype=np.float64), scalar)


_TO_WGS84: Final[dict[str, _Core]] = {
    GCJ02: _gcj02_to_wgs84_core,
    BD09: _bd09_to_wgs84_core,
}
_FROM_WGS84: Final[dict[str, _Core]] = {
    GCJ02: _wgs84_to_gcj02_core,
    BD09: _wgs84_to_bd09_core,
}
_DIRECT: Final[dict[tuple[str, str], _Core]] = {
    (GCJ02, BD09): _gcj02_to_bd09_core,
    (BD09, GCJ02): _bd09_to_gcj02_core,
}


def _is_wgs(canonical: str) -> bool:
    """WGS84 and CGCS2000 are the same thing here."""
    return canonical in (WGS84, CGCS2000)


def _pyproj_name(canonical: str) -> str:
    return _PYPROJ_NAME.get(canonical, canonical)


def _transform_canonical(
    src: str, dst: str, lon: npt.ArrayLike, lat: npt.ArrayLike
) -> tuple[float, float] | tuple[FloatArray, FloatArray]:
    """src -> dst for canonical names; pairs pyproj knows go straight through pyproj."""
    if src == dst or (_is_wgs(src) and _is_wgs(dst)):
        return _identity(lon, lat)
    if (src, dst) in _DIRECT:
        return _apply(_DIRECT[src, dst], lon, lat)
    if src in _TO_WGS84:
        if _is_wgs(dst):
            return _apply(_TO_WGS84[src], lon, lat)
        mid = _apply(_TO_WGS84[src], lon, lat)
        return _transform_canonical(WGS84, dst, *mid)
    if dst in _FROM_WGS84:
        mid = _transform_canonical(src, WGS84, lon, lat)
        return _apply(_FROM_WGS84[dst], *mid)
    return _pyproj_apply(_pyproj_name(src), _pyproj_name(dst), lon, lat)


@overload
def transform_coords(lon: float, lat: float, src: str, dst: str) -> tuple[float, float]: ...
@overload
def transform_coords(
    lon: npt.ArrayLike, lat: npt.ArrayLike, src: str, dst: str
) -> tuple[FloatArray, FloatArray]: ...
def transform_coords(
    lon: npt.ArrayLike, lat: npt.ArrayLike, src: str, dst: str
) -> tuple[float, float] | tuple[FloatArray, FloatArray]:
    """Points from any accepted CRS to any other (x/lon first, as everywhere here)."""
    return _transform_canonical(parse_crs(src), parse_crs(dst), lon, lat)


@overload
def to_wgs84(lon: float, lat: float, crs: str) -> tuple[float, float]: ...
@overload
def to_wgs84(lon: npt.ArrayLike, lat: npt.ArrayLike, crs: str) -> tuple[FloatArray, FloatArray]: ...
def to_wgs84(
    lon: npt.ArrayLike, lat: npt.ArrayLike, crs: str
) -> tuple[float, float] | tuple[FloatArray, FloatArray]:
    """Points in the named CRS -> WGS84 lon/lat.

    ``cgcs2000`` is returned as is: it agrees with WGS84 to a few centimetres, far below
    the accuracy of the data here. ``EPSG:n`` goes through a cached pyproj transformer.
    """
    return _transform_canonical(parse_crs(crs), WGS84, lon, lat)


@overload
def from_wgs84(lon: float, lat: float, crs: str) -> tuple[float, float]: ...
@overload
def from_wgs84(
    lon: npt.ArrayLike, lat: npt.ArrayLike, crs: str
) -> tuple[FloatArray, FloatArray]: ...
def from_wgs84(
    lon: npt.ArrayLike, lat: npt.ArrayLike, crs: str
) -> tuple[float, float] | tuple[FloatArray, FloatArray]:
    """WGS84 lon/lat -> the named CRS (e.g. GCJ-02 for an AMap layer). ``cgcs2000`` is
    treated as WGS84 (centimetres apart); ``EPSG:n`` goes through pyproj."""
    return _transform_canonical(WGS84, parse_crs(crs), lon, lat)


# ------------------------------------------------------------ geometries


def _xy_function(src: str, dst: str) -> Callable[[FloatArray], FloatArray]:
    """An (N, 2|3) -> (N, 2|3) function for :func:`shapely.transform`; Z passes through."""

    def transform_xy(coords: FloatArray) -> FloatArray:
        out = coords.copy()
        x, y = _transform_canonical(src, dst, coords[:, 0], coords[:, 1])
        out[:, 0] = x
        out[:, 1] = y
        return out

    return transform_xy


@overload
def transform_geometry(geom: GeomT, src: str, dst: str = WGS84) -> GeomT: ...
@overload
def transform_geometry(
    geom: npt.NDArray[np.object_], src: str, dst: str = WGS84
) -> npt.NDArray[np.object_]: ...
def transform_geometry(
    geom: BaseGeometry | npt.NDArray[np.object_], src: str, dst: str = WGS84
) -> BaseGeometry | npt.NDArray[np.object_]:
    """A shapely geometry (or array of them) from CRS ``src`` to ``dst``.

    All coordinates go through one vectorised call; geometry types, ring structure and
    Z values are kept. Validity is kept in practice because the offsets are smooth and
    nearly uniform over the size of a grid cell, but is not re-checked here.
    """
    s, d = parse_crs(src), parse_crs(dst)
    if s == d or (_is_wgs(s) and _is_wgs(d)):
        return geom
    return shapely.transform(geom, _xy_function(s, d), include_z=True)


def geodataframe_to_wgs84(gdf: gpd.GeoDataFrame, crs: str) -> gpd.GeoDataFrame:
    """A copy of ``gdf`` with its geometry converted from ``crs`` to WGS84 (EPSG:4326).

    ``crs`` is what the coordinates really are, and it overrides ``gdf.crs``: AMap data
    labelled EPSG:4326 is GCJ-02 in fact (see DOMAIN.md), so pass ``"gcj02"`` for it.
    """
    import geopandas as gpd

    canonical = parse_crs(crs)
    if canonical.startswith("EPSG:"):
        return gdf.set_crs(canonical, allow_override=True).to_crs("EPSG:4326")
    geoms = np.asarray(gdf.geometry.array, dtype=object)
    new = gpd.GeoSeries(
        transform_geometry(geoms, canonical, WGS84),
        index=gdf.index,
        crs="EPSG:4326",
        name=gdf.geometry.name,
    )
    out = gdf.copy()
    out[gdf.geometry.name] = new
    return out.set_crs("EPSG:4326", allow_override=True)


# ------------------------------------------------------------ metric CRS


def metric_crs(lon: float, lat: float) -> str:
    """A metric CRS for work round (lon, lat): Lambert azimuthal equal-area centred there.

    Areas come out exact (equal-area on the WGS84 ellipsoid) and lengths within 1e-5 of
    the geodesic ones for 60 km round the centre, wherever on Earth the layout lies, so
    tolerances in metres and square metres mean the same at 22°N and at 45°N. The centre
    is rounded to 0.1 degree, so that work on one district shares a cached transformer.
    """
    if not (math.isfinite(lon) and math.isfinite(lat) and -180 <= lon <= 180 and -90 <= lat <= 90):
        raise ValueError(f"no metric CRS round lon {lon}, lat {lat}")
    return (
        f"+proj=laea +lat_0={round(lat, 1):g} +lon_0={round(lon, 1):g} "
        "+x_0=0 +y_0=0 +datum=WGS84 +units=m +no_defs +type=crs"
    )


def metric_crs_around(bounds: npt.ArrayLike) -> str:
    """:func:`metric_crs` centred on WGS84 bounds (minx, miny, maxx, maxy)."""
    minx, miny, maxx, maxy = (float(v) for v in np.asarray(bounds, dtype=np.float64))
    return metric_crs((minx + maxx) / 2, (miny + maxy) / 2)


def metric_transformer(metric: str) -> Transformer:
    """The cached WGS84 -> `metric` transformer (x = easting, y = northing, metres)."""
    return _pyproj_transformer("EPSG:4326", metric)


@overload
def to_metric(geom_or_gdf: GeomT, metric: str | None = None) -> GeomT: ...
@overload
def to_metric(geom_or_gdf: FrameT, metric: str | None = None) -> FrameT: ...
def to_metric(
    geom_or_gdf: BaseGeometry | gpd.GeoDataFrame | gpd.GeoSeries,
    metric: str | None = None,
) -> BaseGeometry | gpd.GeoDataFrame | gpd.GeoSeries:
    """WGS84 geometry, GeoSeries or GeoDataFrame -> a metric CRS, for lengths and areas.

    `metric` defaults to :func:`metric_crs` centred on the input's own bounds. A bare
    geometry is taken to be WGS84. A GeoSeries/GeoDataFrame without a CRS is taken to
    be WGS84; one with a CRS is reprojected from that CRS.
    """
    if isinstance(geom_or_gdf, BaseGeometry):
        target = metric or metric_crs_around(geom_or_gdf.bounds)
        transformer = metric_transformer(target)

        def forward(xy: FloatArray) -> FloatArray:
            return np.column_stack(transformer.transform(xy[:, 0], xy[:, 1]))

        return shapely.transform(geom_or_gdf, forward)
    frame = geom_or_gdf if geom_or_gdf.crs is not None else geom_or_gdf.set_crs("EPSG:4326")
    if metric is None:
        wgs = frame if frame.crs.equals("EPSG:4326") else frame.to_crs("EPSG:4326")
        metric = metric_crs_around(wgs.total_bounds)
    return frame.to_crs(metric)
