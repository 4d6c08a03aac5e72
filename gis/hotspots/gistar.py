"""Getis-Ord Gi* per grid, its false discovery rate, and ArcGIS's confidence classes.

The statistic is esda's `G_Local(y, w, transform="B", star=True)` on binary
Queen weights (gis.hotspots.weights): its z-score `Zs` is Ord and Getis's
(1995) standardised Gi*, the same z that ArcGIS's Hot Spot Analysis reports.

Significance and the false discovery rate. A permutation p-value cannot fall
below 1 / (permutations + 1), 0.001 with 999 permutations. Benjamini–Hochberg
over the ~1,700 grids of the district rejects the k smallest p-values only if
p_(k) <= k * alpha / 1,700: with every p at least 0.001, nothing passes at
0.05 unless 34 grids or more sit on that floor (170 for the 99 % class),
however strong a single cluster is, and no class can tell a z of 4 from one
of 40; enough permutations to lower the floor would cost a hundred times
more. The classes are therefore drawn, as ArcGIS's Hot Spot Analysis does
with its FDR option, from the analytic (normal) two-sided p-values of the
z-scores: Benjamini–Hochberg adjusted p-values (q) over the tested grids, and
a grid is a hot (z > 0) or cold (z < 0) spot at 99 / 95 / 90 % confidence when
q <= 0.01 / 0.05 / 0.10 (the same as ArcGIS's per-level FDR critical p-values;
its Gi_Bin ±3/±2/±1). The 999 permutations still run (esda's conditional
randomisation) and their pseudo p-value is reported beside, as `p_sim`, for
readers who want it.

What the choice costs: the normal approximation is poor for very skewed
counts. On the generated sample year (median 8 cases per grid, maximum 820)
the lowest z is about -1, so no grid can be a cold spot, while BH on `p_sim`
passes about 600 low-count neighbourhoods as cold (and a few more hot ones,
125 grids sitting on the 0.001 floor). Hot spots, what the bureau acts on,
agree; read "no cold spot" on such data as "not testable by this method".

Speed: esda's own randomisation loops in Python over the grids, about
0.5-1 s for the district here (numba, not a dependency, compiled it in two
minutes and then ran it in 0.5 s). `gi_star` therefore asks esda for the
statistic only (`permutations=0`) and runs the same conditional
randomisation vectorised over grids with NumPy: the same draws for the same
seed (gis.hotspots.weights.permuted_ids), the same comparison ("directed",
folded to the nearer tail), so `p_sim` equals esda's for integer counts (a
test checks it). `randomisation="esda"` runs esda's own engine instead.

Islands (grids with no neighbour) have no neighbourhood to cluster with: they
are not tested (gi_z, p-values NaN, class `not_significant`, `island` True)
and are left out of the FDR's count of tests, but their counts stay in the
district's mean and variance that every other grid is compared with. A
constant surface (no cases at all, say) has no hot spot: z 0, p 1.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Literal

import esda
import geopandas as gpd
import numpy as np
from scipy import stats

from gis.hotspots.weights import PERMUTATIONS, SEED, GridWeights, permuted_ids, star_graph

FDR_METHOD = "Benjamini–Hochberg FDR on analytic two-sided p-values (ArcGIS's approach)"
FDR_METHOD_ZH = "Benjamini–Hochberg 错误发现率校正（基于正态近似的双侧 p 值，同 ArcGIS）"

CONFIDENCE_LEVELS: tuple[tuple[int, float], ...] = ((99, 0.01), (95, 0.05), (90, 0.10))
"""(confidence %, FDR level) from the strictest: ArcGIS's Gi_Bin ±3, ±2, ±1."""

HOTSPOT_CLASSES: dict[str, str] = {
    "hot_99": "热点（99% 置信度）",
    "hot_95": "热点（95% 置信度）",
    "hot_90": "热点（90% 置信度）",
    "not_significant": "不显著",
    "cold_90": "冷点（90% 置信度）",
    "cold_95": "冷点（95% 置信度）",
    "cold_99": "冷点（99% 置信度）",
}
"""Stable class keys and their Chinese legend labels, in legend order (hot to cold)."""

Randomisation = Literal["vectorised", "esda"]


@dataclass(frozen=True)
class GiStar:
    """Gi* of each unit: z-score, analytic two-sided p, permutation pseudo p.

    Untested units (islands) have NaN in every array and False in `tested`.
    """

    z: np.ndarray
    p_norm: np.ndarray
    p_sim: np.ndarray | None
    tested: np.ndarray
    permutations: int
    seed: int | None


