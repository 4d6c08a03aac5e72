"""The home district read from the layout, and metres per degree on the ellipsoid."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from pyproj import Geod
from sqlalchemy.engine import Engine

from gis.district import home_district, metres_per_degree
from gis.settings import Settings

_GEOD = Geod(ellps="WGS84")


@pytest.mark.parametrize("lat", [0.0, 22.6, 45.0, 60.0, -33.9, 80.0])
def test_metres_per_degree_matches_geodesic_distances(lat: float) -> None:
    per_lon, per_lat = metres_per_degree(lat)
    step = 0.001
    _, _, east = _GEOD.inv(10.0, lat, 10.0 + step, lat)
    _, _, north = _GEOD.inv(10.0, lat - step / 2, 10.0, lat + step / 2)
    assert per_lon == pytest.approx(east / step, rel=1e-6)
    assert per_lat == pytest.approx(north / step, rel=1e-6)


def test_a_degree_of_longitude_shrinks_northwards() -> None:
    assert metres_per_degree(22.6)[0] == pytest.approx(102_780, rel=1e-3)
    assert metres_per_degree(45.0)[0] == pytest.approx(78_850, rel=1e-3)
    with pytest.raises(ValueError, match="out of range"):
        metres_per_degree(91.0)


def test_home_district_comes_from_the_current_layout(
    engine: Engine, settings: Settings, sample_layout: int
) -> None:
    with engine.connect() as conn:
        home = home_district(conn, settings)
        assert home is not None
        assert (home.code, home.generation) == (settings.home_district_code, sample_layout)
        inside = conn.execute(
            sa.text("""SELECT ST_Intersects(geom, ST_SetSRID(ST_MakePoint(:x, :y), 4326))
                       FROM district WHERE generation_id = :g AND code = :c"""),
            {"x": home.lon, "y": home.lat, "g": sample_layout, "c": home.code},
        ).scalar_one()
        assert inside
        name = conn.execute(
            sa.text("SELECT name FROM district WHERE generation_id = :g AND code = :c"),
            {"g": sample_layout, "c": home.code},
        ).scalar_one()
    minx, miny, maxx, maxy = home.bbox
    assert home.name == name
    assert minx < home.lon < maxx and miny < home.lat < maxy
    with engine.connect() as conn:
        assert home_district(conn, settings) is home  # cached per generation


def test_no_home_district_without_a_layout_or_with_an_unknown_code(
    engine: Engine, settings: Settings, sample_layout: int
) -> None:
    other = settings.model_copy(update={"home_district_code": "999999"})
    with engine.connect() as conn:
        assert home_district(conn, other) is None
        conn.execute(sa.text("UPDATE layout_generation SET is_current = false"))
        assert home_district(conn, settings) is None
        conn.rollback()
        assert home_district(conn, settings) is not None
