"""Bulk assignment on real PostGIS: CSV, GeoJSON and GeoParquet with good and bad rows."""

from __future__ import annotations

import csv
import json
import uuid
from pathlib import Path
from typing import Any

import geopandas as gpd
import pytest
import sqlalchemy as sa
from shapely.geometry import Point
from sqlalchemy.engine import Connection, Engine
from typer.testing import CliRunner

from cases.bulk import AssignError, AssignResult, assign_file
from cases.bulk.read import scan_csv
from cases.calendar import load_calendar
from cases.catalogue import load_catalogue
from gis.crs import UnknownCRSError, wgs84_to_gcj02
from gis.locate import locate
from gis.settings import Settings

_INSIDE = sa.text("""
    SELECT g.code, ST_X(p.geom) AS lon, ST_Y(p.geom) AS lat
    FROM grid_cell g
    JOIN layout_generation lg ON lg.id = g.generation_id AND lg.is_current
    JOIN district d ON d.generation_id = g.generation_id AND d.is_home
    CROSS JOIN LATERAL (SELECT ST_PointOnSurface(g.geom) AS geom) p
    WHERE ST_Distance(ST_Boundary(d.geom)::geography, p.geom::geography) > 1500
    ORDER BY g.code DESC OFFSET :n LIMIT 1
""")

# In 江海区, well away from 蓬江区.
NEIGHBOUR = (113.1230, 22.5450)


@pytest.fixture
def places(conn: Connection) -> dict[str, tuple[float, float, str]]:
    """Two grid interior points (lon, lat, grid code) far from the district edge."""
    out = {}
    for name, n in (("a", 11), ("b", 57)):
        row = conn.execute(_INSIDE, {"n": n}).one()
        out[name] = (round(float(row.lon), 7), round(float(row.lat), 7), str(row.code))
    return out


def _cases(conn: Connection, file_name: str) -> dict[int, Any]:
    """Cases of a file by line number."""
    rows = conn.execute(
        sa.text("""
        SELECT c.*, (SELECT array_agg(e.kind ORDER BY e.at, e.id) FROM case_event e
                     WHERE e.case_id = c.id) AS events
        FROM case_file c WHERE c.external_ref LIKE :p"""),
        {"p": f"{file_name}:%"},
    ).mappings()
    return {int(r["external_ref"].rsplit(":", 1)[1]): r for r in rows}


def _rejects(path: Path) -> dict[int, dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        return {int(r["line"]): r for r in csv.DictReader(f)}


def _write(path: Path, text: str, bom: bool = False) -> Path:
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))
    return path


