"""The monthly report's queries: cases by subclass and month, recurring problems,
overdue and escalated cases, and the names of places. Set-based, bound
parameters; the place column comes from the report's scope (code, not input).

Counting rule of the problem tables: every case reported in the month except
duplicates (a complaint merged into an open case of the same problem adds no
problem), as the hot spots count (cases.trends); the headline 受理数 counts
every case received.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from cases.indicators.query import FIRST_DUE, NOT_TO_CLOSE
from cases.ledgers.month import Month
from cases.lifecycle.states import CLOSED_STATES

LOCAL = "'Asia/Shanghai'"
MONTH_INDEX = (
    f"CAST(EXTRACT(YEAR FROM c.reported_at AT TIME ZONE {LOCAL}) * 12 "
    f"+ EXTRACT(MONTH FROM c.reported_at AT TIME ZONE {LOCAL}) - 1 AS integer)"
)


def month_index(month: Month) -> int:
    """Months since year 0 (2016-05 is 2016 * 12 + 4), as MONTH_INDEX computes them."""
    return month.year * 12 + month.number - 1


def _place(column: str) -> str:
    """The WHERE condition of a report's place: the district is every case the
    bureau took in (as the indicators count it), others by their column."""
    if column == "district_code":
        return "CAST(:code AS text) IS NOT NULL"
    return f"c.{column} = :code"


def _in(values: tuple[str, ...]) -> str:
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


def subclass_months(
    conn: Connection, column: str, code: str, first: Month, last: Month
) -> dict[tuple[str, int], int]:
    """Cases (duplicates left out) per (subclass, month index), months first..last."""
    sql = sa.text(f"""
        SELECT c.subclass_code, {MONTH_INDEX} AS m, count(*) AS n
        FROM case_file c
        WHERE {_place(column)} AND c.reported_at >= :lo AND c.reported_at < :hi
          AND c.status <> 'duplicate'
        GROUP BY 1, 2""")
    rows = conn.execute(sql, {"code": code, "lo": first.start, "hi": last.end}).all()
    return {(str(r.subclass_code), int(r.m)): int(r.n) for r in rows}


@dataclass(frozen=True)
class Recurring:
    """A grid where one subclass keeps coming back."""

    grid_code: str
    community_name: str | None
    subclass_code: str
    months: int
    window: int
    total: int
    this_month: int
    subclass_name: str = ""


def recurring(
    conn: Connection,
    column: str,
    code: str,
    month: Month,
    window_first: Month,
    *,
    min_months: int,
    min_in_month: int,
    limit: int,
) -> tuple[list[Recurring], int]:
    """Grid and subclass pairs reported in `month` that also came in at least
    `min_months` of the months window_first..month, or `min_in_month` times or
    more in the month itself; most months first, then most cases; at most
    `limit` of them, and how many in all."""
    window = month_index(month) - month_index(window_first) + 1
    sql = sa.text(f"""
        WITH cm AS (
            SELECT c.grid_code, c.subclass_code, {MONTH_INDEX} AS m
            FROM case_file c
            WHERE {_place(column)} AND c.reported_at >= :lo AND c.reported_at < :hi
              AND c.status <> 'duplicate' AND c.grid_code IS NOT NULL
        ), pairs AS (
            SELECT grid_code, subclass_code, count(DISTINCT m) AS months, count(*) AS total,
                   count(*) FILTER (WHERE m = :this) AS this_month
            FROM cm GROUP BY grid_code, subclass_code
            HAVING count(*) FILTER (WHERE m = :this) > 0
               AND (count(DISTINCT m) >= :min_months
                    OR count(*) FILTER (WHERE m = :this) >= :min_in_month)
        )
        SELECT p.*, count(*) OVER () AS found, (
            SELECT cm2.name FROM grid_cell g
            JOIN community cm2 ON cm2.generation_id = g.generation_id
                               AND cm2.code = g.community_code
            WHERE g.code = p.grid_code ORDER BY g.generation_id DESC LIMIT 1
        ) AS community_name
        FROM pairs p
        ORDER BY months DESC, total DESC, this_month DESC, grid_code, subclass_code
        LIMIT :limit""")
    rows = conn.execute(
        sql,
        {
            "code": code,
            "lo": window_first.start,
            "hi": month.end,
            "this": month_index(month),
            "min_months": min_months,
            "min_in_month": min_in_month,
            "limit": limit,
        },
    ).all()
    found = int(rows[0].found) if rows else 0
    return [
        Recurring(
            grid_code=str(r.grid_code),
            community_name=r.community_name,
            subclass_code=str(r.subclass_code),
            months=int(r.months),
            window=window,
            total=int(r.total),
            this_month=int(r.this_month),
        )
        for r in rows
    ], found


OVERDUE_KINDS = {
    "late_this_month": "本月到期，未按期结案",
    "open_past_due": "往月到期，月末仍未结案",
    "escalated": "本月超时升级",
}


def overdue_cases(
    conn: Connection, column: str, code: str, month: Month, limit: int
) -> tuple[list[dict[str, Any]], int]:
    """The month's overdue and escalated cases of the place, and how many in all.

    - due in the month (first deadline) and not closed by it: closed late, or
      still open at the month's end;
    - due before the month and still not closed at its end;
    - escalated in the month.
    Oldest deadline first; at most `limit` rows (the total says how many).
    """
    sql = sa.text(f"""
        WITH moved AS (
            SELECT case_id, count(*) AS n FROM case_event
            WHERE kind = 'escalated' AND at >= :lo AND at < :hi GROUP BY case_id
        ),
        picked AS (
            SELECT c.id, c.subclass_code, c.grid_code, c.station_code, c.reported_at,
                   c.dispatched_at, {FIRST_DUE} AS first_due, c.due_at, c.closed_at, c.status,
                   c.tier, c.holder_role, c.holder_code, c.officer_code, c.description,
                   c.address, c.reporter_name_enc, c.reporter_phone_enc,
                   COALESCE(moved.n, 0) AS escalations
            FROM case_file c
            LEFT JOIN moved ON moved.case_id = c.id
            WHERE {_place(column)} AND c.dispatched_at < :hi AND (
                moved.n IS NOT NULL
                OR (c.status NOT IN {_in(NOT_TO_CLOSE)} AND {FIRST_DUE} < :hi
                    AND (c.closed_at IS NULL OR c.closed_at > {FIRST_DUE})
                    AND ({FIRST_DUE} >= :lo OR c.closed_at IS NULL OR c.closed_at >= :hi)))
        )
        SELECT *, count(*) OVER () AS total FROM picked
        ORDER BY first_due, id
        LIMIT :limit""")
    rows = (
        conn.execute(sql, {"code": code, "lo": month.start, "hi": month.end, "limit": limit})
        .mappings()
        .all()
    )
    total = int(rows[0]["total"]) if rows else 0
    out = []
    for r in rows:
        first_due: datetime | None = r["first_due"]
        closed: datetime | None = r["closed_at"]
        if (
            first_due is not None
            and first_due >= month.start
            and (closed is None or closed > first_due)
        ):
            kind = "late_this_month"
        elif (
            first_due is not None
            and first_due < month.start
            and (closed is None or closed >= month.end)
        ):
            kind = "open_past_due"
        else:
            kind = "escalated"
        out.append({**dict(r), "kind": kind, "closed_by_month_end": _closed_by(r, month)})
    return out, total


def _closed_by(row: Any, month: Month) -> bool:
    closed = row["closed_at"]
    return closed is not None and closed < month.end and row["status"] in CLOSED_STATES


_NAMES = {
    "station": "SELECT code, name FROM station",
    "squad": "SELECT code, name FROM squad",
    "department": "SELECT code, name FROM department",
}


def names_of(conn: Connection, kind: str) -> dict[str, str]:
    """Names by code of the stations, squads or departments."""
    return {str(r.code): str(r.name) for r in conn.execute(sa.text(_NAMES[kind]))}


def station_squad(conn: Connection, station: str) -> str | None:
    """The squad of a station's community."""
    return conn.execute(
        sa.text(
            "SELECT sc.squad_code FROM station s "
            "JOIN squad_community sc ON sc.community_code = s.community_code WHERE s.code = :s"
        ),
        {"s": station},
    ).scalar_one_or_none()


def area_communities(conn: Connection, column: str, code: str) -> list[str]:
    """The communities of a station, a squad or the district (current layout)."""
    if column == "station_code":
        sql = "SELECT community_code FROM station WHERE code = :code"
    elif column == "squad_code":
        sql = "SELECT community_code FROM squad_community WHERE squad_code = :code"
    else:
        sql = (
            "SELECT c.code FROM community c JOIN layout_generation g "
            "ON g.id = c.generation_id AND g.is_current"
        )
    return sorted(str(r[0]) for r in conn.execute(sa.text(sql), {"code": code}))
