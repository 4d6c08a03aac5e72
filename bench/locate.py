"""Benchmark: locating points in the sample layout, in bulk and one at a time.

Bulk: 1M random points (seeded, uniform over the home district's bounding
box, so some fall outside it) are COPY-ed into a table, then located
set-based in PostGIS by gis.locate.locate_table. One at a time: a sample of
the same points through gis.locate.locate, one round trip each.

Baselines measured in the same run, since the machine is shared and noisy:
a sequential scan of the same 1M points (`count(*)` with a cheap predicate)
for the bulk path, and a bare `SELECT 1` round trip for the one-point path.

Run: `.venv/bin/python -m bench.locate [--points N] [--single N]`.
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import time
from typing import Any

import numpy as np
import sqlalchemy as sa

from gis.db import get_engine
from gis.locate import ensure_lattice, locate, locate_table
from sample.seed import load_sample


def _points(conn: sa.Connection, n: int, seed: int) -> np.ndarray:
    minx, miny, maxx, maxy = conn.execute(
        sa.text(
            "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM "
            "(SELECT ST_Extent(geom)::geometry e FROM district d JOIN layout_generation g "
            "ON g.id = d.generation_id AND g.is_current WHERE d.is_home) x"
        )
    ).one()
    rng = np.random.default_rng(seed)
    return np.column_stack([rng.uniform(minx, maxx, n), rng.uniform(miny, maxy, n)])


def _copy_points(conn: sa.Connection, pts: np.ndarray) -> None:
    conn.execute(sa.text("DROP TABLE IF EXISTS bench_points"))
    conn.execute(sa.text("CREATE UNLOGGED TABLE bench_points (id bigint, lon float8, lat float8)"))
    buf = io.StringIO()
    np.savetxt(buf, np.column_stack([np.arange(1, len(pts) + 1), pts]), fmt="%d,%.7f,%.7f")
    buf.seek(0)
    raw = conn.connection.driver_connection
    with raw.cursor() as cur:  # type: ignore[union-attr]
        cur.copy_expert("COPY bench_points FROM STDIN WITH (FORMAT csv)", buf)


def bulk(n: int, seed: int = 1) -> dict[str, Any]:
    """Time the set-based locate of n points; returns figures."""
    engine = get_engine()
    with engine.begin() as conn:  # the lattice is derived once per layout, not timed here
        gen = conn.execute(sa.text("SELECT id FROM layout_generation WHERE is_current"))
        ensure_lattice(conn, gen.scalar_one())
    with engine.begin() as conn:
        pts = _points(conn, n, seed)
        t0 = time.perf_counter()
        _copy_points(conn, pts)
        t_copy = time.perf_counter() - t0
    with engine.begin() as conn:
        t0 = time.perf_counter()
        # Unlogged, not temporary: parallel workers cannot read temporary tables.
        conn.execute(sa.text("DROP TABLE IF EXISTS bench_pts"))
        conn.execute(
            sa.text(
                "CREATE UNLOGGED TABLE bench_pts AS "
                "SELECT id, ST_SetSRID(ST_MakePoint(lon, lat), 4326) AS geom FROM bench_points"
            )
        )
        t_geom = time.perf_counter() - t0
        conn.execute(sa.text("ANALYZE bench_pts"))
        t0 = time.perf_counter()
        counts = locate_table(conn, "bench_pts", "located")
        t_locate = time.perf_counter() - t0
        t0 = time.perf_counter()
        conn.execute(sa.text("SELECT count(*) FROM bench_pts WHERE ST_X(geom) > 0")).scalar()
        t_scan = time.perf_counter() - t0
        # Reference: the textbook join, polygons driving a GiST index on the
        # points (built first), contained points only.
        t0 = time.perf_counter()
        conn.execute(sa.text("CREATE INDEX bench_pts_geom ON bench_pts USING gist (geom)"))
        t_index = time.perf_counter() - t0
        t0 = time.perf_counter()
        conn.execute(
            sa.text("""
            SELECT count(*) FROM grid_cell g
            JOIN layout_generation l ON l.id = g.generation_id AND l.is_current
            JOIN bench_pts p ON ST_Intersects(g.geom, p.geom)""")
        ).scalar()
        t_gist = time.perf_counter() - t0
    return {
        "points": n,
        "copy_s": round(t_copy, 3),
        "make_points_s": round(t_geom, 3),
        "locate_s": round(t_locate, 3),
        "baseline_scan_s": round(t_scan, 3),
        "locate_vs_scan": round(t_locate / t_scan, 1),
        "counts": counts,
        "points_per_s": round(n / t_locate),
        "reference_gist_index_s": round(t_index, 3),
        "reference_gist_join_s": round(t_gist, 3),
        "reference_total_vs_locate": round((t_index + t_gist) / t_locate, 2),
    }


def single(n: int, seed: int = 2) -> dict[str, Any]:
    """Time n one-point locates through the function, beside a SELECT 1 round trip."""
    engine = get_engine()
    with engine.connect() as conn:
        pts = _points(conn, n, seed)
        for lon, lat in pts[:50]:  # warm up caches and the plan
            locate(conn, float(lon), float(lat))
        times = []
        for lon, lat in pts:
            t0 = time.perf_counter()
            locate(conn, float(lon), float(lat))
            times.append(time.perf_counter() - t0)
        base = []
        for _ in range(n):
            t0 = time.perf_counter()
            conn.execute(sa.text("SELECT 1")).scalar()
            base.append(time.perf_counter() - t0)
    med, p99 = statistics.median(times), float(np.percentile(times, 99))
    bmed = statistics.median(base)
    return {
        "calls": n,
        "median_ms": round(med * 1e3, 3),
        "p99_ms": round(p99 * 1e3, 3),
        "select1_median_ms": round(bmed * 1e3, 3),
        "locate_vs_select1": round(med / bmed, 1),
        "extrapolated_1M_s": round(sum(times) / n * 1e6, 1),
    }


def main() -> None:
    """Run both and print JSON."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--single", type=int, default=5_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    load_sample(get_engine())
    runs = [bulk(args.points, seed=i + 1) for i in range(args.repeat)]
    best = min(runs, key=lambda r: r["locate_s"])
    print(
        json.dumps(
            {"bulk_runs": runs, "bulk_best": best, "single": single(args.single)},
            ensure_ascii=False,
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
