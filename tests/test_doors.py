"""One intake, three doors: the API, Open311 and `grid assign` make the same case.

Each door files the same complaints into a database of its own (copies of one
freshly migrated database with the sample district), so that no complaint is
a duplicate of another door's. The cases are then compared field by field,
and their events in order.

What may differ, and why:
- what names the door: `source`, the `created` event's actor, `api_key_id`,
  `external_ref` (a file's name and line), the token's form;
- `id` and `created_at` (when the row was written);
- the moment of dispatch of the live doors: each is dispatched when it is
  filed (cases.intake.rules, rule 3), so the Open311 copy, filed a moment
  after the API's, may have a due time and officer of its own moment; those
  are checked against the rules from its own moment instead. The file's rows
  carry the API cases' moments as `reported_at`, so bulk and API must agree
  exactly.
"""

from __future__ import annotations

import csv
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine, make_url

from api.app import create_app
from cases.apikeys import create_api_key
from cases.bulk import assign_file
from cases.calendar import load_calendar
from cases.catalogue import load_catalogue
from cases.lifecycle.holders import TIER_HOLDER
from cases.open311 import JURISDICTION_ID
from gis.db import _engine_for, drop_database, ensure_database, get_engine, migrate
from gis.locate import locate
from gis.settings import Settings
from sample.seed import load_sample

DOORS = ("api", "open311", "bulk")
NEIGHBOUR = (113.1230, 22.5450)  # in 江海区
FAR = (113.2644, 23.1291)  # 广州: in China, in no loaded district
FORM = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}


def _scratch(settings: Settings, name: str) -> Settings:
    return settings.model_copy(
        update={
            "database_name": name,
            "database_url": settings.url_for(name) if settings.database_url else None,
        }
    )


def _admin(settings: Settings) -> Engine:
    url = make_url(settings.owner_url_for()).set(database="postgres")
    return sa.create_engine(url, isolation_level="AUTOCOMMIT")


@pytest.fixture(scope="module")
def doors(settings: Settings) -> Iterator[dict[str, Settings]]:
    """Three databases with the sample district and nothing else: one per door."""
    stem = f"{settings.database}_door_{uuid.uuid4().hex[:6]}"
    made = {door: _scratch(settings, f"{stem}_{door}") for door in DOORS}
    first = made["api"]
    admin = _admin(settings)
    try:
        ensure_database(first)
        migrate(first)
        load_sample(get_engine(first), settings=first)
        get_engine(first).dispose()
        with admin.connect() as conn:
            for door in DOORS[1:]:
                conn.execute(
                    sa.text(f'CREATE DATABASE "{made[door].database}" TEMPLATE "{first.database}"')
                )
        yield made
    finally:
        for s in made.values():
            get_engine(s).dispose()
        _engine_for.cache_clear()
        admin.dispose()
        for s in made.values():
            drop_database(s, s.database)


def _places(engine: Engine, settings: Settings) -> dict[str, tuple[float, float] | None]:
    """A grid interior, a point that snaps across the edge, two outside, none."""
    with engine.connect() as conn:
        inside = conn.execute(
            sa.text("""
            SELECT ST_X(p.geom), ST_Y(p.geom) FROM grid_cell g
            JOIN layout_generation lg ON lg.id = g.generation_id AND lg.is_current
            CROSS JOIN LATERAL (SELECT ST_PointOnSurface(g.geom) AS geom) p
            ORDER BY g.code OFFSET 40 LIMIT 1""")
        ).one()
        edge = conn.execute(
            sa.text("""
            SELECT ST_X(q), ST_Y(q) FROM (
                SELECT ST_Project(p.geom::geography, 20, radians(az))::geometry AS q
                FROM district d
                JOIN layout_generation lg ON lg.id = d.generation_id AND lg.is_current,
                LATERAL ST_DumpPoints(ST_Boundary(d.geom)) p, generate_series(0, 315, 45) az
                WHERE d.is_home AND p.path[array_upper(p.path, 1)] % 11 = 0) s""")
        ).all()
        snapped = next(
            (float(x), float(y))
            for x, y in edge
            if locate(conn, float(x), float(y), "wgs84", settings).method == "snapped"
        )
    return {
        "contained": (float(inside[0]), float(inside[1])),
        "snapped": snapped,
        "neighbour": NEIGHBOUR,
        "far": FAR,
        "address": None,
    }


