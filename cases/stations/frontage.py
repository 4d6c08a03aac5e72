"""Frontage units (门前三包): shops and units that keep their frontage clean,
orderly and green, registered as points, and their checks on patrols.

A unit is registered with its point (in its CRS, converted once) and gets the
community the point lies in (located as complaints are, gis.locate); a point in
no community of the current layout is refused. Registering a code again
updates the unit (a shop moves or is renamed); units are never deleted.
The items checked are `cases.stations.models.FRONTAGE_ITEMS` (sanitation 门前卫生,
order 门前秩序, greenery 门前绿化); each check is passed or failed, with a note.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy.engine import Engine

from cases.access import Principal
from cases.errors import Forbidden, InvalidInput
from cases.stations.models import FRONTAGE_ITEMS
from cases.stations.shifts import iso
from gis import crs as crsmod
from gis.locate import InvalidLocation, locate
from gis.settings import Settings, get_settings

CODE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
ITEM_BY_LABEL = {label: code for code, label in FRONTAGE_ITEMS.items()}


def item_code(value: str) -> str:
    """An item's code from its code or its Chinese label (ValueError otherwise)."""
    value = value.strip()
    if value in FRONTAGE_ITEMS:
        return value
    if value in ITEM_BY_LABEL:
        return ITEM_BY_LABEL[value]
    known = ", ".join(f"{c} ({lbl})" for c, lbl in FRONTAGE_ITEMS.items())
    raise ValueError(f"unknown frontage item {value[:40]!r}; the items are {known}")


class FrontageUnitIn(BaseModel):
    """A frontage unit as sent: code, name, address and its point in `crs`."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    code: str = Field(min_length=1, max_length=32, description="letters, digits, _ or -")
    name: str = Field(min_length=1, max_length=200)
    address: str = Field(default="", max_length=300)
    lon: float = Field(allow_inf_nan=False)
    lat: float = Field(allow_inf_nan=False)
    crs: str = Field(default="wgs84", min_length=1, max_length=32)

    @field_validator("code")
    @classmethod
    def _code(cls, value: str) -> str:
        if not CODE.fullmatch(value):
            raise ValueError("a code is 1-32 letters, digits, '_' or '-'")
        return value

    @field_validator("name", "address")
    @classmethod
    def _text(cls, value: str) -> str:
        if "\x00" in value:
            raise ValueError("must not contain NUL characters")
        return value

    @field_validator("crs")
    @classmethod
    def _crs(cls, value: str) -> str:
        try:
            return crsmod.parse_crs(value)
        except crsmod.UnknownCRSError as exc:
            raise ValueError(str(exc)) from None


@dataclass(frozen=True)
class FrontageUnit:
    """A registered unit, with the latest result of each item checked."""

    code: str
    name: str
    address: str
    community_code: str
    lon: float
    lat: float
    active: bool
    last_checks: list[dict[str, Any]]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return asdict(self)


_UPSERT = sa.text("""
INSERT INTO frontage_unit (code, name, address, community_code, lon_in, lat_in, crs_in, geom)
VALUES (:code, :name, :address, :community, :lon_in, :lat_in, :crs_in,
        ST_SetSRID(ST_MakePoint(:x, :y), 4326))
ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name, address = EXCLUDED.address,
    community_code = EXCLUDED.community_code, lon_in = EXCLUDED.lon_in,
    lat_in = EXCLUDED.lat_in, crs_in = EXCLUDED.crs_in, geom = EXCLUDED.geom, active = true
""")

_UNITS = sa.text("""
SELECT u.code, u.name, u.address, u.community_code, ST_X(u.geom) AS lon, ST_Y(u.geom) AS lat,
       u.active,
       coalesce((
           SELECT json_agg(json_build_object('item', l.item, 'passed', l.passed,
                                             'checked_at', l.checked_at, 'patrol_id', l.patrol_id,
                                             'note', l.note) ORDER BY l.item)
           FROM (SELECT DISTINCT ON (fc.item) fc.item, fc.passed, fc.checked_at, fc.patrol_id,
                        fc.note
                 FROM frontage_check fc WHERE fc.frontage_code = u.code
                 ORDER BY fc.item, fc.checked_at DESC, fc.id DESC) l
       ), '[]'::json) AS last_checks
FROM frontage_unit u
WHERE (CAST(:code AS text) IS NULL OR u.code = CAST(:code AS text))
  AND (CAST(:community AS text) IS NULL OR u.community_code = CAST(:community AS text))
  AND (CAST(:everywhere AS boolean) OR u.community_code = ANY(CAST(:communities AS text[])))
ORDER BY u.community_code, u.code
""")


def _unit(row: Any) -> FrontageUnit:
    checks = [
        {
            **c,
            "label": FRONTAGE_ITEMS.get(c["item"], c["item"]),
            "checked_at": iso(datetime.fromisoformat(c["checked_at"])),
        }
        for c in (row.last_checks or [])
    ]
    return FrontageUnit(
        code=row.code,
        name=row.name,
        address=row.address,
        community_code=row.community_code,
        lon=round(float(row.lon), 7),
        lat=round(float(row.lat), 7),
        active=row.active,
        last_checks=checks,
    )


def register_frontage(
    engine: Engine,
    unit: FrontageUnitIn,
    *,
    principal: Principal | None = None,
    settings: Settings | None = None,
) -> FrontageUnit:
    """Register (or update) a frontage unit; its community is where the point lies.

    InvalidInput when the point is not a place on Earth or lies in no
    community of the current layout; Forbidden when that community is
    outside the principal's scope.
    """
    settings = settings or get_settings()
    with engine.begin() as conn:
        try:
            where = locate(conn, unit.lon, unit.lat, unit.crs, settings)
        except InvalidLocation as exc:
            raise InvalidInput(str(exc), field="lon,lat") from None
        if where.community is None or where.method not in ("contained", "snapped"):
            raise InvalidInput(
                f"lon {unit.lon:g}, lat {unit.lat:g} ({unit.crs}) lies in no community of the "
                "district; check the point and its CRS",
                field="lon,lat",
            )
        if principal is not None and not principal.scope.covers(where.community):
            raise Forbidden(
                f"a {principal.role} may not register units in community {where.community}"
            )
        conn.execute(
            _UPSERT,
            {
                "code": unit.code,
                "name": unit.name,
                "address": unit.address,
                "community": where.community,
                "lon_in": unit.lon,
                "lat_in": unit.lat,
                "crs_in": unit.crs,
                "x": where.lon,
                "y": where.lat,
            },
        )
        row = conn.execute(_UNITS, _filter(None, unit.code, None)).one()
    return _unit(row)


def _filter(principal: Principal | None, code: str | None, community: str | None) -> dict[str, Any]:
    scope = principal.scope if principal is not None else None
    return {
        "code": code,
        "community": community,
        "everywhere": scope is None or scope.everywhere,
        "communities": sorted(scope.communities) if scope is not None else [],
    }


def list_frontage(
    engine: Engine, community_code: str | None = None, *, principal: Principal | None = None
) -> list[FrontageUnit]:
    """The units of a community (or all), within the principal's scope, each
    with the latest result of every item checked on patrols."""
    if community_code is not None and "\x00" in community_code:
        return []
    if (
        community_code is not None
        and principal is not None
        and not principal.scope.covers(community_code)
    ):
        raise Forbidden(
            f"a {principal.role} may not see the frontage units of community {community_code}: "
            "it is outside this account's communities"
        )
    with engine.connect() as conn:
        rows = conn.execute(_UNITS, _filter(principal, None, community_code)).all()
    return [_unit(r) for r in rows]
