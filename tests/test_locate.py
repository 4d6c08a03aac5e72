"""Locating points: inside, on shared edges, in gaps, outside, in every CRS, in bulk.

Points are taken from the database (a grid's interior point, a shared edge's
midpoint), not hard-coded, so the tests hold for any sample layout.
"""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from gis import crs as crsmod
from gis.district import home_district
from gis.locate import InvalidLocation, locate, locate_table
from gis.settings import ROOT

GRID = str(ROOT / ".venv" / "bin" / "grid")


# Each test starts with the sample layout current and leaves it current (tests here
# load other layouts).
pytestmark = pytest.mark.usefixtures("sample_current_again")


def _interior(conn: Connection, code: str | None = None) -> tuple[str, float, float]:
    row = conn.execute(
        sa.text("""
        SELECT g.code, ST_X(p), ST_Y(p) FROM grid_cell g
        JOIN layout_generation l ON l.id = g.generation_id AND l.is_current,
        LATERAL ST_PointOnSurface(g.geom) p
        WHERE (CAST(:code AS text) IS NULL OR g.code = :code)
        ORDER BY g.code LIMIT 1"""),
        {"code": code},
    ).one()
    return row[0], row[1], row[2]


def _shared_edge(conn: Connection) -> tuple[list[str], float, float]:
    """A vertex on the border two or more grids share, and their codes."""
    row = conn.execute(
        sa.text("""
        WITH cur AS (SELECT g.* FROM grid_cell g JOIN layout_generation l
                     ON l.id = g.generation_id AND l.is_current),
        vertex AS (
            SELECT ST_StartPoint(s.line) AS p
            FROM cur a JOIN cur b ON a.code < b.code AND ST_Touches(a.geom, b.geom),
            LATERAL (SELECT (ST_Dump(ST_LineMerge(ST_CollectionExtract(
                        ST_Intersection(a.geom, b.geom), 2)))).geom AS line) s
            WHERE GeometryType(s.line) = 'LINESTRING'
            ORDER BY a.code DESC LIMIT 1)
        SELECT array_agg(c.code ORDER BY c.code), ST_X(v.p), ST_Y(v.p)
        FROM vertex v JOIN cur c ON ST_Intersects(c.geom, v.p)
        GROUP BY v.p""")
    ).one()
    assert len(row[0]) >= 2, "the vertex must lie on two grids at least"
    return list(row[0]), row[1], row[2]


def test_inside_gives_the_whole_chain(conn: Connection) -> None:
    code, lon, lat = _interior(conn)
    where = locate(conn, lon, lat)
    assert where.inside and where.method == "contained" and where.grid_code == code
    assert where.community and where.subdistrict
    assert code.startswith(where.community) and where.community.startswith(where.subdistrict)
    home = home_district(conn)
    assert home is not None
    assert where.station and where.squad and where.district == home.name
    assert where.community_name and where.subdistrict_name and where.station_name


def test_shared_edge_goes_to_the_smallest_code(conn: Connection) -> None:
    codes, lon, lat = _shared_edge(conn)
    where = locate(conn, lon, lat)
    assert where.grid_code == min(codes)
    again = [locate(conn, lon, lat).grid_code for _ in range(3)]
    assert again == [min(codes)] * 3


@pytest.mark.parametrize("crs", ["wgs84", "cgcs2000", "gcj02", "bd09", "EPSG:4547"])
def test_every_crs_lands_in_the_same_grid(conn: Connection, crs: str) -> None:
    code, lon, lat = _interior(conn)
    x, y = crsmod.from_wgs84(lon, lat, crs)
    assert locate(conn, float(x), float(y), crs).grid_code == code
    if crs in ("gcj02", "bd09"):
        # Read as WGS84, the shifted numbers land hundreds of metres away.
        assert locate(conn, float(x), float(y)).grid_code != code


def test_neighbouring_district_is_named(conn: Connection) -> None:
    neighbours = conn.execute(
        sa.text("""
        SELECT d.code, d.name, ST_X(p), ST_Y(p) FROM district d JOIN layout_generation l
        ON l.id = d.generation_id AND l.is_current, LATERAL ST_PointOnSurface(d.geom) p
        WHERE NOT d.is_home ORDER BY d.code""")
    ).all()
    assert neighbours, "the sample has neighbouring districts"
    for code, name, lon, lat in neighbours:
        where = locate(conn, lon, lat)
        assert not where.inside and where.method == "outside"
        assert (where.district_code, where.district) == (code, name) and where.grid_code is None


