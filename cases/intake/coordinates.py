"""Coordinates at the edge: checked, converted to WGS84 once, located.

What "near the district" means comes from the loaded layout
(`gis.district.home_district`): its name and a point inside it. Nothing here
knows one particular district.
"""

from __future__ import annotations

import math
from functools import lru_cache

from pyproj import CRS
from sqlalchemy.engine import Engine

from cases.errors import InvalidInput
from gis import crs as crsmod
from gis.district import HomeDistrict, home_district
from gis.locate import InvalidLocation, Location, locate
from gis.settings import Settings, get_settings

NEAR_HOME_KM = 1000.0
"""A pair that is far from the district but, swapped, within this of it, looks swapped."""
EARTH_RADIUS_KM = 6371.0


@lru_cache(maxsize=64)
def _is_geographic(canonical: str) -> bool:
    if canonical in crsmod.CANONICAL_NAMES:
        return True
    return bool(CRS.from_user_input(canonical).is_geographic)


def _convert(lon: float, lat: float, canonical: str) -> tuple[float, float] | None:
    try:
        x, y = crsmod.to_wgs84(lon, lat, canonical)
    except Exception:  # pyproj raises assorted errors on odd input
        return None
    return (x, y) if math.isfinite(x) and math.isfinite(y) else None


def _km_between(lon0: float, lat0: float, lon1: float, lat1: float) -> float:
    """Great-circle distance in km (haversine: good enough for 'near')."""
    p0, p1 = math.radians(lat0), math.radians(lat1)
    a = (
        math.sin((p1 - p0) / 2) ** 2
        + math.cos(p0) * math.cos(p1) * math.sin(math.radians(lon1 - lon0) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def _looks_swapped(lon: float, lat: float, canonical: str, home: HomeDistrict) -> bool:
    """True when (lat, lon), read the other way round, is a point near the district."""
    if _is_geographic(canonical) and abs(lon) > 90:
        return False  # what was sent as lon cannot be a latitude
    swapped = _convert(lat, lon, canonical)
    if swapped is None or not (-180 <= swapped[0] <= 180 and -90 <= swapped[1] <= 90):
        return False
    return _km_between(home.lon, home.lat, *swapped) <= NEAR_HOME_KM


def _hint(home: HomeDistrict | None) -> str:
    if home is None:
        return "no layout is loaded"
    return f"{home.name} is near lon {home.lon:.2f}, lat {home.lat:.2f}"


def check_coordinates(
    lon: float,
    lat: float,
    crs: str = "wgs84",
    *,
    home: HomeDistrict | None,
    require_china: bool = True,
) -> tuple[float, float, str]:
    """Check a point as sent and convert it: (lon, lat) in WGS84 and the canonical CRS.

    Refuses (InvalidInput, naming the field) an unknown CRS, non-finite values,
    values out of range, a pair that looks swapped (far from the home
    district, but within NEAR_HOME_KM of it read the other way round; also
    for projected CRSs; only when a layout is loaded: `home`) and, with
    `require_china`, a point outside China: no complaint there can be about
    the district or be referred to a neighbour, so the sender hears at once
    instead of it being kept.
    """
    try:
        canonical = crsmod.parse_crs(crs)
    except crsmod.UnknownCRSError as exc:
        raise InvalidInput(str(exc), field="crs") from None
    if not (math.isfinite(lon) and math.isfinite(lat)):
        raise InvalidInput("lon and lat must be finite numbers", field="lon,lat")
    swapped_msg = (
        f"lon {lon:g} and lat {lat:g} look swapped ({_hint(home)}): send the "
        "longitude as lon and the latitude as lat"
    )
    if _is_geographic(canonical) and (abs(lat) > 90 or abs(lon) > 180):
        if home is not None and _looks_swapped(lon, lat, canonical, home):
            raise InvalidInput(swapped_msg, field="lon,lat")
        raise InvalidInput(
            f"lon must be within -180..180 and lat within -90..90 (got lon {lon:g}, lat {lat:g})",
            field="lon,lat",
        )
    converted = _convert(lon, lat, canonical)
    if converted is None:
        raise InvalidInput(
            f"lon {lon:g}, lat {lat:g} cannot be converted from {canonical}", field="lon,lat"
        )
    x, y = converted
    if not (-180 <= x <= 180 and -90 <= y <= 90):
        raise InvalidInput(
            f"lon {lon:g}, lat {lat:g} in {canonical} is not a place on Earth", field="lon,lat"
        )
    if (
        home is not None
        and _km_between(home.lon, home.lat, x, y) > NEAR_HOME_KM
        and _looks_swapped(lon, lat, canonical, home)
    ):
        raise InvalidInput(swapped_msg, field="lon,lat")
    if require_china and not crsmod.in_china(x, y):
        where = f"{home.name} and its neighbours" if home is not None else "this district"
        raise InvalidInput(
            f"lon {x:.5f}, lat {y:.5f} (WGS84) is outside China; this service takes "
            f"complaints about {where} ({_hint(home)})",
            field="lon,lat",
        )
    return x, y, canonical


def locate_point(
    engine: Engine, lon: float, lat: float, crs: str = "wgs84", settings: Settings | None = None
) -> Location:
    """Locate one point as `grid locate` does, after the same checks as intake.

    Swapped pairs and unknown CRSs are refused; a far-away point is answered
    as `outside` (this only looks, it creates nothing).
    """
    settings = settings or get_settings()
    with engine.connect() as conn:
        home = home_district(conn, settings)
        x, y, _ = check_coordinates(lon, lat, crs, home=home, require_china=False)
        try:
            return locate(conn, x, y, "wgs84", settings)
        except InvalidLocation as exc:
            raise InvalidInput(str(exc), field="lon,lat") from None
