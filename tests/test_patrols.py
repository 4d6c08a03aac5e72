"""Patrols on PostGIS: reading tracks (GeoJSON, GPX) with broken points named by
index, the grids a known straight track crosses and the share of the community
it covers (checked independently with shapely and pyproj), findings filed as
cases with source patrol, frontage units and their checks, the API and the CLI.

Patrols are walked in a sample community by test officers of a test station of
their own (T8ST01), so the sample's stations keep their officers. Every date is
in 2019.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import shapely
import sqlalchemy as sa
from api_login import bearer
from current_layout import community_shape
from fastapi.testclient import TestClient
from pydantic import ValidationError
from pyproj import Geod, Transformer
from shapely.geometry import LineString
from sqlalchemy.engine import Engine

from api.app import create_app
from cases.errors import InvalidInput
from cases.intake import case_events, get_case
from cases.stations.frontage import FrontageUnitIn, list_frontage, register_frontage
from cases.stations.patrols import FrontageCheckIn, PatrolIn, record_patrol
from gis.crs import gcj02_to_wgs84, wgs84_to_gcj02
from gis.privacy import encrypt
from gis.settings import Settings
from gis.tracks import TrackError, read_track

ROOT = Path(__file__).resolve().parent.parent
GRID = str(ROOT / ".venv" / "bin" / "grid")
GEOD = Geod(ellps="WGS84")
_FIRST = json.loads((ROOT / "data" / "sample" / "stations.geojson").read_text())["features"][0]
REAL_STATION = _FIRST["properties"]["code"]
REAL_COMMUNITY = _FIRST["properties"]["community_code"]
REAL_LON, REAL_LAT = _FIRST["geometry"]["coordinates"]
SAMPLE_OFFICER = next(
    line.split(",")[0]
    for line in (ROOT / "data" / "sample" / "officers.csv").read_text().splitlines()
    if line.split(",")[3:5] == ["officer", REAL_STATION]
)
STATION, COMMUNITY = "T8ST01", "449999999801"
OFFICERS = ("T8OF01", "T8OF02")


@pytest.fixture(scope="module")
def org(engine: Engine, settings: Settings) -> Iterator[None]:
    """The sample layout, a test station with two officers (active while the module runs)."""
    from sample.seed import load_sample

    load_sample(engine, settings=settings)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO station (code, name, community_code, address, geom) "
                "VALUES (:code, '巡查测试站', :c, '', "
                "ST_SetSRID(ST_MakePoint(113.02, 22.61), 4326)) "
                "ON CONFLICT (code) DO NOTHING"
            ),
            {"code": STATION, "c": COMMUNITY},
        )
        conn.execute(
            sa.text(
                "INSERT INTO officer (code, name_enc, role, station_code, active) "
                "VALUES (:code, :name, 'officer', :st, true) "
                "ON CONFLICT (code) DO UPDATE SET active = true"
            ),
            [
                {"code": c, "name": encrypt(f"巡查{i}", settings), "st": STATION}
                for i, c in enumerate(OFFICERS)
            ],
        )
    yield
    # Later modules count the district's active officers (the sample duty among them).
    with engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE officer SET active = false WHERE code = ANY(:codes)"),
            {"codes": list(OFFICERS)},
        )


def _inside(engine: Engine, metres: float = 0.0) -> tuple[float, float]:
    """A point well inside the sample community (its representative point)."""
    point = community_shape(engine, REAL_COMMUNITY).buffer(-0.0005).representative_point()
    if metres:
        return GEOD.fwd(point.x, point.y, 45.0, metres)[:2]
    return point.x, point.y


def _line_across(engine: Engine) -> list[list[float]]:
    """A straight east-west track across the community, through its middle, in 11 points."""
    polygon = community_shape(engine, REAL_COMMUNITY)
    minx, _, maxx, _ = polygon.bounds
    y = polygon.representative_point().y + 1.234e-5
    x0, x1 = minx - 0.002, maxx + 0.002
    return [[x0 + (x1 - x0) * i / 10, y] for i in range(11)]


def _patrol(**fields: Any) -> PatrolIn:
    body = {
        "officer_code": "T8OF01",
        "station_code": REAL_STATION,
        "started_at": "2019-05-06T09:00:00+08:00",
        "ended_at": "2019-05-06T10:00:00+08:00",
        **fields,
    }
    return PatrolIn.model_validate(body)


# ------------------------------------------------------------------ reading


def _gpx(points: list[tuple[Any, Any, str]], extra: str = "") -> str:
    pts = "".join(
        f'<trkpt lat="{lat}" lon="{lon}"><time>{t}</time></trkpt>' for lon, lat, t in points
    )
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>{extra}'
        '<gpx version="1.1" creator="test" xmlns="http://www.topografix.com/GPX/1/1">'
        f"<trk><trkseg>{pts}</trkseg></trk></gpx>"
    )


def test_tracks_are_read_and_broken_points_named_by_index() -> None:
    line = {"type": "LineString", "coordinates": [[113.0, 22.6], [113.001, 22.6], ["x", 22.6]]}
    with pytest.raises(TrackError) as caught:
        read_track(geojson=line)
    assert caught.value.index == 2 and caught.value.field == "geojson.coordinates[2]"
    assert caught.value.message.startswith("point 2 ")

    multi = {
        "type": "MultiLineString",
        "coordinates": [[[113.0, 22.6], [113.001, 22.6]], [[113.002, 22.6], [113.003, 95.0]]],
    }
    with pytest.raises(TrackError) as far:
        read_track(geojson=multi)
    assert far.value.index == 3 and far.value.field == "geojson.coordinates[1][1]"
    assert "not a place on Earth" in far.value.message
    nan = {"type": "LineString", "coordinates": [[113.0, 22.6], [math.nan, 22.6]]}
    with pytest.raises(TrackError, match=r"point 1 .*finite"):
        read_track(geojson=nan)
    with pytest.raises(TrackError, match="one point"):
        read_track(geojson={"type": "Point", "coordinates": [113.0, 22.6]})
    with pytest.raises(TrackError, match="Polygon"):
        read_track(geojson={"type": "Polygon", "coordinates": []})

    points = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"time": f"2019-05-06T09:0{i}:00+08:00"},
                "geometry": {"type": "Point", "coordinates": [113.0 + i / 1000, 22.6]},
            }
            for i in range(4)
        ],
    }
    track = read_track(geojson=points)
    assert track.points == 4 and len(track.segments) == 1
    assert track.segments[0][:, 0].tolist() == [113.0, 113.001, 113.002, 113.003]
    assert track.started_at == datetime.fromisoformat("2019-05-06T09:00:00+08:00")
    assert track.ended_at == datetime.fromisoformat("2019-05-06T09:03:00+08:00")

    gpx = _gpx([(113.0, 22.6, "2019-05-06T01:00:00Z"), (113.001, 22.6, "2019-05-06T01:05:00Z")])
    track = read_track(gpx=gpx, crs="gcj02")
    assert track.source_format == "gpx" and track.crs == "gcj02"
    assert track.segments[0][0].tolist() == pytest.approx(list(gcj02_to_wgs84(113.0, 22.6)))
    assert track.ended_at == datetime.fromisoformat("2019-05-06T09:05:00+08:00")
    broken = _gpx([(113.0, 22.6, ""), (113.001, 22.6, ""), (113.002, 22.6, ""), ("abc", 22.6, "")])
    with pytest.raises(TrackError) as bad:
        read_track(gpx=broken)
    assert bad.value.index == 3 and bad.value.field == "gpx.trkpt[3]"
    with pytest.raises(TrackError, match="not well-formed"):
        read_track(gpx="<gpx><trk>")
    bomb = '<!DOCTYPE gpx [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;">]>'
    with pytest.raises(TrackError, match="refused for safety"):
        read_track(gpx=_gpx([(113.0, 22.6, ""), (113.001, 22.6, "")], bomb))


# ------------------------------------------------------------------ coverage


def test_patrol_coverage_and_grids_on_a_known_track(
    engine: Engine, settings: Settings, org: None
) -> None:
    coords = _line_across(engine)
    view = record_patrol(
        engine, _patrol(geojson={"type": "LineString", "coordinates": coords}), settings=settings
    )
    line = LineString(coords)
    with engine.connect() as conn:
        grids = conn.execute(
            sa.text(
                "SELECT g.code, ST_AsBinary(g.geom) AS wkb FROM grid_cell g "
                "JOIN layout_generation l ON l.id = g.generation_id AND l.is_current"
            )
        ).all()
    expected = sorted(g.code for g in grids if shapely.from_wkb(bytes(g.wkb)).intersects(line))
    assert expected and [g["grid_code"] for g in view.grids] == expected
    assert any(code.startswith(REAL_COMMUNITY) for code in expected)

    geodesic = GEOD.line_length([c[0] for c in coords], [c[1] for c in coords])
    assert view.length_m == pytest.approx(geodesic, rel=1e-4)
    community = community_shape(engine, REAL_COMMUNITY)
    utm = Transformer.from_crs("EPSG:4326", "EPSG:32649", always_xy=True)

    def to_utm(geom: Any) -> Any:
        return shapely.transform(
            geom, lambda xy: np.column_stack(utm.transform(xy[:, 0], xy[:, 1]))
        )

    area = to_utm(community).area
    covered = to_utm(line).buffer(settings.patrol_buffer_m).intersection(to_utm(community))
    assert view.buffer_m == 30.0
    assert view.coverage == pytest.approx(covered.area / area, rel=0.01)
    assert 0 < view.coverage < 1
    assert view.community_code == REAL_COMMUNITY and view.points == 11
    with engine.connect() as conn:
        stored = conn.execute(
            sa.text("SELECT count(*) FROM patrol_grid WHERE patrol_id = :p"), {"p": view.id}
        ).scalar_one()
    assert stored == len(expected)


# ------------------------------------------------------------------ findings


def test_findings_become_cases_with_source_patrol(
    engine: Engine, settings: Settings, org: None
) -> None:
    spot = _inside(engine)
    finding = {
        "lon": spot[0],
        "lat": spot[1],
        "subclass": "0101",
        "description": "巡查发现：暴露垃圾",
        "seen_at": "2019-05-13T09:30:00+08:00",
    }
    gcj = wgs84_to_gcj02(*_inside(engine, 300.0))
    other = {"lon": gcj[0], "lat": gcj[1], "crs": "gcj02", "subclass": "0101"}
    coords = _line_across(engine)
    view = record_patrol(
        engine,
        _patrol(
            geojson={"type": "LineString", "coordinates": coords},
            started_at="2019-05-13T09:00:00+08:00",
            ended_at="2019-05-13T10:00:00+08:00",
            findings=[finding, other],
        ),
        settings=settings,
    )
    assert [f["seq"] for f in view.findings] == [0, 1]
    for f in view.findings:
        assert f["case_id"] and f["filing_error"] is None
        case = get_case(engine, f["case_id"], settings)
        assert case.source == "patrol" and case.community == REAL_COMMUNITY
        assert case.subclass == "0101"
        events = case_events(engine, f["case_id"])
        assert events[0]["kind"] == "created" and events[0]["actor"] == "patrol"
    first = get_case(engine, view.findings[0]["case_id"], settings)
    assert first.description == "巡查发现：暴露垃圾"
    assert first.reported_at == "2019-05-13T09:30:00+08:00"
    second = get_case(engine, view.findings[1]["case_id"], settings)
    assert second.crs_in == "gcj02" and second.reported_at == "2019-05-13T10:00:00+08:00"

    with engine.connect() as conn:
        before = conn.execute(sa.text("SELECT count(*) FROM patrol")).scalar_one()
    with pytest.raises(InvalidInput) as caught:
        record_patrol(
            engine,
            _patrol(
                geojson={"type": "LineString", "coordinates": coords},
                findings=[{**finding, "subclass": "9999"}],
            ),
            settings=settings,
        )
    assert caught.value.field == "findings[0].subclass"
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM patrol")).scalar_one() == before


# ------------------------------------------------------------------ frontage


def test_frontage_units_and_their_checks(engine: Engine, settings: Settings, org: None) -> None:
    lon, lat = _inside(engine, 50.0)
    unit = register_frontage(
        engine,
        FrontageUnitIn(code="T8FU01", name="测试小店", address="测试路1号", lon=lon, lat=lat),
        settings=settings,
    )
    assert unit.community_code == REAL_COMMUNITY and unit.lon == pytest.approx(lon, abs=1e-7)
    renamed = register_frontage(
        engine,
        FrontageUnitIn(code="T8FU01", name="测试小店(新)", lon=lon, lat=lat),
        settings=settings,
    )
    assert renamed.name == "测试小店(新)"
    with pytest.raises(InvalidInput) as nowhere:
        register_frontage(
            engine, FrontageUnitIn(code="T8FU02", name="x", lon=100.0, lat=40.0), settings=settings
        )
    assert nowhere.value.field == "lon,lat"

    coords = _line_across(engine)
    checks = [
        {"frontage_code": "T8FU01", "item": "sanitation", "passed": True},
        {"frontage_code": "T8FU01", "item": "门前秩序", "passed": False, "note": "占道摆卖"},
    ]
    view = record_patrol(
        engine,
        _patrol(
            geojson={"type": "LineString", "coordinates": coords},
            started_at="2019-05-20T09:00:00+08:00",
            ended_at="2019-05-20T10:00:00+08:00",
            frontage_checks=checks,
        ),
        settings=settings,
    )
    assert [(c["item"], c["label"], c["passed"]) for c in view.frontage_checks] == [
        ("order", "门前秩序", False),
        ("sanitation", "门前卫生", True),
    ]
    record_patrol(
        engine,
        _patrol(
            geojson={"type": "LineString", "coordinates": coords},
            started_at="2019-05-27T09:00:00+08:00",
            ended_at="2019-05-27T10:00:00+08:00",
            frontage_checks=[{"frontage_code": "T8FU01", "item": "sanitation", "passed": False}],
        ),
        settings=settings,
    )
    (listed,) = [u for u in list_frontage(engine, REAL_COMMUNITY) if u.code == "T8FU01"]
    assert {(c["item"], c["passed"], c["checked_at"][:10]) for c in listed.last_checks} == {
        ("order", False, "2019-05-20"),
        ("sanitation", False, "2019-05-27"),
    }

    for bad, field in (
        ([{"frontage_code": "NOPE", "item": "order", "passed": True}], "frontage_checks[0]"),
        ([checks[0], checks[0]], "frontage_checks[1]"),
    ):
        with pytest.raises(InvalidInput) as caught:
            record_patrol(
                engine,
                _patrol(geojson={"type": "LineString", "coordinates": coords}, frontage_checks=bad),
                settings=settings,
            )
        assert caught.value.field is not None and caught.value.field.startswith(field)
    with pytest.raises(ValidationError, match="unknown frontage item"):
        FrontageCheckIn(frontage_code="T8FU01", item="门前停车", passed=True)


# ------------------------------------------------------------------ API and CLI


@pytest.fixture(scope="module")
def client(settings: Settings, org: None) -> Iterator[TestClient]:
    """The application as `grid serve` builds it (the duty and auth routes are mounted)."""
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        yield c


def _long_gpx(engine: Engine, points: int) -> str:
    """A morning's patrol: back and forth across the community, a point every 2 s."""
    line = np.array(_line_across(engine))
    t = np.abs((np.arange(points) / 200.0) % 2 - 1)  # 0 -> 1 -> 0 ...
    xy = line[0] + np.outer(t, line[-1] - line[0])
    start = datetime.fromisoformat("2019-06-04T00:30:00+00:00")
    return _gpx(
        [
            (round(float(x), 7), round(float(y), 7), f"{(start + i * STEP).isoformat()}")
            for i, (x, y) in enumerate(xy)
        ]
    )