def test_far_away_is_outside_and_unknown(conn: Connection) -> None:
    where = locate(conn, 116.397, 39.909)
    assert not where.inside and where.district is None


def _edge_point(conn: Connection, metres: float) -> tuple[float, float, float]:
    """A point `metres` outside the home district where no neighbour is loaded."""
    rows = conn.execute(
        sa.text("""
        WITH home AS (SELECT d.geom FROM district d JOIN layout_generation l
                      ON l.id = d.generation_id AND l.is_current WHERE d.is_home),
        others AS (SELECT ST_Union(d.geom) AS geom FROM district d JOIN layout_generation l
                   ON l.id = d.generation_id AND l.is_current WHERE NOT d.is_home),
        ring AS (SELECT ST_Buffer(home.geom::geography, :m)::geometry AS geom FROM home)
        SELECT ST_X(p), ST_Y(p),
               ST_Distance(p::geography, (SELECT geom FROM home)::geography)
        FROM ring, LATERAL (SELECT (ST_DumpPoints(ST_ExteriorRing(
                 (ST_Dump(ring.geom)).geom))).geom AS p) pts
        WHERE NOT ST_DWithin(p::geography, (SELECT geom FROM others)::geography, 500)
        LIMIT 1"""),
        {"m": metres},
    ).one()
    return rows[0], rows[1], rows[2]


def test_just_outside_the_edge_snaps_to_the_nearest_grid(conn: Connection) -> None:
    lon, lat, dist = _edge_point(conn, 20)
    assert 15 < dist < 25
    where = locate(conn, lon, lat)
    assert where.inside and where.method == "snapped" and where.grid_code
    assert where.distance_m is not None and 15 < where.distance_m < 25


def test_beyond_the_tolerance_is_outside(conn: Connection) -> None:
    lon, lat, _ = _edge_point(conn, 200)
    where = locate(conn, lon, lat)
    assert not where.inside and where.method == "outside" and where.district is None


@pytest.mark.parametrize(
    "lon,lat,message",
    [
        (float("nan"), 22.6, "finite"),
        (113.0, float("inf"), "finite"),
        (200.0, 22.6, "out of range"),
        (22.6, 113.08, "swapped"),
    ],
)
def test_bad_coordinates(conn: Connection, lon: float, lat: float, message: str) -> None:
    with pytest.raises(InvalidLocation, match=message):
        locate(conn, lon, lat)


def test_unknown_crs(conn: Connection) -> None:
    with pytest.raises(crsmod.UnknownCRSError):
        locate(conn, 113.0, 22.6, "wgs-85")


