"""Coordinate reference systems: names, the Chinese map offsets, and reprojection.

This is the project's one place for CRS handling. Every coordinate that enters the
system names its CRS; :func:`parse_crs` turns that name into a canonical one and the
functions below bring the coordinates to WGS84 (lon/lat, EPSG:4326), the CRS in
which everything is stored, or to :data:`METRIC_CRS` for distances and areas.

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
form; they are solved here by fixed-point iteration to well below a millimetre.

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

if TYPE_CHECKING:
    import geopandas as gpd

__all__ = [
    "CANONICAL_NAMES",
    "METRIC_CRS",
    "UnknownCRSError",
    "bd09_to_gcj02",
    "bd09_to_wgs84",
    "from_wgs84",
    "gcj02_to_bd09",
    "gcj02_to_wgs84",
    "geodataframe_to_wgs84",
    "in_china",
    "metric_transformer",
    "parse_crs",
    "to_metric",
    "to_wgs84",
    "transform_coords",
    "transform_geometry",
    "wgs84_to_bd09",
    "wgs84_to_gcj02",
]

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
_Core = Callable[[FloatArray, FloatArray], tuple[FloatArray, FloatArray]]
GeomT = TypeVar("GeomT", bound=BaseGeometry)
FrameT = TypeVar("FrameT", "gpd.GeoDataFrame", "gpd.GeoSeries")

# --------------------------------------------------------------------------- names

WGS84: Final = "wgs84"
CGCS2000: Final = "cgcs2000"
GCJ02: Final = "gcj02"
BD09: Final = "bd09"
CANONICAL_NAMES: Final = (WGS84, CGCS2000, GCJ02, BD09)
"""The named CRSs; any ``EPSG:n`` that pyproj knows is accepted as well."""

METRIC_CRS: Final = "EPSG:4547"
"""CGCS2000 / 3-degree Gauss-Kruger CM 114E: metres, low distortion around Jiangmen."""

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


# ------------------------------------------------------------ array plumbing


def _as_arrays(lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[FloatArray, FloatArray, bool]:
    """Broadcast lon/lat to float64 arrays; the flag says whether both were scalars."""
    x = np.asarray(lon, dtype=np.float64)
    y = np.asarray(lat, dtype=np.float64)
    scalar = x.ndim == 0 and y.ndim == 0
    if x.shape != y.shape:
        x, y = np.broadcast_arrays(x, y)
    return x, y, scalar


def _result(
    x: FloatArray, y: FloatArray, scalar: bool
) -> tuple[float, float] | tuple[FloatArray, FloatArray]:
    """Python floats for scalar input, arrays otherwise."""
    if scalar:
        return float(x), float(y)
    return x, y


def _apply(
    core: _Core, lon: npt.ArrayLike, lat: npt.ArrayLike
) -> tuple[float, float] | tuple[FloatArray, FloatArray]:
    """Run an elementwise ``core`` on finite points only; non-finite points become NaN.

    Keeping NaN/Inf away from the cores means no numpy warnings (``sin(inf)``) and no
    iteration that can never converge.
    """
    x, y, scalar = _as_arrays(lon, lat)
    shape = x.shape
    xf, yf = x.ravel(), y.ravel()
    ok = np.isfinite(xf) & np.isfinite(yf)
    if ok.all():
        ox, oy = core(xf, yf)
    else:
        ox = np.full(xf.shape, np.nan)
        oy = np.full(yf.shape, np.nan)
        ox[ok], oy[ok] = core(xf[ok], yf[ok])
    return _result(ox.reshape(shape), oy.reshape(shape), scalar)


def _identity(
    lon: npt.ArrayLike, lat: npt.ArrayLike
) -> tuple[float, float] | tuple[FloatArray, FloatArray]:
    """Same coordinates, as new float(s)/array(s)."""
    x, y, scalar = _as_arrays(lon, lat)
    return _result(x.copy(), y.copy(), scalar)


_INVERSE_TOL_DEG: Final = 1e-7
"""An inverse stops refining a point once its last correction was below this (~1 cm).
Each step shrinks the error at least 40-fold (GCJ-02: ~200-fold), so the error left is
below ~3e-9 degrees (0.3 mm); tests check < 1 mm."""
_INVERSE_MAX_ITER: Final = 20
"""Safety cap; 3 passes are typical. Non-finite points never reach the loop."""


def _iterate_inverse(
    forward: _Core, target_x: FloatArray, target_y: FloatArray, x: FloatArray, y: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Solve ``forward(p) == target`` by fixed-point iteration p <- p - (forward(p) - target).

    This converges because forward(p) - p is small and smooth (its derivatives are at
    most ~0.02), so each step is a contraction. Points leave the working set once their
    correction is below :data:`_INVERSE_TOL_DEG`; at most :data:`_INVERSE_MAX_ITER`
    passes. ``x``/``y`` are the starting guess and are updated in place.
    """
    active: npt.NDArray[np.intp] | None = None  # None: every point is still active
    for _ in range(_INVERSE_MAX_ITER):
        if active is None:
            fx, fy = forward(x, y)
            rx = fx - target_x
            ry = fy - target_y
            x -= rx
            y -= ry
        else:
            ax, ay = x[active], y[active]
            fx, fy = forward(ax, ay)
            rx = fx - target_x[active]
            ry = fy - target_y[active]
            x[active] = ax - rx
            y[active] = ay - ry
        unconverged = (np.abs(rx) > _INVERSE_TOL_DEG) | (np.abs(ry) > _INVERSE_TOL_DEG)
        active = np.flatnonzero(unconverged) if active is None else active[unconverged]
        if active.size == 0:
            break
    return x, y


