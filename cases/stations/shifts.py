"""Shifts (值守): planning the rota, cancelling, listing a station's week.

The rules of duty are written once, in cases.stations.duty's docstring. Here:
a shift is `[start, end)` of one officer at one station, at most 24 hours; the
database's exclusion constraint refuses overlapping live shifts of one officer,
and planning turns that into a Conflict naming the shift in the way.
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
from cases.stations.places import check_place, station_place, station_places
from cases.stations.weeks import LOCAL_TZ, Week

MAX_SHIFT = timedelta(hours=24)
MAX_SHIFTS_PER_PLAN = 500
FUTURE_SLACK = timedelta(minutes=5)
"""A check time this far ahead of our clock is accepted (phones' clocks drift)."""
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
"""Times outside [EARLIEST, LATEST) are refused: none is a real duty time."""
EXCLUSION_VIOLATION = "23P01"


def clean_text(value: str) -> str:
    """Refuse text PostgreSQL cannot hold (NUL); pydantic validators call it."""
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


def aware(value: datetime, what: str) -> datetime:
    """Refuse a time without an offset, or outside 2000-2099 (ValueError, for validators)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} needs a time-zone offset, e.g. 2019-03-04T08:30:00+08:00")
    if not EARLIEST <= value < LATEST:
        raise ValueError(f"{what} must lie in 2000-2099")
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
        return clean_text(value)

    @field_validator("start", "end")
    @classmethod
    def _times(cls, value: datetime) -> datetime:
        return aware(value, "the time")

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


def load_shift(conn: Connection, shift_id: int) -> Any:
    """The shift row `shift_id` (NotFound naming `shift_id`)."""
    row = conn.execute(_SHIFT, {"id": shift_id}).first()
    if row is None:
        raise NotFound(f"no shift {shift_id}", field="shift_id")
    return row


def cancel_shift(engine: Engine, shift_id: int, *, principal: Principal | None = None) -> Shift:
    """Cancel a planned shift (kept, marked). Conflict when it was cancelled
    already or has checks (a worked shift stays)."""
    with engine.begin() as conn:
        row = load_shift(conn, shift_id)
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
