"""Sample complaints: a year of GENERATED, plausible requests for the sample district.

Nothing here is a real complaint, place or person. The generator is seeded and
works day by day: the complaints of a calendar day depend only on the seed,
the day and the layout, never on the window asked for, so the same days always
give the same rows (and the same file bytes).

What makes them look like a district's year:
- hot spots, picked from the sample layout (dense urban-core grids weigh more)
  and named after their community: markets (菜市场), schools (小学), old
  streets (老街, in the old town), construction sites (工地, each active for
  months at a time) and food streets (美食街); each subclass of the catalogue
  has its own affinity for each kind (street vending at markets and school
  gates, noise and barbecues at food streets, spilled muck and dust around
  sites), the rest falls on the background, by grid density;
- weekly rhythm: vending, noise and barbecues rise at weekends, construction
  complaints fall then; school-gate parking only on weekdays;
- seasonal rhythm: storm days of the rainy season (April to September, most in
  June to August) bring 路面塌陷, 树木倒伏, 积水内涝, 井盖 and 污水 reports; the weeks
  around the Spring Festival bring 年货 street vending and firecracker litter
  (暴露垃圾), with building sites quiet; summer evenings bring barbecues and
  cooking fumes; the dry winter brings site dust;
- hours of day by kind (vending mornings and evenings, night construction noise);
- channels: about 15 % come from the WeChat mini-program in GCJ-02 (their own
  file, `--crs gcj02`), the rest from officers' terminals and the hotline in
  WGS84; about 3 % are in a neighbouring district near the border (they are
  referred out), and about 0.5 % carry only an address (needs_location).

Volume: about 45,000 a year (~125 a day) for a district of ~900,000 people.

`load_sample_complaints(engine)` writes the days not loaded yet as CSV files in
`grid assign`'s format under var/sample-complaints/, one per CRS
(`sample-complaints-<seed>-<wgs84|gcj02>-<first day>-<last day>.csv`), and
assigns them with `cases.bulk.assign_file`. The window ends with yesterday,
the last complete day, and starts twelve months earlier: today's complaints
are still coming in (through the API). A rerun the same day is a no-op (the
window is empty; the same files would be recognised by their SHA-256 anyway),
and a rerun on a later day adds only the days since the last load: the days
loaded are read from the records `assign_file` keeps (the file names carry the
seed and the days). Days older than twelve months stay.

Why one module of ~700 lines (over the project's ~500): it is one generator
(tooling, not shipped logic) whose hot spots, rhythms and channels all feed one
seeded draw per day; the committed sample's bytes depend on their order
(tests/test_sample_complaints.py). Split it when a part is reused elsewhere.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from cases.bulk import IDEMPOTENCY_SCOPE, AssignResult, Progress, assign_file
from cases.catalogue import Subclass, load_catalogue
from gis.crs import wgs84_to_gcj02
from gis.settings import ROOT

__all__ = [
    "SEED",
    "HotSpot",
    "SampleLayout",
    "SampleLoad",
    "generate_days",
    "load_sample_complaints",
    "read_layout",
    "window",
    "write_csv",
]

SEED: Final = 440703
DAILY_MEAN: Final = 125.0
GCJ02_SHARE: Final = 0.15
OUTSIDE_SHARE: Final = 0.03
ADDRESS_ONLY_SHARE: Final = 0.005
CST: Final = timezone(timedelta(hours=8))
SOURCE: Final = "sample"
FILE_RE: Final = re.compile(r"^sample-complaints-(\d+)-(wgs84|gcj02)-(\d{8})-(\d{8})\.csv$")
WINDOW_DAYS = 365
"""How far back the first load goes (twelve months)."""
OUT_DIR = ROOT / "var" / "sample-complaints"
"""Where the generated files are written (var/ is not versioned)."""
CHANNELS: Final = ("wgs84", "gcj02")
HEADER: Final = ("lon", "lat", "subclass", "reported_at", "description", "address")

# Spring Festival (春节, first day of the lunar year).
SPRING_FESTIVAL: Final = {
    2023: date(2023, 1, 22),
    2024: date(2024, 2, 10),
    2025: date(2025, 1, 29),
    2026: date(2026, 2, 17),
    2027: date(2027, 2, 6),
    2028: date(2028, 1, 26),
    2029: date(2029, 2, 13),
    2030: date(2030, 2, 3),
    2031: date(2031, 1, 23),
    2032: date(2032, 2, 11),
}
# Jiangmen's monthly rainfall (mm, rounded climate normals): drives storm days.
RAIN_MM: Final = (40, 60, 90, 180, 270, 320, 260, 280, 200, 70, 40, 30)

KINDS: Final = {
    # kind: (label suffixes, how many, scatter in metres, where)
    "market": (("菜市场", "农贸市场", "肉菜市场"), 14, 60.0, "any"),
    "school": (("小学", "中学", "实验学校", "幼儿园"), 16, 80.0, "any"),
    "old_street": (("老街", "骑楼街", "旧街区"), 8, 150.0, "core"),
    "construction": (
        ("工地", "安置房项目工地", "道路改造工地", "商住项目工地"),
        12,
        100.0,
        "outer",
    ),
    "food_street": (("美食街", "夜市"), 6, 80.0, "any"),
}

# Hour-of-day weights (local time), one row per profile.
_H = np.arange(24)
HOURS: Final[dict[str, npt.NDArray[np.float64]]] = {
    "day": np.where((_H >= 7) & (_H <= 19), 3.0, 0.3),
    "vending": np.where(((_H >= 6) & (_H <= 9)) | ((_H >= 16) & (_H <= 21)), 4.0, 0.4),
    "evening": np.where((_H >= 18) | (_H <= 1), 4.0, 0.3),
    "night_work": np.where((_H >= 22) | (_H <= 5), 3.0, np.where((_H >= 7) & (_H <= 18), 1.5, 0.3)),
    "school": np.where(((_H >= 7) & (_H <= 8)) | ((_H >= 16) & (_H <= 17)), 5.0, 0.3),
    "any": np.ones(24),
}


@dataclass(frozen=True)
class Profile:
    """How a subclass behaves: share of volume, where, when."""

    share: float  # relative daily volume
    spots: dict[str, float]  # hot-spot kind → affinity
    hot: float  # probability of being at a hot spot (if one of its kinds exists)
    hours: str = "day"
    weekend: float = 1.0  # factor on Saturdays and Sundays
    storm: float = 1.0  # factor on storm days
    festival: float = 1.0  # factor in the weeks around the Spring Festival
    summer: float = 1.0  # factor June to September
    dry: float = 1.0  # factor November to March
    weekdays_only: bool = False


# Rules by words in the subclass name, first match wins; a subclass matching no
# rule gets the default (background, daytime).
RULES: Final[tuple[tuple[tuple[str, ...], Profile], ...]] = (
    (
        ("占道",),
        Profile(
            14,
            {"market": 3, "school": 2, "food_street": 2},
            0.7,
            "vending",
            weekend=1.4,
            festival=2.8,
        ),
    ),
    (
        ("店外",),
        Profile(6, {"market": 2, "old_street": 2}, 0.6, "vending", weekend=1.3, festival=1.8),
    ),
    (
        ("烧烤",),
        Profile(3, {"food_street": 4, "old_street": 1}, 0.8, "evening", weekend=1.5, summer=2.0),
    ),
    (("宣传",), Profile(2, {"market": 3, "food_street": 1}, 0.7, "day", weekend=1.5)),
    (
        ("油烟", "噪音"),
        Profile(
            6,
            {"food_street": 3, "old_street": 2, "market": 1},
            0.6,
            "evening",
            weekend=1.4,
            summer=1.5,
        ),
    ),
    (
        ("施工扰民",),
        Profile(
            4,
            {"construction": 5},
            0.85,
            "night_work",
            weekend=0.5,
            festival=0.1,
            weekdays_only=False,
        ),
    ),
    (("扬尘",), Profile(3, {"construction": 5}, 0.85, "day", weekend=0.5, festival=0.1, dry=1.8)),
    (
        ("遗撒", "渣土"),
        Profile(4, {"construction": 4}, 0.7, "night_work", weekend=0.6, festival=0.2),
    ),
    (("围挡", "无证施工"), Profile(2, {"construction": 4}, 0.8, "day", weekend=0.5, festival=0.2)),
    (("私搭", "乱建"), Profile(3, {"old_street": 3}, 0.5, "day", weekend=1.1, festival=1.3)),
    (
        ("垃圾",),
        Profile(
            12,
            {"market": 3, "old_street": 2, "food_street": 1},
            0.5,
            "day",
            weekend=1.2,
            festival=1.8,
        ),
    ),
    (("堆", "物料"), Profile(4, {"old_street": 2, "market": 1, "construction": 1}, 0.4, "day")),
    (("拉", "挂"), Profile(3, {"old_street": 3}, 0.6, "day", weekend=1.3, festival=1.5)),
    (("小广告",), Profile(5, {"old_street": 2, "school": 1, "market": 1}, 0.5, "day")),
    (("横幅", "标语"), Profile(1.5, {"market": 1, "old_street": 1}, 0.4, "day", festival=1.5)),
    (("户外广告",), Profile(1.5, {"old_street": 1, "market": 1}, 0.3, "day")),
    (("广告设施破损",), Profile(1, {}, 0.0, "day", storm=5.0)),
    (("非机动车",), Profile(5, {"school": 2, "market": 2}, 0.6, "school", weekend=0.6)),
    (
        ("机动车",),
        Profile(6, {"school": 3, "market": 1}, 0.6, "school", weekend=0.7, weekdays_only=False),
    ),
    (
        ("乞讨", "流浪"),
        Profile(1, {"old_street": 2, "market": 1}, 0.6, "day", festival=2.0, dry=1.3),
    ),
    (("井盖",), Profile(1, {}, 0.0, "any", storm=4.0)),
    (("塌陷",), Profile(0.6, {}, 0.0, "any", storm=10.0)),
    (("倒伏", "树木"), Profile(0.6, {}, 0.0, "any", storm=14.0)),
    (("积水", "内涝"), Profile(0.6, {}, 0.0, "any", storm=18.0)),
    (("污水",), Profile(2, {"market": 1, "food_street": 1}, 0.3, "any", storm=3.0)),
    (("燃气",), Profile(0.3, {}, 0.0, "any", dry=1.6, festival=1.5)),
)
DEFAULT_PROFILE: Final = Profile(1, {}, 0.0, "day")

# Words for descriptions and addresses.
_OPENINGS: Final = ("市民反映", "群众来电反映", "网格员巡查发现", "居民投诉", "商户反映", "")
_ENDINGS: Final = (
    "，请尽快处理。",
    "，影响出行。",
    "，已持续多日。",
    "，多次反映未解决。",
    "，请派人查看。",
    "。",
)
_ROADS: Final = ("路", "街", "大道", "巷", "中路", "东路", "西路")
_LINKS: Final = ("有", "出现", "发现", "")


def profile_for(sub: Subclass) -> Profile:
    """The behaviour of a subclass, by words in its name."""
    for words, profile in RULES:
        if any(w in sub.name for w in words):
            return profile
    return DEFAULT_PROFILE


@dataclass(frozen=True)
class HotSpot:
    """A generated place where complaints cluster."""

    name: str
    kind: str
    lon: float
    lat: float
    scatter_m: float
    community: str
    subdistrict: str
    # construction sites work in cycles: active when (day + phase) % period < length
    period: int = 1
    length: int = 1
    phase: int = 0

    def active(self, day: int) -> bool:
        """Whether the spot is active on day `day` (a date's ordinal)."""
        return (day + self.phase) % self.period < self.length


@dataclass
class SampleLayout:
    """What the generator needs from the layout: grids, names, hot spots, the border."""

    grid_code: list[str]
    lon: npt.NDArray[np.float64]
    lat: npt.NDArray[np.float64]
    scatter_m: npt.NDArray[np.float64]
    weight: npt.NDArray[np.float64]
    community: list[str]
    subdistrict: list[str]
    hot_spots: list[HotSpot]
    outside_lon: npt.NDArray[np.float64]
    outside_lat: npt.NDArray[np.float64]
    generation: int = 0

    @property
    def grid_cdf(self) -> npt.NDArray[np.float64]:
        w = self.weight / self.weight.sum()
        return np.cumsum(w)


def _is_core(subdistrict_code: str) -> bool:
    from sample.district import SUBDISTRICTS

    return any(s.code == subdistrict_code and s.urban_core for s in SUBDISTRICTS)


def read_layout(engine: Engine, seed: int = SEED) -> SampleLayout:
    """Grids, hot spots and border points of the current layout (deterministic)."""
    with engine.connect() as conn:
        gen = conn.execute(sa.text("SELECT id FROM layout_generation WHERE is_current")).scalar()
        if gen is None:
            raise LookupError("no layout is loaded: run `grid demo --no-serve` or `grid load`")
        rows = conn.execute(
            sa.text("""
            SELECT g.code, g.area_m2, ST_X(p.pt) AS lon, ST_Y(p.pt) AS lat,
                   c.name AS community, s.name AS subdistrict, s.code AS subdistrict_code
            FROM grid_cell g
            CROSS JOIN LATERAL (SELECT ST_PointOnSurface(g.geom) AS pt) p
            JOIN community c ON c.generation_id = g.generation_id AND c.code = g.community_code
            JOIN subdistrict s ON s.generation_id = c.generation_id
                              AND s.code = c.subdistrict_code
            WHERE g.generation_id = :gen ORDER BY g.code"""),
            {"gen": gen},
        ).all()
        # Points in neighbouring districts within 1.5 km of home: residents near the
        # border who report to the wrong bureau (deterministic: seeded).
        border = conn.execute(
            sa.text("""
            WITH home AS (SELECT geom FROM district WHERE generation_id = :gen AND is_home),
            ring AS (
                SELECT ST_Intersection(d.geom,
                         ST_Buffer(home.geom::geography, 1500)::geometry) AS geom
                FROM district d, home WHERE d.generation_id = :gen AND NOT d.is_home)
            SELECT ST_X(g.geom), ST_Y(g.geom)
            FROM (SELECT (ST_Dump(ST_GeneratePoints(ST_Union(geom), 400, :seed))).geom
                  FROM ring) g
            ORDER BY 1, 2"""),
            {"gen": gen, "seed": seed},
        ).all()
    if not rows:
        raise LookupError("the current layout has no grids")
    area = np.array([float(r.area_m2) for r in rows])
    core = np.array([_is_core(r.subdistrict_code) for r in rows])
    weight = (1.0 / np.sqrt(area)) * np.where(core, 3.0, 1.0)
    layout = SampleLayout(
        grid_code=[r.code for r in rows],
        lon=np.array([float(r.lon) for r in rows]),
        lat=np.array([float(r.lat) for r in rows]),
        scatter_m=0.3 * np.sqrt(area),
        weight=weight,
        community=[r.community for r in rows],
        subdistrict=[r.subdistrict for r in rows],
        hot_spots=[],
        outside_lon=np.array([float(b[0]) for b in border]),
        outside_lat=np.array([float(b[1]) for b in border]),
        generation=int(gen),
    )
    layout.hot_spots = _hot_spots(layout, core, np.random.default_rng([seed, 1]))
    return layout


def _hot_spots(
    layout: SampleLayout, core: npt.NDArray[np.bool_], rng: np.random.Generator
) -> list[HotSpot]:
    spots: list[HotSpot] = []
    used: set[str] = set()
    for kind, (suffixes, count, scatter, where) in KINDS.items():
        w = layout.weight.copy()
        if where == "core":
            w = np.where(core, w, 0.0)
        elif where == "outer":  # sites are where the city grows: the edge of the core
            w = np.where(core, 0.3, 1.0) * np.sqrt(w)
        picks = rng.choice(len(w), size=count, replace=False, p=w / w.sum())
        for k, i in enumerate(sorted(int(p) for p in picks)):
            base = layout.community[i].removesuffix("社区").removesuffix("村")
            name = f"{base}{suffixes[k % len(suffixes)]}"
            while name in used:
                name = f"{base}第{len(used) % 9 + 2}{suffixes[k % len(suffixes)]}"
            used.add(name)
            period, length, phase = 1, 1, 0
            if kind == "construction":
                period = int(rng.integers(240, 540))
                length = int(rng.integers(90, period - 60))
                phase = int(rng.integers(0, period))
            spots.append(
                HotSpot(
                    name,
                    kind,
                    float(layout.lon[i]),
                    float(layout.lat[i]),
                    scatter,
                    layout.community[i],
                    layout.subdistrict[i],
                    period,
                    length,
                    phase,
                )
            )
    return spots


@dataclass
class Rows:
    """Generated complaints of one channel, as columns."""

    lon: list[float | None] = field(default_factory=list)
    lat: list[float | None] = field(default_factory=list)
    subclass: list[str] = field(default_factory=list)
    reported_at: list[str] = field(default_factory=list)
    description: list[str] = field(default_factory=list)
    address: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.subclass)

    def extend(self, other: Rows) -> None:
        for name in HEADER:
            getattr(self, name).extend(getattr(other, name))


