"""The home district as the loaded layout describes it, and metres per degree.

Nothing about one particular district lives in code: where the home district
lies (a point inside it, its bounding box) is read from the current layout
generation, and every conversion between metres and degrees is made at the
district's own latitude on the WGS84 ellipsoid. A district near 45°N, where a
degree of longitude is about 78.8 km rather than about 102.7 km at 22.6°N,
then snaps and refers points by the same rules in real metres.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from gis.settings import Settings, get_settings

WGS84_A = 6_378_137.0
"""Semi-major axis of the WGS84 ellipsoid, in metres."""
WGS84_F = 1 / 298.257223563
"""Flattening of the WGS84 ellipsoid."""
_E2 = WGS84_F * (2 - WGS84_F)


def metres_per_degree(lat: float) -> tuple[float, float]:
    """Metres per degree of longitude and of latitude at `lat` (WGS84 ellipsoid).

    From the ellipsoid's radii of curvature: the prime vertical N (along a
    parallel, times cos(lat)) and the meridian M. Exact for small steps, which
    is how they are used (tolerances of tens of metres, lattice cells).
    """
    if not -90.0 <= lat <= 90.0 or not math.isfinite(lat):
        raise ValueError(f"latitude {lat} is out of range -90..90")
    phi = math.radians(lat)
    w2 = 1.0 - _E2 * math.sin(phi) ** 2
    n = WGS84_A / math.sqrt(w2)
    m = WGS84_A * (1.0 - _E2) / w2**1.5
    per_rad = math.pi / 180.0
    return n * math.cos(phi) * per_rad, m * per_rad


def degrees_spanning(metres: float, lat: float) -> float:
    """Degrees that surely span `metres` east-west and north-south within `metres` of `lat`.

    Taken where a degree is shortest: a degree of longitude at the latitude
    `metres` farther from the equator (capped at 89.9°), or a degree of
    latitude, whichever is shorter; widened by 1%. A prefilter in degrees
    (ST_DWithin on geometry) with this never misses a point that the exact
    test in metres (on the geography) accepts.
    """
    _, per_lat = metres_per_degree(max(-90.0, min(90.0, lat)))
    poleward = min(89.9, abs(lat) + metres / per_lat)
    per_lon, per_lat_edge = metres_per_degree(poleward)
    return metres / min(per_lon, per_lat, per_lat_edge) * 1.01


@dataclass(frozen=True)
class HomeDistrict:
    """The bureau's district in the current layout (WGS84).

    `lon`, `lat` is a point inside the outline (its centroid when that lies
    inside, else a point on its surface); `bbox` is (minx, miny, maxx, maxy).
    """

    code: str
    name: str
    lon: float
    lat: float
    bbox: tuple[float, float, float, float]
    generation: int

    def metres_per_degree(self) -> tuple[float, float]:
        """Metres per degree of longitude and of latitude at the district's point."""
        return metres_per_degree(self.lat)

    def degrees_covering(self, metres: float) -> float:
        """Degrees that surely span `metres` anywhere in or within `metres` of the district.

        :func:`degrees_spanning` at the edge of the bounding box farthest from
        the equator, where a degree of longitude is shortest.
        """
        return degrees_spanning(metres, max(abs(self.bbox[1]), abs(self.bbox[3])))


_HOME_SQL = sa.text("""
SELECT d.code, d.name,
       ST_X(p.pt) AS lon, ST_Y(p.pt) AS lat,
       ST_XMin(d.geom) AS minx, ST_YMin(d.geom) AS miny,
       ST_XMax(d.geom) AS maxx, ST_YMax(d.geom) AS maxy
FROM district d,
     LATERAL (SELECT CASE WHEN ST_Intersects(d.geom, ST_Centroid(d.geom))
                          THEN ST_Centroid(d.geom) ELSE ST_PointOnSurface(d.geom) END AS pt) p
WHERE d.generation_id = :gen AND d.code = :code
""")

_cache: dict[tuple[str, int, str], HomeDistrict] = {}
_lock = threading.Lock()


def home_district(
    conn: Connection, settings: Settings | None = None, *, generation: int | None = None
) -> HomeDistrict | None:
    """The home district (code `settings.home_district_code`) of the current generation.

    `generation` names another generation instead. None when no layout is
    loaded or the generation has no district with that code. Cached per
    database, generation and code: a generation is never changed once written,
    so only the (cheap) current-generation lookup runs on every call.
    """
    settings = settings or get_settings()
    gen = generation
    if gen is None:
        gen = conn.execute(sa.text("SELECT id FROM layout_generation WHERE is_current")).scalar()
        if gen is None:
            return None
    url = conn.engine.url.render_as_string(hide_password=True)
    key = (url, int(gen), settings.home_district_code)
    with _lock:
        if key in _cache:
            return _cache[key]
    row = conn.execute(_HOME_SQL, {"gen": gen, "code": settings.home_district_code}).first()
    if row is None:
        return None  # not cached: the generation may be one still being written
    home = HomeDistrict(
        code=row.code,
        name=row.name,
        lon=float(row.lon),
        lat=float(row.lat),
        bbox=(float(row.minx), float(row.miny), float(row.maxx), float(row.maxy)),
        generation=int(gen),
    )
    with _lock:
        _cache[key] = home
    return home
