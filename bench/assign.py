"""(a) Bulk assignment: `grid assign FILE` of a generated file, end to end.

A generated CSV of `rows` complaints (bench/gen.py, not timed) is assigned by
`grid assign FILE --crs wgs84 --json` as a subprocess; the wall time is end to
end (process start to exit) and the JSON gives the steps, down to the steps of
`case_batch_close` (index builds, ANALYZE, attaching the cases and then the
events, each attach checking its foreign keys in one query). The WAL written
during the run is measured too.

`insert_breakdown` then measures, on the bench database as the run left it:
- what the foreign keys cost row by row (the path of a small file, and of every
  complaint filed one at a time): 100,000 cases and their events inserted
  again under EXPLAIN ANALYZE, rolled back, with the time of each foreign-key
  trigger, beside the set-based checks at attach time of the big load;
- COPY as CSV written by pyarrow against a hand-written binary encoder
  (bench/copyfmt.py), on the rows of a 1M file;
- prepared against plain statements on the single path (bench/prepared.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from bench.common import GRID, OUT, TARGETS, case_count, loadavg, ok, wal_lsn, wal_mb_since

STEPS = ("read", "validate", "copy", "locate", "place", "decide", "write", "index_attach", "commit")
CLOSE_STEPS = ("close_index", "close_analyze", "close_attach_cases", "close_attach_events")


def bench_assign(rows: int, runs: int) -> dict[str, Any]:
    """Generate and assign `runs` files of `rows` rows; every run's figures."""
    from bench.gen import generate
    from gis.db import get_engine

    results = []
    for run in range(1, runs + 1):
        path = OUT / f"complaints-{rows}-run{run}.csv"
        t0 = time.perf_counter()
        generate(get_engine(), path, rows, seed=1, run=run)
        gen_s = time.perf_counter() - t0
        before = case_count()
        lsn = wal_lsn()
        load = loadavg()
        t0 = time.perf_counter()
        proc = subprocess.run(
            [*GRID, "assign", str(path), "--crs", "wgs84", "--json"],
            capture_output=True,
            text=True,
            env=os.environ.copy(),
            check=False,
        )
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            raise RuntimeError(f"grid assign failed ({proc.returncode}): {proc.stderr[-2000:]}")
        result = json.loads(proc.stdout)
        results.append(
            {
                "rows": rows,
                "file": str(path),
                "file_mb": round(path.stat().st_size / 1e6, 1),
                "generate_s": round(gen_s, 2),
                "wall_s": round(wall, 2),
                "steps_s": result["timings"],
                "partition": result.get("partition"),
                "wal_mb": wal_mb_since(lsn),
                "cases_before": before,
                "cases_after": case_count(),
                "outcomes": {
                    k: result[k]
                    for k in (
                        "located",
                        "gap_snapped",
                        "referred_out",
                        "unassigned",
                        "no_location",
                        "invalid",
                    )
                },
                "loadavg_before": load,
                "loadavg_after": loadavg(),
            }
        )
    return {"runs": results}


def _triggers(plan: list[dict[str, Any]]) -> dict[str, float]:
    top = plan[0]
    return {
        str(t.get("Constraint Name") or t["Trigger Name"]): round(t["Time"] / 1000, 3)
        for t in top.get("Triggers", [])
    }


def fk_row_by_row(rows: int = 100_000) -> dict[str, Any]:
    """Cases and events of the last big load inserted again, row by row, under EXPLAIN
    ANALYZE (rolled back): what each foreign key's per-row check costs."""
    from gis.db import get_engine

    out: dict[str, Any] = {"rows": rows}
    with get_engine().connect() as conn:
        base = conn.execute(sa.text("SELECT min(id) FROM case_file WHERE id >= 2^40")).scalar()
        conn.rollback()
        if base is None:
            return {}
        with conn.begin() as tx:
            cols = [
                r
                for r in conn.execute(
                    sa.text("""
                    SELECT column_name FROM information_schema.columns
                    WHERE table_name = 'case_file' AND column_name NOT IN ('id', 'token')
                    ORDER BY ordinal_position""")
                ).scalars()
            ]
            listed = ", ".join(cols)
            plan = conn.execute(
                sa.text(f"""
                EXPLAIN (ANALYZE, FORMAT JSON)
                INSERT INTO case_file (token, {listed})
                SELECT 'fk' || id, {listed} FROM case_file
                WHERE id >= :b ORDER BY id LIMIT :n"""),
                {"b": base, "n": rows},
            ).scalar_one()
            out["cases_s"] = round(plan[0]["Execution Time"] / 1000, 3)
            out["cases_fk_s"] = _triggers(plan)
            plan = conn.execute(
                sa.text("""
                EXPLAIN (ANALYZE, FORMAT JSON)
                INSERT INTO case_event (case_id, kind, actor, data)
                SELECT case_id, kind, actor, data FROM case_event
                WHERE case_id >= :b ORDER BY case_id LIMIT :n"""),
                {"b": base, "n": rows * 3},
            ).scalar_one()
            out["events"] = rows * 3
            out["events_s"] = round(plan[0]["Execution Time"] / 1000, 3)
            out["events_fk_s"] = _triggers(plan)
            tx.rollback()
    return out


