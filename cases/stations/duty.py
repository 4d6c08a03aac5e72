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
  `on_duty_officers` gives that order; intake takes the first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from cases.access import Principal
from cases.errors import Conflict, InvalidInput, NotFound
from cases.stations.places import check_place, check_self, station_place, station_places
from cases.stations.weeks import LOCAL_TZ, Week
from gis import crs as crsmod
from gis.geofence import station_fence
from gis.locate import InvalidLocation
from gis.privacy import decrypt, mask_name
from gis.settings import Settings, get_settings

MAX_SHIFT = timedelta(hours=24)
MAX_SHIFTS_PER_PLAN = 500
FUTURE_SLACK = timedelta(minutes=5)
"""A check time this far ahead of our clock is accepted (phones' clocks drift)."""
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
EXCLUSION_VIOLATION = "23P01"


def _clean(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


def _aware(value: datetime, what: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} needs a time-zone offset, e.g. 2019-03-04T08:30:00+08:00")
    if value < EARLIEST:
        raise ValueError(f"{what} is before 2000")
    return value


def iso(value: datetime | None) -> str | None:
    """A time as ISO 8601 in Asia/Shanghai (None stays None)."""
    return None if value is None else value.astimezone(LOCAL_TZ).isoformat()


# ------------------------------------------------------------------ input


class ShiftIn(BaseModel):
    """One planned shift as sent: who, where, from when to when."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    officer_code: str = Field(min_length=1, max_length=16)
    station_code: str = Field(min_length=1, max_length=16)
    start: datetime = Field(description="ISO 8601 with a time-zone offset")
    end: datetime = Field(description="ISO 8601 with a time-zone offset; after start")
    note: str = Field(default="", max_length=500)

    @field_validator("officer_code", "station_code", "note")
    @classmethod
    def _text(cls, value: str) -> str:
        return _clean(value)

    @field_validator("start", "end")
    @classmethod
    def _times(cls, value: datetime) -> datetime:
        return _aware(value, "the time")

    @model_validator(mode="after")
    def _range(self) -> ShiftIn:
        if self.end <= self.start:
            raise ValueError("end must come after start")
        if self.end - self.start > MAX_SHIFT:
            raise ValueError("a shift lasts at most 24 hours; plan longer duty as several shifts")
        return self


class ShiftPlan(BaseModel):
    """Shifts planned together (a station's week, say): all or none are kept."""

    model_config = ConfigDict(extra="forbid")

    shifts: list[ShiftIn] = Field(min_length=1, max_length=MAX_SHIFTS_PER_PLAN)


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
            return crsmod.parse_crs(_clean(value))
        except crsmod.UnknownCRSError as exc:
            raise ValueError(str(exc)) from None

    @field_validator("at")
    @classmethod
    def _at(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        _aware(value, "at")
        if value > datetime.now(UTC) + FUTURE_SLACK:
            raise ValueError("at is in the future")
        return value

    @model_validator(mode="after")
    def _pair(self) -> CheckIn:
        if (self.lon is None) != (self.lat is None):
            raise ValueError("lon and lat go together: send both")
        return self


# ------------------------------------------------------------------ views


@dataclass(frozen=True)
class Shift:
    """A shift as shown: times ISO 8601 in Asia/Shanghai."""

    id: int
    officer_code: str
    station_code: str
    start: str
    end: str
    hours: float
    note: str
    cancelled: bool

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return asdict(self)


def _shift(row: Any) -> Shift:
    return Shift(
        id=int(row.id),
        officer_code=row.officer_code,
        station_code=row.station_code,
        start=iso(row.lo) or "",
        end=iso(row.hi) or "",
        hours=round((row.hi - row.lo).total_seconds() / 3600, 2),
        note=row.note,
        cancelled=row.cancelled_at is not None,
    )


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


# ------------------------------------------------------------------ planning

_SHIFT_COLUMNS = (
    "id, officer_code, station_code, lower(during) AS lo, upper(during) AS hi, note, cancelled_at"
)
_NEW = """
unnest(CAST(:officers AS text[]), CAST(:stations AS text[]), CAST(:los AS timestamptz[]),
       CAST(:his AS timestamptz[]), CAST(:notes AS text[]))
    WITH ORDINALITY AS n(officer_code, station_code, lo, hi, note, i)
"""
_INSERT_SHIFTS = sa.text(f"""
INSERT INTO duty_shift (officer_code, station_code, during, note, created_by)
SELECT n.officer_code, n.station_code, tstzrange(n.lo, n.hi, '[)'), n.note, :actor
FROM {_NEW}
ORDER BY n.i
RETURNING {_SHIFT_COLUMNS}
""")
_CLASH = sa.text(f"""
WITH n AS (SELECT * FROM {_NEW})
SELECT n.i, s.id AS other_id, NULL::bigint AS other_i, s.station_code,
       lower(s.during) AS lo, upper(s.during) AS hi
FROM n JOIN duty_shift s
  ON s.officer_code = n.officer_code AND s.cancelled_at IS NULL
 AND s.during && tstzrange(n.lo, n.hi, '[)')
UNION ALL
SELECT b.i, NULL, a.i, a.station_code, a.lo, a.hi
FROM n a JOIN n b
  ON a.officer_code = b.officer_code AND a.i < b.i
 AND tstzrange(a.lo, a.hi, '[)') && tstzrange(b.lo, b.hi, '[)')
ORDER BY 1, 2 NULLS LAST
LIMIT 1
""")
_OFFICERS = sa.text("SELECT code, active FROM officer WHERE code = ANY(CAST(:codes AS text[]))")


def _plan_params(shifts: Sequence[ShiftIn]) -> dict[str, Any]:
    return {
        "officers": [s.officer_code for s in shifts],
        "stations": [s.station_code for s in shifts],
        "los": [s.start for s in shifts],
        "his": [s.end for s in shifts],
        "notes": [s.note for s in shifts],
    }


def _clash(conn: Connection, shifts: Sequence[ShiftIn], params: dict[str, Any]) -> Conflict:
    row = conn.execute(_CLASH, params).first()
    if row is None:  # the clashing shift was planned at the same moment by someone else
        return Conflict("another shift of the same officer was planned at the same time; retry")
    i = int(row.i) - 1
    mine = shifts[i]
    when = f"{iso(row.lo)} to {iso(row.hi)}"
    if row.other_id is not None:
        what = f"shift {row.other_id} at station {row.station_code}, {when}"
    else:
        what = f"shifts[{int(row.other_i) - 1}] of this request, at {row.station_code}, {when}"
    return Conflict(
        f"officer {mine.officer_code} already has {what}; shifts of one officer may not overlap",
        field=f"shifts[{i}]",
    )


def plan_shifts(
    engine: Engine, shifts: Sequence[ShiftIn], *, principal: Principal | None = None
) -> list[Shift]:
    """Keep planned shifts, all or none, in one statement; returns them.

    NotFound for an unknown station or officer, InvalidInput for an officer
    switched off, Forbidden for a station outside the principal's scope, and
    Conflict naming the clashing shift when one officer's shifts would overlap
    (refused by the database's exclusion constraint).
    """
    if not shifts:
        return []
    actor = principal.username if principal else "cli"
    params = _plan_params(shifts)
    with engine.begin() as conn:
        places = station_places(conn, params["stations"])
        officers = {
            r.code: r.active for r in conn.execute(_OFFICERS, {"codes": params["officers"]})
        }
        for i, s in enumerate(shifts):
            if s.station_code not in places:
                raise NotFound(f"no station {s.station_code!r}", field=f"shifts[{i}].station_code")
            if s.officer_code not in officers:
                raise NotFound(f"no officer {s.officer_code!r}", field=f"shifts[{i}].officer_code")
            if not officers[s.officer_code]:
                raise InvalidInput(
                    f"officer {s.officer_code} is switched off", field=f"shifts[{i}].officer_code"
                )
            check_place(principal, places[s.station_code], "plan shifts")
        try:
            with conn.begin_nested():
                rows = conn.execute(_INSERT_SHIFTS, {**params, "actor": actor}).all()
        except IntegrityError as exc:
            if getattr(exc.orig, "pgcode", None) != EXCLUSION_VIOLATION:
                raise
            raise _clash(conn, shifts, params) from None
    return sorted((_shift(r) for r in rows), key=lambda s: s.id)


_SHIFT = sa.text(f"SELECT {_SHIFT_COLUMNS} FROM duty_shift WHERE id = :id")
_CANCEL = sa.text(f"""
UPDATE duty_shift SET cancelled_at = now()
WHERE id = :id AND cancelled_at IS NULL
  AND NOT EXISTS (SELECT 1 FROM duty_check c WHERE c.shift_id = :id)
RETURNING {_SHIFT_COLUMNS}
""")


def _load_shift(conn: Connection, shift_id: int) -> Any:
    row = conn.execute(_SHIFT, {"id": shift_id}).first()
    if row is None:
        raise NotFound(f"no shift {shift_id}", field="shift_id")
    return row


def cancel_shift(engine: Engine, shift_id: int, *, principal: Principal | None = None) -> Shift:
    """Cancel a planned shift (kept, marked). Conflict when it was cancelled
    already or has checks (a worked shift stays)."""
    with engine.begin() as conn:
        row = _load_shift(conn, shift_id)
        check_place(principal, station_place(conn, row.station_code), "cancel shifts")
        done = conn.execute(_CANCEL, {"id": shift_id}).first()
    if done is None:
        why = "was cancelled already" if row.cancelled_at else "has check-ins or check-outs"
        raise Conflict(f"shift {shift_id} {why}; it stays as it is", field="shift_id")
    return _shift(done)


_WEEK_SHIFTS = sa.text(f"""
SELECT {_SHIFT_COLUMNS} FROM duty_shift
WHERE station_code = :station AND during && tstzrange(:lo, :hi, '[)')
ORDER BY lower(during), officer_code
""")


def list_shifts(
    engine: Engine, station_code: str, week: Week, *, principal: Principal | None = None
) -> list[Shift]:
    """A station's shifts that touch `week` (the rota), cancelled ones marked."""
    with engine.connect() as conn:
        place = station_place(conn, station_code, "station")
        check_place(principal, place, "see the rota")
        rows = conn.execute(
            _WEEK_SHIFTS, {"station": station_code, "lo": week.start, "hi": week.end}
        ).all()
    return [_shift(r) for r in rows]


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
        shift = _load_shift(conn, shift_id)
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


# ------------------------------------------------------------------ on duty now

_DUTY_NOW = sa.text("""
WITH cur AS (
    SELECT s.id, s.officer_code, lower(s.during) AS lo, upper(s.during) AS hi,
           (SELECT c.kind FROM duty_check c
            WHERE c.shift_id = s.id AND c.counts AND c.at <= CAST(:at AS timestamptz)
            ORDER BY c.at DESC, c.id DESC LIMIT 1) AS last_kind
    FROM duty_shift s
    WHERE s.station_code = :station AND s.cancelled_at IS NULL
      AND s.during @> CAST(:at AS timestamptz)
),
cand AS (
    SELECT cur.officer_code AS code, cur.id AS shift_id, cur.lo, cur.hi,
           CASE cur.last_kind WHEN 'in' THEN 'present' WHEN 'out' THEN 'left'
                ELSE 'planned' END AS state
    FROM cur
    UNION ALL
    SELECT o.code, NULL, NULL, NULL, 'off'
    FROM officer o
    WHERE o.station_code = :station AND o.active AND o.role = 'officer'
      AND NOT EXISTS (SELECT 1 FROM cur WHERE cur.officer_code = o.code)
)
SELECT cand.code, cand.shift_id, cand.lo, cand.hi, cand.state,
       encode(o.name_enc, 'hex') AS name_hex,
       (SELECT count(*) FROM case_file f
        WHERE f.status = 'open' AND f.officer_code = cand.code) AS open_cases
FROM cand JOIN officer o ON o.code = cand.code AND o.active
ORDER BY CASE cand.state WHEN 'present' THEN 0 WHEN 'planned' THEN 1 ELSE 2 END,
         open_cases, cand.code
""")


def _duty_rows(conn: Connection, station_code: str, at: datetime) -> list[Any]:
    return list(conn.execute(_DUTY_NOW, {"station": station_code, "at": at}))


def on_duty_officers(conn: Connection, station_code: str, at: datetime) -> list[str]:
    """The station's officers in dispatch order at `at` (see the module's rules):
    present, then planned, then the rest; fewest open cases first in each.
    Intake takes the first; an empty list means the station has nobody."""
    return [r.code for r in _duty_rows(conn, station_code, at)]


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
    if at.tzinfo is None:
        raise InvalidInput("at needs a time-zone offset", field="at")
    with engine.connect() as conn:
        place = station_place(conn, station_code, "station")
        check_place(principal, place, "see who is on duty")
        rows = _duty_rows(conn, station_code, at)
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
