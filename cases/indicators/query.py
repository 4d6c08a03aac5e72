"""The indicators' SQL: one set-based statement over case_file and case_event.

One statement per request, whatever the number of places (grouped by the
level's column), with bound parameters only; the column names come from
the level table in code, never from the request. Two parts, joined by place:

- `cases`: one scan of the cases that touch the period (received,
  dispatched, due, closed, or with a reply due in it), every count a FILTER
  of one aggregate. A case's first deadline is `first_due_at` (set by the
  database from its first escalation, migration 0010_indicators) or else its
  `due_at`; its first report back is `reported_back_at` (likewise), or its
  closure when no report back is on record;
- `moves`: the send-backs (返工) and escalations (超时升级) of the period, read
  from the partial index of those events (`case_event_moves_idx`).

Whether a case that left before dispatch (cancelled, referred out, a
duplicate) had been filed comes from its `filed` event, in the same index.
Working hours are computed inside the statement (cases.indicators.worktime).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from cases.calendar import WorkCalendar
from cases.catalogue import Catalogue
from cases.indicators.definitions import COUNT_KEYS, Level
from cases.indicators.period import Period
from cases.indicators.worktime import lookback_days, working_hours_sql
from cases.indicators.worktime import params as worktime_params

NOT_TO_CLOSE = ("referred_out", "duplicate", "cancelled")
"""Final states that take a case off the bureau's books (not due to close)."""
FIRST_DUE = "COALESCE(c.first_due_at, c.due_at)"
"""A case's first handling deadline (the one set at dispatch), on a case row `c`."""
DONE = "COALESCE(c.reported_back_at, c.closed_at)"
"""When a case was first reported back as handled (its closure when none is on record)."""


def _in(values: tuple[str, ...]) -> str:
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


