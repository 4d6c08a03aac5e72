"""The report's month: a whole month that has ended (Asia/Shanghai).

A monthly meeting (月度例会) reviews a finished month, so the month in
progress is refused as well as a month in the future (and months before
2000): its figures would change under the meeting's feet, and the cases
due at its end would count as not closed. `YYYY-MM` is read by
cases.ledgers.month, the one reader of months.
"""

from __future__ import annotations

from datetime import UTC, datetime

from cases.errors import InvalidInput
from cases.ledgers.month import MalformedMonth, Month, month_of, parse_month

__all__ = ["MalformedMonth", "Month", "month_before", "parse_report_month", "year_before"]


def month_before(month: Month, months: int = 1) -> Month:
    """The month `months` before `month`."""
    index = month.year * 12 + month.number - 1 - months
    return Month(index // 12, index % 12 + 1)


def year_before(month: Month) -> Month:
    """The same month a year earlier."""
    return Month(month.year - 1, month.number)


def parse_report_month(text: str, now: datetime | None = None) -> Month:
    """`YYYY-MM` of a month that has ended. MalformedMonth when the text is no
    month; InvalidInput (field `month`) for a month not over yet."""
    now = now or datetime.now(UTC)
    month = parse_month(text, now)
    if month.end > now:
        last = month_before(month_of(now))
        raise InvalidInput(
            f"{month.label} has not ended yet: a monthly report covers a whole month; "
            f"the latest is {last.label}",
            field="month",
        )
    return month
