"""Working time inside SQL: the bureau's calendar as a few bound arrays.

The average handling time is in working hours (cases.calendar: 08:30-12:00
and 14:30-18:00 on working days, holidays and 调休 included). Fetching a
million pairs of instants to Python would cost more than the whole query, so
the calendar goes to the database instead, as bound parameters:

- `wt_cum`: per local day of the days a statement needs (`wt_day0` on), the
  working seconds before that day's midnight, computed with
  `cases.calendar.working_hours_between_many`, the calendar's own rule;
- `wt_on`: 1 for a working day, 0 otherwise;
- the periods' starts and lengths in seconds after midnight.

The working seconds up to an instant t are then arithmetic per row, no join:
`wt_cum[day(t)] + wt_on[day(t)] * Σ clamp(seconds(t) - period start, 0, period length)`,
with day and seconds taken in the calendar's zone. Between two instants: the
difference. Instants outside the days sent give NULL (left out of the
average). A test checks this against the calendar on random instants.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import UTC, date, datetime, time
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from cases.calendar import (
    CalendarConfig,
    TimeLimit,
    WorkCalendar,
    working_hours_between_many,
)

FIRST_DAY = date(2000, 1, 1)
LAST_DAY = date(2040, 12, 31)


def _seconds(t: time) -> int:
    if t == time.max:
        return 86_400
    return t.hour * 3600 + t.minute * 60 + t.second


@lru_cache(maxsize=4)
def _tables(config: CalendarConfig) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Per day FIRST_DAY..LAST_DAY: working seconds before its midnight, and worked (1/0)."""
    calendar = WorkCalendar(config)
    n = (LAST_DAY - FIRST_DAY).days + 2  # every day's midnight and the one after the last
    day0 = datetime.combine(FIRST_DAY, time(0), ZoneInfo(config.timezone)).astimezone(UTC)
    first = np.datetime64(day0.replace(tzinfo=None), "us")
    # Local midnights as UTC instants (one offset: Asia/Shanghai has kept +08:00 since 1991).
    midnights = first + np.arange(n) * np.timedelta64(86_400, "s")
    hours = working_hours_between_many(np.full(n, first), midnights, calendar)
    cum = np.rint(hours * 3600).astype(np.int64)
    return cum[:-1], (np.diff(cum) > 0).astype(np.int64)


def lookback_days(limits: Iterable[TimeLimit]) -> int:
    """Calendar days that surely hold the longest of `limits` from dispatch: a case due
    on a day was dispatched at most this many days before (7 working hours a day,
    5 days in 7, half as much again, and a month for the longest holidays)."""
    longest = max((lim.amount if lim.in_days else lim.amount / 7 for lim in limits), default=0)
    return math.ceil(longest * 7 / 5 * 1.5) + 31


def params(calendar: WorkCalendar, first: date, last: date) -> dict[str, Any]:
    """The bound parameters that `worked_seconds` reads, for instants on local days
    `first` to `last` (clipped to FIRST_DAY..LAST_DAY; a few hundred numbers, not
    the whole table: large array parameters cost more to plan than the query)."""
    first, last = max(first, FIRST_DAY), min(last, LAST_DAY)
    cum, on = _tables(calendar.config)
    i, j = (first - FIRST_DAY).days, (last - FIRST_DAY).days + 1
    out: dict[str, Any] = {
        "wt_tz": calendar.config.timezone,
        "wt_day0": first,
        "wt_cum": (cum[i:j] - (cum[i] if j > i else 0)).tolist(),
        "wt_on": on[i:j].tolist(),
    }
    for k, (a, b) in enumerate(calendar.config.periods):
        out[f"wt_p{k}s"] = _seconds(a)
        out[f"wt_p{k}l"] = _seconds(b) - _seconds(a)
    return out


def worked_seconds(column: str, calendar: WorkCalendar) -> str:
    """SQL for the working seconds from `wt_day0` to the instant `column` (a trusted
    column expression written in code, never user input)."""
    local = f"({column} AT TIME ZONE CAST(:wt_tz AS text))"
    index = f"(CAST({local} AS date) - CAST(:wt_day0 AS date) + 1)"
    tod = f"EXTRACT(EPOCH FROM CAST({local} AS time))"
    inside = " + ".join(
        f"LEAST(GREATEST({tod} - :wt_p{i}s, 0), :wt_p{i}l)"
        for i in range(len(calendar.config.periods))
    )
    return (
        f"(CAST(:wt_cum AS bigint[]))[{index}] + (CAST(:wt_on AS bigint[]))[{index}] * ({inside})"
    )


def working_hours_sql(start: str, end: str, calendar: WorkCalendar) -> str:
    """SQL for the working hours from `start` to `end` (0 when end is not after start)."""
    return (
        f"GREATEST(({worked_seconds(end, calendar)}) - ({worked_seconds(start, calendar)}), 0)"
        " / 3600.0"
    )