def _festival_factor(day: date) -> float:
    """How far into the Spring Festival season `day` is: 1 inside (-20..+15 days), else 0."""
    sf = SPRING_FESTIVAL.get(day.year)
    nxt = SPRING_FESTIVAL.get(day.year + 1)
    for d in (sf, nxt):
        if d is not None and -20 <= (day - d).days <= 15:
            return 1.0
    return 0.0


def _storm(day: date, rng: np.random.Generator) -> bool:
    p = RAIN_MM[day.month - 1] / 1000.0  # ~0.3 in June, ~0.03 in December
    return bool(rng.random() < p)


def _rates(
    subs: list[Subclass], profiles: list[Profile], day: date, storm: bool
) -> npt.NDArray[np.float64]:
    shares = np.array([p.share for p in profiles])
    base = DAILY_MEAN * shares / shares.sum()
    weekend = day.weekday() >= 5
    festival = _festival_factor(day) > 0
    summer = day.month in (6, 7, 8, 9)
    dry = day.month in (11, 12, 1, 2, 3)
    f = np.ones(len(subs))
    for i, p in enumerate(profiles):
        if weekend:
            f[i] *= 0.0 if p.weekdays_only else p.weekend
        if storm:
            f[i] *= p.storm
        if festival:
            f[i] *= p.festival
        if summer:
            f[i] *= p.summer
        if dry:
            f[i] *= p.dry
    # Slightly more in the rainy months overall (more people out, more damage).
    season = 1.0 + 0.1 * math.sin((day.timetuple().tm_yday - 100) / 365.0 * 2 * math.pi)
    return base * f * season


