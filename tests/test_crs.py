"""Tests for gis.crs: CRS names, GCJ-02/BD-09 transforms, reprojection of geometries.

The reference for the GCJ-02/BD-09 forward formulas is ``prcoords`` (public domain,
dev dependency). Note its argument and result order is (lat, lon).
"""

from __future__ import annotations

from collections.abc import Callable

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import prcoords
import pytest
import shapely
from pyproj import Geod, Transformer
from shapely.geometry import MultiPolygon, Point, Polygon

from gis import crs
from gis.crs import UnknownCRSError, parse_crs

FloatArray = npt.NDArray[np.float64]
Pair = tuple[FloatArray, FloatArray]

GEOD = Geod(ellps="WGS84")
# Guangdong's bounding box, roughly
GD_LON = (109.6, 117.3)
GD_LAT = (20.2, 25.5)
CITIES = {
    "jiangmen": (113.0815, 22.5789),
    "beijing": (116.3912, 39.9067),
    "urumqi": (87.6168, 43.8256),
    "harbin": (126.6424, 45.7567),
}


def jiangmen_grid() -> Pair:
    """21 x 31 points over 113.0-113.2E, 22.5-22.8N."""
    lon, lat = np.meshgrid(np.linspace(113.0, 113.2, 21), np.linspace(22.5, 22.8, 31))
    return lon.ravel(), lat.ravel()


def reference_points() -> Pair:
    lon, lat = jiangmen_grid()
    city_lon, city_lat = np.array(list(CITIES.values())).T
    return np.concatenate([lon, city_lon]), np.concatenate([lat, city_lat])


def random_guangdong(n: int, seed: int = 20240601) -> Pair:
    rng = np.random.default_rng(seed)
    return rng.uniform(*GD_LON, n), rng.uniform(*GD_LAT, n)


def metres(
    lon1: npt.ArrayLike, lat1: npt.ArrayLike, lon2: npt.ArrayLike, lat2: npt.ArrayLike
) -> FloatArray:
    """Geodesic distances on WGS84, in metres (always an array)."""
    a, b, c, d = (np.atleast_1d(np.asarray(v, dtype=np.float64)) for v in (lon1, lat1, lon2, lat2))
    _, _, dist = GEOD.inv(a, b, c, d)
    return np.asarray(dist)


# ------------------------------------------------------------------ parse_crs


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("wgs84", "wgs84"),
        ("WGS84", "wgs84"),
        ("  wgs84\n", "wgs84"),
        ("EPSG:4326", "wgs84"),
        ("epsg:4326", "wgs84"),
        ("cgcs2000", "cgcs2000"),
        ("CGCS2000", "cgcs2000"),
        ("EPSG:4490", "cgcs2000"),
        ("gcj02", "gcj02"),
        ("GCJ02", "gcj02"),
        ("gcj-02", "gcj02"),
        ("GCJ-02", "gcj02"),
        ("bd09", "bd09"),
        ("BD09", "bd09"),
        ("bd-09", "bd09"),
        ("BD-09", "bd09"),
        ("bd09ll", "bd09"),
        ("EPSG:4547", "EPSG:4547"),
        (" epsg:4547 ", "EPSG:4547"),
        ("EPSG:32649", "EPSG:32649"),
    ],
)
def test_parse_crs_accepts_names_and_aliases(name: str, expected: str) -> None:
    assert parse_crs(name) == expected


@pytest.mark.parametrize(
    "name",
    ["foo", "EPSG:999999", "", "   ", "EPSG:", "4326", "EPSG:4326x", "EPSG:5773", "EPSG:4978"],
)
def test_parse_crs_rejects_unknown(name: str) -> None:
    with pytest.raises(UnknownCRSError) as excinfo:
        parse_crs(name)
    message = str(excinfo.value)
    for accepted in ("wgs84", "cgcs2000", "gcj02", "bd09", "EPSG:"):
        assert accepted in message


def test_unknown_crs_error_is_value_error() -> None:
    assert issubclass(UnknownCRSError, ValueError)
    with pytest.raises(ValueError, match="unknown CRS"):
        crs.to_wgs84(113.0, 22.0, "mars")


