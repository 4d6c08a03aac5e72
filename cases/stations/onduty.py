"""Who is on duty at a station, and who takes a complaint there: the rule, once.

Everything that asks "who is on duty" or "which officer gets this case" comes
here: intake's single path and bulk loads (cases.intake, rule 4 of
cases.intake.rules), a case moved back down to an officer
(cases.lifecycle.transitions), the dispatcher's list (cases.stations.duty),
the case views and the operations map (cases.mapdata.operations).

- A shift's state at a moment (a live shift covering it; see
  cases.stations.duty for check-ins): `present` when its last counted check
  up to the moment is a check-in, `left` when it is a check-out, `planned`
  before any check. Present or planned is *on duty*. A holiday has no shifts,
  so nobody is on duty then.
- The duty order of a station at a moment (`duty_order`): the officers on
  duty there, present before planned (whatever station they belong to), then
  the rest of the station's officers (active, role officer; `left` or
  `off`); within each group the fewest open cases first (cases in a state
  whose clock runs: dispatched, in_progress, rework), then the code.
- The officer who takes each of a set of complaints (`pick_officers`: one
  statement over arrays of stations and moments of dispatch):
  1. a complaint at a moment some shift of its station covers goes to the
     first officer on duty in the duty order (present before planned, fewest
     open cases, code);
  2. the others, at moments when nobody is on duty there (most of them: a
     shift is half a day per officer per week), go to the station's officers
     in turn: the k-th such complaint of a station (k = 1, 2, ... in the
     order given, i.e. by moment in a file) goes to officer (k - 1) mod m of
     the station's m officers ordered by their open cases when the statement
     starts, then code. One complaint alone thus goes to the officer with the
     fewest open cases (the lowest code among equals), and a file's
     complaints are spread over the station as the single path, taking them
     one at a time, spreads them over officers who start even.
  A station without officers gives null (the case is dispatched to the
  station without a named officer).

The statements are built from the fragments below: one for the states of the
shifts covering a moment, one for the open cases of an officer; the callers
run `pick_officers`, `duty_order`, `station_roll`, or embed `roll_sql` and
`shift_states_sql` in a statement of their own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from cases.lifecycle.states import CLOCK_STATES
from gis.prepared import execute_prepared

__all__ = [
    "ON_DUTY_STATES",
    "DutyRow",
    "duty_order",
    "open_cases_sql",
    "pick_officers",
    "pick_officers_from",
    "roll_sql",
    "shift_states_sql",
    "station_roll",
]

ON_DUTY_STATES: Final = ("present", "planned")
"""Shift states that count as on duty."""

_OPEN: Final = ", ".join(f"'{s}'" for s in CLOCK_STATES)


def open_cases_sql(code: str) -> str:
    """SQL: the open cases (clock running) held by the officer whose code is `code`
    (an SQL expression). Served by the partial index case_open_officer_idx."""
    return (
        f"(SELECT count(*) FROM case_file f"
        f" WHERE f.status IN ({_OPEN}) AND f.officer_code = {code})"
    )


_STATE: Final = "CASE last.kind WHEN 'in' THEN 'present' WHEN 'out' THEN 'left' ELSE 'planned' END"
"""A shift's state from its last counted check up to the moment (`last`: see _LAST_CHECK)."""


def _last_check(shift_id: str, at: str) -> str:
    """SQL: the lateral row `last` (kind) of a shift's last counted check up to `at`."""
    return f"""LEFT JOIN LATERAL (
        SELECT c.kind FROM duty_check c
        WHERE c.shift_id = {shift_id} AND c.counts AND c.at <= {at}
        ORDER BY c.at DESC, c.id DESC LIMIT 1
    ) last ON true"""


def shift_states_sql(at: str, station: str | None = None) -> str:
    """SQL rows (code, station_code, shift_id, lo, hi, state) of the live shifts covering
    the moment `at` (an SQL expression), of active officers, at the station `station`
    (an SQL expression; None: every station). `state`: present | planned | left."""
    where = f"s.station_code = {station} AND " if station is not None else ""
    return f"""
    SELECT s.officer_code AS code, s.station_code, s.id AS shift_id,
           lower(s.during) AS lo, upper(s.during) AS hi, {_STATE} AS state
    FROM duty_shift s
    JOIN officer so ON so.code = s.officer_code AND so.active
    {_last_check("s.id", at)}
    WHERE {where}s.cancelled_at IS NULL AND s.during @> {at}"""


def roll_sql(station: str, at: str) -> str:
    """SQL rows (code, state, shift_id, lo, hi) of who is at a station at a moment: the
    officers on duty there (present or planned), and the station's other officers
    (active, role officer: `left` their shift or `off`). Unordered."""
    return f"""
    SELECT coalesce(sh.code, po.code) AS code, coalesce(sh.state, 'off') AS state,
           sh.shift_id, sh.lo, sh.hi
    FROM ({shift_states_sql(at, station)}) sh
    FULL JOIN (
        SELECT o.code FROM officer o
        WHERE o.station_code = {station} AND o.active AND o.role = 'officer'
    ) po ON po.code = sh.code
    WHERE sh.state IN ('present', 'planned') OR po.code IS NOT NULL"""


_ARRAYS: Final = """
SELECT r.n, r.station, r.at
FROM unnest(CAST(:stations AS text[]), CAST(:moments AS timestamptz[]))
    WITH ORDINALITY AS r(station, at, n)"""


