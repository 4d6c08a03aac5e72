"""Every benchmark the issues ask for, from one command, into bench/RESULTS.md.

`python -m bench.run` (what `make bench` runs) measures every part on this
machine and rewrites bench/RESULTS.md; the raw figures are kept in
bench/out/results.json. `--only PART` (repeated, or a comma list: `--only
maps --only hotspots`, `--only maps,hotspots`) runs those parts alone: the
others keep their last figures from results.json, and RESULTS.md is written
again from all of them, its sections always in the order of SECTIONS.

Parts (the module that measures and renders each):
- locate (bench/locate.py): 1M points located set-based, and one at a time;
- assign (bench/assign.py): bulk `grid assign` of a generated file of `--rows`
  complaints, end to end, with what the foreign keys cost row by row, and the
  two sub-benchmarks below (run alone with `--only copyfmt` / `--only prepared`);
- copyfmt (bench/copyfmt.py): COPY in binary against pyarrow CSV, on the rows
  of the last generated file (one is generated if there is none);
- prepared (bench/prepared.py): prepared against plain statements;
- api (bench/serve.py): `POST /api/v1/complaints` under load beside /healthz
  and a bare `SELECT 1` app (wrk, else bench/loadgen.py);
- indicators (bench/indicators.py): the district's indicators for a year of
  1M cases, in a database of its own (`--reuse`: keep it when it is ready);
- escalation (bench/escalation.py): the sweep over 100,000 overdue cases, in a
  database of its own, dropped at the end;
- calendar (bench/calendar.py): deadlines of 1M starts, vectorised and scalar;
- hotspots (bench/hotspots.py): Gi* with 999 permutations and emerging hot
  spots on the sample layout, against esda's own loop;
- maps (bench/maps.py): map pages for `--map-sizes` complaints in headless
  Chromium, against a raw folium HeatMap (no database).

Database: locate, assign, copyfmt, prepared, hotspots and api run on a bench
database of its own (default `community_grid_bench`), dropped and made afresh
(migrated, the sample layout, a year of sample complaints) before the first of
them, and again before the API, which meets the district as it is, not after
1M imports; when none of them runs, the bench database is only made if it is
missing (the Machine section reads the server's versions from it). The
developer database is never touched. Every part records when
it ran, how long it took and the 1-minute load average before and after it
(the machine is shared), shown in the Machine section.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable
from contextlib import suppress
from datetime import UTC, datetime
from typing import Any

from bench.common import HERE, OUT, loadavg, machine_info, ok, prepare_database

RESULTS_MD = HERE / "RESULTS.md"
RESULTS_JSON = OUT / "results.json"

PARTS = (
    "locate",
    "assign",
    "copyfmt",
    "prepared",
    "api",
    "indicators",
    "escalation",
    "calendar",
    "hotspots",
    "maps",
)
"""Every part `--only` takes."""
SECTIONS = (
    "locate",
    "assign",
    "api",
    "indicators",
    "escalation",
    "calendar",
    "hotspots",
    "maps",
)
"""RESULTS.md's sections, in this order (copyfmt and prepared are sub-sections of assign)."""
FRESH_DATABASE = ("locate", "hotspots", "assign", "copyfmt", "prepared")
"""The parts measured on the bench database as made afresh (in this order); the API
gets it afresh again."""
TITLES = {
    "locate": "locating points",
    "assign": "bulk assignment",
    "copyfmt": "COPY formats",
    "prepared": "prepared statements",
    "api": "API under load",
    "indicators": "indicators",
    "escalation": "escalation sweep",
    "calendar": "working-hours calendar",
    "hotspots": "hot spots",
    "maps": "maps",
}


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
    ]
    if loc.get("carried_over"):
        lines.append(f"- {loc['carried_over']}")
    lines.append("")
    return lines


def _renderers() -> dict[str, Callable[[dict[str, Any]], list[str]]]:
    from bench import assign, calendar, escalation, hotspots, indicators, maps, serve

    return {
        "locate": _render_locate,
        "assign": assign.render,
        "api": serve.render,
        "indicators": indicators.render,
        "escalation": escalation.render,
        "calendar": calendar.render,
        "hotspots": hotspots.render,
        "maps": maps.render,
    }