# ------------------------------------------------------- reference values


def test_forward_transforms_match_prcoords() -> None:
    lon, lat = reference_points()
    gcj_lon, gcj_lat = crs.wgs84_to_gcj02(lon, lat)
    bd_lon, bd_lat = crs.gcj02_to_bd09(gcj_lon, gcj_lat)
    wbd_lon, wbd_lat = crs.wgs84_to_bd09(lon, lat)
    for i in range(lon.size):
        ref_gcj = prcoords.wgs_gcj((lat[i], lon[i]))
        assert gcj_lon[i] == pytest.approx(ref_gcj.lon, abs=1e-9, rel=0)
        assert gcj_lat[i] == pytest.approx(ref_gcj.lat, abs=1e-9, rel=0)
        ref_bd = prcoords.gcj_bd((gcj_lat[i], gcj_lon[i]))
        assert bd_lon[i] == pytest.approx(ref_bd.lon, abs=1e-9, rel=0)
        assert bd_lat[i] == pytest.approx(ref_bd.lat, abs=1e-9, rel=0)
        ref_wbd = prcoords.wgs_bd((lat[i], lon[i]))
        assert wbd_lon[i] == pytest.approx(ref_wbd.lon, abs=1e-9, rel=0)
        assert wbd_lat[i] == pytest.approx(ref_wbd.lat, abs=1e-9, rel=0)


def test_inverse_transforms_match_prcoords_within_its_precision() -> None:
    # prcoords' iterative inverses stop at a 1e-5 degree step, so they are only good to
    # a few 1e-7 degrees; ours are checked for exactness by the round-trip tests.
    lon, lat = reference_points()
    wgs_lon, wgs_lat = crs.gcj02_to_wgs84(lon, lat)
    bwgs_lon, bwgs_lat = crs.bd09_to_wgs84(lon, lat)
    for i in range(lon.size):
        ref = prcoords.gcj_wgs_bored((lat[i], lon[i]))
        assert wgs_lon[i] == pytest.approx(ref.lon, abs=1e-6, rel=0)
        assert wgs_lat[i] == pytest.approx(ref.lat, abs=1e-6, rel=0)
        ref = prcoords.bd_wgs_bored((lat[i], lon[i]))
        assert bwgs_lon[i] == pytest.approx(ref.lon, abs=1e-6, rel=0)
        assert bwgs_lat[i] == pytest.approx(ref.lat, abs=1e-6, rel=0)


@pytest.mark.parametrize(
    ("wgs", "gcj", "bd"),
    [
        # Jiangmen; values computed independently by prcoords 1.0.2 and gis.crs, to 1e-9.
        ((113.08, 22.6), (113.085449110, 22.597310283), (113.092016353, 22.603068454)),
        # Tiananmen, the same way.
        (
            (116.397128, 39.916527),
            (116.403372494, 39.917930749),
            (116.409739337, 39.924269294),
        ),
    ],
)
def test_pinned_values(
    wgs: tuple[float, float], gcj: tuple[float, float], bd: tuple[float, float]
) -> None:
    assert crs.wgs84_to_gcj02(*wgs) == pytest.approx(gcj, abs=1e-9, rel=0)
    assert crs.wgs84_to_bd09(*wgs) == pytest.approx(bd, abs=1e-9, rel=0)
    assert crs.gcj02_to_bd09(*gcj) == pytest.approx(bd, abs=2e-9, rel=0)
    assert crs.gcj02_to_wgs84(*gcj) == pytest.approx(wgs, abs=2e-9, rel=0)
    assert crs.bd09_to_wgs84(*bd) == pytest.approx(wgs, abs=3e-9, rel=0)


