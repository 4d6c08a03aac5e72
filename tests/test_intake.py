"""Intake on real PostGIS: locate, every CRS, duplicates, tokens, privacy, idempotency."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.engine import Connection, Engine

from cases.calendar import load_calendar
from cases.catalogue import load_catalogue
from cases.errors import Conflict, InvalidInput, NotFound
from cases.idempotency import run_idempotent
from cases.intake import (
    ComplaintIn,
    case_events,
    check_coordinates,
    get_case,
    get_case_by_token,
    open311_status,
    submit_complaint,
)
from cases.intake.duplicates import FIND_MASTER, lock_keys
from cases.intake.rules import placement
from gis import crs as crsmod
from gis.district import HomeDistrict
from gis.privacy import decrypt
from gis.settings import Settings

Point = tuple[float, float, str]  # lon, lat (WGS84), grid code

_GRID_PICK = sa.text("""
    SELECT g.code, ST_X(p.geom) AS lon, ST_Y(p.geom) AS lat
    FROM grid_cell g
    JOIN layout_generation lg ON lg.id = g.generation_id AND lg.is_current
    JOIN district d ON d.generation_id = g.generation_id AND d.is_home
    CROSS JOIN LATERAL (SELECT ST_PointOnSurface(g.geom) AS geom) p
    -- well inside the district, so that points a few hundred metres away still are
    WHERE ST_Distance(ST_Boundary(d.geom)::geography, p.geom::geography) > 1000
    ORDER BY g.code OFFSET :n LIMIT 1
""")

_counter = itertools.count()


@pytest.fixture
def fresh_point(conn: Connection) -> Callable[[], Point]:
    """A new grid interior point for each call (tests never share a place)."""

    def pick() -> Point:
        n = next(_counter) * 7 + 3  # spread over the district
        row = conn.execute(_GRID_PICK, {"n": n}).one()
        return float(row.lon), float(row.lat), str(row.code)

    return pick


def project(
    conn: Connection, lon: float, lat: float, metres: float, azimuth_deg: float = 90
) -> tuple[float, float]:
    """The point `metres` away on the spheroid (geodesic), for radius tests."""
    row = conn.execute(
        sa.text("""
        SELECT ST_X(q::geometry) AS lon, ST_Y(q::geometry) AS lat FROM (
            SELECT ST_Project(ST_SetSRID(ST_MakePoint(:x, :y), 4326)::geography,
                              :m, radians(:az)) AS q) s"""),
        {"x": lon, "y": lat, "m": metres, "az": azimuth_deg},
    ).one()
    return float(row.lon), float(row.lat)


def complaint(**kw: Any) -> ComplaintIn:
    base: dict[str, Any] = {"subclass": "0103", "description": "人行道上堆满建材"}
    base.update(kw)
    return ComplaintIn.model_validate(base)


def raw_case(engine: Engine, case_id: int) -> Any:
    with engine.connect() as c:
        return c.execute(sa.text("SELECT * FROM case_file WHERE id = :i"), {"i": case_id}).one()


# ------------------------------------------------------------ located cases


def test_inside_a_grid_is_open_and_dispatched(
    engine: Engine,
    settings: Settings,
    conn: Connection,
    fresh_point: Callable[[], Point],
) -> None:
    lon, lat, grid = fresh_point()
    before = datetime.now(UTC)
    view = submit_complaint(
        engine, complaint(lon=lon, lat=lat, address="  建设路 8 号  "), settings=settings
    )
    assert view.status == "dispatched" and view.open311_status == "open"
    assert view.grid_code == grid and view.locate_method == "contained"
    assert view.community == grid[:12] and view.subdistrict == grid[:9]
    assert view.district_code == "440703" and view.district
    assert view.station and view.squad and view.station_name and view.squad_name
    assert view.community_name and view.subdistrict_name
    assert view.address == "建设路 8 号"
    assert view.tier == "minor" and view.subclass_name == "乱堆物料"
    assert view.lon == pytest.approx(lon) and view.lat == pytest.approx(lat)
    assert (view.crs_in, view.lon_in, view.lat_in) == ("wgs84", lon, lat)
    assert len(view.token) == 16 and view.report_count == 1 and view.version == 1
    # due: the subclass's working hours from dispatch (= creation)
    created = datetime.fromisoformat(view.created_at or "")
    assert before <= created <= datetime.now(UTC)
    hours = load_catalogue(settings.data_dir / "catalogue.toml").subclass("0103")
    due = load_calendar(settings.data_dir / "catalogue.toml").add_working_hours(
        created, hours.time_limit_hours
    )
    assert datetime.fromisoformat(view.due_at or "") == due
    # officers of the station by code: no shift covers this moment there, so nobody
    # is on duty, and the case went to the one holding the fewest open cases
    # (cases.stations.onduty; tests/test_intake_duty.py has the shifts)
    shifts = conn.execute(
        sa.text(
            "SELECT count(*) FROM duty_shift WHERE station_code = :s "
            "AND cancelled_at IS NULL AND during @> CAST(:at AS timestamptz)"
        ),
        {"s": view.station, "at": created},
    ).scalar_one()
    assert shifts == 0
    rows = conn.execute(
        sa.text(
            "SELECT o.code, (SELECT count(*) FROM case_file f WHERE f.officer_code = o.code "
            "  AND f.status IN ('dispatched', 'in_progress', 'rework') AND f.id <> :id) AS open "
            "FROM officer o WHERE o.station_code = :s AND o.active ORDER BY o.code"
        ),
        {"s": view.station, "id": view.id},
    ).all()
    assert [o["code"] for o in view.officers] == [r.code for r in rows]
    assert not any(o["on_duty"] for o in view.officers)
    assert view.officer_code == min(rows, key=lambda r: (r.open, r.code)).code
    assert all(o["name"] and "*" in o["name"] for o in view.officers)
    assert {o["role"] for o in view.officers} == {"officer"}
    kinds = [e["kind"] for e in case_events(engine, view.id)]
    assert kinds == ["created", "located", "dispatched"]
    assert get_case(engine, view.id) == view


_snap_points: dict[int, Point] = {}


@pytest.fixture
def snap_point(engine: Engine, sample_layout: int) -> Point:
    """A point just outside the district's edge, in no neighbour, near a grid."""
    from gis.locate import locate

    if sample_layout in _snap_points:
        return _snap_points[sample_layout]
    with engine.connect() as c:
        edge = c.execute(
            sa.text("""
            SELECT ST_X(p.geom) AS lon, ST_Y(p.geom) AS lat
            FROM district d, LATERAL ST_DumpPoints(ST_Boundary(d.geom)) p
            WHERE d.is_home AND d.generation_id = :g AND p.path[array_upper(p.path, 1)] % 7 = 0
        """),
            {"g": sample_layout},
        ).all()
        for e in edge:
            for az in range(0, 360, 45):
                lon, lat = project(c, e.lon, e.lat, 20, az)
                where = locate(c, lon, lat)
                if where.method == "snapped":
                    _snap_points[sample_layout] = (lon, lat, str(where.grid_code))
                    return _snap_points[sample_layout]
    pytest.fail("the sample district has no edge point to snap from")


