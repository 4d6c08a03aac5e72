"""Bench: Gi* with 999 permutations and emerging hot spots on the sample layout.

`python -m bench.hotspots [--months 12] [--repeat 7]` on the configured
database (the sample layout is loaded if it is not current). Counts: the
cases of the database over the last `months` whole months when at least
1,000 of them lie in grids (then the SQL counting is timed too, and the
end-to-end `cases.trends` calls); otherwise seeded synthetic counts with
planted clusters, said so in the output (`counts_source`).

Figures, each the median of `--repeat` runs (min beside), on a shared machine:
- the weights, built cold (read the polygons with geopandas, libpysal Queen
  contiguity, esda's permutation draws): the one-off cost the cache saves;
- Gi* per grid with 999 permutations, weights cached (`hotspot_table`: esda's
  statistic, vectorised conditional randomisation, BH FDR, classes): target
  200 ms or less;
- same-run baselines: esda's own `G_Local(permutations=999)` (its engine,
  what the vectorised one replaces; same p-values) and `G_Local` without
  permutations (the statistic alone: the floor);
- emerging hot spots over `months` months (space-time Gi*, Mann-Kendall,
  patterns), first call (builds the space-time weights) and cached;
- how many grids BH at 0.05 passes on permutation vs analytic p-values (why
  the classes use the analytic ones).

Prints JSON. `run()` returns the same dict and `render()` markdown lines, for
bench/run.py.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable
from datetime import date
from typing import Any, TypeVar

import numpy as np
import pandas as pd
import sqlalchemy as sa

from gis.db import get_engine
from gis.hotspots import (
    PERMUTATIONS,
    bh_adjust,
    emerging_table,
    gi_star,
    grid_weights,
    hotspot_table,
)
from gis.hotspots import weights as weights_mod

TARGET_GI_S = 0.200
T = TypeVar("T")


def _timed(fn: Callable[[], T], repeat: int) -> tuple[dict[str, float], T]:
    times = []
    for _ in range(max(repeat, 1)):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return {
        "median_ms": round(statistics.median(times) * 1e3, 1),
        "min_ms": round(min(times) * 1e3, 1),
        "runs": repeat,
    }, out


def _synthetic(n: int, months: int, seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    """Counts per grid and per grid-month: gamma-Poisson noise and a few clusters."""
    rng = np.random.default_rng(seed)
    rate = rng.gamma(0.8, 3.0, n)
    centres = rng.choice(n, 12, replace=False)
    rate[centres] += 40
    trend = np.ones((n, months))
    trend[centres[:4]] = np.linspace(0.3, 2.0, months)  # growing clusters
    cube = rng.poisson(rate[:, None] * trend / months * 3)
    return cube.sum(axis=1), cube


def _cases_in_grids(engine: sa.Engine, since: date) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                sa.text(
                    "SELECT count(*) FROM case_file WHERE grid_code IS NOT NULL "
                    "AND reported_at >= CAST(:s AS date)"
                ),
                {"s": since},
            ).scalar_one()
        )


def run(months: int = 12, repeat: int = 7) -> dict[str, Any]:
    """Measure; returns the figures (see the module docstring)."""
    from cases import trends
    from sample.seed import load_sample

    engine = get_engine()
    load_sample(engine)
    out: dict[str, Any] = {"load_average_before": os.getloadavg()[0], "months": months}

    # Weights, cold: what the per-generation cache saves on every later call.
    def cold() -> weights_mod.GridWeights:
        weights_mod.cache_clear()
        weights_mod.permuted_ids.cache_clear()
        return grid_weights(engine)

    out["weights_cold"], _ = _timed(cold, 3)
    weights = grid_weights(engine)
    with engine.connect() as conn:
        t0 = time.perf_counter()
        grids = weights_mod.read_grids(conn, int(weights.generation_id or 0))
        read_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    weights_mod.queen_adjacency(grids)
    queen_s = time.perf_counter() - t0
    out["weights_parts_ms"] = {
        "read_polygons": round(read_s * 1e3, 1),
        "queen": round(queen_s * 1e3, 1),
    }
    out["grids"] = weights.n
    out["links"] = int(weights.adjacency.nnz)
    out["islands"] = int(weights.islands.sum())

    # Counts: the database's cases when there are enough, else synthetic.
    periods = trends.month_window(months, trends.CaseFilters())
    in_grids = _cases_in_grids(engine, periods[0])
    last_day = (pd.Timestamp(periods[-1]) + pd.offsets.MonthEnd(0)).date()
    filters = trends.CaseFilters(date_from=periods[0], date_to=last_day)
    if in_grids >= 1000:
        out["counts_source"] = f"database: {in_grids:,} cases in grids since {periods[0]}"
        out["count_by_grid_sql"], frame = _timed(lambda: trends.count_by_grid(engine, filters), 3)
        counts = frame["count"].to_numpy()
        out["count_by_grid_month_sql"], mframe = _timed(
            lambda: trends.count_by_grid_month(engine, months, trends.CaseFilters()), 3
        )
        cube = mframe.iloc[:, 1:].to_numpy()
    else:
        out["counts_source"] = f"synthetic (the database has {in_grids} cases in grids)"
        counts, cube = _synthetic(weights.n, months)
    out["cases_counted"] = int(np.sum(counts))

    # Gi*, weights cached; and the same-run baselines.
    out["gi_star_999"], table = _timed(lambda: hotspot_table(weights, counts), repeat)
    out["baseline_esda_999"], _ = _timed(
        lambda: gi_star(counts, weights, randomisation="esda"), max(3, repeat // 2)
    )
    out["baseline_statistic_only"], _ = _timed(
        lambda: gi_star(counts, weights, permutations=0), repeat
    )
    gi_ms = out["gi_star_999"]["median_ms"]
    out["gi_vs_esda"] = round(gi_ms / out["baseline_esda_999"]["median_ms"], 3)
    out["gi_vs_statistic_only"] = round(gi_ms / out["baseline_statistic_only"]["median_ms"], 1)
    out["gi_target_ms"] = TARGET_GI_S * 1e3
    out["gi_target_met"] = gi_ms <= TARGET_GI_S * 1e3
    classes = table["hotspot_class"].value_counts()
    out["classes"] = {str(k): int(v) for k, v in classes.items()}
    p_sim = table["p_sim"].to_numpy()
    p_norm = table["p_norm"].to_numpy()
    gi_z = table["gi_z"].to_numpy()
    sim_pass = bh_adjust(p_sim) <= 0.05
    out["bh_005_passes"] = {
        "on_permutation_p": int(sim_pass.sum()),
        "on_permutation_p_cold": int((sim_pass & (gi_z < 0)).sum()),
        "on_analytic_two_sided_p": int((bh_adjust(p_norm) <= 0.05).sum()),
        "lowest_z": round(float(np.nanmin(gi_z)), 2),
        "grids_at_the_permutation_floor": int((p_sim <= 1 / (PERMUTATIONS + 1) + 1e-12).sum()),
    }

    # Emerging hot spots: first call builds the space-time weights, later ones reuse them.
    weights._space_time.clear()
    out["emerging_first"], _ = _timed(lambda: emerging_table(weights, cube, periods), 1)
    out["emerging_cached"], em = _timed(lambda: emerging_table(weights, cube, periods), repeat)
    patterns = em["pattern"].value_counts()
    out["patterns"] = {str(k): int(v) for k, v in patterns.items()}

    if in_grids >= 1000:  # end to end, as the API will call them
        out["trends_hotspots"], _ = _timed(lambda: trends.hotspots(engine, filters), 3)
        out["trends_emerging"], _ = _timed(lambda: trends.emerging_hotspots(engine, months), 3)
    out["load_average_after"] = os.getloadavg()[0]
    return out


def render(r: dict[str, Any]) -> list[str]:
    """Markdown lines for bench/RESULTS.md."""
    ok = "met" if r["gi_target_met"] else "**not met**"
    lines = [
        "## Hot spots (bench/hotspots.py)",
        "",
        f"Sample layout: {r['grids']:,} grids, {r['links']:,} Queen links, {r['islands']} "
        f"islands. Counts: {r['counts_source']} ({r['cases_counted']:,} counted). Medians "
        f"(min) of repeated runs; load average {r['load_average_before']:.1f} → "
        f"{r['load_average_after']:.1f}.",
        "",
        "| step | median | min | ÷ esda's own 999 permutations |",
        "|---|---:|---:|---:|",
    ]

    def row(name: str, key: str) -> None:
        f = r[key]
        ratio = f["median_ms"] / r["baseline_esda_999"]["median_ms"]
        lines.append(f"| {name} | {f['median_ms']} ms | {f['min_ms']} ms | {ratio:.2f} |")

    row("**Gi\\* + 999 permutations + FDR + classes, weights cached**", "gi_star_999")
    row("baseline: esda `G_Local(permutations=999)` (its own engine)", "baseline_esda_999")
    row("baseline: esda `G_Local` statistic only (no permutations)", "baseline_statistic_only")
    row("weights built cold (polygons, Queen, draws)", "weights_cold")
    row(f"emerging hot spots, {r['months']} months, first call", "emerging_first")
    row(f"emerging hot spots, {r['months']} months, cached weights", "emerging_cached")
    for key, name in (
        ("count_by_grid_sql", "SQL: cases per grid"),
        ("count_by_grid_month_sql", "SQL: cases per grid and month"),
        ("trends_hotspots", "end to end: cases.trends.hotspots"),
        ("trends_emerging", "end to end: cases.trends.emerging_hotspots"),
    ):
        if key in r:
            row(name, key)
    bh = r["bh_005_passes"]
    lines += [
        "",
        f"- target: Gi\\* with 999 permutations in 200 ms or less, weights cached: {ok} "
        f"(median {r['gi_star_999']['median_ms']} ms; {r['gi_vs_esda']} × esda's own).",
        f"- BH at 0.05 passes {bh['on_permutation_p']} grids on permutation p-values "
        f"({bh['on_permutation_p_cold']} of them cold; "
        f"{bh['grids_at_the_permutation_floor']} grids at the 0.001 floor) and "
        f"{bh['on_analytic_two_sided_p']} on analytic two-sided p-values (the classes; "
        f"lowest z {bh['lowest_z']}).",
        f"- classes: {r['classes']}; patterns: {r['patterns']}.",
        "",
    ]
    return lines


def main() -> None:
    """Run and print JSON (and the markdown lines)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--markdown", action="store_true", help="print RESULTS.md lines too")
    args = parser.parse_args()
    results = run(args.months, args.repeat)
    print(json.dumps(results, ensure_ascii=False, indent=1))
    if args.markdown:
        print("\n".join(render(results)))


if __name__ == "__main__":
    main()