def test_published_aliyun_example() -> None:
    """Alibaba Cloud's address-service docs (TransferCoord) publish, to 6 decimals:
    GCJ02 120.026268,30.279164 -> BD09 120.032768,30.285238, WGS84 120.021519,30.281543.
    """
    gcj = (120.026268, 30.279164)
    assert crs.gcj02_to_bd09(*gcj) == pytest.approx((120.032768, 30.285238), abs=5e-7, rel=0)
    # Their WGS84 is the one-step approximate inverse (it is what prcoords.gcj_wgs gives),
    # about 1.5 m off; ours maps back onto the GCJ-02 input to well under a millimetre.
    published_wgs = (120.021519, 30.281543)
    rough = prcoords.gcj_wgs((gcj[1], gcj[0]))
    assert (rough.lon, rough.lat) == pytest.approx(published_wgs, abs=5e-7, rel=0)
    ours = crs.gcj02_to_wgs84(*gcj)
    assert 0.5 < metres(*ours, *published_wgs)[0] < 3.0
    assert metres(*crs.wgs84_to_gcj02(*ours), *gcj)[0] < 1e-3
    assert metres(*crs.wgs84_to_gcj02(*published_wgs), *gcj)[0] > 0.5


# ------------------------------------------------------------ round trips


ROUND_TRIPS: list[tuple[str, Callable[..., Pair], Callable[..., Pair]]] = [
    ("wgs84->gcj02->wgs84", crs.wgs84_to_gcj02, crs.gcj02_to_wgs84),
    ("gcj02->wgs84->gcj02", crs.gcj02_to_wgs84, crs.wgs84_to_gcj02),
    ("wgs84->bd09->wgs84", crs.wgs84_to_bd09, crs.bd09_to_wgs84),
    ("bd09->wgs84->bd09", crs.bd09_to_wgs84, crs.wgs84_to_bd09),
    ("gcj02->bd09->gcj02", crs.gcj02_to_bd09, crs.bd09_to_gcj02),
    ("bd09->gcj02->bd09", crs.bd09_to_gcj02, crs.gcj02_to_bd09),
]


@pytest.mark.parametrize(("label", "there", "back"), ROUND_TRIPS, ids=[r[0] for r in ROUND_TRIPS])
def test_round_trip_guangdong_100k(
    label: str, there: Callable[..., Pair], back: Callable[..., Pair]
) -> None:
    lon, lat = random_guangdong(100_000)
    lon2, lat2 = back(*there(lon, lat))
    err = metres(lon, lat, lon2, lat2)
    assert err.max() < 0.01, label  # the requirement
    assert err.max() < 0.001, label  # what the iteration actually achieves


@pytest.mark.parametrize(("label", "there", "back"), ROUND_TRIPS, ids=[r[0] for r in ROUND_TRIPS])
def test_round_trip_all_of_china(
    label: str, there: Callable[..., Pair], back: Callable[..., Pair]
) -> None:
    # Keep clear of the edges of the box, where GCJ-02 is discontinuous.
    rng = np.random.default_rng(7)
    lon, lat = rng.uniform(73.0, 135.0, 50_000), rng.uniform(3.0, 53.0, 50_000)
    lon2, lat2 = back(*there(lon, lat))
    assert metres(lon, lat, lon2, lat2).max() < 0.001, label


def test_gcj_offset_near_jiangmen_is_a_few_hundred_metres() -> None:
    lon, lat = jiangmen_grid()
    offset = metres(lon, lat, *crs.wgs84_to_gcj02(lon, lat))
    assert offset.min() > 100.0
    assert offset.max() < 700.0


def test_input_arrays_are_not_modified() -> None:
    lon, lat = random_guangdong(1000)
    lon_copy, lat_copy = lon.copy(), lat.copy()
    for func in (crs.gcj02_to_wgs84, crs.bd09_to_wgs84, crs.wgs84_to_bd09, crs.bd09_to_gcj02):
        func(lon, lat)
    np.testing.assert_array_equal(lon, lon_copy)
    np.testing.assert_array_equal(lat, lat_copy)


# ------------------------------------------------- scalars, arrays, NaN, outside

ALL_TRANSFORMS = [
    crs.wgs84_to_gcj02,
    crs.gcj02_to_wgs84,
    crs.gcj02_to_bd09,
    crs.bd09_to_gcj02,
    crs.wgs84_to_bd09,
    crs.bd09_to_wgs84,
]