def test_csv_good_and_bad_rows(
    engine: Engine, conn: Connection, tmp_path: Path, places: dict[str, tuple[float, float, str]]
) -> None:
    (ax, ay, agrid), (bx, by, bgrid) = places["a"], places["b"]
    tag = uuid.uuid4().hex[:8]  # unique content: the file's hash is its identity
    nx, ny = NEIGHBOUR
    lines = [
        "lon,lat,subclass,reported_at,description,address",  # 1
        f"{ax},{ay},0101,2025-06-01T08:15:00+08:00,垃圾 {tag},",  # 2 located
        f'{bx},{by},401,2025-06-01 09:00,"跨行的\n描述",北街',  # 3 (spans 3-4) located
        "",  # 5 blank: skipped, still counted as a line
        f"nan,{ay},0101,2025-06-01,,",  # 6 NaN
        f"200,{ay},0101,2025-06-01,,",  # 7 out of range
        f"{ay},{ax},0101,2025-06-01,,",  # 8 swapped
        f"{ax},{ay},9999,2025-06-01,,",  # 9 unknown subclass
        f"{ax},{ay},0101,2025-02-30,,",  # 10 bad date
        f"{ax},{ay},0101,2099-01-01T00:00:00Z,,",  # 11 future
        "1,2,3",  # 12 wrong field count
        ",,0101,2025-06-01,,北街某号",  # 13 address only: needs_location
        ",,0101,2025-06-01,,",  # 14 neither coordinates nor address
        f"{nx},{ny},0401,2025-06-01T10:00:00Z,,",  # 15 outside: referred out
        f"{ax},{ay},0103,2025-06-01T10:00:00+08:00,,",  # 16 located
    ]
    path = _write(tmp_path / f"bulk-{tag}.csv", "\r\n".join(lines) + "\r\n", bom=True)
    seen: list[str] = []
    result = assign_file(engine, path, "wgs84", progress=lambda step, d, t: seen.append(step))

    assert not result.already_assigned
    assert result.line_numbers == "exact"
    assert (result.located + result.gap_snapped, result.referred_out) == (3, 1)
    assert (result.no_location, result.unassigned, result.invalid) == (1, 0, 8)
    assert result.rows == 13 and result.cases == 5
    assert {"read", "validate", "copy", "locate", "insert"} <= set(seen)
    assert set(result.timings) >= {"read", "validate", "copy", "locate", "insert", "total"}

    # Every bad row is in the rejects file, with its line, reason and values.
    assert result.rejects_path == str(path) + ".rejects.csv"
    rejects = _rejects(Path(result.rejects_path))
    assert sorted(rejects) == [6, 7, 8, 9, 10, 11, 12, 14]
    assert "not finite" in rejects[6]["reason"] and rejects[6]["lon"] == "nan"
    assert "-180..180" in rejects[7]["reason"]
    assert "swapped" in rejects[8]["reason"]
    assert "unknown subclass" in rejects[9]["reason"] and rejects[9]["subclass"] == "9999"
    assert "ISO 8601" in rejects[10]["reason"]
    assert "future" in rejects[11]["reason"]
    assert rejects[12]["reason"] == "expected 6 fields, found 3" and rejects[12]["raw"] == "1,2,3"
    assert "no address" in rejects[14]["reason"]
    assert [line for line, _ in result.first_rejects] == [6, 7, 8, 9, 10, 11, 12, 14]

    cases = _cases(conn, path.name)
    assert sorted(cases) == [2, 3, 13, 15, 16]
    catalogue = load_catalogue()
    for line, grid in ((2, agrid), (3, bgrid), (16, agrid)):
        c = cases[line]
        assert c["status"] == "dispatched" and c["grid_code"] == grid
        assert c["locate_method"] == "contained" and c["due_at"] is not None
        where = locate(conn, c["lon_in"], c["lat_in"])
        assert (c["community_code"], c["station_code"], c["squad_code"]) == (
            where.community,
            where.station,
            where.squad,
        )
        assert c["tier"] == catalogue.subclass(c["subclass_code"]).tier
        assert c["source"] == "bulk" and c["crs_in"] == "wgs84"
        assert c["reporter_name_enc"] is None
        assert c["events"] == ["created", "located", "dispatched"]
        # The clock starts at dispatch: for a row of a file, its reported_at.
        due = load_calendar().add_working_hours(
            c["reported_at"], catalogue.subclass(c["subclass_code"]).time_limit_hours
        )
        assert c["due_at"] == due
        assert c["officer_code"] is not None
    assert cases[3]["subclass_code"] == "0401"  # "401": a leading zero Excel dropped
    assert cases[3]["description"] == "跨行的\n描述" and cases[3]["address"] == "北街"
    assert cases[2]["reported_at"].isoformat() == "2025-06-01T00:15:00+00:00"
    assert cases[3]["reported_at"].isoformat() == "2025-06-01T01:00:00+00:00"  # naive: +08:00
    assert cases[13]["status"] == "received" and cases[13]["geom"] is None
    assert cases[13]["locate_method"] == "none" and cases[13]["address"] == "北街某号"
    assert cases[13]["events"] == ["created", "needs_location"]
    assert cases[13]["crs_in"] is None and cases[13]["district_code"] is None
    assert cases[13]["due_at"] is None and cases[13]["officer_code"] is None
    assert cases[15]["status"] == "referred_out" and cases[15]["district_code"] == "440704"
    assert "江海区" in cases[15]["status_note"] and cases[15]["grid_code"] is None
    assert cases[15]["events"] == ["created", "located", "referred_out"]
    tokens = [c["token"] for c in cases.values()]
    assert len(set(tokens)) == 5 and all(len(t) == 24 for t in tokens)
    assert result.referred_to == {"江海区": 1}

    # The same file again (even renamed) changes nothing.
    again = assign_file(engine, path, "wgs84")
    assert again.already_assigned and again.cases == result.cases
    assert again.invalid == result.invalid
    renamed = path.with_name(f"copy-{tag}.csv")
    renamed.write_bytes(path.read_bytes())
    assert assign_file(engine, renamed, "wgs84").already_assigned
    assert len(_cases(conn, path.name)) == 5 and not _cases(conn, renamed.name)


