"""Hot-spot statistics per grid: Getis-Ord Gi* and emerging hot spots by month.

- `weights`: binary Queen contiguity of a generation's grids (libpysal), cached
  per generation; the space-time weights of the monthly cube.
- `gistar`: Gi* (esda) with 999 permutations, Benjamini–Hochberg FDR on the
  analytic two-sided p-values (ArcGIS's approach; the module says why), and
  ArcGIS's Gi_Bin classes as stable keys with Chinese labels.
- `emerging`: ArcGIS's Emerging Hot Spot Analysis: space-time Gi* per grid and
  month, Mann-Kendall trend of each grid's z-scores, and the patterns new,
  consecutive, intensifying, persistent, diminishing, sporadic, oscillating and
  historical, hot and cold alike.

These functions take counts already made (cases.trends makes them from the
case table); gis/ knows nothing of cases.
"""

from gis.hotspots.emerging import (
    ALPHA,
    PATTERNS,
    TREND_ALPHA,
    classify_series,
    emerging_table,
    mann_kendall,
    space_time_gi_star,
)
from gis.hotspots.gistar import (
    FDR_METHOD,
    FDR_METHOD_ZH,
    HOTSPOT_CLASSES,
    PERMUTATIONS,
    SEED,
    GiStar,
    bh_adjust,
    classify,
    gi_star,
    hotspot_table,
)
from gis.hotspots.weights import (
    GridWeights,
    NoLayout,
    grid_weights,
    space_time_adjacency,
)

__all__ = [
    "ALPHA",
    "FDR_METHOD",
    "FDR_METHOD_ZH",
    "HOTSPOT_CLASSES",
    "PATTERNS",
    "PERMUTATIONS",
    "SEED",
    "TREND_ALPHA",
    "GiStar",
    "GridWeights",
    "NoLayout",
    "bh_adjust",
    "classify",
    "classify_series",
    "emerging_table",
    "gi_star",
    "grid_weights",
    "hotspot_table",
    "mann_kendall",
    "space_time_adjacency",
    "space_time_gi_star",
]
