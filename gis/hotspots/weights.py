"""Contiguity weights of a layout generation's grids, cached per generation.

Two grids are neighbours when their polygons share at least one point (Queen
contiguity, libpysal's `Graph.build_contiguity(rook=False)`), weight 1 (binary).
A generation's grids never change once written (every load writes a new
generation), so the weights are built once per generation and kept in an
in-process LRU keyed by (database, generation id, its creation time): the
creation time tells a database dropped and made afresh (tests, benches) from
the one the cache knew.

A grid with no neighbour (an island) is kept in the weights with an empty row;
`GridWeights.islands` names them, and the statistics leave them untested (see
gis.hotspots.gistar).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property, lru_cache
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp
import sqlalchemy as sa
from libpysal.graph import Graph
from sqlalchemy.engine import Connection, Engine

CACHE_SIZE = 4
"""Generations kept in memory (the current one, and a few a notebook may compare)."""
PERMUTATIONS = 999
SEED = 20_240_601
"""Default seed of the permutations: the same counts give the same map."""


class NoLayout(LookupError):
    """No such layout generation (or no current one), or it has no grids."""


_GRIDS_SQL = sa.text(
    """
    SELECT g.code, g.community_code, c.subdistrict_code, g.area_m2, g.geom
    FROM grid_cell g
    LEFT JOIN community c ON c.generation_id = g.generation_id AND c.code = g.community_code
    WHERE g.generation_id = :generation
    ORDER BY g.code
    """
)
_GENERATION_SQL = sa.text(
    """
    SELECT id, created_at FROM layout_generation
    WHERE CASE WHEN CAST(:generation AS integer) IS NULL THEN is_current
               ELSE id = CAST(:generation AS integer) END
    """
)


def queen_adjacency(polygons: gpd.GeoDataFrame) -> sp.csr_matrix:
    """Binary Queen contiguity of polygons, in row order: symmetric, no diagonal."""
    graph = Graph.build_contiguity(polygons.reset_index(drop=True), rook=False)
    adjacency = sp.csr_matrix(graph.sparse, dtype=np.float64)
    adjacency.setdiag(0)
    adjacency.eliminate_zeros()
    adjacency.data[:] = 1.0
    adjacency.sort_indices()
    return adjacency


def _frozen(matrix: sp.csr_matrix) -> sp.csr_matrix:
    for part in (matrix.data, matrix.indices, matrix.indptr):
        part.flags.writeable = False
    return matrix


@dataclass(frozen=True, eq=False)
class GridWeights:
    """The grids of one generation (ordered by code) and their binary Queen weights.

    `grids` has columns code, community_code, subdistrict_code, area_m2 and the
    polygons (EPSG:4326); row i of `adjacency` is grid i. Read-only: esda's
    permutation engine zeroes the diagonal of a weights object it is given, so
    the statistics hand esda fresh objects built from these arrays.
    """

    generation_id: int | None
    grids: gpd.GeoDataFrame
    adjacency: sp.csr_matrix
    _space_time: dict[int, Graph] = field(default_factory=dict, repr=False)
    _subsets: dict[bytes, GridWeights] = field(default_factory=dict, repr=False)

    @classmethod
    def from_polygons(
        cls, grids: gpd.GeoDataFrame, generation_id: int | None = None
    ) -> GridWeights:
        """Weights of any polygons with a `code` column (a layout, or a test lattice)."""
        if "code" not in grids.columns:
            raise ValueError("the grids need a 'code' column")
        if len(grids) < 3:
            raise ValueError(f"hot spots need at least 3 grids, got {len(grids)}")
        if grids["code"].duplicated().any():
            raise ValueError("grid codes must be unique")
        grids = grids.reset_index(drop=True)
        return cls(generation_id, grids, _frozen(queen_adjacency(grids)))

    @property
    def n(self) -> int:
        """Number of grids."""
        return int(self.adjacency.shape[0])

    @cached_property
    def codes(self) -> np.ndarray:
        """Grid codes in weights order."""
        return self.grids["code"].to_numpy(dtype=str)

    @cached_property
    def cardinalities(self) -> np.ndarray:
        """Number of neighbours of each grid."""
        return np.diff(self.adjacency.indptr)

    @cached_property
    def islands(self) -> np.ndarray:
        """True for a grid without any neighbour."""
        return self.cardinalities == 0

    @cached_property
    def star_graph(self) -> Graph:
        """The weights with each grid its own neighbour (Gi*), as esda takes them."""
        return star_graph(self.adjacency)

    def frame(self, columns: dict[str, Any]) -> gpd.GeoDataFrame:
        """A GeoDataFrame of per-grid columns (weights order) with the grids' polygons."""
        table = pd.DataFrame(columns)
        table["geometry"] = self.grids.geometry.values  # a GeometryArray: keeps the CRS
        return gpd.GeoDataFrame(table, geometry="geometry")

    def space_time_graph(self, periods: int) -> Graph:
        """The space-time weights of `periods` periods with self-weights (Gi*), cached."""
        graph = self._space_time.get(periods)
        if graph is None:
            graph = star_graph(space_time_adjacency(self.adjacency, periods))
            if len(self._space_time) >= 8:
                self._space_time.clear()
            self._space_time[periods] = graph
        return graph

    def warm(self, permutations: int = PERMUTATIONS, seed: int = SEED) -> GridWeights:
        """Draw the permutations and build esda's graph now (part of the cached work)."""
        if self.cardinalities.max(initial=0) > 0:
            permuted_ids(self.n, int(self.cardinalities.max()), permutations, seed)
        _ = self.star_graph
        return self

    def subset(self, keep: np.ndarray) -> GridWeights:
        """The weights restricted to some grids (a boolean mask in weights order).

        Contiguity within the subset is the same as in the whole layout, minus
        the links leaving it; a grid whose neighbours all lie outside becomes an
        island. Subsets are kept with their parent (a subdistrict asked again
        costs nothing).
        """
        keep = np.asarray(keep, dtype=bool)
        if keep.shape != (self.n,):
            raise ValueError(f"the mask must have one entry per grid ({self.n})")
        key = np.packbits(keep).tobytes()
        found = self._subsets.get(key)
        if found is not None:
            return found
        idx = np.flatnonzero(keep)
        if len(idx) < 3:
            raise ValueError(f"hot spots need at least 3 grids, got {len(idx)}")
        sub = sp.csr_matrix(self.adjacency[idx][:, idx])
        sub.sort_indices()
        made = GridWeights(
            self.generation_id, self.grids.iloc[idx].reset_index(drop=True), _frozen(sub)
        )
        if len(self._subsets) >= 32:
            self._subsets.clear()
        self._subsets[key] = made
        return made


