"""Benchmarks of intake: bulk `grid assign` of 1M points, and the complaint API under load.

`python -m bench.run [--only assign|api]` runs them on this machine and
rewrites bench/RESULTS-intake.md (raw figures in bench/out/results-intake.json).

Database: a bench database of its own (default `community_grid_bench`),
dropped and made afresh at the start of every run: migrated, the sample
layout, a year of sample complaints (~50k cases). The developer database is
never touched.

(a) Bulk: a generated CSV of `--rows` complaints (bench/gen.py, not timed) is
    assigned by `grid assign FILE --crs wgs84 --json` as a subprocess; the wall
    time is end to end (process start to exit) and the JSON gives the steps.
    The WAL written during the run is measured too: it explains the insert step.
(b) API: `grid serve` is started as shipped (one worker per core, unless
    `--workers`), and beside it the bare app bench/bare.py (one SELECT 1 per
    request, same workers). A separate process, wrk with bench/wrk.lua
    (installed with apt-get if missing and possible; else bench/loadgen.py),
    drives the bare endpoint, the API's /healthz (the targets' baseline), then
    `POST /api/v1/complaints` (random points in the district, random subclass),
    at each concurrency of `--connections`, each run bounded in time
    (`--duration`) and requests (`--max-requests`), localhost only; a short
    warm-up precedes each measured run. Servers are stopped at the end, always.
"""

from __future__ import annotations

import argparse
import json
import os
from contextlib import suppress
from typing import Any

from bench import assign as assign_bench
from bench import serve as serve_bench
from bench.common import HERE, OUT, machine_info, ok, prepare_database

RESULTS_MD = HERE / "RESULTS.md"
RESULTS_JSON = OUT / "results.json"