def test_geojson_features(
    engine: Engine, conn: Connection, tmp_path: Path, places: dict[str, tuple[float, float, str]]
) -> None:
    (ax, ay, agrid), (bx, by, _) = places["a"], places["b"]
    tag = uuid.uuid4().hex[:8]

    def feature(geom: dict[str, Any] | None, **props: Any) -> dict[str, Any]:
        return {"type": "Feature", "geometry": geom, "properties": props}

    features = [
        feature(
            {"type": "Point", "coordinates": [ax, ay]},
            subclass="0201",
            reported_at="2025-05-01T08:00:00+08:00",
            description=tag,
        ),  # 1
        feature(None, subclass="0101", reported_at="2025-05-01", address="白沙街道某号"),  # 2
        feature(
            {"type": "LineString", "coordinates": [[ax, ay], [bx, by]]},
            subclass="0101",
            reported_at="2025-05-01",
        ),  # 3
        feature(
            {"type": "Point", "coordinates": [bx, by]}, subclass="nope", reported_at="2025-05-01"
        ),  # 4
        feature(None, subclass="0101", reported_at="2025-05-01"),  # 5: no place at all
    ]
    path = tmp_path / f"bulk-{tag}.geojson"
    path.write_text(
        json.dumps({"type": "FeatureCollection", "features": features}), encoding="utf-8"
    )
    result = assign_file(engine, path, "wgs84")
    assert (result.located, result.no_location, result.invalid) == (1, 1, 3)
    rejects = _rejects(Path(str(result.rejects_path)))
    assert sorted(rejects) == [3, 4, 5]
    assert "not a Point" in rejects[3]["reason"]
    assert "unknown subclass" in rejects[4]["reason"]
    assert "no address" in rejects[5]["reason"]
    cases = _cases(conn, path.name)
    assert cases[1]["grid_code"] == agrid and cases[1]["description"] == tag
    assert cases[2]["status"] == "received"


def test_geoparquet_in_gcj02_lands_like_wgs84(
    engine: Engine, conn: Connection, tmp_path: Path, places: dict[str, tuple[float, float, str]]
) -> None:
    (ax, ay, agrid), (bx, by, bgrid) = places["a"], places["b"]
    tag = uuid.uuid4().hex[:8]
    pts = [wgs84_to_gcj02(ax, ay), wgs84_to_gcj02(bx, by), wgs84_to_gcj02(ax, ay)]
    frame = gpd.GeoDataFrame(
        {
            "subclass": ["0401", "0105", "0101"],
            "reported_at": ["2025-04-01T12:00:00+08:00", "2025-04-02T23:30:00+08:00", "soon"],
            "description": [tag, "", ""],
        },
        geometry=[Point(x, y) for x, y in pts],
        crs="EPSG:4326",
    )
    path = tmp_path / f"bulk-{tag}.parquet"
    frame.to_parquet(path)
    result = assign_file(engine, path, "gcj02")
    assert (result.located, result.invalid, result.crs) == (2, 1, "gcj02")
    cases = _cases(conn, path.name)
    assert cases[1]["grid_code"] == agrid and cases[2]["grid_code"] == bgrid
    assert cases[1]["crs_in"] == "gcj02"
    assert cases[1]["lon_in"] == pytest.approx(pts[0][0])  # as sent, not converted
    assert [line for line, _ in result.first_rejects] == [3]


