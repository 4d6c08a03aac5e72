"""The Chinese map offsets: GCJ-02 (AMap, Tencent, WeChat) and BD-09 (Baidu).

Split from :mod:`gis.crs`, which names CRSs and dispatches between them; this
module holds only the offset arithmetic. The forward formulas are the widely
published ones (Krasovsky 1940 ellipsoid for GCJ-02, the ``x_pi`` rotation for
BD-09). Their inverses have no closed form; they are solved here by fixed-point
iteration to well below a millimetre. Scalars in give Python floats out,
array-likes in give float64 ndarrays (broadcast to a common shape) out.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Final, overload

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
_Core = Callable[[FloatArray, FloatArray], tuple[FloatArray, FloatArray]]

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
