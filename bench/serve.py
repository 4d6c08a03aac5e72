"""(b) The complaint API under load, beside its own /healthz and a bare `SELECT 1` app.

`grid serve` is started as shipped (every core: one worker per CPU, unless
`workers` is given), and beside it the bare app bench/bare.py (one SELECT 1
per request, same number of workers). A separate process, wrk with
bench/wrk.lua (installed with apt-get if missing and possible; else
bench/loadgen.py), drives at each concurrency: the bare endpoint, the API's
own `GET /healthz` (one pooled SELECT 1 through the whole API stack: the
baseline of the targets) and `POST /api/v1/complaints` (create and assign),
each run bounded in time and requests, localhost only, after a short warm-up.
Servers are stopped at the end, always.

Targets (issue 6): POST at 32 connections ≥ 0.25 × the /healthz rate of the
same run; p99 ≤ 30 ms at 4 connections; no errors.

Run alone: `python -m bench.serve --database NAME [--prepare]` measures on that
database (made afresh with --prepare) and rewrites bench/RESULTS.md through
bench.run's renderer, keeping the other parts' figures.
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.common import (
    GRID,
    HERE,
    OUT,
    ROOT,
    case_count,
    ensure_wrk,
    free_port,
    loadavg,
    ok,
    server,
)

POST_VS_HEALTHZ = 0.25
"""Target: POST create-and-assign at 32 connections, as a share of /healthz's rate."""
P99_MS_AT_4 = 30.0
"""Target: p99 of POST at 4 connections."""

SECTION = "## (b) API under load: `POST /api/v1/complaints` beside `/healthz` and a bare `SELECT 1`"

BARE, HEALTHZ, POST = "bare SELECT 1", "GET /healthz (API)", "POST /api/v1/complaints"


def _drive(
    url: str,
    mode: str,
    connections: int,
    duration: float,
    max_requests: int,
    points_lua: Path,
    points_json: Path,
    subclasses: str,
    wrk: str | None,
) -> dict[str, Any]:
    """One bounded load run from a separate process; the JSON line it prints."""
    env = {
        **os.environ,
        "BENCH_MODE": mode,
        "BENCH_POINTS": str(points_lua),
        "BENCH_SUBCLASSES": subclasses,
        "BENCH_MAX_REQUESTS": str(max_requests),
    }
    if wrk:
        cmd = [
            wrk,
            "-t1",
            f"-c{connections}",
            f"-d{max(1, round(duration))}s",
            "--timeout",
            "5s",
            "-s",
            str(HERE / "wrk.lua"),
            url,
        ]
    else:
        cmd = [
            sys.executable,
            "-m",
            "bench.loadgen",
            "--url",
            url,
            "--mode",
            mode,
            "--points",
            str(points_json),
            "--subclasses",
            subclasses,
            "--duration",
            str(duration),
            "--connections",
            str(connections),
            "--max-requests",
            str(max_requests),
        ]
    proc = subprocess.run(
        cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=duration + 60, check=False
    )
    line = next((ln for ln in reversed(proc.stdout.splitlines()) if ln.startswith("{")), None)
    if line is None:
        raise RuntimeError(f"load generator failed: {proc.stdout[-1000:]} {proc.stderr[-1000:]}")
    raw = json.loads(line)
    seconds = raw["duration_us"] / 1e6
    errors = sum(
        int(raw.get(k, 0)) for k in ("connect_errors", "read_errors", "write_errors", "timeouts")
    )
    return {
        "connections": connections,
        "requests": raw["requests"],
        "seconds": round(seconds, 2),
        "rps": round(raw["requests"] / seconds, 1),
        "p50_ms": round(raw["p50_us"] / 1000, 2),
        "p90_ms": round(raw["p90_us"] / 1000, 2),
        "p99_ms": round(raw["p99_us"] / 1000, 2),
        "max_ms": round(raw["max_us"] / 1000, 2),
        "non_2xx": int(raw["status_errors"]),
        "socket_errors": errors,
        "loadavg": loadavg(),
    }