@pytest.mark.parametrize("func", ALL_TRANSFORMS, ids=lambda f: f.__name__)
def test_scalar_and_vector_results_agree(func: Callable[..., Pair]) -> None:
    lon, lat = random_guangdong(50, seed=3)
    vec_lon, vec_lat = func(lon, lat)
    assert isinstance(vec_lon, np.ndarray)
    assert vec_lon.dtype == np.float64
    assert vec_lon.shape == lon.shape
    for i in range(lon.size):
        s_lon, s_lat = func(float(lon[i]), float(lat[i]))
        assert type(s_lon) is float
        assert type(s_lat) is float
        assert s_lon == pytest.approx(vec_lon[i], abs=1e-12, rel=0)
        assert s_lat == pytest.approx(vec_lat[i], abs=1e-12, rel=0)


@pytest.mark.parametrize("func", ALL_TRANSFORMS, ids=lambda f: f.__name__)
def test_shapes_lists_and_broadcasting(func: Callable[..., Pair]) -> None:
    lon, lat = random_guangdong(12, seed=5)
    flat_lon, flat_lat = func(lon, lat)
    grid_lon, grid_lat = func(lon.reshape(3, 4), lat.reshape(3, 4))
    assert grid_lon.shape == (3, 4)
    np.testing.assert_allclose(grid_lon.ravel(), flat_lon, rtol=0, atol=1e-12)
    np.testing.assert_allclose(grid_lat.ravel(), flat_lat, rtol=0, atol=1e-12)
    list_lon, _ = func(lon.tolist(), lat.tolist())
    np.testing.assert_allclose(list_lon, flat_lon, rtol=0, atol=1e-12)
    b_lon, b_lat = func(lon, 22.6)  # scalar latitude broadcast against lon
    assert b_lon.shape == b_lat.shape == lon.shape


@pytest.mark.parametrize("func", ALL_TRANSFORMS, ids=lambda f: f.__name__)
def test_non_finite_points_become_nan(func: Callable[..., Pair]) -> None:
    lon = np.array([113.08, np.nan, 113.1, np.inf, 113.2, -np.inf])
    lat = np.array([22.6, 22.6, np.nan, 22.7, np.inf, 22.8])
    out_lon, out_lat = func(lon, lat)
    bad = ~(np.isfinite(lon) & np.isfinite(lat))
    assert np.isnan(out_lon[bad]).all()
    assert np.isnan(out_lat[bad]).all()
    assert np.isfinite(out_lon[~bad]).all()
    good_lon, good_lat = func(lon[~bad], lat[~bad])
    np.testing.assert_allclose(out_lon[~bad], good_lon, rtol=0, atol=1e-12)
    np.testing.assert_allclose(out_lat[~bad], good_lat, rtol=0, atol=1e-12)
    s_lon, s_lat = func(float("nan"), 22.6)
    assert np.isnan(s_lon)
    assert np.isnan(s_lat)
    all_nan = func(np.full(5, np.nan), np.full(5, np.nan))
    assert np.isnan(all_nan[0]).all()


OUTSIDE_CHINA = {
    "london": (-0.1276, 51.5072),
    "new_york": (-74.006, 40.7128),
    "sydney": (151.2093, -33.8688),
    "tokyo": (139.6917, 35.6895),
    "singapore": (103.8198, 0.5),  # south of lat 0.8293
    "tashkent_west": (71.9, 41.3),  # west of lon 72.004
}


def test_gcj02_leaves_points_outside_china_unchanged() -> None:
    lon, lat = np.array(list(OUTSIDE_CHINA.values())).T
    assert not crs.in_china(lon, lat).any()
    for func in (crs.wgs84_to_gcj02, crs.gcj02_to_wgs84):
        out_lon, out_lat = func(lon, lat)
        np.testing.assert_array_equal(out_lon, lon)
        np.testing.assert_array_equal(out_lat, lat)
        assert func(-0.1276, 51.5072) == (-0.1276, 51.5072)
    # Mixed input: only the point inside the box moves.
    out_lon, out_lat = crs.wgs84_to_gcj02([-0.1276, 113.08], [51.5072, 22.6])
    assert out_lon[0] == -0.1276
    assert out_lon[1] != 113.08
    # Baidu's own offset has no box, but the round trip still holds outside China.
    b = crs.wgs84_to_bd09(lon, lat)
    assert not np.allclose(b[0], lon)
    np.testing.assert_allclose(crs.bd09_to_wgs84(*b), (lon, lat), rtol=0, atol=1e-9)


