"""Views of cases: what dispatchers (masked) and residents (by token) see.

Times are shown in the bureau's local time (the calendar's zone); names and
phone numbers are decrypted only to be masked; a resident's token view has
no personal data and no free text.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from cases.calendar import load_calendar
from cases.catalogue import CATALOGUE_FILE, Catalogue, load_catalogue
from cases.errors import InvalidInput, NotFound
from cases.intake.model import MAX_ID
from cases.lifecycle.states import CLOSED_STATES, PUBLIC_EVENTS
from cases.stations.onduty import roll_sql
from gis.privacy import decrypt, mask_name, mask_phone
from gis.settings import Settings, get_settings

_TOKEN = re.compile(r"^[A-Za-z0-9_-]{8,32}$")


def _tz_name() -> str:
    return load_calendar().config.timezone


def _iso(value: datetime | None) -> str | None:
    """A time for people: ISO 8601 in the calendar's zone (the bureau's local time)."""
    return None if value is None else value.astimezone(ZoneInfo(_tz_name())).isoformat()


def open311_status(status: str) -> str:
    """Open311 status of a case's state: `closed` for the finished ones (closed,
    evaluated, cancelled, referred_out: 转办, handled elsewhere), `open` for the
    others (a duplicate's own view: its master is open; see cases.open311)."""
    return "closed" if status in CLOSED_STATES else "open"


@dataclass(frozen=True)
class CaseView:
    """A case for dispatchers and the API (personal data masked); `as_dict` is JSON-ready.

    `open311_status` is `closed` for a finished case (cases.lifecycle.states), else `open`.
    `holder_role`/`holder_code`: who holds it now (cases.lifecycle.holders).
    `officers` are the case's station's officers and whoever is on duty there now
    (a shift covering the moment, present or planned: cases.stations.onduty), those
    on duty first, then by code; each {code, name (masked), role, on_duty}.
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
    holder_role: str | None = None
    holder_code: str | None = None
    department_code: str | None = None
    dispatched_at: str | None = None
    due_provisional: bool = False
    reply_due_at: str | None = None
    reply_provisional: bool = False

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


def _officers(rows: list[dict[str, Any]], settings: Settings) -> list[dict[str, Any]]:
    """The station's officers for a view, in the order given (on duty first: see
    cases.stations.onduty.station_roll), names masked."""
    out = []
    for o in rows:
        name = decrypt(bytes.fromhex(o["name_hex"]), settings) if o.get("name_hex") else None
        out.append(
            {
                "code": o["code"],
                "name": mask_name(name),
                "role": o["role"],
                "on_duty": bool(o["on_duty"]),
            }
        )
    return out


_VIEW = sa.text(f"""
SELECT c.*, ST_X(c.geom) AS lon, ST_Y(c.geom) AS lat,
       cm.name AS community_name, sd.name AS subdistrict_name,
       st.name AS station_name, sq.name AS squad_name, d.name AS district_name,
       (SELECT coalesce(json_agg(json_build_object(
                   'code', o.code, 'role', o.role, 'name_hex', encode(o.name_enc, 'hex'),
                   'on_duty', r.state IN ('present', 'planned'))
               ORDER BY r.state NOT IN ('present', 'planned'), o.code), '[]'::json)
          FROM ({roll_sql("c.station_code", "now()")}) r
          JOIN officer o ON o.code = r.code) AS officer_rows
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


def case_view_from_row(row: Any, settings: Settings) -> CaseView:
    catalogue = load_catalogue(settings.data_dir / CATALOGUE_FILE)
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
        officers=_officers(list(row["officer_rows"] or []), settings),
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
        holder_role=row["holder_role"],
        holder_code=row["holder_code"],
        department_code=row["department_code"],
        dispatched_at=_iso(row["dispatched_at"]),
        due_provisional=bool(row["due_provisional"]),
        reply_due_at=_iso(row["reply_due_at"]),
        reply_provisional=bool(row["reply_provisional"]),
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
        return case_view_from_row(_view_row(conn, case_id), settings)


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


_PUBLIC_EVENTS = PUBLIC_EVENTS


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
        view = case_view_from_row(_view_row(conn, case_id), settings)
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
