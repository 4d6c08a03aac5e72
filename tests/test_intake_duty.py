"""Intake puts the officer on duty first, from the duty shifts (cases.stations.onduty).

On real PostGIS with the sample layout, at two sample stations of three or
more officers each:
- a complaint filed at a moment a shift covers goes to that shift's officer,
  present (checked in) before planned, the fewest open cases among equals;
- at a moment no shift covers (a holiday has none) nobody is on duty, and a
  complaint goes to the officer holding the fewest open cases;
- a file's rows at a station with nobody on duty are spread over its officers
  in turn; a row inside a shift goes to the shift's officer, as the single
  path does.

Open-case loads are set by handing the module's own reserve cases (filed at a
third station) to officers. Shifts planned here are cancelled afterwards.
"""

from __future__ import annotations

import csv
import itertools
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from cases.bulk import assign_file
from cases.calendar import load_calendar
from cases.catalogue import load_catalogue
from cases.intake import ComplaintIn, submit_complaint
from cases.mapdata.operations import on_duty
from cases.stations.duty import (
    CheckIn,
    Shift,
    ShiftIn,
    duty_now,
    on_duty_officers,
    plan_shifts,
    record_check,
)
from cases.stations.onduty import pick_officers
from gis.settings import Settings

OPEN = "('dispatched', 'in_progress', 'rework')"
HOLIDAY = datetime.fromisoformat("2026-10-01T10:00+08:00")  # 国庆节, a Thursday
_serial = itertools.count(1)


class Station:
    """A sample station: its code, three of its officers (by code), a point in one of its
    grids and the station's own point (for check-ins)."""

    def __init__(self, row: Any, officers: list[str]) -> None:
        self.code: str = row.station
        self.lon: float = float(row.lon)
        self.lat: float = float(row.lat)
        self.st_lon: float = float(row.st_lon)
        self.st_lat: float = float(row.st_lat)
        self.officers = officers


_STATIONS = sa.text("""
SELECT DISTINCT ON (st.code) st.code AS station, ST_X(p.geom) AS lon, ST_Y(p.geom) AS lat,
       ST_X(st.geom) AS st_lon, ST_Y(st.geom) AS st_lat
FROM station st
JOIN grid_cell g ON g.community_code = st.community_code
JOIN layout_generation lg ON lg.id = g.generation_id AND lg.is_current
CROSS JOIN LATERAL (SELECT ST_PointOnSurface(g.geom) AS geom) p
WHERE (SELECT count(*) FROM officer o
       WHERE o.station_code = st.code AND o.active AND o.role = 'officer') >= 3
ORDER BY st.code DESC, g.code
LIMIT 3
""")


@pytest.fixture(scope="module")
def stations(engine: Engine, settings: Settings) -> Iterator[list[Station]]:
    """Three stations (the last by code with three officers or more); the shifts planned
    by the tests are cancelled at the end."""
    from sample.seed import load_sample

    load_sample(engine, settings=settings)
    with engine.connect() as conn:
        rows = conn.execute(_STATIONS).all()
        out = []
        for r in rows:
            codes = conn.execute(
                sa.text(
                    "SELECT code FROM officer WHERE station_code = :s AND active "
                    "AND role = 'officer' ORDER BY code"
                ),
                {"s": r.station},
            ).scalars()
            out.append(Station(r, list(codes)))
    yield out
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "UPDATE duty_shift SET cancelled_at = now() "
                "WHERE note = 'test_intake_duty' AND cancelled_at IS NULL"
            )
        )


def _file(
    engine: Engine, settings: Settings, station: Station, moments: list[datetime]
) -> list[Any]:
    """A file of one row per moment at the station's point through `grid assign`; its cases
    (officer_code, reported_at) in the file's order."""
    path = Path(f"/tmp/intake-duty-{uuid.uuid4().hex[:10]}.csv")
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["lon", "lat", "subclass", "reported_at", "description", "address"])
        for at in moments:
            w.writerow([station.lon, station.lat, "0101", at.isoformat(), "测试: 值守派遣", ""])
    try:
        result = assign_file(engine, path, "wgs84", settings=settings)
        assert result.invalid == 0 and result.located == len(moments)
        with engine.connect() as conn:
            return conn.execute(
                sa.text(
                    "SELECT officer_code, reported_at, station_code, status FROM case_file "
                    "WHERE external_ref LIKE :p ORDER BY split_part(external_ref, ':', 2)::int"
                ),
                {"p": f"{path.name}:%"},
            ).all()
    finally:
        path.unlink(missing_ok=True)


