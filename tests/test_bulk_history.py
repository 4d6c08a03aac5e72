"""`grid assign` with a case's later course (status, dispatched_at, closed_at, rating).

A year of imported history keeps its real outcome: closed cases are closed at
their `closed_at`, their clock started at `dispatched_at`, their events tell
their course in time order, the escalation sweeper leaves them alone and the
indicators count them as the file says. Bad history rows go to the rejects
file with their reasons. Most of it runs in a database of its own (the sample
district and this module's cases only), so a sweep and a month's indicators
see exactly this module's cases.
"""

from __future__ import annotations

import csv
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import pytest
import sqlalchemy as sa
from other_database import sample_database
from shapely.geometry import Point
from sqlalchemy.engine import Connection, Engine
from typer.testing import CliRunner

from cases.bulk import assign_file
from cases.calendar import load_calendar
from cases.catalogue import load_catalogue
from cases.indicators import indicators
from cases.lifecycle.escalation import sweep
from gis.db import get_engine
from gis.settings import Settings

NEIGHBOUR = (113.1230, 22.5450)  # in 江海区
HEADER = "lon,lat,subclass,reported_at,description,address,status,dispatched_at,closed_at,rating"
_INSIDE = sa.text("""
    SELECT g.code, ST_X(p.geom) AS lon, ST_Y(p.geom) AS lat
    FROM grid_cell g
    JOIN layout_generation lg ON lg.id = g.generation_id AND lg.is_current
    JOIN district d ON d.generation_id = g.generation_id AND d.is_home
    CROSS JOIN LATERAL (SELECT ST_PointOnSurface(g.geom) AS geom) p
    WHERE ST_Distance(ST_Boundary(d.geom)::geography, p.geom::geography) > 1500
    ORDER BY g.code DESC OFFSET :n LIMIT 1
""")


@pytest.fixture(scope="module")
def scratch(settings: Settings) -> Iterator[Settings]:
    """A database with the sample district and no other module's cases."""
    # No tier raised by repeats: the tiers are the catalogue's.
    with sample_database(settings, "hist", repeat_report_count=1000) as made:
        yield made


@pytest.fixture(scope="module")
def db(scratch: Settings) -> Engine:
    return get_engine(scratch)