def test_in_china_box_edges() -> None:
    lon = np.array([72.004, 137.8347, 72.0039, 137.8348, 100.0, 100.0, 100.0, 100.0])
    lat = np.array([30.0, 30.0, 30.0, 30.0, 0.8293, 55.8271, 0.8292, 55.8272])
    expected = [True, True, False, False, True, True, False, False]
    assert crs.in_china(lon, lat).tolist() == expected


# ---------------------------------------------------------- dispatch by name


def test_to_and_from_wgs84_dispatch() -> None:
    lon, lat = random_guangdong(500, seed=11)
    for name in ("wgs84", "EPSG:4326", "cgcs2000", "EPSG:4490"):
        out = crs.to_wgs84(lon, lat, name)
        np.testing.assert_array_equal(out[0], lon)
        np.testing.assert_array_equal(crs.from_wgs84(lon, lat, name)[1], lat)
    np.testing.assert_array_equal(
        crs.to_wgs84(lon, lat, "GCJ-02")[0], crs.gcj02_to_wgs84(lon, lat)[0]
    )
    np.testing.assert_array_equal(crs.to_wgs84(lon, lat, "bd09")[1], crs.bd09_to_wgs84(lon, lat)[1])
    np.testing.assert_array_equal(
        crs.from_wgs84(lon, lat, "gcj02")[0], crs.wgs84_to_gcj02(lon, lat)[0]
    )
    np.testing.assert_array_equal(
        crs.from_wgs84(lon, lat, "bd-09")[1], crs.wgs84_to_bd09(lon, lat)[1]
    )
    assert crs.to_wgs84(113.0, 22.0, "cgcs2000") == (113.0, 22.0)


def test_epsg_goes_through_pyproj() -> None:
    lon, lat = random_guangdong(500, seed=13)
    ref = Transformer.from_crs("EPSG:4326", "EPSG:32649", always_xy=True)
    x, y = crs.from_wgs84(lon, lat, "EPSG:32649")
    ref_x, ref_y = ref.transform(lon, lat)
    np.testing.assert_allclose(x, ref_x, rtol=0, atol=1e-6)
    np.testing.assert_allclose(y, ref_y, rtol=0, atol=1e-6)
    back_lon, back_lat = crs.to_wgs84(x, y, "EPSG:32649")
    np.testing.assert_allclose(back_lon, lon, rtol=0, atol=1e-9)
    np.testing.assert_allclose(back_lat, lat, rtol=0, atol=1e-9)
    sx, sy = crs.from_wgs84(113.08, 22.6, "EPSG:4547")
    assert type(sx) is float
    assert 390_000 < sx < 420_000  # about 95 km west of the 114E central meridian
    assert 2_490_000 < sy < 2_510_000


def test_transform_coords_between_any_pair() -> None:
    lon, lat = random_guangdong(200, seed=17)
    gcj = crs.wgs84_to_gcj02(lon, lat)
    bd = crs.transform_coords(*gcj, "gcj02", "bd09")
    np.testing.assert_array_equal(bd[0], crs.gcj02_to_bd09(*gcj)[0])
    # GCJ-02 -> metric goes through WGS84 and then pyproj.
    x, y = crs.transform_coords(*gcj, "gcj02", "EPSG:4547")
    ref_x, ref_y = Transformer.from_crs("EPSG:4326", "EPSG:4547", always_xy=True).transform(
        lon, lat
    )
    np.testing.assert_allclose(x, ref_x, rtol=0, atol=1e-3)
    np.testing.assert_allclose(y, ref_y, rtol=0, atol=1e-3)
    # Metric -> BD-09 and back to GCJ-02: four transforms, two of them iterative (1 mm).
    bd2 = crs.transform_coords(x, y, "EPSG:4547", "bd09")
    gcj2 = crs.transform_coords(*bd2, "bd09", "gcj02")
    np.testing.assert_allclose(gcj2[0], gcj[0], rtol=0, atol=1e-8)
    np.testing.assert_allclose(gcj2[1], gcj[1], rtol=0, atol=1e-8)
    # Two EPSG codes: straight through pyproj.
    u = crs.transform_coords(x, y, "EPSG:4547", "EPSG:32649")
    ref_u = Transformer.from_crs("EPSG:4547", "EPSG:32649", always_xy=True).transform(x, y)
    np.testing.assert_allclose(u[0], ref_u[0], rtol=0, atol=1e-6)


