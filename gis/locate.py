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
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from gis import crs as crsmod
from gis.settings import Settings, get_settings

# Degrees that surely cover `gap_snap_m` metres at this latitude (a prefilter
# for the index; the exact test is in metres on the geography).
_DEG_PER_M = 1 / 90_000.0


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
    validate_lonlat(lon, lat)
    x, y = crsmod.to_wgs84(lon, lat, crs)
    x, y = float(x), float(y)
    validate_lonlat(x, y)
    row = (
        conn.execute(
            _LOCATE_ONE,
            {
                "lon": x,
                "lat": y,
                "tol_m": settings.gap_snap_m,
                "tol_deg": settings.gap_snap_m * _DEG_PER_M,
            },
        )
        .mappings()
        .one()
    )
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


def locate_table(
    conn: Connection,
    source: str,
    out: str,
    settings: Settings | None = None,
) -> dict[str, int]:
    """Locate every point of table `source(id bigint, geom geometry(Point, 4326))`.

    Set-based in PostGIS, polygon side driving the join: the grid polygons are
    the outer side, each one probing the GiST index on the points, so each
    polygon is prepared once and reused for all its points. Writes
    `out(point_id, grid_cell_id, method, distance_m, district_code)`, one row
    per source point, and returns counts per method. `source` and `out` are
    table names chosen by the caller's code, never user text.
    """
    settings = settings or get_settings()
    for name in (source, out):
        if not name.replace("_", "").replace(".", "").isalnum():
            raise ValueError(f"not a table name: {name!r}")
    params = {"tol_m": settings.gap_snap_m, "tol_deg": settings.gap_snap_m * _DEG_PER_M}
    gen = conn.execute(sa.text("SELECT id FROM layout_generation WHERE is_current")).scalar()
    if gen is None:
        raise LookupError("no layout is loaded: run `grid demo --no-serve` or `grid load`")
    params["gen"] = gen
    conn.execute(
        sa.text(f"""
        CREATE TEMP TABLE {out} (
            point_id bigint PRIMARY KEY, grid_cell_id integer, method text NOT NULL,
            distance_m float8, district_code varchar(6)
        ) ON COMMIT DROP""")
    )
    # 1. Contained: one row per point; on shared edges the smallest grid code.
    conn.execute(
        sa.text(f"""
        INSERT INTO {out} (point_id, grid_cell_id, method, distance_m, district_code)
        SELECT DISTINCT ON (p.id) p.id, g.id, 'contained', 0, d.code
        FROM grid_cell g
        JOIN {source} p ON ST_Intersects(g.geom, p.geom)
        JOIN district d ON d.generation_id = g.generation_id AND d.is_home
        WHERE g.generation_id = :gen
        ORDER BY p.id, g.code"""),
        params,
    )
    # 2. The rest: which district holds them (home first, then smallest code).
    conn.execute(
        sa.text(f"""
        CREATE TEMP TABLE {out}_rest ON COMMIT DROP AS
        SELECT p.id, p.geom FROM {source} p
        WHERE NOT EXISTS (SELECT 1 FROM {out} o WHERE o.point_id = p.id)""")
    )
    conn.execute(
        sa.text(f"""
        CREATE TEMP TABLE {out}_area ON COMMIT DROP AS
        SELECT DISTINCT ON (r.id) r.id, d.code, d.is_home
        FROM district_part dp
        JOIN district d ON d.id = dp.district_id
        JOIN {out}_rest r ON ST_Intersects(dp.geom, r.geom)
        WHERE d.generation_id = :gen
        ORDER BY r.id, d.is_home DESC, d.code"""),
        params,
    )
    # 3. Snap what lies in no neighbour and within the tolerance of a grid.
    conn.execute(
        sa.text(f"""
        INSERT INTO {out} (point_id, grid_cell_id, method, distance_m, district_code)
        SELECT r.id, n.id, 'snapped', n.distance_m, home.code
        FROM {out}_rest r
        JOIN district home ON home.generation_id = :gen AND home.is_home
        LEFT JOIN {out}_area a ON a.id = r.id
        CROSS JOIN LATERAL (
            SELECT g.id, ST_Distance(g.geom::geography, r.geom::geography) AS distance_m
            FROM grid_cell g
            WHERE g.generation_id = :gen AND ST_DWithin(g.geom, r.geom, :tol_deg)
            ORDER BY 2, g.code LIMIT 1
        ) n
        WHERE (a.id IS NULL OR a.is_home) AND n.distance_m <= :tol_m"""),
        params,
    )
    # 4. Whatever is left: unassigned inside home, or outside.
    conn.execute(
        sa.text(f"""
        INSERT INTO {out} (point_id, grid_cell_id, method, distance_m, district_code)
        SELECT r.id, NULL, CASE WHEN a.is_home THEN 'unassigned' ELSE 'outside' END, NULL, a.code
        FROM {out}_rest r LEFT JOIN {out}_area a ON a.id = r.id
        WHERE NOT EXISTS (SELECT 1 FROM {out} o WHERE o.point_id = r.id)""")
    )
    counts = conn.execute(sa.text(f"SELECT method, count(*) FROM {out} GROUP BY method")).all()
    return {method: int(n) for method, n in counts}
