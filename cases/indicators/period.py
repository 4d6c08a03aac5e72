"""The period of indicators: calendar days [from, to], both included, in Asia/Shanghai.

`from` defaults to the first day of `to`'s month and `to` to today (local).
Refused, with the field named: text that is not a date (YYYY-MM-DD), `from`
after `to`, a day before 2000, `to` after today (figures of days still to
come would count cases due then as not closed), and a period longer than
three years. A period that includes today gives the figures as of now.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from cases.errors import InvalidInput

LOCAL_TZ = ZoneInfo("Asia/Shanghai")
EARLIEST = date(2000, 1, 1)
MAX_DAYS = 3 * 366


@dataclass(frozen=True)
class Period:
    """Days `first` to `last`, both included; instants [start, end) in Asia/Shanghai."""

    first: date
    last: date

    @property
    def start(self) -> datetime:
        """The first day 00:00, Asia/Shanghai (inclusive)."""
        return datetime.combine(self.first, time(0), LOCAL_TZ)

    @property
    def end(self) -> datetime:
        """The day after the last, 00:00, Asia/Shanghai (exclusive)."""
        return datetime.combine(self.last + timedelta(days=1), time(0), LOCAL_TZ)

    @property
    def days(self) -> int:
        """How many days."""
        return (self.last - self.first).days + 1

    def as_dict(self) -> dict[str, str]:
        """JSON-ready: from, to, timezone."""
        return {
            "from": self.first.isoformat(),
            "to": self.last.isoformat(),
            "timezone": str(LOCAL_TZ),
        }


def today_local(now: datetime | None = None) -> date:
    """Today in Asia/Shanghai."""
    return (now or datetime.now(UTC)).astimezone(LOCAL_TZ).date()


def _day(value: object, field: str) -> date | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        raise InvalidInput(f"{field} is a calendar day, e.g. 2016-05-31", field=field)
    if isinstance(value, date):
        return value
    if not isinstance(value, str):
        raise InvalidInput(f"{field} must be a date as YYYY-MM-DD", field=field)
    text = value.strip()
    if not text:
        return None
    try:
        if len(text) != 10:
            raise ValueError(text)
        return date.fromisoformat(text)
    except ValueError:
        shown = text[:40].replace("\x00", "")
        raise InvalidInput(
            f"{field} must be a date as YYYY-MM-DD, e.g. 2016-05-31 (got {shown!r})", field=field
        ) from None


def parse_period(
    date_from: object = None, date_to: object = None, *, now: datetime | None = None
) -> Period:
    """The period [from, to] checked (see the module docs); InvalidInput names the field."""
    today = today_local(now)
    last = _day(date_to, "to") or today
    first = _day(date_from, "from") or last.replace(day=1)
    for day, field in ((first, "from"), (last, "to")):
        if day < EARLIEST:
            raise InvalidInput(f"{field}: days before {EARLIEST} are not kept", field=field)
    if last > today:
        raise InvalidInput(
            f"to ({last}) is in the future; the latest day is today, {today}", field="to"
        )
    if first > last:
        raise InvalidInput(f"from ({first}) is after to ({last})", field="from")
    period = Period(first, last)
    if period.days > MAX_DAYS:
        raise InvalidInput(
            f"the period from {first} to {last} is {period.days} days; at most {MAX_DAYS}",
            field="from",
        )
    return period
