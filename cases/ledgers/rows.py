"""What the data knows of a station's month: the queries behind the ledgers.

One statement per kind of record, bound parameters only, each over the
station (or its community) and the month's half-open range of instants
`[start, end)` in Asia/Shanghai:

- `month_cases`: the cases of the station received (`reported_at`) in the
  month, with the first answer to the resident (an event of
  vocab.REPLY_EVENTS) and the holder's encrypted name;
- `open_problems`: the cases of the community open at a moment `as_of`
  (received before it, not finished by then; neither merged nor referred out);
- `shifts`: the station's live shifts that start in the month, with their
  check-ins and check-outs;
- `patrols`: the station's patrols that start in the month, with the grids
  passed, the findings (and their cases) and the frontage checks;
- `case_work`: work on the station's cases in the month: dispatch (the time
  the dispatched event records, else the event's own), closure
  (`closed_at`), and the other events of vocab.HANDLED_EVENTS;
- `month_figures`: the monthly meeting's numbers (intake, closed, overdue);
- `officer_names`: officers' encrypted names, by code.

The vocabulary of statuses and events is vocab's, passed in as parameters.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from cases.ledgers.month import Month
from cases.ledgers.vocab import DONE_STATUSES, HANDLED_EVENTS, NOT_PROBLEMS, REPLY_EVENTS


def _vocab() -> dict[str, Any]:
    return {
        "done": sorted(DONE_STATUSES),
        "not_problems": sorted(NOT_PROBLEMS),
        "reply_events": list(REPLY_EVENTS),
        "handled": sorted(set(HANDLED_EVENTS) - {"dispatched", "closed"}),
    }


_MONTH_CASES = sa.text("""
SELECT c.id, c.reported_at, c.source, c.subclass_code, c.tier, c.grid_code, c.address,
       c.description, c.officer_code, c.due_at, c.status, c.closed_at,
       c.reporter_name_enc, c.reporter_phone_enc,
       (SELECT min(e.at) FROM case_event e
        WHERE e.case_id = c.id AND e.kind = ANY(CAST(:reply_events AS text[]))) AS replied_at
FROM case_file c
WHERE c.station_code = :station AND c.reported_at >= :start AND c.reported_at < :end
ORDER BY c.reported_at, c.id
""")


def month_cases(conn: Connection, station_code: str, month: Month) -> list[Any]:
    """The station's cases received in the month, oldest first."""
    params = {"station": station_code, "start": month.start, "end": month.end, **_vocab()}
    return list(conn.execute(_MONTH_CASES, params))


_OPEN_PROBLEMS = sa.text("""
SELECT c.id, c.reported_at, c.subclass_code, c.grid_code, c.address, c.description,
       c.officer_code, c.due_at, c.status, c.closed_at
FROM case_file c
WHERE c.community_code = :community AND c.reported_at < :as_of
  AND NOT (c.status = ANY(CAST(:not_problems AS text[])))
  AND CASE WHEN c.closed_at IS NULL THEN NOT (c.status = ANY(CAST(:done AS text[])))
           ELSE c.closed_at >= :as_of END
ORDER BY c.reported_at, c.id
""")


def open_problems(conn: Connection, community_code: str, as_of: datetime) -> list[Any]:
    """The community's cases open at `as_of`, oldest first."""
    params = {"community": community_code, "as_of": as_of, **_vocab()}
    return list(conn.execute(_OPEN_PROBLEMS, params))


_SHIFTS = sa.text("""
SELECT s.id, s.officer_code, lower(s.during) AS lo, upper(s.during) AS hi, s.note,
       coalesce((SELECT json_agg(json_build_object(
                    'kind', k.kind, 'at', k.at, 'counts', k.counts, 'flag', k.flag,
                    'distance_m', k.distance_m) ORDER BY k.at, k.id)
                 FROM duty_check k WHERE k.shift_id = s.id), '[]'::json) AS checks
FROM duty_shift s
WHERE s.station_code = :station AND s.cancelled_at IS NULL
  AND lower(s.during) >= :start AND lower(s.during) < :end
ORDER BY lower(s.during), s.officer_code, s.id
""")


def shifts(conn: Connection, station_code: str, month: Month) -> list[Any]:
    """The station's live shifts that start in the month, with their checks."""
    return list(
        conn.execute(_SHIFTS, {"station": station_code, "start": month.start, "end": month.end})
    )