def check_values(y: object, n: int) -> np.ndarray:
    """Counts as a float array of length n: finite and non-negative (Gi*'s domain)."""
    arr = np.asarray(y, dtype=np.float64).reshape(-1)
    if arr.shape != (n,):
        raise ValueError(f"expected {n} values, one per unit, got {arr.size}")
    if not np.isfinite(arr).all():
        raise ValueError("values must be finite numbers")
    if (arr < 0).any():
        raise ValueError("Gi* takes non-negative values such as counts")
    return arr


def _analytic(y: np.ndarray, graph: object) -> tuple[np.ndarray, np.ndarray]:
    """esda's Gi* z-scores and two-sided normal p-values (no permutations)."""
    if y.max() == y.min():  # a constant surface: Gi* is 0/0, and nothing clusters
        return np.zeros_like(y), np.ones_like(y)
    lg = esda.G_Local(y, graph, transform="B", permutations=0, star=True)
    z = np.asarray(lg.Zs, dtype=np.float64)
    return z, np.minimum(2.0 * stats.norm.sf(np.abs(z)), 1.0)


def conditional_randomisation(
    y: np.ndarray, adjacency: object, permutations: int, seed: int
) -> np.ndarray:
    """esda's Gi* permutation pseudo p-values, vectorised over units.

    For unit i with k neighbours, each permutation draws k of the n - 1 other
    units (esda's draws: the first k of a row of `permuted_ids`, skipping i) and
    sums their values; `larger` counts draws at least the observed neighbour
    sum, folded to the nearer tail; p = (larger + 1) / (permutations + 1).
    The self-value is in both sums, so it is left out of both. Units with no
    neighbour get NaN. Work: permutations x (number of links), in NumPy.
    """
    import scipy.sparse as sp

    adj = sp.csr_matrix(adjacency)
    n = adj.shape[0]
    card = np.diff(adj.indptr)
    out = np.full(n, np.nan)
    if card.max(initial=0) == 0:
        return out
    ids = permuted_ids(n, int(card.max()), permutations, seed)
    integral = bool(np.all(y == np.round(y))) and y.sum() < 2**31
    vals = y.astype(np.int32 if integral else np.float64)
    observed = adj @ vals.astype(np.float64)
    observed = observed.astype(vals.dtype)
    drawn = vals[ids]  # value of draw c when it does not skip i
    shift = vals[ids + 1] - drawn  # change when the draw lands at or after i
    prefix = np.cumsum(drawn, axis=1, dtype=vals.dtype)
    larger = np.zeros(n, dtype=np.int64)
    for k in np.unique(card[card > 0]):
        rows = np.flatnonzero(card == k).astype(np.int32)
        sims = np.empty((permutations, len(rows)), dtype=vals.dtype)
        sims[:] = prefix[:, k - 1, None]
        after = np.empty((permutations, len(rows)), dtype=bool)
        for c in range(int(k)):
            # A drawn id j stands for unit j + 1 when j >= i (esda skips i itself).
            np.greater_equal(ids[:, c, None], rows[None, :], out=after)
            np.add(sims, shift[:, c, None], out=sims, where=after)
        larger[rows] = (sims >= observed[rows]).sum(axis=0)
    folded = (permutations - larger) < larger
    larger[folded] = permutations - larger[folded]
    tested = card > 0
    out[tested] = (larger[tested] + 1.0) / (permutations + 1.0)
    return out


def _esda_randomisation(
    y: np.ndarray, weights: GridWeights, permutations: int, seed: int
) -> np.ndarray:
    """esda's own engine, on a fresh Graph (it zeroes the diagonal of what it gets)."""
    with warnings.catch_warnings():
        # esda announces a future change of the default alternative; ours is explicit here.
        warnings.filterwarnings("ignore", message="The alternative hypothesis")
        lg = esda.G_Local(
            y,
            star_graph(weights.adjacency),
            transform="B",
            permutations=permutations,
            star=True,
            seed=seed,
            n_jobs=1,
            keep_simulations=False,
        )
    p = np.asarray(lg.p_sim, dtype=np.float64)
    p[weights.islands] = np.nan
    return p