def test_lines_after_quoted_newlines_and_bad_rows_stay_exact(
    engine: Engine, conn: Connection, tmp_path: Path, places: dict[str, tuple[float, float, str]]
) -> None:
    ax, ay, _ = places["a"]
    tag = uuid.uuid4().hex[:8]
    body = [
        "lon,lat,subclass,reported_at,description",
        f'{ax},{ay},0101,2025-01-01,"a\n\nb ""quoted"" {tag}"',  # lines 2-4
        f"{ax},{ay},0101,2025-01-01,x,extra",  # 5: one field too many
        f"{ax},{ay},0101,bad,y",  # 6
    ]
    path = _write(tmp_path / f"lines-{tag}.csv", "\n".join(body))  # no final newline
    result = assign_file(engine, path, "wgs84")
    assert [line for line, _ in result.first_rejects] == [5, 6]
    assert _cases(conn, path.name)[2]["description"] == f'a\n\nb "quoted" {tag}'


def test_scan_counts_records_and_fields() -> None:
    import numpy as np

    data = b'a,b\n1,"x\ny"\n\n2,3,4\r\n5,6'
    buf = np.frombuffer(data, dtype=np.uint8)
    breaks = np.flatnonzero(buf == 10).astype(np.int64)
    scan = scan_csv(buf, 0, breaks)
    assert list(scan.lines) == [1, 2, 4, 5, 6]
    assert list(scan.fields) == [2, 2, 1, 3, 2]
    assert list(scan.empty) == [False, False, True, False, False]
    assert scan.multiline


def test_invalid_utf8_row_is_rejected_not_fatal(
    engine: Engine, conn: Connection, tmp_path: Path, places: dict[str, tuple[float, float, str]]
) -> None:
    ax, ay, _ = places["a"]
    tag = uuid.uuid4().hex[:8]
    data = (
        (f"lon,lat,subclass,reported_at,description\n{ax},{ay},0101,2025-01-01,{tag}\n").encode()
        + f"{ax},{ay},0101,2025-01-01,".encode()
        + "垃圾".encode("gbk")
        + b"\n"
    )
    path = tmp_path / f"gbk-{tag}.csv"
    path.write_bytes(data)
    result = assign_file(engine, path, "wgs84")
    assert result.located == 1 and result.first_rejects == [(3, "not valid UTF-8 text")]


def test_whole_file_problems(engine: Engine, sample_layout: int, tmp_path: Path) -> None:
    missing = _write(tmp_path / "missing.csv", "lon,lat,subclass\n113.08,22.59,0101\n")
    with pytest.raises(AssignError, match=r"missing column.*reported_at"):
        assign_file(engine, missing, "wgs84")
    with pytest.raises(AssignError, match="no such file") as err:
        assign_file(engine, tmp_path / "nope.csv", "wgs84")
    assert err.value.usage
    with pytest.raises(AssignError, match="unknown file type"):
        assign_file(engine, _write(tmp_path / "x.xlsx", "x"), "wgs84")
    with pytest.raises(AssignError, match="empty"):
        assign_file(engine, _write(tmp_path / "empty.csv", "\n\n"), "wgs84")
    with pytest.raises(UnknownCRSError):
        assign_file(engine, missing, "mars")
    with pytest.raises(AssignError, match="GeoJSON"):
        assign_file(engine, _write(tmp_path / "bad.geojson", "{not json"), "wgs84")


def test_cli_assign(
    engine: Engine, conn: Connection, tmp_path: Path, places: dict[str, tuple[float, float, str]]
) -> None:
    from gridcli.main import app

    ax, ay, _agrid = places["a"]
    tag = uuid.uuid4().hex[:8]
    path = _write(
        tmp_path / f"cli-{tag}.csv",
        f"lon,lat,subclass,reported_at,description\n{ax},{ay},0301,2025-03-03T22:00:00+08:00,"
        f"{tag}\n{ax},x,0301,2025-03-03,\n",
    )
    rejects = tmp_path / "elsewhere.csv"
    runner = CliRunner()
    res = runner.invoke(
        app, ["assign", str(path), "--crs", "wgs84", "--rejects", str(rejects), "--json"]
    )
    assert res.exit_code == 0, res.output
    got = AssignResult.from_dict(json.loads(res.stdout))
    assert (got.located, got.invalid, got.rejects_path) == (1, 1, str(rejects))
    assert _rejects(rejects)[3]["reason"] == "lat is not a number"

    res = runner.invoke(app, ["assign", str(path), "--crs", "wgs84"])  # a person's view
    assert res.exit_code == 0
    assert "already assigned" in res.output and "line 3: lat is not a number" in res.output

    bad = runner.invoke(app, ["assign", str(path), "--crs", "mars"])
    assert bad.exit_code == 2 and "unknown CRS" in bad.output and "Traceback" not in bad.output
    bad = runner.invoke(app, ["assign", str(tmp_path / "none.csv"), "--crs", "wgs84"])
    assert bad.exit_code == 2 and "no such file" in bad.output
    cols = _write(tmp_path / "cols.csv", "lat,lon\n1,2\n")
    bad = runner.invoke(app, ["assign", str(cols), "--crs", "wgs84"])
    assert bad.exit_code == 1 and "missing column" in bad.output
    assert "Traceback" not in bad.output