_PATROLS = sa.text("""
SELECT p.id, p.officer_code, p.started_at, p.ended_at, p.length_m, p.coverage, p.note,
       coalesce((SELECT array_agg(g.grid_code ORDER BY g.grid_code)
                 FROM patrol_grid g WHERE g.patrol_id = p.id), '{}') AS grids,
       coalesce((SELECT json_agg(json_build_object(
                    'seq', f.seq, 'subclass', f.subclass_code, 'case_id', f.case_id,
                    'filing_error', f.filing_error) ORDER BY f.seq)
                 FROM patrol_finding f WHERE f.patrol_id = p.id), '[]'::json) AS findings,
       coalesce((SELECT json_agg(json_build_object(
                    'code', k.frontage_code, 'name', u.name, 'item', k.item,
                    'passed', k.passed, 'note', k.note) ORDER BY k.frontage_code, k.item)
                 FROM frontage_check k JOIN frontage_unit u ON u.code = k.frontage_code
                 WHERE k.patrol_id = p.id), '[]'::json) AS checks
FROM patrol p
WHERE p.station_code = :station AND p.started_at >= :start AND p.started_at < :end
ORDER BY p.started_at, p.id
""")


def patrols(conn: Connection, station_code: str, month: Month) -> list[Any]:
    """The station's patrols that start in the month, with grids, findings and checks."""
    return list(
        conn.execute(_PATROLS, {"station": station_code, "start": month.start, "end": month.end})
    )


_CASE_WORK = sa.text("""
WITH c AS (
    SELECT id, subclass_code, grid_code, officer_code, closed_at
    FROM case_file
    WHERE station_code = :station AND reported_at < :end
),
work AS (
    SELECT c.id AS case_id, 'dispatched' AS kind,
           coalesce(CAST(e.data ->> 'dispatched_at' AS timestamptz), e.at) AS at,
           coalesce(e.data ->> 'officer_code', c.officer_code) AS officer_code
    FROM c JOIN case_event e ON e.case_id = c.id AND e.kind = 'dispatched'
    UNION ALL
    SELECT c.id, 'closed', c.closed_at, c.officer_code
    FROM c WHERE c.closed_at >= :start AND c.closed_at < :end
    UNION ALL
    SELECT c.id, e.kind, e.at, coalesce(e.data ->> 'officer_code', c.officer_code)
    FROM c JOIN case_event e ON e.case_id = c.id AND e.kind = ANY(CAST(:handled AS text[]))
    WHERE e.at >= :start AND e.at < :end
)
SELECT w.case_id, w.kind, w.at, w.officer_code, c.subclass_code, c.grid_code
FROM work w JOIN c ON c.id = w.case_id
WHERE w.at >= :start AND w.at < :end
ORDER BY w.at, w.case_id, w.kind
""")


def case_work(conn: Connection, station_code: str, month: Month) -> list[Any]:
    """Work on the station's cases in the month (dispatch, closure, other steps), in time order."""
    params = {"station": station_code, "start": month.start, "end": month.end, **_vocab()}
    return list(conn.execute(_CASE_WORK, params))


_FIGURES = sa.text("""
SELECT count(*) FILTER (WHERE reported_at >= :start AND reported_at < :end) AS intake,
       count(*) FILTER (WHERE closed_at >= :start AND closed_at < :end) AS closed,
       count(*) FILTER (WHERE due_at >= :start AND due_at < :as_of
                          AND (closed_at IS NULL OR closed_at > due_at)) AS overdue
FROM case_file
WHERE station_code = :station AND reported_at < :end
""")


@dataclass(frozen=True)
class MonthFigures:
    """The monthly meeting's numbers for a station.

    - intake: cases received in the month (the case register's rows);
    - closed: cases closed in the month, whenever received;
    - overdue: cases whose due time fell in the month (up to now for the
      month in progress) and that were not closed by then.
    """

    intake: int
    closed: int
    overdue: int

    def as_text(self) -> str:
        """For the minutes: 本月受理 12 件，结案 9 件，超期 2 件."""
        return f"本月受理 {self.intake} 件，结案 {self.closed} 件，超期 {self.overdue} 件"


def month_figures(
    conn: Connection, station_code: str, month: Month, as_of: datetime
) -> MonthFigures:
    """The station's intake, closures and missed deadlines in the month (one statement)."""
    row = conn.execute(
        _FIGURES, {"station": station_code, "start": month.start, "end": month.end, "as_of": as_of}
    ).one()
    return MonthFigures(int(row.intake), int(row.closed), int(row.overdue))


_OFFICERS = sa.text("""
SELECT code, name_enc FROM officer WHERE code = ANY(CAST(:codes AS text[]))
""")


def officer_names(conn: Connection, codes: set[str]) -> dict[str, bytes | None]:
    """Officers' encrypted names by code (those that exist)."""
    rows = conn.execute(_OFFICERS, {"codes": sorted(c for c in codes if c)})
    return {r.code: r.name_enc for r in rows}