def _generate_day(
    layout: SampleLayout, subs: list[Subclass], profiles: list[Profile], day: date, seed: int
) -> dict[str, Rows]:
    rng = np.random.default_rng([seed, 2, day.toordinal()])
    storm = _storm(day, rng)
    counts = rng.poisson(_rates(subs, profiles, day, storm))
    which = np.repeat(np.arange(len(subs)), counts)
    n = len(which)
    out = {c: Rows() for c in CHANNELS}
    if n == 0:
        return out
    # Hot-spot affinities of this day (sites work in cycles).
    spots = layout.hot_spots
    active = np.array([s.active(day.toordinal()) for s in spots])
    aff = np.array([[p.spots.get(s.kind, 0.0) for s in spots] for p in profiles]) * active
    has_spot = aff.sum(axis=1) > 0
    cdf = np.cumsum(aff / np.where(has_spot, aff.sum(axis=1), 1.0)[:, None], axis=1)
    hot_p = np.array([p.hot for p in profiles]) * has_spot
    at_spot = rng.random(n) < hot_p[which]
    spot_idx = np.minimum((cdf[which] < rng.random(n)[:, None]).sum(axis=1), len(spots) - 1)
    grid_idx = np.minimum(np.searchsorted(layout.grid_cdf, rng.random(n)), len(layout.lon) - 1)
    spot_lon = np.array([s.lon for s in spots])[spot_idx]
    spot_lat = np.array([s.lat for s in spots])[spot_idx]
    spot_sc = np.array([s.scatter_m for s in spots])[spot_idx]
    cx = np.where(at_spot, spot_lon, layout.lon[grid_idx])
    cy = np.where(at_spot, spot_lat, layout.lat[grid_idx])
    sc = np.where(at_spot, spot_sc, layout.scatter_m[grid_idx])
    lon = cx + rng.normal(0.0, 1.0, n) * sc / 102_700.0  # metres per degree at 22.6°N
    lat = cy + rng.normal(0.0, 1.0, n) * sc / 110_700.0
    # A few from across the border, a few with an address only.
    u = rng.random(n)
    outside = (u < OUTSIDE_SHARE) & (len(layout.outside_lon) > 0)
    address_only = (u >= OUTSIDE_SHARE) & (u < OUTSIDE_SHARE + ADDRESS_ONLY_SHARE)
    if outside.any():
        k = rng.integers(0, len(layout.outside_lon), int(outside.sum()))
        lon[outside] = layout.outside_lon[k]
        lat[outside] = layout.outside_lat[k]
    channel = np.where(rng.random(n) < GCJ02_SHARE, 1, 0)
    # Time of day by profile; seconds uniform.
    hours = np.zeros(n, dtype=np.int64)
    kind_of = np.array([p.hours for p in profiles])[which]
    for name, w in HOURS.items():  # fixed order: deterministic
        sel = np.flatnonzero(kind_of == name)
        if sel.size:
            hours[sel] = rng.choice(24, size=sel.size, p=w / w.sum())
    secs = hours * 3600 + rng.integers(0, 3600, n)
    opening = rng.integers(0, len(_OPENINGS), n)
    ending = rng.integers(0, len(_ENDINGS), n)
    kw_pick = rng.random(n)
    house = rng.integers(1, 300, n)
    road = rng.integers(0, len(_ROADS), n)
    gx, gy = wgs84_to_gcj02(lon, lat)
    midnight = datetime(day.year, day.month, day.day, tzinfo=CST)
    order = np.argsort(secs, kind="stable")
    for i in order:
        s = int(which[i])
        sub = subs[s]
        g = int(grid_idx[i])
        if at_spot[i]:
            spot = spots[int(spot_idx[i])]
            place, community, subdistrict = spot.name, spot.community, spot.subdistrict
        else:
            community, subdistrict = layout.community[g], layout.subdistrict[g]
            place = "" if outside[i] else community + "附近"
        words = sub.keywords or (sub.name,)
        what = words[int(kw_pick[i] * 2 * len(words))] if kw_pick[i] < 0.5 else sub.name
        link = _LINKS[int(house[i]) % len(_LINKS)]
        desc = f"{_OPENINGS[opening[i]]}{place}{link}{what}{_ENDINGS[ending[i]]}"
        road_name = community.removesuffix("社区").removesuffix("村") + _ROADS[road[i]]
        addr = "" if outside[i] else f"{subdistrict}{community}{road_name}{house[i]}号"
        c = CHANNELS[int(channel[i])]
        rows = out[c]
        if address_only[i]:
            rows.lon.append(None)
            rows.lat.append(None)
            addr = addr or f"{subdistrict}{community}"
        elif c == "gcj02":
            rows.lon.append(round(float(gx[i]), 6))
            rows.lat.append(round(float(gy[i]), 6))
        else:
            rows.lon.append(round(float(lon[i]), 6))
            rows.lat.append(round(float(lat[i]), 6))
        rows.subclass.append(sub.code)
        rows.reported_at.append(
            (midnight + timedelta(seconds=int(secs[i]))).isoformat(timespec="seconds")
        )
        rows.description.append(desc)
        rows.address.append(addr)
    return out


