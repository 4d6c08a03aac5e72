"""Areas and places of the current layout as GeoDataFrames, for maps and GeoJSON.

What the map pages and the data endpoints draw, read in one statement each
(bound parameters only), all in WGS84 (EPSG:4326):

- `grids`: the current generation's unit grids with a name for people (grids
  carry only a code: the community's name and the grid's number in it, the
  code's last three digits), their community and subdistrict (codes and
  names) and area;
- `communities`: the current communities with their subdistrict and area;
- `squad_areas`: each squad's area, the union of its communities' polygons;
- `stations`: the service stations' points;
- `subdistricts`: the current subdistricts' codes and names (no geometry).

Every function takes `communities`: None for the whole district, or the codes
of the communities to keep (a caller's scope, decided outside gis/). An empty
collection keeps nothing.
"""

from __future__ import annotations

from collections.abc import Collection

import geopandas as gpd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

__all__ = ["communities", "grids", "squad_areas", "stations", "subdistricts"]

_EMPTY = "CAST(:all_places AS boolean) OR {column} = ANY(CAST(:places AS text[]))"


_GRIDS = """
SELECT g.code AS grid_code,
       c.name || right(g.code, 3) || '号网格' AS name,
       g.community_code, c.name AS community_name,
       c.subdistrict_code, s.name AS subdistrict_name,
       g.area_m2, g.geom
FROM grid_cell g
JOIN layout_generation lg ON lg.id = g.generation_id AND lg.is_current
LEFT JOIN community c ON c.generation_id = g.generation_id AND c.code = g.community_code
LEFT JOIN subdistrict s ON s.generation_id = g.generation_id AND s.code = c.subdistrict_code
WHERE ({scope})
ORDER BY g.code
"""

_COMMUNITIES = """
SELECT c.code, c.name, c.subdistrict_code, s.name AS subdistrict_name,
       ST_Area(c.geom::geography) AS area_m2, c.geom
FROM community c
JOIN layout_generation lg ON lg.id = c.generation_id AND lg.is_current
LEFT JOIN subdistrict s ON s.generation_id = c.generation_id AND s.code = c.subdistrict_code
WHERE ({scope})
ORDER BY c.code
"""

_SQUADS = """
SELECT q.code, q.name, ST_Multi(ST_Union(c.geom)) AS geom
FROM squad q
JOIN squad_community sc ON sc.squad_code = q.code
JOIN community c ON c.code = sc.community_code
JOIN layout_generation lg ON lg.id = c.generation_id AND lg.is_current
WHERE ({scope})
GROUP BY q.code, q.name
ORDER BY q.code
"""

_STATIONS = """
SELECT st.code, st.name, st.address, st.community_code, st.geom
FROM station st
WHERE ({scope})
ORDER BY st.code
"""


def _params(places: Collection[str] | None) -> dict[str, object]:
    return {"all_places": places is None, "places": sorted(places or ())}


def _read(
    conn: Connection, sql: str, column: str, places: Collection[str] | None
) -> gpd.GeoDataFrame:
    statement = sa.text(sql.format(scope=_EMPTY.format(column=column)))
    frame = gpd.read_postgis(statement, conn, geom_col="geom", params=_params(places))
    frame = frame.rename_geometry("geometry")
    if frame.crs is None:
        frame = frame.set_crs("EPSG:4326")
    return frame


def grids(conn: Connection, communities: Collection[str] | None = None) -> gpd.GeoDataFrame:
    """The current grids: grid_code, name, community_code, community_name,
    subdistrict_code, subdistrict_name, area_m2 and the polygon, by code."""
    return _read(conn, _GRIDS, "g.community_code", communities)


def communities(conn: Connection, communities: Collection[str] | None = None) -> gpd.GeoDataFrame:
    """The current communities: code, name, subdistrict_code, subdistrict_name,
    area_m2 (on the ellipsoid) and the polygon, by code."""
    return _read(conn, _COMMUNITIES, "c.code", communities)


def squad_areas(conn: Connection, communities: Collection[str] | None = None) -> gpd.GeoDataFrame:
    """Each squad's area (code, name, polygon): the union of the current polygons
    of the communities it covers (only those in `communities`, when given)."""
    return _read(conn, _SQUADS, "c.code", communities)


def stations(conn: Connection, communities: Collection[str] | None = None) -> gpd.GeoDataFrame:
    """The service stations: code, name, address, community_code and the point."""
    return _read(conn, _STATIONS, "st.community_code", communities)


_SUBDISTRICTS = sa.text("""
SELECT s.code, s.name FROM subdistrict s
JOIN layout_generation lg ON lg.id = s.generation_id AND lg.is_current
ORDER BY s.code
""")


def subdistricts(conn: Connection) -> dict[str, str]:
    """The current subdistricts, code -> name, by code (for filter forms)."""
    return {r.code: r.name for r in conn.execute(_SUBDISTRICTS)}