def _render_machine(results: dict[str, Any]) -> list[str]:
    m = results["machine"]
    lines = [
        "## Machine",
        "",
        f"- CPU: {m['cpu']}, nproc {m['nproc']}; memory {m['memory_gib']} GiB; "
        f"kernel {m['kernel']}; Python {m['python']} (as of {m['date']})",
        f"- PostgreSQL {m['postgresql']}, PostGIS {m['postgis']} (GEOS {m['geos']}); "
        + ", ".join(f"{k}={v}" for k, v in m["pg_settings"].items()),
    ]
    if "database" in results:
        d = results["database"]
        lines.append(
            f"- bench database: `{d['database']}`, made afresh for the parts that use it "
            f"(sample layout + {d['sample_cases']:,} sample cases, a year of the generated "
            "complaints); indicators and escalation make databases of their own"
        )
    lines += [
        "- the machine is shared with other sessions: the 1-minute load average before and "
        "after each part is below, and beside the figures in each section",
        "",
        "| part | measured | took | load average before → after |",
        "|---|---|---:|---|",
    ]
    for name, p in (results.get("parts") or {}).items():
        took = f"{p['seconds']:,.0f} s" if p.get("seconds") is not None else "?"
        load = p.get("loadavg") or ["?", "?"]
        after = "?" if load[1] is None else load[1]
        note = " (carried over)" if p.get("carried_over") else ""
        lines.append(
            f"| {TITLES.get(name, name)} | {p.get('date', '?')}{note} | {took} "
            f"| {load[0]} → {after} |"
        )
    lines.append("")
    return lines


def render(results: dict[str, Any]) -> str:
    """RESULTS.md from the figures: the machine, then each part measured, in SECTIONS order."""
    lines = [
        "# Benchmarks",
        "",
        "Written by `make bench` (`python -m bench.run`; `--only PART` re-runs parts, the "
        "others keep their last figures; raw figures in bench/out/results.json). Targets "
        "from the issues; ratios against baselines measured in the same run, since the "
        "machine is shared and noisy.",
        "",
    ]
    if "machine" in results:
        lines += _render_machine(results)
    renderers = _renderers()
    for name in SECTIONS:
        if name in results:
            lines += renderers[name](results[name])
    return "\n".join(lines).rstrip("\n") + "\n"


def load() -> dict[str, Any]:
    """The last figures of every part (empty when there are none)."""
    if RESULTS_JSON.exists():
        with suppress(ValueError):
            return dict(json.loads(RESULTS_JSON.read_text()))
    return {}


def write(results: dict[str, Any]) -> None:
    """Keep the figures in results.json and write RESULTS.md from them."""
    OUT.mkdir(parents=True, exist_ok=True)
    RESULTS_JSON.write_text(json.dumps(results, ensure_ascii=False, indent=1, default=str))
    RESULTS_MD.write_text(render(results), encoding="utf-8")


def record(results: dict[str, Any], name: str, before: str, started: float) -> None:
    """Note when part `name` ran, how long it took (from `started`, a perf_counter) and
    the load average before (`before`) and now."""
    results.setdefault("parts", {})[name] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "seconds": round(time.perf_counter() - started, 1),
        "loadavg": [before, loadavg()],
    }


def _parts(only: list[str] | None) -> list[str]:
    """The parts asked for, in the order they run (see FRESH_DATABASE)."""
    if not only:
        chosen = set(PARTS) - {"copyfmt", "prepared"}  # inside assign
    else:
        chosen = {p.strip() for arg in only for p in arg.split(",") if p.strip()}
        unknown = chosen - set(PARTS)
        if unknown:
            raise ValueError(
                f"unknown part(s): {', '.join(sorted(unknown))}; known: {', '.join(PARTS)}"
            )
        if "assign" in chosen:
            chosen -= {"copyfmt", "prepared"}
    order = [*FRESH_DATABASE, "api", "indicators", "escalation", "calendar", "maps"]
    return [p for p in order if p in chosen]


