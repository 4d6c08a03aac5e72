"""Emerging hot spots by month: space-time Gi*, Mann-Kendall, ArcGIS's patterns.

The method is ArcGIS Pro's Emerging Hot Spot Analysis ("How Emerging Hot Spot
Analysis works", Space Time Pattern Mining toolbox):

1. Gi* for every (grid, month) bin of the space-time cube, with the bin's
   neighbours in space (the grid's Queen neighbours, same month) and in time
   (the grid itself and its neighbours in the previous month): esda's
   `G_Local(star=True)` on binary space-time weights
   (gis.hotspots.weights.space_time_adjacency), analytic z and two-sided p,
   the cube's mean and variance as reference. The bins' p-values are
   controlled for the false discovery rate together (Benjamini–Hochberg over
   every tested bin of the cube, as ArcGIS applies its FDR correction); a bin
   is a significant hot (cold) spot when its adjusted p <= `alpha` and z > 0
   (z < 0).
2. The Mann-Kendall trend test of each grid's series of z-scores (S with the
   ties correction of the variance, continuity-corrected Z, two-sided p),
   vectorised over grids (`mann_kendall`); a trend is significant when
   p <= `trend_alpha`.
3. Each grid gets one pattern. ArcGIS's definitions (hot spots; cold spots
   read the same with "cold" for "hot", and for intensifying/diminishing the
   clustering of low values growing stronger, i.e. z falling, or weaker):

   - new: a significant hot spot in the final time step that has never been a
     significant hot spot before;
   - consecutive: a single uninterrupted run of at least two significant hot
     spot bins in the final time steps, never a significant hot spot before
     that run, and less than 90 % of all bins hot spots;
   - intensifying: a significant hot spot for 90 % of the time steps,
     including the final one, and the intensity of clustering of high counts
     increasing overall, significantly;
   - persistent: a significant hot spot for 90 % of the time steps with no
     discernible trend in the intensity of clustering;
   - diminishing: a significant hot spot for 90 % of the time steps,
     including the final one, and the intensity of clustering decreasing
     overall, significantly;
   - sporadic: a significant hot spot in the final time step with a history of
     being an on-again, off-again hot spot; less than 90 % of the time steps
     hot spots, and never a significant cold spot;
   - oscillating: a significant hot spot in the final time step that has been
     a significant cold spot in an earlier time step; less than 90 % of the
     time steps hot spots;
   - historical: the most recent time step is not hot, but at least 90 % of
     the time steps have been significant hot spots;
   - no pattern: none of the above.

   Where the definitions overlap, the order is: (a) a final hot bin with
   >= 90 % hot bins is intensifying, diminishing or else persistent (so
   persistent includes the final step; a grid whose final step is not hot
   but >= 90 % were is historical); (b) otherwise a final hot bin with any
   cold bin before is oscillating, even when it would also read as new or
   consecutive; (c) then new (the only hot bin), consecutive (every hot bin
   in the final run, run >= 2) and sporadic (anything else); (d) a
   significant final bin decides between hot and cold patterns (a final cold
   bin after >= 90 % hot ones is an oscillating cold spot, not a historical
   hot spot). "90 %" is hot bins / time steps >= 0.9.

Spatial islands are not tested (pattern no_pattern, `island` True), as in the
Gi* map; their counts stay in the cube's mean and variance.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import esda
import geopandas as gpd
import numpy as np
from scipy import stats

from gis.hotspots.gistar import bh_adjust, check_values
from gis.hotspots.weights import GridWeights

MIN_PERIODS = 3
ALPHA = 0.05
"""A bin is a significant hot/cold spot when its FDR-adjusted p-value is at most this."""
TREND_ALPHA = 0.05
"""A Mann-Kendall trend is significant when its p-value is at most this."""

_KINDS = (
    ("new", "新增"),
    ("consecutive", "连续"),
    ("intensifying", "加强"),
    ("persistent", "持续"),
    ("diminishing", "减弱"),
    ("sporadic", "零星"),
    ("oscillating", "振荡"),
    ("historical", "历史"),
)
PATTERNS: dict[str, str] = {
    **{f"{key}_hot": f"{name}热点" for key, name in _KINDS},
    **{f"{key}_cold": f"{name}冷点" for key, name in _KINDS},
    "no_pattern": "无明显模式",
}
"""Stable pattern keys and their Chinese legend labels, in legend order."""


def space_time_gi_star(counts: object, weights: GridWeights) -> tuple[np.ndarray, np.ndarray]:
    """Gi* z and two-sided analytic p of every (grid, period) bin: two (n, T) arrays.

    `counts` is (n grids in weights order, T periods, oldest first). Islands'
    rows are NaN.
    """
    cube = np.asarray(counts, dtype=np.float64)
    if cube.ndim != 2 or cube.shape[0] != weights.n:
        raise ValueError(f"counts must be (grids={weights.n}, periods)")
    n, periods = cube.shape
    if periods < MIN_PERIODS:
        raise ValueError(f"emerging hot spots need at least {MIN_PERIODS} periods")
    y = check_values(cube.T.reshape(-1), n * periods)  # unit = period * n + grid
    if y.max() == y.min():
        z = np.zeros((n, periods))
        p = np.ones((n, periods))
    else:
        graph = weights.space_time_graph(periods)
        lg = esda.G_Local(y, graph, transform="B", permutations=0, star=True)
        z = np.asarray(lg.Zs, dtype=np.float64).reshape(periods, n).T
        p = np.minimum(2.0 * stats.norm.sf(np.abs(z)), 1.0)
    z[weights.islands] = np.nan
    p[weights.islands] = np.nan
    return z, p


def mann_kendall(series: object) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mann-Kendall test of each row: (S, Z, two-sided p), vectorised.

    S = sum over i < j of sign(x_j - x_i); Var(S) = [T(T-1)(2T+5) - sum over
    tie groups of t(t-1)(2t+5)] / 18; Z = (S - 1)/sd if S > 0, (S + 1)/sd if
    S < 0, else 0; p = 2 (1 - Phi(|Z|)). A row with a NaN gives NaN.
    """
    x = np.asarray(series, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError("series must be a 2-D array, one series per row")
    t = x.shape[1]
    diff = x[:, None, :] - x[:, :, None]  # [r, i, j] = x_j - x_i
    upper = np.triu(np.ones((t, t), dtype=bool), k=1)
    s = np.sign(diff[:, upper]).sum(axis=1)
    group = (diff == 0).sum(axis=2)  # size of each value's tie group (itself included)
    ties = ((group - 1) * (2 * group + 5)).sum(axis=1)
    var = (t * (t - 1) * (2 * t + 5) - ties) / 18.0
    sd = np.sqrt(np.where(var > 0, var, np.nan))
    z = np.where(s > 0, (s - 1) / sd, np.where(s < 0, (s + 1) / sd, 0.0))
    z = np.where(var > 0, z, 0.0)
    p = np.minimum(2.0 * stats.norm.sf(np.abs(z)), 1.0)
    bad = np.isnan(x).any(axis=1)
    s[bad] = np.nan
    z[bad] = np.nan
    p[bad] = np.nan
    return s, z, p


def _trailing_run(flags: np.ndarray) -> np.ndarray:
    """Length of the run of True at the end of each row."""
    t = flags.shape[1]
    rev = ~flags[:, ::-1]
    first_false = np.argmax(rev, axis=1)
    return np.where(rev.any(axis=1), first_false, t)


def _patterns_of(
    kind: str,
    this: np.ndarray,
    other: np.ndarray,
    stronger: np.ndarray,
    weaker: np.ndarray,
) -> np.ndarray:
    """Pattern keys of one kind (hot or cold) per row, '' where none applies."""
    periods = this.shape[1]
    count = this.sum(axis=1)
    mostly = count * 10 >= 9 * periods  # >= 90 % of the time steps
    final = this[:, -1]
    run = _trailing_run(this)
    out = np.full(this.shape[0], "", dtype=object)
    choices = [
        (final & mostly & stronger, "intensifying"),
        (final & mostly & weaker, "diminishing"),
        (final & mostly, "persistent"),
        (final & other.any(axis=1), "oscillating"),
        (final & (count == 1), "new"),
        (final & (run >= 2) & (run == count), "consecutive"),
        (final, "sporadic"),
        (~final & mostly, "historical"),
    ]
    for mask, name in reversed(choices):  # the first that applies wins
        out[mask] = f"{name}_{kind}"
    return out


def classify_series(
    z: object,
    p: object,
    *,
    alpha: float = ALPHA,
    trend_alpha: float = TREND_ALPHA,
) -> np.ndarray:
    """Pattern key per row of bin z-scores and (FDR-adjusted) p-values, (n, T) each.

    A bin is a significant hot spot when p <= alpha and z > 0, cold when
    p <= alpha and z < 0; the trend is Mann-Kendall's on the z row. A row with
    a NaN z is no_pattern. See the module docstring for the patterns.
    """
    zz = np.asarray(z, dtype=np.float64)
    pp = np.asarray(p, dtype=np.float64)
    if zz.ndim != 2 or zz.shape != pp.shape:
        raise ValueError("z and p must be 2-D arrays of the same shape")
    if zz.shape[1] < MIN_PERIODS:
        raise ValueError(f"emerging hot spots need at least {MIN_PERIODS} periods")
    valid = np.asarray(~np.isnan(zz).any(axis=1), dtype=bool)
    sig = ~np.isnan(pp) & (pp <= alpha)
    hot = sig & (zz > 0)
    cold = sig & (zz < 0)
    _, trend_z, trend_p = mann_kendall(np.where(valid[:, None], zz, 0.0))
    rising = (trend_p <= trend_alpha) & (trend_z > 0)
    falling = (trend_p <= trend_alpha) & (trend_z < 0)
    hot_keys = _patterns_of("hot", hot, cold, rising, falling)
    cold_keys = _patterns_of("cold", cold, hot, falling, rising)
    # A significant final bin decides the kind (hot or cold); without one, only
    # "historical" can apply, and to one kind at most.
    out = np.where(hot[:, -1], hot_keys, np.where(cold[:, -1], cold_keys, ""))
    out = np.where(out == "", np.where(hot_keys != "", hot_keys, cold_keys), out)
    out = np.where(out == "", "no_pattern", out).astype(object)
    out[~valid] = "no_pattern"
    return out


def emerging_table(
    weights: GridWeights,
    counts: object,
    periods: Sequence[date],
    *,
    alpha: float = ALPHA,
    trend_alpha: float = TREND_ALPHA,
) -> gpd.GeoDataFrame:
    """Emerging hot-spot pattern per grid, from counts per (grid, period).

    `counts` is (n grids in weights order, T periods); `periods` names them
    (first day of each month, oldest first). Columns: grid_code, pattern,
    label (Chinese), hot_bins, cold_bins, trend_z, trend_p (Mann-Kendall of
    the grid's z series), final_z, island, and the polygon. `attrs` holds the
    periods, alpha levels and the FDR method.
    """
    cube = np.asarray(counts, dtype=np.float64)
    if cube.ndim != 2 or cube.shape[1] != len(periods):
        raise ValueError("one column of counts per period")
    z, p = space_time_gi_star(cube, weights)
    q = bh_adjust(p.reshape(-1)).reshape(p.shape)
    keys = classify_series(z, q, alpha=alpha, trend_alpha=trend_alpha)
    sig = ~np.isnan(q) & (q <= alpha)
    _, trend_z, trend_p = mann_kendall(z)
    table = weights.frame(
        {
            "grid_code": weights.codes,
            "pattern": keys,
            "label": [PATTERNS[k] for k in keys],
            "hot_bins": (sig & (z > 0)).sum(axis=1),
            "cold_bins": (sig & (z < 0)).sum(axis=1),
            "trend_z": trend_z,
            "trend_p": trend_p,
            "final_z": z[:, -1],
            "island": weights.islands,
        }
    )
    table.attrs.update(
        {
            "periods": [d.isoformat() for d in periods],
            "alpha": alpha,
            "trend_alpha": trend_alpha,
            "fdr_method": "Benjamini–Hochberg FDR over every bin of the space-time cube, "
            "on analytic two-sided p-values",
            "trend_test": "Mann-Kendall (original, ties-corrected variance, two-sided)",
            "generation_id": weights.generation_id,
        }
    )
    return table