# -------------------------------------------------------------------- GCJ-02

_KRASOVSKY_A: Final = 6378245.0
_KRASOVSKY_EE: Final = 0.00669342162296594323
_CHINA_LON: Final = (72.004, 137.8347)
_CHINA_LAT: Final = (0.8293, 55.8271)


def in_china(lon: npt.ArrayLike, lat: npt.ArrayLike) -> BoolArray:
    """Whether points fall in the rough mainland-China box where GCJ-02 applies.

    The box (lon 72.004-137.8347, lat 0.8293-55.8271, bounds inclusive) is the conventional
    rule of all public GCJ-02 implementations: outside it, GCJ-02 equals WGS84. It is a
    box, not a border, so Hong Kong, Macau, Taiwan and parts of neighbouring countries
    count as "in"; that is how the consumer map apps behave too. NaN is "out".
    """
    x = np.asarray(lon, dtype=np.float64)
    y = np.asarray(lat, dtype=np.float64)
    result: BoolArray = (
        (x >= _CHINA_LON[0]) & (x <= _CHINA_LON[1]) & (y >= _CHINA_LAT[0]) & (y <= _CHINA_LAT[1])
    )
    return result


def _gcj_offset(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    """The GCJ-02 offset (dlon, dlat) in degrees at WGS84 points, ignoring the China box.

    ``dlat_m``/``dlon_m`` are the published "transformLat"/"transformLon" polynomials
    (centred on 105E 35N; they give metres of arc), converted to degrees with the
    meridional and parallel radii of curvature of the Krasovsky ellipsoid. Speed-ups
    that change nothing but rounding (~1e-17 degrees): sin(3t) = sin t (3 - 4 sin^2 t)
    saves three of the eleven sines, and cos(lat) = sqrt(1 - sin^2(lat)) for |lat| < 90.
    """
    pi = math.pi
    x = lon - 105.0
    y = lat - 35.0
    sin_2pi_x = np.sin(2.0 * pi * x)
    sin_6pi_x = sin_2pi_x * (3.0 - 4.0 * sin_2pi_x * sin_2pi_x)
    sin_pi3_x = np.sin(pi / 3.0 * x)
    sin_pi_x = sin_pi3_x * (3.0 - 4.0 * sin_pi3_x * sin_pi3_x)
    sin_pi3_y = np.sin(pi / 3.0 * y)
    sin_pi_y = sin_pi3_y * (3.0 - 4.0 * sin_pi3_y * sin_pi3_y)
    xy = 0.1 * x * y
    sqrt_abs_x = np.sqrt(np.abs(x))
    shared = (20.0 * sin_6pi_x + 20.0 * sin_2pi_x) * (2.0 / 3.0)
    dlat_m = (
        -100.0
        + 2.0 * x
        + 3.0 * y
        + 0.2 * y * y
        + xy
        + 0.2 * sqrt_abs_x
        + shared
        + (20.0 * sin_pi_y + 40.0 * sin_pi3_y) * (2.0 / 3.0)
        + (160.0 * np.sin(pi / 12.0 * y) + 320.0 * np.sin(pi / 30.0 * y)) * (2.0 / 3.0)
    )
    dlon_m = (
        300.0
        + x
        + 2.0 * y
        + 0.1 * x * x
        + xy
        + 0.1 * sqrt_abs_x
        + shared
        + (20.0 * sin_pi_x + 40.0 * sin_pi3_x) * (2.0 / 3.0)
        + (150.0 * np.sin(pi / 12.0 * x) + 300.0 * np.sin(pi / 30.0 * x)) * (2.0 / 3.0)
    )
    sin_lat = np.sin(np.radians(lat))
    sin2_lat = sin_lat * sin_lat
    magic = 1.0 - _KRASOVSKY_EE * sin2_lat
    sqrt_magic = np.sqrt(magic)
    # degrees = metres / radius of curvature * 180/pi, with the meridional radius
    # M = a (1 - e^2) / magic^1.5 and the parallel radius N cos(lat) = a cos(lat) / magic^0.5
    dlat = dlat_m * (magic * sqrt_magic) * (180.0 / (pi * _KRASOVSKY_A * (1.0 - _KRASOVSKY_EE)))
    dlon = dlon_m * sqrt_magic / np.sqrt(1.0 - sin2_lat) * (180.0 / (pi * _KRASOVSKY_A))
    return dlon, dlat


def _gcj_forward_raw(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    """WGS84 -> GCJ-02 everywhere, without the China box (for the inverse iteration)."""
    dlon, dlat = _gcj_offset(lon, lat)
    return lon + dlon, lat + dlat


def _wgs84_to_gcj02_core(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    inside = in_china(lon, lat)
    if inside.all():
        return _gcj_forward_raw(lon, lat)
    out_lon, out_lat = lon.copy(), lat.copy()
    out_lon[inside], out_lat[inside] = _gcj_forward_raw(lon[inside], lat[inside])
    return out_lon, out_lat


def _gcj02_to_wgs84_core(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    # The box test is on the GCJ-02 point: outside it the point is taken as WGS84 already.
    # Inside, the smooth (box-free) forward is inverted, so a point within a few hundred
    # metres of the box edge can come back just outside the box; that strip is in the
    # sea or in neighbouring countries, nowhere near the district.
    inside = in_china(lon, lat)
    out_lon, out_lat = lon.copy(), lat.copy()
    if inside.all():
        return _iterate_inverse(_gcj_forward_raw, lon, lat, out_lon, out_lat)
    tx, ty = lon[inside], lat[inside]
    out_lon[inside], out_lat[inside] = _iterate_inverse(
        _gcj_forward_raw, tx, ty, tx.copy(), ty.copy()
    )
    return out_lon, out_lat


# --------------------------------------------------------------------- BD-09

_X_PI: Final = math.pi * 3000.0 / 180.0
_BD_DLON: Final = 0.0065
_BD_DLAT: Final = 0.006


def _gcj02_to_bd09_core(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Baidu's published GCJ-02 -> BD-09: a small polar wobble plus a fixed shift."""
    z = np.sqrt(lon * lon + lat * lat) + 0.00002 * np.sin(lat * _X_PI)
    theta = np.arctan2(lat, lon) + 0.000003 * np.cos(lon * _X_PI)
    return z * np.cos(theta) + _BD_DLON, z * np.sin(theta) + _BD_DLAT


def _bd09_to_gcj02_rough(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    """The common closed-form inverse; ~1e-6 degrees off, used as the iteration's start."""
    x = lon - _BD_DLON
    y = lat - _BD_DLAT
    z = np.sqrt(x * x + y * y) - 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _X_PI)
    return z * np.cos(theta), z * np.sin(theta)


def _bd09_to_gcj02_core(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    start_x, start_y = _bd09_to_gcj02_rough(lon, lat)
    return _iterate_inverse(_gcj02_to_bd09_core, lon, lat, start_x, start_y)


def _wgs84_to_bd09_core(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    return _gcj02_to_bd09_core(*_wgs84_to_gcj02_core(lon, lat))


def _bd09_to_wgs84_core(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    return _gcj02_to_wgs84_core(*_bd09_to_gcj02_core(lon, lat))


# ------------------------------------------------------------ public transforms
# Each has two overloads: scalars -> (float, float), array-likes -> (ndarray, ndarray).
# Points with a NaN or infinite coordinate come out as (NaN, NaN).


@overload
def wgs84_to_gcj02(lon: float, lat: float) -> tuple[float, float]: ...
@overload
def wgs84_to_gcj02(lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[FloatArray, FloatArray]: ...
def wgs84_to_gcj02(
    lon: npt.ArrayLike, lat: npt.ArrayLike
) -> tuple[float, float] | tuple[FloatArray, FloatArray]:
    """WGS84 -> GCJ-02 (AMap/Tencent). Points outside the China box (:func:`in_china`)
    are returned unchanged, the conventional rule."""
    return _apply(_wgs84_to_gcj02_core, lon, lat)


@overload
def gcj02_to_wgs84(lon: float, lat: float) -> tuple[float, float]: ...
@overload
def gcj02_to_wgs84(lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[FloatArray, FloatArray]: ...
def gcj02_to_wgs84(
    lon: npt.ArrayLike, lat: npt.ArrayLike
) -> tuple[float, float] | tuple[FloatArray, FloatArray]:
    """GCJ-02 -> WGS84, the exact inverse of :func:`wgs84_to_gcj02`, by iteration (error
    below 1 mm, typically 3 passes). Points outside the China box are unchanged."""
    return _apply(_gcj02_to_wgs84_core, lon, lat)


@overload
def gcj02_to_bd09(lon: float, lat: float) -> tuple[float, float]: ...
@overload
def gcj02_to_bd09(lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[FloatArray, FloatArray]: ...
def gcj02_to_bd09(
    lon: npt.ArrayLike, lat: npt.ArrayLike
) -> tuple[float, float] | tuple[FloatArray, FloatArray]:
    """GCJ-02 -> BD-09 (Baidu). Applied everywhere: Baidu's offset has no China box."""
    return _apply(_gcj02_to_bd09_core, lon, lat)


@overload
def bd09_to_gcj02(lon: float, lat: float) -> tuple[float, float]: ...
@overload
def bd09_to_gcj02(lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[FloatArray, FloatArray]: ...
def bd09_to_gcj02(
    lon: npt.ArrayLike, lat: npt.ArrayLike
) -> tuple[float, float] | tuple[FloatArray, FloatArray]:
    """BD-09 -> GCJ-02, exact inverse of :func:`gcj02_to_bd09`: the usual closed form is
    only good to ~0.1 m, so it is refined by iteration."""
    return _apply(_bd09_to_gcj02_core, lon, lat)


@overload
def wgs84_to_bd09(lon: float, lat: float) -> tuple[float, float]: ...
@overload
def wgs84_to_bd09(lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[FloatArray, FloatArray]: ...
def wgs84_to_bd09(
    lon: npt.ArrayLike, lat: npt.ArrayLike
) -> tuple[float, float] | tuple[FloatArray, FloatArray]:
    """WGS84 -> BD-09, i.e. GCJ-02 then Baidu's offset (so outside the China box only
    Baidu's offset is applied)."""
    return _apply(_wgs84_to_bd09_core, lon, lat)


@overload
def bd09_to_wgs84(lon: float, lat: float) -> tuple[float, float]: ...
@overload
def bd09_to_wgs84(lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[FloatArray, FloatArray]: ...
def bd09_to_wgs84(
    lon: npt.ArrayLike, lat: npt.ArrayLike
) -> tuple[float, float] | tuple[FloatArray, FloatArray]:
    """BD-09 -> WGS84, the exact inverse of :func:`wgs84_to_bd09`."""
    return _apply(_bd09_to_wgs84_core, lon, lat)


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


def metric_transformer() -> Transformer:
    """The cached WGS84 -> :data:`METRIC_CRS` transformer (x = easting, y = northing)."""
    return _pyproj_transformer("EPSG:4326", METRIC_CRS)


@overload
def to_metric(geom_or_gdf: GeomT) -> GeomT: ...
@overload
def to_metric(geom_or_gdf: FrameT) -> FrameT: ...
def to_metric(
    geom_or_gdf: BaseGeometry | gpd.GeoDataFrame | gpd.GeoSeries,
) -> BaseGeometry | gpd.GeoDataFrame | gpd.GeoSeries:
    """WGS84 geometry, GeoSeries or GeoDataFrame -> :data:`METRIC_CRS`, for lengths/areas.

    A bare geometry is taken to be WGS84. A GeoSeries/GeoDataFrame without a CRS is
    taken to be WGS84; one with a CRS is reprojected from that CRS.
    """
    if isinstance(geom_or_gdf, BaseGeometry):
        return transform_geometry(geom_or_gdf, WGS84, METRIC_CRS)
    frame = geom_or_gdf if geom_or_gdf.crs is not None else geom_or_gdf.set_crs("EPSG:4326")
    return frame.to_crs(METRIC_CRS)
