"""Where a point stands relative to a station: the distance to it, and whether
it lies in the station's community (the polygon of the current layout).

The point arrives in its own CRS and is converted to WGS84 here, once. The
distance is geodesic, on the WGS84 spheroid (PostGIS geography), so it agrees
with pyproj.Geod to well below a millimetre. A point on the community's
boundary is inside it. What counts as a valid check-in is decided by the duty
rules (cases.stations.duty), not here.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from gis import crs as crsmod
from gis.locate import InvalidLocation, validate_lonlat

_FENCE = sa.text("""
WITH pt AS (SELECT ST_SetSRID(ST_MakePoint(:x, :y), 4326) AS geom),
gen AS (SELECT id FROM layout_generation WHERE is_current)
SELECT ST_Distance(st.geom::geography, pt.geom::geography) AS distance_m,
       EXISTS (
           SELECT 1 FROM community c, gen
           WHERE c.generation_id = gen.id AND c.code = st.community_code
             AND ST_Intersects(c.geom, pt.geom)
       ) AS in_community
FROM station st, pt
WHERE st.code = :station
""")


@dataclass(frozen=True)
class Fence:
    """A point (WGS84) against a station: metres to the station, and whether it
    lies in the station's community."""

    lon: float
    lat: float
    distance_m: float
    in_community: bool


def to_wgs84_point(lon: float, lat: float, crs: str) -> tuple[float, float]:
    """Check and convert one point given in `crs` (InvalidLocation or
    UnknownCRSError when it cannot be a place on Earth)."""
    name = crsmod.parse_crs(crs)
    try:
        x, y = crsmod.to_wgs84(float(lon), float(lat), name)
    except (TypeError, ValueError, OverflowError) as exc:
        raise InvalidLocation(f"lon {lon}, lat {lat} cannot be converted from {name}") from exc
    validate_lonlat(float(x), float(y))
    return float(x), float(y)


def station_fence(conn: Connection, station_code: str, lon: float, lat: float, crs: str) -> Fence:
    """The point `lon, lat` (in `crs`) against the station `station_code`.
    LookupError when there is no such station."""
    x, y = to_wgs84_point(lon, lat, crs)
    row = conn.execute(_FENCE, {"x": x, "y": y, "station": station_code}).first()
    if row is None:
        raise LookupError(f"no station {station_code}")
    return Fence(x, y, float(row.distance_m), bool(row.in_community))