def test_snapped_is_open(engine: Engine, settings: Settings, snap_point: Point) -> None:
    lon, lat, grid = snap_point
    view = submit_complaint(engine, complaint(lon=lon, lat=lat, subclass="0104"), settings=settings)
    assert view.status == "dispatched" and view.locate_method == "snapped"
    assert view.grid_code == grid and 0 < (view.locate_distance_m or 0) <= settings.gap_snap_m
    assert view.officer_code is not None and view.due_at is not None
    assert get_case(engine, view.id) == view


def test_outside_in_a_neighbour_is_referred_out(
    engine: Engine,
    settings: Settings,
    conn: Connection,
) -> None:
    row = conn.execute(
        sa.text("""
        SELECT d.code, d.name, ST_X(ST_PointOnSurface(d.geom)) AS lon,
               ST_Y(ST_PointOnSurface(d.geom)) AS lat
        FROM district d JOIN layout_generation lg ON lg.id = d.generation_id AND lg.is_current
        WHERE NOT d.is_home ORDER BY d.code LIMIT 1""")
    ).one()
    view = submit_complaint(engine, complaint(lon=row.lon, lat=row.lat), settings=settings)
    assert view.status == "referred_out" and view.open311_status == "closed"
    assert view.district_code == row.code and view.district == row.name
    assert row.name in view.status_note and view.locate_method == "outside"
    assert get_case(engine, view.id) == view
    assert view.grid_code is None and view.officer_code is None and view.due_at is None
    assert [e["kind"] for e in case_events(engine, view.id)] == [
        "created",
        "located",
        "referred_out",
    ]