def test_cli_locate_json(conn: Connection) -> None:
    code, lon, lat = _interior(conn)
    x, y = crsmod.from_wgs84(lon, lat, "gcj02")
    run = subprocess.run(
        [GRID, "locate", repr(float(x)), repr(float(y)), "--crs", "gcj02", "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    answer = json.loads(run.stdout)
    assert answer["inside"] is True and answer["grid_code"] == code
    for key in ("community", "subdistrict", "station", "squad", "district"):
        assert key in answer


def test_cli_locate_bad_input_is_an_error_not_a_traceback(conn: Connection) -> None:
    run = subprocess.run(
        [GRID, "locate", "22.6", "113.08", "--json"], capture_output=True, text=True, check=False
    )
    assert run.returncode == 2 and "swapped" in run.stderr and "Traceback" not in run.stderr


def test_bulk_agrees_with_one_at_a_time(engine: Engine, sample_layout: int) -> None:
    """Random points, shared-edge points and edge-zone points: same answer both ways."""
    with engine.begin() as conn:
        minx, miny, maxx, maxy = conn.execute(
            sa.text("""
            SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (
              SELECT ST_Extent(d.geom)::geometry e FROM district d JOIN layout_generation l
              ON l.id = d.generation_id AND l.is_current WHERE d.is_home) x""")
        ).one()
        rng = np.random.default_rng(7)
        pts = list(zip(rng.uniform(minx, maxx, 1500), rng.uniform(miny, maxy, 1500), strict=True))
        pts.append(_shared_edge(conn)[1:])
        pts.append(_edge_point(conn, 20)[:2])
        pts.append(_edge_point(conn, 200)[:2])
        conn.execute(sa.text("CREATE TEMP TABLE bench_test_pts (id bigint, geom geometry)"))
        conn.execute(
            sa.text("""INSERT INTO bench_test_pts
            SELECT i, ST_SetSRID(ST_MakePoint(x, y), 4326)
            FROM unnest(CAST(:x AS float8[]), CAST(:y AS float8[])) WITH ORDINALITY t(x, y, i)"""),
            {"x": [float(p[0]) for p in pts], "y": [float(p[1]) for p in pts]},
        )
        counts = locate_table(conn, "bench_test_pts", "located")
        bulk = {
            r.point_id: r
            for r in conn.execute(
                sa.text(
                    "SELECT l.point_id, l.method, g.code, l.district_code FROM located l "
                    "LEFT JOIN grid_cell g ON g.id = l.grid_cell_id"
                )
            ).all()
        }
        conn.execute(sa.text("DROP TABLE bench_test_pts"))
    assert sum(counts.values()) == len(pts) == len(bulk)
    assert {"contained", "snapped", "outside"} <= set(counts)
    with engine.connect() as conn:
        for i, (lon, lat) in enumerate(pts, start=1):
            one = locate(conn, lon, lat)
            assert (bulk[i].method, bulk[i].code, bulk[i].district_code) == (
                one.method,
                one.grid_code,
                one.district_code,
            ), (lon, lat)


@pytest.mark.parametrize(
    "shrink,inward,method", [(5.0, 2.5, "snapped"), (250.0, 120.0, "unassigned")]
)
def test_gap_inside_the_district(
    engine: Engine, sample_layout: int, shrink: float, inward: float, method: str
) -> None:
    """A grid shrunk by `shrink` metres leaves a gap inside the district round it.

    A sliver (5 m) snaps to the nearest grid; a wide gap (250 m) leaves the
    point inside the district but unassigned, for a dispatcher. One point and
    bulk agree.
    """
    import geopandas as gpd
    import shapely

    from gis.layout import CheckReport, Layer, write_generation

    grids = gpd.read_file(ROOT / "data" / "sample" / "grids.geojson")
    metric_crs = crsmod.metric_crs_around(grids.total_bounds)
    metric = grids.to_crs(metric_crs)
    i = int(metric.area.to_numpy().argmax())
    original = max(shapely.get_parts(metric.geometry.iloc[i]), key=lambda p: p.area)
    shrunk = original.buffer(-shrink)
    edge = original.exterior.interpolate(0.37, normalized=True)
    point = shapely.shortest_line(edge, shrunk).interpolate(inward)
    lon, lat = crsmod.metric_transformer(metric_crs).transform(
        point.x, point.y, direction="INVERSE"
    )
    frame = grids.rename(columns={"community_code": "parent_code"})
    frame.loc[frame.index[i], "geometry"] = (
        gpd.GeoSeries([shrunk], crs=metric_crs).to_crs("EPSG:4326").iloc[0]
    )
    frame["row"] = range(1, len(frame) + 1)
    with engine.begin() as conn:
        layer = Layer("grid", frame, f"gap-{shrink}", CheckReport("grid"))
        write_generation(conn, {"grid": layer}, f"test: a gap of {shrink} m round a grid")
    with engine.connect() as conn:
        where = locate(conn, lon, lat)
    assert where.inside and where.method == method, where
    if method == "snapped":
        assert where.distance_m is not None and 1.0 < where.distance_m < 4.0
    else:
        with engine.connect() as conn:
            home = home_district(conn)
        assert home is not None
        assert where.grid_code is None and where.district == home.name
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TEMP TABLE bench_gap (id bigint, geom geometry)"))
        conn.execute(
            sa.text("INSERT INTO bench_gap VALUES (1, ST_SetSRID(ST_MakePoint(:x, :y), 4326))"),
            {"x": lon, "y": lat},
        )
        locate_table(conn, "bench_gap", "located")
        bulk = conn.execute(
            sa.text(
                "SELECT l.method, g.code FROM located l "
                "LEFT JOIN grid_cell g ON g.id = l.grid_cell_id"
            )
        ).one()
        conn.execute(sa.text("DROP TABLE bench_gap"))
    assert tuple(bulk) == (method, where.grid_code)
