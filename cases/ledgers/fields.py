"""What a manual ledger entry may hold, per ledger, checked before anything is kept.

- 工作日志 (work_log): a free note of the day (`WorkLogNote`);
- 问题清单 (problem_list): a problem the cases do not hold (`ProblemEntry`);
- 会议记录本 (meeting_minutes): a meeting (`MeetingEntry`);
- 信访诉求工作登记本 (petition_register): a request taken at the station
  (walk-in, phone, letter: `PetitionEntry`).

Each model names its `personal` fields (a petitioner's name and phone, a
meeting's host and attendees): they are kept apart, encrypted, and shown
masked (cases.ledgers.manual). Text PostgreSQL cannot hold (NUL, lone
surrogates) is refused anywhere in an entry. An entry's date lies in 2000 or
later and not after today (Asia/Shanghai).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from cases.catalogue import CATALOGUE_FILE, load_catalogue
from cases.errors import InvalidInput
from cases.ledgers.kinds import TITLES, LedgerKind
from cases.stations.weeks import LOCAL_TZ
from gis.settings import Settings, get_settings

EARLIEST = date(2000, 1, 1)
LATEST = date(2099, 12, 31)
_TIME = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"
_PHONE = r"^[0-9+\- ]{5,20}$"
Day = date
"""`date`, for models whose field is named `date`."""


def _check_text(value: Any, where: str = "") -> None:
    """Refuse what PostgreSQL text cannot hold (NUL, lone surrogates), anywhere in `value`."""
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError(f"{where or 'text'} must not contain NUL characters")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError(f"{where or 'text'} is not valid Unicode text") from None
    elif isinstance(value, dict):
        for k, v in value.items():
            _check_text(k, where)
            _check_text(v, str(k))
    elif isinstance(value, list):
        for v in value:
            _check_text(v, where)


def _in_range(value: date | None, what: str) -> date | None:
    if value is not None and not EARLIEST <= value <= LATEST:
        raise ValueError(f"{what} must lie in 2000-2099")
    return value


class EntryFields(BaseModel):
    """The fields of one ledger's entries; `personal` are encrypted and masked."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    personal: ClassVar[tuple[str, ...]] = ()

    @model_validator(mode="before")
    @classmethod
    def _text(cls, data: Any) -> Any:
        _check_text(data)
        return data


class WorkLogNote(EntryFields):
    """工作日志: a free note of the day."""

    time: str | None = Field(default=None, pattern=_TIME, description="HH:MM, local time")
    officer_code: str | None = Field(default=None, max_length=16)
    text: str = Field(min_length=1, max_length=2000)


class ProblemEntry(EntryFields):
    """问题清单: a problem of the community that no case holds."""

    problem: str = Field(min_length=1, max_length=500)
    place: str = Field(default="", max_length=300)
    holder: str = Field(
        default="", max_length=100, description="the unit or department responsible"
    )
    officer_code: str | None = Field(default=None, max_length=16, description="the officer on it")
    measures: str = Field(default="", max_length=1000)
    due_date: date | None = None
    solved_on: date | None = Field(default=None, description="when it was solved; leaves the list")

    @field_validator("due_date", "solved_on")
    @classmethod
    def _dates(cls, value: date | None) -> date | None:
        return _in_range(value, "the date")


class MeetingEntry(EntryFields):
    """会议记录本: one meeting (the monthly meeting's figures are filled in from the data)."""

    personal: ClassVar[tuple[str, ...]] = ("host", "attendees")

    meeting: Literal["月度例会", "联席会议", "专题会议", "其他"] = "月度例会"
    time: str | None = Field(default=None, pattern=_TIME, description="HH:MM, local time")
    place: str = Field(default="", max_length=100)
    host: str | None = Field(default=None, max_length=50)
    attendees: list[str] = Field(default_factory=list, max_length=60)
    topics: str = Field(default="", max_length=4000)
    decisions: str = Field(default="", max_length=4000)
    follow_ups: str = Field(default="", max_length=4000)

    @field_validator("attendees")
    @classmethod
    def _names(cls, value: list[str]) -> list[str]:
        names = [v.strip() for v in value]
        if any(not n or len(n) > 50 for n in names):
            raise ValueError("each attendee is a name of 1-50 characters")
        return names


