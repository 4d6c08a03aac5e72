"""Working time: the clock of time limits only runs in working hours.

A subclass's time limit is in working hours (CJ/T 214 style local rule): the
bureau works 08:30-12:00 and 14:30-18:00, Monday to Friday, Asia/Shanghai,
except public holidays (法定节假日), plus the weekend days worked instead
(调休上班日). All of that is configured in the `[calendar]` table of
`data/catalogue.toml`.

Two implementations with the same results:
- `add_working_hours` walks the days one by one: a plain reference for one
  datetime (API intake);
- `add_working_hours_many` answers millions at once (bulk loading): the
  working intervals over a range of days are laid out once as UTC microsecond
  arrays with their cumulative working time, and every start is answered with
  two `np.searchsorted` calls, no Python loop per row.

Conventions: adding 0 hours returns the start as is; a deadline that ends
exactly at the close of a working period is that close (Friday 16:00 + 2 h is
Friday 18:00, not Monday 08:30).
"""

from __future__ import annotations

import itertools
import math
import re
import threading
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import numpy.typing as npt

from cases.tomlfile import load_cached
from gis.settings import get_settings

US_PER_HOUR = 3_600_000_000
_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_PERIOD = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])-([01][0-9]|2[0-4]):([0-5][0-9])$")
_EPOCH_DAY = date(1970, 1, 1)


class CalendarError(ValueError):
    """A calendar configuration that cannot be used; the message says why."""


@dataclass(frozen=True)
class CalendarConfig:
    """What makes a working day: weekdays (0 = Monday), periods, exceptions."""

    timezone: str = "Asia/Shanghai"
    weekdays: frozenset[int] = frozenset(range(5))
    periods: tuple[tuple[time, time], ...] = ((time(8, 30), time(12)), (time(14, 30), time(18)))
    holidays: frozenset[date] = frozenset()
    workdays: frozenset[date] = frozenset()

    def is_workday(self, day: date) -> bool:
        """True when `day` is worked: a make-up day, or a usual weekday that is no holiday."""
        if day in self.workdays:
            return True
        return day.weekday() in self.weekdays and day not in self.holidays


def _as_date(value: Any, what: str) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise CalendarError(f"calendar {what}: {value!r} is not a date (write 2026-10-01)")


def _parse_period(text: Any) -> tuple[time, time]:
    m = _PERIOD.fullmatch(text) if isinstance(text, str) else None
    if m is None:
        raise CalendarError(f"calendar periods: {text!r} is not like '08:30-12:00'")
    start = time(int(m[1]), int(m[2]))
    end = time.max if m[3] == "24" else time(int(m[3]), int(m[4]))
    if m[3] == "24" and m[4] != "00":
        raise CalendarError(f"calendar periods: {text!r} ends after 24:00")
    if end <= start:
        raise CalendarError(f"calendar periods: {text!r} ends before it starts")
    return start, end


def config_from_dict(raw: dict[str, Any]) -> CalendarConfig:
    """Build a CalendarConfig from the `[calendar]` table (defaults for what is missing)."""
    unknown = set(raw) - {"timezone", "weekdays", "periods", "holidays", "workdays"}
    if unknown:
        raise CalendarError(f"calendar: unknown keys {sorted(unknown)}")
    default = CalendarConfig()
    tz = raw.get("timezone", default.timezone)
    try:
        ZoneInfo(str(tz))
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise CalendarError(f"calendar timezone: unknown time zone {tz!r}") from exc
    weekdays = default.weekdays
    if "weekdays" in raw:
        names = [str(w).strip().lower()[:3] for w in raw["weekdays"]]
        bad = [n for n in names if n not in _WEEKDAYS]
        if bad or not names:
            raise CalendarError(f"calendar weekdays: use names among {_WEEKDAYS}, got {bad}")
        weekdays = frozenset(_WEEKDAYS.index(n) for n in names)
    periods = default.periods
    if "periods" in raw:
        periods = tuple(sorted(_parse_period(p) for p in raw["periods"]))
        if not periods:
            raise CalendarError("calendar periods: at least one working period is needed")
        for (_, end), (start, _) in itertools.pairwise(periods):
            if start < end:
                raise CalendarError("calendar periods: periods overlap")
    holidays = frozenset(_as_date(d, "holidays") for d in raw.get("holidays", ()))
    workdays = frozenset(_as_date(d, "workdays") for d in raw.get("workdays", ()))
    both = holidays & workdays
    if both:
        raise CalendarError(f"calendar: {min(both)} is both a holiday and a workday")
    return CalendarConfig(
        timezone=str(tz), weekdays=weekdays, periods=periods, holidays=holidays, workdays=workdays
    )


@dataclass
class _Table:
    """Working intervals [start, end) in UTC microseconds over days [first, last]."""

    first: date
    last: date
    starts: npt.NDArray[np.int64]
    ends: npt.NDArray[np.int64]
    before: npt.NDArray[np.int64]  # working µs before each interval
    through: npt.NDArray[np.int64]  # working µs up to each interval's end


