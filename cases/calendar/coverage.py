"""Which years the calendar knows, and the warning when this or next year is missing.

The State Council publishes each year's holidays and 调休 around November;
until the library or `data/holidays.toml` has them, deadlines in that year
are counted on weekdays and marked provisional. `warnings_for` is what
`grid calendar check` prints and what the API logs at start-up.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from cases.calendar.clock import WorkCalendar
from cases.calendar.config import WEEKDAYS

log = logging.getLogger("cases.calendar")


def year_ranges(years: frozenset[int] | set[int]) -> str:
    """Years as short ranges, e.g. `2001-2026, 2028` (`none` when empty)."""
    if not years:
        return "none"
    ordered = sorted(years)
    parts: list[str] = []
    lo = prev = ordered[0]
    for y in [*ordered[1:], None]:
        if y is not None and y == prev + 1:
            prev = y
            continue
        parts.append(str(lo) if lo == prev else f"{lo}-{prev}")
        if y is not None:
            lo = prev = y
    return ", ".join(parts)


@dataclass(frozen=True)
class Coverage:
    """What the calendar knows, for `grid calendar check` (JSON-ready by `as_dict`)."""

    timezone: str
    weekdays: tuple[str, ...]
    periods: tuple[str, ...]
    library_version: str | None
    library_years: tuple[int, ...]
    complete_years: tuple[int, ...]
    covered_years: tuple[int, ...]
    table_days: dict[int, tuple[int, int]]  # year -> (holidays, workdays) in the table
    today: date
    warnings: tuple[str, ...]

    def as_dict(self) -> dict[str, object]:
        """A JSON-ready view (dates as ISO text)."""
        return {
            "timezone": self.timezone,
            "weekdays": list(self.weekdays),
            "periods": list(self.periods),
            "library": {"name": "holidays", "version": self.library_version}
            if self.library_version
            else None,
            "library_years": list(self.library_years),
            "complete_years": list(self.complete_years),
            "covered_years": list(self.covered_years),
            "table_days": {
                str(y): {"holidays": h, "workdays": w} for y, (h, w) in self.table_days.items()
            },
            "today": self.today.isoformat(),
            "warnings": list(self.warnings),
        }


def _today(calendar: WorkCalendar) -> date:
    return datetime.now(ZoneInfo(calendar.config.timezone)).date()


def warnings_for(calendar: WorkCalendar, today: date | None = None) -> list[str]:
    """One line per year among this one and the next that the calendar does not cover.

    Empty when both are covered. `today` defaults to today in the calendar's zone.
    """
    cfg = calendar.config
    today = today or _today(calendar)
    found: list[str] = []
    for year, which in ((today.year, "this year"), (today.year + 1, "next year")):
        if cfg.is_covered(year):
            continue
        partial = sum(1 for d in cfg.table_holidays | cfg.table_workdays if d.year == year)
        has = f" (the table has {partial} days of it, not declared complete)" if partial else ""
        found.append(
            f"calendar: {year} ({which}) is not covered: neither the holidays library nor "
            f"data/holidays.toml has its public holidays and 调休{has}; deadlines that reach "
            f"into {year} are counted on weekdays only and marked provisional. Enter the State "
            f"Council's notice for {year} in data/holidays.toml (holidays, workdays, and "
            f"{year} in complete_years), or upgrade the holidays library."
        )
    return found


def coverage(calendar: WorkCalendar, today: date | None = None) -> Coverage:
    """What `calendar` covers, with the warnings for `today`'s year and the next."""
    cfg = calendar.config
    today = today or _today(calendar)
    table: dict[int, list[int]] = {}
    for d in cfg.table_holidays:
        table.setdefault(d.year, [0, 0])[0] += 1
    for d in cfg.table_workdays:
        table.setdefault(d.year, [0, 0])[1] += 1
    return Coverage(
        timezone=cfg.timezone,
        weekdays=tuple(WEEKDAYS[i] for i in sorted(cfg.weekdays)),
        periods=tuple(
            f"{a:%H:%M}-{'24:00' if b == time.max else f'{b:%H:%M}'}" for a, b in cfg.periods
        ),
        library_version=cfg.library_version,
        library_years=tuple(sorted(cfg.library_years)),
        complete_years=tuple(sorted(cfg.complete_years)),
        covered_years=tuple(sorted(cfg.covered_years)),
        table_days={y: (h, w) for y, (h, w) in sorted(table.items())},
        today=today,
        warnings=tuple(warnings_for(calendar, today)),
    )


def log_warnings(calendar: WorkCalendar, today: date | None = None) -> list[str]:
    """Log each warning of `warnings_for` (logger `cases.calendar`); returns them."""
    found = warnings_for(calendar, today)
    for line in found:
        log.warning(line)
    return found
