"""Open311 parameters: single and list values, the jurisdiction, W3C datetimes, GET queries.

Everything a client sends is checked here and refused with `InvalidInput`
(answered as 400) or `NotFound` (404); errors name the field as the client
sent it (`open311_field`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from cases.errors import InvalidInput, NotFound

JURISDICTION_ID = "pengjiang.jiangmen.gov.cn"
"""The one jurisdiction this endpoint serves (the bureau's site root, as the spec suggests)."""

LOCAL_TZ = ZoneInfo("Asia/Shanghai")
"""Datetimes are answered in the jurisdiction's own offset (+08:00)."""

DEFAULT_WINDOW = timedelta(days=90)
"""The spec's default and largest span of a GET requests query."""

MAX_RESULTS = 1000
"""The spec's default limit; also the largest page_size."""

MAX_DESCRIPTION = 4000
"""The spec limits description to 4,000 characters."""

MAX_IDS = MAX_RESULTS
MAX_CODE_LENGTH = 64
MAX_TOKEN_LENGTH = 64
MAX_URL_LENGTH = 2000
MAX_PAGE = 1_000_000
PAGE_PATTERN = r"^ *(?:0*(?:[1-9][0-9]{0,5}|1000000))? *$"
"""page: 1 to MAX_PAGE (leading zeros and surrounding spaces allowed), or empty."""
PAGE_SIZE_PATTERN = r"^ *(?:0*(?:[1-9][0-9]{0,2}|1000))? *$"
"""page_size: 1 to MAX_RESULTS, or empty."""

_FIELD_NAMES = {
    "subclass": "service_code",
    "lon": "long",
    "lat": "lat",
    "lon,lat": "lat/long",
    "crs": "crs",
    "photos": "media_url",
    "address": "address_string",
    "reporter_phone": "phone",
    "reporter_name": "first_name/last_name",
    "description": "description",
}


def open311_field(field: str | None) -> str | None:
    """The Open311 name of an internal field name (errors speak the client's names)."""
    if field is None:
        return None
    head = field.split(".")[0]
    return _FIELD_NAMES.get(field, _FIELD_NAMES.get(head, field))


Params = Mapping[str, Sequence[str]]
"""Query or form parameters: every value a name was given, in order."""


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
"""Control characters no field may carry (line breaks and tabs are text)."""

TOKEN_PATTERN = rf"^[A-Za-z0-9_.~-]{{1,{MAX_TOKEN_LENGTH}}}$"
TOKEN = re.compile(TOKEN_PATTERN)
"""What a tracking token may look like (anything else cannot be one)."""

CODE = rf"[0-9A-Za-z_.-]{{1,{MAX_CODE_LENGTH}}}"
"""What a service code may look like (unknown ones are simply not found)."""

_NOT_IN_URL = r"\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
URL_PATTERN = rf"^https?://[^{_NOT_IN_URL}/?#\[\]@]+(?:[/?#][^{_NOT_IN_URL}]*)?$"
"""An http(s) URL with a host and no spaces or control characters (media_url, photos)."""

ID = "[0-9]{1,18}"
"""A service_request_id (a case id)."""


def list_pattern(item: str, most: int | None = None) -> str:
    """A comma-delimited list of `item`s (spaces and empty items allowed), as a regex."""
    repeat = "*" if most is None else f"{{0,{most - 1}}}"
    return rf"^[ ,]*(?:(?:{item}) *(?:,[ ,]*(?:{item}) *){repeat})?[ ,]*$"


CODE_LIST_PATTERN = list_pattern(CODE)
ID_LIST_PATTERN = list_pattern(ID, MAX_IDS)
STATUS_LIST_PATTERN = list_pattern("[Oo][Pp][Ee][Nn]|[Cc][Ll][Oo][Ss][Ee][Dd]")

_YEAR = "(?:[1-9][0-9]{3}|0[1-9][0-9]{2}|00[1-9][0-9]|000[1-9])"
_TWO = "[0-9]{2}"
W3C_PATTERN = (
    rf"^ *(?:{_YEAR}(?:-(?:0[1-9]|1[0-2])(?:-(?:0[1-9]|[12][0-9]|3[01])"
    rf"(?:T(?:[01][0-9]|2[0-3]):[0-5][0-9](?::[0-5][0-9](?:\.[0-9]{{1,9}})?)?"
    rf"(?:Z|[+ -](?:[01][0-9]|2[0-3]):[0-5][0-9]))?)?)?)? *$"
)
"""A W3C-DTF date or datetime as `parse_w3c_datetime` reads it (a time needs its offset),
or nothing (empty means absent)."""


def single(params: Params, name: str) -> str | None:
    """The single value of an optional parameter; empty counts as absent (spec)."""
    values = [v for v in params.get(name, ()) if v.strip(" ")]
    if not values:
        return None
    if any(_CONTROL.search(v) for v in values):
        raise InvalidInput("contains control characters", field=name)
    if len(values) > 1 and len(set(values)) > 1:
        raise InvalidInput("given more than once with different values", field=name)
    return values[0].strip(" ")


def listed(params: Params, name: str) -> list[str]:
    """A list parameter: comma-delimited and/or repeated, blanks dropped, order kept."""
    out: list[str] = []
    for value in params.get(name, ()):
        if _CONTROL.search(value) or "\t" in value or "\n" in value or "\r" in value:
            raise InvalidInput("contains control characters", field=name)
        for item in value.split(","):
            item = item.strip(" ")
            if item and item not in out:
                out.append(item)
    return out


def check_jurisdiction(params: Params) -> None:
    """Accept no jurisdiction_id or ours; any other is not found (404, as the spec says)."""
    value = single(params, "jurisdiction_id")
    if value is not None and value.lower() != JURISDICTION_ID:
        raise NotFound(
            f"jurisdiction_id {value[:100]!r} not found; this endpoint serves {JURISDICTION_ID}",
            field="jurisdiction_id",
        )


_W3C = re.compile(
    r"^(?P<y>[0-9]{4})(?:-(?P<m>[0-9]{2})(?:-(?P<d>[0-9]{2})"
    r"(?:T(?P<H>[0-9]{2}):(?P<M>[0-9]{2})(?::(?P<S>[0-9]{2})(?:\.(?P<f>[0-9]{1,9}))?)?"
    r"(?P<tz>Z|[+-][0-9]{2}:[0-9]{2}))?)?)?$"
)


def parse_w3c_datetime(value: str, field: str) -> datetime:
    """A W3C-DTF datetime (the spec's "w3 format"), timezone required with a time.

    Date-only forms (YYYY, YYYY-MM, YYYY-MM-DD) mean the start of that period in
    the jurisdiction's time. An offset whose "+" arrived as a space (an unencoded
    "+08:00" in a query string) is read as "+".
    """
    text = value.strip(" ")
    text = re.sub(r" ([0-9]{2}:[0-9]{2})$", r"+\1", text)
    match = _W3C.fullmatch(text) if re.fullmatch(W3C_PATTERN, value) else None
    if match is None:
        raise InvalidInput(
            f"{value[:60]!r} is not a W3C datetime such as "
            "2024-05-01T00:00:00+08:00 (a time needs its Z or ±hh:mm offset)",
            field=field,
        )
    g = match.groupdict()
    try:
        if g["H"] is None:
            day = date(int(g["y"]), int(g["m"] or 1), int(g["d"] or 1))
            return datetime(day.year, day.month, day.day, tzinfo=LOCAL_TZ)
        tz = (
            UTC
            if g["tz"] == "Z"
            else timezone(
                (1 if g["tz"][0] == "+" else -1)
                * timedelta(hours=int(g["tz"][1:3]), minutes=int(g["tz"][4:6]))
            )
        )
        micro = int((g["f"] or "0")[:6].ljust(6, "0"))
        return datetime(
            int(g["y"]),
            int(g["m"]),
            int(g["d"]),
            int(g["H"]),
            int(g["M"]),
            int(g["S"] or 0),
            micro,
            tzinfo=tz,
        )
    except ValueError as exc:
        raise InvalidInput(f"{value[:60]!r} is not a valid datetime: {exc}", field=field) from exc


def w3c(dt: datetime | None) -> str | None:
    """A datetime in the spec's format, in the jurisdiction's offset, to the second."""
    if dt is None:
        return None
    return dt.astimezone(LOCAL_TZ).isoformat(timespec="seconds")


def whole_number(params: Params, name: str, default: int, low: int, high: int) -> int:
    """A whole-number parameter from `low` to `high` (digits only), or `default` when absent."""
    value = single(params, name)
    if value is None:
        return default
    if not re.fullmatch("0*[0-9]{1,9}", value):
        raise InvalidInput(f"must be a whole number from {low} to {high}", field=name)
    number = int(value)
    if not low <= number <= high:
        raise InvalidInput(f"must be from {low} to {high}", field=name)
    return number


@dataclass(frozen=True)
class RequestQuery:
    """A checked GET requests query: ids override everything else (spec)."""

    ids: tuple[int, ...] | None = None
    service_codes: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    start: datetime | None = None
    end: datetime | None = None
    page: int = 1
    page_size: int = MAX_RESULTS


def parse_request_query(params: Params, *, now: datetime | None = None) -> RequestQuery:
    """Check the GET requests parameters and settle the window (default: the last 90 days).

    Every parameter is checked; service_request_id, when given, then overrides
    the others (spec).
    """
    check_jurisdiction(params)
    raw_ids = listed(params, "service_request_id")
    if len(raw_ids) > MAX_IDS:
        raise InvalidInput(f"at most {MAX_IDS} ids at once", field="service_request_id")
    bad = [i for i in raw_ids if not re.fullmatch(ID, i)]
    if bad:
        raise InvalidInput(
            f"{bad[0][:40]!r} is not a service_request_id", field="service_request_id"
        )
    codes = listed(params, "service_code")
    bad = [c for c in codes if not re.fullmatch(CODE, c)]
    if bad:
        raise InvalidInput(f"{bad[0][:40]!r} is not a service_code", field="service_code")
    statuses = [s.lower() for s in listed(params, "status")]
    bad_status = [s for s in statuses if s not in ("open", "closed")]
    if bad_status:
        raise InvalidInput(
            f"{bad_status[0][:40]!r} is not a status; use open or closed", field="status"
        )

    start_raw, end_raw = single(params, "start_date"), single(params, "end_date")
    start = parse_w3c_datetime(start_raw, "start_date") if start_raw else None
    end = parse_w3c_datetime(end_raw, "end_date") if end_raw else None
    try:
        if start is None and end is None:
            end = now or datetime.now(UTC)
            start = end - DEFAULT_WINDOW
        elif end is None:
            assert start is not None
            end = start + DEFAULT_WINDOW
        elif start is None:
            start = end - DEFAULT_WINDOW
        span = end - start
    except OverflowError as exc:
        raise InvalidInput(
            "date out of range", field="start_date" if start else "end_date"
        ) from exc
    if span < timedelta(0):
        raise InvalidInput("end_date is before start_date", field="end_date")
    if span > DEFAULT_WINDOW:
        raise InvalidInput(
            "start_date to end_date may not span more than 90 days", field="end_date"
        )

    page = whole_number(params, "page", 1, 1, MAX_PAGE)
    page_size = whole_number(params, "page_size", MAX_RESULTS, 1, MAX_RESULTS)
    if raw_ids:
        return RequestQuery(ids=tuple(int(i) for i in raw_ids))
    return RequestQuery(
        service_codes=tuple(codes),
        statuses=tuple(dict.fromkeys(statuses)),
        start=start,
        end=end,
        page=page,
        page_size=page_size,
    )