def _measure(name: str, args: argparse.Namespace, results: dict[str, Any]) -> Any:
    """Run one part; its figures."""
    if name == "locate":
        from bench import locate as locate_bench

        runs = [locate_bench.bulk(args.rows, seed=i + 1) for i in range(3)]
        return {"bulk_runs": runs, "single": locate_bench.single(5_000)}
    if name == "assign":
        from bench import assign as assign_bench

        figures = assign_bench.bench_assign(args.rows, args.runs)
        figures["insert_breakdown"] = assign_bench.insert_breakdown()
        return figures
    if name in ("copyfmt", "prepared"):
        from bench import assign as assign_bench

        return assign_bench.breakdown_part(name, args.rows)
    if name == "api":
        from bench import serve as serve_bench

        conns = [int(c) for c in args.connections.split(",") if c.strip()]
        return serve_bench.bench_api(conns, args.duration, args.max_requests, args.workers)
    if name == "indicators":
        from bench import indicators

        return indicators.run(args.indicator_rows, reuse=args.reuse)
    if name == "escalation":
        from bench import escalation

        return escalation.run(args.escalation_cases)
    if name == "calendar":
        from bench import calendar

        return calendar.run(args.calendar_rows)
    if name == "hotspots":
        from bench import hotspots

        return hotspots.run()
    if name == "maps":
        from bench import maps

        sizes = [int(s) for s in args.map_sizes.split(",") if s.strip()]
        return maps.run(sizes)
    raise AssertionError(name)


def main() -> None:
    """Run the parts asked for, record them with the others' last figures, write RESULTS.md."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--only",
        action="append",
        metavar="PART",
        help=f"repeated or a comma list; parts: {', '.join(PARTS)}",
    )
    parser.add_argument("--rows", type=int, default=1_000_000, help="locate and bulk rows")
    parser.add_argument("--runs", type=int, default=1, help="bulk runs (a new file each)")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per API run")
    parser.add_argument("--max-requests", type=int, default=50_000, help="per API run")
    parser.add_argument("--connections", default="4,32", help="comma list")
    parser.add_argument("--workers", type=int, default=None, help="default: grid serve's own")
    parser.add_argument("--indicator-rows", type=int, default=1_000_000)
    parser.add_argument("--reuse", action="store_true", help="indicators: keep a ready database")
    parser.add_argument("--escalation-cases", type=int, default=100_000)
    parser.add_argument("--calendar-rows", type=int, default=1_000_000)
    parser.add_argument("--map-sizes", default="100000,1000000", help="comma list")
    parser.add_argument("--database", default="community_grid_bench")
    args = parser.parse_args()
    try:
        parts = _parts(args.only)
    except ValueError as exc:
        parser.error(str(exc))

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

    results = load()  # the other parts keep their figures
    fresh = [p for p in parts if p in FRESH_DATABASE]
    if fresh:
        results["database"] = prepare_database(args.database)
    else:  # the machine's figures need a connection: the bench database, made if missing
        from gis.db import ensure_database, migrate

        ensure_database(get_settings())
        migrate(get_settings())
    results["machine"] = machine_info()
    for name in parts:
        if name == "api" and fresh:  # the API meets the district as it is
            results["database"] = prepare_database(args.database)
        before, t0 = loadavg(), time.perf_counter()
        print(f"== {name} (load average {before})", flush=True)
        figures = _measure(name, args, results)
        if name in ("copyfmt", "prepared"):
            breakdown = results.setdefault("assign", {}).setdefault("insert_breakdown", {})
            breakdown["copy_formats" if name == "copyfmt" else "prepared"] = figures
        else:
            results[name] = figures
        record(results, name, before, t0)
        print(json.dumps(figures, ensure_ascii=False, indent=1, default=str), flush=True)
        write(results)  # after every part, so a later failure keeps what was measured
    # The Machine table in the fixed order too.
    recorded = results.get("parts") or {}
    results["parts"] = {p: recorded[p] for p in PARTS if p in recorded}
    write(results)
    print(f"wrote {RESULTS_MD}")


if __name__ == "__main__":
    main()
