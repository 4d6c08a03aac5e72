"""Bench: the escalation sweep over many overdue cases (cases.lifecycle.escalation).

`python -m bench.escalation [--cases N] [--batch B] [--repeat R]` in a database of its
own (`<database>_escalation`: the sample layout and N dispatched minor cases made
overdue, set-based). Each run puts the cases back overdue with their officer, then:
- `sweep`: one sweeper moves every case up one step (batches of B, each a
  transaction: SELECT ... FOR UPDATE SKIP LOCKED, one UPDATE, one INSERT of events,
  one of notifications; the new due times on the working-time calendar);
- `two sweepers`: the same with two threads racing (each case once: checked);
- baseline in the same run: the writes alone, set-based in batches of B (the same
  UPDATE of the case rows and INSERT of one event and one notification per case),
  with no lock, no calendar and no holder lookup: the floor of a sweep.
Figures are the best of R runs, with their ratio to the baseline's best; the load
average is printed beside them (the machine is shared).
"""

from __future__ import annotations

import argparse
import os
import threading
import time
from collections.abc import Callable

import sqlalchemy as sa

N_DEFAULT = 100_000

_MAKE = sa.text("""
WITH places AS (
    SELECT row_number() OVER (ORDER BY g.id) - 1 AS k, g.id, g.code, g.community_code,
           st.code AS station, sc.squad_code AS squad,
           (SELECT min(o.code) FROM officer o WHERE o.station_code = st.code) AS officer
    FROM grid_cell g
    JOIN layout_generation lg ON lg.id = g.generation_id AND lg.is_current
    JOIN station st ON st.community_code = g.community_code
    JOIN squad_community sc ON sc.community_code = g.community_code
), size AS (SELECT count(*) AS m FROM places)
INSERT INTO case_file (token, status, subclass_code, tier, description, address, source,
    locate_method, grid_cell_id, grid_code, community_code, station_code, squad_code,
    officer_code, holder_role, holder_code, reported_at, dispatched_at, due_at)
SELECT 'esc' || n, 'dispatched', '0101', 'minor', '', '', 'bench', 'contained',
       p.id, p.code, p.community_code, p.station, p.squad, p.officer, 'officer', p.officer,
       now() - interval '2 days', now() - interval '2 days', now() - interval '1 hour'
FROM generate_series(1, :n) AS n, size
JOIN places p ON true
WHERE p.k = n % size.m
""")
_RESET = sa.text("""
UPDATE case_file SET tier = 'minor', holder_role = 'officer', holder_code = officer_code,
    due_at = now() - interval '1 hour'
WHERE source = 'bench'
""")
_FLOOR = sa.text("""
WITH b AS (
    SELECT id FROM case_file WHERE source = 'bench' AND id > :after ORDER BY id LIMIT :n
), moved AS (
    UPDATE case_file c SET tier = 'moderate', holder_role = 'squad_leader',
        due_at = now() + interval '1 day', version = c.version + 1
    FROM b WHERE c.id = b.id RETURNING c.id
), ev AS (
    INSERT INTO case_event (case_id, kind, actor, data)
    SELECT id, 'bench_floor', 'system', jsonb_build_object('tier_to', 'moderate') FROM moved
    RETURNING case_id
)
INSERT INTO notification (case_id, kind, recipient_role, message)
SELECT case_id, 'bench_floor', 'squad_leader', 'bench' FROM ev
RETURNING case_id
""")


def _best(runs: list[float]) -> float:
    return min(runs)


def main() -> None:
    """Make the database, run the forms, print markdown rows."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=N_DEFAULT)
    parser.add_argument("--batch", type=int, default=2_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    from gis.settings import get_settings

    base = get_settings().database
    name = f"{base}_escalation"
    os.environ["CG_DATABASE_NAME"] = name
    get_settings.cache_clear()
    from cases.lifecycle.escalation import sweep
    from gis.db import _engine_for, drop_database, ensure_database, get_engine, migrate
    from sample.seed import load_sample

    settings = get_settings()
    drop_database(settings, name)
    _engine_for.cache_clear()
    ensure_database(settings)
    migrate(settings)
    engine = get_engine(settings)
    load_sample(engine, settings=settings)
    with engine.begin() as conn:
        conn.execute(_MAKE, {"n": args.cases})
        n = int(
            conn.execute(sa.text("SELECT count(*) FROM case_file WHERE source = 'bench'")).scalar()
            or 0
        )
    with engine.begin() as conn:
        conn.execute(sa.text("ANALYZE case_file"))

    def reset() -> None:
        with engine.begin() as conn:
            conn.execute(_RESET)

    def floor() -> None:
        after = 0
        while True:
            with engine.begin() as conn:
                ids = conn.execute(_FLOOR, {"after": after, "n": args.batch}).scalars().all()
            if not ids:
                return
            after = max(ids)

    def one() -> None:
        moved = sweep(engine, settings=settings, batch=args.batch).moved
        assert moved == n, (moved, n)

    def two() -> None:
        counts: list[int] = []
        go = threading.Barrier(2)

        def run() -> None:
            go.wait()
            counts.append(sweep(engine, settings=settings, batch=args.batch).moved)

        threads = [threading.Thread(target=run) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sum(counts) == n, (counts, n)

    load0 = os.getloadavg()[0]
    forms: list[tuple[str, Callable[[], None]]] = [
        ("baseline: the writes alone, set-based", floor),
        ("sweep, one sweeper", one),
        ("sweep, two sweepers racing", two),
    ]
    results = []
    for label, fn in forms:
        runs = []
        for _ in range(args.repeat):
            reset()
            t0 = time.perf_counter()
            fn()
            runs.append(time.perf_counter() - t0)
        results.append((label, _best(runs)))
    floor_s = results[0][1]
    print(
        f"| form ({n:,} overdue cases, batches of {args.batch:,}, best of {args.repeat}) "
        "| seconds | ÷ baseline | cases/s |"
    )
    print("|---|---:|---:|---:|")
    for label, secs in results:
        print(f"| {label} | {secs:.3f} | {secs / floor_s:.2f} | {n / secs:,.0f} |")
    print(f"load average {load0:.2f} -> {os.getloadavg()[0]:.2f}")
    engine.dispose()
    _engine_for.cache_clear()
    drop_database(settings, name)


if __name__ == "__main__":
    main()