COMPLAINTS = [  # (place, subclass, description, address)
    ("contained", "0101", "路边有垃圾堆放", "建设路 8 号"),
    ("snapped", "0104", "边界处乱堆物料", ""),
    ("neighbour", "0401", "占道经营", ""),
    ("far", "0203", "小广告", ""),
    ("address", "0301", "夜间施工噪音", "白沙街道某路 8 号"),
]


def _file(door: str, settings: Settings, places: dict[str, Any], reported: list[str]) -> list[int]:
    """File every complaint through `door`; the case ids in COMPLAINTS' order."""
    engine = get_engine(settings)
    if door == "bulk":
        path = Path(f"/tmp/doors-{uuid.uuid4().hex[:8]}.csv")
        with path.open("w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(["lon", "lat", "subclass", "reported_at", "description", "address"])
            for (where, code, text, address), at in zip(COMPLAINTS, reported, strict=True):
                xy = places[where]
                w.writerow([*(xy if xy else ("", "")), code, at, text, address])
        batch = settings.model_copy(update={"bulk_partition_rows": 1})  # the 1M path
        result = assign_file(engine, path, "wgs84", settings=batch)
        assert result.invalid == 0 and result.partition is not None
        with engine.connect() as conn:
            by_line = dict(
                conn.execute(
                    sa.text("SELECT external_ref, id FROM case_file WHERE external_ref LIKE :p"),
                    {"p": f"{path.name}:%"},
                ).all()
            )
        path.unlink()
        return [by_line[f"{path.name}:{i + 2}"] for i in range(len(COMPLAINTS))]
    ids = []
    with TestClient(create_app(settings)) as client:
        key = create_api_key(engine, "doors") if door == "open311" else ""
        for where, code, text, address in COMPLAINTS:
            xy = places[where]
            if door == "api":
                body: dict[str, Any] = {"subclass": code, "description": text}
                body.update({"lon": xy[0], "lat": xy[1]} if xy else {})
                body.update({"address": address} if address else {})
                r = client.post("/api/v1/complaints", json=body)
                assert r.status_code == 201, r.text
                ids.append(r.json()["id"])
            else:
                form = {"api_key": key, "jurisdiction_id": JURISDICTION_ID, "service_code": code}
                form["description"] = text
                form.update({"long": str(xy[0]), "lat": str(xy[1])} if xy else {})
                form.update({"address_string": address} if address else {})
                r = client.post("/open311/v2/requests.json", content=urlencode(form), headers=FORM)
                assert r.status_code == 200, r.text
                ids.append(r.json()[0]["service_request_id"])
    return ids


def _case(settings: Settings, case_id: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    with get_engine(settings).connect() as conn:
        row = (
            conn.execute(
                sa.text("SELECT *, ST_AsText(geom) AS wkt FROM case_file WHERE id = :i"),
                {"i": case_id},
            )
            .mappings()
            .one()
        )
        events = (
            conn.execute(
                sa.text(
                    "SELECT kind, actor, data FROM case_event WHERE case_id = :i ORDER BY at, id"
                ),
                {"i": case_id},
            )
            .mappings()
            .all()
        )
    return dict(row), [dict(e) for e in events]


DOOR_FIELDS = {"id", "token", "source", "created_at", "external_ref", "api_key_id", "geom"}
CLOCK_FIELDS = {
    "reported_at",
    "due_at",
    "officer_code",
    "dispatched_at",
    "holder_code",
    "reply_due_at",
}


def _expected_officer(settings: Settings, station: str | None, at: datetime) -> str | None:
    """Rule 4 worked out independently: an officer on a shift of the station covering
    `at` (the sample layout has none), else the station's officer holding the fewest
    open cases among those filed before `at`, then the lowest code."""
    if station is None:
        return None
    with get_engine(settings).connect() as conn:
        on_shift = conn.execute(
            sa.text(
                "SELECT officer_code FROM duty_shift WHERE station_code = :s "
                "AND cancelled_at IS NULL AND during @> CAST(:at AS timestamptz)"
            ),
            {"s": station, "at": at},
        ).all()
        assert on_shift == []  # the doors' databases have no shifts
        rows = conn.execute(
            sa.text(
                "SELECT o.code, (SELECT count(*) FROM case_file f WHERE f.officer_code = o.code"
                "  AND f.status IN ('dispatched', 'in_progress', 'rework')"
                "  AND f.reported_at < :at) AS open "
                "FROM officer o WHERE o.station_code = :s AND o.active AND o.role = 'officer'"
            ),
            {"s": station, "at": at},
        ).all()
    return min(rows, key=lambda r: (r.open, r.code)).code if rows else None


def test_three_doors_make_the_same_cases(doors: dict[str, Settings]) -> None:
    places = _places(get_engine(doors["api"]), doors["api"])
    api_ids = _file("api", doors["api"], places, [])
    api = [_case(doors["api"], i) for i in api_ids]
    # The file records each complaint at the moment the API dispatched it.
    reported = [row["reported_at"].isoformat() for row, _ in api]
    o311 = [_case(doors["open311"], i) for i in _file("open311", doors["open311"], places, [])]
    bulk = [_case(doors["bulk"], i) for i in _file("bulk", doors["bulk"], places, reported)]

    catalogue = load_catalogue(doors["api"].data_dir / "catalogue.toml")
    calendar = load_calendar(doors["api"].data_dir)
    statuses = []
    for n, (where, code, _, _) in enumerate(COMPLAINTS):
        (a, a_ev), (o, o_ev), (b, b_ev) = api[n], o311[n], bulk[n]
        statuses.append(a["status"])
        # Bulk and API: everything but what names the door, exactly.
        same = {k: v for k, v in a.items() if k not in DOOR_FIELDS}
        assert {k: v for k, v in b.items() if k not in DOOR_FIELDS} == same, where
        # Open311 and API: the same but for the clock of its own dispatch.
        assert {k: v for k, v in o.items() if k not in DOOR_FIELDS | CLOCK_FIELDS} == {
            k: v for k, v in same.items() if k not in CLOCK_FIELDS
        }, where
        for door, row in zip(DOORS, (a, o, b), strict=True):
            if row["status"] == "dispatched":
                hours = catalogue.subclass(code).time_limit_hours
                assert row["due_at"] == calendar.add_working_hours(row["reported_at"], hours)
                assert row["officer_code"] == _expected_officer(
                    doors[door], row["station_code"], row["reported_at"]
                )
                # held by its tier's holder: a minor case by that officer (its station's)
                assert row["holder_role"] == TIER_HOLDER[row["tier"]]
                if row["tier"] == "minor":
                    assert row["holder_code"] == row["officer_code"]
                assert row["dispatched_at"] == row["reported_at"]
            else:
                assert row["due_at"] is None and row["officer_code"] is None
        # Events: the same kinds in the same order, the same data.
        assert [e["kind"] for e in b_ev] == [e["kind"] for e in a_ev] == [e["kind"] for e in o_ev]
        assert [e["actor"] for e in a_ev[1:]] == [e["actor"] for e in b_ev[1:]]
        assert (a_ev[0]["actor"], o_ev[0]["actor"], b_ev[0]["actor"]) == ("api", "open311", "bulk")
        assert [e["data"] for e in b_ev] == [e["data"] for e in a_ev], where

        def unclocked(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
            drop = {"dispatched_at", "due_at", "officer_code", "holder_code"}
            return [{k: v for k, v in e["data"].items() if k not in drop} for e in events]

        assert unclocked(o_ev) == unclocked(a_ev), where
    assert statuses == ["dispatched", "dispatched", "referred_out", "referred_out", "received"]
    assert [e["kind"] for e in api[0][1]] == ["created", "located", "dispatched"]
    dispatched = datetime.fromisoformat(api[0][1][2]["data"]["dispatched_at"])
    assert dispatched == api[0][0]["reported_at"] < datetime.now(UTC)
