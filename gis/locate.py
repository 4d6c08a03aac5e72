"""Locating points: point → grid → community → subdistrict → station → squad.

Rules, the same for one point and for millions:
- A point in a grid of the current generation belongs to it (`contained`). On
  an edge or corner shared by several grids, the grid with the smallest code
  wins: ST_Intersects counts the boundary, and the order is fixed.
- A point in no grid but within `gap_snap_m` metres of one, and not inside a
  neighbouring district, goes to the nearest grid (`snapped`): the slivers
  between generated or surveyed polygons are not a reason to lose a case.
- A point inside the home district but far from every grid is `unassigned`
  (inside, but a dispatcher must place it).
- Anything else is `outside`, with the neighbouring district when one
  contains the point (smallest code on a shared edge), else none.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import sqlalchemy as sa
from pyproj import CRS
from sqlalchemy.engine import Connection

from gis import crs as crsmod
from gis.district import degrees_spanning, home_district, metres_per_degree
from gis.prepared import execute_prepared
from gis.settings import Settings, get_settings


class InvalidLocation(ValueError):
    """Coordinates that cannot be a place on Earth (NaN, out of range)."""


@dataclass(frozen=True)
class Location:
    """Where a point lies; codes are the ones other commands take."""

    lon: float
    lat: float
    inside: bool
    method: str  # contained | snapped | unassigned | outside
    grid_code: str | None = None
    grid_id: int | None = None
    community: str | None = None
    community_name: str | None = None
    subdistrict: str | None = None
    subdistrict_name: str | None = None
    station: str | None = None
    station_name: str | None = None
    squad: str | None = None
    squad_name: str | None = None
    district: str | None = None
    district_code: str | None = None
    distance_m: float | None = None
    generation: int | None = None

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready view (what `grid locate --json` prints)."""
        return asdict(self)


@lru_cache(maxsize=64)
def _is_projected(name: str) -> bool:
    return name.startswith("EPSG:") and CRS.from_user_input(name).is_projected


def validate_lonlat(lon: float, lat: float) -> None:
    """Refuse non-finite or out-of-range coordinates with a clear message."""
    if not (np.isfinite(lon) and np.isfinite(lat)):
        raise InvalidLocation("lon and lat must be finite numbers")
    if not (-180 <= lon <= 180):
        raise InvalidLocation(f"lon {lon} is out of range -180..180")
    if not (-90 <= lat <= 90):
        hint = "; lon and lat look swapped (lon comes first)" if -90 <= lon <= 90 else ""
        raise InvalidLocation(f"lat {lat} is out of range -90..90{hint}")


_LOCATE_ONE = sa.text("""
WITH pt AS (SELECT ST_SetSRID(ST_MakePoint(:lon, :lat), 4326) AS geom),
gen AS (SELECT id FROM layout_generation WHERE is_current),
hit AS (
    SELECT g.id, g.code, g.community_code, 'contained'::text AS method, 0.0::float8 AS distance_m
    FROM grid_cell g, pt, gen
    WHERE g.generation_id = gen.id AND ST_Intersects(g.geom, pt.geom)
    ORDER BY g.code LIMIT 1
),
area AS (
    SELECT d.code, d.name, d.is_home
    FROM district_part dp JOIN district d ON d.id = dp.district_id, pt, gen
    WHERE d.generation_id = gen.id AND ST_Intersects(dp.geom, pt.geom)
    ORDER BY d.is_home DESC, d.code LIMIT 1
),
near AS (
    SELECT n.id, n.code, n.community_code, 'snapped'::text AS method, n.distance_m
    FROM (
        SELECT g.id, g.code, g.community_code,
               ST_Distance(g.geom::geography, pt.geom::geography) AS distance_m
        FROM grid_cell g, pt, gen
        WHERE g.generation_id = gen.id AND ST_DWithin(g.geom, pt.geom, :tol_deg)
    ) n
    WHERE NOT EXISTS (SELECT 1 FROM hit)
      AND NOT EXISTS (SELECT 1 FROM area WHERE NOT area.is_home)
      AND n.distance_m <= :tol_m
    ORDER BY n.distance_m, n.code LIMIT 1
),
cell AS (SELECT * FROM hit UNION ALL SELECT * FROM near)
SELECT cell.id AS grid_id, cell.code AS grid_code, cell.method, cell.distance_m,
       c.code AS community, c.name AS community_name,
       s.code AS subdistrict, s.name AS subdistrict_name,
       st.code AS station, st.name AS station_name,
       sq.code AS squad, sq.name AS squad_name,
       area.code AS area_code, area.name AS area_name, area.is_home AS area_home,
       home.code AS home_code, home.name AS home_name,
       (SELECT id FROM gen) AS generation
FROM (SELECT 1) one
LEFT JOIN cell ON true
LEFT JOIN area ON true
LEFT JOIN community c ON c.generation_id = (SELECT id FROM gen) AND c.code = cell.community_code
LEFT JOIN subdistrict s ON s.generation_id = c.generation_id AND s.code = c.subdistrict_code
LEFT JOIN district home ON home.generation_id = (SELECT id FROM gen) AND home.is_home
LEFT JOIN station st ON st.community_code = c.code
LEFT JOIN squad_community sc ON sc.community_code = c.code
LEFT JOIN squad sq ON sq.code = sc.squad_code
""")


