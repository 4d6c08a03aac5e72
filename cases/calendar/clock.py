"""The clock of time limits: it only runs in working hours.

Two implementations with the same results:
- the scalar methods walk the days one by one: a plain reference for one
  datetime (API intake, the workflow);
- the `*_many` methods answer millions at once (bulk loading): the working
  intervals over a range of days are laid out once as UTC microsecond arrays
  with their cumulative working time (and, per calendar day, its local
  midnight, its close and the running count of working days), and every
  start is answered with a few `np.searchsorted` calls, no Python loop per row.

Conventions: adding 0 hours (or 0 days) returns the start as is; a deadline
that ends exactly at the close of a working period is that close (Friday
16:00 + 2 h is Friday 18:00, not Monday 08:30); a limit of N working days ends
at the close of the Nth working day after the start's day.

A deadline is *provisional* when a year from the start's year to the
deadline's year (local time) is not covered (see `cases.calendar.config`).
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import NamedTuple
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from cases.calendar.config import CalendarConfig, CalendarError, TimeLimit

US_PER_HOUR = 3_600_000_000
US_PER_DAY = 86_400_000_000
_EPOCH_DAY = date(1970, 1, 1)


class Deadline(NamedTuple):
    """A deadline and whether it was computed on weekdays in an uncovered year."""

    at: datetime
    provisional: bool


class Deadlines(NamedTuple):
    """Deadlines of many starts: UTC datetime64[us] (NaT where no input) and a mask."""

    at: npt.NDArray[np.datetime64]
    provisional: npt.NDArray[np.bool_]


@dataclass
class _Table:
    """Working time over days [first, last], in UTC microseconds.

    Intervals: `starts`/`ends` of every working period, with the working
    time `before` each and `through` each one's end. Days (index k is the
    day first + k): `midnights` (n_days + 1 boundaries), `closes` (the end
    of the day's last period), `wcum` (working days in [first, first + k]).
    Years: `year_starts` (local 1 January of first.year .. last.year + 1) and
    `uncovered` (uncovered years before each); `covered_span` the covered
    years as one [start, end) when they are a single run (a fast path).
    """

    first: date
    last: date
    starts: npt.NDArray[np.int64]
    ends: npt.NDArray[np.int64]
    before: npt.NDArray[np.int64]
    through: npt.NDArray[np.int64]
    midnights: npt.NDArray[np.int64]
    closes: npt.NDArray[np.int64]
    wcum: npt.NDArray[np.int64]
    year_starts: npt.NDArray[np.int64]
    uncovered: npt.NDArray[np.int64]
    covered_span: tuple[int, int] | None  # [start, end) µs when the covered years are one run


def _us(dt: datetime) -> int:
    """Microseconds since the Unix epoch (UTC) of an aware datetime, exactly."""
    delta = dt - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _period_us(t: time) -> int:
    if t == time.max:
        return US_PER_DAY
    return ((t.hour * 60 + t.minute) * 60 + t.second) * 1_000_000 + t.microsecond


def _hours_to_us(hours: float) -> int:
    h = float(hours)
    if not math.isfinite(h) or h < 0:
        raise ValueError("hours must be a finite number >= 0")
    return round(h * US_PER_HOUR)


def _whole_days(days: float) -> int:
    d = float(days)
    if not math.isfinite(d) or d < 0 or d != int(d):
        raise ValueError("days must be a whole number >= 0")
    return int(d)


@dataclass
class WorkCalendar:
    """A working-time calendar; tables for the vectorised path are built lazily."""

    config: CalendarConfig = field(default_factory=CalendarConfig)
    _table: _Table | None = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def __post_init__(self) -> None:
        if not self.config.weekdays and not self.config.workdays:
            raise CalendarError("calendar: no working days at all")
        self.tz = ZoneInfo(self.config.timezone)

    # ------------------------------------------------------------ scalar

    def _aware(self, start: datetime) -> datetime:
        if start.tzinfo is None or start.utcoffset() is None:
            raise ValueError("start must be timezone-aware")
        return start.astimezone(self.tz)

    def add_working_hours(self, start: datetime, hours: float) -> datetime:
        """`start` plus `hours` of working time (aware in, aware out, in start's zone)."""
        local = self._aware(start)
        remaining = _hours_to_us(hours)
        if remaining == 0:
            return start
        day, cursor = local.date(), local
        periods = self.config.periods
        guard = 0
        while True:
            if self.config.is_workday(day):
                for a, b in periods:
                    begin = datetime.combine(day, a, tzinfo=self.tz)
                    end = (
                        datetime.combine(day + timedelta(days=1), time(), tzinfo=self.tz)
                        if b == time.max
                        else datetime.combine(day, b, tzinfo=self.tz)
                    )
                    s = max(begin, cursor)
                    if s >= end:
                        continue
                    available = _us(end) - _us(s)
                    if remaining <= available:
                        return (s + timedelta(microseconds=remaining)).astimezone(start.tzinfo)
                    remaining -= available
            day += timedelta(days=1)
            cursor = datetime.combine(day, time(), tzinfo=self.tz)
            guard += 1
            if guard > 400_000:  # > 1,000 years: not a time limit
                raise ValueError("hours too large for the calendar")

    def close_of(self, day: date) -> datetime:
        """The end of `day`'s last working period (local, aware)."""
        end = self.config.periods[-1][1]
        if end == time.max:
            return datetime.combine(day + timedelta(days=1), time(), tzinfo=self.tz)
        return datetime.combine(day, end, tzinfo=self.tz)

    def add_working_days(self, start: datetime, days: int) -> datetime:
        """The close of the `days`-th working day after `start`'s (local) day.

        The start's own day is not counted, whatever the hour: a case that
        arrives on Monday at 07:00 with 1 working day is due Tuesday 18:00.
        0 days is the start itself. Aware in, aware out (in start's zone).
        """
        local = self._aware(start)
        n = _whole_days(days)
        if n == 0:
            return start
        day, count = local.date(), 0
        for _ in range(400_000):
            day += timedelta(days=1)
            if self.config.is_workday(day):
                count += 1
                if count == n:
                    return self.close_of(day).astimezone(start.tzinfo)
        raise ValueError("days too large for the calendar")  # pragma: no cover

    def is_provisional(self, start: datetime, end: datetime) -> bool:
        """True when a year from `start`'s to `end`'s (local) is not covered."""
        y0 = self._aware(start).year
        y1 = self._aware(end).year
        return any(not self.config.is_covered(y) for y in range(y0, y1 + 1))

    def deadline(self, start: datetime, limit: TimeLimit | float) -> Deadline:
        """When a time limit that starts at `start` ends, and whether that is provisional.

        `limit` is a TimeLimit (working hours or working days) or a number of
        working hours. Provisional: the deadline was counted on weekdays through
        a year whose holidays and 调休 neither the library nor the table knows.
        """
        lim = limit if isinstance(limit, TimeLimit) else TimeLimit.hours(limit)
        if lim.in_days:
            at = self.add_working_days(start, int(lim.amount))
        else:
            at = self.add_working_hours(start, lim.amount)
        return Deadline(at, self.is_provisional(start, at))

    # -------------------------------------------------------- vectorised

    def _build(self, first: date, last: date) -> _Table:
        n_days = (last - first).days + 1
        day0 = (first - _EPOCH_DAY).days
        days = np.arange(day0, day0 + n_days, dtype=np.int64)
        weekday = (days + 3) % 7  # 1970-01-01 was a Thursday (3)
        worked = np.isin(weekday, sorted(self.config.weekdays))
        for d in self.config.holidays:
            if first <= d <= last:
                worked[(d - first).days] = False
        for d in self.config.workdays:
            if first <= d <= last:
                worked[(d - first).days] = True
        # UTC offset of each day at local noon (no zone moves its clocks inside
        # office hours; Asia/Shanghai has kept +08:00 since 1991) and at midnight.
        noon = np.empty(n_days, dtype=np.int64)
        midnights = np.empty(n_days + 1, dtype=np.int64)
        for k in range(n_days + 1):
            d = first + timedelta(days=k)
            midnights[k] = _us(datetime.combine(d, time(), tzinfo=self.tz))
            if k < n_days:
                noon[k] = self._offset_us(d)
        base_all = days * US_PER_DAY - noon
        base = base_all[worked]
        p_start = np.array([_period_us(a) for a, _ in self.config.periods], dtype=np.int64)
        p_end = np.array([_period_us(b) for _, b in self.config.periods], dtype=np.int64)
        starts = (base[:, None] + p_start[None, :]).ravel()
        ends = (base[:, None] + p_end[None, :]).ravel()
        lengths = ends - starts
        through = np.cumsum(lengths)
        years = range(first.year, last.year + 2)
        year_starts = np.array(
            [_us(datetime(y, 1, 1, tzinfo=self.tz)) for y in years], dtype=np.int64
        )
        uncovered = np.concatenate(
            [[0], np.cumsum([not self.config.is_covered(y) for y in years[:-1]])]
        ).astype(np.int64)
        flags = np.diff(uncovered) == 0  # covered, per year of the table
        idx = np.flatnonzero(flags)
        span: tuple[int, int] | None = None
        if idx.size == 0:
            never = int(np.iinfo(np.int64).min)
            span = (never, never)  # nothing covered: every deadline is provisional
        elif idx[-1] - idx[0] + 1 == idx.size:
            span = (int(year_starts[idx[0]]), int(year_starts[idx[-1] + 1]))
        return _Table(
            first=first,
            last=last,
            starts=starts,
            ends=ends,
            before=through - lengths,
            through=through,
            midnights=midnights,
            closes=base_all + p_end[-1],
            wcum=np.cumsum(worked, dtype=np.int64),
            year_starts=year_starts,
            uncovered=uncovered,
            covered_span=span,
        )

    def _offset_us(self, day: date) -> int:
        offset = datetime.combine(day, time(12), tzinfo=self.tz).utcoffset()
        assert offset is not None
        return offset // timedelta(microseconds=1)

    def _table_for(self, first: date, last: date) -> _Table:
        table = self._table
        if table is not None and table.first <= first and last <= table.last:
            return table
        with self._lock:
            table = self._table
            if table is None:
                lo, hi = min(first, date(2000, 1, 1)), max(last, date(2040, 12, 31))
            else:
                lo, hi = min(first, table.first), max(last, table.last)
            if table is None or lo < table.first or hi > table.last:
                table = self._build(lo, hi)
                self._table = table
            return table

    def _days_needed(self, hours: float, days: float = 0.0) -> int:
        """Calendar days that surely hold `hours` of working time and `days` working days."""
        n_week = len(self.config.weekdays)
        per_week = (
            n_week
            * sum((_period_us(b) - _period_us(a)) for a, b in self.config.periods)
            / US_PER_HOUR
        )
        if per_week <= 0:
            return 400_000
        need = max(hours / per_week, days / n_week) * 7
        return math.ceil(need * 1.5) + 60

    def _table_over(self, valid_t: npt.NDArray[np.int64], hours: float, days: float) -> _Table:
        lo_us, hi_us = int(valid_t.min()), int(valid_t.max())
        first = _EPOCH_DAY + timedelta(days=lo_us // US_PER_DAY - 2)
        last = _EPOCH_DAY + timedelta(days=hi_us // US_PER_DAY + self._days_needed(hours, days))
        return self._table_for(first, last)

    @staticmethod
    def _plus_hours(
        tab: _Table, tt: npt.NDArray[np.int64], dur: npt.NDArray[np.int64]
    ) -> npt.NDArray[np.int64]:
        i = np.searchsorted(tab.starts, tt, side="right") - 1
        i = np.maximum(i, 0)  # the table starts two days before every start
        worked = tab.before[i] + np.clip(tt - tab.starts[i], 0, tab.ends[i] - tab.starts[i])
        target = worked + dur
        k = np.searchsorted(tab.through, target, side="left")
        if np.any(k >= len(tab.starts)):  # pragma: no cover - _days_needed is generous
            raise ValueError("hours too large for the calendar")
        out = tab.starts[k] + (target - tab.before[k])
        return np.where(dur == 0, tt, out)

    @staticmethod
    def _plus_days(
        tab: _Table, tt: npt.NDArray[np.int64], n: npt.NDArray[np.int64]
    ) -> npt.NDArray[np.int64]:
        k0 = np.maximum(np.searchsorted(tab.midnights, tt, side="right") - 1, 0)
        k = np.searchsorted(tab.wcum, tab.wcum[k0] + n, side="left")
        if np.any(k >= len(tab.wcum)):  # pragma: no cover - _days_needed is generous
            raise ValueError("days too large for the calendar")
        return np.where(n == 0, tt, tab.closes[k])

    def add_working_hours_many(
        self,
        starts: npt.ArrayLike,
        hours: npt.ArrayLike,
    ) -> npt.NDArray[np.datetime64]:
        """Vectorised `add_working_hours`: UTC datetime64[us] in and out.

        `starts` is read as UTC (numpy datetimes carry no zone); `hours` is
        broadcast against it. NaT starts or NaN hours give NaT; negative or
        infinite hours raise ValueError, as the scalar form does.
        """
        t_in = np.asarray(starts).astype("datetime64[us]")
        h = np.asarray(hours, dtype=np.float64)
        t_in, h = np.broadcast_arrays(t_in, h)
        t = t_in.astype(np.int64)
        invalid = np.isnat(t_in) | np.isnan(h)
        if np.any(h[~invalid] < 0) or np.any(np.isinf(h)):
            raise ValueError("hours must be finite numbers >= 0")
        dur = np.rint(np.where(invalid, 0.0, h) * US_PER_HOUR).astype(np.int64)
        valid_t = t[~invalid]
        if valid_t.size == 0:
            return np.where(invalid, np.datetime64("NaT", "us"), t_in)
        tab = self._table_over(valid_t, float(dur.max()) / US_PER_HOUR, 0.0)
        tt = np.where(invalid, tab.starts[0], t)
        result = self._plus_hours(tab, tt, dur).astype("datetime64[us]")
        if invalid.any():
            result[invalid] = np.datetime64("NaT", "us")
        return result

    def deadline_many(
        self,
        starts: npt.ArrayLike,
        amounts: npt.ArrayLike,
        in_days: npt.ArrayLike = False,
    ) -> Deadlines:
        """Vectorised `deadline`: UTC datetime64[us] starts, limits per row.

        `amounts` are working hours, or working days where `in_days` is true
        (a bool or a mask, broadcast like `amounts`; `limit_arrays` turns
        TimeLimits into both). Returns the deadlines (NaT for a NaT start or a
        NaN amount) and the mask of provisional ones. Negative or infinite
        amounts, or fractional days, raise ValueError.
        """
        t_in = np.asarray(starts).astype("datetime64[us]")
        a = np.asarray(amounts, dtype=np.float64)
        d = np.asarray(in_days, dtype=np.bool_)
        t_in, a, d = np.broadcast_arrays(t_in, a, d)
        t = t_in.astype(np.int64)
        invalid = np.isnat(t_in) | np.isnan(a)
        ok = ~invalid
        if np.any(a[ok] < 0) or np.any(np.isinf(a)):
            raise ValueError("time limits must be finite numbers >= 0")
        amount = np.where(invalid, 0.0, a)
        if np.any(d & (amount != np.floor(amount))):
            raise ValueError("a time limit in working days is a whole number")
        valid_t = t[ok]
        if valid_t.size == 0:
            return Deadlines(
                np.full(t.shape, np.datetime64("NaT", "us")), np.zeros(t.shape, dtype=np.bool_)
            )
        max_h = float(np.max(amount, where=~d, initial=0.0))
        max_d = float(np.max(amount, where=d, initial=0.0))
        tab = self._table_over(valid_t, max_h, max_d)
        tt = np.where(invalid, tab.starts[0], t)
        if not d.any():
            out = self._plus_hours(tab, tt, np.rint(amount * US_PER_HOUR).astype(np.int64))
        elif d.all():
            out = self._plus_days(tab, tt, amount.astype(np.int64))
        else:
            out = np.empty_like(tt)
            h = ~d
            out[h] = self._plus_hours(tab, tt[h], np.rint(amount[h] * US_PER_HOUR).astype(np.int64))
            out[d] = self._plus_days(tab, tt[d], amount[d].astype(np.int64))
        provisional = self._provisional(tab, tt, out)
        at = out.astype("datetime64[us]")
        if invalid.any():
            at[invalid] = np.datetime64("NaT", "us")
            provisional[invalid] = False
        return Deadlines(at, provisional)

    def working_hours_between_many(
        self, starts: npt.ArrayLike, ends: npt.ArrayLike
    ) -> npt.NDArray[np.float64]:
        """Working hours from each start to its end (UTC datetime64 in; hours out).

        The working time inside [start, end): the same periods, holidays and
        调休 as the deadlines, so `between(start, add_working_hours(start, h))`
        is `h`. NaN where either end is NaT; 0 where the end is not after the
        start. Vectorised like `add_working_hours_many` (searchsorted, no loop).
        """
        t0_in = np.asarray(starts).astype("datetime64[us]")
        t1_in = np.asarray(ends).astype("datetime64[us]")
        t0_in, t1_in = np.broadcast_arrays(t0_in, t1_in)
        invalid = np.isnat(t0_in) | np.isnat(t1_in)
        out = np.full(t0_in.shape, np.nan)
        if invalid.all():
            return out
        t0 = t0_in.astype(np.int64)[~invalid]
        t1 = t1_in.astype(np.int64)[~invalid]
        tab = self._table_over(np.concatenate([t0, t1]), 0.0, 0.0)

        def worked(tt: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
            i = np.maximum(np.searchsorted(tab.starts, tt, side="right") - 1, 0)
            inside = np.clip(tt - tab.starts[i], 0, tab.ends[i] - tab.starts[i])
            return np.where(tt < tab.starts[0], 0, tab.before[i] + inside)

        out[~invalid] = np.maximum(worked(t1) - worked(t0), 0) / US_PER_HOUR
        return out

    @staticmethod
    def _provisional(
        tab: _Table, t0: npt.NDArray[np.int64], t1: npt.NDArray[np.int64]
    ) -> npt.NDArray[np.bool_]:
        """True where a year from t0's to t1's is not covered (t0 <= t1)."""
        if tab.covered_span is not None:  # the usual case: one run of covered years
            lo, hi = tab.covered_span
            return (t0 < lo) | (t1 >= hi)
        y0 = np.searchsorted(tab.year_starts, t0, side="right") - 1
        y1 = np.searchsorted(tab.year_starts, t1, side="right") - 1
        return (tab.uncovered[y1 + 1] - tab.uncovered[y0]) > 0


def limit_arrays(
    limits: list[TimeLimit] | tuple[TimeLimit, ...],
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
    """`(amounts, in_days)` of TimeLimits, for `deadline_many` (e.g. one per subclass)."""
    amounts = np.array([lim.amount for lim in limits], dtype=np.float64)
    in_days = np.array([lim.in_days for lim in limits], dtype=np.bool_)
    return amounts, in_days