def _point(engine: Engine, n: int) -> tuple[float, float, str]:
    with engine.connect() as conn:
        row = conn.execute(_INSIDE, {"n": n}).one()
    return round(float(row.lon), 7), round(float(row.lat), 7), str(row.code)


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _cases(engine: Engine, file_name: str) -> dict[int, dict[str, Any]]:
    """Cases of a file by line, with their events (kind, at, data) in time order."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("""
            SELECT c.*, (SELECT array_agg(e.kind ORDER BY e.at, e.id) FROM case_event e
                         WHERE e.case_id = c.id) AS events,
                        (SELECT array_agg(e.at ORDER BY e.at, e.id) FROM case_event e
                         WHERE e.case_id = c.id) AS event_at
            FROM case_file c WHERE c.external_ref LIKE :p"""),
            {"p": f"{file_name}:%"},
        ).mappings()
        return {int(r["external_ref"].rsplit(":", 1)[1]): dict(r) for r in rows}


def _rejects(path: Path) -> dict[int, dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        return {int(r["line"]): r for r in csv.DictReader(f)}


def _t(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def test_every_combination(db: Engine, scratch: Settings, tmp_path: Path) -> None:
    ax, ay, grid = _point(db, 11)
    nx, ny = NEIGHBOUR
    tag = uuid.uuid4().hex[:8]
    a = f"{ax},{ay}"
    lines = [
        HEADER,  # 1
        f"{a},0101,2024-03-04T09:00:00+08:00,open {tag},,,,,",  # 2 a new complaint
        f"{a},0101,2024-03-04T09:00:00+08:00,,,dispatched,2024-03-04T15:00:00+08:00,,",  # 3
        f"{a},0103,2024-03-05T09:00:00+08:00,,,in_progress,2024-03-05T09:30:00+08:00,,",  # 4
        f"{a},0103,2024-03-06T09:00:00+08:00,,,closed,2024-03-06T09:10:00+08:00,"
        "2024-03-06T11:00:00+08:00,",  # 5 closed on time (due 03-07 10:10)
        f"{a},0101,2024-03-07T09:00:00+08:00,,,Closed,,2024-03-20T10:00:00+08:00,",  # 6 late
        f"{a},0103,2024-03-08 09:00,,,evaluated,2024-03-08 09:05,2024-03-08 10:00,4",  # 7 naive
        f"{a},0101,2024-03-11T09:00:00+08:00,,,已结案,,2024-03-11T10:00:00+08:00,",  # 8
        f"{nx},{ny},0101,2024-03-11T09:00:00+08:00,,,closed,,2024-03-11T10:00:00+08:00,",  # 9
        ",,0101,2024-03-11T09:00:00+08:00,,北街某号,closed,,2024-03-11T10:00:00+08:00,",  # 10
        f"{a},0101,2024-03-12T09:00:00+08:00,,,done,,,",  # 11 unknown status
        f"{a},0101,2024-03-12T09:00:00+08:00,,,closed,,2024-03-12T08:00:00+08:00,",  # 12
        f"{a},0101,2024-03-12T09:00:00+08:00,,,closed,2024-03-12T10:00:00+08:00,"
        "2024-03-12T09:30:00+08:00,",  # 13 closed before dispatched
        f"{a},0101,2024-03-12T09:00:00+08:00,,,dispatched,,2024-03-12T10:00:00+08:00,",  # 14
        f"{a},0101,2024-03-12T09:00:00+08:00,,,closed,,,",  # 15 closed without closed_at
        f"{a},0101,2024-03-12T09:00:00+08:00,,,closed,,2099-01-01T00:00:00Z,",  # 16 future
        f"{a},0101,2024-03-12T09:00:00+08:00,,,,2024-03-11T09:00:00+08:00,,",  # 17 dispatched early
        f"{a},0101,2024-03-12T09:00:00+08:00,,,,2099-01-01T00:00:00Z,,",  # 18 dispatched future
        f"{a},0101,2024-03-12T09:00:00+08:00,,,closed,,2024-03-12T10:00:00+08:00,5",  # 19
        f"{a},0101,2024-03-12T09:00:00+08:00,,,evaluated,,2024-03-12T10:00:00+08:00,",  # 20
        f"{a},0101,2024-03-12T09:00:00+08:00,,,evaluated,,2024-03-12T10:00:00+08:00,7",  # 21
        f"{a},0101,2024-03-12T09:00:00+08:00,,,closed,,yesterday,",  # 22 not a time
        f"{a},0101,2024-03-12T09:00:00+08:00,,,,,2024-03-12T10:00:00+08:00,",  # 23 no status
    ]
    path = _write(tmp_path / f"history-{tag}.csv", lines)
    result = assign_file(db, path, "wgs84", settings=scratch)

    assert result.history and result.invalid == 13 and result.cases == 9
    assert result.by_status == {
        "dispatched": 2,
        "in_progress": 1,
        "closed": 3,
        "evaluated": 1,
        "referred_out": 1,
        "received": 1,
    }
    assert result.history_not_applied == 2  # lines 9 and 10: the placement kept its own

    # Every bad row is in the rejects file with its reason, and its history values.
    assert result.rejects_path is not None
    rejects = _rejects(Path(result.rejects_path))
    assert sorted(rejects) == list(range(11, 24))
    expected = {
        11: "status is not one a file can give",
        12: "closed_at is before reported_at",
        13: "closed_at is before dispatched_at",
        14: "closed_at is given but the status is not closed or evaluated",
        15: "a closed or evaluated case needs closed_at",
        16: "closed_at is in the future",
        17: "dispatched_at is before reported_at",
        18: "dispatched_at is in the future",
        19: "rating is only for an evaluated case",
        20: "an evaluated case needs its rating",
        21: "rating is not a whole number from 1 to 5",
        22: "closed_at is not an ISO 8601 date-time",
        23: "closed_at is given but the status is not closed or evaluated",
    }
    for line, reason in expected.items():
        assert reason in rejects[line]["reason"], (line, rejects[line]["reason"])
    assert rejects[11]["status"] == "done" and rejects[22]["closed_at"] == "yesterday"
    assert rejects[21]["rating"] == "7"

    cases = _cases(db, path.name)
    assert sorted(cases) == list(range(2, 11))
    calendar, catalogue = load_calendar(), load_catalogue()

    def due(at: datetime, code: str) -> datetime:
        return calendar.add_working_hours(at, catalogue.subclass(code).time_limit_hours)

    # 2: a new complaint, as without history: the clock starts at reported_at.
    c = cases[2]
    assert c["status"] == "dispatched" and c["grid_code"] == grid
    assert c["dispatched_at"] == c["reported_at"] and c["due_at"] == due(c["reported_at"], "0101")
    assert c["closed_at"] is None and c["holder_role"] == "officer"
    assert c["events"] == ["created", "located", "dispatched"]
    assert c["event_at"] == [c["reported_at"]] * 3  # dated by the row, not when written

    # 3: dispatched later than reported: the clock starts at dispatched_at.
    c = cases[3]
    start = _t("2024-03-04T15:00:00+08:00")
    assert c["status"] == "dispatched" and c["dispatched_at"] == start
    assert c["due_at"] == due(start, "0101") != due(c["reported_at"], "0101")
    assert c["event_at"] == [c["reported_at"], c["reported_at"], start]
    # The reply is still due from receipt.
    assert (
        c["reply_due_at"]
        == calendar.deadline(c["reported_at"], catalogue.subclass("0101").reply_limit).at
    )

    c = cases[4]
    assert c["status"] == "in_progress" and c["holder_role"] == "officer"
    assert c["events"] == ["created", "located", "dispatched", "started"]
    assert c["event_at"][-1] == _t("2024-03-05T09:30:00+08:00")

    for line, start_text, closed_text, code in (
        (5, "2024-03-06T09:10:00+08:00", "2024-03-06T11:00:00+08:00", "0103"),
        (6, "2024-03-07T09:00:00+08:00", "2024-03-20T10:00:00+08:00", "0101"),
        (8, "2024-03-11T09:00:00+08:00", "2024-03-11T10:00:00+08:00", "0101"),
    ):
        c = cases[line]
        start, closed = _t(start_text), _t(closed_text)
        assert c["status"] == "closed", line
        assert (c["dispatched_at"], c["due_at"]) == (start, due(start, code))
        assert c["closed_at"] == closed and c["rating"] is None
        assert c["holder_role"] is None and c["holder_code"] is None
        assert c["officer_code"] is not None  # the officer it went to stays named
        assert c["events"] == ["created", "located", "dispatched", "closed"]
        assert c["event_at"] == [c["reported_at"], c["reported_at"], start, closed]
    assert cases[5]["closed_at"] <= cases[5]["due_at"]  # on time
    assert cases[6]["closed_at"] > cases[6]["due_at"]  # late

    c = cases[7]  # naive times: local time of the calendar's zone, as reported_at
    assert c["status"] == "evaluated" and c["rating"] == 4
    assert c["closed_at"] == _t("2024-03-08T10:00:00+08:00")
    assert c["events"] == ["created", "located", "dispatched", "closed", "evaluated"]
    with db.connect() as conn:
        data = conn.execute(
            sa.text("SELECT kind, actor, data FROM case_event WHERE case_id = :i ORDER BY at, id"),
            {"i": c["id"]},
        ).all()
    assert (data[-1].kind, data[-1].data["to"], data[-1].data["rating"]) == (
        "evaluated",
        "evaluated",
        4,
    )
    assert (data[-2].kind, data[-2].data["to"], data[-2].actor) == ("closed", "closed", "bulk")

    # The placement wins: outside the district stays referred out; no location, received.
    c = cases[9]
    assert c["status"] == "referred_out" and c["closed_at"] is None
    assert c["events"] == ["created", "located", "referred_out"]
    c = cases[10]
    assert c["status"] == "received" and c["closed_at"] is None and c["due_at"] is None
    assert c["events"] == ["created", "needs_location"]

    # The sweeper escalates the open overdue cases, and none of the closed ones.
    ours = [cases[n]["id"] for n in cases]
    moved = sweep(db, now=datetime.now(UTC), settings=scratch)
    assert moved.moved >= 3
    after = _cases(db, path.name)
    for line in (2, 3, 4):
        assert after[line]["events"][-1] == "escalated" and after[line]["tier"] == "moderate"
    for line in (5, 6, 7, 8, 9, 10):
        assert "escalated" not in after[line]["events"]
        assert after[line]["status"] == cases[line]["status"]
        assert after[line]["version"] == cases[line]["version"]
    assert len(ours) == 9


def test_indicators_of_an_imported_month_match_the_file(
    db: Engine, scratch: Settings, tmp_path: Path
) -> None:
    """April 2024 in a file of history; the district's figures are those of the file.

    0101 has 4 working hours (8:30-12:00, 14:30-18:00): a case dispatched on a
    weekday at 09:00 is due at 15:30 that day. By hand, per line:
    2, 3: closed in an hour (on time); 4: closed a week late; 5: evaluated
    (rated 5), on time; 6: open, never closed; 7: outside the district
    (referred out, not the bureau's to close); 8: dispatched on 04-30 at
    17:00, due 05-06 11:30 (05-01..05 are the Labour Day holidays): not due in April.
    """
    ax, ay, _ = _point(db, 23)
    nx, ny = NEIGHBOUR
    a = f"{ax},{ay}"
    tag = uuid.uuid4().hex[:8]
    lines = [
        HEADER,
        f"{a},0101,2024-04-08T08:50:00+08:00,{tag},,closed,2024-04-08T09:00:00+08:00,"
        "2024-04-08T10:00:00+08:00,",
        f"{a},0101,2024-04-09T09:00:00+08:00,,,closed,,2024-04-09T10:00:00+08:00,",
        f"{a},0101,2024-04-10T09:00:00+08:00,,,closed,,2024-04-17T10:00:00+08:00,",
        f"{a},0101,2024-04-11T09:00:00+08:00,,,evaluated,,2024-04-11T09:30:00+08:00,5",
        f"{a},0101,2024-04-12T09:00:00+08:00,,,dispatched,,,",
        f"{nx},{ny},0101,2024-04-15T09:00:00+08:00,,,closed,,2024-04-15T10:00:00+08:00,",
        f"{a},0101,2024-04-30T09:00:00+08:00,,,dispatched,2024-04-30T17:00:00+08:00,,",
    ]
    result = assign_file(
        db, _write(tmp_path / f"april-{tag}.csv", lines), "wgs84", settings=scratch
    )
    assert result.invalid == 0 and result.cases == 7
    got = indicators(db, "district", None, "2024-04-01", "2024-04-30", settings=scratch)
    values = {k: got.counts.values[k] for k in got.counts.values}
    assert values["received"] == 7
    assert values["dispatched"] == 6  # all but the referred-out one
    assert values["due"] == 5  # lines 2-6 (8 is due in May, 7 is not the bureau's)
    assert values["closed"] == 4 and values["closed_on_time"] == 3
    assert values["handled"] == 4 and values["handled_on_time"] == 3  # closure stands in
    assert values["evaluated"] == 1 and got.counts.rating_sum == 5
    assert values["verified"] == 4  # the closures of April, no rework


def test_geoparquet_and_geojson_carry_history(
    db: Engine, scratch: Settings, tmp_path: Path
) -> None:
    """Typed columns (timestamps, an integer rating) in GeoParquet; properties in GeoJSON."""
    ax, ay, _ = _point(db, 31)
    tag = uuid.uuid4().hex[:8]
    frame = gpd.GeoDataFrame(
        {
            "subclass": ["0101", "0101"],
            "reported_at": pd.to_datetime(
                ["2024-02-19T01:00:00Z", "2024-02-20T01:00:00Z"], utc=True
            ),
            "description": [tag, tag],
            "status": ["closed", "evaluated"],
            "dispatched_at": pd.to_datetime(["2024-02-19T02:00:00Z", None], utc=True),
            "closed_at": pd.to_datetime(["2024-02-19T03:00:00Z", "2024-02-20T03:00:00Z"], utc=True),
            "rating": pd.array([None, 3], dtype="Int64"),
        },
        geometry=[Point(ax, ay), Point(ax, ay)],
        crs="EPSG:4326",
    )
    parquet = tmp_path / f"history-{tag}.parquet"
    frame.to_parquet(parquet)
    result = assign_file(db, parquet, "wgs84", settings=scratch)
    assert result.invalid == 0 and result.by_status == {"closed": 1, "evaluated": 1}
    cases = _cases(db, parquet.name)
    assert cases[1]["dispatched_at"] == _t("2024-02-19T02:00:00Z")
    assert cases[1]["closed_at"] == _t("2024-02-19T03:00:00Z")
    assert cases[2]["rating"] == 3 and cases[2]["dispatched_at"] == _t("2024-02-20T01:00:00Z")

    frame["description"] = [f"{tag} json", f"{tag} json"]
    frame["closed_at"] = ["2024-02-19T11:00:00+08:00", "2024-02-18T11:00:00+08:00"]
    geojson = tmp_path / f"history-{tag}.geojson"
    frame.to_file(geojson, driver="GeoJSON")
    result = assign_file(db, geojson, "wgs84", settings=scratch)
    assert result.invalid == 1 and result.by_status == {"closed": 1}
    assert "closed_at is before reported_at" in result.first_rejects[0][1]
    assert _cases(db, geojson.name)[1]["closed_at"] == _t("2024-02-19T03:00:00Z")


def test_a_file_without_history_is_unchanged(db: Engine, scratch: Settings, tmp_path: Path) -> None:
    ax, ay, _ = _point(db, 41)
    tag = uuid.uuid4().hex[:8]
    path = _write(
        tmp_path / f"plain-{tag}.csv",
        [
            "lon,lat,subclass,reported_at,description",
            f"{ax},{ay},0101,2024-01-15T09:00:00+08:00,{tag}",
        ],
    )
    before = datetime.now(UTC) - timedelta(seconds=1)
    result = assign_file(db, path, "wgs84", settings=scratch)
    assert not result.history and result.history_not_applied == 0
    assert result.by_status == {"dispatched": 1}
    c = _cases(db, path.name)[2]
    assert c["status"] == "dispatched" and c["closed_at"] is None
    assert c["events"] == ["created", "located", "dispatched"]
    assert all(at >= before for at in c["event_at"])  # dated when written, as before


def test_cli_prints_counts_per_status(engine: Engine, conn: Connection, tmp_path: Path) -> None:
    from gridcli.main import app

    ax, ay, _ = _point(engine, 71)
    tag = uuid.uuid4().hex[:8]
    path = _write(
        tmp_path / f"cli-history-{tag}.csv",
        [
            HEADER,
            f"{ax},{ay},0101,2023-11-06T09:00:00+08:00,{tag},,closed,,2023-11-06T10:00:00+08:00,",
            f"{ax},{ay},0101,2023-11-06T09:00:00+08:00,,,in_progress,,,",
            f"{ax},{ay},0101,2023-11-06T09:00:00+08:00,,,closed,,,",
        ],
    )
    res = CliRunner().invoke(app, ["assign", str(path), "--crs", "wgs84"])
    assert res.exit_code == 0, res.output
    assert "cases by status" in res.output
    assert "closed (已结案)" in res.output and "in_progress (处置中)" in res.output
    assert "line 4: a closed or evaluated case needs closed_at" in res.output


def test_a_file_of_only_bad_rows_writes_nothing_and_says_why(
    db: Engine, scratch: Settings, tmp_path: Path
) -> None:
    """Every row refused (here: closed before it was reported): no case, no error."""
    ax, ay, _ = _point(db, 43)
    tag = uuid.uuid4().hex[:8]
    path = _write(
        tmp_path / f"all-bad-{tag}.csv",
        [
            HEADER,
            f"{ax},{ay},0101,2024-01-15T09:00:00+08:00,{tag},,closed,,2024-01-14T09:00:00+08:00,",
            f"{ax},{ay},0101,2024-01-15T09:00:00+08:00,,,evaluated,,2024-01-16T09:00:00+08:00,",
        ],
    )
    result = assign_file(db, path, "wgs84", settings=scratch)
    assert (result.cases, result.invalid, result.by_status) == (0, 2, {})
    assert [line for line, _ in result.first_rejects] == [2, 3]
    assert not _cases(db, path.name)