def generate_days(
    layout: SampleLayout, first: date, last: date, seed: int = SEED
) -> dict[str, Rows]:
    """Complaints of the days first..last (inclusive), per channel, in time order."""
    catalogue = load_catalogue()
    subs = list(catalogue.subclasses)
    profiles = [profile_for(s) for s in subs]
    out = {c: Rows() for c in CHANNELS}
    day = first
    while day <= last:
        for c, rows in _generate_day(layout, subs, profiles, day, seed).items():
            out[c].extend(rows)
        day += timedelta(days=1)
    return out


def write_csv(path: Path, rows: Rows) -> None:
    """Write rows in `grid assign`'s CSV format (UTF-8, header, ISO 8601 times)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(HEADER)
    for i in range(len(rows)):
        lon, lat = rows.lon[i], rows.lat[i]
        w.writerow(
            (
                "" if lon is None else f"{lon:.6f}",
                "" if lat is None else f"{lat:.6f}",
                rows.subclass[i],
                rows.reported_at[i],
                rows.description[i],
                rows.address[i],
            )
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(buf.getvalue(), encoding="utf-8")
    tmp.replace(path)


def today_cst() -> date:
    """Today in China Standard Time."""
    return datetime.now(UTC).astimezone(CST).date()


def _loaded_until(engine: Engine, seed: int) -> dict[str, date]:
    """Per channel, the last day already assigned for `seed` (from assign_file's records)."""
    done: dict[str, date] = {}
    with engine.connect() as conn:
        bodies = (
            conn.execute(
                sa.text("SELECT body FROM idempotency_record WHERE scope = :s AND body LIKE :p"),
                {"s": IDEMPOTENCY_SCOPE, "p": f'%"file": "sample-complaints-{seed}-%'},
            )
            .scalars()
            .all()
        )
    for body in bodies:
        try:
            name = str(json.loads(body).get("file", ""))
        except ValueError:
            continue
        m = FILE_RE.match(name)
        if m is None or int(m.group(1)) != seed:
            continue
        channel, end = m.group(2), datetime.strptime(m.group(4), "%Y%m%d").date()
        if channel not in done or end > done[channel]:
            done[channel] = end
    return done


def window(
    today: date, loaded_until: date | None, days: int = WINDOW_DAYS
) -> tuple[date, date] | None:
    """The days to generate: `days` days up to yesterday, after what is loaded already."""
    last = today - timedelta(days=1)
    first = today - timedelta(days=days)
    if loaded_until is not None:
        first = max(first, loaded_until + timedelta(days=1))
    return (first, last) if first <= last else None


@dataclass
class SampleLoad:
    """What load_sample_complaints did: one assignment per file written."""

    files: list[tuple[Path, AssignResult]] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # channel → why nothing was done

    @property
    def cases(self) -> int:
        """Cases written by this call (0 when everything was loaded already)."""
        return sum(r.cases for _, r in self.files if not r.already_assigned)


def load_sample_complaints(
    engine: Engine,
    *,
    today: date | None = None,
    days: int | None = None,
    out_dir: Path | None = None,
    seed: int | None = None,
    progress: Progress | None = None,
) -> SampleLoad:
    """Generate the days not loaded yet and assign them (see the module docs).

    `today` defaults to today in China Standard Time, `days` to WINDOW_DAYS,
    `out_dir` to OUT_DIR and `seed` to SEED. Loads of different seeds are
    independent of each other (the seed is in the file names).
    """
    today = today or today_cst()
    days = WINDOW_DAYS if days is None else days
    out_dir = out_dir or OUT_DIR
    seed = SEED if seed is None else seed
    done = _loaded_until(engine, seed)
    result = SampleLoad()
    todo = {c: window(today, done.get(c), days) for c in CHANNELS}
    if all(w is None for w in todo.values()):
        result.skipped = {c: f"loaded up to {done.get(c)}" for c in CHANNELS}
        return result
    layout = read_layout(engine, seed)
    for channel, span in todo.items():
        if span is None:
            result.skipped[channel] = f"loaded up to {done.get(channel)}"
            continue
        first, last = span
        rows = generate_days(layout, first, last, seed)[channel]
        name = f"sample-complaints-{seed}-{channel}-{first:%Y%m%d}-{last:%Y%m%d}.csv"
        path = out_dir / name
        write_csv(path, rows)
        res = assign_file(
            engine,
            path,
            channel,
            progress=progress,
            source=SOURCE,
            rejects=out_dir / (name + ".rejects.csv"),
        )
        result.files.append((path, res))
    return result


def describe_hot_spots(layout: SampleLayout) -> list[dict[str, Any]]:
    """The hot spots as plain dicts (for printing)."""
    return [
        {
            "name": s.name,
            "kind": s.kind,
            "lon": round(s.lon, 6),
            "lat": round(s.lat, 6),
            "community": s.community,
        }
        for s in layout.hot_spots
    ]
