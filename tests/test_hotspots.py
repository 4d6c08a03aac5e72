"""Hot-spot statistics on hand-made lattices and series, checked against independent sums.

Gi* z-scores are recomputed here from Ord and Getis's formula with NumPy, with
neighbours found by index arithmetic on the lattice (not by libpysal); the FDR
classes on a hand-worked Benjamini–Hochberg case; the Mann-Kendall test against
a plain double loop and against pymannkendall; the emerging hot-spot patterns
on hand-built z/p series, one per pattern, hot and cold.
"""

from __future__ import annotations

import math
from datetime import date

import esda
import geopandas as gpd
import numpy as np
import pymannkendall
import pytest
import shapely

from gis.hotspots import (
    FDR_METHOD,
    HOTSPOT_CLASSES,
    PATTERNS,
    GridWeights,
    bh_adjust,
    classify,
    classify_series,
    emerging_table,
    gi_star,
    hotspot_table,
    mann_kendall,
    space_time_gi_star,
)
from gis.hotspots.weights import star_graph

# ----------------------------------------------------------------- helpers


def lattice(rows: int, cols: int, extra: list[shapely.Polygon] | None = None) -> gpd.GeoDataFrame:
    """Unit squares numbered row by row (code = 15 digits), plus any extra polygons."""
    polys = [shapely.box(c, r, c + 1, r + 1) for r in range(rows) for c in range(cols)]
    polys += extra or []
    codes = [f"{440703001001000 + i:015d}" for i in range(len(polys))]
    return gpd.GeoDataFrame({"code": codes}, geometry=polys, crs=4326)


def queen_sets(rows: int, cols: int) -> list[set[int]]:
    """Queen neighbours of each lattice cell by index arithmetic (self excluded)."""
    out = []
    for r in range(rows):
        for c in range(cols):
            out.append(
                {
                    rr * cols + cc
                    for rr in range(max(r - 1, 0), min(r + 2, rows))
                    for cc in range(max(c - 1, 0), min(c + 2, cols))
                    if (rr, cc) != (r, c)
                }
            )
    return out


def gi_star_formula(x: np.ndarray, neighbours: list[set[int]]) -> np.ndarray:
    """Ord & Getis (1995) Gi* z-score with binary weights, self included.

    z_i = (sum_j w_ij x_j - xbar W_i) / (S sqrt((n W_i - W_i^2) / (n - 1))),
    with xbar and S = sqrt(sum x^2 / n - xbar^2) over all n units.
    """
    n = len(x)
    xbar = x.mean()
    s = math.sqrt((x**2).sum() / n - xbar**2)
    z = np.empty(n)
    for i in range(n):
        members = neighbours[i] | {i}
        w = len(members)
        local = sum(x[j] for j in members)
        z[i] = (local - xbar * w) / (s * math.sqrt((n * w - w * w) / (n - 1)))
    return z


Y5 = np.array(
    [
        [9, 8, 7, 1, 0],
        [8, 9, 6, 0, 1],
        [6, 7, 3, 1, 0],
        [1, 0, 1, 0, 0],
        [0, 1, 0, 0, 2],
    ],
    dtype=float,
).reshape(-1)


# --------------------------------------------------------------------- Gi*


def test_queen_weights_of_a_lattice_are_its_eight_neighbours() -> None:
    w = GridWeights.from_polygons(lattice(5, 5))
    got = [set(w.adjacency[i].indices.tolist()) for i in range(w.n)]
    assert got == queen_sets(5, 5)
    assert not w.islands.any()
    assert list(w.cardinalities[:6]) == [3, 5, 5, 5, 3, 5]