def test_outside_every_known_district_is_referred_out_unnamed(
    engine: Engine,
    settings: Settings,
    conn: Connection,
) -> None:
    row = conn.execute(
        sa.text("""
        SELECT ST_X(c) + 1.5 AS lon, ST_Y(c) + 0.5 AS lat
        FROM (SELECT ST_Centroid(geom) AS c FROM district d
              JOIN layout_generation lg ON lg.id = d.generation_id AND lg.is_current
              WHERE d.is_home) s""")
    ).one()
    view = submit_complaint(engine, complaint(lon=row.lon, lat=row.lat), settings=settings)
    assert view.status == "referred_out"
    assert view.district_code is None and "转办" in view.status_note
    assert get_case(engine, view.id) == view


def test_address_only_needs_location(engine: Engine, settings: Settings) -> None:
    view = submit_complaint(engine, complaint(address="北街菜市场门口"), settings=settings)
    assert view.status == "received" and view.locate_method == "none"
    assert view.lon is None and view.grid_code is None and view.due_at is None
    assert get_case(engine, view.id) == view
    assert [e["kind"] for e in case_events(engine, view.id)] == ["created", "needs_location"]
    with pytest.raises(InvalidInput) as err:
        submit_complaint(engine, complaint(), settings=settings)
    assert err.value.field == "lon,lat"


def test_placement_of_every_locate_method() -> None:
    import pyarrow as pa

    methods = ["none", "contained", "snapped", "unassigned", "outside", "outside"]
    names = [None, None, None, None, "江海区", None]
    status, note = placement(pa.array(methods), pa.array(names, pa.string()))
    assert status.to_pylist() == [
        "received",
        "dispatched",
        "dispatched",
        "received",
        "referred_out",
        "referred_out",
    ]
    assert note.to_pylist() == [
        "无坐标，待调度员按地址定位",
        "",
        "",
        "位于辖区内但不在任何网格内，待调度员定位",
        "转办：该位置不在本区，属江海区，待指挥中心转交该区处理",
        "转办：该位置不在本区及相邻区，待指挥中心核实转交",
    ]
    assert [
        open311_status(s)
        for s in ("dispatched", "received", "duplicate", "referred_out", "closed", "evaluated")
    ] == ["open", "open", "open", "closed", "closed", "closed"]


@pytest.mark.parametrize(
    "crs", ["wgs84", "cgcs2000", "gcj02", "bd09", "EPSG:4547", "EPSG:4326", "gcj-02", "BD09LL"]
)
def test_every_crs_lands_in_the_same_grid(
    engine: Engine,
    settings: Settings,
    fresh_point: Callable[[], Point],
    crs: str,
) -> None:
    lon, lat, grid = fresh_point()
    x, y = crsmod.from_wgs84(lon, lat, crs)
    view = submit_complaint(engine, complaint(lon=x, lat=y, crs=crs), settings=settings)
    assert view.grid_code == grid and view.status == "dispatched"
    assert view.lon == pytest.approx(lon, abs=1e-6) and view.lat == pytest.approx(lat, abs=1e-6)
    assert view.crs_in == crsmod.parse_crs(crs) and (view.lon_in, view.lat_in) == (x, y)
    assert get_case(engine, view.id) == view


def test_gcj02_point_read_as_wgs84_lands_elsewhere(
    engine: Engine,
    settings: Settings,
    fresh_point: Callable[[], Point],
) -> None:
    """The offsets matter: the same numbers in the wrong CRS are hundreds of metres off."""
    lon, lat, _ = fresh_point()
    gx, gy = crsmod.from_wgs84(lon, lat, "gcj02")
    right = submit_complaint(
        engine, complaint(lon=gx, lat=gy, crs="gcj02", subclass="0402"), settings=settings
    )
    wrong = submit_complaint(engine, complaint(lon=gx, lat=gy, subclass="0402"), settings=settings)
    assert right.lon != pytest.approx(wrong.lon, abs=1e-4)