@pytest.fixture(scope="module")
def reserve(engine: Engine, settings: Settings, stations: list[Station]) -> list[int]:
    """Open cases of the module's own (filed at the third station, long ago), to hand out."""
    base = datetime.now(UTC) - timedelta(days=40)
    _file(engine, settings, stations[2], [base + timedelta(minutes=i) for i in range(12)])
    with engine.connect() as conn:
        return list(
            conn.execute(
                sa.text(
                    "SELECT id FROM case_file WHERE station_code = :s AND status = 'dispatched' "
                    "AND description = '测试: 值守派遣' ORDER BY id"
                ),
                {"s": stations[2].code},
            ).scalars()
        )


def _open(engine: Engine, codes: list[str]) -> dict[str, int]:
    """Open cases held by each officer."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                f"SELECT o, (SELECT count(*) FROM case_file f WHERE f.officer_code = o "
                f"AND f.status IN {OPEN}) FROM unnest(CAST(:c AS text[])) o"
            ),
            {"c": codes},
        ).all()
    return {str(code): int(n) for code, n in rows}


def _load(engine: Engine, reserve: list[int], wanted: dict[str, int]) -> None:
    """Give each officer o `wanted[o]` cases of the reserve (the rest held by nobody)."""
    ids = iter(reserve)
    with engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE case_file SET officer_code = NULL WHERE id = ANY(:i)"), {"i": reserve}
        )
        for officer, n in wanted.items():
            chunk = [next(ids) for _ in range(n)]
            conn.execute(
                sa.text("UPDATE case_file SET officer_code = :o WHERE id = ANY(:i)"),
                {"o": officer, "i": chunk},
            )


def _more_than(engine: Engine, reserve: list[int], heavy: str, light: list[str]) -> None:
    """Give `heavy` strictly more open cases than every officer in `light`."""
    _load(engine, reserve, {})
    counts = _open(engine, [heavy, *light])
    need = max(counts[o] for o in light) - counts[heavy] + 1
    _load(engine, reserve, {heavy: max(need, 0)})
    counts = _open(engine, [heavy, *light])
    assert all(counts[heavy] > counts[o] for o in light), counts


def _plan(engine: Engine, officer: str, station: Station, lo: datetime, hi: datetime) -> Shift:
    (shift,) = plan_shifts(
        engine,
        [
            ShiftIn(
                officer_code=officer,
                station_code=station.code,
                start=lo,
                end=hi,
                note="test_intake_duty",
            )
        ],
    )
    return shift


def _check(
    engine: Engine, settings: Settings, shift: Shift, station: Station, kind: str, at: datetime
) -> None:
    result = record_check(
        engine,
        shift.id,
        kind,
        CheckIn(lon=station.st_lon, lat=station.st_lat, at=at),
        settings=settings,
    )
    assert result.counts


def _submit(engine: Engine, settings: Settings, station: Station) -> Any:
    subclasses = [s.code for s in load_catalogue(settings.data_dir / "catalogue.toml").subclasses]
    view = submit_complaint(
        engine,
        ComplaintIn(
            lon=station.lon,
            lat=station.lat,
            subclass=subclasses[next(_serial) % len(subclasses)],
            description=f"测试: 值守 {uuid.uuid4().hex[:6]}",
        ),
        settings=settings,
    )
    assert view.status == "dispatched" and view.station == station.code
    return view


# ------------------------------------------------------------------ the single path


def test_the_officer_on_a_shift_takes_the_complaint_present_before_planned(
    engine: Engine, settings: Settings, stations: list[Station], reserve: list[int]
) -> None:
    st = stations[0]
    a, b, c = st.officers[:3]
    now = datetime.now(UTC)
    lo, hi = now - timedelta(hours=1), now + timedelta(hours=1)

    # Planned beats the rest, though A holds the most open cases.
    _more_than(engine, reserve, a, [b, c])
    shift_a = _plan(engine, a, st, lo, hi)
    view = _submit(engine, settings, st)
    assert view.officer_code == a
    assert [o["code"] for o in view.officers if o["on_duty"]] == [a]
    assert view.officers[0]["code"] == a
    board = duty_now(engine, st.code, datetime.now(UTC), settings=settings)
    assert (board.officers[0].code, board.officers[0].state) == (a, "planned")
    assert {o.state for o in board.officers[1:]} == {"off"}

    # Present (checked in) beats planned, though B now holds more than A.
    shift_b = _plan(engine, b, st, lo, hi)
    _check(engine, settings, shift_b, st, "in", now - timedelta(minutes=30))
    _more_than(engine, reserve, b, [a, c])
    view = _submit(engine, settings, st)
    assert view.officer_code == b
    board = duty_now(engine, st.code, datetime.now(UTC), settings=settings)
    assert [(o.code, o.state) for o in board.officers][:2] == [(b, "present"), (a, "planned")]

    # B checks out; A and C both planned: the fewest open cases (C), not the code (A).
    _check(engine, settings, shift_b, st, "out", datetime.now(UTC) - timedelta(seconds=1))
    _plan(engine, c, st, lo, hi)
    _more_than(engine, reserve, a, [c])
    view = _submit(engine, settings, st)
    assert view.officer_code == c
    at = datetime.now(UTC)
    with engine.connect() as conn:
        order = on_duty_officers(conn, st.code, at)
        # both on duty first; C's new case may have evened the count: one rule either way
        assert set(order[:2]) == {a, c} and pick_officers(conn, [st.code], [at]) == order[:1]
    assert shift_a.id != shift_b.id
    # The operations map lists them as on duty now (present or planned), B no longer.
    duty = on_duty(engine, now=datetime.now(UTC))
    here = duty[duty["station_code"] == st.code]
    assert sorted(here["code"]) == sorted([a, c]) and set(here["state"]) == {"planned"}


def test_a_holiday_has_nobody_on_duty_and_the_fewest_open_cases_take_it(
    engine: Engine, settings: Settings, stations: list[Station], reserve: list[int]
) -> None:
    st = stations[1]
    assert HOLIDAY.date() in set(load_calendar(settings.data_dir).config.holidays)
    board = duty_now(engine, st.code, HOLIDAY, settings=settings)
    assert board.officers and not any(o.on_duty for o in board.officers)
    assert {o.state for o in board.officers} == {"off"}
    duty = on_duty(engine, now=HOLIDAY)
    assert st.code not in set(duty["station_code"])
    # Nobody on duty now either: the officer holding the fewest open cases takes it,
    # here the one with the highest code (the others are given more).
    last = st.officers[-1]
    _load(engine, reserve, {})
    counts = _open(engine, st.officers)
    wanted = {o: max(counts[last] - counts[o] + 1, 0) for o in st.officers[:-1]}
    _load(engine, reserve, wanted)
    counts = _open(engine, st.officers)
    assert min(counts, key=lambda o: (counts[o], o)) == last
    with engine.connect() as conn:
        assert on_duty_officers(conn, st.code, HOLIDAY)[0] == last
    view = _submit(engine, settings, st)
    assert view.officer_code == last
    assert not any(o["on_duty"] for o in view.officers)


# ------------------------------------------------------------------ a file


def test_a_file_spreads_its_rows_over_the_station_when_nobody_is_on_duty(
    engine: Engine, settings: Settings, stations: list[Station], reserve: list[int]
) -> None:
    st = stations[1]
    _load(engine, reserve, {})
    counts = _open(engine, st.officers)
    turn = sorted(st.officers, key=lambda o: (counts[o], o))
    morning = datetime.combine(date.today() - timedelta(days=3), datetime.min.time(), UTC)
    moments = [morning + timedelta(minutes=7 * i) for i in range(7)]  # 08:00 CST on, no shift
    cases = _file(engine, settings, st, moments)
    assert [c.status for c in cases] == ["dispatched"] * 7
    assert [c.officer_code for c in cases] == [turn[i % len(turn)] for i in range(7)]
    per = {o: sum(c.officer_code == o for c in cases) for o in st.officers}
    assert max(per.values()) - min(per.values()) <= 1


def test_a_row_inside_a_shift_goes_to_the_shift_officer_as_the_single_path(
    engine: Engine, settings: Settings, stations: list[Station], reserve: list[int]
) -> None:
    st = stations[1]
    heavy = st.officers[0]
    _more_than(engine, reserve, heavy, st.officers[1:])
    now = datetime.now(UTC)
    _plan(engine, heavy, st, now - timedelta(hours=2), now + timedelta(hours=1))
    counts = _open(engine, st.officers)
    first_off = min(st.officers, key=lambda o: (counts[o], o))
    old = now - timedelta(days=5)  # no shift then
    cases = _file(engine, settings, st, [now - timedelta(minutes=1), old])
    # in time order: the old row first, to the next in turn; the row in the shift to its officer
    assert [c.officer_code for c in cases] == [heavy, first_off]
    view = _submit(engine, settings, st)
    assert view.officer_code == heavy == cases[0].officer_code
    with engine.connect() as conn:
        for at in (now - timedelta(minutes=1), old, HOLIDAY):
            assert pick_officers(conn, [st.code], [at]) == on_duty_officers(conn, st.code, at)[:1]
