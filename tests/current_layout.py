"""Where things are in the current layout generation, read straight from the database.

For tests that file a complaint in a given grid or walk a patrol through a given
community: the grid's inner point and the community's polygon, both in WGS84 as
stored. Imported as `current_layout` (pytest puts tests/ on sys.path).
"""

from __future__ import annotations

import shapely
import sqlalchemy as sa
from shapely.geometry.base import BaseGeometry
from sqlalchemy.engine import Engine


def grid_point(engine: Engine, code: str) -> tuple[float, float]:
    """A point inside grid `code` (lon, lat; its point on surface): where to report."""
    with engine.connect() as conn:
        x, y = conn.execute(
            sa.text(
                "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(g.geom) p "
                "FROM grid_cell g JOIN layout_generation l ON l.id = g.generation_id "
                "AND l.is_current WHERE g.code = :c) s"
            ),
            {"c": code},
        ).one()
    return float(x), float(y)


def community_shape(engine: Engine, code: str) -> BaseGeometry:
    """The polygon of community `code`."""
    with engine.connect() as conn:
        wkb = conn.execute(
            sa.text(
                "SELECT ST_AsBinary(c.geom) FROM community c "
                "JOIN layout_generation l ON l.id = c.generation_id AND l.is_current "
                "WHERE c.code = :c"
            ),
            {"c": code},
        ).scalar_one()
    return shapely.from_wkb(bytes(wkb))