class PetitionEntry(EntryFields):
    """信访诉求工作登记本: a request taken at the station (walk-in, phone, letter)."""

    personal: ClassVar[tuple[str, ...]] = ("name", "phone")

    time: str | None = Field(default=None, pattern=_TIME, description="HH:MM, local time")
    channel: Literal["来访", "电话", "来信", "其他"] = "来访"
    name: str | None = Field(default=None, max_length=50)
    phone: str | None = Field(default=None, pattern=_PHONE)
    subclass: str | None = Field(default=None, max_length=16, description="a catalogue code")
    content: str = Field(min_length=1, max_length=2000)
    place: str = Field(default="", max_length=300)
    reply_due: date | None = Field(default=None, description="default: the reply limit")
    replied_on: date | None = None
    reply: str = Field(default="", max_length=2000)

    @field_validator("reply_due", "replied_on")
    @classmethod
    def _dates(cls, value: date | None) -> date | None:
        return _in_range(value, "the date")


FIELDS: dict[LedgerKind, type[EntryFields]] = {
    LedgerKind.WORK_LOG: WorkLogNote,
    LedgerKind.PROBLEM_LIST: ProblemEntry,
    LedgerKind.MEETING_MINUTES: MeetingEntry,
    LedgerKind.PETITION_REGISTER: PetitionEntry,
}


class EntryIn(BaseModel):
    """A new entry as sent: its date and its fields (checked by the ledger's model)."""

    model_config = ConfigDict(extra="forbid")

    date: Day
    fields: dict[str, Any]

    @field_validator("date")
    @classmethod
    def _date(cls, value: Day) -> Day:
        return _entry_date(value)


class RevisionIn(BaseModel):
    """A correction of an entry, made against the version the writer saw.

    Send the whole entry again (`date`, `fields`; what is left out stays as it
    was), or `withdrawn: true` to take it out of the ledger (kept, marked).
    """

    model_config = ConfigDict(extra="forbid")

    version: int = Field(ge=1, le=1_000_000, description="the version being corrected")
    date: Day | None = None
    fields: dict[str, Any] | None = None
    withdrawn: bool = False
    reason: str = Field(min_length=1, max_length=500, description="why it is corrected")

    @field_validator("date")
    @classmethod
    def _date(cls, value: Day | None) -> Day | None:
        return None if value is None else _entry_date(value)

    @field_validator("reason")
    @classmethod
    def _reason(cls, value: str) -> str:
        _check_text(value, "reason")
        return value.strip()


def _entry_date(value: date) -> date:
    if value < EARLIEST:
        raise ValueError("an entry's date lies in 2000 or later")
    today = datetime.now(UTC).astimezone(LOCAL_TZ).date()
    if value > today:
        raise ValueError(f"an entry's date may not be after today ({today.isoformat()})")
    return value


def check_fields(
    kind: LedgerKind, fields: dict[str, Any], settings: Settings | None = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Validate an entry's fields for its ledger: (plain fields, personal fields),
    JSON-ready. InvalidInput names the field (`fields.<name>`)."""
    model = FIELDS[kind]
    try:
        parsed = model.model_validate(fields)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        message = str(first.get("msg", "invalid")).removeprefix("Value error, ")
        if first.get("type") == "extra_forbidden":
            allowed = ", ".join(model.model_fields)
            message = f"unknown field; the {TITLES[kind]} takes: {allowed}"
        raise InvalidInput(message, field=f"fields.{where}" if where else "fields") from None
    if isinstance(parsed, PetitionEntry) and parsed.subclass is not None:
        settings = settings or get_settings()
        try:
            load_catalogue(settings.data_dir / CATALOGUE_FILE).subclass(parsed.subclass)
        except InvalidInput as exc:
            raise InvalidInput(exc.message, field="fields.subclass") from None
    data = parsed.model_dump(mode="json")
    personal = {k: data.pop(k) for k in model.personal}
    return data, personal
