"""Duty shifts (值守): the rota, check-ins and check-outs, and who is on duty now.

Rules, in one place:

- A shift is one officer at one station for a half-open time range
  `[start, end)`, at most 24 hours. The database refuses two live shifts of one
  officer that overlap (exclusion constraint `duty_shift_no_overlap`, also
  across stations); planning answers Conflict naming the clashing shift. A
  cancelled shift no longer blocks; a shift that was checked in cannot be
  cancelled (it was worked). Holidays need no rule of their own: no shift is
  planned on them.
- A check-in or check-out carries a location (lon, lat and its CRS, converted
  to WGS84 once, in gis.geofence). A check-in *counts* when it lies in the
  station's community (its polygon in the current layout, boundary included)
  or within `duty_checkin_radius_m` (default 200 m, geodesic, compared at
  centimetre precision) of the station. Otherwise it is kept, flagged
  `outside` with its distance, and does not count. A check-out with a
  location always ends the time on duty (leaving is leaving) and is flagged
  `outside` the same way when far, for the leader to see. A check without a
  location is kept too (flag `no_location`, not counted) and answered with an
  InvalidInput that gives its id: nothing an officer sends is lost.
- Present on a shift: from a counted check-in to the next check-out
  (see cases.stations.compliance for the hours).
- On duty now at a station, in this order:
  1. `present`: a shift covering the moment and checked in (not out since);
  2. `planned`: a shift covering the moment and no check yet: the officer is
     expected there, and a check-in may lag behind arrival;
  3. the rest: officers of the station (active, role officer) without such a
     shift, and those who checked out of theirs (`left`).
  Within each group the officer holding the fewest open cases comes first
  (the fair rule: work goes to whoever has least of it), then by code.
  `on_duty_officers` gives that order. The rule, and intake's choice of an
  officer from it (one complaint or a file's), is written once, in SQL, in
  cases.stations.onduty.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import Connection, Engine

from cases.access import Principal
from cases.errors import InvalidInput
from cases.stations.checks import CheckIn, CheckResult, record_check
from cases.stations.onduty import duty_order
from cases.stations.places import check_place, station_place
from cases.stations.shifts import (
    Shift,
    ShiftIn,
    ShiftPlan,
    aware,
    cancel_shift,
    iso,
    list_shifts,
    plan_shifts,
)
from gis.privacy import decrypt, mask_name
from gis.settings import Settings, get_settings

__all__ = [
    "CheckIn",
    "CheckResult",
    "DutyNow",
    "DutyOfficer",
    "Shift",
    "ShiftIn",
    "ShiftPlan",
    "cancel_shift",
    "duty_now",
    "iso",
    "list_shifts",
    "on_duty_officers",
    "plan_shifts",
    "record_check",
]


@dataclass(frozen=True)
class DutyOfficer:
    """One officer in the on-duty order of a station."""

    code: str
    name: str | None
    state: str  # present | planned | left | off
    shift_id: int | None
    shift_start: str | None
    shift_end: str | None
    open_cases: int

    @property
    def on_duty(self) -> bool:
        """Present or planned now."""
        return self.state in ("present", "planned")

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, with `on_duty`."""
        return {**asdict(self), "on_duty": self.on_duty}


@dataclass(frozen=True)
class DutyNow:
    """Who is on duty at a station at a moment, in dispatch order."""

    station_code: str
    station_name: str
    at: str
    officers: list[DutyOfficer]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "station_code": self.station_code,
            "station_name": self.station_name,
            "at": self.at,
            "officers": [o.as_dict() for o in self.officers],
        }


# ------------------------------------------------------------------ on duty now


def on_duty_officers(conn: Connection, station_code: str, at: datetime) -> list[str]:
    """The station's officers in dispatch order at `at` (cases.stations.onduty):
    present, then planned, then the rest; fewest open cases first in each.
    Intake's choice for one complaint is the first; an empty list means the
    station has nobody."""
    return [r.code for r in duty_order(conn, station_code, at)]


def duty_now(
    engine: Engine,
    station_code: str,
    at: datetime | None = None,
    *,
    principal: Principal | None = None,
    settings: Settings | None = None,
) -> DutyNow:
    """Who is on duty at a station at `at` (default now), for the dispatcher:
    each officer's state, shift and open cases, names masked."""
    settings = settings or get_settings()
    at = at or datetime.now(UTC)
    try:
        aware(at, "at")
    except ValueError as exc:
        raise InvalidInput(str(exc), field="at") from None
    with engine.connect() as conn:
        place = station_place(conn, station_code, "station")
        check_place(principal, place, "see who is on duty")
        rows = duty_order(conn, station_code, at)
    officers = [
        DutyOfficer(
            code=r.code,
            name=mask_name(decrypt(bytes.fromhex(r.name_hex), settings)) if r.name_hex else None,
            state=r.state,
            shift_id=r.shift_id,
            shift_start=iso(r.lo),
            shift_end=iso(r.hi),
            open_cases=int(r.open_cases),
        )
        for r in rows
    ]
    return DutyNow(place.code, place.name, iso(at) or "", officers)
