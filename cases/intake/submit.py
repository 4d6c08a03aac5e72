"""The single path: one complaint, one transaction, the rules of cases.intake.rules.

`submit_complaint` does, in one transaction: check the subclass and the
coordinates (converted to WGS84 at this edge, once, and checked against the
loaded district), locate the point, look for an open case it duplicates
(cases.intake.duplicates), apply the rules to this one complaint (status and
note, tier, due time from now, the moment of dispatch, and the officer who
takes it now: cases.stations.onduty, the rule a file's rows go through too),
and write the case with its events in one statement.

Personal data (reporter name and phone) is encrypted at rest with
gis.privacy and only ever shown masked; nothing here logs it.
"""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from cases.calendar import load_calendar
from cases.catalogue import CATALOGUE_FILE, load_catalogue
from cases.errors import InvalidInput
from cases.idempotency import transaction
from cases.intake.coordinates import check_coordinates
from cases.intake.duplicates import add_report, find_master
from cases.intake.model import ComplaintIn
from cases.intake.rules import Placed, decide
from cases.intake.views import CaseView, case_view_from_row
from cases.lifecycle.holders import leaders_of
from cases.stations.onduty import pick_officers, station_roll
from gis.district import home_district
from gis.locate import InvalidLocation, Location, locate
from gis.prepared import execute_prepared
from gis.privacy import encrypt
from gis.settings import Settings, get_settings

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

CONTEXT = sa.text("""
SELECT
    (SELECT count(*) FROM case_file
     WHERE subclass_code = :subclass AND grid_code = :grid
       AND reported_at BETWEEN :since AND :at) AS prior,
    (SELECT coalesce(array_agg(grid_code || '/' || department_code), '{}')
     FROM grid_department WHERE grid_code = :grid) AS departments,
    (SELECT min(code) FROM officer
     WHERE active AND role = 'squad_leader' AND squad_code = :squad) AS squad_leader,
    (SELECT coalesce(array_agg(code ORDER BY code), '{}') FROM officer
     WHERE active AND role = 'deputy_leader') AS deputies,
    (SELECT min(code) FROM officer WHERE active AND role = 'chief') AS chief
""")
"""What the rules need besides the point: earlier reports of the subclass in the
grid (repeat window), the grid's 党建+N departments, the leaders by tier."""

INSERT_CASE = sa.text("""
WITH c AS (
    INSERT INTO case_file (
        token, status, subclass_code, tier, description, address, photos,
        reporter_name_enc, reporter_phone_enc, source, lon_in, lat_in, crs_in, geom,
        locate_method, locate_distance_m, grid_cell_id, grid_code, community_code,
        subdistrict_code, station_code, squad_code, district_code, officer_code, master_id,
        reported_at, created_at, due_at, status_note, api_key_id, holder_role, holder_code,
        department_code, dispatched_at, due_provisional, reply_due_at, reply_provisional)
    VALUES (
        :token, :status, :subclass, :tier, :description, :address, CAST(:photos AS jsonb),
        :name_enc, :phone_enc, :source, :lon_in, :lat_in, :crs_in,
        CASE WHEN CAST(:x AS float8) IS NULL THEN NULL
             ELSE ST_SetSRID(ST_MakePoint(:x, :y), 4326) END,
        :method, :distance, :grid_id, :grid_code, :community, :subdistrict, :station, :squad,
        :district, :officer, :master, :reported_at, :created_at, :due_at, :note, :api_key_id,
        :holder_role, :holder_code, :department, :dispatched_at, :due_provisional,
        :reply_due_at, :reply_provisional)
    RETURNING id
)
INSERT INTO case_event (case_id, kind, actor, data)
SELECT c.id, e.kind, e.actor, CAST(e.data AS jsonb)
FROM c, unnest(CAST(:kinds AS text[]), CAST(:actors AS text[]), CAST(:datas AS text[]))
        WITH ORDINALITY AS e(kind, actor, data, n)
ORDER BY e.n
RETURNING case_id
""")


def _one(value: str | None) -> pa.Array:
    return pa.array([value], pa.string())


def _placed(
    subclass: str,
    loc: Location | None,
    dispatched_at: datetime,
    master: tuple[int, str | None] | None,
    duty_officer: str | None,
    prior: int = 0,
) -> Placed:
    """The rules' input for one complaint."""
    outside = loc is not None and loc.method == "outside"
    return Placed(
        subclass=_one(subclass),
        method=_one(loc.method if loc else "none"),
        grid_code=_one(loc.grid_code if loc else None),
        distance_m=np.array([np.nan if loc is None or loc.distance_m is None else loc.distance_m]),
        station=_one(loc.station if loc else None),
        squad=_one(loc.squad if loc else None),
        district_code=_one(loc.district_code if loc else None),
        district_name=_one(loc.district if outside and loc else None),
        generation=np.array([loc.generation if loc and loc.generation else 0], dtype=np.int64),
        dispatched_at=np.array(
            [np.datetime64(dispatched_at.astimezone(UTC).replace(tzinfo=None), "us")]
        ),
        master_id=np.array([master[0] if master else -1], dtype=np.int64),
        master_officer=_one(master[1] if master else None),
        duty_officer=_one(duty_officer),
        prior_reports=np.array([prior], dtype=np.int64),
    )