def test_gi_star_z_matches_the_formula_on_a_5x5_lattice() -> None:
    w = GridWeights.from_polygons(lattice(5, 5))
    gi = gi_star(Y5, w, permutations=0)
    expected = gi_star_formula(Y5, queen_sets(5, 5))
    np.testing.assert_allclose(gi.z, expected, rtol=1e-12, atol=1e-12)
    # The north-west block of high counts is the hot centre; the south-east is low.
    assert gi.z[0] > 2.5 and gi.z[24] < 0
    # Two-sided normal p-value, from the error function.
    two_sided = [math.erfc(abs(v) / math.sqrt(2)) for v in expected]
    np.testing.assert_allclose(gi.p_norm, two_sided, rtol=1e-10)
    assert gi.p_sim is None


def test_permutations_reproduce_esdas_conditional_randomisation() -> None:
    """The vectorised engine gives esda's own p_sim, draw for draw, for the same seed."""
    rng = np.random.default_rng(5)
    grids = lattice(8, 9, extra=[shapely.box(20, 20, 21, 21)])  # with an island
    w = GridWeights.from_polygons(grids)
    y = rng.poisson(rng.gamma(1.0, 3.0, w.n)).astype(float)
    y[:5] += 12  # a cluster
    for seed in (1, 12345):
        mine = gi_star(y, w, permutations=199, seed=seed)
        with pytest.warns(DeprecationWarning, match="alternative hypothesis"):
            theirs = esda.G_Local(
                y,
                star_graph(w.adjacency),
                transform="B",
                permutations=199,
                star=True,
                seed=seed,
                n_jobs=1,
                keep_simulations=False,
            )
        assert mine.p_sim is not None
        tested = ~w.islands
        np.testing.assert_allclose(mine.p_sim[tested], theirs.p_sim[tested], atol=1e-6)
        np.testing.assert_allclose(mine.z[tested], theirs.Zs[tested], rtol=1e-12)
        assert np.isnan(mine.p_sim[w.islands]).all()
    via_esda = gi_star(y, w, permutations=199, seed=1, randomisation="esda")
    assert via_esda.p_sim is not None
    np.testing.assert_allclose(via_esda.p_sim, gi_star(y, w, permutations=199, seed=1).p_sim)
    # A pseudo p-value never falls below 1 / (permutations + 1).
    assert np.nanmin(mine.p_sim) >= 1 / 200 - 1e-12


def test_islands_are_left_untested_but_stay_in_the_mean() -> None:
    grids = lattice(4, 4, extra=[shapely.box(10, 10, 11, 11)])
    w = GridWeights.from_polygons(grids)
    assert w.islands.tolist() == [False] * 16 + [True]
    y = np.array([5, 4, 0, 0, 4, 3, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 30], dtype=float)
    table = hotspot_table(w, y, permutations=99)
    island = table.iloc[16]
    assert island["island"] and island["hotspot_class"] == "not_significant"
    assert np.isnan(island["gi_z"]) and np.isnan(island["p_value"]) and np.isnan(island["p_sim"])
    assert island["count"] == 30
    assert table.attrs["tests"] == 16
    # The others: the formula over all 17 values (the island's 30 is in the mean).
    neighbours = [*queen_sets(4, 4), set()]
    expected = gi_star_formula(y, neighbours)[:16]
    np.testing.assert_allclose(table["gi_z"].to_numpy()[:16], expected, rtol=1e-12)
    # And the space-time analysis leaves it out too.
    cube = np.column_stack([y, y, y])
    z, _ = space_time_gi_star(cube, w)
    assert np.isnan(z[16]).all() and not np.isnan(z[:16]).any()
    em = emerging_table(w, cube, [date(2024, m, 1) for m in (1, 2, 3)])
    assert em.iloc[16]["pattern"] == "no_pattern" and em.iloc[16]["island"]


def test_a_constant_surface_has_no_hot_spot() -> None:
    w = GridWeights.from_polygons(lattice(3, 4))
    table = hotspot_table(w, np.zeros(12))
    assert set(table["hotspot_class"]) == {"not_significant"}
    assert (table["gi_z"] == 0).all() and (table["p_value"] == 1).all()
    em = emerging_table(w, np.zeros((12, 4)), [date(2024, m, 1) for m in (1, 2, 3, 4)])
    assert set(em["pattern"]) == {"no_pattern"}