def gi_star(
    y: object,
    weights: GridWeights,
    *,
    permutations: int = PERMUTATIONS,
    seed: int = SEED,
    randomisation: Randomisation = "vectorised",
) -> GiStar:
    """Gi* of counts `y` (one per grid, in weights order) with `permutations` draws.

    Islands are not tested (NaN). `randomisation` picks the permutation engine:
    the vectorised one (default, same draws and p-values as esda's) or esda's.
    """
    values = check_values(y, weights.n)
    if permutations < 0:
        raise ValueError("permutations must be 0 or more")
    z, p_norm = _analytic(values, weights.star_graph)
    p_sim: np.ndarray | None = None
    if permutations:
        if values.max() == values.min():
            p_sim = np.ones_like(values)
        elif randomisation == "esda":
            p_sim = _esda_randomisation(values, weights, permutations, seed)
        elif randomisation == "vectorised":
            p_sim = conditional_randomisation(values, weights.adjacency, permutations, seed)
        else:
            raise ValueError(f"unknown randomisation {randomisation!r}")
    tested = ~weights.islands
    z = np.where(tested, z, np.nan)
    p_norm = np.where(tested, p_norm, np.nan)
    if p_sim is not None:
        p_sim = np.where(tested, p_sim, np.nan)
    return GiStar(z, p_norm, p_sim, tested, permutations, seed if permutations else None)


def bh_adjust(p: object) -> np.ndarray:
    """Benjamini–Hochberg adjusted p-values (q); NaN stays NaN and is not counted.

    q_(k) = min over j >= k of m * p_(j) / j, capped at 1, where m is the number
    of p-values that are not NaN. Rejecting q <= alpha is BH's step-up at alpha.
    """
    arr = np.asarray(p, dtype=np.float64).reshape(-1)
    out = np.full(arr.shape, np.nan)
    ok = ~np.isnan(arr)
    m = int(ok.sum())
    if m == 0:
        return out
    vals = arr[ok]
    if ((vals < 0) | (vals > 1)).any():
        raise ValueError("p-values must lie in [0, 1]")
    order = np.argsort(vals, kind="stable")
    scaled = vals[order] * m / np.arange(1, m + 1)
    q_sorted = np.minimum.accumulate(scaled[::-1])[::-1]
    q = np.empty(m)
    q[order] = np.minimum(q_sorted, 1.0)
    out[ok] = q
    return out


def classify(z: object, q: object) -> np.ndarray:
    """Class keys from z-scores and FDR-adjusted p-values (see HOTSPOT_CLASSES).

    hot_99 / cold_99 when q <= 0.01, *_95 when q <= 0.05, *_90 when q <= 0.10,
    hot for z > 0 and cold for z < 0; anything else (NaN too) not_significant.
    """
    zz = np.asarray(z, dtype=np.float64).reshape(-1)
    qq = np.asarray(q, dtype=np.float64).reshape(-1)
    if zz.shape != qq.shape:
        raise ValueError("z and q must have the same length")
    out = np.full(zz.shape, "not_significant", dtype=object)
    for level, alpha in reversed(CONFIDENCE_LEVELS):  # 90, then 95 and 99 overwrite
        sig = ~np.isnan(qq) & (qq <= alpha)
        out[sig & (zz > 0)] = f"hot_{level}"
        out[sig & (zz < 0)] = f"cold_{level}"
    return out


def hotspot_table(
    weights: GridWeights,
    counts: object,
    *,
    permutations: int = PERMUTATIONS,
    seed: int = SEED,
    randomisation: Randomisation = "vectorised",
) -> gpd.GeoDataFrame:
    """Hot and cold spots of counts per grid: one row per grid, in weights order.

    Columns: grid_code, count, gi_z, p_value (the BH-adjusted two-sided analytic
    p-value that decides the class), p_norm (unadjusted), p_sim (permutation
    pseudo p), hotspot_class, label (Chinese), island, and the polygon.
    `attrs` names the FDR method (`fdr_method`, `fdr_method_zh`), the number of
    tests, permutations and seed.
    """
    values = check_values(counts, weights.n)
    gi = gi_star(values, weights, permutations=permutations, seed=seed, randomisation=randomisation)
    q = bh_adjust(gi.p_norm)
    keys = classify(gi.z, q)
    table = weights.frame(
        {
            "grid_code": weights.codes,
            "count": values.astype(np.int64) if np.all(values == np.round(values)) else values,
            "gi_z": gi.z,
            "p_value": q,
            "p_norm": gi.p_norm,
            "p_sim": gi.p_sim if gi.p_sim is not None else np.full(weights.n, np.nan),
            "hotspot_class": keys,
            "label": [HOTSPOT_CLASSES[k] for k in keys],
            "island": weights.islands,
        }
    )
    table.attrs.update(
        {
            "fdr_method": FDR_METHOD,
            "fdr_method_zh": FDR_METHOD_ZH,
            "tests": int(gi.tested.sum()),
            "permutations": permutations,
            "seed": gi.seed,
            "generation_id": weights.generation_id,
        }
    )
    return table