def locate(
    conn: Connection,
    lon: float,
    lat: float,
    crs: str = "wgs84",
    settings: Settings | None = None,
) -> Location:
    """Locate one point given in `crs`; conversion to WGS84 happens here, once."""
    settings = settings or get_settings()
    name = crsmod.parse_crs(crs)
    if not (np.isfinite(lon) and np.isfinite(lat)):
        raise InvalidLocation("lon and lat must be finite numbers")
    if not _is_projected(name):
        validate_lonlat(lon, lat)
    x, y = crsmod.to_wgs84(lon, lat, name)
    x, y = float(x), float(y)
    validate_lonlat(x, y)
    # Prepared once per connection: planning this costs more than running it.
    # The index prefilter is in degrees, sized at the point's own latitude; the
    # exact test is in metres on the geography.
    params = {
        "lon": x,
        "lat": y,
        "tol_m": settings.gap_snap_m,
        "tol_deg": degrees_spanning(settings.gap_snap_m, y),
    }
    row = execute_prepared(conn, _LOCATE_ONE, params).mappings().one()
    return _location_from_row(x, y, row)


def _location_from_row(x: float, y: float, row: Any) -> Location:
    if row["generation"] is None:
        raise LookupError("no layout is loaded: run `grid demo --no-serve` or `grid load`")
    common = {"lon": round(x, 7), "lat": round(y, 7), "generation": row["generation"]}
    if row["grid_code"] is not None:
        return Location(
            inside=True,
            method=row["method"],
            grid_code=row["grid_code"],
            grid_id=row["grid_id"],
            community=row["community"],
            community_name=row["community_name"],
            subdistrict=row["subdistrict"],
            subdistrict_name=row["subdistrict_name"],
            station=row["station"],
            station_name=row["station_name"],
            squad=row["squad"],
            squad_name=row["squad_name"],
            district=row["home_name"],
            district_code=row["home_code"],
            distance_m=round(float(row["distance_m"]), 2),
            **common,
        )
    if row["area_home"]:
        return Location(
            inside=True,
            method="unassigned",
            district=row["area_name"],
            district_code=row["area_code"],
            **common,
        )
    return Location(
        inside=False,
        method="outside",
        district=row["area_name"],
        district_code=row["area_code"],
        **common,
    )


GRID_CELL_M = 50.0
"""Lattice cell for grids, in metres: small enough that most cells lie wholly
inside one grid and need no geometry test."""
AREA_CELL_M = 200.0
"""Lattice cell for districts and the snapping zone, in metres."""


def lattice_steps(lat: float) -> tuple[float, float]:
    """The lattice's cell sizes in degrees (grids, areas) at latitude `lat`.

    Cells are squares in degrees (ST_SquareGrid) with the area of a square of
    GRID_CELL_M (AREA_CELL_M) metres at that latitude, rounded to two
    significant figures. The sizes are recorded on the generation when its
    lattice is built, and read from there when points are located.
    """
    per_lon, per_lat = metres_per_degree(max(-80.0, min(80.0, lat)))
    scale = (per_lon * per_lat) ** 0.5
    return float(f"{GRID_CELL_M / scale:.2g}"), float(f"{AREA_CELL_M / scale:.2g}")


def _generation_latitude(conn: Connection, generation: int, settings: Settings) -> float:
    """The home district's latitude in a generation; failing that, its districts' middle."""
    home = home_district(conn, settings, generation=generation)
    if home is not None:
        return home.lat
    middle = conn.execute(
        sa.text("""SELECT ST_Y(ST_Centroid(ST_Extent(geom)::geometry))
                   FROM district WHERE generation_id = :gen"""),
        {"gen": generation},
    ).scalar()
    return float(middle) if middle is not None else 0.0