def _pick_sql(requests: str) -> str:
    """The choice of rules 1-2 (module docs) for the rows (n, station, at) of `requests`.

    Set-based for a file of a million rows: the live shifts at the requests' stations
    within their time span are expanded to the hours they touch (a shift is at most
    24 hours) and met with the requests by (station, hour) in one hash join, instead
    of one index probe per request; the open cases are counted once per officer
    concerned (`load`); the turns are one window over the requests.
    """
    return f"""
WITH req AS ({requests}),
shifts AS MATERIALIZED (
    SELECT s.id, s.officer_code, s.station_code, s.during,
           generate_series(date_trunc('hour', lower(s.during)), upper(s.during),
                           interval '1 hour') AS hour
    FROM duty_shift s
    JOIN officer so ON so.code = s.officer_code AND so.active
    WHERE s.cancelled_at IS NULL
      AND s.station_code IN (SELECT DISTINCT station FROM req)
      AND s.during && (SELECT tstzrange(min(at), max(at), '[]') FROM req)
),
cover AS (
    SELECT req.n, sh.officer_code AS code, {_STATE} AS state
    FROM req
    JOIN shifts sh ON sh.station_code = req.station AND sh.hour = date_trunc('hour', req.at)
                  AND sh.during @> req.at
    {_last_check("sh.id", "req.at")}
),
load AS MATERIALIZED (
    SELECT o.code, o.station_code, o.role, {open_cases_sql("o.code")} AS open_cases
    FROM officer o
    WHERE o.active AND (o.station_code IN (SELECT DISTINCT station FROM req)
                        OR o.code IN (SELECT DISTINCT code FROM cover))
),
best AS (
    SELECT DISTINCT ON (c.n) c.n, c.code
    FROM cover c JOIN load l ON l.code = c.code
    WHERE c.state IN ('present', 'planned')
    ORDER BY c.n, c.state = 'planned', l.open_cases, c.code
),
pool AS (
    SELECT l.station_code AS station, l.code,
           row_number() OVER (PARTITION BY l.station_code ORDER BY l.open_cases, l.code) - 1 AS k,
           count(*) OVER (PARTITION BY l.station_code) AS m
    FROM load l
    WHERE l.role = 'officer' AND l.station_code IN (SELECT DISTINCT station FROM req)
),
turn AS (
    SELECT req.n, req.station,
           row_number() OVER (PARTITION BY req.station ORDER BY req.n) - 1 AS t
    FROM req LEFT JOIN best b ON b.n = req.n
    WHERE b.n IS NULL AND req.station IS NOT NULL
)
SELECT req.n, coalesce(b.code, p.code) AS code
FROM req
LEFT JOIN best b ON b.n = req.n
LEFT JOIN turn t ON t.n = req.n
LEFT JOIN pool p ON p.station = t.station AND p.k = mod(t.t, p.m)"""


_PICK: Final = sa.text(_pick_sql(_ARRAYS))


def pick_officers(
    conn: Connection, stations: Sequence[str | None], moments: Sequence[datetime]
) -> list[str | None]:
    """The officer who takes each complaint (station, moment of dispatch: aware), by the
    module's rule, in one statement; None where the station is None or has nobody."""
    if len(stations) != len(moments):
        raise ValueError("one moment per station")
    if not stations:
        return []
    params = {"stations": list(stations), "moments": list(moments)}
    rows = execute_prepared(conn, _PICK, params).all()  # the single path: planned once
    out: list[str | None] = [None] * len(stations)
    for r in rows:
        out[r.n - 1] = r.code
    return out


def pick_officers_from(table: str) -> str:
    """The statement of `pick_officers` over the rows (n, station, at) of `table` (a
    trusted name: a bulk load's staging table), giving (n, code) in no order."""
    if not table.replace("_", "").isalnum():
        raise ValueError(f"not a table name: {table!r}")
    return _pick_sql(f"SELECT n, station, at FROM {table}")


@dataclass(frozen=True)
class DutyRow:
    """One officer in a station's duty order at a moment."""

    code: str
    role: str
    name_hex: str | None
    state: str  # present | planned | left | off
    shift_id: int | None
    lo: datetime | None
    hi: datetime | None
    open_cases: int

    @property
    def on_duty(self) -> bool:
        """Present or planned."""
        return self.state in ON_DUTY_STATES


_ORDER: Final = sa.text(f"""
SELECT d.code, o.role, encode(o.name_enc, 'hex') AS name_hex, d.state, d.shift_id, d.lo, d.hi,
       {open_cases_sql("d.code")} AS open_cases
FROM ({roll_sql("CAST(:station AS text)", "CAST(:at AS timestamptz)")}) d
JOIN officer o ON o.code = d.code
ORDER BY CASE d.state WHEN 'present' THEN 0 WHEN 'planned' THEN 1 ELSE 2 END,
         open_cases, d.code
""")


def duty_order(conn: Connection, station: str, at: datetime) -> list[DutyRow]:
    """The duty order of `station` at `at` (module docs): on duty first, present before
    planned, fewest open cases, code. Its first officer is `pick_officers`' choice for
    one complaint there and then (tested)."""
    rows = conn.execute(_ORDER, {"station": station, "at": at}).mappings()
    return [DutyRow(**dict(r)) for r in rows]


_ROLL: Final = sa.text(f"""
SELECT d.code, o.role, encode(o.name_enc, 'hex') AS name_hex,
       d.state IN ('present', 'planned') AS on_duty
FROM ({roll_sql("CAST(:station AS text)", "CAST(:at AS timestamptz)")}) d
JOIN officer o ON o.code = d.code
ORDER BY d.state NOT IN ('present', 'planned'), d.code
""")


def station_roll(conn: Connection, station: str | None, at: datetime) -> list[dict[str, Any]]:
    """Who is at a station at `at`, for a case's view: {code, role, name_hex, on_duty},
    those on duty first, then by code (no open-case counts: a view of a case reads the
    same before and after the case is written)."""
    if station is None:
        return []
    rows = execute_prepared(conn, _ROLL, {"station": station, "at": at}).mappings()
    return [dict(r) for r in rows]