def test_bad_values_are_refused() -> None:
    w = GridWeights.from_polygons(lattice(3, 3))
    with pytest.raises(ValueError, match="expected 9 values"):
        gi_star(np.ones(8), w)
    with pytest.raises(ValueError, match="non-negative"):
        gi_star(-np.ones(9), w)
    with pytest.raises(ValueError, match="finite"):
        gi_star(np.full(9, np.nan), w)
    with pytest.raises(ValueError, match="at least 3 grids"):
        GridWeights.from_polygons(lattice(1, 2))
    with pytest.raises(ValueError, match="at least 3 periods"):
        space_time_gi_star(np.ones((9, 2)), w)


def test_hotspot_table_names_its_method_and_classes() -> None:
    w = GridWeights.from_polygons(lattice(5, 5))
    table = hotspot_table(w, Y5)
    assert list(table.columns[:6]) == [
        "grid_code",
        "count",
        "gi_z",
        "p_value",
        "p_norm",
        "p_sim",
    ]
    assert table.attrs["fdr_method"] == FDR_METHOD
    assert "Benjamini–Hochberg" in FDR_METHOD and "analytic" in FDR_METHOD
    assert set(table["hotspot_class"]) <= set(HOTSPOT_CLASSES)
    assert table.iloc[0]["hotspot_class"].startswith("hot_")
    assert table.iloc[0]["label"].startswith("热点")
    assert table["count"].tolist() == Y5.astype(int).tolist()
    # p_value is the FDR-adjusted p of the class: never below the unadjusted one.
    assert (table["p_value"] >= table["p_norm"] - 1e-15).all()


# --------------------------------------------------------------------- FDR


def test_benjamini_hochberg_on_a_hand_worked_case() -> None:
    # Ten p-values (shuffled) and an untested island (NaN, not counted: m = 10).
    p_sorted = [0.0005, 0.004, 0.02, 0.03, 0.035, 0.05, 0.2, 0.5, 0.7, 0.9]
    # By hand, q_(k) = min over j >= k of 10 p_(j) / j:
    q_sorted = [0.005, 0.02, 0.2 / 3, 0.07, 0.07, 0.5 / 6, 2 / 7, 0.625, 7 / 9, 0.9]
    order = [3, 0, 9, 5, 1, 7, 2, 8, 4, 6]
    p = [p_sorted[i] for i in order] + [float("nan")]
    q = bh_adjust(p)
    np.testing.assert_allclose(q[:10], [q_sorted[i] for i in order], rtol=1e-12)
    assert np.isnan(q[10])
    z_sorted = [-3.5, -2.9, -2.3, 2.2, 2.1, 1.96, 1.3, 0.7, -0.4, 0.1]
    z = [z_sorted[i] for i in order] + [float("nan")]
    keys = classify(z, q).tolist()
    by_rank = {order[i]: keys[i] for i in range(10)}
    # ranks 1: q .005 -> 99 %; 2: q .02 -> 95 %; 3-6: q .067-.083 -> 90 %; others not.
    assert [by_rank[k] for k in range(10)] == [
        "cold_99",  # p .0005, z -3.5
        "cold_95",  # p .004, z -2.9
        "cold_90",  # p .02 (95 % uncorrected), z -2.3
        "hot_90",  # p .03
        "hot_90",  # p .035
        "hot_90",  # p .05: passes at 90 % by the step-up
        "not_significant",
        "not_significant",
        "not_significant",
        "not_significant",
    ]
    assert keys[10] == "not_significant"