def build_lattice(conn: Connection, generation: int, settings: Settings | None = None) -> int:
    """Derive the locate lattice of a generation (grids, districts, snap zone); row count.

    Cells come from ST_SquareGrid, whose cell (i, j) spans
    [i*step, (i+1)*step) × [j*step, (j+1)*step), so a point's cell is plain
    arithmetic on its coordinates: see `_cell_sql`.
    """
    settings = settings or get_settings()
    grid_step, area_step = lattice_steps(_generation_latitude(conn, generation, settings))
    params = {"gen": generation, "gs": grid_step, "as": area_step, "tol": settings.gap_snap_m}
    conn.execute(sa.text("DELETE FROM locate_lattice WHERE generation_id = :gen"), params)
    conn.execute(
        sa.text("""UPDATE layout_generation SET lattice_grid_step = :gs, lattice_area_step = :as
                   WHERE id = :gen"""),
        params,
    )
    conn.execute(
        sa.text("""
        INSERT INTO locate_lattice
            (generation_id, layer, cell, ref_id, code, is_home, priority, covered, piece)
        SELECT :gen, 'grid', x.i::int8 * 1000000 + x.j, x.id, x.code, true, x.rank, x.covered,
               CASE WHEN x.covered THEN NULL ELSE ST_Intersection(x.geom, x.cell) END
        FROM (
            SELECT g.id, g.code, g.geom, g.rank, c.i, c.j, c.geom AS cell,
                   ST_Covers(g.geom, c.geom) AS covered
            FROM (SELECT *, rank() OVER (ORDER BY code) AS rank
                  FROM grid_cell WHERE generation_id = :gen) g,
                 LATERAL ST_SquareGrid(:gs, g.geom) c
            WHERE ST_Intersects(g.geom, c.geom)
        ) x"""),
        params,
    )
    conn.execute(
        sa.text("""
        INSERT INTO locate_lattice
            (generation_id, layer, cell, ref_id, code, is_home, priority, covered, piece)
        SELECT :gen, x.layer, x.i::int8 * 1000000 + x.j, x.id, x.code, x.is_home, x.priority,
               x.covered,
               CASE WHEN x.covered THEN NULL ELSE ST_Intersection(x.geom, x.cell) END
        FROM (
            SELECT p.layer, p.id, p.code, p.is_home, p.priority, p.geom, c.i, c.j,
                   c.geom AS cell, ST_Covers(p.geom, c.geom) AS covered
            FROM (
                SELECT 'district' AS layer, d.id, d.code, d.is_home, dp.geom,
                       rank() OVER (ORDER BY d.is_home DESC, d.code) AS priority
                FROM district d JOIN district_part dp ON dp.district_id = d.id
                WHERE d.generation_id = :gen
                UNION ALL
                -- The zone: the band within the snapping distance outside home.
                SELECT 'zone', d.id, d.code, true,
                       ST_Subdivide(ST_Difference(
                           ST_Buffer(d.geom::geography, :tol)::geometry, d.geom), 96),
                       1000000
                FROM district d WHERE d.generation_id = :gen AND d.is_home
            ) p, LATERAL ST_SquareGrid(:as, p.geom) c
            WHERE ST_Intersects(p.geom, c.geom)
        ) x"""),
        params,
    )
    conn.execute(sa.text("ANALYZE locate_lattice"))
    return int(
        conn.execute(
            sa.text("SELECT count(*) FROM locate_lattice WHERE generation_id = :gen"), params
        ).scalar_one()
    )


def _cell_sql(alias: str, step: float) -> str:
    """SQL for the lattice cell of `alias`.geom (matches build_lattice's numbering).

    `step` is a float read from the database, written as a literal.
    """
    step = float(step)
    return (
        f"(floor(ST_X({alias}.geom) / {step!r})::int8 * 1000000 "
        f"+ floor(ST_Y({alias}.geom) / {step!r})::int8)"
    )


def ensure_lattice(conn: Connection, generation: int, settings: Settings | None = None) -> None:
    """Build the generation's lattice unless it exists (serialised by an advisory lock)."""
    conn.execute(sa.text("SELECT pg_advisory_xact_lock(7031, :gen)"), {"gen": generation})
    exists = conn.execute(
        sa.text("""SELECT lattice_grid_step IS NOT NULL AND lattice_area_step IS NOT NULL
                          AND EXISTS (SELECT 1 FROM locate_lattice WHERE generation_id = :gen)
                   FROM layout_generation WHERE id = :gen"""),
        {"gen": generation},
    ).scalar()
    if not exists:
        build_lattice(conn, generation, settings)


