"""Sample duty: a GENERATED year of shifts, check-ins and patrols for the sample district.

Nothing here is a real shift or a real track. Every officer of the sample
(role officer, with a station) has a usual half day of the week
(`officer.duty_weekday`, `officer.duty_half`: 08:30-12:30 or 14:30-18:30,
Asia/Shanghai): the template this rota is generated from. Who is on duty, and
so who takes a complaint (cases.stations.onduty), comes from the shifts
written here, not from those columns. Each officer works that half day every
week of the window, so that the rule of at least half a day a week at one's
station (cases.stations.compliance) is met as a rule, with a few shortfalls:

- about 4 % of the officer-weeks the shift is planned but never checked in;
- about 3 % the officer checks out 100 minutes early;
- about 3 % the first check-in is sent from kilometres away (kept, flagged
  `outside`, not counted) and a counted one follows 25 minutes later;
- about 3 % the check-in is 40 minutes late;
- otherwise in a few minutes before the start, out a few minutes after the end.

About a fifth of the officer-weeks add the other half of the same day as a
second shift. About 60 % of the worked shifts carry a patrol: a track of
random points inside the station's community, clipped to it, walked in the
middle of the shift, with its grids and its coverage of the community.

Everything is written set-based: one INSERT ... SELECT for the shifts, one for
the checks, one for the patrols and their grids, in one transaction. The
rows are deterministic for a seed: each week draws from its own generator
(seed, Monday), so the same week always gives the same rows. Rows are marked
`created_by`/`recorded_by` = SOURCE; a shift is skipped when the officer has
any live shift overlapping it already, and checks and patrols are written only
for the shifts written by the same call, so a rerun adds nothing.

The window is the sample complaints' window (sample.complaints.window): the
twelve months up to yesterday (China Standard Time).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, Final

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from cases.stations.weeks import LOCAL_TZ
from gis.settings import Settings, get_settings
from sample.complaints import SEED, WINDOW_DAYS, today_cst, window

__all__ = ["SOURCE", "DutyLoad", "DutyPlan", "load_sample_duty", "plan_duty"]

SOURCE: Final = "sample"
HALVES: Final = {"am": (time(8, 30), time(12, 30)), "pm": (time(14, 30), time(18, 30))}
OTHER_HALF: Final = {"am": "pm", "pm": "am"}
# Shares of the officer-weeks (cumulative thresholds on one uniform draw).
ABSENT: Final = 0.04
EARLY: Final = 0.07
OUTSIDE: Final = 0.10
LATE: Final = 0.13
SECOND_SHIFT: Final = 0.20
PATROL: Final = 0.60
TRACK_POINTS: Final = 7


@dataclass
class DutyPlan:
    """The generated rows, as parallel lists (one entry per shift, check, patrol)."""

    officers: list[str]
    stations: list[str]
    los: list[datetime]
    his: list[datetime]
    # checks: index of their shift in the lists above, kind, time, metres and
    # bearing from the station where it was sent
    check_shift: list[int]
    check_kind: list[str]
    check_at: list[datetime]
    check_dist: list[float]
    check_az: list[float]
    # patrols: index of their shift, start, end, the seed of their track
    patrol_shift: list[int]
    patrol_lo: list[datetime]
    patrol_hi: list[datetime]
    patrol_seed: list[int]


@dataclass(frozen=True)
class DutyLoad:
    """What load_sample_duty wrote (all zero on a rerun)."""

    first: date | None
    last: date | None
    shifts: int
    checks: int
    flagged: int
    patrols: int
    patrol_grids: int

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "first": self.first.isoformat() if self.first else None,
            "last": self.last.isoformat() if self.last else None,
            "shifts": self.shifts,
            "checks": self.checks,
            "flagged": self.flagged,
            "patrols": self.patrols,
            "patrol_grids": self.patrol_grids,
        }


def _at(day: date, t: time) -> datetime:
    return datetime.combine(day, t, tzinfo=LOCAL_TZ)


def plan_duty(
    officers: list[tuple[str, str, int, str]], first: date, last: date, seed: int = SEED
) -> DutyPlan:
    """The shifts, checks and patrols of the days `first`..`last` for `officers`
    (code, station, weekday 0=Monday, half "am"/"pm"). Deterministic per week."""
    plan = DutyPlan([], [], [], [], [], [], [], [], [], [], [], [], [])
    n = len(officers)
    monday = first - timedelta(days=first.weekday())
    minutes = timedelta(minutes=1)

    def check(i: int, kind: str, at: datetime, dist: float, az: float) -> None:
        plan.check_shift.append(i)
        plan.check_kind.append(kind)
        plan.check_at.append(at)
        plan.check_dist.append(dist)
        plan.check_az.append(az)

    while monday <= last and n:
        rng = np.random.default_rng([seed, monday.toordinal()])
        u = rng.random((n, 8))
        for k, (code, station, weekday, half) in enumerate(officers):
            day = monday + timedelta(days=weekday)
            if not first <= day <= last:
                continue
            halves = [half] + ([OTHER_HALF[half]] if u[k, 1] < SECOND_SHIFT else [])
            for h_i, h in enumerate(halves):
                lo, hi = (_at(day, t) for t in HALVES[h])
                i = len(plan.officers)
                plan.officers.append(code)
                plan.stations.append(station)
                plan.los.append(lo)
                plan.his.append(hi)
                fate = u[k, 0] if h_i == 0 else 1.0  # shortfalls on the officer's own slot
                near = (float(5 + 110 * u[k, 2]), float(360 * u[k, 3]))
                if fate < ABSENT:
                    continue
                t_in = lo - (1 + 9 * u[k, 4]) * minutes
                t_out = hi + (1 + 14 * u[k, 5]) * minutes
                if fate < EARLY:
                    t_out = hi - 100 * minutes
                elif fate < OUTSIDE:
                    far = (float(4000 + 3000 * u[k, 2]), float(360 * u[k, 3]))
                    check(i, "in", t_in, *far)
                    t_in = lo + 25 * minutes
                elif fate < LATE:
                    t_in = lo + 40 * minutes
                check(i, "in", t_in, *near)
                check(i, "out", t_out, *near)
                if u[k, 6] < PATROL and fate >= OUTSIDE:
                    start = lo + (60 + 30 * u[k, 7]) * minutes
                    plan.patrol_shift.append(i)
                    plan.patrol_lo.append(start)
                    plan.patrol_hi.append(start + (60 + 40 * u[k, 6]) * minutes)
                    plan.patrol_seed.append(1 + int(u[k, 7] * 2_000_000_000))
        monday += timedelta(days=7)
    return plan


_OFFICERS = sa.text("""
SELECT code, station_code, duty_weekday, duty_half FROM officer
WHERE active AND role = 'officer' AND station_code IS NOT NULL
  AND duty_weekday IS NOT NULL AND duty_half IS NOT NULL