def test_fdr_classes_match_arcgis_per_level_critical_p_values() -> None:
    """For each level, BH's critical p is the largest p_(k) <= k alpha / m (ArcGIS's rule)."""
    rng = np.random.default_rng(11)
    z = rng.normal(0, 2.2, 400)
    p = np.array([math.erfc(abs(v) / math.sqrt(2)) for v in z])
    keys = classify(z, bh_adjust(p))
    m = len(p)
    ranked = np.sort(p)
    for level, alpha in ((99, 0.01), (95, 0.05), (90, 0.10)):
        passing = [ranked[k - 1] for k in range(1, m + 1) if ranked[k - 1] <= k * alpha / m]
        critical = max(passing) if passing else -1.0
        at_least = np.array([k != "not_significant" and int(k[-2:]) >= level for k in keys])
        assert (at_least == (p <= critical)).all(), level


# ------------------------------------------------------------ Mann-Kendall


def mk_loop(x: list[float]) -> tuple[float, float, float]:
    """Mann-Kendall by the textbook: double loop, tie groups counted by value."""
    n = len(x)
    s = sum((x[j] > x[i]) - (x[j] < x[i]) for i in range(n - 1) for j in range(i + 1, n))
    groups = [x.count(v) for v in set(x)]
    var = (n * (n - 1) * (2 * n + 5) - sum(t * (t - 1) * (2 * t + 5) for t in groups)) / 18
    z = 0.0 if s == 0 else (s - (1 if s > 0 else -1)) / math.sqrt(var)
    return float(s), z, math.erfc(abs(z) / math.sqrt(2))


def test_mann_kendall_matches_the_textbook_and_pymannkendall() -> None:
    rng = np.random.default_rng(3)
    series = rng.normal(size=(40, 12)).round(1)  # rounding makes ties
    series[0] = np.arange(12)  # strictly rising: S = 66
    series[1] = series[1][0]  # constant: no trend at all
    series[2, :6] = 1.5  # a big tie group
    s, z, p = mann_kendall(series)
    assert s[0] == 66 and z[0] == pytest.approx(65 / math.sqrt(12 * 11 * 29 / 18))
    assert s[1] == 0 and z[1] == 0 and p[1] == 1
    for i, row in enumerate(series):
        ls, lz, lp = mk_loop(row.tolist())
        assert (s[i], z[i], p[i]) == pytest.approx((ls, lz, lp), rel=1e-12, abs=1e-12)
        ref = pymannkendall.original_test(row)
        assert s[i] == ref.s and z[i] == pytest.approx(ref.z, abs=1e-12)
        assert p[i] == pytest.approx(ref.p, abs=1e-12)
    nan_row = mann_kendall(np.array([[1.0, np.nan, 2.0]]))
    assert all(np.isnan(v[0]) for v in nan_row)


# ------------------------------------------------------ emerging patterns

T = 10
RISING = np.linspace(2.0, 4.7, T)
FALLING = RISING[::-1].copy()
LEVEL = np.array([3.0, 2.6, 3.3, 2.5, 3.1, 2.7, 3.2, 2.6, 3.0, 2.9])  # no trend


