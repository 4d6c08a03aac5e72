"""What makes a working day and a working hour, and where that comes from.

Two sources, merged once when the calendar is loaded:
- the maintained library `holidays` (`holidays.China`): the public holidays
  (法定节假日) and the weekend days worked instead (调休上班日) of every year
  whose State Council notice it carries (its `special_public_holidays`;
  2001-2026 in version 0.109);
- the bureau's table `data/holidays.toml`: its own holidays and workdays win
  over the library (local days, corrections), and `complete_years` declares
  years whose whole notice it holds (a year the library does not know yet).

A year is *covered* when either source knows its 调休. In a year that is not
covered only the ordinary weekdays and the table's own days count, and every
deadline that reaches into it is provisional (see `WorkCalendar.deadline`).
The library's rule-computed holidays of such a year are not used: without the
notice they are half a calendar (no bridge days, no make-up Saturdays).
"""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass
from datetime import date, datetime, time
from functools import lru_cache
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_PERIOD = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])-([01][0-9]|2[0-4]):([0-5][0-9])$")
_KEYS = {
    "timezone",
    "weekdays",
    "periods",
    "holidays",
    "workdays",
    "library",
    "complete_years",
}
MAX_DAYS = 3_650  # a time limit in working days above this is a mistake
MAX_HOURS = 100_000.0


class CalendarError(ValueError):
    """A calendar configuration that cannot be used; the message says why."""


@dataclass(frozen=True)
class TimeLimit:
    """A time limit in working time: `amount` working hours, or working days.

    A limit in working days ends at the close of the Nth working day after
    the day it starts (the start day itself is not counted, as 民法典 art. 201
    counts periods in days); 0 of either is the start itself.
    """

    amount: float
    unit: Literal["hours", "days"] = "hours"

    def __post_init__(self) -> None:
        if self.unit not in ("hours", "days"):
            raise ValueError(f"a time limit is in 'hours' or 'days', not {self.unit!r}")
        a = self.amount
        if isinstance(a, bool) or not isinstance(a, int | float) or not math.isfinite(a) or a < 0:
            raise ValueError(f"a time limit is a finite number >= 0, not {a!r}")
        if self.unit == "days" and (a != int(a) or a > MAX_DAYS):
            raise ValueError(f"a time limit in working days is a whole number <= {MAX_DAYS}")
        if self.unit == "hours" and a > MAX_HOURS:
            raise ValueError(f"a time limit in working hours is at most {MAX_HOURS:g}")

    @classmethod
    def hours(cls, amount: float) -> TimeLimit:
        """A limit of `amount` working hours."""
        return cls(float(amount), "hours")

    @classmethod
    def days(cls, amount: int) -> TimeLimit:
        """A limit of `amount` working days (ends at the close of the last one)."""
        return cls(amount, "days")

    @classmethod
    def from_fields(cls, hours: float | None, days: int | None) -> TimeLimit | None:
        """The limit of a `*_hours` / `*_days` pair of fields (at most one given)."""
        if hours is not None and days is not None:
            raise ValueError("give a limit in hours or in days, not both")
        if hours is not None:
            return cls.hours(hours)
        if days is not None:
            return cls.days(days)
        return None

    @property
    def in_days(self) -> bool:
        """True for a limit in working days."""
        return self.unit == "days"

    def describe(self) -> str:
        """The limit as residents and staff read it, e.g. `4 个工作小时`, `5 个工作日`."""
        word = "工作日" if self.in_days else "工作小时"
        return f"{self.amount:g} 个{word}"


@dataclass(frozen=True)
class CalendarConfig:
    """What makes a working day: weekdays (0 = Monday), periods, exceptions.

    `holidays` and `workdays` are the merged exceptions (library, then the
    table on top); `library_years` are the years whose 调休 came from the
    library and `complete_years` those the table declares complete.
    `table_holidays` / `table_workdays` keep the table's own entries, for
    reporting.
    """

    timezone: str = "Asia/Shanghai"
    weekdays: frozenset[int] = frozenset(range(5))
    periods: tuple[tuple[time, time], ...] = ((time(8, 30), time(12)), (time(14, 30), time(18)))
    holidays: frozenset[date] = frozenset()
    workdays: frozenset[date] = frozenset()
    library_years: frozenset[int] = frozenset()
    complete_years: frozenset[int] = frozenset()
    table_holidays: frozenset[date] = frozenset()
    table_workdays: frozenset[date] = frozenset()
    library_version: str | None = None

    def is_workday(self, day: date) -> bool:
        """True when `day` is worked: a make-up day, or a usual weekday that is no holiday."""
        if day in self.workdays:
            return True
        return day.weekday() in self.weekdays and day not in self.holidays

    @property
    def covered_years(self) -> frozenset[int]:
        """Years whose holidays and 调休 are known (library or table)."""
        return self.library_years | self.complete_years

    def is_covered(self, year: int) -> bool:
        """True when `year`'s working days are known, not guessed from weekdays."""
        return year in self.library_years or year in self.complete_years


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