def _us(dt: datetime) -> int:
    """Microseconds since the Unix epoch (UTC) of an aware datetime, exactly."""
    delta = dt - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _period_us(t: time) -> int:
    if t == time.max:
        return 86_400_000_000
    return ((t.hour * 60 + t.minute) * 60 + t.second) * 1_000_000 + t.microsecond


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

    def add_working_hours(self, start: datetime, hours: float) -> datetime:
        """`start` plus `hours` of working time (aware in, aware out, in start's zone)."""
        if start.tzinfo is None or start.utcoffset() is None:
            raise ValueError("start must be timezone-aware")
        remaining = _hours_to_us(hours)
        if remaining == 0:
            return start
        local = start.astimezone(self.tz)
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
        wdays = days[worked]
        # UTC offset of each worked day at local noon (no zone moves its clocks
        # inside office hours; Asia/Shanghai has kept +08:00 since 1991).
        offsets = np.fromiter(
            (self._offset_us(_EPOCH_DAY + timedelta(days=int(d))) for d in wdays),
            dtype=np.int64,
            count=len(wdays),
        )
        base = wdays * 86_400_000_000 - offsets
        p_start = np.array([_period_us(a) for a, _ in self.config.periods], dtype=np.int64)
        p_end = np.array([_period_us(b) for _, b in self.config.periods], dtype=np.int64)
        starts = (base[:, None] + p_start[None, :]).ravel()
        ends = (base[:, None] + p_end[None, :]).ravel()
        lengths = ends - starts
        through = np.cumsum(lengths)
        return _Table(first, last, starts, ends, through - lengths, through)

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

    def _days_needed(self, hours: float) -> int:
        """Calendar days that surely hold `hours` of working time (with holidays)."""
        per_week = (
            len(self.config.weekdays)
            * sum((_period_us(b) - _period_us(a)) for a, b in self.config.periods)
            / US_PER_HOUR
        )
        if per_week <= 0:
            return 400_000
        return math.ceil(hours / per_week * 7 * 1.5) + 60

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
        lo_us, hi_us = int(valid_t.min()), int(valid_t.max())
        first = _EPOCH_DAY + timedelta(days=lo_us // 86_400_000_000 - 2)
        last = _EPOCH_DAY + timedelta(
            days=hi_us // 86_400_000_000 + self._days_needed(float(dur.max()) / US_PER_HOUR)
        )
        tab = self._table_for(first, last)
        tt = np.where(invalid, tab.starts[0], t)
        i = np.searchsorted(tab.starts, tt, side="right") - 1
        i = np.maximum(i, 0)  # the table starts two days before every start
        worked = tab.before[i] + np.clip(tt - tab.starts[i], 0, tab.ends[i] - tab.starts[i])
        target = worked + dur
        k = np.searchsorted(tab.through, target, side="left")
        if np.any(k >= len(tab.starts)):  # pragma: no cover - _days_needed is generous
            raise ValueError("hours too large for the calendar")
        out = tab.starts[k] + (target - tab.before[k])
        out = np.where(dur == 0, tt, out)
        result = out.astype("datetime64[us]")
        if invalid.any():
            result[invalid] = np.datetime64("NaT", "us")
        return result


def _hours_to_us(hours: float) -> int:
    h = float(hours)
    if not math.isfinite(h) or h < 0:
        raise ValueError("hours must be a finite number >= 0")
    return round(h * US_PER_HOUR)


def _parse_calendar(raw: dict[str, Any], path: Path) -> WorkCalendar:
    table = raw.get("calendar", {})
    if not isinstance(table, dict):
        raise CalendarError(f"{path}: [calendar] must be a table")
    try:
        return WorkCalendar(config_from_dict(table))
    except CalendarError as exc:
        raise CalendarError(f"{path}: {exc}") from None


def load_calendar(path: Path | None = None) -> WorkCalendar:
    """The calendar of the `[calendar]` table of the catalogue file (cached per file)."""
    path = path or get_settings().data_dir / "catalogue.toml"
    return load_cached(path, _parse_calendar, CalendarError, "calendar")


def add_working_hours(
    start: datetime, hours: float, calendar: WorkCalendar | None = None
) -> datetime:
    """`start` plus `hours` working hours, by the bureau's calendar (aware in and out)."""
    return (calendar or load_calendar()).add_working_hours(start, hours)


def add_working_hours_many(
    starts: npt.ArrayLike,
    hours: npt.ArrayLike,
    calendar: WorkCalendar | None = None,
) -> npt.NDArray[np.datetime64]:
    """Vectorised `add_working_hours` over UTC datetime64[us] arrays (about 1M rows/s+)."""
    return (calendar or load_calendar()).add_working_hours_many(starts, hours)
