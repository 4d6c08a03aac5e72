"""Open311 GeoReport v2 on top of the case workflow: parameters, queries, intake.

The spec (wiki.open311.org/GeoReport_v2) names the fields; this module speaks
them and knows nothing of JSON or XML. Everything a client sends is checked
here and refused with `InvalidInput` (answered as 400), `NotFound` (404) or
`Forbidden` (403, see cases.apikeys); nothing it sends reaches SQL other than
as a bound parameter.

Mapping to the workflow:
- service_code is a catalogue subclass code; every service is `realtime` and
  has no extra attributes (metadata false).
- status: closed and referred-out (转办, handled by another district) cases
  are `closed`; open cases and those waiting for a dispatcher to place them
  are `open`; a merged duplicate follows its master case (open while the
  master is), with a status note naming the master.
- requested_datetime is when the resident reported; updated_datetime the
  close, else the latest event; expected_datetime the due time of the tier.
- agency_responsible names the squad and station the case was located to.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.engine import Engine

from cases.catalogue import Catalogue, Subclass, default_path, load_catalogue
from cases.errors import InvalidInput, NotFound
from cases.idempotency import transaction
from cases.intake import ComplaintIn, submit_complaint

if TYPE_CHECKING:
    from gis.settings import Settings

JURISDICTION_ID = "pengjiang.jiangmen.gov.cn"
"""The one jurisdiction this endpoint serves (the bureau's site root, as the spec suggests)."""

SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
CHANGESET = "2025-01-01T00:00:00+08:00"
"""When the endpoint description last changed (discovery); services add the catalogue's."""

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

OPEN311_CLOSED = ("closed", "referred_out")
"""Workflow statuses answered as `closed` (as cases.intake.open311_status has it); every
other one is `open`, except that a merged case answers its master's status."""

TIER_NOTICE = {
    "minor": "小事：由社区城管服务站执法队员现场处置",
    "moderate": "中事：由执法中队中队长在中队内统筹处置",
    "major": "大事：由分管局领导在局内统筹协调处置",
}

# Internal field names (intake, locate) → the Open311 names a client sent.
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


# ------------------------------------------------------------- parameters ---


Params = Mapping[str, Sequence[str]]
"""Query or form parameters: every value a name was given, in order."""


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
"""Control characters no field may carry (line breaks and tabs are text)."""

_TOKEN = re.compile(rf"[A-Za-z0-9_.~-]{{1,{MAX_TOKEN_LENGTH}}}")


def _one(params: Params, name: str) -> str | None:
    """The single value of an optional parameter; empty counts as absent (spec)."""
    values = [v for v in params.get(name, ()) if v.strip()]
    if not values:
        return None
    if any(_CONTROL.search(v) for v in values):
        raise InvalidInput("contains control characters", field=name)
    if len(values) > 1 and len(set(values)) > 1:
        raise InvalidInput("given more than once with different values", field=name)
    return values[0].strip()


def _list(params: Params, name: str) -> list[str]:
    """A list parameter: comma-delimited and/or repeated, blanks dropped, order kept."""
    out: list[str] = []
    for value in params.get(name, ()):
        if _CONTROL.search(value) or "\t" in value or "\n" in value or "\r" in value:
            raise InvalidInput("contains control characters", field=name)
        for item in value.split(","):
            item = item.strip()
            if item and item not in out:
                out.append(item)
    return out


def check_jurisdiction(params: Params) -> None:
    """Accept no jurisdiction_id or ours; any other is not found (404, as the spec says)."""
    value = _one(params, "jurisdiction_id")
    if value is not None and value.lower() != JURISDICTION_ID:
        raise NotFound(
            f"jurisdiction_id {value[:100]!r} not found; this endpoint serves {JURISDICTION_ID}",
            field="jurisdiction_id",
        )


_W3C = re.compile(
    r"^(?P<y>\d{4})(?:-(?P<m>\d{2})(?:-(?P<d>\d{2})"
    r"(?:T(?P<H>\d{2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?:\.(?P<f>\d{1,9}))?)?"
    r"(?P<tz>Z|[+-]\d{2}:\d{2}))?)?)?$"
)


def parse_w3c_datetime(value: str, field: str) -> datetime:
    """A W3C-DTF datetime (the spec's "w3 format"), timezone required with a time.

    Date-only forms (YYYY, YYYY-MM, YYYY-MM-DD) mean the start of that period in
    the jurisdiction's time. An offset whose "+" arrived as a space (an unencoded
    "+08:00" in a query string) is read as "+".
    """
    text = value.strip()
    text = re.sub(r" (\d{2}:\d{2})$", r"+\1", text)
    match = _W3C.match(text)
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


def _int(params: Params, name: str, default: int, low: int, high: int) -> int:
    value = _one(params, name)
    if value is None:
        return default
    if not re.fullmatch(r"\d{1,9}", value):
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
    """Check the GET requests parameters and settle the window (default: the last 90 days)."""
    check_jurisdiction(params)
    raw_ids = _list(params, "service_request_id")
    if raw_ids:
        if len(raw_ids) > MAX_IDS:
            raise InvalidInput(f"at most {MAX_IDS} ids at once", field="service_request_id")
        bad = [i for i in raw_ids if not re.fullmatch(r"\d{1,18}", i)]
        if bad:
            raise InvalidInput(
                f"{bad[0][:40]!r} is not a service_request_id", field="service_request_id"
            )
        return RequestQuery(ids=tuple(int(i) for i in raw_ids))

    codes = _list(params, "service_code")
    if any(len(c) > MAX_CODE_LENGTH for c in codes):
        raise InvalidInput("service_code too long", field="service_code")
    statuses = [s.lower() for s in _list(params, "status")]
    bad_status = [s for s in statuses if s not in ("open", "closed")]
    if bad_status:
        raise InvalidInput(
            f"{bad_status[0][:40]!r} is not a status; use open or closed", field="status"
        )

    start_raw, end_raw = _one(params, "start_date"), _one(params, "end_date")
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

    return RequestQuery(
        service_codes=tuple(codes),
        statuses=tuple(dict.fromkeys(statuses)),
        start=start,
        end=end,
        page=_int(params, "page", 1, 1, MAX_PAGE),
        page_size=_int(params, "page_size", MAX_RESULTS, 1, MAX_RESULTS),
    )


# --------------------------------------------------------------- services ---


@dataclass(frozen=True)
class Service:
    """One service type (a catalogue subclass) in the spec's terms."""

    service_code: str
    service_name: str
    description: str
    group: str
    keywords: str
    metadata: bool = False
    type: str = "realtime"

    def as_spec(self) -> dict[str, Any]:
        """The spec's fields, in the spec's order."""
        return {
            "service_code": self.service_code,
            "service_name": self.service_name,
            "description": self.description,
            "metadata": self.metadata,
            "type": self.type,
            "keywords": self.keywords,
            "group": self.group,
        }


def _catalogue() -> Catalogue:
    return load_catalogue()


def _service(sub: Subclass) -> Service:
    description = sub.description or sub.name
    return Service(
        service_code=sub.code,
        service_name=sub.name,
        description=description,
        group=sub.class_name,
        keywords=", ".join(dict.fromkeys(k for k in (*sub.keywords, sub.class_name) if k)),
    )


def list_services(params: Params) -> list[Service]:
    """The service list: every catalogue subclass, in catalogue order."""
    check_jurisdiction(params)
    return [_service(sub) for sub in _catalogue().subclasses]


def service_definition(params: Params, service_code: str) -> dict[str, Any]:
    """A service definition; our services ask for nothing beyond the standard fields.

    The spec makes this call necessary only for services with metadata true; a
    client that asks anyway gets a definition with no attributes, and an
    unknown code is not found.
    """
    check_jurisdiction(params)
    sub = _subclass(service_code)
    return {"service_code": sub.code, "attributes": []}


def _subclass(code: str) -> Subclass:
    if len(code) > MAX_CODE_LENGTH:
        raise NotFound("service_code not found", field="service_code")
    try:
        sub = _catalogue().subclass(code)
    except InvalidInput:
        sub = None
    if sub is None or sub.code != code:
        raise NotFound(f"service_code {code!r} not found", field="service_code")
    return sub


def changeset() -> str:
    """When the endpoint or its service list last changed: the catalogue file's time."""
    since = parse_w3c_datetime(CHANGESET, "changeset")
    try:
        edited = datetime.fromtimestamp(default_path().stat().st_mtime, UTC)
    except OSError:
        edited = since
    return w3c(max(since, edited)) or CHANGESET


def discovery(endpoint_url: str) -> dict[str, Any]:
    """The service discovery document (wiki.open311.org/Service_Discovery).

    Besides the spec's fields it names the jurisdiction_id this endpoint
    serves and its max_requests (as FixMyStreet's discovery does).
    """
    stamp = changeset()
    return {
        "changeset": stamp,
        "contact": "蓬江区城市管理和综合执法局 城管110应急指挥中心",
        "key_service": "API keys for submitting requests are issued by the command centre "
        "(grid apikey create NAME); reading needs no key.",
        "jurisdiction_id": JURISDICTION_ID,
        "max_requests": MAX_RESULTS,
        "endpoints": [
            {
                "specification": SPECIFICATION,
                "url": endpoint_url,
                "changeset": stamp,
                "type": "production",
                "formats": ["text/xml", "application/json"],
            }
        ],
    }


# --------------------------------------------------------------- requests ---


@dataclass(frozen=True)
class ServiceRequest:
    """One case as an Open311 service request."""

    service_request_id: int
    status: str
    status_notes: str | None
    service_name: str | None
    service_code: str
    description: str | None
    agency_responsible: str | None
    service_notice: str | None
    requested_datetime: datetime
    updated_datetime: datetime
    expected_datetime: datetime | None
    address: str | None
    lat: float | None
    long: float | None
    media_url: str | None
    token: str

    def as_spec(self) -> dict[str, Any]:
        """The spec's fields, in the spec's order (address_id and zipcode: none kept)."""
        return {
            "service_request_id": self.service_request_id,
            "status": self.status,
            "status_notes": self.status_notes,
            "service_name": self.service_name,
            "service_code": self.service_code,
            "description": self.description,
            "agency_responsible": self.agency_responsible,
            "service_notice": self.service_notice,
            "requested_datetime": w3c(self.requested_datetime),
            "updated_datetime": w3c(self.updated_datetime),
            "expected_datetime": w3c(self.expected_datetime),
            "address": self.address,
            "address_id": None,
            "zipcode": None,
            "lat": self.lat,
            "long": self.long,
            "media_url": self.media_url,
        }


_CLOSED_SQL = "('" + "','".join(OPEN311_CLOSED) + "')"

_EFFECTIVE = "CASE WHEN c.status = 'merged' AND m.id IS NOT NULL THEN m.status ELSE c.status END"
_OPEN311 = f"CASE WHEN {_EFFECTIVE} IN {_CLOSED_SQL} THEN 'closed' ELSE 'open' END"

_SELECT = f"""
SELECT c.id, c.token, c.status, c.status_note, c.subclass_code, c.tier, c.description,
       c.address, c.photos ->> 0 AS media_url,
       ST_Y(c.geom) AS lat, ST_X(c.geom) AS lon,
       c.reported_at, c.created_at, c.due_at, c.closed_at, c.master_id,
       sq.name AS squad_name, st.name AS station_name,
       COALESCE(c.closed_at, CASE WHEN c.status = 'merged' THEN m.closed_at END,
                GREATEST(c.created_at, ev.last_at)) AS updated_at,
       {_OPEN311} AS open311_status
FROM case_file c
LEFT JOIN case_file m ON m.id = c.master_id
LEFT JOIN squad sq ON sq.code = c.squad_code
LEFT JOIN station st ON st.code = c.station_code
LEFT JOIN LATERAL (SELECT max(e.at) AS last_at FROM case_event e WHERE e.case_id = c.id) ev
       ON true
"""

_ORDER = " ORDER BY c.reported_at DESC, c.id DESC"


def _status_notes(row: Any) -> str | None:
    if row.status_note:
        return str(row.status_note)
    if row.status == "merged" and row.master_id is not None:
        return f"重复诉求，已并入第 {row.master_id} 号诉求处理 (duplicate of {row.master_id})"
    if row.status == "needs_location":
        return "位置待调度员核定 (location to be confirmed by a dispatcher)"
    if row.status == "referred_out":
        return "不在本区范围，已转办 (outside the district, referred out)"
    return None


def _service_notice(row: Any, sub: Subclass | None) -> str | None:
    if row.status != "open":
        return None
    parts = [TIER_NOTICE.get(row.tier, "")]
    if sub is not None and sub.time_limit_hours:
        parts.append(f"处理时限 {sub.time_limit_hours:g} 个工作小时")
    if row.station_name:
        parts.append(f"承办：{row.station_name}")
    return "；".join(p for p in parts if p) or None


def _agency(row: Any) -> str | None:
    names = [n for n in (row.squad_name, row.station_name) if n]
    return " / ".join(names) or None


def _to_request(row: Any, subs: Mapping[str, Subclass]) -> ServiceRequest:
    sub = subs.get(row.subclass_code)
    return ServiceRequest(
        service_request_id=int(row.id),
        status=row.open311_status,
        status_notes=_status_notes(row),
        service_name=sub.name if sub is not None else None,
        service_code=row.subclass_code,
        description=row.description or None,
        agency_responsible=_agency(row),
        service_notice=_service_notice(row, sub),
        requested_datetime=row.reported_at,
        updated_datetime=row.updated_at or row.created_at,
        expected_datetime=row.due_at,
        address=row.address or None,
        lat=None if row.lat is None else round(float(row.lat), 7),
        long=None if row.lon is None else round(float(row.lon), 7),
        media_url=row.media_url or None,
        token=row.token,
    )


def _fetch(engine: Engine, where: str, params: dict[str, Any], tail: str = "") -> list[Any]:
    # Under run_idempotent this reads in the transaction that is filing the case.
    with transaction(engine) as conn:
        return list(conn.execute(sa.text(_SELECT + " WHERE " + where + _ORDER + tail), params))


def _convert(rows: Iterable[Any]) -> list[ServiceRequest]:
    subs = {s.code: s for s in _catalogue().subclasses}
    return [_to_request(r, subs) for r in rows]


def query_requests(engine: Engine, query: RequestQuery) -> list[ServiceRequest]:
    """The cases a checked query selects, newest report first, one page of them."""
    if query.ids is not None:
        return _convert(_fetch(engine, "c.id = ANY(:ids)", {"ids": list(query.ids)}))
    clauses = ["c.reported_at >= :start", "c.reported_at <= :end"]
    bind: dict[str, Any] = {
        "start": query.start,
        "end": query.end,
        "limit": query.page_size,
        "offset": (query.page - 1) * query.page_size,
    }
    if query.service_codes:
        clauses.append("c.subclass_code = ANY(:codes)")
        bind["codes"] = list(query.service_codes)
    if len(query.statuses) == 1:
        clauses.append(f"({_OPEN311}) = :status")
        bind["status"] = query.statuses[0]
    rows = _fetch(engine, " AND ".join(clauses), bind, " LIMIT :limit OFFSET :offset")
    return _convert(rows)


def list_requests(
    engine: Engine,
    params: Params,
    *,
    now: datetime | None = None,
) -> list[ServiceRequest]:
    """GET requests: check the parameters, then query (400 on bad ones, 404 on jurisdiction)."""
    return query_requests(engine, parse_request_query(params, now=now))


def _case_id(value: str) -> int:
    if not re.fullmatch(r"\d{1,18}", value.strip()):
        raise NotFound(f"service_request_id {value[:40]!r} not found", field="service_request_id")
    return int(value.strip())


def get_request(engine: Engine, params: Params, service_request_id: str) -> ServiceRequest:
    """GET requests/{id}: the one request, or NotFound."""
    check_jurisdiction(params)
    case_id = _case_id(service_request_id)
    found = _convert(_fetch(engine, "c.id = :id", {"id": case_id}))
    if not found:
        raise NotFound(f"service_request_id {case_id} not found", field="service_request_id")
    return found[0]


def request_id_for_token(engine: Engine, params: Params, token: str) -> dict[str, Any]:
    """GET tokens/{token}: the service_request_id a tracking token belongs to."""
    check_jurisdiction(params)
    token = token.strip()
    case_id = None
    if _TOKEN.fullmatch(token):
        with transaction(engine) as conn:
            case_id = conn.execute(
                sa.text("SELECT id FROM case_file WHERE token = :t"), {"t": token}
            ).scalar()
    if case_id is None:
        raise NotFound("token not found", field="token")
    return {"service_request_id": int(case_id), "token": token}


# ---------------------------------------------------------------- POST ---


SINGLE_FIELDS = (
    "jurisdiction_id",
    "service_code",
    "lat",
    "long",
    "address_string",
    "address_id",
    "email",
    "device_id",
    "account_id",
    "first_name",
    "last_name",
    "phone",
    "description",
    "media_url",
    "crs",
)


_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d{1,3})?")