# ---------------------------------------------------------------- geometries


def jiangmen_square(lon0: float, lat0: float, size: float = 0.01) -> Polygon:
    return Polygon(
        [(lon0, lat0), (lon0 + size, lat0), (lon0 + size, lat0 + size), (lon0, lat0 + size)]
    )


def test_transform_geometry_polygon() -> None:
    poly = jiangmen_square(113.05, 22.55)
    out = crs.transform_geometry(poly, "gcj02")
    assert isinstance(out, Polygon)
    assert out.is_valid
    coords = np.asarray(poly.exterior.coords)
    expected = np.column_stack(crs.gcj02_to_wgs84(coords[:, 0], coords[:, 1]))
    np.testing.assert_allclose(np.asarray(out.exterior.coords), expected, rtol=0, atol=1e-12)
    back = crs.transform_geometry(out, "wgs84", "gcj02")
    assert shapely.equals_exact(back, poly, tolerance=1e-9)


def test_transform_geometry_multipolygon_with_hole() -> None:
    outer = jiangmen_square(113.08, 22.58, 0.02)
    hole = jiangmen_square(113.085, 22.585, 0.005)
    with_hole = Polygon(outer.exterior.coords, [hole.exterior.coords])
    multi = MultiPolygon([with_hole, jiangmen_square(113.12, 22.62)])
    assert multi.is_valid
    for src in ("gcj02", "bd09", "cgcs2000"):
        out = crs.transform_geometry(multi, src, "wgs84")
        assert isinstance(out, MultiPolygon)
        assert out.is_valid
        assert len(out.geoms) == 2
        assert len(out.geoms[0].interiors) == 1
        back = crs.transform_geometry(out, "wgs84", src)
        assert shapely.equals_exact(back, multi, tolerance=1e-9)


def test_transform_geometry_keeps_z_empty_and_arrays() -> None:
    out = crs.transform_geometry(Point(113.08, 22.6, 12.5), "wgs84", "gcj02")
    assert out.has_z
    assert out.z == 12.5
    assert (out.x, out.y) == pytest.approx(crs.wgs84_to_gcj02(113.08, 22.6), abs=1e-12)
    empty = crs.transform_geometry(Polygon(), "gcj02")
    assert isinstance(empty, Polygon)
    assert empty.is_empty
    arr = np.array([Point(113.08, 22.6), None, jiangmen_square(113.0, 22.5)], dtype=object)
    out_arr = crs.transform_geometry(arr, "bd09")
    assert out_arr[1] is None
    assert isinstance(out_arr[2], Polygon)
    with pytest.raises(UnknownCRSError):
        crs.transform_geometry(Point(113.0, 22.0), "amap")


def test_transform_geometry_epsg4547_round_trip() -> None:
    multi = MultiPolygon([jiangmen_square(113.05, 22.55), jiangmen_square(113.1, 22.6, 0.002)])
    metric = crs.transform_geometry(multi, "wgs84", "EPSG:4547")
    assert isinstance(metric, MultiPolygon)
    assert metric.is_valid
    back = crs.transform_geometry(metric, "EPSG:4547", "wgs84")
    assert shapely.equals_exact(back, multi, tolerance=1e-9)


