"""Duty shifts on PostGIS: geofenced check-ins at, inside and outside the limit,
overlapping shifts refused by the database, who is on duty now, weekly
compliance across week boundaries (Asia/Shanghai) with shifts over midnight,
the API's role and scope rules, and the CLI's JSON.

The test organisation is a station of its own (T9ST01) in a community that
has no polygon in the layout, so only the distance rule applies there, with
three officers; a sample station is used where the community's polygon
matters. Every date is in 2019, far from other tests' data.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import shapely
import sqlalchemy as sa
from api_login import bearer
from current_layout import community_shape
from fastapi.testclient import TestClient
from pyproj import Geod
from shapely.geometry import Point
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from api.app import create_app
from cases.errors import Conflict, InvalidInput
from cases.intake import ComplaintIn, submit_complaint
from cases.stations.compliance import weekly_compliance
from cases.stations.duty import (
    CheckIn,
    Shift,
    ShiftIn,
    cancel_shift,
    duty_now,
    on_duty_officers,
    plan_shifts,
    record_check,
)
from cases.stations.weeks import parse_week
from gis.crs import wgs84_to_gcj02
from gis.privacy import encrypt
from gis.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
GRID = str(ROOT / ".venv" / "bin" / "grid")
GEOD = Geod(ellps="WGS84")
SAMPLE = ROOT / "data" / "sample"
_FIRST = json.loads((SAMPLE / "stations.geojson").read_text())["features"][0]
REAL_STATION = _FIRST["properties"]["code"]
REAL_COMMUNITY = _FIRST["properties"]["community_code"]
REAL_LON, REAL_LAT = _FIRST["geometry"]["coordinates"]

STATION, COMMUNITY, SQUAD = "T9ST01", "449999999901", "T9SQ01"
ST_LON, ST_LAT = 113.0412345, 22.5876543
OFFICERS = ("T9OF01", "T9OF02", "T9OF03")


@pytest.fixture(scope="module")
def org(engine: Engine, settings: Settings) -> None:
    """The sample layout, and the test station, squad and officers (active)."""
    from sample.seed import load_sample

    load_sample(engine, settings=settings)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO squad (code, name) VALUES (:s, '测试中队') ON CONFLICT DO NOTHING"
            ),
            {"s": SQUAD},
        )
        conn.execute(
            sa.text(
                "INSERT INTO squad_community (community_code, squad_code) VALUES (:c, :s) "
                "ON CONFLICT (community_code) DO UPDATE SET squad_code = EXCLUDED.squad_code"
            ),
            {"c": COMMUNITY, "s": SQUAD},
        )
        conn.execute(
            sa.text(
                "INSERT INTO station (code, name, community_code, address, geom) "
                "VALUES (:code, '测试服务站', :c, '', ST_SetSRID(ST_MakePoint(:x, :y), 4326)) "
                "ON CONFLICT (code) DO NOTHING"
            ),
            {"code": STATION, "c": COMMUNITY, "x": ST_LON, "y": ST_LAT},
        )
        conn.execute(
            sa.text(
                "INSERT INTO officer (code, name_enc, role, station_code, active) "
                "VALUES (:code, :name, 'officer', :st, true) "
                "ON CONFLICT (code) DO UPDATE SET active = true, "
                "station_code = EXCLUDED.station_code"
            ),
            [
                {"code": c, "name": encrypt(f"测试{i}", settings), "st": STATION}
                for i, c in enumerate(OFFICERS)
            ],
        )


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _plan(engine: Engine, officer: str, station: str, start: str, end: str) -> Shift:
    (shift,) = plan_shifts(
        engine,
        [ShiftIn(officer_code=officer, station_code=station, start=_at(start), end=_at(end))],
    )
    return shift


def _check(
    engine: Engine,
    settings: Settings,
    shift: Shift,
    kind: str,
    at: str,
    lon: float | None = ST_LON,
    lat: float | None = ST_LAT,
    crs: str = "wgs84",
) -> Any:
    return record_check(
        engine,
        shift.id,
        kind,
        CheckIn(lon=lon, lat=lat, crs=crs, at=_at(at)),
        settings=settings,
    )


# ------------------------------------------------------------------ geofence


def test_checkins_at_inside_and_outside_the_distance_limit(
    engine: Engine, settings: Settings, org: None
) -> None:
    shift = _plan(engine, "T9OF01", STATION, "2019-01-07T08:00+08:00", "2019-01-07T12:00+08:00")
    radius = settings.duty_checkin_radius_m
    assert radius == 200.0
    cases = [(150.0, True), (radius, True), (radius + 0.05, False), (1234.5, False)]
    for i, (metres, counts) in enumerate(cases):
        lon, lat, _ = GEOD.fwd(ST_LON, ST_LAT, 37.0 + 60 * i, metres)
        result = _check(engine, settings, shift, "in", "2019-01-07T08:05+08:00", lon, lat)
        _, _, exact = GEOD.inv(ST_LON, ST_LAT, lon, lat)
        assert result.distance_m == pytest.approx(exact, abs=0.005)
        assert result.counts is counts, metres
        assert result.flag == ("ok" if counts else "outside")
        assert result.in_community is False  # this community has no polygon
        if not counts:
            assert f"{result.distance_m:.2f} m" in result.message
    # The same point sent as GCJ-02 (an app's map) is converted once: same distance.
    lon, lat, _ = GEOD.fwd(ST_LON, ST_LAT, 200.0, 150.0)
    glon, glat = wgs84_to_gcj02(lon, lat)
    result = _check(engine, settings, shift, "in", "2019-01-07T08:06+08:00", glon, glat, "gcj02")
    assert result.distance_m == pytest.approx(150.0, abs=0.005) and result.counts
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT flag, counts, crs_in, lon_in FROM duty_check "
                "WHERE shift_id = :s ORDER BY id"
            ),
            {"s": shift.id},
        ).all()
    assert [(r.flag, r.counts) for r in rows] == [
        ("ok", True),
        ("ok", True),
        ("outside", False),
        ("outside", False),
        ("ok", True),
    ]
    assert rows[-1].crs_in == "gcj02" and rows[-1].lon_in == pytest.approx(glon)


def test_checkin_inside_the_community_counts_at_any_distance(
    engine: Engine, settings: Settings, org: None
) -> None:
    polygon = community_shape(engine, REAL_COMMUNITY)
    core = polygon.buffer(-0.0003)
    minx, miny, maxx, maxy = polygon.bounds
    candidates = [
        (minx + (maxx - minx) * i / 40, miny + (maxy - miny) * j / 40)
        for i in range(41)
        for j in range(41)
    ]
    far_inside = max(
        (p for p in candidates if core.contains(Point(p))),
        key=lambda p: GEOD.inv(REAL_LON, REAL_LAT, *p)[2],
    )
    inside_m = GEOD.inv(REAL_LON, REAL_LAT, *far_inside)[2]
    assert inside_m > settings.duty_checkin_radius_m + 50
    reach = max(GEOD.inv(REAL_LON, REAL_LAT, x, y)[2] for x, y in shapely.get_coordinates(polygon))
    outside = GEOD.fwd(REAL_LON, REAL_LAT, 123.0, reach + 300)[:2]
    assert not polygon.intersects(Point(outside))

    shift = _plan(
        engine, "T9OF02", REAL_STATION, "2019-01-14T08:00+08:00", "2019-01-14T12:00+08:00"
    )
    inside = _check(engine, settings, shift, "in", "2019-01-14T08:01+08:00", *far_inside)
    assert inside.counts and inside.flag == "ok" and inside.in_community is True
    assert inside.distance_m == pytest.approx(inside_m, abs=0.005)
    away = _check(engine, settings, shift, "in", "2019-01-14T08:02+08:00", *outside)
    assert not away.counts and away.flag == "outside" and away.in_community is False
    assert away.distance_m == pytest.approx(reach + 300, abs=0.005)
    # A check-out far away is flagged too, but still ends the time on duty.
    out = _check(engine, settings, shift, "out", "2019-01-14T11:00+08:00", *outside)
    assert out.counts and out.flag == "outside"


def test_checkin_without_location_is_kept_and_refused(
    engine: Engine, settings: Settings, org: None
) -> None:
    shift = _plan(engine, "T9OF03", STATION, "2019-01-21T08:00+08:00", "2019-01-21T12:00+08:00")
    with pytest.raises(InvalidInput) as caught:
        _check(engine, settings, shift, "in", "2019-01-21T08:00+08:00", None, None)
    assert caught.value.field == "lon,lat"
    assert "needs a location" in caught.value.message
    check_id = int(caught.value.message.rsplit("check ", 1)[1].rstrip(")"))
    with engine.connect() as conn:
        row = conn.execute(
            sa.text("SELECT shift_id, flag, counts, geom FROM duty_check WHERE id = :i"),
            {"i": check_id},
        ).one()
    assert row.shift_id == shift.id and row.flag == "no_location" and row.counts is False
    assert row.geom is None
    # Coordinates that are not a place on Earth are refused, and name the field.
    with pytest.raises(InvalidInput) as bad:
        _check(engine, settings, shift, "in", "2019-01-21T08:00+08:00", 22.6, 113.08)
    assert bad.value.field == "lon,lat"


# ------------------------------------------------------------------ shifts


def test_overlapping_shifts_are_refused_by_the_database(engine: Engine, org: None) -> None:
    first = _plan(engine, "T9OF01", STATION, "2019-01-28T20:00+08:00", "2019-01-29T02:00+08:00")
    raw = sa.text(
        "INSERT INTO duty_shift (officer_code, station_code, during, created_by) "
        "VALUES ('T9OF01', :st, tstzrange(:lo, :hi, '[)'), 'test')"
    )
    with pytest.raises(IntegrityError) as caught, engine.begin() as conn:
        conn.execute(
            raw,
            {
                "st": REAL_STATION,
                "lo": _at("2019-01-29T01:00+08:00"),
                "hi": _at("2019-01-29T03:00+08:00"),
            },
        )
    assert getattr(caught.value.orig, "pgcode", None) == "23P01"
    assert "duty_shift_no_overlap" in str(caught.value.orig)

    # Through the planner: a Conflict that names the shift in the way.
    with pytest.raises(Conflict) as clash:
        _plan(engine, "T9OF01", STATION, "2019-01-28T23:00+08:00", "2019-01-29T01:00+08:00")
    assert f"shift {first.id}" in clash.value.message and clash.value.field == "shifts[0]"
    # Two shifts of one request that overlap each other: none is kept.
    both = [
        ShiftIn(
            officer_code="T9OF02",
            station_code=STATION,
            start=_at("2019-01-30T08:00+08:00"),
            end=_at("2019-01-30T12:00+08:00"),
        ),
        ShiftIn(
            officer_code="T9OF02",
            station_code=STATION,
            start=_at("2019-01-30T11:00+08:00"),
            end=_at("2019-01-30T13:00+08:00"),
        ),
    ]
    with pytest.raises(Conflict) as inner:
        plan_shifts(engine, both)
    assert "shifts[0] of this request" in inner.value.message
    assert inner.value.field == "shifts[1]"
    with engine.connect() as conn:
        kept = conn.execute(
            sa.text(
                "SELECT count(*) FROM duty_shift WHERE officer_code = 'T9OF02' "
                "AND during && tstzrange('2019-01-30', '2019-01-31')"
            )
        ).scalar_one()
    assert kept == 0
    # Back to back is fine (half-open ranges); a cancelled shift no longer blocks.
    _plan(engine, "T9OF01", STATION, "2019-01-29T02:00+08:00", "2019-01-29T06:00+08:00")
    cancelled = cancel_shift(engine, first.id)
    assert cancelled.cancelled
    _plan(engine, "T9OF01", REAL_STATION, "2019-01-28T22:00+08:00", "2019-01-29T01:00+08:00")
    with pytest.raises(Conflict):
        cancel_shift(engine, first.id)


def test_shift_input_is_checked() -> None:
    base = {"officer_code": "T9OF01", "station_code": STATION}
    bad = [
        {"start": "2019-02-01T10:00+08:00", "end": "2019-02-01T09:00+08:00"},
        {"start": "2019-02-01T10:00+08:00", "end": "2019-02-02T10:30+08:00"},
        {"start": "2019-02-01T10:00", "end": "2019-02-01T12:00"},
    ]
    for times in bad:
        with pytest.raises(ValueError):
            ShiftIn.model_validate({**base, **times})


# ------------------------------------------------------------------ on duty now


def _open_cases(engine: Engine, settings: Settings, officer: str, subclasses: list[str]) -> None:
    """Open cases held by `officer` (filed through intake, then handed to them)."""
    ids = []
    for i, sub in enumerate(subclasses):
        lon, lat, _ = GEOD.fwd(REAL_LON, REAL_LAT, 90.0 * i + hash(officer) % 90, 20.0)
        view = submit_complaint(
            engine,
            ComplaintIn(
                lon=lon,
                lat=lat,
                subclass=sub,
                description="测试: duty order",
                reported_at=_at("2019-02-06T09:00+08:00"),
            ),
            settings=settings,
        )
        assert view.status == "dispatched"
        ids.append(view.id)
    with engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE case_file SET officer_code = :o WHERE id = ANY(:ids)"),
            {"o": officer, "ids": ids},
        )


def test_on_duty_order_present_planned_then_fewest_open_cases(
    engine: Engine, settings: Settings, org: None
) -> None:
    planned = _plan(engine, "T9OF01", STATION, "2019-02-06T09:00+08:00", "2019-02-06T12:00+08:00")
    present = _plan(engine, "T9OF02", STATION, "2019-02-06T08:00+08:00", "2019-02-06T12:00+08:00")
    _check(engine, settings, present, "in", "2019-02-06T08:05+08:00")
    with engine.connect() as conn:
        assert on_duty_officers(conn, STATION, _at("2019-02-06T10:00+08:00")) == [
            "T9OF02",
            "T9OF01",
            "T9OF03",
        ]
    now = duty_now(engine, STATION, _at("2019-02-06T10:00+08:00"), settings=settings)
    assert [(o.code, o.state, o.on_duty) for o in now.officers] == [
        ("T9OF02", "present", True),
        ("T9OF01", "planned", True),
        ("T9OF03", "off", False),
    ]
    assert now.officers[0].shift_id == present.id and now.officers[1].shift_id == planned.id
    assert all(o.name and "*" in o.name for o in now.officers)

    # Checked out: no longer on duty; the rest by fewest open cases, not by code.
    _check(engine, settings, present, "out", "2019-02-06T10:30+08:00")
    catalogue = [s.code for s in _subclasses(settings)]
    _open_cases(engine, settings, "T9OF02", catalogue[:2])
    _open_cases(engine, settings, "T9OF03", catalogue[2:3])
    with engine.connect() as conn:
        assert on_duty_officers(conn, STATION, _at("2019-02-06T11:00+08:00")) == [
            "T9OF01",
            "T9OF03",
            "T9OF02",
        ]
        # Evening, nobody planned (as on a holiday): the fair rule alone.
        assert on_duty_officers(conn, STATION, _at("2019-02-06T20:00+08:00")) == [
            "T9OF01",
            "T9OF03",
            "T9OF02",
        ]
        # Before the check-in the officer was planned, not present (time travel).
        early = duty_now(engine, STATION, _at("2019-02-06T08:01+08:00"), settings=settings)
        assert (early.officers[0].code, early.officers[0].state) == ("T9OF02", "planned")


def _subclasses(settings: Settings) -> Any:
    from cases.catalogue import CATALOGUE_FILE, load_catalogue

    return load_catalogue(settings.data_dir / CATALOGUE_FILE).subclasses


# ------------------------------------------------------------------ compliance


@pytest.fixture(scope="module")
def week10(engine: Engine, settings: Settings, org: None) -> dict[str, int]:
    """2019-W10 (Mon 4 to Sun 10 March) and the night into W11, by hand:

    - T9OF01: Wed 09:00-12:00, in 08:50, out 12:30 (3.0 h, clipped to the shift);
      Sun 20:00 - Mon 02:00, in Sun 20:30, out Mon 01:30 given in UTC
      (3.5 h in W10, 1.5 h in W11). W10: 6.5 h, met.
    - T9OF02: nothing at its station (0 h, short 4); helps at a sample station
      on Saturday 10:00-12:00 (2.0 h there, no rule).
    - T9OF03: Thu 14:00-18:00, a check-in far away at 14:00 (flagged, no count),
      a good one at 16:30, out 18:00 (1.5 h); Fri 09:00-12:00 checked in and
      never out (no hours, one open check-in). W10: 1.5 h, short 2.5.
    """
    a = _plan(engine, "T9OF01", STATION, "2019-03-06T09:00+08:00", "2019-03-06T12:00+08:00")
    _check(engine, settings, a, "in", "2019-03-06T08:50+08:00")
    _check(engine, settings, a, "out", "2019-03-06T12:30+08:00")
    b = _plan(engine, "T9OF01", STATION, "2019-03-10T20:00+08:00", "2019-03-11T02:00+08:00")
    _check(engine, settings, b, "in", "2019-03-10T20:30+08:00")
    _check(engine, settings, b, "out", "2019-03-10T17:30:00+00:00")
    c = _plan(engine, "T9OF03", STATION, "2019-03-07T14:00+08:00", "2019-03-07T18:00+08:00")
    far = GEOD.fwd(ST_LON, ST_LAT, 10.0, 5000.0)[:2]
    _check(engine, settings, c, "in", "2019-03-07T14:00+08:00", *far)
    _check(engine, settings, c, "in", "2019-03-07T16:30+08:00")
    _check(engine, settings, c, "out", "2019-03-07T18:00+08:00")
    d = _plan(engine, "T9OF03", STATION, "2019-03-08T09:00+08:00", "2019-03-08T12:00+08:00")
    _check(engine, settings, d, "in", "2019-03-08T09:00+08:00")
    e = _plan(engine, "T9OF02", REAL_STATION, "2019-03-09T10:00+08:00", "2019-03-09T12:00+08:00")
    _check(engine, settings, e, "in", "2019-03-09T10:00+08:00", REAL_LON, REAL_LAT)
    _check(engine, settings, e, "out", "2019-03-09T12:00+08:00", REAL_LON, REAL_LAT)
    return {"a": a.id, "b": b.id, "c": c.id, "d": d.id, "e": e.id}


def _row(report: Any, officer: str, station: str = STATION) -> Any:
    (row,) = [r for r in report.rows if r.officer_code == officer and r.station_code == station]
    return row


def test_compliance_across_the_week_boundary_with_a_shift_over_midnight(
    engine: Engine, week10: dict[str, int]
) -> None:
    w10 = weekly_compliance(engine, "2019-W10", station_code=STATION)
    assert (w10.week, w10.week_start, w10.week_end, w10.rule_hours) == (
        "2019-W10",
        "2019-03-04",
        "2019-03-10",
        4.0,
    )
    got = {
        r.officer_code: (r.shifts, r.planned_hours, r.hours, r.meets_rule, r.shortfall_hours)
        for r in w10.rows
    }
    assert got == {
        "T9OF01": (2, 7.0, 6.5, True, 0.0),
        "T9OF02": (0, 0.0, 0.0, False, 4.0),
        "T9OF03": (2, 7.0, 1.5, False, 2.5),
    }
    third = _row(w10, "T9OF03")
    assert (third.flagged_checks, third.open_checkins) == (1, 1)
    assert all(r.stationed and r.required_hours == 4.0 for r in w10.rows)
    assert [r.officer_code for r in w10.shortfalls] == ["T9OF02", "T9OF03"]
    (station,) = w10.stations
    assert (station.station_code, station.officers, station.met, station.short) == (
        STATION,
        3,
        1,
        2,
    )
    assert station.hours == 8.0 and station.squad_code == SQUAD
    (squad,) = w10.squads
    assert (squad.squad_code, squad.officers, squad.met, squad.hours) == (SQUAD, 3, 1, 8.0)

    w11 = weekly_compliance(engine, "2019-W11", squad_code=SQUAD)
    first = _row(w11, "T9OF01")
    assert (first.shifts, first.planned_hours, first.hours, first.meets_rule) == (
        1,
        2.0,
        1.5,
        False,
    )
    assert first.shortfall_hours == 2.5

    # Help at another station is listed there, with no rule to meet.
    there = weekly_compliance(engine, "2019-W10", station_code=REAL_STATION)
    helper = _row(there, "T9OF02", REAL_STATION)
    assert (helper.stationed, helper.hours, helper.required_hours, helper.meets_rule) == (
        False,
        2.0,
        0.0,
        True,
    )
    assert all(r.station_code == REAL_STATION for r in there.rows)
    assert "T9OF02" not in {r.officer_code for r in there.shortfalls}


def test_week_strings(engine: Engine) -> None:
    week = parse_week("2019-W10")
    assert week.start.isoformat() == "2019-03-04T00:00:00+08:00"
    assert week.end.isoformat() == "2019-03-11T00:00:00+08:00"
    assert parse_week("2020-W53").monday.isoformat() == "2020-12-28"
    for text in ("2019-10", "2019-W1", "2019W10", "2019-W00", "2019-W53", "1999-W10", "x"):
        with pytest.raises(InvalidInput) as caught:
            weekly_compliance(engine, text)
        assert caught.value.field == "week"
    with pytest.raises(InvalidInput) as future:
        parse_week("2019-W11", now=_at("2019-03-10T23:59+08:00"))
    assert "future" in future.value.message
    assert parse_week("2019-W11", now=_at("2019-03-11T00:00+08:00")).label == "2019-W11"


# ------------------------------------------------------------------ API


@pytest.fixture(scope="module")
def client(settings: Settings, org: None) -> Iterator[TestClient]:
    """The application as `grid serve` builds it (the duty and auth routes are mounted)."""
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        yield c


def test_api_compliance_roles_and_scope(
    client: TestClient, engine: Engine, week10: dict[str, int]
) -> None:
    url = "/api/v1/duty/compliance?week=2019-W10"
    nobody = client.get(url)
    assert nobody.status_code == 401 and nobody.headers["www-authenticate"] == "Bearer"

    leader = client.get(url, headers=bearer(client, engine, "squad_leader", squad_code=SQUAD))
    assert leader.status_code == 200
    assert {r["station_code"] for r in leader.json()["rows"]} == {STATION}
    assert [r["officer_code"] for r in leader.json()["shortfalls"]] == ["T9OF02", "T9OF03"]

    own = bearer(client, engine, "officer", station_code=STATION, officer_code="T9OF01")
    mine = client.get(url, headers=own).json()
    assert {r["officer_code"] for r in mine["rows"]} == set(OFFICERS)
    other = bearer(client, engine, "officer", station_code=REAL_STATION)
    theirs = client.get(url, headers=other).json()
    assert theirs["rows"] and {r["station_code"] for r in theirs["rows"]} == {REAL_STATION}
    refused = client.get(url + f"&station={STATION}", headers=other)  # not their station
    assert refused.status_code == 403 and refused.json()["detail"][0]["code"] == "forbidden"

    dispatcher = bearer(client, engine, "dispatcher")
    rows = client.get(url + f"&station={STATION}", headers=dispatcher).json()["rows"]
    assert {(r["officer_code"], r["hours"], r["meets_rule"]) for r in rows} == {
        ("T9OF01", 6.5, True),
        ("T9OF02", 0.0, False),
        ("T9OF03", 1.5, False),
    }
    assert all("*" in r["officer_name"] for r in rows)

    analyst = client.get(url + f"&squad={SQUAD}", headers=bearer(client, engine, "analyst"))
    body = analyst.json()
    assert analyst.status_code == 200 and "rows" not in body and "shortfalls" not in body
    assert "T9OF0" not in analyst.text
    assert [(g["station_code"], g["officers"], g["met"]) for g in body["stations"]] == [
        (STATION, 3, 1)
    ]

    for week, word in (("2019-10", "ISO week"), ("2999-W01", "future")):
        bad = client.get(f"/api/v1/duty/compliance?week={week}", headers=dispatcher)
        assert bad.status_code == 422 and bad.json()["detail"][0]["field"] == "week"
        assert word in bad.json()["detail"][0]["message"]
    unknown = client.get(url + "&station=NOPE", headers=dispatcher)
    assert unknown.status_code == 404
    assert client.get(url + "&station=%00", headers=dispatcher).status_code == 404
    odd = client.get("/api/v1/duty/now?station=%00", headers=dispatcher)
    assert odd.status_code == 404
    ancient = client.get(
        f"/api/v1/duty/now?station={STATION}&at=0001-01-01T00:00:00%2B14:00", headers=dispatcher
    )
    assert ancient.status_code == 422 and ancient.json()["detail"][0]["field"] == "at"


def test_api_shifts_and_checkins(client: TestClient, engine: Engine, settings: Settings) -> None:
    leader = bearer(client, engine, "squad_leader", squad_code=SQUAD)
    shift = {
        "officer_code": "T9OF01",
        "station_code": STATION,
        "start": "2019-04-01T08:00:00+08:00",
        "end": "2019-04-01T12:00:00+08:00",
    }
    made = client.post("/api/v1/duty/shifts", json={"shifts": [shift]}, headers=leader)
    assert made.status_code == 201, made.text
    shift_id = made.json()["shifts"][0]["id"]
    assert made.json()["shifts"][0]["hours"] == 4.0

    again = client.post(
        "/api/v1/duty/shifts",
        json={
            "shifts": [
                {**shift, "start": "2019-04-01T11:00:00+08:00", "end": "2019-04-01T13:00:00+08:00"}
            ]
        },
        headers=leader,
    )
    assert again.status_code == 409 and f"shift {shift_id}" in again.json()["detail"][0]["message"]
    outside = client.post(
        "/api/v1/duty/shifts",
        json={
            "shifts": [
                {
                    **shift,
                    "station_code": REAL_STATION,
                    "start": "2019-04-02T08:00:00+08:00",
                    "end": "2019-04-02T09:00:00+08:00",
                }
            ]
        },
        headers=leader,
    )
    assert outside.status_code == 403
    for role in ("officer", "analyst"):
        place = {"station_code": STATION} if role == "officer" else {}
        denied = client.post(
            "/api/v1/duty/shifts",
            json={"shifts": [shift]},
            headers=bearer(client, engine, role, **place),
        )
        assert denied.status_code == 403
    assert client.post("/api/v1/duty/shifts", json={"shifts": [shift]}).status_code == 401
    bad = client.post(
        "/api/v1/duty/shifts", json={"shifts": [{**shift, "end": shift["start"]}]}, headers=leader
    )
    assert bad.status_code == 422

    me = bearer(client, engine, "officer", station_code=STATION, officer_code="T9OF01")
    lon, lat, _ = GEOD.fwd(ST_LON, ST_LAT, 90.0, 750.0)
    far = client.post(
        f"/api/v1/duty/shifts/{shift_id}/checkin",
        json={"lon": lon, "lat": lat, "at": "2019-04-01T08:01:00+08:00"},
        headers=me,
    )
    assert far.status_code == 201
    assert (far.json()["counts"], far.json()["flag"]) == (False, "outside")
    assert far.json()["distance_m"] == pytest.approx(750.0, abs=0.01)
    blind = client.post(
        f"/api/v1/duty/shifts/{shift_id}/checkin",
        json={"at": "2019-04-01T08:02:00+08:00"},
        headers=me,
    )
    assert blind.status_code == 422 and blind.json()["detail"][0]["field"] == "lon,lat"
    good = client.post(
        f"/api/v1/duty/shifts/{shift_id}/checkin",
        json={"lon": ST_LON, "lat": ST_LAT, "at": "2019-04-01T08:03:00+08:00"},
        headers=me,
    )
    assert good.status_code == 201 and good.json()["counts"] is True
    with engine.connect() as conn:
        kept = (
            conn.execute(
                sa.text("SELECT flag FROM duty_check WHERE shift_id = :s ORDER BY id"),
                {"s": shift_id},
            )
            .scalars()
            .all()
        )
    assert kept == ["outside", "no_location", "ok"]

    someone_else = _plan(
        engine, "T9OF02", STATION, "2019-04-01T08:00+08:00", "2019-04-01T12:00+08:00"
    )
    theirs = client.post(
        f"/api/v1/duty/shifts/{someone_else.id}/checkin",
        json={"lon": ST_LON, "lat": ST_LAT, "at": "2019-04-01T08:03:00+08:00"},
        headers=me,
    )
    assert theirs.status_code == 403
    missing = client.post(
        "/api/v1/duty/shifts/999999999/checkin", json={"lon": ST_LON, "lat": ST_LAT}, headers=me
    )
    assert missing.status_code == 404

    now = client.get(
        f"/api/v1/duty/now?station={STATION}&at=2019-04-01T09:00:00%2B08:00", headers=leader
    )
    assert now.status_code == 200
    assert [(o["code"], o["state"]) for o in now.json()["officers"]][:2] == [
        ("T9OF01", "present"),
        ("T9OF02", "planned"),
    ]
    rota = client.get(f"/api/v1/duty/shifts?station={STATION}&week=2019-W14", headers=leader)
    assert rota.status_code == 200
    assert {s["id"] for s in rota.json()["shifts"]} == {shift_id, someone_else.id}


# ------------------------------------------------------------------ CLI


def _grid(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [GRID, *args], capture_output=True, text=True, env=dict(os.environ), check=False
    )


def test_cli_compliance_json_and_overlap_exit(week10: dict[str, int]) -> None:
    run = _grid("duty", "compliance", "--week", "2019-W10", "--station", STATION, "--json")
    assert run.returncode == 0, run.stderr
    rows = [json.loads(line) for line in run.stdout.splitlines()]
    assert {(r["officer_code"], r["hours"], r["meets_rule"]) for r in rows} == {
        ("T9OF01", 6.5, True),
        ("T9OF02", 0.0, False),
        ("T9OF03", 1.5, False),
    }
    assert all(r["week"] == "2019-W10" and r["community_code"] == COMMUNITY for r in rows)

    clash = _grid(
        "duty", "plan", "--officer", "T9OF01", "--station", STATION,
        "--start", "2019-03-06T11:00+08:00", "--end", "2019-03-06T13:00+08:00",
    )  # fmt: skip
    assert clash.returncode == 1
    assert f"shift {week10['a']}" in " ".join(clash.stderr.split())

    bad = _grid("duty", "compliance", "--week", "2019-10", "--json")
    assert bad.returncode == 1 and "ISO week" in bad.stderr and bad.stdout == ""
    both = _grid("duty", "compliance", "--week", "2019-W10", "--station", "A", "--squad", "B")
    assert both.returncode == 2
