"""Working time: the clock of time limits only runs in working hours.

A subclass's time limits (handling, and the reply to the resident, 答复) are
in working hours or working days (CJ/T 214 style local rules). The bureau
works 08:30-12:00 and 14:30-18:00, Monday to Friday, Asia/Shanghai, except
public holidays (法定节假日), plus the weekend days worked instead (调休上班日).
That is configured in `data/holidays.toml` (table `[calendar]`): the hours
and zone, and the bureau's own days on top of the maintained library
`holidays` (see `cases.calendar.config`).

- `load_calendar()` the bureau's calendar (cached; re-read when the file changes);
- `deadline(start, limit)` -> `Deadline(at, provisional)`; `deadline_many`
  the same for arrays (bulk), with a provisional mask;
- `handling_deadline` (from dispatch, 派遣) and `reply_deadline` (from receipt)
  for a catalogue subclass: the two clocks of the workflow;
- `add_working_hours`, `add_working_hours_many`: the plain forms, no flag;
- `working_hours_between_many`: working hours between two instants (indicators);
- `calendar_warnings(today)`: the lines to log at start-up when this or next
  year is not covered (`grid calendar check` prints them too).

Modules: `config` (sources, TimeLimit), `clock` (WorkCalendar, scalar and
vectorised), `coverage` (which years are known, warnings).
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from cases.calendar.clock import Deadline, Deadlines, WorkCalendar, limit_arrays
from cases.calendar.config import (
    CalendarConfig,
    CalendarError,
    TimeLimit,
    config_from_dict,
)
from cases.calendar.coverage import Coverage, coverage, log_warnings, warnings_for
from cases.tomlfile import load_cached
from gis.settings import get_settings

__all__ = [
    "CALENDAR_FILE",
    "CalendarConfig",
    "CalendarError",
    "Coverage",
    "Deadline",
    "Deadlines",
    "TimeLimit",
    "WorkCalendar",
    "add_working_hours",
    "add_working_hours_many",
    "calendar_coverage",
    "calendar_path",
    "calendar_warnings",
    "config_from_dict",
    "deadline",
    "deadline_many",
    "handling_deadline",
    "limit_arrays",
    "load_calendar",
    "log_calendar_warnings",
    "reply_deadline",
    "working_hours_between_many",
]

CALENDAR_FILE = "holidays.toml"
_CATALOGUE_FILE = "catalogue.toml"


class HasTimeLimit(Protocol):
    """Anything with a handling time limit (a catalogue Subclass)."""

    @property
    def time_limit(self) -> TimeLimit:
        """The limit from dispatch to closure."""
        ...


class HasReplyLimit(Protocol):
    """Anything with a reply time limit (a catalogue Subclass)."""

    @property
    def reply_limit(self) -> TimeLimit:
        """The limit from receipt to the reply to the resident."""
        ...


def calendar_path(path: Path | None = None) -> Path:
    """The calendar file: `path`, or `<data_dir>/holidays.toml` when None.

    A directory means its `holidays.toml`; so does a path to the catalogue
    (`catalogue.toml`), as callers passed before the calendar had a file of
    its own.
    """
    if path is None:
        return get_settings().data_dir / CALENDAR_FILE
    if path.is_dir():
        return path / CALENDAR_FILE
    if path.name == _CATALOGUE_FILE:
        return path.with_name(CALENDAR_FILE)
    return path


def _parse_calendar(raw: dict[str, Any], path: Path) -> WorkCalendar:
    unknown = set(raw) - {"calendar"}
    if unknown:
        raise CalendarError(f"{path}: unknown tables {sorted(unknown)} (only [calendar])")
    table = raw.get("calendar", {})
    if not isinstance(table, dict):
        raise CalendarError(f"{path}: [calendar] must be a table")
    try:
        return WorkCalendar(config_from_dict(table))
    except CalendarError as exc:
        raise CalendarError(f"{path}: {exc}") from None


def load_calendar(path: Path | None = None) -> WorkCalendar:
    """The bureau's calendar from `data/holidays.toml` (see `calendar_path`; cached per file)."""
    return load_cached(calendar_path(path), _parse_calendar, CalendarError, "calendar")


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


def working_hours_between_many(
    starts: npt.ArrayLike,
    ends: npt.ArrayLike,
    calendar: WorkCalendar | None = None,
) -> npt.NDArray[np.float64]:
    """Working hours from each start to its end (UTC datetime64 arrays; NaN for NaT)."""
    return (calendar or load_calendar()).working_hours_between_many(starts, ends)


def deadline(
    start: datetime, limit: TimeLimit | float, calendar: WorkCalendar | None = None
) -> Deadline:
    """When `limit` (TimeLimit, or working hours) from `start` ends, and if it is provisional."""
    return (calendar or load_calendar()).deadline(start, limit)


def deadline_many(
    starts: npt.ArrayLike,
    amounts: npt.ArrayLike,
    in_days: npt.ArrayLike = False,
    calendar: WorkCalendar | None = None,
) -> Deadlines:
    """Vectorised `deadline` (see `WorkCalendar.deadline_many`): deadlines and provisional mask."""
    return (calendar or load_calendar()).deadline_many(starts, amounts, in_days)


def handling_deadline(
    dispatched_at: datetime,
    limit: TimeLimit | HasTimeLimit,
    calendar: WorkCalendar | None = None,
) -> Deadline:
    """When a case must be handled: its subclass's time limit from dispatch (派遣)."""
    lim = limit if isinstance(limit, TimeLimit) else limit.time_limit
    return (calendar or load_calendar()).deadline(dispatched_at, lim)


def reply_deadline(
    received_at: datetime,
    limit: TimeLimit | HasReplyLimit,
    calendar: WorkCalendar | None = None,
) -> Deadline:
    """When the resident must have a reply (答复): the subclass's reply limit from receipt.

    The reply clock starts when the complaint is received (the case is
    created), not at dispatch: the resident waits from the moment they asked.
    The limit is the subclass's `reply_limit` (catalogue `reply_limit_hours`
    or `reply_limit_days`, else the catalogue's default, else 5 working days).
    """
    lim = limit if isinstance(limit, TimeLimit) else limit.reply_limit
    return (calendar or load_calendar()).deadline(received_at, lim)


def calendar_coverage(today: date | None = None, calendar: WorkCalendar | None = None) -> Coverage:
    """Which years the calendar covers (library and table), with the warnings for `today`."""
    return coverage(calendar or load_calendar(), today)


def calendar_warnings(today: date | None = None, calendar: WorkCalendar | None = None) -> list[str]:
    """A line per year (this one, the next) that the calendar does not cover; [] when fine.

    For the API's start-up: log each line as a warning (`log_calendar_warnings`).
    """
    return warnings_for(calendar or load_calendar(), today)


def log_calendar_warnings(
    today: date | None = None, calendar: WorkCalendar | None = None
) -> list[str]:
    """Log `calendar_warnings` on the `cases.calendar` logger; returns them."""
    return log_warnings(calendar or load_calendar(), today)
