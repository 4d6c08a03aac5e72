"""Duty compliance: hours actually on duty per officer, community and week,
against the rule (at least half a day a week; `duty_rule_hours`, default 4).

Rules, in one place:

- A week is an ISO week, Monday 00:00 to Monday 00:00 in Asia/Shanghai
  (cases.stations.weeks).
- Time on duty is measured on each live shift: from a counted check-in to the
  next check-out (further check-ins while present change nothing), clipped to
  the shift and to the week. A shift that spans midnight, or the night from
  Sunday to Monday, gives each week its own part. A check-in never checked
  out gives no hours (it is counted in `open_checkins` for the leader); a
  check that did not count (far away, no location) gives none either
  (`flagged_checks` counts every flagged check of the week's shifts).
- Rows: every active officer (role officer) with the station they are
  stationed at (`stationed`, where the rule applies), and every officer and
  station with a shift that week (help at another station is listed with
  `required_hours` 0). Cancelled shifts count for nothing.
- The station and squad tables count the stationed rows: officers, how many
  met the rule, and the hours; the shortfalls are the stationed rows that did
  not meet it, worst first.
- Who sees what: the principal's scope (cases.access); analysts see the
  station and squad tables only, without any officer.

Everything is computed in two set-based statements over one snapshot.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from cases.access import Principal
from cases.errors import Forbidden, NotFound
from cases.stations.weeks import Week, parse_week
from gis.privacy import decrypt, mask_name
from gis.settings import Settings, get_settings

_ROWS = """
WITH wk AS (SELECT tstzrange(CAST(:lo AS timestamptz), CAST(:hi AS timestamptz), '[)') AS r),
sh AS (
    SELECT s.id, s.officer_code, s.station_code, s.during * wk.r AS part
    FROM duty_shift s, wk
    WHERE s.cancelled_at IS NULL AND s.during && wk.r
),
ev AS (
    SELECT c.shift_id, c.kind, c.at,
           coalesce(sum(CASE WHEN c.kind = 'out' THEN 1 ELSE 0 END) OVER (
               PARTITION BY c.shift_id ORDER BY c.at, c.id
               ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS outs_before
    FROM duty_check c JOIN sh ON sh.id = c.shift_id
    WHERE c.counts
),
stay AS (
    SELECT shift_id,
           min(at) FILTER (WHERE kind = 'in') AS t_in,
           min(at) FILTER (WHERE kind = 'out') AS t_out
    FROM ev GROUP BY shift_id, outs_before
),
per_shift AS (
    SELECT sh.id, sh.officer_code, sh.station_code,
           extract(epoch FROM upper(sh.part) - lower(sh.part)) AS planned_s,
           coalesce(sum(extract(epoch FROM upper(x.r) - lower(x.r))), 0) AS present_s,
           count(*) FILTER (WHERE x.t_in IS NOT NULL AND x.t_out IS NULL) AS open_checkins
    FROM sh
    LEFT JOIN LATERAL (
        SELECT st.t_in, st.t_out,
               CASE WHEN st.t_in IS NOT NULL AND st.t_out IS NOT NULL
                    THEN tstzrange(st.t_in, st.t_out, '[)') * sh.part END AS r
        FROM stay st WHERE st.shift_id = sh.id
    ) x ON true
    GROUP BY sh.id, sh.officer_code, sh.station_code, sh.part
),
flagged AS (
    SELECT c.shift_id, count(*) AS n
    FROM duty_check c JOIN sh ON sh.id = c.shift_id
    WHERE c.flag <> 'ok'
    GROUP BY c.shift_id
),
pair AS (
    SELECT officer_code, station_code, bool_or(stationed) AS stationed
    FROM (
        SELECT o.code AS officer_code, o.station_code, true AS stationed
        FROM officer o
        WHERE o.active AND o.role = 'officer' AND o.station_code IS NOT NULL
        UNION ALL
        SELECT officer_code, station_code, false FROM sh
    ) p
    GROUP BY officer_code, station_code
),
rows AS (
    SELECT p.officer_code, p.station_code, st.name AS station_name, st.community_code,
           sc.squad_code, p.stationed, encode(o.name_enc, 'hex') AS name_hex,
           count(ps.id) AS shifts,
           coalesce(sum(ps.planned_s), 0) AS planned_s,
           coalesce(sum(ps.present_s), 0) AS present_s,
           coalesce(sum(ps.open_checkins), 0) AS open_checkins,
           coalesce(sum(f.n), 0) AS flagged_checks,
           CASE WHEN p.stationed THEN CAST(:rule_s AS float8) ELSE 0 END AS required_s
    FROM pair p
    JOIN station st ON st.code = p.station_code
    JOIN officer o ON o.code = p.officer_code
    LEFT JOIN squad_community sc ON sc.community_code = st.community_code
    LEFT JOIN per_shift ps ON ps.officer_code = p.officer_code
                          AND ps.station_code = p.station_code
    LEFT JOIN flagged f ON f.shift_id = ps.id
    WHERE (CAST(:station AS text) IS NULL OR p.station_code = CAST(:station AS text))
      AND (CAST(:squad AS text) IS NULL OR sc.squad_code = CAST(:squad AS text))
      AND (CAST(:everywhere AS boolean)
           OR st.community_code = ANY(CAST(:communities AS text[])))
    GROUP BY p.officer_code, p.station_code, st.name, st.community_code, sc.squad_code,
             p.stationed, o.name_enc
)
"""

_OFFICER_ROWS = sa.text(
    _ROWS
    + """
SELECT officer_code, station_code, station_name, community_code, squad_code, stationed,
       name_hex, shifts, open_checkins, flagged_checks,
       round(CAST(planned_s / 3600 AS numeric), 2) AS planned_hours,
       round(CAST(present_s / 3600 AS numeric), 2) AS hours,
       round(CAST(required_s / 3600 AS numeric), 2) AS required_hours,
       present_s >= required_s AS meets_rule,
       round(CAST(greatest(required_s - present_s, 0) / 3600 AS numeric), 2) AS shortfall_hours
FROM rows
ORDER BY squad_code NULLS LAST, station_code, officer_code
"""
)

_GROUPS = sa.text(
    _ROWS
    + """
SELECT GROUPING(station_code) = 1 AS squad_level, squad_code, station_code,
       min(station_name) AS station_name,
       count(*) AS officers,
       count(*) FILTER (WHERE present_s >= required_s) AS met,
       round(CAST(sum(present_s) / 3600 AS numeric), 2) AS hours,
       round(CAST(sum(planned_s) / 3600 AS numeric), 2) AS planned_hours
FROM rows
WHERE stationed
GROUP BY GROUPING SETS ((squad_code, station_code), (squad_code))
ORDER BY squad_level, squad_code NULLS LAST, station_code
"""
)

# A place asked for by code: does it exist, and its communities (for the scope).
_EXISTS = {
    "station": sa.text(
        "SELECT ARRAY(SELECT community_code FROM station WHERE code = :code) AS communities "
        "WHERE EXISTS (SELECT 1 FROM station WHERE code = :code)"
    ),
    "squad": sa.text(
        "SELECT ARRAY(SELECT community_code FROM squad_community WHERE squad_code = :code) "
        "AS communities WHERE EXISTS (SELECT 1 FROM squad WHERE code = :code)"
    ),
}


@dataclass(frozen=True)
class ComplianceRow:
    """One officer at one station (community) in one week."""

    week: str
    officer_code: str
    officer_name: str | None
    station_code: str
    station_name: str
    community_code: str
    squad_code: str | None
    stationed: bool
    shifts: int
    planned_hours: float
    hours: float
    required_hours: float
    meets_rule: bool
    shortfall_hours: float
    flagged_checks: int
    open_checkins: int

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (what `grid duty compliance --json` prints, one per line)."""
        return asdict(self)


@dataclass(frozen=True)
class ComplianceGroup:
    """A station's or a squad's week: stationed officers, how many met the rule."""

    level: str  # station | squad
    squad_code: str | None
    station_code: str | None
    station_name: str | None
    officers: int
    met: int
    short: int
    hours: float
    planned_hours: float

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return asdict(self)


@dataclass(frozen=True)
class ComplianceReport:
    """The weekly compliance table: rows, station and squad tables, shortfalls."""

    week: str
    week_start: str
    week_end: str
    rule_hours: float
    rows: list[ComplianceRow]
    stations: list[ComplianceGroup]
    squads: list[ComplianceGroup]
    names: bool = True
    shortfalls: list[ComplianceRow] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready; without officers (`rows`, `shortfalls` absent) for analysts."""
        out: dict[str, Any] = {
            "week": self.week,
            "week_start": self.week_start,
            "week_end": self.week_end,
            "rule_hours": self.rule_hours,
            "stations": [g.as_dict() for g in self.stations],
            "squads": [g.as_dict() for g in self.squads],
        }
        if self.names:
            out["rows"] = [r.as_dict() for r in self.rows]
            out["shortfalls"] = [r.as_dict() for r in self.shortfalls]
        return out


def weekly_compliance(
    engine: Engine,
    week: str | Week,
    *,
    station_code: str | None = None,
    squad_code: str | None = None,
    principal: Principal | None = None,
    settings: Settings | None = None,
    now: datetime | None = None,
) -> ComplianceReport:
    """The compliance table of `week` (`YYYY-Www`), optionally for one station
    or one squad, within the principal's scope (None: everything, the CLI).

    InvalidInput for a malformed or future week; NotFound for an unknown
    station or squad code.
    """
    settings = settings or get_settings()
    wk = week if isinstance(week, Week) else parse_week(week, now)
    scope = principal.scope if principal is not None else None
    names = principal is None or principal.rule.personal_data
    params = {
        "lo": wk.start,
        "hi": wk.end,
        "rule_s": settings.duty_rule_hours * 3600,
        "station": station_code,
        "squad": squad_code,
        "everywhere": scope is None or scope.everywhere,
        "communities": sorted(scope.communities) if scope is not None else [],
    }
    with engine.connect().execution_options(isolation_level="REPEATABLE READ") as conn:
        for kind, code in (("station", station_code), ("squad", squad_code)):
            if code is None:
                continue
            found = None if "\x00" in code else conn.execute(_EXISTS[kind], {"code": code}).first()
            if found is None:
                raise NotFound(f"no {kind} {code!r}", field=kind)
            # A place asked for by name is refused outside the scope (not answered empty).
            if scope is not None and not all(scope.covers(c) for c in found.communities):
                raise Forbidden(
                    f"a {principal.role if principal else ''} may not see duty compliance of "
                    f"{kind} {code}: it is outside this account's communities"
                )
        rows = conn.execute(_OFFICER_ROWS, params).mappings().all() if names else []
        groups = conn.execute(_GROUPS, params).mappings().all()
    officer_rows = [
        ComplianceRow(
            week=wk.label,
            officer_code=r["officer_code"],
            officer_name=mask_name(decrypt(bytes.fromhex(r["name_hex"]), settings))
            if r["name_hex"]
            else None,
            station_code=r["station_code"],
            station_name=r["station_name"],
            community_code=r["community_code"],
            squad_code=r["squad_code"],
            stationed=bool(r["stationed"]),
            shifts=int(r["shifts"]),
            planned_hours=float(r["planned_hours"]),
            hours=float(r["hours"]),
            required_hours=float(r["required_hours"]),
            meets_rule=bool(r["meets_rule"]),
            shortfall_hours=float(r["shortfall_hours"]),
            flagged_checks=int(r["flagged_checks"]),
            open_checkins=int(r["open_checkins"]),
        )
        for r in rows
    ]
    tables = [
        ComplianceGroup(
            level="squad" if g["squad_level"] else "station",
            squad_code=g["squad_code"],
            station_code=None if g["squad_level"] else g["station_code"],
            station_name=None if g["squad_level"] else g["station_name"],
            officers=int(g["officers"]),
            met=int(g["met"]),
            short=int(g["officers"]) - int(g["met"]),
            hours=float(g["hours"]),
            planned_hours=float(g["planned_hours"]),
        )
        for g in groups
    ]
    shortfalls = sorted(
        (r for r in officer_rows if r.stationed and not r.meets_rule),
        key=lambda r: (-r.shortfall_hours, r.station_code, r.officer_code),
    )
    return ComplianceReport(
        week=wk.label,
        week_start=wk.monday.isoformat(),
        week_end=wk.sunday.isoformat(),
        rule_hours=settings.duty_rule_hours,
        rows=officer_rows,
        stations=[t for t in tables if t.level == "station"],
        squads=[t for t in tables if t.level == "squad"],
        names=names,
        shortfalls=shortfalls,
    )