def _when(value: np.datetime64) -> datetime | None:
    if np.isnat(value):
        return None
    return EPOCH + timedelta(microseconds=int(value.astype("datetime64[us]").astype(np.int64)))


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
    The due clock starts now, at dispatch (cases.intake.rules, rule 3).
    """
    settings = settings or get_settings()
    if not 0 < len(source) <= 16:
        raise ValueError("source must be 1-16 characters")
    catalogue = load_catalogue(settings.data_dir / CATALOGUE_FILE)
    sub = catalogue.subclass(complaint.subclass)
    calendar = load_calendar(settings.data_dir)
    if (complaint.lon is None) != (complaint.lat is None):
        raise InvalidInput(
            "lon and lat go together: send both, or neither (with an address)", field="lon,lat"
        )
    if complaint.lon is None and not complaint.address:
        raise InvalidInput("a complaint needs a place: lon and lat, or an address", field="lon,lat")
    now = datetime.now(UTC)
    reported_at = complaint.reported_at or now
    token = secrets.token_urlsafe(12)

    with transaction(engine) as conn:
        home = home_district(conn, settings)
        point: tuple[float, float] | None = None
        crs_in: str | None = None
        loc: Location | None = None
        if complaint.lon is not None and complaint.lat is not None:
            x, y, crs_in = check_coordinates(complaint.lon, complaint.lat, complaint.crs, home=home)
            point = (x, y)
            try:
                loc = locate(conn, x, y, "wgs84", settings)
            except InvalidLocation as exc:
                raise InvalidInput(str(exc), field="lon,lat") from None
        station = loc.station if loc else None
        officers = station_roll(conn, station, now)
        duty_officer = pick_officers(conn, [station], [now])[0] if station else None
        master: tuple[int, str | None] | None = None
        in_grid = loc is not None and loc.method in ("contained", "snapped")
        if point is not None and in_grid and home is not None:
            master = find_master(conn, sub, point[0], point[1], reported_at, home)
        grid = loc.grid_code if in_grid and loc is not None else None
        ctx = execute_prepared(
            conn,
            CONTEXT,
            {
                "subclass": sub.code,
                "grid": grid,
                "since": reported_at - timedelta(days=settings.repeat_report_days),
                "at": reported_at,
                "squad": loc.squad if loc else None,
            },
        ).one()
        leaders = leaders_of(
            loc.squad if loc else None,
            ctx.squad_leader,
            ctx.deputies,
            ctx.chief,
            settings.deputy_in_charge,
        )
        decision = decide(
            _placed(sub.code, loc, now, master, duty_officer, int(ctx.prior)),
            catalogue,
            calendar,
            source,
            leaders=leaders,
            grid_departments=pa.array(ctx.departments, pa.string()),
            settings=settings,
        )
        status = str(decision.status[0].as_py())
        note = str(decision.note[0].as_py())
        officer = decision.officer[0].as_py()
        tier = str(decision.tier[0].as_py())
        due_at = _when(decision.due_at[0])
        reply_due_at = _when(decision.reply_due_at[0])
        holder_role = decision.holder_role[0].as_py()
        holder_code = decision.holder_code[0].as_py()
        department = decision.department[0].as_py()
        events = decision.events
        params: dict[str, Any] = {
            "token": token,
            "status": status,
            "subclass": sub.code,
            "tier": tier,
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
            "holder_role": holder_role,
            "holder_code": holder_code,
            "department": department,
            "dispatched_at": now if due_at is not None else None,
            "due_provisional": bool(decision.due_provisional[0]),
            "reply_due_at": reply_due_at,
            "reply_provisional": bool(decision.reply_provisional[0]),
            "kinds": events.column("kind").to_pylist(),
            "actors": events.column("actor").to_pylist(),
            "datas": events.column("data").to_pylist(),
        }
        case_id = execute_prepared(conn, INSERT_CASE, params).scalars().first()
        assert case_id is not None
        if master is not None:
            add_report(conn, master[0], case_id)
        # The view from what was just written (as get_case reads it back; tested).
        row = {
            "id": case_id,
            "token": token,
            "status": status,
            "status_note": note,
            "subclass_code": sub.code,
            "tier": tier,
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
            "holder_role": holder_role,
            "holder_code": holder_code,
            "department_code": department,
            "dispatched_at": params["dispatched_at"],
            "due_provisional": params["due_provisional"],
            "reply_due_at": reply_due_at,
            "reply_provisional": params["reply_provisional"],
            "reporter_name_enc": params["name_enc"],
            "reporter_phone_enc": params["phone_enc"],
            "version": 1,
        }
        return case_view_from_row(row, settings)