def one_at_a_time(points: list[list[float]], subclasses: list[str], n: int = 300) -> dict[str, Any]:
    """In-process, no HTTP, one after the other: intake's own latency and a SELECT 1.

    What one POST costs before any concurrency: the floor under the API's
    latency, and with two cores, roughly its ceiling in requests per second.
    """
    import random
    import statistics

    import sqlalchemy as sa

    from cases.intake import ComplaintIn, submit_complaint
    from gis.db import get_engine

    engine = get_engine()
    rng = random.Random(7)

    def one() -> float:
        lon, lat = rng.choice(points)
        complaint = ComplaintIn(
            lon=lon + (rng.random() - 0.5) * 0.002,
            lat=lat + (rng.random() - 0.5) * 0.002,
            crs="wgs84",
            subclass=rng.choice(subclasses),
            description="bench: 压测投诉 (in-process)",
            address="压测地址",
        )
        t0 = time.perf_counter()
        submit_complaint(engine, complaint, source="api")
        return time.perf_counter() - t0

    for _ in range(30):
        one()
    intake = sorted(one() for _ in range(n))
    with engine.connect() as conn:
        base = []
        for _ in range(n):
            t0 = time.perf_counter()
            conn.execute(sa.text("SELECT 1")).scalar()
            base.append(time.perf_counter() - t0)
    base.sort()
    return {
        "calls": n,
        "submit_median_ms": round(statistics.median(intake) * 1e3, 2),
        "submit_p99_ms": round(intake[int(n * 0.99) - 1] * 1e3, 2),
        "select1_median_ms": round(statistics.median(base) * 1e3, 3),
    }


