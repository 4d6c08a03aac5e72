"""Working time inside SQL: the bureau's calendar as three bound arrays.

The average handling time is in working hours (cases.calendar: 08:30-12:00
and 14:30-18:00 on working days, holidays and 调休 included). Fetching a
million pairs of instants to Python would cost more than the whole query, so
the calendar goes to the database instead, as bound parameters covering the
days a statement needs:

- `wt_bounds`: the instants where working time starts or stops (every working
  period's start and end on the working days, as UTC instants of the
  calendar's zone), between the midnights before the first day and after the
  last;
- per segment k (from bound k to bound k + 1): the working seconds up to an
  instant t in it are `wt_a[k] + wt_b[k] * epoch(t)`: `wt_b` is 1 inside a
  working period and 0 between them, `wt_a` makes the sum the working time
  since the first bound (from `cases.calendar.working_hours_between_many`,
  the calendar's own count).

Per row that is one `width_bucket` (a binary search in the bounds), two array
reads and one epoch: no join, no time-zone conversion (AT TIME ZONE costs a
microsecond or two per call: seconds for a million cases), right across
daylight-saving changes in zones that have them. The days sent reach back
from the period's first day by the longest time limit (`lookback_days`), so
every due case's dispatch and report back lie inside them (outside, the
working time would stand still). A test checks this against the calendar on
random instants.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from cases.calendar import TimeLimit, WorkCalendar, working_hours_between_many

FIRST_DAY = date(2000, 1, 1)
LAST_DAY = date(2040, 12, 31)


def lookback_days(limits: Iterable[TimeLimit]) -> int:
    """Calendar days that surely hold the longest of `limits` from dispatch: a case due
    on a day was dispatched at most this many days before (7 working hours a day,
    5 days in 7, half as much again, and a month for the longest holidays)."""
    longest = max((lim.amount if lim.in_days else lim.amount / 7 for lim in limits), default=0)
    return math.ceil(longest * 7 / 5 * 1.5) + 31


def _utc64(at: datetime) -> np.datetime64:
    return np.datetime64(at.astimezone(UTC).replace(tzinfo=None), "us")


def params(calendar: WorkCalendar, first: date, last: date) -> dict[str, Any]:
    """The bound parameters that `worked_seconds` reads, for instants on the local
    days `first` to `last` (clipped to FIRST_DAY..LAST_DAY)."""
    first, last = max(first, FIRST_DAY), min(last, LAST_DAY)
    config = calendar.config
    tz = ZoneInfo(config.timezone)
    bounds = [datetime.combine(first, datetime.min.time(), tz)]
    day = first
    while day <= last:
        if config.is_workday(day):
            for start, end in config.periods:
                bounds.append(datetime.combine(day, start, tz))
                stop = datetime.combine(day + timedelta(days=1), datetime.min.time(), tz)
                bounds.append(
                    stop if end == datetime.max.time() else datetime.combine(day, end, tz)
                )
        day += timedelta(days=1)
    bounds.append(datetime.combine(last + timedelta(days=1), datetime.min.time(), tz))
    stamps = np.array([_utc64(b) for b in bounds], dtype="datetime64[us]")
    worked = working_hours_between_many(np.full(len(stamps), stamps[0]), stamps, calendar) * 3600
    epochs = (stamps - np.datetime64(0, "us")).astype(np.int64) / 1e6
    span = np.diff(epochs)
    slope = np.where(span > 0, np.rint(np.diff(worked) / np.where(span > 0, span, 1)), 0)
    # Segment k (width_bucket's count of bounds at or before t) is read at index k + 1;
    # before the first bound and after the last, the working time stands still. No
    # NULLs: reading an array with NULLs costs a walk of its null bitmap each time.
    a = [0.0] + [float(w - s * e) for w, s, e in zip(worked[:-1], slope, epochs[:-1], strict=True)]
    b = [0] + [int(s) for s in slope]
    return {"wt_bounds": bounds, "wt_a": [*a, float(worked[-1])], "wt_b": [*b, 0]}


def worked_seconds(column: str) -> str:
    """SQL for the working seconds from the first bound to the instant `column` (a
    trusted expression written in code, never user input)."""
    k = f"width_bucket({column}, CAST(:wt_bounds AS timestamptz[])) + 1"
    return (
        f"((CAST(:wt_a AS float8[]))[{k}] "
        f"+ (CAST(:wt_b AS integer[]))[{k}] * date_part('epoch', {column}))"
    )


def working_hours_sql(start: str, end: str) -> str:
    """SQL for the working hours from the instant `start` to `end` (0 when the end is
    not after the start)."""
    return f"GREATEST({worked_seconds(end)} - {worked_seconds(start)}, 0) / 3600.0"