def test_tokens_are_sorted_base32hex(monkeypatch: pytest.MonkeyPatch) -> None:
    import base64
    import os

    import cases.bulk.validate as validate

    raw = os.urandom(15 * 40)
    monkeypatch.setattr(validate.os, "urandom", lambda n: raw[:n])
    tokens = [t.as_py() for t in validate.tokens(40)]
    expected = sorted(base64.b32hexencode(raw[i * 15 : (i + 1) * 15]).decode() for i in range(40))
    assert tokens == expected


def test_a_large_load_gets_partitions_of_its_own_and_the_same_cases(
    engine: Engine,
    conn: Connection,
    settings: Settings,
    tmp_path: Path,
    places: dict[str, tuple[float, float, str]],
) -> None:
    """Over `bulk_partition_rows`, a load is written into its own partitions, indexed and
    attached afterwards (foreign keys checked then); the cases are the same as row by row."""
    (ax, ay, _), (bx, by, _) = places["a"], places["b"]
    nx, ny = NEIGHBOUR
    body = (
        "lon,lat,subclass,reported_at,description,address\n"
        f"{ax},{ay},0101,2025-06-02T08:15:00+08:00,垃圾,\n"
        f"{bx},{by},0401,2025-06-02T20:00:00+08:00,占道,北街\n"
        ",,0101,2025-06-03,,北街某号\n"
        f"{nx},{ny},0401,2025-06-01T10:00:00Z,,\n"
    )
    results, cases = {}, {}
    for name, rows in (("live", 1_000_000), ("batch", 1)):
        tag = uuid.uuid4().hex[:8]
        path = _write(tmp_path / f"{name}-{tag}.csv", body.replace("垃圾", f"垃圾 {tag}"))
        # (the second load repeats the first's reports: no repeat rule raising its tiers)
        one = settings.model_copy(update={"bulk_partition_rows": rows, "repeat_report_count": 1000})
        results[name] = assign_file(engine, path, "wgs84", settings=one)
        cases[name] = _cases(conn, path.name)
        # Set aside from the officers' open cases, so that the next load finds the same
        # counts and so the same officers (rule 4 of cases.intake.rules).
        with engine.begin() as c:
            c.execute(
                sa.text("UPDATE case_file SET officer_code = NULL WHERE external_ref LIKE :p"),
                {"p": f"{path.name}:%"},
            )
    assert results["live"].partition is None
    part = results["batch"].partition
    assert part is not None and part.startswith("case_file_part_b")
    attached = conn.execute(
        sa.text("SELECT relispartition FROM pg_class WHERE relname = :p"), {"p": part}
    ).scalar_one()
    assert attached is True
    where = (
        conn.execute(
            sa.text(
                "SELECT DISTINCT tableoid::regclass::text FROM case_file WHERE external_ref LIKE :p"
            ),
            {"p": "batch-%"},
        )
        .scalars()
        .all()
    )
    assert part in where
    differ = {"id", "token", "external_ref", "created_at", "description"}
    for line in (2, 3, 4, 5):
        live, batch = cases["live"][line], cases["batch"][line]
        assert {k: v for k, v in live.items() if k not in differ} == {
            k: v for k, v in batch.items() if k not in differ
        }
        assert batch["id"] >= 2**40 > live["id"]
    events = conn.execute(
        sa.text("""
        SELECT e.id, e.case_id FROM case_event e JOIN case_file c ON c.id = e.case_id
        WHERE c.external_ref LIKE 'batch-%' ORDER BY e.case_id, e.id""")
    ).all()
    assert [e.id // 8 for e in events] == [e.case_id for e in events]