ORDER BY code
""")

_SHIFTS = sa.text("""
WITH n AS (
    SELECT * FROM unnest(CAST(:officers AS text[]), CAST(:stations AS text[]),
                         CAST(:los AS timestamptz[]), CAST(:his AS timestamptz[]))
        WITH ORDINALITY AS n(officer_code, station_code, lo, hi, i)
)
INSERT INTO duty_shift (officer_code, station_code, during, note, created_by)
SELECT n.officer_code, n.station_code, tstzrange(n.lo, n.hi, '[)'), '示例值守', :source
FROM n
WHERE NOT EXISTS (
    SELECT 1 FROM duty_shift s
    WHERE s.officer_code = n.officer_code AND s.cancelled_at IS NULL
      AND s.during && tstzrange(n.lo, n.hi, '[)')
)
ORDER BY n.i
RETURNING id, officer_code, lower(during) AS lo
""")

# The geofence verdict as cases.stations.checks._verdict states it: a check
# counts in the station's community or within the radius; a far check-out
# still counts (leaving is leaving) and is flagged.
_CHECKS = sa.text("""
WITH n AS (
    SELECT * FROM unnest(CAST(:shift_ids AS bigint[]), CAST(:kinds AS text[]),
                         CAST(:ats AS timestamptz[]), CAST(:dists AS float8[]),
                         CAST(:azs AS float8[])) AS n(shift_id, kind, at, dist, az)
),
gen AS (SELECT id FROM layout_generation WHERE is_current),
p AS (
    SELECT n.*, st.geom AS station_geom, st.community_code,
           ST_Project(st.geom::geography, n.dist, radians(n.az))::geometry AS geom
    FROM n JOIN duty_shift s ON s.id = n.shift_id JOIN station st ON st.code = s.station_code
),
f AS (
    SELECT p.*, ST_Distance(p.station_geom::geography, p.geom::geography) AS distance_m,
           EXISTS (SELECT 1 FROM community c, gen
                   WHERE c.generation_id = gen.id AND c.code = p.community_code
                     AND ST_Intersects(c.geom, p.geom)) AS in_community
    FROM p
),
v AS (
    SELECT f.*, (f.in_community OR round(CAST(f.distance_m AS numeric), 2) <= :radius) AS near
    FROM f
)
INSERT INTO duty_check (shift_id, kind, at, lon_in, lat_in, crs_in, geom, distance_m,
                        in_community, counts, flag, recorded_by)
SELECT shift_id, kind, at, ST_X(geom), ST_Y(geom), 'wgs84', geom, distance_m, in_community,
       near OR kind = 'out', CASE WHEN near THEN 'ok' ELSE 'outside' END, :source