def _as_list(raw: dict[str, Any], key: str) -> list[Any]:
    value = raw.get(key, [])
    if not isinstance(value, list):
        raise CalendarError(f"calendar {key}: a list is needed, got {value!r}")
    return value


def _years(raw: dict[str, Any]) -> frozenset[int]:
    years = _as_list(raw, "complete_years")
    bad = [
        y for y in years if isinstance(y, bool) or not isinstance(y, int) or not 1950 <= y <= 2200
    ]
    if bad:
        raise CalendarError(f"calendar complete_years: {bad[0]!r} is not a year like 2027")
    return frozenset(years)


@lru_cache(maxsize=1)
def china_library() -> tuple[frozenset[int], frozenset[date], frozenset[date], str]:
    """What `holidays.China` knows: (years with 调休, holidays, weekend workdays, version).

    The holidays and workdays are those of the years with 调休 only; cached
    (the library is fixed for the life of the process).
    """
    import holidays as lib

    known = frozenset(y for y, days in lib.China().special_public_holidays.items() if days)
    china = lib.China(years=sorted(known))
    off = frozenset(d for d in china if d.year in known)
    on = frozenset(d for d in china.weekend_workdays if d.year in known)
    return known, off, on, str(lib.__version__)


def config_from_dict(raw: dict[str, Any]) -> CalendarConfig:
    """Build a CalendarConfig from the `[calendar]` table (defaults for what is missing).

    Keys: timezone, weekdays, periods, library (default true: merge
    `holidays.China`), holidays / workdays (the table's days, which win over
    the library), complete_years (years the table holds completely).
    """
    unknown = set(raw) - _KEYS
    if unknown:
        raise CalendarError(f"calendar: unknown keys {sorted(unknown)} (known: {sorted(_KEYS)})")
    default = CalendarConfig()
    tz = raw.get("timezone", default.timezone)
    try:
        ZoneInfo(str(tz))
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise CalendarError(f"calendar timezone: unknown time zone {tz!r}") from exc
    weekdays = default.weekdays
    if "weekdays" in raw:
        names = [str(w).strip().lower()[:3] for w in _as_list(raw, "weekdays")]
        bad = [n for n in names if n not in WEEKDAYS]
        if bad or not names:
            raise CalendarError(f"calendar weekdays: use names among {WEEKDAYS}, got {bad}")
        weekdays = frozenset(WEEKDAYS.index(n) for n in names)
    periods = default.periods
    if "periods" in raw:
        periods = tuple(sorted(_parse_period(p) for p in _as_list(raw, "periods")))
        if not periods:
            raise CalendarError("calendar periods: at least one working period is needed")
        for (_, end), (start, _) in itertools.pairwise(periods):
            if start < end:
                raise CalendarError("calendar periods: periods overlap")
    own_off = frozenset(_as_date(d, "holidays") for d in _as_list(raw, "holidays"))
    own_on = frozenset(_as_date(d, "workdays") for d in _as_list(raw, "workdays"))
    both = own_off & own_on
    if both:
        raise CalendarError(f"calendar: {min(both)} is both a holiday and a workday")
    use_library = raw.get("library", True)
    if not isinstance(use_library, bool):
        raise CalendarError(f"calendar library: true or false, not {use_library!r}")
    lib_years: frozenset[int] = frozenset()
    lib_off: frozenset[date] = frozenset()
    lib_on: frozenset[date] = frozenset()
    version: str | None = None
    if use_library:
        lib_years, lib_off, lib_on, version = china_library()
    return CalendarConfig(
        timezone=str(tz),
        weekdays=weekdays,
        periods=periods,
        holidays=(lib_off - own_on) | own_off,
        workdays=(lib_on - own_off) | own_on,
        library_years=lib_years,
        complete_years=_years(raw),
        table_holidays=own_off,
        table_workdays=own_on,
        library_version=version,
    )