def insert_breakdown(rows: int = 100_000) -> dict[str, Any]:
    """Foreign keys row by row, COPY formats, prepared statements (see the module docs)."""
    from bench.copyfmt import bench_copy
    from bench.prepared import bench_prepared

    out: dict[str, Any] = {"fk_row_by_row": fk_row_by_row(rows)}
    files = sorted(OUT.glob("complaints-*-run1.csv"), key=lambda p: p.stat().st_mtime)
    if files:
        out["copy_formats"] = bench_copy(Path(files[-1]))
    out["prepared"] = bench_prepared()
    return out


def breakdown_part(name: str, rows: int) -> dict[str, Any]:
    """One sub-benchmark of the bulk part run alone (`copyfmt` or `prepared`): COPY
    formats on the last generated file (one of `rows` rows is generated if there is
    none), or prepared statements, on the bench database as it is."""
    if name == "prepared":
        from bench.prepared import bench_prepared

        return bench_prepared()
    from bench.copyfmt import bench_copy
    from bench.gen import generate
    from gis.db import get_engine

    files = sorted(OUT.glob("complaints-*-run1.csv"), key=lambda p: p.stat().st_mtime)
    if files:
        return bench_copy(files[-1])
    path = OUT / f"complaints-{rows}-run1.csv"
    generate(get_engine(), path, rows, seed=1, run=1)
    return bench_copy(path)