# --------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("kw", "field", "words"),
    [
        ({"lon": 22.6, "lat": 113.1}, "lon,lat", "swapped"),
        ({"lon": 22.6, "lat": 113.1, "crs": "gcj02"}, "lon,lat", "swapped"),
        ({"lon": 2.35, "lat": 48.85}, "lon,lat", "outside China"),
        ({"lon": 0.0, "lat": 0.0}, "lon,lat", "outside China"),
        ({"lon": 200.0, "lat": 100.0}, "lon,lat", "-180..180"),
        ({"lon": 113.1, "lat": 22.6, "crs": "EPSG:999999"}, "crs", "unknown CRS"),
    ],
)
def test_bad_coordinates_are_refused(
    engine: Engine,
    settings: Settings,
    kw: dict[str, Any],
    field: str,
    words: str,
) -> None:
    # the model refuses an unknown CRS too; model_copy skips it to reach intake's own check
    made = complaint(**{k: v for k, v in kw.items() if k != "crs"})
    made = made.model_copy(update={"crs": kw.get("crs", "wgs84")})
    with pytest.raises(InvalidInput) as err:
        submit_complaint(engine, made, settings=settings)
    assert err.value.field == field and words in err.value.message


HOME = HomeDistrict("440703", "蓬江区", 113.08, 22.6, (112.9, 22.5, 113.2, 22.8), 1)


def test_check_coordinates_projected_swapped() -> None:
    x, y = crsmod.from_wgs84(113.08, 22.6, "EPSG:4547")
    assert check_coordinates(x, y, "EPSG:4547", home=HOME)[2] == "EPSG:4547"
    with pytest.raises(InvalidInput, match="swapped") as err:
        check_coordinates(y, x, "EPSG:4547", home=HOME)
    assert "蓬江区 is near lon 113.08, lat 22.60" in err.value.message


