"""Intake: the one place where complaints enter the workflow.

The complaint API, Open311 and the bulk loader all come through here.
`submit_complaint` does, in one transaction: check the subclass and the
coordinates (converted to WGS84 at this edge, once), locate the point, look
for an open case it duplicates, and then either merge it into that case or
create a new case with its default tier, due time (working hours from now:
the clock starts at dispatch) and officer, appending `case_event` rows.

Where a point lands decides the status:
- in a grid, or snapped to the nearest grid across a sliver gap: `open`,
  dispatched to the grid's station;
- inside the district but far from every grid: `needs_location` (a
  dispatcher places it);
- outside the district: `referred_out` (转办), with the neighbouring district
  when one contains the point; kept, never refused;
- no coordinates but an address: `needs_location`.

Personal data (reporter name and phone) is encrypted at rest with
gis.privacy and only ever shown masked; nothing here logs it.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import secrets
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError
from pyproj import CRS
from sqlalchemy.engine import Connection, Engine

from cases.calendar import load_calendar
from cases.catalogue import CATALOGUE_FILE, Catalogue, Subclass, load_catalogue
from cases.errors import InvalidInput, NotFound
from cases.idempotency import transaction
from gis import crs as crsmod
from gis.db import execute_prepared
from gis.locate import InvalidLocation, Location, locate
from gis.privacy import decrypt, encrypt, mask_name, mask_phone
from gis.settings import Settings, get_settings

LOCAL_TZ = ZoneInfo("Asia/Shanghai")
FUTURE_SLACK = timedelta(minutes=5)
"""A reported time this far ahead of our clock is accepted (clients' clocks drift)."""
EARLIEST_REPORT = datetime(2000, 1, 1, tzinfo=UTC)
HOME_LONLAT = (113.08, 22.60)
HOME_HINT = "蓬江区 is near lon 113.08, lat 22.60"
NEAR_HOME_KM = 1000.0
"""A pair that is far from the district but, swapped, within this of it, looks swapped."""
MAX_ID = 2**63 - 1

_PHONE = re.compile(r"^[0-9+\- ]{5,20}$")
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{8,32}$")
_M_PER_DEG = 111_320.0
# Duplicate locks: cells of 2 x radius / 50 km-per-degree, so that any two
# points within the radius share a locked cell (valid up to ~63 degrees lat).
_LOCK_M_PER_DEG = 50_000.0


# ------------------------------------------------------------------ input


def _clean_text(value: str) -> str:
    """Refuse what PostgreSQL text cannot hold (NUL, lone surrogates)."""
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("is not valid Unicode text") from None
    return value


class ComplaintIn(BaseModel):
    """A resident's complaint as sent (lon/lat in `crs`; all text stripped).

    Text is stored and returned as text: HTML or script in a description is
    never interpreted, only carried.
    """

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    lon: float | None = Field(
        default=None, allow_inf_nan=False, description="longitude (x) in `crs`"
    )
    lat: float | None = Field(
        default=None, allow_inf_nan=False, description="latitude (y) in `crs`"
    )
    crs: str = Field(
        default="wgs84",
        min_length=1,
        max_length=32,
        description="wgs84 | cgcs2000 | gcj02 | bd09 | EPSG:n",
    )
    subclass: str = Field(
        min_length=1, max_length=16, description="subclass code of the catalogue, e.g. 0101"
    )
    description: str = Field(default="", max_length=2000)
    reporter_name: str | None = Field(default=None, max_length=50)
    reporter_phone: str | None = Field(default=None, max_length=20)
    address: str | None = Field(default=None, max_length=300)
    photos: list[str] = Field(
        default_factory=list, max_length=9, description="up to 9 http(s) URLs"
    )
    reported_at: datetime | None = Field(
        default=None, description="when it was seen; ISO 8601 with a time-zone offset"
    )

    @field_validator("crs", "subclass", "description", "reporter_name", "reporter_phone", "address")
    @classmethod
    def _text(cls, value: str | None) -> str | None:
        return None if value is None else _clean_text(value)

    @field_validator("reporter_name", "address")
    @classmethod
    def _empty_is_none(cls, value: str | None) -> str | None:
        return value or None

    @field_validator("reporter_phone")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        if not value:
            return None
        if not _PHONE.fullmatch(value):
            raise ValueError("a phone number is 5-20 digits, '+', '-' or spaces")
        return value

    @field_validator("crs")
    @classmethod
    def _crs(cls, value: str) -> str:
        try:
            return crsmod.parse_crs(value)
        except crsmod.UnknownCRSError as exc:
            raise ValueError(str(exc)) from None

    @field_validator("photos")
    @classmethod
    def _photos(cls, value: list[str]) -> list[str]:
        out = []
        for i, url in enumerate(value):
            url = _clean_text(url.strip())
            parts = urlsplit(url)
            if (
                len(url) > 1000
                or parts.scheme not in ("http", "https")
                or not parts.netloc
                or any(ch.isspace() for ch in url)
            ):
                raise ValueError(f"photo {i + 1} must be an http(s) URL of at most 1000 characters")
            out.append(url)
        return out

    @field_validator("reported_at")
    @classmethod
    def _reported_at(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("must include a time-zone offset, e.g. 2026-11-24T09:30:00+08:00")
        if value > datetime.now(UTC) + FUTURE_SLACK:
            raise ValueError("is in the future")
        if value < EARLIEST_REPORT:
            raise ValueError("is before 2000")
        return value

    @model_validator(mode="after")
    def _pair(self) -> ComplaintIn:
        if (self.lon is None) != (self.lat is None):
            raise PydanticCustomError(
                "lon_lat_pair",
                "lon and lat go together: send both, or neither (with an address)",
                {"field": "lon,lat"},
            )
        return self


# ------------------------------------------------------------- coordinates


@lru_cache(maxsize=64)
def _is_geographic(canonical: str) -> bool:
    if canonical in crsmod.CANONICAL_NAMES:
        return True
    return bool(CRS.from_user_input(canonical).is_geographic)


def _convert(lon: float, lat: float, canonical: str) -> tuple[float, float] | None:
    try:
        x, y = crsmod.to_wgs84(lon, lat, canonical)
    except Exception:  # pyproj raises assorted errors on odd input
        return None
    return (x, y) if math.isfinite(x) and math.isfinite(y) else None


def _km_from_home(x: float, y: float) -> float:
    """Great-circle distance in km from the district (haversine, good enough here)."""
    lon0, lat0 = map(math.radians, HOME_LONLAT)
    lon1, lat1 = math.radians(x), math.radians(y)
    a = (
        math.sin((lat1 - lat0) / 2) ** 2
        + math.cos(lat0) * math.cos(lat1) * math.sin((lon1 - lon0) / 2) ** 2
    )
    return 2 * 6371.0 * math.asin(min(1.0, math.sqrt(a)))


def _looks_swapped(lon: float, lat: float, canonical: str) -> bool:
    """True when (lat, lon), read the other way round, is a point near the district."""
    if _is_geographic(canonical) and abs(lon) > 90:
        return False  # what was sent as lon cannot be a latitude
    swapped = _convert(lat, lon, canonical)
    if swapped is None or not (-180 <= swapped[0] <= 180 and -90 <= swapped[1] <= 90):
        return False
    return _km_from_home(*swapped) <= NEAR_HOME_KM


def check_coordinates(
    lon: float,
    lat: float,
    crs: str = "wgs84",
    *,
    require_china: bool = True,
) -> tuple[float, float, str]:
    """Check a point as sent and convert it: (lon, lat) in WGS84 and the canonical CRS.

    Refuses (InvalidInput, naming the field) an unknown CRS, non-finite values,
    values out of range, a pair that looks swapped (far from the district,
    but within NEAR_HOME_KM of it read the other way round; also for
    projected CRSs) and, with `require_china`, a point outside China: no
    complaint there can be about this district or be referred to a
    neighbour, so the sender hears at once instead of it being kept.
    """
    try:
        canonical = crsmod.parse_crs(crs)
    except crsmod.UnknownCRSError as exc:
        raise InvalidInput(str(exc), field="crs") from None
    if not (math.isfinite(lon) and math.isfinite(lat)):
        raise InvalidInput("lon and lat must be finite numbers", field="lon,lat")
    swapped_msg = (
        f"lon {lon:g} and lat {lat:g} look swapped ({HOME_HINT}): send the "
        "longitude as lon and the latitude as lat"
    )
    if _is_geographic(canonical) and (abs(lat) > 90 or abs(lon) > 180):
        if _looks_swapped(lon, lat, canonical):
            raise InvalidInput(swapped_msg, field="lon,lat")
        raise InvalidInput(
            f"lon must be within -180..180 and lat within -90..90 (got lon {lon:g}, lat {lat:g})",
            field="lon,lat",
        )
    converted = _convert(lon, lat, canonical)
    if converted is None:
        raise InvalidInput(
            f"lon {lon:g}, lat {lat:g} cannot be converted from {canonical}", field="lon,lat"
        )
    x, y = converted
    if not (-180 <= x <= 180 and -90 <= y <= 90):
        raise InvalidInput(
            f"lon {lon:g}, lat {lat:g} in {canonical} is not a place on Earth", field="lon,lat"
        )
    if _km_from_home(x, y) > NEAR_HOME_KM and _looks_swapped(lon, lat, canonical):
        raise InvalidInput(swapped_msg, field="lon,lat")
    if require_china and not crsmod.in_china(x, y):
        raise InvalidInput(
            f"lon {x:.5f}, lat {y:.5f} (WGS84) is outside China; this service takes "
            f"complaints about 蓬江区 and its neighbours ({HOME_HINT})",
            field="lon,lat",
        )
    return x, y, canonical


def locate_point(
    engine: Engine, lon: float, lat: float, crs: str = "wgs84", settings: Settings | None = None
) -> Location:
    """Locate one point as `grid locate` does, after the same checks as intake.

    Swapped pairs and unknown CRSs are refused; a far-away point is answered
    as `outside` (this only looks, it creates nothing).
    """
    x, y, _ = check_coordinates(lon, lat, crs, require_china=False)
    with engine.connect() as conn:
        try:
            return locate(conn, x, y, "wgs84", settings)
        except InvalidLocation as exc:
            raise InvalidInput(str(exc), field="lon,lat") from None


# ------------------------------------------------------------------ views


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(LOCAL_TZ).isoformat()


def open311_status(status: str) -> str:
    """Open311 status of a case status: `closed` for closed and referred_out (转办,
    handled elsewhere), `open` for open, merged (its master is) and needs_location."""
    return "closed" if status in ("closed", "referred_out") else "open"


@dataclass(frozen=True)
class CaseView:
    """A case for dispatchers and the API (personal data masked); `as_dict` is JSON-ready.

    `open311_status` is `open` unless the case is closed or referred_out (→ `closed`).
    `officers` are the active officers of the case's station, the one on duty now
    first, each {code, name (masked), role, on_duty}.
    """

    id: int
    token: str
    status: str
    open311_status: str
    status_note: str
    subclass: str
    subclass_name: str | None
    tier: str
    description: str
    address: str
    photos: list[str]
    lon: float | None
    lat: float | None
    crs_in: str | None
    lon_in: float | None
    lat_in: float | None
    locate_method: str
    locate_distance_m: float | None
    grid_code: str | None
    community: str | None
    community_name: str | None
    subdistrict: str | None
    subdistrict_name: str | None
    station: str | None
    station_name: str | None
    squad: str | None
    squad_name: str | None
    district_code: str | None
    district: str | None
    officers: list[dict[str, Any]]
    officer_code: str | None
    master_id: int | None
    report_count: int
    source: str
    reported_at: str | None
    created_at: str | None
    due_at: str | None
    closed_at: str | None
    reporter_name: str | None
    reporter_phone: str | None
    version: int

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (times ISO 8601 in Asia/Shanghai)."""
        return asdict(self)


@dataclass(frozen=True)
class PublicCaseView:
    """What a resident sees by tracking token: no personal data, no free text.

    A merged complaint's token shows its master case (`merged` true,
    `case_id` the master's id).
    """

    token: str
    case_id: int
    merged: bool
    status: str
    open311_status: str
    status_note: str
    subclass: str
    subclass_name: str | None
    tier: str
    grid_code: str | None
    community_name: str | None
    subdistrict_name: str | None
    station_name: str | None
    squad_name: str | None
    district: str | None
    lon: float | None
    lat: float | None
    report_count: int
    reported_at: str | None
    created_at: str | None
    due_at: str | None
    closed_at: str | None
    events: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)


def _on_duty(weekday: int | None, half: str | None, now: datetime) -> bool:
    """On duty now: the officer's weekday (0 = Monday) and half day (am before 12:00)."""
    local = now.astimezone(LOCAL_TZ)
    return weekday == local.weekday() and half == ("am" if local.hour < 12 else "pm")


def _officers(
    rows: list[dict[str, Any]], now: datetime, settings: Settings
) -> list[dict[str, Any]]:
    out = []
    for o in rows:
        name = decrypt(bytes.fromhex(o["name_hex"]), settings) if o.get("name_hex") else None
        out.append(
            {
                "code": o["code"],
                "name": mask_name(name),
                "role": o["role"],
                "on_duty": _on_duty(o["duty_weekday"], o["duty_half"], now),
            }
        )
    out.sort(key=lambda o: (not o["on_duty"], o["code"]))
    return out


_VIEW = sa.text("""
SELECT c.*, ST_X(c.geom) AS lon, ST_Y(c.geom) AS lat,
       cm.name AS community_name, sd.name AS subdistrict_name,
       st.name AS station_name, sq.name AS squad_name, d.name AS district_name,
       (SELECT coalesce(json_agg(json_build_object(
                   'code', o.code, 'role', o.role, 'duty_weekday', o.duty_weekday,
                   'duty_half', o.duty_half, 'name_hex', encode(o.name_enc, 'hex'))
               ORDER BY o.code), '[]'::json)
          FROM officer o WHERE o.station_code = c.station_code AND o.active) AS officer_rows
FROM case_file c
LEFT JOIN grid_cell g ON g.id = c.grid_cell_id
LEFT JOIN community cm ON cm.generation_id = g.generation_id AND cm.code = c.community_code
LEFT JOIN subdistrict sd ON sd.generation_id = g.generation_id
                         AND sd.code = c.subdistrict_code
LEFT JOIN station st ON st.code = c.station_code
LEFT JOIN squad sq ON sq.code = c.squad_code
LEFT JOIN LATERAL (
    SELECT dd.name FROM district dd JOIN layout_generation lg ON lg.id = dd.generation_id
    WHERE dd.code = c.district_code
    ORDER BY (dd.generation_id = g.generation_id) DESC NULLS LAST, lg.is_current DESC, lg.id DESC
    LIMIT 1
) d ON true
WHERE c.id = :id
""")


def _subclass_name(catalogue: Catalogue, code: str) -> str | None:
    try:
        return catalogue.subclass(code).name
    except InvalidInput:
        return None  # a code since removed from the catalogue


def _round(value: float | None, digits: int = 7) -> float | None:
    return None if value is None else round(float(value), digits)


def _view_row(conn: Connection, case_id: int) -> Any:
    row = conn.execute(_VIEW, {"id": case_id}).mappings().first()
    if row is None:
        raise NotFound(f"no complaint with id {case_id}", field="id")
    return row


def _case_view(row: Any, settings: Settings) -> CaseView:
    catalogue = load_catalogue(settings.data_dir / CATALOGUE_FILE)
    now = datetime.now(UTC)
    return CaseView(
        id=row["id"],
        token=row["token"],
        status=row["status"],
        open311_status=open311_status(row["status"]),
        status_note=row["status_note"],
        subclass=row["subclass_code"],
        subclass_name=_subclass_name(catalogue, row["subclass_code"]),
        tier=row["tier"],
        description=row["description"],
        address=row["address"],
        photos=list(row["photos"] or []),
        lon=_round(row["lon"]),
        lat=_round(row["lat"]),
        crs_in=row["crs_in"],
        lon_in=row["lon_in"],
        lat_in=row["lat_in"],
        locate_method=row["locate_method"],
        locate_distance_m=_round(row["locate_distance_m"], 2),
        grid_code=row["grid_code"],
        community=row["community_code"],
        community_name=row["community_name"],
        subdistrict=row["subdistrict_code"],
        subdistrict_name=row["subdistrict_name"],
        station=row["station_code"],
        station_name=row["station_name"],
        squad=row["squad_code"],
        squad_name=row["squad_name"],
        district_code=row["district_code"],
        district=row["district_name"],
        officers=_officers(list(row["officer_rows"] or []), now, settings),
        officer_code=row["officer_code"],
        master_id=row["master_id"],
        report_count=row["report_count"],
        source=row["source"],
        reported_at=_iso(row["reported_at"]),
        created_at=_iso(row["created_at"]),
        due_at=_iso(row["due_at"]),
        closed_at=_iso(row["closed_at"]),
        reporter_name=mask_name(decrypt(row["reporter_name_enc"], settings)),
        reporter_phone=mask_phone(decrypt(row["reporter_phone_enc"], settings)),
        version=row["version"],
    )


def _check_id(case_id: int) -> int:
    if isinstance(case_id, bool) or not isinstance(case_id, int) or not 0 < case_id <= MAX_ID:
        raise InvalidInput("a complaint id is a positive integer", field="id")
    return case_id


def get_case(engine: Engine, case_id: int, settings: Settings | None = None) -> CaseView:
    """The case with this id, personal data masked (NotFound when there is none)."""
    settings = settings or get_settings()
    _check_id(case_id)
    with engine.connect() as conn:
        return _case_view(_view_row(conn, case_id), settings)


_EVENTS = sa.text("""
SELECT id, at, kind, actor, data FROM case_event WHERE case_id = :id ORDER BY at, id
""")


def _events(conn: Connection, case_id: int) -> list[dict[str, Any]]:
    return [
        {"id": r.id, "at": _iso(r.at), "kind": r.kind, "actor": r.actor, "data": r.data}
        for r in conn.execute(_EVENTS, {"id": case_id})
    ]


def case_events(engine: Engine, case_id: int) -> list[dict[str, Any]]:
    """The events of a case, oldest first (NotFound when there is no such case)."""
    _check_id(case_id)
    with engine.connect() as conn:
        if (
            conn.execute(sa.text("SELECT 1 FROM case_file WHERE id = :id"), {"id": case_id}).first()
            is None
        ):
            raise NotFound(f"no complaint with id {case_id}", field="id")
        return _events(conn, case_id)


_PUBLIC_EVENTS = (
    "created",
    "dispatched",
    "merged",
    "report_added",
    "referred_out",
    "needs_location",
    "closed",
    "reopened",
    "escalated",
)


def get_case_by_token(
    engine: Engine, token: str, settings: Settings | None = None
) -> PublicCaseView:
    """What the holder of a tracking token may see; follows merges to the master case."""
    settings = settings or get_settings()
    if not isinstance(token, str) or not _TOKEN.fullmatch(token):
        raise NotFound("no complaint with this token", field="token")
    with engine.connect() as conn:
        row = conn.execute(
            sa.text("SELECT id, master_id FROM case_file WHERE token = :t"), {"t": token}
        ).first()
        if row is None:
            raise NotFound("no complaint with this token", field="token")
        case_id, master_id, hops = row.id, row.master_id, 0
        while master_id is not None and hops < 10:  # masters are normally never merged
            case_id, hops = master_id, hops + 1
            master_id = conn.execute(
                sa.text("SELECT master_id FROM case_file WHERE id = :i"), {"i": case_id}
            ).scalar()
        view = _case_view(_view_row(conn, case_id), settings)
        events = [
            {"at": e["at"], "kind": e["kind"]}
            for e in _events(conn, case_id)
            if e["kind"] in _PUBLIC_EVENTS
        ]
    return PublicCaseView(
        token=token,
        case_id=view.id,
        merged=view.id != row.id,
        status=view.status,
        open311_status=view.open311_status,
        status_note=view.status_note,
        subclass=view.subclass,
        subclass_name=view.subclass_name,
        tier=view.tier,
        grid_code=view.grid_code,
        community_name=view.community_name,
        subdistrict_name=view.subdistrict_name,
        station_name=view.station_name,
        squad_name=view.squad_name,
        district=view.district,
        lon=view.lon,
        lat=view.lat,
        report_count=view.report_count,
        reported_at=view.reported_at,
        created_at=view.created_at,
        due_at=view.due_at,
        closed_at=view.closed_at,
        events=events,
    )


# ----------------------------------------------------------------- intake


def _lock_keys(subclass: str, x: float, y: float, radius_m: float) -> list[int]:
    """Advisory-lock keys of the cells a duplicate search around (x, y) could touch."""
    reach = radius_m / _LOCK_M_PER_DEG
    size = 2 * reach
    keys = set()
    for ix in range(math.floor((x - reach) / size), math.floor((x + reach) / size) + 1):
        for iy in range(math.floor((y - reach) / size), math.floor((y + reach) / size) + 1):
            digest = hashlib.sha256(f"dup\0{subclass}\0{ix}\0{iy}".encode()).digest()
            keys.add(int.from_bytes(digest[:8], "big", signed=True))
    return sorted(keys)


_LOCK_CELLS = sa.text("SELECT pg_advisory_xact_lock(k) FROM unnest(CAST(:keys AS bigint[])) AS k")

_FIND_MASTER = sa.text("""
SELECT id, officer_code FROM case_file
WHERE status = 'open' AND master_id IS NULL AND subclass_code = :subclass
  AND ST_DWithin(geom, ST_SetSRID(ST_MakePoint(:x, :y), 4326), :deg)
  AND ST_DWithin(geom::geography, ST_SetSRID(ST_MakePoint(:x, :y), 4326)::geography, :radius)
  AND reported_at BETWEEN :since AND :until
ORDER BY ST_Distance(geom::geography, ST_SetSRID(ST_MakePoint(:x, :y), 4326)::geography), id
LIMIT 1
FOR UPDATE
""")

_BUMP_MASTER = sa.text("""
WITH m AS (
    UPDATE case_file SET report_count = report_count + 1, version = version + 1
    WHERE id = :master RETURNING id, report_count
)
INSERT INTO case_event (case_id, kind, actor, data)
SELECT m.id, 'report_added', 'system',
       jsonb_build_object('case_id', CAST(:case_id AS bigint), 'report_count', m.report_count)
FROM m
""")

_STATION_OFFICERS = sa.text("""
SELECT code, role, duty_weekday, duty_half, encode(name_enc, 'hex') AS name_hex
FROM officer WHERE station_code = :station AND active ORDER BY code
""")

_INSERT_CASE = sa.text("""
WITH c AS (
    INSERT INTO case_file (
        token, status, subclass_code, tier, description, address, photos,
        reporter_name_enc, reporter_phone_enc, source, lon_in, lat_in, crs_in, geom,
        locate_method, locate_distance_m, grid_cell_id, grid_code, community_code,
        subdistrict_code, station_code, squad_code, district_code, officer_code, master_id,
        reported_at, created_at, due_at, status_note, api_key_id)
    VALUES (
        :token, :status, :subclass, :tier, :description, :address, CAST(:photos AS jsonb),
        :name_enc, :phone_enc, :source, :lon_in, :lat_in, :crs_in,
        CASE WHEN CAST(:x AS float8) IS NULL THEN NULL
             ELSE ST_SetSRID(ST_MakePoint(:x, :y), 4326) END,
        :method, :distance, :grid_id, :grid_code, :community, :subdistrict, :station, :squad,
        :district, :officer, :master, :reported_at, :created_at, :due_at, :note, :api_key_id)
    RETURNING id
)
INSERT INTO case_event (case_id, kind, actor, data)
SELECT c.id, e.v ->> 'kind', e.v ->> 'actor', e.v -> 'data'
FROM c, jsonb_array_elements(CAST(:events AS jsonb)) WITH ORDINALITY AS e(v, n)
ORDER BY e.n
RETURNING case_id
""")


def _station_officers(conn: Connection, station: str | None) -> list[dict[str, Any]]:
    """The active officers of a station, by code (as the view query gives them)."""
    if station is None:
        return []
    return [
        dict(r) for r in execute_prepared(conn, _STATION_OFFICERS, {"station": station}).mappings()
    ]


def _pick_officer(officers: list[dict[str, Any]], now: datetime) -> str | None:
    """The station's officer on duty now, else its active officer with the lowest code."""
    for o in officers:
        if _on_duty(o["duty_weekday"], o["duty_half"], now):
            return str(o["code"])
    return str(officers[0]["code"]) if officers else None


def _find_master(
    conn: Connection, sub: Subclass, x: float, y: float, reported_at: datetime
) -> tuple[int, str | None] | None:
    # Keys in ascending order, taken one by one: no two intakes can deadlock.
    execute_prepared(
        conn, _LOCK_CELLS, {"keys": _lock_keys(sub.code, x, y, sub.duplicate_radius_m)}
    ).all()
    window = timedelta(hours=sub.duplicate_window_hours)
    deg = 1.05 * sub.duplicate_radius_m / (_M_PER_DEG * max(math.cos(math.radians(y)), 0.1))
    row = execute_prepared(
        conn,
        _FIND_MASTER,
        {
            "subclass": sub.code,
            "x": x,
            "y": y,
            "deg": deg,
            "radius": sub.duplicate_radius_m,
            "since": reported_at - window,
            "until": reported_at + window,
        },
    ).first()
    return None if row is None else (int(row.id), row.officer_code)


def _placement(loc: Location | None) -> tuple[str, str]:
    """(status, status_note) for where the point fell; `open` may still become merged."""
    if loc is None:
        return "needs_location", "无坐标，待调度员按地址定位"
    if loc.method in ("contained", "snapped"):
        return "open", ""
    if loc.method == "unassigned":
        return "needs_location", "位于辖区内但不在任何网格内，待调度员定位"
    if loc.district:
        return "referred_out", f"转办：该位置不在本区，属{loc.district}，待指挥中心转交该区处理"
    return "referred_out", "转办：该位置不在本区及相邻区，待指挥中心核实转交"


def submit_complaint(
    engine: Engine,
    complaint: ComplaintIn,
    *,
    source: str = "api",
    api_key_id: int | None = None,
    settings: Settings | None = None,
) -> CaseView:
    """Take one complaint into the workflow, in one transaction; returns its view.

    Raises InvalidInput (field named) for an unknown subclass or CRS, bad or
    swapped coordinates, or a complaint with neither coordinates nor address.
    """
    settings = settings or get_settings()
    if not 0 < len(source) <= 16:
        raise ValueError("source must be 1-16 characters")
    path = settings.data_dir / CATALOGUE_FILE
    sub = load_catalogue(path).subclass(complaint.subclass)
    calendar = load_calendar(path)
    if (complaint.lon is None) != (complaint.lat is None):
        raise InvalidInput(
            "lon and lat go together: send both, or neither (with an address)", field="lon,lat"
        )
    point: tuple[float, float] | None = None
    crs_in: str | None = None
    if complaint.lon is not None and complaint.lat is not None:
        x, y, crs_in = check_coordinates(complaint.lon, complaint.lat, complaint.crs)
        point = (x, y)
    elif not complaint.address:
        raise InvalidInput("a complaint needs a place: lon and lat, or an address", field="lon,lat")
    now = datetime.now(UTC)
    reported_at = complaint.reported_at or now
    token = secrets.token_urlsafe(12)

    with transaction(engine) as conn:
        loc: Location | None = None
        if point is not None:
            try:
                loc = locate(conn, point[0], point[1], "wgs84", settings)
            except InvalidLocation as exc:
                raise InvalidInput(str(exc), field="lon,lat") from None
        status, note = _placement(loc)
        events: list[dict[str, Any]] = [
            {
                "kind": "created",
                "actor": source,
                "data": {"source": source, "subclass": sub.code, "tier": sub.tier},
            }
        ]
        if loc is not None:
            events.append(
                {
                    "kind": "located",
                    "actor": "system",
                    "data": {
                        "method": loc.method,
                        "grid_code": loc.grid_code,
                        "distance_m": loc.distance_m,
                        "district_code": loc.district_code,
                        "crs_in": crs_in,
                        "generation": loc.generation,
                    },
                }
            )
        officers = _station_officers(conn, loc.station if loc else None)
        master: tuple[int, str | None] | None = None
        officer: str | None = None
        due_at: datetime | None = None
        if status == "open" and point is not None:
            master = _find_master(conn, sub, point[0], point[1], reported_at)
        if master is not None:
            status, officer = "merged", master[1]
            note = f"与案件 {master[0]} 重复，已合并"
            events.append({"kind": "merged", "actor": "system", "data": {"master_id": master[0]}})
        elif status == "open":
            assert loc is not None
            officer = _pick_officer(officers, now)
            due_at = calendar.add_working_hours(now, sub.time_limit_hours)
            events.append(
                {
                    "kind": "dispatched",
                    "actor": "system",
                    "data": {
                        "station": loc.station,
                        "squad": loc.squad,
                        "officer_code": officer,
                        "tier": sub.tier,
                        "time_limit_hours": sub.time_limit_hours,
                        "due_at": due_at.isoformat(),
                    },
                }
            )
        elif status == "referred_out":
            events.append(
                {
                    "kind": "referred_out",
                    "actor": "system",
                    "data": {"district_code": loc.district_code if loc else None},
                }
            )
        else:
            events.append(
                {
                    "kind": "needs_location",
                    "actor": "system",
                    "data": {"method": loc.method if loc else "none"},
                }
            )

        params: dict[str, Any] = {
            "token": token,
            "status": status,
            "subclass": sub.code,
            "tier": sub.tier,
            "description": complaint.description,
            "address": complaint.address or "",
            "photos": json.dumps(complaint.photos),
            "name_enc": encrypt(complaint.reporter_name, settings),
            "phone_enc": encrypt(complaint.reporter_phone, settings),
            "source": source,
            "lon_in": complaint.lon,
            "lat_in": complaint.lat,
            "crs_in": crs_in,
            "x": point[0] if point else None,
            "y": point[1] if point else None,
            "method": loc.method if loc else "none",
            "distance": loc.distance_m if loc else None,
            "grid_id": loc.grid_id if loc else None,
            "grid_code": loc.grid_code if loc else None,
            "community": loc.community if loc else None,
            "subdistrict": loc.subdistrict if loc else None,
            "station": loc.station if loc else None,
            "squad": loc.squad if loc else None,
            "district": loc.district_code if loc else None,
            "officer": officer,
            "master": master[0] if master else None,
            "reported_at": reported_at,
            "created_at": now,
            "due_at": due_at,
            "note": note,
            "api_key_id": api_key_id,
            "events": json.dumps(events, ensure_ascii=False),
        }
        case_id = execute_prepared(conn, _INSERT_CASE, params).scalars().first()
        assert case_id is not None
        if master is not None:
            execute_prepared(conn, _BUMP_MASTER, {"master": master[0], "case_id": case_id})
        # The view from what was just written (as get_case reads it back; tested).
        row = {
            "id": case_id,
            "token": token,
            "status": status,
            "status_note": note,
            "subclass_code": sub.code,
            "tier": sub.tier,
            "description": complaint.description,
            "address": params["address"],
            "photos": complaint.photos,
            "lon": params["x"],
            "lat": params["y"],
            "crs_in": crs_in,
            "lon_in": complaint.lon,
            "lat_in": complaint.lat,
            "locate_method": params["method"],
            "locate_distance_m": params["distance"],
            "grid_code": params["grid_code"],
            "community_code": params["community"],
            "community_name": loc.community_name if loc else None,
            "subdistrict_code": params["subdistrict"],
            "subdistrict_name": loc.subdistrict_name if loc else None,
            "station_code": params["station"],
            "station_name": loc.station_name if loc else None,
            "squad_code": params["squad"],
            "squad_name": loc.squad_name if loc else None,
            "district_code": params["district"],
            "district_name": loc.district if loc else None,
            "officer_rows": officers,
            "officer_code": officer,
            "master_id": params["master"],
            "report_count": 1,
            "source": source,
            "reported_at": reported_at,
            "created_at": now,
            "due_at": due_at,
            "closed_at": None,
            "reporter_name_enc": params["name_enc"],
            "reporter_phone_enc": params["phone_enc"],
            "version": 1,
        }
        return _case_view(row, settings)