def _coordinate(params: Params, name: str) -> float | None:
    """A decimal number as sent; range and swapped pairs are the intake's checks."""
    value = _one(params, name)
    if value is None:
        return None
    if not _NUMBER.fullmatch(value):
        raise InvalidInput(f"{value[:40]!r} is not a decimal number", field=name)
    number = float(value)
    if not math.isfinite(number):
        raise InvalidInput("must be a finite number", field=name)
    return number


def _person_name(first: str | None, last: str | None) -> str | None:
    parts = [p for p in (first, last) if p]
    if not parts:
        return None
    if any("\u3400" <= ch <= "\u9fff" for p in parts for ch in p):
        return "".join(p for p in (last, first) if p)  # 中文姓名：姓在前
    return " ".join(parts)


@dataclass(frozen=True)
class CreatedRequest:
    """What POST requests answers (spec): the id, a notice, the client's account_id."""

    service_request_id: int
    service_notice: str | None
    account_id: str | None

    def as_spec(self) -> dict[str, Any]:
        """The spec's fields; token is left out because the id is returned at once."""
        return {
            "service_request_id": self.service_request_id,
            "service_notice": self.service_notice,
            "account_id": self.account_id,
        }


def build_complaint(params: Params) -> ComplaintIn:
    """Turn POST requests fields into the intake's ComplaintIn (400 / 404 on bad fields)."""
    for field in SINGLE_FIELDS:
        _one(params, field)  # refuses conflicting repeats of any single-valued field
    check_jurisdiction(params)
    code = _one(params, "service_code")
    if code is None:
        raise InvalidInput("service_code was not provided", field="service_code")
    sub = _subclass(code)

    lat = _coordinate(params, "lat")
    lon = _coordinate(params, "long")
    if (lat is None) != (lon is None):
        raise InvalidInput("lat and long must be sent together", field="lat/long")
    address = _one(params, "address_string")
    address_id = _one(params, "address_id")
    if lat is None and address is None and address_id is None:
        raise InvalidInput(
            "a location is required: lat and long, address_string or address_id", field="lat/long"
        )
    if address_id is not None:
        address = f"{address or ''} [address_id {address_id}]".strip()

    description = _one(params, "description") or ""
    if len(description) > MAX_DESCRIPTION:
        raise InvalidInput(f"longer than {MAX_DESCRIPTION} characters", field="description")
    media_url = _one(params, "media_url")
    if media_url is not None and (
        len(media_url) > MAX_URL_LENGTH or not re.match(r"https?://[^\s]+$", media_url)
    ):
        raise InvalidInput("must be an http(s) URL", field="media_url")

    fields: dict[str, Any] = {
        "subclass": sub.code,
        "description": description,
        "photos": [media_url] if media_url else [],
    }
    if lat is not None:
        fields.update(lon=lon, lat=lat, crs=_one(params, "crs") or "wgs84")
    if address:
        fields["address"] = address
    reporter = _person_name(_one(params, "first_name"), _one(params, "last_name"))
    if reporter:
        fields["reporter_name"] = reporter
    phone = _one(params, "phone")
    if phone:
        fields["reporter_phone"] = phone
    try:
        return ComplaintIn(**fields)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first.get("loc", ()))
        raise InvalidInput(
            str(first.get("msg", "invalid")), field=open311_field(loc) or None
        ) from exc


def submit_request(
    engine: Engine, params: Params, *, api_key_id: int, settings: Settings | None = None
) -> CreatedRequest:
    """POST requests: check the fields, file the case through the intake, answer per spec.

    The intake locates and files the case at once, so the answer carries the
    service_request_id (and, as the spec says, no token).
    """
    complaint = build_complaint(params)
    view = submit_complaint(
        engine, complaint, source="open311", api_key_id=api_key_id, settings=settings
    )
    created = get_request(engine, {}, str(view.id))
    notice = created.service_notice or created.status_notes
    # No user accounts are kept here, so account_id is not returned (the spec allows it).
    return CreatedRequest(service_request_id=int(view.id), service_notice=notice, account_id=None)