def locate_table(
    conn: Connection,
    source: str,
    out: str,
    settings: Settings | None = None,
) -> dict[str, int]:
    """Locate every point of table `source(id bigint, geom geometry(Point, 4326))`.

    Set-based, with the same rules as `locate`. The polygon side is the
    generation's lattice (see `build_lattice`): each point finds its cell by
    arithmetic and meets the few polygon pieces of that cell in a parallel hash
    join, so no index on the points is built and cells wholly inside a grid
    need no geometry test at all. Only the points left over (in no grid) meet
    the district lattice, and only those near the district are tried for
    snapping, with the grids' GiST index.

    Creates the temporary table `out(point_id, grid_cell_id, method,
    distance_m, district_code)`, one row per source point, dropped at commit;
    returns counts per method. For parallel workers to help, `source` must be
    an ordinary or unlogged table, not a temporary one. `source` and `out` are
    names chosen by code, never user text.
    """
    settings = settings or get_settings()
    for name in (source, out):
        if not name.replace("_", "").replace(".", "").isalnum():
            raise ValueError(f"not a table name: {name!r}")
    gen = conn.execute(sa.text("SELECT id FROM layout_generation WHERE is_current")).scalar()
    if gen is None:
        raise LookupError("no layout is loaded: run `grid demo --no-serve` or `grid load`")
    ensure_lattice(conn, gen, settings)
    grid_step, area_step = conn.execute(
        sa.text("SELECT lattice_grid_step, lattice_area_step FROM layout_generation WHERE id = :g"),
        {"g": gen},
    ).one()
    # The home district, and the latitude farthest from the equator it reaches:
    # the index prefilter in degrees is sized there (the exact test is in metres).
    home, poleward = conn.execute(
        sa.text("""SELECT code, greatest(abs(ST_YMin(geom)), abs(ST_YMax(geom)))
                   FROM district WHERE generation_id = :gen AND is_home"""),
        {"gen": gen},
    ).one_or_none() or (None, 0.0)
    params = {
        "gen": gen,
        "home": home,
        "tol_m": settings.gap_snap_m,
        "tol_deg": degrees_spanning(settings.gap_snap_m, float(poleward)),
    }
    conn.execute(sa.text("SET LOCAL parallel_setup_cost = 100"))
    conn.execute(sa.text("SET LOCAL work_mem = '128MB'"))
    # 1. One parallel pass. Each point meets the grid pieces of its small
    #    lattice cell and, when in no grid, the district pieces of its large
    #    cell (hash joins on the cell number). The smallest grid code wins, then
    #    the home district, then the smallest district code, then the zone
    #    round home (points within the snapping distance of the district).
    conn.execute(
        sa.text(f"""
        CREATE TEMP TABLE {out} ON COMMIT DROP AS
        SELECT DISTINCT ON (p.id)
            p.id AS point_id,
            g.ref_id AS grid_cell_id,
            CASE WHEN g.ref_id IS NOT NULL THEN 'contained'
                 WHEN a.layer = 'district' AND a.code = :home THEN 'unassigned'
                 ELSE 'outside' END AS method,
            CASE WHEN g.ref_id IS NOT NULL THEN 0.0::float8 END AS distance_m,
            CAST(CASE WHEN g.ref_id IS NOT NULL THEN :home
                      WHEN a.layer = 'district' THEN a.code END AS varchar(6)) AS district_code,
            CASE WHEN g.ref_id IS NULL AND a.code = :home THEN p.geom END AS snap_from
        FROM {source} p
        LEFT JOIN locate_lattice g ON g.generation_id = :gen AND g.layer = 'grid'
             AND g.cell = {_cell_sql("p", grid_step)}
             AND (g.covered OR ST_Intersects(g.piece, p.geom))
        LEFT JOIN locate_lattice a ON g.ref_id IS NULL
             AND a.generation_id = :gen AND a.layer IN ('district', 'zone')
             AND a.cell = {_cell_sql("p", area_step)}
             AND (a.covered OR ST_Intersects(a.piece, p.geom))
        ORDER BY p.id, g.priority, a.priority"""),
        params,
    )
    # 2. The few points near home but in no grid go to the nearest grid within
    #    the snapping distance; rows are found again by their ctid.
    conn.execute(
        sa.text(f"""
        CREATE TEMP TABLE {out}_snap ON COMMIT DROP AS
        SELECT o.ctid AS row, n.id, n.distance_m
        FROM {out} o
        CROSS JOIN LATERAL (
            SELECT g.id, ST_Distance(g.geom::geography, o.snap_from::geography) AS distance_m
            FROM grid_cell g
            WHERE g.generation_id = :gen AND ST_DWithin(g.geom, o.snap_from, :tol_deg)
            ORDER BY 2, g.code LIMIT 1
        ) n
        WHERE o.snap_from IS NOT NULL AND n.distance_m <= :tol_m"""),
        params,
    )
    conn.execute(
        sa.text(f"""
        UPDATE {out} o SET grid_cell_id = s.id, method = 'snapped', distance_m = s.distance_m,
               district_code = :home
        FROM {out}_snap s WHERE o.ctid = s.row"""),
        params,
    )
    counts = conn.execute(sa.text(f"SELECT method, count(*) FROM {out} GROUP BY method")).all()
    return {str(method): int(n) for method, n in counts}