def _render_locate(loc: dict[str, Any]) -> list[str]:
    runs, one = loc["bulk_runs"], loc["single"]
    best = min(runs, key=lambda r: r["locate_s"])
    lines = [
        "## Locating points (bench/locate.py)",
        "",
        f"{best['points']:,} random points, uniform over the bounding box of 蓬江区 (so about "
        "half fall outside it, in the neighbours or nowhere), COPY-ed into an unlogged "
        "table and located set-based by `gis.locate.locate_table` through the layout's "
        "lattice (parallel hash joins on the cell number; no index on the points). "
        "Baseline in the same run: a sequential scan of the same points. Reference in the "
        "same run: the textbook join, grid polygons driving a GiST index on the points "
        "(index built first; contained points only).",
        "",
        "| run | locate | baseline scan | locate ÷ scan | reference: GiST build + join "
        "| reference ÷ locate | contained | snapped | outside |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for i, r in enumerate(runs, start=1):
        c = r["counts"]
        lines.append(
            f"| {i} | **{r['locate_s']} s** | {r['baseline_scan_s']} s | {r['locate_vs_scan']} "
            f"| {r['reference_gist_index_s']} s + {r['reference_gist_join_s']} s "
            f"| {r['reference_total_vs_locate']} | {c.get('contained', 0):,} "
            f"| {c.get('snapped', 0):,} | {c.get('outside', 0):,} |"
        )
    lines += [
        "",
        f"- target: 1M points located in 2 s or less: {ok(best['locate_s'] <= 2.0)} "
        f"(best {best['locate_s']} s, {best['points_per_s']:,} points/s).",
        f"- one at a time through `gis.locate.locate` ({one['calls']:,} calls, one "
        f"round trip each, prepared statement): median {one['median_ms']} ms, p99 "
        f"{one['p99_ms']} ms, against a bare `SELECT 1` round trip of "
        f"{one['select1_median_ms']} ms ({one['locate_vs_select1']} ×); 1M this way "
        f"would take about {one['extrapolated_1M_s']:,} s.",
        "",
    ]
    return lines


def render(results: dict[str, Any]) -> str:
    """RESULTS-intake.md from the figures."""
    m = results["machine"]
    lines = [
        "# Benchmarks: locating points, bulk `grid assign`, the complaint API",
        "",
        "Written by `make bench` (`python -m bench.run`; raw figures in "
        "bench/out/results.json). Targets from the issues; ratios against baselines "
        "measured in the same run, since the machine is shared and noisy.",
        "",
        "## Machine",
        "",
        f"- date: {m['date']}",
        f"- CPU: {m['cpu']}, nproc {m['nproc']}; memory {m['memory_gib']} GiB; "
        f"kernel {m['kernel']}; Python {m['python']}",
        f"- PostgreSQL {m['postgresql']}, PostGIS {m['postgis']} (GEOS {m['geos']}); "
        + ", ".join(f"{k}={v}" for k, v in m["pg_settings"].items()),
        f"- database: `{results['database']['database']}`, made afresh for each part "
        f"(sample layout + {results['database']['sample_cases']:,} sample cases, a year of "
        "the generated complaints)",
        "- the machine is shared with other sessions; the 1-minute load average is "
        "noted beside each figure",
        "",
    ]
    if "locate" in results:
        lines += _render_locate(results["locate"])
    if "assign" in results:
        lines += assign_bench.render(results["assign"])
    if "api" in results:
        lines += serve_bench.render(results["api"])
    return "\n".join(lines)


def main() -> None:
    """Run, record, report."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", choices=("locate", "assign", "api"))
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=1, help="bulk runs (a new file each)")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per API run")
    parser.add_argument("--max-requests", type=int, default=50_000, help="per API run")
    parser.add_argument("--connections", default="4,32", help="comma list")
    parser.add_argument("--workers", type=int, default=None, help="default: grid serve's own")
    parser.add_argument("--database", default="community_grid_bench")
    args = parser.parse_args()

    os.environ["CG_DATABASE_NAME"] = args.database  # before anything reads the settings
    from gis.settings import get_settings

    get_settings.cache_clear()
    if os.environ.get("DATABASE_URL"):
        from sqlalchemy.engine import make_url

        os.environ["DATABASE_URL"] = (
            make_url(os.environ["DATABASE_URL"])
            .set(database=args.database)
            .render_as_string(hide_password=False)
        )
        get_settings.cache_clear()
    OUT.mkdir(parents=True, exist_ok=True)

    results: dict[str, Any] = {}
    if RESULTS_JSON.exists():  # keep the other part's figures when only one is run
        with suppress(ValueError):
            results = json.loads(RESULTS_JSON.read_text())
    results["database"] = prepare_database(args.database)
    results["machine"] = machine_info()
    if args.only in (None, "locate"):
        from bench import locate as locate_bench

        runs = [locate_bench.bulk(args.rows, seed=i + 1) for i in range(3)]
        results["locate"] = {"bulk_runs": runs, "single": locate_bench.single(5_000)}
        print(json.dumps(results["locate"], ensure_ascii=False, indent=1))
    if args.only in (None, "assign"):
        results["assign"] = assign_bench.bench_assign(args.rows, args.runs)
        results["assign"]["insert_breakdown"] = assign_bench.insert_breakdown()
        print(json.dumps(results["assign"], ensure_ascii=False, indent=1))
    if args.only in (None, "api"):
        if args.only is None:  # the API meets the district as it is, not after 1M imports
            results["database"] = prepare_database(args.database)
        conns = [int(c) for c in args.connections.split(",") if c.strip()]
        results["api"] = serve_bench.bench_api(
            conns, args.duration, args.max_requests, args.workers
        )
        print(json.dumps(results["api"], ensure_ascii=False, indent=1))
    RESULTS_JSON.write_text(json.dumps(results, ensure_ascii=False, indent=1))
    RESULTS_MD.write_text(render(results), encoding="utf-8")
    print(f"wrote {RESULTS_MD}")


if __name__ == "__main__":
    main()
