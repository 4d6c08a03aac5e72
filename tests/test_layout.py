"""Loading layout files: each level loads, and each check stops a bad file.

The bad files are made from the real sample layout by one purposeful change
each, so a test fails only for the reason it names. After every refused load
the current generation must be the one before it: nothing half-loaded stays.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
import sqlalchemy as sa
from shapely.geometry import MultiPolygon, Polygon
from sqlalchemy.engine import Engine

from gis import crs as crsmod
from gis.layout import LayoutError, load_file, read_level
from gis.settings import ROOT, Settings

SAMPLE = ROOT / "data" / "sample"
BOUNDARIES = ROOT / "data" / "boundaries"
GRID = str(ROOT / ".venv" / "bin" / "grid")


# Each test starts with the sample layout current and leaves it current (tests here
# load other layouts).
pytestmark = pytest.mark.usefixtures("sample_current_again")


def _generations(engine: Engine) -> tuple[int, int]:
    with engine.connect() as conn:
        current = conn.execute(sa.text("SELECT id FROM layout_generation WHERE is_current"))
        total = conn.execute(sa.text("SELECT count(*) FROM layout_generation"))
        return current.scalar_one(), total.scalar_one()


@pytest.fixture
def subdistricts() -> gpd.GeoDataFrame:
    return gpd.read_file(SAMPLE / "subdistricts.geojson")


# One metric CRS for the edits below: centred on the sample district.
METRIC = crsmod.metric_crs_around(gpd.read_file(SAMPLE / "subdistricts.geojson").total_bounds)


def _metric(geom):
    return crsmod.to_metric(geom, METRIC)


def _wgs(geom_metric):
    """Back to WGS84, valid (the round trip may bend an edge across another)."""
    t = crsmod.metric_transformer(METRIC)
    geom = shapely.transform(
        geom_metric,
        lambda xy: np.column_stack(t.transform(xy[:, 0], xy[:, 1], direction="INVERSE")),
    )
    return geom if geom.is_valid else geom.buffer(0)


def _write(frame: gpd.GeoDataFrame, path: Path) -> Path:
    """GeoPackage (binary, so a valid geometry stays valid); GeoJSON is read elsewhere."""
    path = path.with_suffix(".gpkg")
    frame.to_file(path, driver="GPKG")
    return path


def _refused(engine: Engine, path: Path, level: str, crs: str, check: str, **kw) -> LayoutError:
    before = _generations(engine)
    with pytest.raises(LayoutError) as info:
        load_file(engine, path, level, crs, **kw)
    assert _generations(engine) == before, "a refused load must leave nothing behind"
    found = [f for r in info.value.reports for f in r.findings if f.severity == "error"]
    assert check in {f.check for f in found}, found
    for f in found:
        if f.check == check and f.lon is not None and f.lat is not None:
            assert 112.5 < f.lon < 113.5 and 22.3 < f.lat < 23.0, f
    return info.value


def test_each_level_loads_as_a_new_generation(engine: Engine, sample_layout: int) -> None:
    start, total = _generations(engine)
    gen, report = load_file(engine, SAMPLE / "subdistricts.geojson", "subdistrict", "wgs84")
    assert gen is not None and gen > start and not report.errors
    gen, _ = load_file(engine, SAMPLE / "communities.geojson", "community", "wgs84")
    gen, _ = load_file(engine, SAMPLE / "grids.geojson", "grid", "wgs84")
    gen, _ = load_file(
        engine,
        BOUNDARIES / "440704-jianghai.gcj02.geojson",
        "district",
        "gcj02",
        code_field="adcode",
    )
    assert _generations(engine) == (gen, total + 4)
    with engine.connect() as conn:
        counts = conn.execute(
            sa.text("""
            SELECT (SELECT count(*) FROM grid_cell WHERE generation_id = :g),
                   (SELECT count(*) FROM grid_cell WHERE generation_id = :s),
                   (SELECT count(*) FROM district WHERE generation_id = :g)"""),
            {"g": gen, "s": start},
        ).one()
    assert counts[0] == counts[1] > 1000, "grids carried forward and reloaded, none lost"
    assert counts[2] == 4, "the home district and three neighbours"


def test_old_generation_rows_stay(engine: Engine, sample_layout: int) -> None:
    with engine.connect() as conn:
        old = conn.execute(
            sa.text("SELECT count(*) FROM grid_cell WHERE generation_id = :g"), {"g": sample_layout}
        ).scalar_one()
    assert old > 1000, "a case located in an old generation keeps its grid row"


def test_dry_run_writes_nothing(engine: Engine, sample_layout: int) -> None:
    before = _generations(engine)
    gen, report = load_file(
        engine, SAMPLE / "subdistricts.geojson", "subdistrict", "wgs84", dry_run=True
    )
    assert gen is None and report.features == 9 and not report.errors
    assert _generations(engine) == before


def test_overlap_between_siblings(engine, sample_layout, subdistricts, tmp_path) -> None:
    a, b = _touching_pair(subdistricts)
    grown = _metric(subdistricts.geometry[a]).union(
        _metric(subdistricts.geometry[b]).intersection(
            _metric(subdistricts.geometry[a]).buffer(300)
        )
    )
    subdistricts.loc[a, "geometry"] = _wgs(grown)
    error = _refused(
        engine, _write(subdistricts, tmp_path / "o.geojson"), "subdistrict", "wgs84", "overlap"
    )
    assert subdistricts["code"][a] in str([f.message for f in error.reports[0].findings])


def test_gap_in_parent_coverage(engine, sample_layout, subdistricts, tmp_path) -> None:
    shrunk = _metric(subdistricts.geometry[0]).buffer(-150)
    subdistricts.loc[0, "geometry"] = _wgs(shrunk)
    _refused(engine, _write(subdistricts, tmp_path / "g.geojson"), "subdistrict", "wgs84", "gap")


def test_self_intersection(engine, sample_layout, subdistricts, tmp_path) -> None:
    bowtie = Polygon([(113.0, 22.6), (113.02, 22.62), (113.02, 22.6), (113.0, 22.62)])
    subdistricts.loc[0, "geometry"] = MultiPolygon([bowtie])
    error = _refused(
        engine,
        _write(subdistricts, tmp_path / "s.geojson"),
        "subdistrict",
        "wgs84",
        "invalid_geometry",
    )
    finding = next(f for f in error.reports[0].findings if f.check == "invalid_geometry")
    assert "Self-intersection" in finding.message
    assert finding.lon == pytest.approx(113.01) and finding.lat == pytest.approx(22.61)


def test_repair_fixes_a_spike(engine, sample_layout, subdistricts, tmp_path) -> None:
    geom = max(shapely.get_parts(subdistricts.geometry[0]), key=lambda p: p.area)
    ring = list(geom.exterior.coords)
    (x0, y0), (x1, y1) = ring[0], ring[1]
    mid = ((x0 + x1) / 2, (y0 + y1) / 2)
    spiked = Polygon(
        [ring[0], mid, (mid[0] + 1e-7, mid[1] + 1e-7), mid, *ring[1:]],
        [i.coords for i in geom.interiors],
    )
    others = [p for p in shapely.get_parts(subdistricts.geometry[0]) if p is not geom]
    subdistricts.loc[0, "geometry"] = MultiPolygon([spiked, *others])
    path = _write(subdistricts, tmp_path / "r.geojson")
    assert not subdistricts.geometry[0].is_valid
    _refused(engine, path, "subdistrict", "wgs84", "invalid_geometry")
    gen, report = load_file(engine, path, "subdistrict", "wgs84", repair=True)
    assert gen is not None
    assert [f.check for f in report.warnings] == ["invalid_geometry"]


def test_child_outside_parent(engine, sample_layout, subdistricts, tmp_path) -> None:
    with engine.connect() as conn:
        district = _metric(read_level(conn, "district").geometry[0])
    # The subdistrict with the longest stretch of the district's outer edge.
    edge = [
        (_metric(g).boundary.intersection(district.boundary.buffer(1)).length, i)
        for i, g in enumerate(subdistricts.geometry)
    ]
    i = max(edge)[1]
    grown = _metric(subdistricts.geometry[i])
    grown = grown.union(grown.buffer(400).difference(district))
    subdistricts.loc[i, "geometry"] = _wgs(grown)
    _refused(
        engine,
        _write(subdistricts, tmp_path / "x.geojson"),
        "subdistrict",
        "wgs84",
        "outside_parent",
    )


def test_duplicate_code(engine, sample_layout, subdistricts, tmp_path) -> None:
    subdistricts.loc[1, "code"] = subdistricts["code"][0]
    _refused(
        engine,
        _write(subdistricts, tmp_path / "d.geojson"),
        "subdistrict",
        "wgs84",
        "duplicate_code",
    )


def test_gcj02_data_said_to_be_wgs84(engine, sample_layout, subdistricts, tmp_path) -> None:
    subdistricts["geometry"] = [
        crsmod.transform_geometry(g, "wgs84", "gcj02") for g in subdistricts.geometry
    ]
    error = _refused(
        engine, _write(subdistricts, tmp_path / "c.geojson"), "subdistrict", "wgs84", "crs_suspect"
    )
    assert "--crs gcj02" in str(error.reports[0].findings[0].message)


def test_projected_numbers_said_to_be_wgs84(engine, sample_layout, subdistricts, tmp_path) -> None:
    collection = json.loads(subdistricts.to_crs("EPSG:4547").to_json())
    declared = tmp_path / "declared.geojson"
    declared.write_text(json.dumps(collection), encoding="utf-8")
    with pytest.raises(LayoutError, match="declares a projected CRS"):
        load_file(engine, declared, "subdistrict", "wgs84")
    collection.pop("crs")
    silent = tmp_path / "silent.geojson"
    silent.write_text(json.dumps(collection), encoding="utf-8")
    with pytest.raises(LayoutError, match="look projected"):
        load_file(engine, silent, "subdistrict", "wgs84")


def test_projected_file_loads_when_named(engine, sample_layout, subdistricts, tmp_path) -> None:
    path = tmp_path / "p.gpkg"
    subdistricts.to_crs("EPSG:4547").to_file(path, driver="GPKG")
    gen, report = load_file(engine, path, "subdistrict", "EPSG:4547")
    assert gen is not None and not report.errors


def test_shapefile_loads(engine, sample_layout, subdistricts, tmp_path) -> None:
    path = tmp_path / "s.shp"
    subdistricts.to_file(path, driver="ESRI Shapefile", encoding="utf-8")
    gen, _ = load_file(engine, path, "subdistrict", "wgs84")
    with engine.connect() as conn:
        names = set(read_level(conn, "subdistrict", gen)["name"])
    assert "环市街道" in names


def test_swapped_lat_lon(engine, sample_layout, subdistricts, tmp_path) -> None:
    swapped = subdistricts.copy()
    swapped["geometry"] = [shapely.transform(g, lambda xy: xy[:, ::-1]) for g in swapped.geometry]
    with pytest.raises(LayoutError, match="swapped"):
        load_file(engine, _write(swapped, tmp_path / "w.geojson"), "subdistrict", "wgs84")


def test_renumbered_parents_orphan_their_children(
    engine, sample_layout, subdistricts, tmp_path
) -> None:
    """Codes that move under existing communities are refused, not half-applied."""
    unnamed = subdistricts.drop(columns=["code"])
    error = _refused(
        engine, _write(unnamed, tmp_path / "n.geojson"), "subdistrict", "wgs84", "outside_parent"
    )
    assert error.reports[0].level == "carried"
    assert "existing community" in error.reports[0].findings[0].message


def test_grid_codes_are_numbered_west_to_east_north_to_south(
    engine, sample_layout, tmp_path
) -> None:
    grids = gpd.read_file(SAMPLE / "grids.geojson").drop(columns=["code", "community_code"])
    gen, report = load_file(engine, _write(grids, tmp_path / "g.geojson"), "grid", "wgs84")
    assert not report.errors
    with engine.connect() as conn:
        loaded = read_level(conn, "grid", gen)
        # Measured as the loader measures: in the metric CRS round the parents.
        metric = crsmod.metric_crs_around(read_level(conn, "community", gen).total_bounds)
    assert loaded["code"].is_unique
    assert all(
        c.startswith(p) and len(c) == 15 for c, p in zip(loaded["code"], loaded["parent_code"])
    )
    one = loaded[loaded["parent_code"] == loaded["parent_code"].iloc[0]].sort_values("code")
    pts = crsmod.to_metric(one.geometry, metric).representative_point()
    band = float(np.median(crsmod.to_metric(one.geometry, metric).bounds.eval("maxy - miny")))
    rows = np.floor((pts.y.max() - pts.y.to_numpy()) / band)
    assert list(rows) == sorted(rows), "north to south by rows"
    for r in set(rows):
        xs = pts.x.to_numpy()[rows == r]
        assert list(xs) == sorted(xs), "west to east within a row"


def test_cli_load_reports_and_exits_nonzero(engine, sample_layout, subdistricts, tmp_path) -> None:
    subdistricts.loc[1, "code"] = subdistricts["code"][0]
    path = _write(subdistricts, tmp_path / "d.geojson")
    run = subprocess.run(
        [GRID, "load", str(path), "--level", "subdistrict", "--crs", "wgs84", "--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 1
    assert "Traceback" not in run.stderr
    answer = json.loads(run.stdout)
    assert answer["ok"] is False and "duplicate_code" in {f["check"] for f in answer["findings"]}


@pytest.mark.parametrize(
    "args,message",
    [
        (["--crs", "foo"], "Unknown CRS"),
        (["--level", "nope"], "unknown level"),
    ],
)
def test_cli_load_bad_arguments(engine, sample_layout, args, message) -> None:
    base = {"--crs": "wgs84", "--level": "subdistrict"}
    base.update(dict(zip(args[::2], args[1::2], strict=True)))
    flat = [x for kv in base.items() for x in kv]
    run = subprocess.run(
        [GRID, "load", str(SAMPLE / "subdistricts.geojson"), *flat],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode != 0 and "Traceback" not in run.stderr
    assert message.lower() in run.stderr.lower()


def test_missing_file(engine: Engine, sample_layout: int, settings: Settings) -> None:
    with pytest.raises(LayoutError, match="no such file"):
        load_file(engine, Path("/nonexistent.geojson"), "grid", "wgs84")


def _touching_pair(frame: gpd.GeoDataFrame) -> tuple[int, int]:
    for i in range(len(frame)):
        for j in range(len(frame)):
            if i != j and frame.geometry[i].touches(frame.geometry[j]):
                return i, j
    raise AssertionError("no touching subdistricts")


def test_an_earlier_generation_can_be_made_current_again(engine, sample_layout) -> None:
    gen, _ = load_file(engine, SAMPLE / "grids.geojson", "grid", "wgs84")
    assert gen != sample_layout
    run = subprocess.run(
        [GRID, "layout", "activate", str(sample_layout)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert _generations(engine)[0] == sample_layout
    listed = json.loads(
        subprocess.run(
            [GRID, "layout", "list", "--json"], capture_output=True, text=True, check=True
        ).stdout
    )
    assert [r["id"] for r in listed if r["is_current"]] == [sample_layout]
    assert {r["id"] for r in listed} >= {gen, sample_layout}
    missing = subprocess.run(
        [GRID, "layout", "activate", "999999"], capture_output=True, text=True, check=False
    )
    assert missing.returncode == 1 and "no generation 999999" in missing.stderr


def test_org_load_cli(engine, sample_layout, tmp_path) -> None:
    run = subprocess.run(
        [GRID, "org", "load", str(SAMPLE)], capture_output=True, text=True, check=False
    )
    assert run.returncode == 0 and "officers" in run.stdout
    bad = subprocess.run(
        [GRID, "org", "load", str(tmp_path)], capture_output=True, text=True, check=False
    )
    assert bad.returncode == 1 and "missing" in bad.stderr and "Traceback" not in bad.stderr