STEP = timedelta(seconds=2)


def test_a_morning_track_is_not_refused_for_its_size(
    client: TestClient, engine: Engine, settings: Settings
) -> None:
    """The API's 256 KiB body limit would refuse a real track; the patrol route takes
    `api_max_track_bytes`, and only that route."""
    me = bearer(client, engine, "officer", station_code=REAL_STATION, officer_code=SAMPLE_OFFICER)
    body = {
        "officer_code": SAMPLE_OFFICER,
        "station_code": REAL_STATION,
        "gpx": _long_gpx(engine, 7200),  # 4 hours
    }
    raw = json.dumps(body).encode()
    size = len(raw)
    assert size > settings.api_max_body_bytes
    me = {**me, "Content-Type": "application/json"}
    made = client.post("/api/v1/patrols", content=raw, headers=me)
    assert made.status_code == 201, made.text[:300]
    assert made.json()["started_at"] == "2019-06-04T08:30:00+08:00"
    assert made.json()["ended_at"] == "2019-06-04T12:29:58+08:00"
    elsewhere = client.post("/api/v1/complaints", content=raw, headers=me)
    assert elsewhere.status_code == 413
    small = settings.model_copy(update={"api_max_track_bytes": size - 1})
    with TestClient(create_app(small), raise_server_exceptions=False) as tight:
        refused = tight.post("/api/v1/patrols", content=raw, headers=me)
    assert refused.status_code == 413
    assert refused.json()["detail"][0]["message"] == f"request body over {(size - 1) // 1024} KiB"


