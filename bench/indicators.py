"""Bench: the district's indicators for a year of 1M cases (target: 1 s or less).

`python -m bench.indicators [--rows 1000000] [--repeat 5] [--reuse]` on a bench
database of its own (`cg_bench_indicators`; `--reuse` keeps the one made by
the last run when it holds the cases already):

1. made afresh (bench.common.prepare_database: migrated, the sample layout, a
   year of sample complaints), then `rows` generated complaints of the last
   twelve months (bench/gen.py) filed by `grid assign` (the bulk path);
2. the year's workflow is written on them, set-based (one INSERT of events,
   one UPDATE of the cases; a bench fixture, not the product's path, since
   a million moves one at a time would take hours): most cases started,
   reported back, some sent back for rework and reported back again, closed,
   rated, answered; a few escalated (an `escalated` event with
   `overdue_since`, the tier and holder moved, a new due time), a few left
   open; then VACUUM ANALYZE;
3. timed, median of `repeat` runs (min beside), each against a baseline
   measured in the same run: a plain `count(*)` of the cases reported in the
   same year (the rows the indicators read):
   - the district's indicators for the last 365 days (`cases.indicators.indicators`);
   - one station's indicators for the last full month;
   - the last full month per station (one grouped statement, the monthly report's table).

Prints JSON (also written to bench/out/results-indicators.json). `run()`
returns the same dict and `render()` markdown lines for bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

NAME = "cg_bench_indicators"
TARGET_S = 1.0

SIMULATE_EVENTS = """
WITH c AS (
    SELECT id, reported_at, dispatched_at, due_at, tier,
           (hashint8extended(id, 1) & 1048575) / 1048576.0 AS u_done,
           (hashint8extended(id, 2) & 1048575) / 1048576.0 AS u_time,
           (hashint8extended(id, 3) & 1048575) / 1048576.0 AS u_rework,
           (hashint8extended(id, 4) & 1048575) / 1048576.0 AS u_rate,
           (hashint8extended(id, 5) & 1048575) / 1048576.0 AS u_esc,
           (hashint8extended(id, 6) & 1048575) / 1048576.0 AS u_reply,
           (hashint8extended(id, 7) & 1048575) / 1048576.0 AS u_score
    FROM case_file WHERE status = 'dispatched' AND dispatched_at IS NOT NULL
), plan AS (
    SELECT c.*,
           -- 97 % handled (fewer among the last days' cases), 80 % of them in time
           u_done < CASE WHEN dispatched_at > :now - interval '7 days' THEN 0.4 ELSE 0.97 END
               AS done,
           CASE WHEN u_time < 0.8 THEN dispatched_at + (due_at - dispatched_at) * (u_time / 0.8)
                ELSE due_at + interval '3 days' * ((u_time - 0.8) / 0.2) END AS rb_at,
           u_rework < 0.08 AS reworked,
           u_esc < 0.04 AS escalated
    FROM c
), moves AS (
    SELECT id, dispatched_at + (rb_at - dispatched_at) * 0.2 AS at, 'started' AS kind,
           jsonb_build_object('from', 'dispatched', 'to', 'in_progress') AS data
    FROM plan WHERE done
    UNION ALL
    SELECT id, rb_at, 'reported_back',
           jsonb_build_object('from', 'in_progress', 'to', 'reported_back',
                              'photos', jsonb_build_array('https://example.org/p.jpg'))
    FROM plan WHERE done
    UNION ALL
    SELECT id, rb_at + interval '2 hours', 'sent_back',
           jsonb_build_object('from', 'reported_back', 'to', 'rework', 'reason', '未处置到位')
    FROM plan WHERE done AND reworked
    UNION ALL
    SELECT id, rb_at + interval '1 day', 'reported_back',
           jsonb_build_object('from', 'in_progress', 'to', 'reported_back')
    FROM plan WHERE done AND reworked
    UNION ALL
    SELECT id, rb_at + CASE WHEN reworked THEN interval '27 hours' ELSE interval '3 hours' END,
           'closed', jsonb_build_object('from', 'reported_back', 'to', 'closed')
    FROM plan WHERE done
    UNION ALL
    SELECT id, rb_at + interval '2 days', 'evaluated',
           jsonb_build_object('from', 'closed', 'to', 'evaluated',
                              'rating', 1 + floor(u_score * 5)::int)
    FROM plan WHERE done AND u_rate < 0.6
    UNION ALL
    SELECT id, reported_at + interval '20 hours', 'replied',
           jsonb_build_object('from', 'dispatched', 'to', 'dispatched', 'note', '已答复')
    FROM plan WHERE u_reply < 0.85
    UNION ALL
    SELECT id, due_at + interval '10 minutes', 'escalated',
           jsonb_build_object('from', 'dispatched', 'to', 'dispatched', 'tier_from', tier,
                              'tier_to', CASE WHEN u_esc < 0.03 THEN 'moderate' ELSE 'major' END,
                              'holder_role', CASE WHEN u_esc < 0.03 THEN 'squad_leader'
                                                  WHEN u_esc < 0.036 THEN 'deputy_leader'
                                                  ELSE 'chief' END,
                              'overdue_since', due_at, 'due_at', due_at + interval '2 days')
    FROM plan WHERE escalated AND due_at < :now
)
INSERT INTO case_event (case_id, at, kind, actor, data)
SELECT id, at, kind, 'bench', data FROM moves WHERE at < :now
"""

SIMULATE_CASES = """
WITH last AS (
    SELECT case_id,
           max(at) FILTER (WHERE kind = 'closed') AS closed_at,
           max(at) FILTER (WHERE kind = 'replied') AS replied_at,
           max((data ->> 'rating')::int) FILTER (WHERE kind = 'evaluated') AS rating,
           bool_or(kind = 'evaluated') AS evaluated,
           max((data ->> 'due_at')::timestamptz) FILTER (WHERE kind = 'escalated') AS new_due,
           max(data ->> 'tier_to') FILTER (WHERE kind = 'escalated') AS tier_to,
           max(data ->> 'holder_role') FILTER (WHERE kind = 'escalated') AS holder_to,
           bool_or(kind = 'sent_back') AND NOT bool_or(kind = 'closed') AS in_rework
    FROM case_event WHERE actor = 'bench'
    GROUP BY case_id
)
UPDATE case_file c SET
    status = CASE WHEN l.evaluated THEN 'evaluated' WHEN l.closed_at IS NOT NULL THEN 'closed'
                  ELSE c.status END,
    closed_at = l.closed_at, replied_at = l.replied_at, rating = l.rating,
    due_at = COALESCE(l.new_due, c.due_at),
    tier = COALESCE(l.tier_to, c.tier),
    holder_role = CASE WHEN l.closed_at IS NOT NULL THEN NULL
                       ELSE COALESCE(l.holder_to, c.holder_role) END,
    holder_code = CASE WHEN l.closed_at IS NOT NULL THEN NULL ELSE c.holder_code END,
    version = c.version + 1
FROM last l WHERE l.case_id = c.id
"""


def _median(fn: Callable[[], Any], repeat: int) -> tuple[float, float, Any]:
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), min(times), result


def simulate() -> dict[str, Any]:
    """Write the year's workflow on the dispatched cases (module docs, step 2)."""
    import sqlalchemy as sa

    from gis.db import get_engine
    from gis.settings import get_settings

    engine = get_engine()
    t0 = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(sa.text(SIMULATE_EVENTS), {"now": datetime.now(UTC)})
        conn.execute(sa.text(SIMULATE_CASES))
    # VACUUM (the visibility map, for index-only scans) is for the tables' owner.
    owner = sa.create_engine(get_settings().owner_url_for(), isolation_level="AUTOCOMMIT")
    try:
        with owner.connect() as conn:
            conn.execute(sa.text("VACUUM ANALYZE case_file"))
            conn.execute(sa.text("VACUUM ANALYZE case_event"))
    finally:
        owner.dispose()
    return {"workflow_s": round(time.perf_counter() - t0, 1)}


def _state() -> tuple[int, int]:
    """Cases, and events the simulation wrote (0, 0 without a database)."""
    import sqlalchemy as sa

    from gis.db import get_engine

    try:
        with get_engine().connect() as conn:
            n = conn.execute(sa.text("SELECT count(*) FROM case_file")).scalar_one()
            moved = conn.execute(
                sa.text("SELECT count(*) FROM case_event WHERE actor = 'bench'")
            ).scalar_one()
    except sa.exc.SQLAlchemyError:
        return 0, 0
    return int(n), int(moved)


def prepare(rows: int, reuse: bool) -> dict[str, Any]:
    """The bench database with `rows` cases and a year of workflow on them."""
    import sqlalchemy as sa

    from bench.common import GRID, OUT, prepare_database
    from bench.gen import generate
    from gis.db import get_engine

    out: dict[str, Any] = {"reused": False}
    n, moved = _state() if reuse else (0, 0)
    if n < rows:
        t0 = time.perf_counter()
        out.update(prepare_database(NAME))
        path = OUT / f"indicators-{rows}.csv"
        generate(get_engine(), path, rows, seed=7, run=0)
        proc = subprocess.run(
            [*GRID, "assign", str(path), "--crs", "wgs84", "--json"],
            capture_output=True,
            text=True,
            env=os.environ.copy(),
            check=False,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"grid assign failed ({proc.returncode}): {proc.stderr[-2000:]}")
        out["assign"] = {k: v for k, v in json.loads(proc.stdout).items() if isinstance(v, int)}
        out["load_s"] = round(time.perf_counter() - t0, 1)
        moved = 0
    else:
        out["reused"] = True
    if not moved:
        out.update(simulate())
    with get_engine().connect() as conn:
        counts = conn.execute(
            sa.text("SELECT kind, count(*) FROM case_event GROUP BY kind ORDER BY kind")
        ).all()
        out["cases"] = int(conn.execute(sa.text("SELECT count(*) FROM case_file")).scalar_one())
    out["events_by_kind"] = {str(k): int(v) for k, v in counts}
    return out


def _last_full_month(today: date) -> tuple[date, date]:
    end = today.replace(day=1) - timedelta(days=1)
    return end.replace(day=1), end


def run(rows: int = 1_000_000, repeat: int = 5, reuse: bool = False) -> dict[str, Any]:
    """Prepare (or reuse) the bench database, time the indicators against the baseline;
    the caller's database setting is put back afterwards (bench/run.py runs parts in turn)."""
    from gis.settings import get_settings

    before = os.environ.get("CG_DATABASE_NAME")
    os.environ["CG_DATABASE_NAME"] = NAME
    get_settings.cache_clear()
    try:
        return _run(rows, repeat, reuse)
    finally:
        if before is None:
            os.environ.pop("CG_DATABASE_NAME", None)
        else:
            os.environ["CG_DATABASE_NAME"] = before
        get_settings.cache_clear()


def _run(rows: int, repeat: int, reuse: bool) -> dict[str, Any]:
    import sqlalchemy as sa

    from bench.common import loadavg, machine_info
    from cases.indicators import LEVEL_BY_KEY, counts_by, indicators, parse_period
    from gis.db import get_engine

    result: dict[str, Any] = {"machine": machine_info(), "target_s": TARGET_S}
    result["database"] = prepare(rows, reuse)
    engine = get_engine()
    today = datetime.now(UTC).date()
    year = parse_period(today - timedelta(days=365), today - timedelta(days=1))
    first, last = _last_full_month(today)
    month = parse_period(first, last)
    with engine.connect() as conn:
        station = conn.execute(
            sa.text(
                "SELECT station_code FROM case_file WHERE station_code IS NOT NULL "
                "GROUP BY 1 ORDER BY count(*) DESC LIMIT 1"
            )
        ).scalar_one()
    baseline_sql = sa.text(
        "SELECT count(*) FROM case_file WHERE reported_at >= :lo AND reported_at < :hi"
    )

    def baseline() -> int:
        with engine.connect() as conn:
            return int(conn.execute(baseline_sql, {"lo": year.start, "hi": year.end}).scalar_one())

    def district() -> dict[str, Any]:
        return indicators(engine, "district", None, year.first, year.last).values

    def one_station() -> dict[str, Any]:
        return indicators(engine, "station", station, month.first, month.last).values

    def per_station() -> int:
        with engine.connect() as conn:
            return len(counts_by(conn, LEVEL_BY_KEY["station"], month))

    district()  # warm: the calendar's table, the catalogue, the pool
    load = loadavg()
    figures: dict[str, Any] = {}
    for name, fn in (
        ("baseline_count_year", baseline),
        ("district_year", district),
        ("station_month", one_station),
        ("per_station_month", per_station),
    ):
        med, best, value = _median(fn, repeat)
        figures[name] = {"median_s": round(med, 3), "min_s": round(best, 3)}
        if name == "baseline_count_year":
            figures[name]["rows"] = value
        elif name == "district_year":
            figures[name]["values"] = value
        elif name == "per_station_month":
            figures[name]["stations"] = value
    base = figures["baseline_count_year"]["median_s"]
    for name in ("district_year", "station_month", "per_station_month"):
        figures[name]["vs_baseline"] = round(figures[name]["median_s"] / base, 1) if base else None
    result.update(
        {
            "year": year.as_dict(),
            "month": month.as_dict(),
            "station": station,
            "figures": figures,
            "loadavg": [load, loadavg()],
            "target_met": figures["district_year"]["median_s"] <= TARGET_S,
        }
    )
    return result


def render(result: dict[str, Any]) -> list[str]:
    """Markdown lines for bench/RESULTS.md."""
    f = result["figures"]
    d = result["database"]
    v = f["district_year"]["values"]
    lines = [
        "## Indicators (bench/indicators.py)",
        "",
        f"Measured {result['machine']['date']}. "
        f"Database `{NAME}`: {d.get('cases', '?'):,} cases (a year of sample complaints plus "
        "1M generated ones filed by `grid assign`), with a year of workflow written on them "
        "set-based (started, reported back, sent back, closed, rated, answered, escalated). "
        f"Year {result['year']['from']} to {result['year']['to']}; month "
        f"{result['month']['from']} to {result['month']['to']}. Median of the runs (min). "
        "Baseline in the same run: `count(*)` of the cases reported in the year.",
        "",
        "| what | median | min | ÷ baseline |",
        "|---|---:|---:|---:|",
    ]
    for name, label in (
        ("baseline_count_year", "baseline: count(*) of the year's cases"),
        ("district_year", "**district, a year** (`grid indicators --level district`)"),
        ("station_month", f"one station ({result['station']}), a month"),
        ("per_station_month", "every station, a month (one grouped statement)"),
    ):
        row = f[name]
        ratio = row.get("vs_baseline")
        shown = "" if ratio is None else ratio
        lines.append(f"| {label} | {row['median_s']} s | {row['min_s']} s | {shown} |")
    lines += [
        "",
        f"- target ≤ {TARGET_S} s for the district's year: "
        + ("met" if result["target_met"] else "**not met**")
        + f" (load average {result['loadavg'][0]} → {result['loadavg'][1]})",
        f"- the year's figures: received {v['received']:,}, due {v['due']:,}, closed "
        f"{v['closed']:,} (结案率 {v['closure_rate']} %, "
        f"按期结案率 {v['on_time_closure_rate']} %), "
        f"返工率 {v['rework_rate']} %, 平均处置时长 {v['avg_handling_hours']} 工作小时, "
        f"escalations {v['escalated']:,}",
        "",
    ]
    return lines


def main() -> None:
    """Run from the command line; print JSON (and the markdown with --markdown)."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--reuse", action="store_true", help="keep the bench database if ready")
    parser.add_argument("--markdown", action="store_true", help="print RESULTS.md lines too")
    args = parser.parse_args()
    result = run(args.rows, args.repeat, args.reuse)
    from bench.common import OUT

    OUT.mkdir(parents=True, exist_ok=True)
    text = json.dumps(result, ensure_ascii=False, indent=2, default=str)
    (OUT / "results-indicators.json").write_text(text, encoding="utf-8")
    print(text)
    if args.markdown:
        print("\n".join(render(result)))


if __name__ == "__main__":
    main()