def render(assign: dict[str, Any]) -> list[str]:
    """The bulk section of RESULTS.md, with its sub-sections (foreign keys, COPY
    formats, prepared statements) when they were measured."""
    from bench.copyfmt import render as render_copy
    from bench.prepared import render as render_prepared

    lines = ["## (a) Bulk assignment: `grid assign FILE --crs wgs84`", ""]
    if not assign.get("runs"):
        lines += ["Not measured yet (`python -m bench.run --only assign`).", ""]
        b = assign.get("insert_breakdown") or {}
        if b.get("copy_formats"):
            lines += render_copy(b["copy_formats"])
        if b.get("prepared"):
            lines += render_prepared(b["prepared"])
        return lines
    lines += [
        "| rows | file | wall (end to end) | " + " | ".join(STEPS) + " | WAL written | load avg |",
        "|---:|---:|---:|" + "---:|" * len(STEPS) + "---:|---:|",
    ]
    for r in assign["runs"]:
        s = r["steps_s"]
        steps = " | ".join(f"{s.get(k, 0):g} s" for k in STEPS)
        lines.append(
            f"| {r['rows']:,} | {r['file_mb']} MB | **{r['wall_s']} s** | {steps} "
            f"| {r['wal_mb']} MB | {r['loadavg_before']} → {r['loadavg_after']} |"
        )
    r = min(assign["runs"], key=lambda x: x["wall_s"])
    s, o = r["steps_s"], r["outcomes"]
    close = ", ".join(f"{k.removeprefix('close_')} {s[k]:.2f} s" for k in CLOSE_STEPS if k in s)
    lines += [
        "",
        f"Outcomes: located {o['located']:,}, gap-snapped {o['gap_snapped']:,}, referred "
        f"out {o['referred_out']:,}, needs location {o['unassigned'] + o['no_location']:,}"
        f", invalid {o['invalid']:,} (all in the rejects file). case_file held "
        f"{r['cases_before']:,} rows before, {r['cases_after']:,} after; the load went into "
        f"its own partition `{r['partition']}`.",
        "",
        f"- target end to end ≤ {TARGETS['assign_total_s']:.0f} s: "
        f"{ok(r['wall_s'] <= TARGETS['assign_total_s'])} ({r['wall_s']} s)",
        f"- target locate step ≤ {TARGETS['locate_s']:.0f} s: "
        f"{ok(s['locate'] <= TARGETS['locate_s'])} ({s['locate']} s)",
        "",
        "Steps: *read* = file into memory, SHA-256, pyarrow parse; *validate* = every check "
        "over whole columns, coordinates converted, rejects file; *copy* = the points staged "
        "(COPY into the unlogged bulk_point); *locate* = gis.locate.locate_table; *place* = "
        "the located points back in one COPY, met with the layout and the roster (and what "
        "the rules need from the cases already filed); *decide* = cases.intake.rules over "
        "all rows, the rows to write; *write* = COPY of the cases and their events straight "
        "into the load's own partitions; *index_attach* = `case_batch_close`: "
        f"{close or 'indexes, ANALYZE, attach'}; *commit* = the commit (the new partitions' "
        "files are flushed then: with wal_level=minimal they write no WAL).",
        "",
    ]
    b = assign.get("insert_breakdown") or {}
    fk = b.get("fk_row_by_row") or {}
    if fk:
        per_case = sum(fk["cases_fk_s"].values())
        per_event = sum(fk["events_fk_s"].values())
        attach = s.get("close_attach_cases", 0.0) + s.get("close_attach_events", 0.0)
        scale = r["rows"] / fk["rows"]
        lines += [
            "### What the foreign keys cost",
            "",
            f"Set-based, at attach time of the run above: {attach:.2f} s for "
            f"{r['rows']:,} cases and their events (attaching the cases checks case → grid "
            "row, master case and API key; attaching the events checks event → case). "
            f"Row by row (a small file, or one complaint at a time), measured on "
            f"{fk['rows']:,} cases and {fk['events']:,} events inserted again under EXPLAIN "
            f"ANALYZE, rolled back: the cases' foreign-key triggers took {per_case:.2f} s of "
            f"{fk['cases_s']:.2f} s ("
            + ", ".join(f"{k} {v} s" for k, v in fk["cases_fk_s"].items())
            + f"), the events' {per_event:.2f} s of {fk['events_s']:.2f} s; at that rate the "
            f"checks alone would add about {(per_case + per_event) * scale:.1f} s to a load "
            f"of {r['rows']:,}.",
            "",
        ]
    if b.get("copy_formats"):
        lines += render_copy(b["copy_formats"])
    if b.get("prepared"):
        lines += render_prepared(b["prepared"])
    return lines


def main() -> None:
    """Measure bulk assignment alone and rewrite RESULTS.md (bench.run's renderer, the
    other parts' figures kept; the same as `python -m bench.run --only assign`, with the
    database kept unless --prepare).

    `python -m bench.assign --prepare --rows 1000000`: with --prepare the bench
    database is made afresh first (layout and a year of sample complaints).
    """
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("--database", default="community_grid_bench")
    parser.add_argument("--prepare", action="store_true", help="make the database afresh")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=1, help="a new file each")
    parser.add_argument("--no-write", action="store_true", help="print, do not write")
    args = parser.parse_args()

    os.environ["CG_DATABASE_NAME"] = args.database  # before anything reads the settings
    from gis.settings import get_settings

    get_settings.cache_clear()
    from bench import run as bench_run
    from bench.common import machine_info, prepare_database

    OUT.mkdir(parents=True, exist_ok=True)
    results = bench_run.load()
    if args.prepare:
        results["database"] = prepare_database(args.database)
    results.setdefault("machine", machine_info())
    before, started = loadavg(), time.perf_counter()
    assign = bench_assign(args.rows, args.runs)
    assign["insert_breakdown"] = insert_breakdown()
    print(json.dumps(assign, ensure_ascii=False, indent=1))
    lines = render(assign)
    if args.no_write:
        print("\n".join(lines))
        return
    results["assign"] = assign
    bench_run.record(results, "assign", before, started)
    bench_run.write(results)
    print(f"wrote {bench_run.RESULTS_MD}")


if __name__ == "__main__":
    main()
