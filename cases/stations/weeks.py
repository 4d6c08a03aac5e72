"""Duty weeks: ISO weeks (`YYYY-Www`), Monday 00:00 to the next Monday 00:00 in
Asia/Shanghai, the bureau's time zone (China keeps no daylight saving time, so
every week is 168 hours).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from cases.errors import InvalidInput

LOCAL_TZ = ZoneInfo("Asia/Shanghai")
EARLIEST_YEAR = 2000
_WEEK = re.compile(r"(\d{4})-W(\d{2})")


@dataclass(frozen=True)
class Week:
    """One ISO week in the bureau's time zone."""

    year: int
    number: int

    @property
    def label(self) -> str:
        """`YYYY-Www`, e.g. 2019-W10."""
        return f"{self.year:04d}-W{self.number:02d}"

    @property
    def monday(self) -> date:
        """The week's first day."""
        return date.fromisocalendar(self.year, self.number, 1)

    @property
    def sunday(self) -> date:
        """The week's last day."""
        return self.monday + timedelta(days=6)

    @property
    def start(self) -> datetime:
        """Monday 00:00, Asia/Shanghai (inclusive)."""
        return datetime.combine(self.monday, time(0), LOCAL_TZ)

    @property
    def end(self) -> datetime:
        """The next Monday 00:00, Asia/Shanghai (exclusive)."""
        return datetime.combine(self.monday + timedelta(days=7), time(0), LOCAL_TZ)


def week_of(at: datetime) -> Week:
    """The week that contains the instant `at` (local time decides)."""
    year, number, _ = at.astimezone(LOCAL_TZ).isocalendar()
    return Week(year, number)


def parse_week(text: str, now: datetime | None = None) -> Week:
    """Read `YYYY-Www`. InvalidInput (field `week`) when it is malformed, names a
    week its year does not have (W53 only in long years), lies before 2000, or
    starts after `now` (a week in the future has no duty to measure yet)."""
    match = _WEEK.fullmatch(text.strip()) if isinstance(text, str) else None
    if match is None:
        raise InvalidInput(
            f"{str(text)[:40]!r} is not an ISO week; write YYYY-Www, e.g. 2019-W10", field="week"
        )
    year, number = int(match[1]), int(match[2])
    try:
        date.fromisocalendar(year, number, 1)
    except ValueError:
        raise InvalidInput(f"{year} has no ISO week {number}", field="week") from None
    if year < EARLIEST_YEAR:
        raise InvalidInput(f"weeks before {EARLIEST_YEAR} are not kept", field="week")
    week = Week(year, number)
    now = now or datetime.now(UTC)
    if week.start > now:
        raise InvalidInput(
            f"{week.label} starts on {week.monday.isoformat()}, in the future; "
            f"the latest week is {week_of(now).label}",
            field="week",
        )
    return week