FROM v
ORDER BY shift_id, at
RETURNING flag
""")

# Tracks: random points inside the station's community (ST_GeneratePoints with
# the patrol's seed), joined in their order, clipped to the community. Length,
# coverage and grids passed as gis.tracks measures them for a recorded patrol.
_PATROLS = sa.text("""
WITH n AS (
    SELECT * FROM unnest(CAST(:shift_ids AS bigint[]), CAST(:los AS timestamptz[]),
                         CAST(:his AS timestamptz[]), CAST(:seeds AS int[]))
        AS n(shift_id, lo, hi, seed)
),
gen AS (SELECT id FROM layout_generation WHERE is_current),
c AS (
    SELECT n.*, s.officer_code, s.station_code, st.community_code, cm.geom AS cgeom,
           gen.id AS generation_id
    FROM n JOIN duty_shift s ON s.id = n.shift_id JOIN station st ON st.code = s.station_code
    JOIN gen ON true
    JOIN community cm ON cm.generation_id = gen.id AND cm.code = st.community_code
),
t AS (
    SELECT c.*, ST_Multi(ST_CollectionExtract(ST_Intersection(
               ST_MakeLine(ARRAY(SELECT d.geom
                                 FROM ST_DumpPoints(ST_GeneratePoints(c.cgeom, :npts, c.seed)) d
                                 ORDER BY d.path)),
               c.cgeom), 2)) AS track
    FROM c
),
m AS (
    SELECT t.*, ST_Length(t.track::geography) AS length_m,
           ST_Area(t.cgeom::geography) AS community_m2,
           ST_Area(ST_Intersection(ST_Buffer(t.track::geography, :buffer)::geometry,
                                   t.cgeom)::geography) AS covered_m2
    FROM t WHERE NOT ST_IsEmpty(t.track)
),
ins AS (
    INSERT INTO patrol (officer_code, station_code, community_code, started_at, ended_at,
                        source_format, crs_in, points, track, length_m, generation_id,
                        buffer_m, covered_m2, community_m2, coverage, note, created_by)
    SELECT officer_code, station_code, community_code, lo, hi, 'geojson', 'wgs84',
           ST_NPoints(track), track, length_m, generation_id, :buffer, covered_m2,
           community_m2,
           CASE WHEN community_m2 > 0 THEN greatest(0, least(1, covered_m2 / community_m2))
                ELSE 0 END,
           '示例巡查', :source
    FROM m ORDER BY shift_id
    RETURNING id, track, generation_id
)
INSERT INTO patrol_grid (patrol_id, grid_code, community_code, length_m)
SELECT ins.id, g.code, g.community_code,
       coalesce(ST_Length(ST_CollectionExtract(ST_Intersection(g.geom, ins.track), 2)::geography),
                0)
FROM ins JOIN grid_cell g ON g.generation_id = ins.generation_id
 AND ST_Intersects(g.geom, ins.track)
RETURNING patrol_id
""")


def load_sample_duty(
    engine: Engine,
    *,
    today: date | None = None,
    days: int | None = None,
    seed: int = SEED,
    settings: Settings | None = None,
) -> DutyLoad:
    """Write the sample shifts, checks and patrols of the window (see the module
    docs) that are not there yet; returns the counts written. LookupError when
    no layout is loaded."""
    settings = settings or get_settings()
    span = window(today or today_cst(), None, WINDOW_DAYS if days is None else days)
    if span is None:
        return DutyLoad(None, None, 0, 0, 0, 0, 0)
    first, last = span
    with engine.begin() as conn:
        if (
            conn.execute(sa.text("SELECT 1 FROM layout_generation WHERE is_current")).first()
            is None
        ):
            raise LookupError("no layout is loaded: load the sample district first")
        officers = [
            (r.code, r.station_code, int(r.duty_weekday), r.duty_half)
            for r in conn.execute(_OFFICERS)
        ]
        plan = plan_duty(officers, first, last, seed)
        rows = conn.execute(
            _SHIFTS,
            {
                "officers": plan.officers,
                "stations": plan.stations,
                "los": plan.los,
                "his": plan.his,
                "source": SOURCE,
            },
        ).all()
        index = {(o, lo): i for i, (o, lo) in enumerate(zip(plan.officers, plan.los, strict=True))}
        ids = {index[(r.officer_code, r.lo)]: int(r.id) for r in rows}
        checks = [j for j, i in enumerate(plan.check_shift) if i in ids]
        flags = conn.execute(
            _CHECKS,
            {
                "shift_ids": [ids[plan.check_shift[j]] for j in checks],
                "kinds": [plan.check_kind[j] for j in checks],
                "ats": [plan.check_at[j] for j in checks],
                "dists": [plan.check_dist[j] for j in checks],
                "azs": [plan.check_az[j] for j in checks],
                "radius": settings.duty_checkin_radius_m,
                "source": SOURCE,
            },
        ).scalars()
        flag_list = list(flags)
        patrols = [j for j, i in enumerate(plan.patrol_shift) if i in ids]
        grids = conn.execute(
            _PATROLS,
            {
                "shift_ids": [ids[plan.patrol_shift[j]] for j in patrols],
                "los": [plan.patrol_lo[j] for j in patrols],
                "his": [plan.patrol_hi[j] for j in patrols],
                "seeds": [plan.patrol_seed[j] for j in patrols],
                "npts": TRACK_POINTS,
                "buffer": settings.patrol_buffer_m,
                "source": SOURCE,
            },
        ).scalars()
        grid_rows = list(grids)
    return DutyLoad(
        first,
        last,
        shifts=len(rows),
        checks=len(flag_list),
        flagged=sum(1 for f in flag_list if f != "ok"),
        patrols=len(set(grid_rows)),
        patrol_grids=len(grid_rows),
    )
