"""A ledger as a table, and what every ledger's builder shares: the context of
one station's month, officer labels, times for people, and text scrubbing.

A `Ledger` is columns (a key, a Chinese header, how wide it may grow) and rows
(dicts: the columns' values as printed, plus reference keys such as
`case_id` or `entry_id` that the API returns and the .xlsx leaves out). The
same Ledger feeds the JSON answer and the .xlsx writer.

Personal data: residents' names and phones are shown masked (138****5678)
and only to roles that may read personal data; analysts get none. Officers'
names, encrypted at rest too, are shown masked beside their codes. Mobile
numbers typed into free text (descriptions, notes) are masked the same way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy.engine import Connection

from cases.calendar import WorkCalendar
from cases.catalogue import Catalogue
from cases.errors import InvalidInput
from cases.ledgers.kinds import TITLES, LedgerKind
from cases.ledgers.month import Month
from cases.ledgers.rows import officer_names
from cases.stations.places import StationPlace
from cases.stations.weeks import LOCAL_TZ
from gis.privacy import decrypt, mask_name, mask_phone
from gis.settings import Settings

_MOBILE = re.compile(r"(?<![0-9])(1[3-9][0-9])([0-9]{4})([0-9]{4})(?![0-9])")


@dataclass(frozen=True)
class Column:
    """One column: its row key, its Chinese header, and the widest it may grow
    (display width, a CJK character counting 2); longer text wraps."""

    key: str
    label: str
    cap: int = 30


@dataclass(frozen=True)
class Ledger:
    """One ledger of one station and month, ready to show or print."""

    kind: LedgerKind
    station_code: str
    station_name: str
    community_code: str
    month: str
    month_title: str
    columns: tuple[Column, ...]
    rows: list[dict[str, Any]]
    notes: list[str] = field(default_factory=list)
    figures: dict[str, int] | None = None

    @property
    def title(self) -> str:
        """The ledger's Chinese title, e.g. 工作日志."""
        return TITLES[self.kind]

    @property
    def heading(self) -> str:
        """The printed heading: station, ledger, month."""
        return f"{self.station_name}{self.title}（{self.month_title}）"

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: the ledger's identity, its columns and its rows."""
        return {
            "kind": self.kind.value,
            "title": self.title,
            "station_code": self.station_code,
            "station_name": self.station_name,
            "community_code": self.community_code,
            "month": self.month,
            "columns": [{"key": c.key, "label": c.label} for c in self.columns],
            "rows": self.rows,
            "notes": self.notes,
            "figures": self.figures,
        }


# ------------------------------------------------------------------ text


def scrub(text: str | None) -> str:
    """Free text for a ledger: mobile numbers masked (13812345678 → 138****5678)."""
    return _MOBILE.sub(r"\1****\3", text or "")


def local(at: datetime) -> datetime:
    """An instant in Asia/Shanghai."""
    return at.astimezone(LOCAL_TZ)


def fmt_dt(at: datetime | None) -> str:
    """2018-03-05 09:30 (local); empty for None."""
    return "" if at is None else local(at).strftime("%Y-%m-%d %H:%M")


def fmt_date(day: date | datetime | None) -> str:
    """2018-03-05 (a datetime's local day); empty for None."""
    if day is None:
        return ""
    if isinstance(day, datetime):
        day = local(day).date()
    return day.isoformat()


def fmt_span(lo: datetime, hi: datetime) -> str:
    """08:30-12:00, or 22:00-次日02:00 across midnight (local)."""
    a, b = local(lo), local(hi)
    if b.date() == a.date():
        return f"{a:%H:%M}-{b:%H:%M}"
    if b.date() == a.date() + timedelta(days=1):
        return f"{a:%H:%M}-次日{b:%H:%M}"
    return f"{a:%H:%M}-{b:%m-%d %H:%M}"


def fmt_on(day: date, at: datetime) -> str:
    """A time of day, with its date when it is not `day`: 08:32, or 03-13 02:05."""
    t = local(at)
    return f"{t:%H:%M}" if t.date() == day else f"{t:%m-%d %H:%M}"


def day_end(day: date) -> datetime:
    """The end of a local day (the next day's 00:00), as an instant."""
    return datetime.combine(day + timedelta(days=1), datetime.min.time(), LOCAL_TZ)


# ------------------------------------------------------------------ context


@dataclass
class Context:
    """One station's month being built: the connection (one snapshot for all
    five ledgers), the place, the month, the moment its state is read at
    (`as_of`: the month's end, or now), and how personal data is shown."""

    conn: Connection
    place: StationPlace
    month: Month
    now: datetime
    settings: Settings
    catalogue: Catalogue
    calendar: WorkCalendar
    personal: bool
    _officers: dict[str, str] = field(default_factory=dict)

    @property
    def as_of(self) -> datetime:
        """The month's end, or now for the month in progress."""
        return self.month.as_of(self.now)

    @property
    def last_day(self) -> date:
        """The last local day the month's state covers (today for the month in progress)."""
        return local(self.as_of - timedelta(microseconds=1)).date()

    def load_officers(self, codes: set[str | None]) -> None:
        """Read the labels of these officers in one statement (cached)."""
        wanted = {c for c in codes if c and c not in self._officers}
        if not wanted:
            return
        found = officer_names(self.conn, wanted)
        for code in wanted:
            name = decrypt(found.get(code), self.settings) if self.personal else None
            masked = mask_name(name) if name else None
            self._officers[code] = f"{code} {masked}" if masked else code

    def officer(self, code: str | None) -> str:
        """`OF00012 张*三` (code and masked name; the code alone for analysts)."""
        if not code:
            return ""
        if code not in self._officers:
            self.load_officers({code})
        return self._officers[code]

    def subclass(self, code: str) -> tuple[str, str]:
        """(class name, subclass name) of a catalogue code; ('', code) when removed."""
        try:
            sub = self.catalogue.subclass(code)
        except InvalidInput:
            return "", code
        return sub.class_name, sub.name

    def person(self, name: str | None, phone: str | None) -> tuple[str, str]:
        """A resident's (name, phone) as printed: masked, or empty for analysts."""
        if not self.personal:
            return "", ""
        return mask_name(name) or "", mask_phone(phone) or ""

    def ledger(
        self,
        kind: LedgerKind,
        columns: tuple[Column, ...],
        rows: list[dict[str, Any]],
        notes: list[str] | None = None,
        figures: dict[str, int] | None = None,
    ) -> Ledger:
        """A ledger of this station and month, its rows numbered (序号) when it has the column."""
        if any(c.key == "no" for c in columns):
            rows = [{"no": i + 1, **r} for i, r in enumerate(rows)]
        return Ledger(
            kind=kind,
            station_code=self.place.code,
            station_name=self.place.name,
            community_code=self.place.community_code,
            month=self.month.label,
            month_title=self.month.title,
            columns=columns,
            rows=rows,
            notes=list(notes or []),
            figures=figures,
        )