def test_unknown_subclass(engine: Engine, settings: Settings) -> None:
    with pytest.raises(InvalidInput) as err:
        submit_complaint(engine, complaint(subclass="9999", address="x"), settings=settings)
    assert err.value.field == "subclass"


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"lon": float("nan"), "lat": 22.6}, "lon"),
        ({"lon": 113.0, "lat": float("inf")}, "lat"),
        ({"lon": 113.0}, ""),
        ({"crs": "mars"}, "crs"),
        ({"description": "x" * 2001}, "description"),
        ({"description": "a\x00b"}, "description"),
        ({"description": "\ud800"}, "description"),
        ({"reporter_name": "名" * 51}, "reporter_name"),
        ({"reporter_phone": "call me"}, "reporter_phone"),
        ({"reporter_phone": "1234"}, "reporter_phone"),
        ({"address": "路" * 301}, "address"),
        ({"photos": ["ftp://x/y.jpg"]}, "photos"),
        ({"photos": ["https://x/" + "a" * 1000]}, "photos"),
        ({"photos": [f"https://img.example/{i}.jpg" for i in range(10)]}, "photos"),
        ({"reported_at": "2026-11-24T09:00:00"}, "reported_at"),
        ({"reported_at": (datetime.now(UTC) + timedelta(hours=1)).isoformat()}, "reported_at"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_complaint_model_refuses(kw: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as err:
        complaint(**kw)
    locs = [".".join(str(p) for p in e["loc"]) for e in err.value.errors()]
    assert field in locs


def test_complaint_model_cleans_text() -> None:
    c = complaint(
        description="  <script>alert(1)</script>  ",
        reporter_name="  ",
        reporter_phone=" 138-0000 1234 ",
        address="",
        crs=" GCJ-02 ",
    )
    assert c.description == "<script>alert(1)</script>"
    assert c.reporter_name is None and c.address is None
    assert c.reporter_phone == "138-0000 1234" and c.crs == "gcj02"


# -------------------------------------------------------------- duplicates


def test_duplicates_at_and_beyond_the_radius(
    engine: Engine,
    settings: Settings,
    conn: Connection,
    fresh_point: Callable[[], Point],
) -> None:
    radius = (
        load_catalogue(settings.data_dir / "catalogue.toml").subclass("0101").duplicate_radius_m
    )
    lon, lat, _ = fresh_point()
    master = submit_complaint(
        engine, complaint(lon=lon, lat=lat, subclass="0101"), settings=settings
    )
    assert master.status == "dispatched"
    near = project(conn, lon, lat, radius - 0.5, 30)
    dup = submit_complaint(
        engine,
        complaint(lon=near[0], lat=near[1], subclass="0101", reporter_phone="13800001111"),
        settings=settings,
    )
    assert dup.status == "duplicate" and dup.master_id == master.id
    assert dup.officer_code == master.officer_code and dup.due_at is None
    assert get_case(engine, dup.id) == dup
    far = project(conn, lon, lat, radius + 1.0, 30)
    other = submit_complaint(
        engine, complaint(lon=far[0], lat=far[1], subclass="0101"), settings=settings
    )
    assert other.status == "dispatched" and other.master_id is None
    # another subclass at the same spot is not a duplicate
    assert (
        submit_complaint(
            engine, complaint(lon=lon, lat=lat, subclass="0402"), settings=settings
        ).status
        == "dispatched"
    )
    updated = get_case(engine, master.id)
    assert updated.report_count == 2 and updated.version == 2
    master_events = case_events(engine, master.id)
    assert master_events[-1]["kind"] == "report_added"
    assert master_events[-1]["data"] == {"case_id": dup.id, "report_count": 2}
    assert [e["kind"] for e in case_events(engine, dup.id)] == ["created", "located", "merged"]
    # the resident's token follows the master; nothing personal in it
    public = get_case_by_token(engine, dup.token)
    assert public.case_id == master.id and public.merged and public.report_count == 2
    assert public.token == dup.token and public.status == "dispatched"
    text = repr(public.as_dict())
    assert "13800001111" not in text and "reporter" not in text and "officer" not in text
    assert get_case_by_token(engine, master.token).merged is False


def test_duplicate_window(
    engine: Engine,
    settings: Settings,
    fresh_point: Callable[[], Point],
) -> None:
    lon, lat, _ = fresh_point()
    old = datetime.now(UTC) - timedelta(hours=30)  # 0101: window 24 h
    first = submit_complaint(
        engine,
        complaint(lon=lon, lat=lat, subclass="0101", reported_at=old.isoformat()),
        settings=settings,
    )
    second = submit_complaint(
        engine, complaint(lon=lon, lat=lat, subclass="0101"), settings=settings
    )
    assert first.status == second.status == "dispatched"
    third = submit_complaint(
        engine, complaint(lon=lon, lat=lat, subclass="0101"), settings=settings
    )
    assert third.status == "duplicate" and third.master_id == second.id


def test_closed_master_takes_no_duplicates(
    engine: Engine,
    settings: Settings,
    fresh_point: Callable[[], Point],
) -> None:
    lon, lat, _ = fresh_point()
    first = submit_complaint(
        engine, complaint(lon=lon, lat=lat, subclass="0101"), settings=settings
    )
    with engine.begin() as c:
        c.execute(
            sa.text("UPDATE case_file SET status = 'closed', closed_at = now() WHERE id = :i"),
            {"i": first.id},
        )
    again = submit_complaint(
        engine, complaint(lon=lon, lat=lat, subclass="0101"), settings=settings
    )
    assert again.status == "dispatched"


def test_concurrent_duplicates_count_right(
    engine: Engine,
    settings: Settings,
    fresh_point: Callable[[], Point],
) -> None:
    lon, lat, _ = fresh_point()
    n = 8
    barrier = threading.Barrier(n)
    views: list[Any] = []
    errors: list[BaseException] = []

    def go(i: int) -> None:
        try:
            barrier.wait()
            shifted = lon + i * 1e-6  # a few decimetres apart
            views.append(
                submit_complaint(
                    engine, complaint(lon=shifted, lat=lat, subclass="0406"), settings=settings
                )
            )
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=go, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    masters = [v for v in views if v.status == "dispatched"]
    assert len(masters) == 1
    assert sorted(v.master_id for v in views if v.status == "duplicate") == [masters[0].id] * (
        n - 1
    )
    assert get_case(engine, masters[0].id).report_count == n


def test_lock_cells_overlap_for_points_within_the_radius() -> None:
    import random

    rnd = random.Random(5)
    for _ in range(2000):
        x, y = 113 + rnd.random() * 0.2, 22.5 + rnd.random() * 0.2
        r = rnd.choice([30.0, 50.0, 300.0])
        dx = rnd.uniform(-r, r) / 102_000  # at most r metres east-west at 22-23 N
        dy = rnd.uniform(-r, r) / 110_500
        if (dx * 102_000) ** 2 + (dy * 110_500) ** 2 > r * r:
            continue
        assert set(lock_keys("0101", x, y, r, HOME)) & set(
            lock_keys("0101", x + dx, y + dy, r, HOME)
        )


# ------------------------------------------------------- privacy and views


def test_personal_data_encrypted_at_rest_and_masked(
    engine: Engine,
    settings: Settings,
    fresh_point: Callable[[], Point],
) -> None:
    lon, lat, _ = fresh_point()
    view = submit_complaint(
        engine,
        complaint(
            lon=lon,
            lat=lat,
            subclass="0201",
            reporter_name="欧阳振华",
            reporter_phone="13812345678",
        ),
        settings=settings,
    )
    row = raw_case(engine, view.id)
    for stored in (bytes(row.reporter_phone_enc), bytes(row.reporter_name_enc)):
        assert b"13812345678" not in stored and "欧阳振华".encode() not in stored
        assert b"5678" not in stored
    assert decrypt(row.reporter_phone_enc, settings) == "13812345678"
    assert decrypt(row.reporter_name_enc, settings) == "欧阳振华"
    assert view.reporter_phone == "138****5678" and view.reporter_name == "欧**华"
    assert get_case(engine, view.id) == view
    dumped = repr(view.as_dict()) + repr(case_events(engine, view.id))
    assert "13812345678" not in dumped and "欧阳振华" not in dumped
    with engine.connect() as c:
        events = (
            c.execute(
                sa.text("SELECT data::text FROM case_event WHERE case_id = :i"), {"i": view.id}
            )
            .scalars()
            .all()
        )
    assert not any("1381234" in e for e in events)


def test_html_is_stored_as_text(
    engine: Engine,
    settings: Settings,
    fresh_point: Callable[[], Point],
) -> None:
    lon, lat, _ = fresh_point()
    text = '<img src=x onerror="alert(1)"><script>alert("x")</script> & 摊贩'
    view = submit_complaint(
        engine, complaint(lon=lon, lat=lat, subclass="0202", description=text), settings=settings
    )
    assert view.description == text
    assert raw_case(engine, view.id).description == text


def test_lookups_not_found(engine: Engine, sample_layout: int) -> None:
    with pytest.raises(NotFound):
        get_case(engine, 10**15)
    with pytest.raises(InvalidInput):
        get_case(engine, 0)
    with pytest.raises(NotFound):
        case_events(engine, 10**15)
    for token in ("AAAAAAAAAAAAAAAA", "no", "../../etc", "x" * 100):
        with pytest.raises(NotFound):
            get_case_by_token(engine, token)


# ------------------------------------------------------------- idempotency


@pytest.fixture
def count_cases(engine: Engine) -> Iterator[Callable[[], int]]:
    def count() -> int:
        with engine.connect() as c:
            return int(c.execute(sa.text("SELECT count(*) FROM case_file")).scalar_one())

    yield count


def test_idempotent_retry_replays_and_creates_nothing(
    engine: Engine,
    settings: Settings,
    fresh_point: Callable[[], Point],
    count_cases: Callable[[], int],
) -> None:
    lon, lat, _ = fresh_point()
    calls = []

    def produce() -> tuple[int, str, str]:
        calls.append(1)
        view = submit_complaint(
            engine, complaint(lon=lon, lat=lat, subclass="0203"), settings=settings
        )
        return 201, f'{{"id": {view.id}}}', "application/json"

    first = run_idempotent(engine, "test", "key-1", b"body", produce)
    n = count_cases()
    assert run_idempotent(engine, "test", "key-1", b"body", produce) == first
    assert count_cases() == n and len(calls) == 1
    with pytest.raises(Conflict, match="different request body"):
        run_idempotent(engine, "test", "key-1", b"other body", produce)
    # another scope, or no key, produces again
    assert run_idempotent(engine, "test2", "key-1", b"body", produce) != first
    run_idempotent(engine, "test", None, b"body", produce)
    assert len(calls) == 3


def test_idempotency_key_rules(engine: Engine, sample_layout: int) -> None:
    def produce() -> tuple[int, str, str]:
        return 200, "{}", "application/json"

    for bad in ("", "   ", "k" * 201, "ключ"):
        with pytest.raises(InvalidInput) as err:
            run_idempotent(engine, "test", bad, b"", produce)
        assert err.value.field == "Idempotency-Key"
    assert run_idempotent(engine, "test", "k" * 200, b"", produce) == (
        200,
        "{}",
        "application/json",
    )


def test_failed_produce_stores_nothing_and_rolls_back(
    engine: Engine,
    settings: Settings,
    fresh_point: Callable[[], Point],
    count_cases: Callable[[], int],
) -> None:
    lon, lat, _ = fresh_point()
    n = count_cases()

    def produce() -> tuple[int, str, str]:
        submit_complaint(engine, complaint(lon=lon, lat=lat, subclass="0301"), settings=settings)
        raise InvalidInput("late failure")

    with pytest.raises(InvalidInput):
        run_idempotent(engine, "test", "key-fail", b"b", produce)
    assert count_cases() == n  # the case went with the failed transaction
    assert run_idempotent(engine, "test", "key-fail", b"b", lambda: (201, "ok", "text/plain")) == (
        201,
        "ok",
        "text/plain",
    )


def test_idempotency_concurrent_same_key(
    engine: Engine,
    settings: Settings,
    fresh_point: Callable[[], Point],
    count_cases: Callable[[], int],
) -> None:
    lon, lat, _ = fresh_point()
    n = count_cases()
    barrier = threading.Barrier(4)
    answers: list[tuple[int, str, str]] = []

    def produce() -> tuple[int, str, str]:
        view = submit_complaint(
            engine, complaint(lon=lon, lat=lat, subclass="0302"), settings=settings
        )
        return 201, str(view.id), "text/plain"

    def go() -> None:
        barrier.wait()
        answers.append(run_idempotent(engine, "test", "same-key", b"same", produce))

    threads = [threading.Thread(target=go) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(answers) == 4 and len(set(answers)) == 1
    assert count_cases() == n + 1


def test_duplicate_search_uses_an_index(conn: Connection) -> None:
    """A year of cases: the search reads only its subclass's time window, by index."""
    now = datetime.now(UTC)
    conn.execute(
        sa.text("""
        INSERT INTO case_file (token, status, subclass_code, tier, description, address,
                               source, geom, locate_method, reported_at)
        SELECT 'plan' || i, 'dispatched', lpad((1 + i % 5)::text, 2, '0') || '0' || (1 + i % 4),
               'minor', '', '', 'test',
               ST_SetSRID(ST_MakePoint(113.0 + random() * 0.2, 22.5 + random() * 0.2), 4326),
               'contained', :now - random() * interval '365 days'
        FROM generate_series(1, 20000) AS i"""),
        {"now": now},
    )
    conn.execute(sa.text("ANALYZE case_file"))
    plan = (
        conn.execute(
            sa.text("EXPLAIN " + FIND_MASTER.text),
            {
                "subclass": "0101",
                "x": 113.08,
                "y": 22.6,
                "deg": 0.0006,
                "radius": 50.0,
                "since": now - timedelta(hours=24),
                "until": now,
            },
        )
        .scalars()
        .all()
    )
    conn.rollback()  # the rows were only for the planner
    assert any("subclass_reported_idx" in line for line in plan), plan
    assert not any("Seq Scan on case_file" in line for line in plan), plan


def test_cli_complaint_show(
    engine: Engine,
    settings: Settings,
    fresh_point: Callable[[], Point],
) -> None:
    import json

    from typer.testing import CliRunner

    from gridcli.main import app

    lon, lat, grid = fresh_point()
    view = submit_complaint(
        engine,
        complaint(lon=lon, lat=lat, subclass="0303", reporter_phone="13700007777"),
        settings=settings,
    )
    result = CliRunner().invoke(app, ["complaint", "show", str(view.id), "--events"])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    assert shown["id"] == view.id and shown["grid_code"] == grid
    assert shown["reporter_phone"] == "137****7777" and "13700007777" not in result.output
    assert shown["events"][0]["kind"] == "created"
    missing = CliRunner().invoke(app, ["complaint", "show", "987654321"])
    assert missing.exit_code == 1 and "no complaint" in missing.output


@pytest.mark.parametrize("zone", ["Asia/Shanghai", "Europe/Berlin", "America/New_York"])
def test_one_complaint_and_many_get_the_same_times(zone: str) -> None:
    """The single path writes a handful of values with datetime itself, bulk with
    pyarrow: the same text, across DST changes too."""
    from cases.intake.events import _json_times

    times = np.array(
        [
            "2026-11-26T01:27:41.782177",
            "2026-11-26T04:00:00",
            "NaT",
            "2026-07-26T13:00:00",
            "2026-03-29T00:59:59.000001",
            "2026-03-08T07:00:00",
        ],
        dtype="datetime64[us]",
    )
    many = np.repeat(times, 20)
    assert _json_times(times, zone).to_pylist() == _json_times(many, zone).to_pylist()[::20]
