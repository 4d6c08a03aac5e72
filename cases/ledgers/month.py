"""Ledger months: `YYYY-MM`, from the first day 00:00 to the next month's first
day 00:00 in Asia/Shanghai (the bureau's time zone, as duty weeks are).

The month in progress is allowed (its ledgers so far); a month that has not
started is refused, as are months before 2000.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time

from cases.errors import InvalidInput
from cases.stations.weeks import LOCAL_TZ

EARLIEST_YEAR = 2000
MONTH_PATTERN = re.compile(r"(\d{4})-(\d{2})")


class MalformedMonth(InvalidInput):
    """The text is not a month at all (the CLI's usage error, exit 2)."""


@dataclass(frozen=True)
class Month:
    """One calendar month in the bureau's time zone."""

    year: int
    number: int

    @property
    def label(self) -> str:
        """`YYYY-MM`, e.g. 2018-03."""
        return f"{self.year:04d}-{self.number:02d}"

    @property
    def title(self) -> str:
        """For people: 2018年3月."""
        return f"{self.year}年{self.number}月"

    @property
    def first_day(self) -> date:
        """The month's first day."""
        return date(self.year, self.number, 1)

    @property
    def next_first_day(self) -> date:
        """The first day of the next month."""
        if self.number == 12:
            return date(self.year + 1, 1, 1)
        return date(self.year, self.number + 1, 1)

    @property
    def start(self) -> datetime:
        """The first day 00:00, Asia/Shanghai (inclusive)."""
        return datetime.combine(self.first_day, time(0), LOCAL_TZ)

    @property
    def end(self) -> datetime:
        """The next month's first day 00:00, Asia/Shanghai (exclusive)."""
        return datetime.combine(self.next_first_day, time(0), LOCAL_TZ)

    def as_of(self, now: datetime | None = None) -> datetime:
        """The moment the month's state is read at: its end, or now for the month in progress."""
        now = now or datetime.now(UTC)
        return min(self.end, now)


def month_of(at: datetime) -> Month:
    """The month that contains the instant `at` (local time decides)."""
    local = at.astimezone(LOCAL_TZ)
    return Month(local.year, local.month)


def parse_month(text: str, now: datetime | None = None) -> Month:
    """Read `YYYY-MM`. MalformedMonth (field `month`) when it is not one;
    InvalidInput when it lies before 2000 or has not started yet (a month in
    the future has no ledger)."""
    match = MONTH_PATTERN.fullmatch(text.strip()) if isinstance(text, str) else None
    if match is None or not 1 <= int(match[2]) <= 12:
        raise MalformedMonth(
            f"{str(text)[:40]!r} is not a month; write YYYY-MM, e.g. 2018-03", field="month"
        )
    month = Month(int(match[1]), int(match[2]))
    if month.year < EARLIEST_YEAR:
        raise InvalidInput(f"months before {EARLIEST_YEAR} are not kept", field="month")
    now = now or datetime.now(UTC)
    if month.start > now:
        raise InvalidInput(
            f"{month.label} has not started yet; the latest month is {month_of(now).label}",
            field="month",
        )
    return month