@pytest.mark.parametrize("lon0,lat0", [(113.05, 22.55), (84.9, 45.6), (-70.6, -33.4)])
def test_to_metric_areas_and_lengths_are_geodesic_anywhere(lon0: float, lat0: float) -> None:
    """The metric CRS follows the data: Jiangmen, Karamay (45.6N) and Santiago alike."""
    poly = jiangmen_square(lon0, lat0, 0.2)
    metric = crs.to_metric(poly)
    assert isinstance(metric, Polygon)
    geodesic_area, geodesic_perimeter = GEOD.geometry_area_perimeter(poly)
    # Equal-area; the edges are straight in lon/lat, not geodesics: ~1e-6 apart.
    assert metric.area == pytest.approx(abs(geodesic_area), rel=1e-5)
    assert metric.length == pytest.approx(geodesic_perimeter, rel=1e-4)


def test_to_metric_frames_and_transformer_cache() -> None:
    poly = jiangmen_square(113.05, 22.55)
    metric = crs.metric_crs_around(poly.bounds)
    assert metric == crs.metric_crs(113.055, 22.555)
    assert crs.metric_transformer(metric) is crs.metric_transformer(metric)
    series = gpd.GeoSeries([poly], crs="EPSG:4326")
    frame = gpd.GeoDataFrame({"name": ["a"]}, geometry=[poly])  # no CRS: taken as WGS84
    m_series = crs.to_metric(series)
    m_frame = crs.to_metric(frame)
    assert m_series.crs == m_frame.crs == metric
    expected = crs.to_metric(poly)
    assert shapely.equals_exact(m_series.iloc[0], expected, tolerance=1e-6)
    assert shapely.equals_exact(m_frame.geometry.iloc[0], expected, tolerance=1e-6)
    # A frame in another CRS is reprojected from it, round the same centre.
    projected = series.to_crs("EPSG:4547")
    assert shapely.equals_exact(crs.to_metric(projected).iloc[0], expected, tolerance=1e-3)
    with pytest.raises(ValueError, match="no metric CRS"):
        crs.metric_crs(200.0, 22.0)


def test_geodataframe_to_wgs84_overrides_wrong_label() -> None:
    # AMap data labelled EPSG:4326 that is really GCJ-02 (see DOMAIN.md).
    polys = [jiangmen_square(113.05, 22.55), jiangmen_square(113.1, 22.6)]
    gdf = gpd.GeoDataFrame(
        {"code": ["440703001", "440703002"], "shape": polys},
        geometry="shape",
        crs="EPSG:4326",
        index=[10, 20],
    )
    out = crs.geodataframe_to_wgs84(gdf, "gcj02")
    assert out.crs == "EPSG:4326"
    assert out.geometry.name == "shape"
    assert list(out.columns) == ["code", "shape"]
    assert out.index.tolist() == [10, 20]
    assert out["code"].tolist() == ["440703001", "440703002"]
    assert shapely.equals_exact(gdf.geometry.iloc[0], polys[0], tolerance=0)  # input untouched
    for got, poly in zip(out.geometry, polys, strict=True):
        assert got.is_valid
        assert shapely.equals_exact(got, crs.transform_geometry(poly, "gcj02"), tolerance=1e-12)


def test_geodataframe_to_wgs84_from_bd09_and_epsg() -> None:
    poly = jiangmen_square(113.05, 22.55)
    bd = gpd.GeoDataFrame({"n": [1]}, geometry=[poly])
    out = crs.geodataframe_to_wgs84(bd, "BD-09")
    assert out.crs == "EPSG:4326"
    assert shapely.equals_exact(
        out.geometry.iloc[0], crs.transform_geometry(poly, "bd09"), tolerance=1e-12
    )
    metric = gpd.GeoSeries([poly], crs="EPSG:4326").to_crs("EPSG:4547").to_frame("geometry")
    back = crs.geodataframe_to_wgs84(metric, "EPSG:4547")
    assert back.crs == "EPSG:4326"
    assert shapely.equals_exact(back.geometry.iloc[0], poly, tolerance=1e-9)
    same = crs.geodataframe_to_wgs84(gpd.GeoDataFrame(geometry=[poly]), "cgcs2000")
    assert same.crs == "EPSG:4326"
    assert shapely.equals_exact(same.geometry.iloc[0], poly, tolerance=0)