def statement(group: Level, where: Level | None) -> sa.TextClause:
    """The statement for figures per `group` place, of the cases of one `where`
    place (`:code`) or of every place (None)."""
    # The district is every case the bureau took in: referred-out ones carry the
    # neighbour's code and unplaced ones none, yet the bureau received them.
    col = "CAST(:home AS text)" if group.key == "district" else f"c.{group.column}"
    by_place = where is not None and where.key != "district"
    place_filter = f"c.{where.column} = :code" if by_place and where else "true"
    due = f"({FIRST_DUE} >= :lo AND {FIRST_DUE} < :hi AND c.status NOT IN {_in(NOT_TO_CLOSE)})"
    hours = working_hours_sql("c.dispatched_at", DONE)
    # The district's moves need no case row (every case is the district's).
    case_join = (
        "" if group.key == "district" and not by_place else ("JOIN case_file c ON c.id = e.case_id")
    )
    sql = f"""
WITH filed AS (
    SELECT DISTINCT case_id FROM case_event WHERE kind = 'filed'
),
per_case AS (
    SELECT {col} AS place, c.reported_at, c.dispatched_at, c.closed_at, c.reply_due_at,
           c.replied_at, c.rating,
           (c.dispatched_at IS NOT NULL OR c.status = 'filed' OR f.case_id IS NOT NULL)
               AS was_filed,
           {due} AS is_due,
           {FIRST_DUE} AS first_due,
           {DONE} AS done_at,
           CASE WHEN {due} AND {DONE} < :hi THEN {hours} END AS hours
    FROM case_file c
    LEFT JOIN filed f ON f.case_id = c.id
    WHERE {place_filter} AND {col} IS NOT NULL AND (
           (c.reported_at >= :lo AND c.reported_at < :hi)
        OR (c.dispatched_at >= :lo AND c.dispatched_at < :hi)
        OR (c.due_at >= :lo AND c.dispatched_at < :hi)
        OR (c.closed_at >= :lo AND c.closed_at < :hi)
        OR (c.reply_due_at >= :lo AND c.reply_due_at < :hi))
),
agg_cases AS (
    SELECT place,
        count(*) FILTER (WHERE reported_at >= :lo AND reported_at < :hi) AS received,
        count(*) FILTER (WHERE reported_at >= :lo AND reported_at < :hi AND was_filed) AS filed,
        count(*) FILTER (WHERE dispatched_at >= :lo AND dispatched_at < :hi) AS dispatched,
        count(*) FILTER (WHERE is_due) AS due,
        count(*) FILTER (WHERE is_due AND closed_at < :hi) AS closed,
        count(*) FILTER (WHERE is_due AND closed_at <= first_due) AS closed_on_time,
        count(*) FILTER (WHERE is_due AND done_at < :hi) AS handled,
        count(*) FILTER (WHERE is_due AND done_at <= first_due) AS handled_on_time,
        COALESCE(sum(hours), 0) AS handling_hours_sum,
        count(hours) AS handling_n,
        count(*) FILTER (WHERE closed_at >= :lo AND closed_at < :hi) AS closures,
        count(*) FILTER (WHERE reply_due_at >= :lo AND reply_due_at < :hi) AS reply_due,
        count(*) FILTER (WHERE reply_due_at >= :lo AND reply_due_at < :hi
                         AND replied_at <= reply_due_at) AS replied_on_time,
        count(*) FILTER (WHERE closed_at >= :lo AND closed_at < :hi
                         AND rating IS NOT NULL) AS evaluated,
        COALESCE(sum(rating) FILTER (WHERE closed_at >= :lo AND closed_at < :hi), 0)
            AS rating_sum,
        count(*) FILTER (WHERE closed_at >= :lo AND closed_at < :hi
                         AND rating >= :satisfied_from) AS satisfied
    FROM per_case GROUP BY place
),
agg_moves AS (
    SELECT {col} AS place,
        count(*) FILTER (WHERE e.kind = 'sent_back') AS reworked,
        count(*) FILTER (WHERE e.kind = 'escalated') AS escalated,
        count(*) FILTER (WHERE e.kind = 'escalated'
                         AND e.data ->> 'holder_role' = 'squad_leader') AS escalated_to_moderate,
        count(*) FILTER (WHERE e.kind = 'escalated'
                         AND e.data ->> 'holder_role' = 'deputy_leader') AS escalated_to_major,
        count(*) FILTER (WHERE e.kind = 'escalated'
                         AND e.data ->> 'holder_role' = 'chief') AS escalated_to_chief
    FROM case_event e {case_join}
    WHERE e.kind IN ('sent_back', 'escalated') AND e.at >= :lo AND e.at < :hi
      AND {place_filter} AND {col} IS NOT NULL
    GROUP BY {col}
)
SELECT COALESCE(a.place, m.place) AS place,
    COALESCE(a.received, 0) AS received, COALESCE(a.filed, 0) AS filed,
    COALESCE(a.dispatched, 0) AS dispatched,
    COALESCE(a.due, 0) AS due, COALESCE(a.closed, 0) AS closed,
    COALESCE(a.closed_on_time, 0) AS closed_on_time,
    COALESCE(a.handled, 0) AS handled, COALESCE(a.handled_on_time, 0) AS handled_on_time,
    COALESCE(a.closures, 0) + COALESCE(m.reworked, 0) AS verified,
    COALESCE(m.reworked, 0) AS reworked,
    COALESCE(a.handling_hours_sum, 0) AS handling_hours_sum,
    COALESCE(a.handling_n, 0) AS handling_n,
    COALESCE(m.escalated, 0) AS escalated,
    COALESCE(m.escalated_to_moderate, 0) AS escalated_to_moderate,
    COALESCE(m.escalated_to_major, 0) AS escalated_to_major,
    COALESCE(m.escalated_to_chief, 0) AS escalated_to_chief,
    COALESCE(a.reply_due, 0) AS reply_due, COALESCE(a.replied_on_time, 0) AS replied_on_time,
    COALESCE(a.evaluated, 0) AS evaluated, COALESCE(a.rating_sum, 0) AS rating_sum,
    COALESCE(a.satisfied, 0) AS satisfied
FROM agg_cases a
FULL JOIN agg_moves m ON m.place = a.place
ORDER BY 1
"""
    return sa.text(sql)


@dataclass(frozen=True)
class Counts:
    """The raw figures of one place: counts, and the sums behind the averages."""

    values: dict[str, int]
    handling_hours_sum: float
    handling_n: int
    rating_sum: int

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> Counts:
        """From one row of `statement`."""
        return cls(
            values={k: int(row[k]) for k in COUNT_KEYS},
            handling_hours_sum=float(row["handling_hours_sum"]),
            handling_n=int(row["handling_n"]),
            rating_sum=int(row["rating_sum"]),
        )

    @classmethod
    def empty(cls) -> Counts:
        """A place with no case in the period."""
        return cls({k: 0 for k in COUNT_KEYS}, 0.0, 0, 0)


def bind(
    period: Period,
    code: str | None,
    home: str,
    calendar: WorkCalendar,
    catalogue: Catalogue,
    satisfied_from: int,
) -> dict[str, Any]:
    """The statement's parameters: the period, the place's code, the calendar for
    the days from the earliest dispatch a case due in the period can have."""
    back = lookback_days([s.time_limit for s in catalogue.subclasses])
    out = {
        "lo": period.start,
        "hi": period.end,
        "home": home,
        "satisfied_from": satisfied_from,
        **worktime_params(calendar, period.first - timedelta(days=back), period.last),
    }
    if code is not None:
        out["code"] = code
    return out