def series(flags: str, strength: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """z and p of one grid from flags: H significant hot, C significant cold, . neither."""
    assert len(flags) == T
    base = np.full(T, 3.0) if strength is None else strength
    z = np.array(
        [base[i] if f == "H" else -base[i] if f == "C" else 0.4 for i, f in enumerate(flags)]
    )
    p = np.array([0.001 if f in "HC" else 0.5 for f in flags])
    return z, p


HOT_CASES = {
    # ArcGIS: hot in the final step, never before.
    "new": series(".........H"),
    # a single run of >= 2 in the final steps, never hot before it, < 90 % hot.
    "consecutive": series("......HHHH"),
    # >= 90 % hot including the final step, clustering rising significantly.
    "intensifying": series("HHHHHHHHHH", RISING),
    # >= 90 % hot, no trend.
    "persistent": series("HHHHHHHHHH", LEVEL),
    # >= 90 % hot including the final step, clustering falling significantly.
    "diminishing": series("HHHHHHHHHH", FALLING),
    # hot in the final step, on and off before, < 90 %, never cold.
    "sporadic": series("..H..HH..H"),
    # hot in the final step, cold at some earlier step, < 90 % hot.
    "oscillating": series("C.H..C...H"),
    # the final step is not hot, but >= 90 % of the steps were.
    "historical": series("HHHHHHHHH."),
}


@pytest.mark.parametrize("kind", ["hot", "cold"])
@pytest.mark.parametrize("name", list(HOT_CASES))
def test_emerging_pattern(name: str, kind: str) -> None:
    z, p = HOT_CASES[name]
    if kind == "cold":  # the mirror image: cold spots, clustering of low counts
        z = -z
    got = classify_series(z[None, :], p[None, :])
    assert got.tolist() == [f"{name}_{kind}"]
    assert f"{name}_{kind}" in PATTERNS


def test_no_pattern_and_the_overlaps() -> None:
    cases = {
        "..........": "no_pattern",
        "..H.......": "no_pattern",  # hot once, long ago
        "C.........": "no_pattern",
        # new or oscillating? a cold history makes it oscillating
        "C........H": "oscillating_hot",
        "CC......HH": "oscillating_hot",
        # >= 90 % hot, then a significant cold final step: the final step decides
        "HHHHHHHHHC": "oscillating_cold",
        # a run of one after earlier hot spots: sporadic, not consecutive
        "HH.......H": "sporadic_hot",
        "HHHH.HHHHH": "persistent_hot",  # 9 of 10 is 90 %
    }
    rows = [series(flags) for flags in cases]
    z = np.vstack([r[0] for r in rows])
    p = np.vstack([r[1] for r in rows])
    assert classify_series(z, p).tolist() == list(cases.values())
    # An untested grid (NaN z) has no pattern.
    z[0, 3] = np.nan
    assert classify_series(z, p)[0] == "no_pattern"


def test_trend_strength_decides_between_the_three_mostly_hot_patterns() -> None:
    _, rising_z, rising_p = mann_kendall(RISING[None, :])
    _, _, level_p = mann_kendall(LEVEL[None, :])
    assert rising_p[0] < 0.05 and rising_z[0] > 0
    assert level_p[0] > 0.05


def test_space_time_gi_star_matches_the_formula_on_a_small_cube() -> None:
    """Neighbours of (cell, month): Queen cells this month; the cell and them last month."""
    rows, cols, months = 3, 4, 4
    w = GridWeights.from_polygons(lattice(rows, cols))
    rng = np.random.default_rng(8)
    cube = rng.poisson(2.0, (rows * cols, months)).astype(float)
    cube[5, 2:] += 9
    z, p = space_time_gi_star(cube, w)
    spatial = queen_sets(rows, cols)
    n = rows * cols
    units: list[set[int]] = []
    for t in range(months):
        for i in range(n):
            same = {t * n + j for j in spatial[i]}
            before = {(t - 1) * n + j for j in spatial[i] | {i}} if t else set()
            units.append(same | before)
    y = cube.T.reshape(-1)
    expected = gi_star_formula(y, units).reshape(months, n).T
    np.testing.assert_allclose(z, expected, rtol=1e-12)
    np.testing.assert_allclose(p, [[math.erfc(abs(v) / math.sqrt(2)) for v in r] for r in z])


def test_emerging_table_finds_a_new_cluster() -> None:
    w = GridWeights.from_polygons(lattice(9, 9))
    months = [date(2024, m, 1) for m in range(1, 7)]
    cube = np.ones((81, 6))
    centre = 4 * 9 + 4
    for j in [centre, *w.adjacency[centre].indices]:
        cube[j, -1] += 12  # a burst in the last month only
    table = emerging_table(w, cube, months)
    assert table.iloc[centre]["pattern"] == "new_hot"
    assert table.iloc[centre]["label"] == "新增热点"
    assert table.iloc[centre]["hot_bins"] == 1
    assert table.iloc[0]["pattern"] == "no_pattern"
    assert table.attrs["periods"][0] == "2024-01-01"
    assert set(table["pattern"]) <= set(PATTERNS)