def test_api_patrols(client: TestClient, engine: Engine) -> None:
    coords = _line_across(engine)
    body = {
        "officer_code": SAMPLE_OFFICER,
        "station_code": REAL_STATION,
        "gpx": _gpx([(x, y, f"2019-06-03T01:{i:02d}:00Z") for i, (x, y) in enumerate(coords)]),
    }
    assert client.post("/api/v1/patrols", json=body).status_code == 401
    analyst = bearer(client, engine, "analyst")
    assert client.post("/api/v1/patrols", json=body, headers=analyst).status_code == 403
    me = bearer(client, engine, "officer", station_code=REAL_STATION, officer_code=SAMPLE_OFFICER)
    made = client.post("/api/v1/patrols", json=body, headers=me)
    assert made.status_code == 201, made.text
    patrol = made.json()
    assert patrol["source_format"] == "gpx" and patrol["grids"]
    assert patrol["started_at"] == "2019-06-03T09:00:00+08:00"
    assert patrol["ended_at"] == "2019-06-03T09:10:00+08:00"
    seen = client.get(f"/api/v1/patrols/{patrol['id']}", headers=me)
    assert seen.status_code == 200 and seen.json()["coverage"] == patrol["coverage"]
    assert client.get(f"/api/v1/patrols/{patrol['id']}", headers=analyst).status_code == 403
    elsewhere = bearer(client, engine, "officer", station_code=STATION, officer_code="T8OF01")
    assert client.get(f"/api/v1/patrols/{patrol['id']}", headers=elsewhere).status_code == 403

    not_mine = client.post("/api/v1/patrols", json={**body, "officer_code": "T8OF02"}, headers=me)
    assert not_mine.status_code == 403
    broken = [*coords[:4], [coords[4][0], "22.6.1"], *coords[5:]]
    bad = client.post(
        "/api/v1/patrols",
        json={
            "officer_code": SAMPLE_OFFICER,
            "station_code": REAL_STATION,
            "geojson": {"type": "LineString", "coordinates": broken},
            "started_at": "2019-06-03T09:00:00+08:00",
            "ended_at": "2019-06-03T10:00:00+08:00",
        },
        headers=me,
    )
    assert bad.status_code == 422
    (error,) = bad.json()["detail"]
    assert error["field"] == "geojson.coordinates[4]" and error["message"].startswith("point 4 ")
    untimed = client.post(
        "/api/v1/patrols",
        json={**body, "gpx": None, "geojson": {"type": "LineString", "coordinates": coords}},
        headers=me,
    )
    assert untimed.status_code == 422 and untimed.json()["detail"][0]["field"] == "started_at"
    still = [coords[5], coords[5]]
    standing = client.post(
        "/api/v1/patrols",
        json={
            **body,
            "gpx": _gpx([(x, y, f"2019-06-03T02:0{i}:00Z") for i, (x, y) in enumerate(still)]),
        },
        headers=me,
    )
    assert standing.status_code == 201 and standing.json()["length_m"] == 0.0
    assert len(standing.json()["grids"]) >= 1 and standing.json()["coverage"] > 0
    for odd in (
        {**body, "note": "a\x00b"},
        {**body, "gpx": _gpx([(113.0, 22.6, "0001-01-01T00:00:00+14:00"), (113.1, 22.6, "")])},
        {**body, "frontage_checks": [{"frontage_code": "x\x00", "item": "order", "passed": True}]},
    ):
        assert client.post("/api/v1/patrols", json=odd, headers=me).status_code == 422

    lon, lat = _inside(engine, 80.0)
    unit = client.post(
        "/api/v1/frontage",
        json={"code": "T8FU09", "name": "接口小店", "lon": lon, "lat": lat},
        headers=me,
    )
    assert unit.status_code == 201 and unit.json()["community_code"] == REAL_COMMUNITY
    listed = client.get(f"/api/v1/frontage?community={REAL_COMMUNITY}", headers=me)
    assert "T8FU09" in {u["code"] for u in listed.json()}
    assert client.get("/api/v1/frontage", headers=elsewhere).json() == []


def test_cli_records_a_gpx_patrol(engine: Engine, org: None, tmp_path: Path) -> None:
    coords = _line_across(engine)
    track = tmp_path / "walk.gpx"
    track.write_text(
        _gpx([(x, y, f"2019-06-10T01:{i:02d}:00Z") for i, (x, y) in enumerate(coords)])
    )
    env = dict(os.environ)
    run = subprocess.run(
        [GRID, "patrol", "record", str(track), "--officer", "T8OF02",
         "--station", REAL_STATION, "--json"],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    view = json.loads(run.stdout)
    assert view["officer_code"] == "T8OF02" and view["points"] == 11 and view["grids"]
    broken = tmp_path / "broken.gpx"
    broken.write_text(_gpx([(113.0, 22.6, ""), (113.001, "north", "")]))
    bad = subprocess.run(
        [GRID, "patrol", "record", str(broken), "--officer", "T8OF02", "--station", REAL_STATION],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    assert bad.returncode == 1 and "point 1" in bad.stderr
