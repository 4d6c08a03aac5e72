"""Check-ins and check-outs on shifts, with their geofence verdict.

The rules are written once, in cases.stations.duty's docstring: a located
check-in counts inside the station's community or within the radius of the
station; far ones are kept and flagged with their distance; a check without a
location is kept and then refused (InvalidInput naming the record).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlalchemy.engine import Engine

from cases.access import Principal
from cases.errors import Conflict, InvalidInput
from cases.stations.places import check_place, check_self, station_place
from cases.stations.shifts import FUTURE_SLACK, aware, clean_text, iso, load_shift
from gis import crs as crsmod
from gis.geofence import station_fence
from gis.locate import InvalidLocation
from gis.settings import Settings, get_settings


class CheckIn(BaseModel):
    """A check-in or check-out as sent: where (lon, lat in crs) and when."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    lon: float | None = Field(default=None, allow_inf_nan=False, description="x in crs")
    lat: float | None = Field(default=None, allow_inf_nan=False, description="y in crs")
    crs: str = Field(default="wgs84", min_length=1, max_length=32)
    at: datetime | None = Field(default=None, description="when; default now")

    @field_validator("crs")
    @classmethod
    def _crs(cls, value: str) -> str:
        try:
            return crsmod.parse_crs(clean_text(value))
        except crsmod.UnknownCRSError as exc:
            raise ValueError(str(exc)) from None

    @field_validator("at")
    @classmethod
    def _at(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        aware(value, "at")
        if value > datetime.now(UTC) + FUTURE_SLACK:
            raise ValueError("at is in the future")
        return value

    @model_validator(mode="after")
    def _pair(self) -> CheckIn:
        if (self.lon is None) != (self.lat is None):
            raise ValueError("lon and lat go together: send both")
        return self


@dataclass(frozen=True)
class CheckResult:
    """A check as recorded: whether it counts, its flag and distance, and why."""

    id: int
    shift_id: int
    officer_code: str
    station_code: str
    kind: str
    at: str
    counts: bool
    flag: str
    distance_m: float | None
    radius_m: float
    in_community: bool | None
    lon: float | None
    lat: float | None
    message: str

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return asdict(self)


# ------------------------------------------------------------------ checks

_INSERT_CHECK = sa.text("""
INSERT INTO duty_check (shift_id, kind, at, lon_in, lat_in, crs_in, geom, distance_m,
                        in_community, counts, flag, recorded_by)
VALUES (:shift, :kind, :at, :lon_in, :lat_in, :crs_in,
        CASE WHEN CAST(:x AS float8) IS NULL THEN NULL
             ELSE ST_SetSRID(ST_MakePoint(:x, :y), 4326) END,
        :distance, :in_community, :counts, :flag, :actor)
RETURNING id
""")


def _verdict(kind: str, distance: float, in_community: bool, radius: float) -> tuple[bool, str]:
    """(counts, flag) of a located check: the geofence rule of this module."""
    near = in_community or round(distance, 2) <= radius
    return (near or kind == "out"), ("ok" if near else "outside")


def _message(kind: str, flag: str, counts: bool, distance: float | None, radius: float) -> str:
    word = "check-in" if kind == "in" else "check-out"
    if flag == "no_location":
        return f"a {word} needs a location (lon, lat and crs); it was recorded but does not count"
    if flag == "ok":
        return f"{word} recorded"
    effect = "does not count" if not counts else "still ends the time on duty"
    return (
        f"{word} recorded {distance:.2f} m from the station, outside the community and "
        f"beyond the {radius:g} m limit: flagged, and it {effect}"
    )


def record_check(
    engine: Engine,
    shift_id: int,
    kind: str,
    check: CheckIn,
    *,
    principal: Principal | None = None,
    settings: Settings | None = None,
) -> CheckResult:
    """Record a check-in (`kind` "in") or check-out ("out") on a shift.

    Always kept. A check far from the station is flagged with its distance
    (see the module's rules); one without a location is kept and then
    answered with InvalidInput naming the record. NotFound for no such
    shift, Conflict for a cancelled one, Forbidden for someone else's shift
    (officers) or a station outside the principal's scope.
    """
    if kind not in ("in", "out"):
        raise ValueError("kind is 'in' or 'out'")
    settings = settings or get_settings()
    radius = settings.duty_checkin_radius_m
    at = check.at or datetime.now(UTC)
    with engine.begin() as conn:
        shift = load_shift(conn, shift_id)
        check_place(principal, station_place(conn, shift.station_code), f"check {kind}")
        check_self(principal, shift.officer_code, f"check {kind}")
        if shift.cancelled_at is not None:
            raise Conflict(f"shift {shift_id} was cancelled; check in on a live shift")
        distance: float | None = None
        in_community: bool | None = None
        x = y = None
        if check.lon is None or check.lat is None:
            counts, flag = False, "no_location"
        else:
            try:
                fence = station_fence(conn, shift.station_code, check.lon, check.lat, check.crs)
            except InvalidLocation as exc:
                raise InvalidInput(str(exc), field="lon,lat") from None
            x, y = fence.lon, fence.lat
            distance, in_community = fence.distance_m, fence.in_community
            counts, flag = _verdict(kind, distance, in_community, radius)
        check_id = conn.execute(
            _INSERT_CHECK,
            {
                "shift": shift_id,
                "kind": kind,
                "at": at,
                "lon_in": check.lon,
                "lat_in": check.lat,
                "crs_in": check.crs if check.lon is not None else None,
                "x": x,
                "y": y,
                "distance": distance,
                "in_community": in_community,
                "counts": counts,
                "flag": flag,
                "actor": principal.username if principal else "cli",
            },
        ).scalar_one()
    message = _message(kind, flag, counts, distance, radius)
    if flag == "no_location":
        raise InvalidInput(f"{message} (check {check_id})", field="lon,lat")
    return CheckResult(
        id=int(check_id),
        shift_id=shift_id,
        officer_code=shift.officer_code,
        station_code=shift.station_code,
        kind=kind,
        at=iso(at) or "",
        counts=counts,
        flag=flag,
        distance_m=None if distance is None else round(distance, 2),
        radius_m=radius,
        in_community=in_community,
        lon=None if x is None else round(x, 7),
        lat=None if y is None else round(y, 7),
        message=message,
    )