def star_graph(adjacency: sp.csr_matrix) -> Graph:
    """A libpysal Graph of `adjacency` plus a self-weight of 1 on every unit (Gi*)."""
    n = adjacency.shape[0]
    return Graph.from_sparse(sp.csr_array(adjacency + sp.identity(n, format="csr")))


def space_time_adjacency(adjacency: sp.csr_matrix, periods: int) -> sp.csr_matrix:
    """Neighbours of (grid, period) units, unit index = period * n + grid.

    A unit's neighbours are its grid's spatial neighbours in the same period,
    and the grid itself and its spatial neighbours in the previous period (the
    space-time cube of ArcGIS's emerging hot spot analysis with a time window
    of one step). No self-weight: Gi* adds it.
    """
    if periods < 1:
        raise ValueError("at least one period")
    n = adjacency.shape[0]
    same = sp.kron(sp.identity(periods, format="csr"), adjacency, format="csr")
    before = sp.kron(
        sp.eye(periods, k=-1, format="csr"),
        adjacency + sp.identity(n, format="csr"),
        format="csr",
    )
    cube = sp.csr_matrix(same + before)
    cube.sort_indices()
    return cube


@lru_cache(maxsize=16)
def permuted_ids(n: int, max_cardinality: int, permutations: int, seed: int) -> np.ndarray:
    """The draws of esda's conditional randomisation, for `seed`.

    esda (esda.crand.vec_permutations without numba) seeds NumPy's legacy
    generator and draws, per permutation, `max_cardinality` distinct ids out of
    the n - 1 other units. They depend on nothing but these four numbers, so
    they are drawn once and reused; the same stream from a private
    RandomState leaves NumPy's global one alone.
    """
    rng = np.random.RandomState(seed)
    out = np.empty((permutations, max_cardinality), dtype=np.int32)
    for k in range(permutations):
        out[k] = rng.choice(n - 1, size=max_cardinality, replace=False)
    out.flags.writeable = False
    return out


# ------------------------------------------------------------------ cache

_CACHE: OrderedDict[tuple[str, int, datetime], GridWeights] = OrderedDict()
_LOCK = threading.Lock()


def read_grids(conn: Connection, generation_id: int) -> gpd.GeoDataFrame:
    """The grids of a generation with their community and subdistrict codes, by code."""
    grids = gpd.read_postgis(
        _GRIDS_SQL, conn, geom_col="geom", params={"generation": generation_id}
    )
    return grids.rename_geometry("geometry")


def grid_weights(engine: Engine, generation_id: int | None = None) -> GridWeights:
    """Weights of a generation's grids (the current one by default), cached.

    Raises NoLayout when there is no such generation or it has fewer than 3 grids.
    """
    with engine.connect() as conn:
        row = conn.execute(_GENERATION_SQL, {"generation": generation_id}).first()
        if row is None:
            which = "current" if generation_id is None else f"generation {generation_id}"
            raise NoLayout(f"no {which} layout: load one with `grid load`")
        key = (engine.url.render_as_string(hide_password=True), int(row.id), row.created_at)
        with _LOCK:
            hit = _CACHE.get(key)
            if hit is not None:
                _CACHE.move_to_end(key)
                return hit
        grids = read_grids(conn, int(row.id))
    if len(grids) < 3:
        raise NoLayout(f"layout generation {row.id} has {len(grids)} grids; hot spots need 3")
    weights = GridWeights.from_polygons(grids, int(row.id)).warm()
    with _LOCK:
        _CACHE[key] = weights
        _CACHE.move_to_end(key)
        while len(_CACHE) > CACHE_SIZE:
            _CACHE.popitem(last=False)
    return weights


def cache_clear() -> None:
    """Forget every cached generation (tests; never needed in service)."""
    with _LOCK:
        _CACHE.clear()


def cache_info() -> dict[str, Any]:
    """What the cache holds: generation ids, newest last."""
    with _LOCK:
        return {"size": len(_CACHE), "generations": [k[1] for k in _CACHE]}
