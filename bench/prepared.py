"""Prepared against plain: the hot statements of one complaint, one round trip each.

`gis.prepared.execute_prepared` PREPAREs a statement once per connection and
then only EXECUTEs it; plain `conn.execute(text(...))` has PostgreSQL parse
and plan it every time. Each statement of the single path is run `calls`
times each way on one pooled connection, alternating blocks of 100 so that
the machine's load falls on both alike; the case insert runs in a
transaction rolled back each time. Medians and p99 in milliseconds.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import sqlalchemy as sa

BLOCK = 100


Params = Callable[[], dict[str, Any]]


def _statements(conn: sa.Connection, rng: np.random.Generator) -> dict[str, tuple[Any, Params]]:
    from cases.intake.duplicates import FIND_MASTER
    from cases.intake.submit import CONTEXT, INSERT_CASE
    from gis.district import degrees_spanning
    from gis.locate import _LOCATE_ONE

    gen = conn.execute(sa.text("SELECT id FROM layout_generation WHERE is_current")).scalar_one()
    grids = conn.execute(
        sa.text("""
        SELECT ST_X(p), ST_Y(p), g.id, g.code, s.code AS station, sc.squad_code AS squad
        FROM grid_cell g
        CROSS JOIN LATERAL ST_PointOnSurface(g.geom) p
        LEFT JOIN station s ON s.community_code = g.community_code
        LEFT JOIN squad_community sc ON sc.community_code = g.community_code
        WHERE g.generation_id = :g"""),
        {"g": gen},
    ).all()
    now = datetime.now(UTC)

    def grid() -> Any:
        return grids[int(rng.integers(0, len(grids)))]

    def locate_params() -> dict[str, Any]:
        g = grid()
        return {"lon": g[0], "lat": g[1], "tol_m": 50.0, "tol_deg": degrees_spanning(50.0, g[1])}

    def master_params() -> dict[str, Any]:
        g = grid()
        return {
            "subclass": "0101",
            "x": g[0],
            "y": g[1],
            "deg": 0.0006,
            "radius": 50.0,
            "since": now - timedelta(hours=24),
            "until": now,
        }

    def context_params() -> dict[str, Any]:
        g = grid()
        return {
            "subclass": "0101",
            "grid": g[3],
            "since": now - timedelta(days=30),
            "at": now,
            "squad": g[5],
        }

    def insert_params() -> dict[str, Any]:
        g = grid()
        return {
            "token": f"bench{int(rng.integers(0, 2**62)):x}"[:16],
            "status": "dispatched",
            "subclass": "0101",
            "tier": "minor",
            "description": "bench",
            "address": "",
            "photos": "[]",
            "name_enc": None,
            "phone_enc": None,
            "source": "bench",
            "lon_in": g[0],
            "lat_in": g[1],
            "crs_in": "wgs84",
            "x": g[0],
            "y": g[1],
            "method": "contained",
            "distance": 0.0,
            "grid_id": g[2],
            "grid_code": g[3],
            "community": g[3][:12],
            "subdistrict": g[3][:9],
            "station": g[4],
            "squad": None,
            "district": g[3][:6],
            "officer": None,
            "master": None,
            "reported_at": now,
            "created_at": now,
            "due_at": now,
            "note": "",
            "api_key_id": None,
            "dispatched_at": now,
            "due_provisional": False,
            "reply_due_at": now,
            "reply_provisional": False,
            "holder_role": "officer",
            "holder_code": None,
            "department": None,
            "kinds": ["created", "located", "dispatched"],
            "actors": ["bench", "system", "system"],
            "datas": ["{}", "{}", "{}"],
        }

    out = {
        "locate a point": (_LOCATE_ONE, locate_params),
        "duplicate search": (FIND_MASTER, master_params),
        "the rules' context (earlier reports, departments, leaders)": (CONTEXT, context_params),
    }
    # Binds the statement has and this bench does not know are given as NULL.
    names = set(INSERT_CASE.compile().params)

    def all_params() -> dict[str, Any]:
        given = insert_params()
        return {**dict.fromkeys(names), **{k: v for k, v in given.items() if k in names}}

    out["case insert (rolled back)"] = (INSERT_CASE, all_params)
    return out


def bench_prepared(calls: int = 2_000, seed: int = 7) -> dict[str, Any]:
    """Median and p99 (ms) per statement, prepared and plain; and their ratio."""
    from bench.common import case_count, loadavg
    from gis.db import get_engine
    from gis.prepared import execute_prepared

    rng = np.random.default_rng(seed)
    engine = get_engine()
    results: dict[str, Any] = {}
    before, cases = loadavg(), case_count()
    with engine.connect() as conn:
        statements = _statements(conn, rng)
        conn.rollback()
        for name, (stmt, params) in statements.items():
            writes = name.startswith("case insert")
            times: dict[str, list[float]] = {"plain": [], "prepared": []}
            runners = {
                "plain": lambda p, s=stmt: conn.execute(s, p).all(),
                "prepared": lambda p, s=stmt: execute_prepared(conn, s, p).all(),
            }
            for block in range(-1, calls // BLOCK):  # block -1: warm-up, not kept
                for mode, run in runners.items():
                    for _ in range(BLOCK):
                        p = params()
                        t0 = time.perf_counter()
                        run(p)
                        if writes:
                            conn.rollback()
                        t = time.perf_counter() - t0
                        if block >= 0:
                            times[mode].append(t * 1000)
                    conn.rollback()
            row: dict[str, Any] = {}
            for mode, ts in times.items():
                ts.sort()
                row[mode] = {
                    "median_ms": round(statistics.median(ts), 3),
                    "p99_ms": round(ts[int(len(ts) * 0.99) - 1], 3),
                }
            row["plain_over_prepared"] = round(
                row["plain"]["median_ms"] / max(row["prepared"]["median_ms"], 1e-9), 2
            )
            results[name] = row
    return {
        "calls": calls,
        "statements": results,
        "cases_in_table": cases,
        "loadavg": [before, loadavg()],
    }


def render(prepared: dict[str, Any]) -> list[str]:
    """The prepared-vs-plain section of RESULTS.md."""
    lines = [
        "### Prepared against plain statements (bench/prepared.py)",
        "",
        f"Each statement of the single path, {prepared['calls']:,} calls each way on one pooled "
        "connection (blocks of 100, alternating); *prepared* = gis.prepared.execute_prepared "
        "(PREPARE once per connection), *plain* = SQLAlchemy `conn.execute(text(...))`."
        + (
            f" case_file held {prepared['cases_in_table']:,} rows; load average "
            f"{prepared['loadavg'][0]} → {prepared['loadavg'][1]}."
            if "loadavg" in prepared
            else ""
        ),
        "",
        "| statement | plain median | prepared median | plain ÷ prepared | plain p99 "
        "| prepared p99 |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, r in prepared["statements"].items():
        lines.append(
            f"| {name} | {r['plain']['median_ms']} ms | {r['prepared']['median_ms']} ms "
            f"| **{r['plain_over_prepared']}** | {r['plain']['p99_ms']} ms "
            f"| {r['prepared']['p99_ms']} ms |"
        )
    lines.append("")
    return lines