def bench_api(
    connections: list[int], duration: float, max_requests: int, workers: int | None = None
) -> dict[str, Any]:
    """The bare SELECT 1 app, the API's /healthz and its POST, same run, same workers.

    `workers` None starts `grid serve` as shipped (one worker per core).
    """
    import sqlalchemy as sa

    from cases.catalogue import load_catalogue
    from gis.db import get_engine
    from gridcli.ops import serve_workers
    from sample.complaints import read_layout

    engine = get_engine()
    layout = read_layout(engine)
    step = max(1, len(layout.lon) // 2000)
    pts = [
        [round(float(x), 6), round(float(y), 6)]
        for x, y in zip(layout.lon[::step], layout.lat[::step], strict=True)
    ]
    OUT.mkdir(parents=True, exist_ok=True)
    points_json = OUT / "api-points.json"
    points_json.write_text(json.dumps(pts))
    points_lua = OUT / "api-points.lua"
    points_lua.write_text("return {" + ",".join(f"{{{x},{y}}}" for x, y in pts) + "}\n")
    subclasses = ",".join(s.code for s in load_catalogue().subclasses)
    wrk = ensure_wrk()
    with engine.connect() as conn:
        t_start = conn.execute(sa.text("SELECT now()")).scalar_one()
    in_process = one_at_a_time(pts, subclasses.split(","))

    shipped = serve_workers(workers)
    api_port, bare_port = free_port(), free_port()
    api_cmd = [
        *GRID,
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(api_port),
        "--no-access-log",
        *(["--workers", str(workers)] if workers is not None else []),
    ]
    bare_cmd = [
        sys.executable,
        "-m",
        "uvicorn",
        "bench.bare:create_app",
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(bare_port),
        "--workers",
        str(shipped),
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    runs: list[dict[str, Any]] = []
    with server(bare_cmd, bare_port, "bare"), server(api_cmd, api_port, "api"):
        targets = (
            (BARE, f"http://127.0.0.1:{bare_port}/select1", "get"),
            (HEALTHZ, f"http://127.0.0.1:{api_port}/healthz", "get"),
            (POST, f"http://127.0.0.1:{api_port}/api/v1/complaints", "post"),
        )
        for c in connections:
            for name, url, mode in targets:
                _drive(url, mode, c, 2, 0, points_lua, points_json, subclasses, wrk)  # warm-up
                run = _drive(
                    url, mode, c, duration, max_requests, points_lua, points_json, subclasses, wrk
                )
                runs.append({"endpoint": name, **run})
    with engine.connect() as conn:
        created = {
            str(status): int(n)
            for status, n in conn.execute(
                sa.text(
                    "SELECT status, count(*) FROM case_file "
                    "WHERE source = 'api' AND created_at >= :t GROUP BY status"
                ),
                {"t": t_start},
            ).all()
        }
    return {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "workers": shipped,
        "workers_as_shipped": workers is None,
        "nproc": os.cpu_count(),
        "load_generator": "wrk (bench/wrk.lua)" if wrk else "bench/loadgen.py (asyncio + httpx)",
        "runs": runs,
        "api_cases_created": created,
        "in_process": in_process,
        "cases_in_table": case_count(),
    }


def _run(api: dict[str, Any], endpoint: str, connections: int) -> dict[str, Any] | None:
    return next(
        (r for r in api["runs"] if r["endpoint"] == endpoint and r["connections"] == connections),
        None,
    )


def render(api: dict[str, Any]) -> list[str]:
    """The API section of RESULTS.md."""
    a = api
    shipped = (
        "as shipped (one worker per core)" if a.get("workers_as_shipped") else "with --workers"
    )
    lines = [
        SECTION,
        "",
        f"Measured {a.get('date', '?')}. `grid serve` {shipped}: {a['workers']} workers "
        f"on {a.get('nproc', '?')} cores; "
        f"bench/bare.py (uvicorn, same workers). Load from a separate process: "
        f"{a['load_generator']}, one thread, closed loop; each row is one bounded run after a "
        "2 s warm-up. `/healthz` is the API's own endpoint (one pooled `SELECT 1` through the "
        "whole stack: middleware, routing, error table) and the baseline of the targets. POSTs "
        "carry random points in the district and random subclasses (some merge as duplicates, "
        "as in life), each filed, located and dispatched in one transaction.",
        "",
        "| endpoint | connections | requests | req/s | p50 | p90 | p99 | max | errors | load avg |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in a["runs"]:
        lines.append(
            f"| {r['endpoint']} | {r['connections']} | {r['requests']:,} | **{r['rps']}** "
            f"| {r['p50_ms']} ms | {r['p90_ms']} ms | **{r['p99_ms']} ms** "
            f"| {r['max_ms']} ms | {r['non_2xx'] + r['socket_errors']} | {r['loadavg']} |"
        )
    lines += [""]
    for c in sorted({r["connections"] for r in a["runs"]}):
        post, health, bare = _run(a, POST, c), _run(a, HEALTHZ, c), _run(a, BARE, c)
        if post is None:
            continue
        parts = [f"- {c} connections: POST {post['rps']} req/s"]
        if health is not None:
            parts.append(
                f"= {post['rps'] / max(health['rps'], 0.1):.2f} × /healthz ({health['rps']} req/s)"
            )
        if bare is not None:
            parts.append(f"and {post['rps'] / max(bare['rps'], 0.1):.2f} × bare SELECT 1")
        parts.append(f"; p99 {post['p99_ms']} ms")
        lines.append(" ".join(parts) + ".")
    post32, health32, post4 = _run(a, POST, 32), _run(a, HEALTHZ, 32), _run(a, POST, 4)
    errors = sum(r["non_2xx"] + r["socket_errors"] for r in a["runs"])
    lines += [""]
    if post32 is not None and health32 is not None:
        share = post32["rps"] / max(health32["rps"], 0.1)
        lines.append(
            f"- target POST at 32 connections ≥ {POST_VS_HEALTHZ} × /healthz: "
            f"{ok(share >= POST_VS_HEALTHZ)} ({share:.2f} ×)"
        )
    if post4 is not None:
        lines.append(
            f"- target p99 ≤ {P99_MS_AT_4:.0f} ms at 4 connections: "
            f"{ok(post4['p99_ms'] <= P99_MS_AT_4)} ({post4['p99_ms']} ms)"
        )
    lines.append(f"- target no errors: {ok(errors == 0)} ({errors})")
    ip = a.get("in_process")
    if ip:
        lines += [
            "",
            f"In-process, one at a time, no HTTP ({ip['calls']} calls, same database): "
            f"`cases.intake.submit_complaint` takes {ip['submit_median_ms']} ms median "
            f"(p99 {ip['submit_p99_ms']} ms); a pooled `SELECT 1` round trip takes "
            f"{ip['select1_median_ms']} ms.",
        ]
    lines += [
        "",
        "Cases created by the POSTs (warm-ups included): "
        + ", ".join(f"{k} {v:,}" for k, v in sorted(a["api_cases_created"].items()))
        + f" (case_file then held {a['cases_in_table']:,} rows).",
        "",
        "On this machine the load generator, the uvicorn workers and PostgreSQL share the "
        "cores (and other sessions share the machine: see the load average).",
        "",
    ]
    return lines


def main() -> None:
    """Measure the API alone and rewrite RESULTS.md (bench.run's renderer)."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--database", default="community_grid_bench")
    parser.add_argument("--prepare", action="store_true", help="make the database afresh")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per run")
    parser.add_argument("--max-requests", type=int, default=50_000, help="per run")
    parser.add_argument("--connections", default="4,32", help="comma list")
    parser.add_argument("--workers", type=int, default=None, help="default: as shipped")
    parser.add_argument("--no-write", action="store_true", help="print, do not write")
    args = parser.parse_args()

    os.environ["CG_DATABASE_NAME"] = args.database  # before anything reads the settings
    from gis.settings import get_settings

    get_settings.cache_clear()
    from bench import run as bench_run
    from bench.common import prepare_database

    results = bench_run.load()
    if args.prepare:
        results["database"] = prepare_database(args.database)
    conns = [int(c) for c in args.connections.split(",") if c.strip()]
    before, started = loadavg(), time.perf_counter()
    api = bench_api(conns, args.duration, args.max_requests, args.workers)
    print(json.dumps(api, ensure_ascii=False, indent=1))
    if args.no_write:
        print("\n".join(render(api)))
        return
    results["api"] = api
    bench_run.record(results, "api", before, started)
    bench_run.write(results)
    print(f"wrote {bench_run.RESULTS_MD}")


if __name__ == "__main__":
    main()
