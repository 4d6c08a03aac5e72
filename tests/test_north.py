"""A district near 45°N: located, snapped and referred in real metres.

Nothing about 蓬江区 (22.6°N) may be baked into locating. A small synthetic
district at 45.6°N, where a degree of longitude is about 78 km rather than
about 103 km, is written as GeoJSON files and loaded through the real loader
with settings of its own (its home district code; a gap tolerance that lets two
deliberate gaps in the grid coverage through). Points are then located one by
one and in bulk:

- inside a grid: contained;
- in a sliver gap 47 m east-west from the nearest grid (within the 50 m snap
  distance; a tolerance sized for 22°N covers only about 43 m there): snapped;
- just outside the district's edge, 47 m west of a grid: snapped;
- in a wide gap (150 m from every grid): inside, unassigned;
- inside the neighbouring district, even within 50 m of a home grid:
  outside, referred to the neighbour by name;
- beyond the snap distance with no district there: outside, no district.

The layout is built in metres in a transverse Mercator centred on the district
(pyproj, independent of the code under test); distances are checked against
pyproj.Geod. Afterwards the generation that was current before is current again.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import shapely
import shapely.geometry
import sqlalchemy as sa
from pyproj import Geod, Transformer
from shapely.geometry import box, mapping
from shapely.geometry.base import BaseGeometry
from sqlalchemy.engine import Engine

from gis.district import home_district, metres_per_degree
from gis.layout import LayoutError, activate_generation, load_file
from gis.locate import locate, locate_table
from gis.settings import Settings

LON0, LAT0 = 84.9, 45.6
HOME, NEIGHBOUR = "650299", "650298"
HOME_NAME, NEIGHBOUR_NAME = "北纬测试区", "北纬邻区"
SUB = HOME + "001"
WEST, EAST = SUB + "001", SUB + "002"
G1, G2, G3, G4 = WEST + "001", WEST + "002", EAST + "001", EAST + "002"

_TO_WGS = Transformer.from_crs(
    f"+proj=tmerc +lat_0={LAT0} +lon_0={LON0} +k=1 +x_0=0 +y_0=0 +ellps=WGS84",
    "EPSG:4326",
    always_xy=True,
)
_GEOD = Geod(ellps="WGS84")


def _wgs(geom: BaseGeometry) -> BaseGeometry:
    """Metres east/north of (LON0, LAT0) -> WGS84 lon/lat, edges densified to 100 m."""
    dense = shapely.segmentize(geom, 100.0)
    return shapely.transform(
        dense, lambda xy: np.column_stack(_TO_WGS.transform(xy[:, 0], xy[:, 1]))
    )


def _lonlat(x: float, y: float) -> tuple[float, float]:
    lon, lat = _TO_WGS.transform(x, y)
    return float(lon), float(lat)


# Home 4 km x 3 km; the neighbour to its east. One subdistrict, two communities.
# G1 has a notch 100 m wide on its east side (a sliver between G1 and G2);
# G4 has a hole 300 m x 300 m (a wide gap).
HOME_BOX = box(0, 0, 4000, 3000)
NOTCH = box(900, 1400, 1000, 1600)
HOLE = box(3350, 1350, 3650, 1650)
LAYERS: dict[str, list[dict[str, object]]] = {
    "district": [
        {"code": HOME, "name": HOME_NAME, "geom": HOME_BOX},
        {"code": NEIGHBOUR, "name": NEIGHBOUR_NAME, "geom": box(4000, 0, 8000, 3000)},
    ],
    "subdistrict": [
        {"code": SUB, "name": "测试街道", "district_code": HOME, "geom": HOME_BOX},
    ],
    "community": [
        {"code": WEST, "name": "西社区", "subdistrict_code": SUB, "geom": box(0, 0, 2000, 3000)},
        {"code": EAST, "name": "东社区", "subdistrict_code": SUB, "geom": box(2000, 0, 4000, 3000)},
    ],
    "grid": [
        {"code": G1, "community_code": WEST, "geom": box(0, 0, 1000, 3000).difference(NOTCH)},
        {"code": G2, "community_code": WEST, "geom": box(1000, 0, 2000, 3000)},
        {"code": G3, "community_code": EAST, "geom": box(2000, 0, 3000, 3000)},
        {"code": G4, "community_code": EAST, "geom": box(3000, 0, 4000, 3000).difference(HOLE)},
    ],
}


@dataclass(frozen=True)
class Expect:
    """Where a point (metres east/north of the origin) must be located."""

    x: float
    y: float
    method: str
    grid: str | None
    district_code: str | None
    distance_m: float | None = None


POINTS = {
    "inside": Expect(500, 500, "contained", G1, HOME, 0.0),
    "sliver": Expect(953, 1500, "snapped", G2, HOME, 47.0),
    "west edge": Expect(-47, 1500, "snapped", G1, HOME, 47.0),
    "wide gap": Expect(3500, 1500, "unassigned", None, HOME),
    "neighbour": Expect(6000, 1500, "outside", None, NEIGHBOUR),
    "neighbour near home": Expect(4030, 1500, "outside", None, NEIGHBOUR),
    "far west": Expect(-120, 1500, "outside", None, None),
}


def _write(path: Path, rows: list[dict[str, object]]) -> Path:
    features = [
        {
            "type": "Feature",
            "properties": {k: v for k, v in row.items() if k != "geom"},
            "geometry": mapping(_wgs(row["geom"])),  # type: ignore[arg-type]
        }
        for row in rows
    ]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}), "utf-8")
    return path


@dataclass(frozen=True)
class North:
    """The loaded synthetic layout: its settings and generation."""

    settings: Settings
    generation: int


@pytest.fixture(scope="module")
def north(
    engine: Engine, settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[North]:
    """Load the synthetic district from empty; make the sample current again afterwards."""
    from sample.seed import load_sample

    before = load_sample(engine, settings=settings).generation
    own = settings.model_copy(
        update={"home_district_code": HOME, "gap_snap_m": 50.0, "gap_tolerance_m2": 100_000.0}
    )
    folder = tmp_path_factory.mktemp("north")
    try:
        with engine.begin() as conn:  # start from no layout at all
            conn.execute(sa.text("UPDATE layout_generation SET is_current = false"))
        gen = None
        for level, rows in LAYERS.items():
            path = _write(folder / f"{level}.geojson", rows)
            gen, report = load_file(engine, path, level, "wgs84", settings=own)
            assert not report.errors, report.errors
        assert gen is not None
        yield North(own, gen)
    finally:
        with engine.begin() as conn:
            activate_generation(conn, before)


def test_the_layout_is_measured_in_real_metres(engine: Engine, north: North) -> None:
    """Grid areas and the home district come from the loaded layout, at 45.6°N."""
    with engine.connect() as conn:
        areas: dict[str, float] = {
            code: area
            for code, area in conn.execute(
                sa.text("SELECT code, area_m2 FROM grid_cell WHERE generation_id = :g"),
                {"g": north.generation},
            ).all()
        }
        home = home_district(conn, north.settings)
    for row in LAYERS["grid"]:
        geodesic, _ = _GEOD.geometry_area_perimeter(_wgs(row["geom"]))  # type: ignore[arg-type]
        assert areas[str(row["code"])] == pytest.approx(abs(geodesic), rel=1e-4), row["code"]
    assert home is not None and home.code == HOME and home.name == HOME_NAME
    assert home.generation == north.generation
    assert home.bbox == pytest.approx(_wgs(HOME_BOX).bounds, abs=1e-7)
    assert (home.lon, home.lat) == pytest.approx(_lonlat(2000, 1500), abs=1e-3)
    per_lon, _ = home.metres_per_degree()
    assert per_lon == pytest.approx(metres_per_degree(45.6)[0], rel=1e-3)
    assert 77_000 < per_lon < 79_000


def test_the_gaps_are_what_they_claim(north: North) -> None:
    """The sliver is 47 m from G2 east-west: more than 50 m / 90 km-per-degree reaches."""
    lon, lat = _lonlat(953, 1500)
    east, _ = _lonlat(1000, 1500)
    _, _, metres = _GEOD.inv(lon, lat, east, lat)
    assert metres == pytest.approx(47.0, abs=0.2)
    assert (east - lon) > 50.0 / 90_000.0, "a tolerance sized for 22°N would not reach it"


@pytest.mark.parametrize("name", list(POINTS))
def test_one_point(engine: Engine, north: North, name: str) -> None:
    want = POINTS[name]
    lon, lat = _lonlat(want.x, want.y)
    with engine.connect() as conn:
        where = locate(conn, lon, lat, settings=north.settings)
    assert (where.method, where.grid_code, where.district_code) == (
        want.method,
        want.grid,
        want.district_code,
    ), where
    assert where.inside == (want.method != "outside")
    assert where.generation == north.generation
    names = {HOME: HOME_NAME, NEIGHBOUR: NEIGHBOUR_NAME, None: None}
    assert where.district == names[want.district_code]
    if want.distance_m is not None:
        assert where.distance_m == pytest.approx(want.distance_m, abs=0.5)
    if want.grid is not None:
        assert where.community == want.grid[:12] and where.subdistrict == SUB


def test_bulk_agrees(engine: Engine, north: North) -> None:
    names = list(POINTS)
    coords = [_lonlat(POINTS[n].x, POINTS[n].y) for n in names]
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TEMP TABLE north_pts (id bigint, geom geometry)"))
        conn.execute(
            sa.text("""INSERT INTO north_pts
            SELECT i, ST_SetSRID(ST_MakePoint(x, y), 4326)
            FROM unnest(CAST(:x AS float8[]), CAST(:y AS float8[])) WITH ORDINALITY t(x, y, i)"""),
            {"x": [c[0] for c in coords], "y": [c[1] for c in coords]},
        )
        counts = locate_table(conn, "north_pts", "north_loc", settings=north.settings)
        rows = conn.execute(
            sa.text("""SELECT l.point_id, l.method, g.code, l.district_code, l.distance_m
                       FROM north_loc l LEFT JOIN grid_cell g ON g.id = l.grid_cell_id""")
        ).all()
        conn.execute(sa.text("DROP TABLE north_pts"))
    got = {names[r.point_id - 1]: r for r in rows}
    assert sum(counts.values()) == len(names) == len(got)
    for name, want in POINTS.items():
        row = got[name]
        assert (row.method, row.code, row.district_code) == (
            want.method,
            want.grid,
            want.district_code,
        ), name
        if want.distance_m is not None:
            assert row.distance_m == pytest.approx(want.distance_m, abs=0.5), name


def test_swapped_axes_within_range_are_told(engine: Engine, north: North, tmp_path: Path) -> None:
    """lat,lon numbers that are valid lon,lat too (45.6, 84.9) are refused by their fit."""
    path = _write(tmp_path / "grid.geojson", LAYERS["grid"])
    collection = json.loads(path.read_text("utf-8"))
    for feature in collection["features"]:
        feature["geometry"] = mapping(
            shapely.transform(shapely.geometry.shape(feature["geometry"]), lambda xy: xy[:, ::-1])
        )
    path.write_text(json.dumps(collection), "utf-8")
    with pytest.raises(LayoutError) as info:
        load_file(engine, path, "grid", "wgs84", settings=north.settings)
    messages = [f.message for r in info.value.reports for f in r.errors]
    assert any("look swapped" in m for m in messages), messages
    with engine.connect() as conn:
        current = conn.execute(sa.text("SELECT id FROM layout_generation WHERE is_current"))
        assert current.scalar_one() == north.generation, "a refused load leaves nothing behind"
