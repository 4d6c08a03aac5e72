"""(b) The complaint API under load, beside a bare `SELECT 1` app in the same run.

`grid serve` is started with `--workers N`, and beside it the bare app
bench/bare.py (one SELECT 1 per request, same server options). A separate
process, wrk with bench/wrk.lua (installed with apt-get if missing and
possible; else bench/loadgen.py), drives first the bare endpoint, then
`POST /api/v1/complaints` at each concurrency, each run bounded in time and
requests, localhost only; a short warm-up precedes each measured run.
Servers are stopped at the end, always.
"""

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
    TARGETS,
    case_count,
    ensure_wrk,
    free_port,
    loadavg,
    ok,
    server,
)


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
    connections: list[int], duration: float, max_requests: int, workers: int
) -> dict[str, Any]:
    """The bare SELECT 1 endpoint and POST /api/v1/complaints, same run, same options."""
    import sqlalchemy as sa

    from cases.catalogue import load_catalogue
    from gis.db import get_engine
    from sample.complaints import read_layout

    engine = get_engine()
    layout = read_layout(engine)
    step = max(1, len(layout.lon) // 2000)
    pts = [
        [round(float(x), 6), round(float(y), 6)]
        for x, y in zip(layout.lon[::step], layout.lat[::step], strict=True)
    ]
    points_json = OUT / "api-points.json"
    points_json.write_text(json.dumps(pts))
    points_lua = OUT / "api-points.lua"
    points_lua.write_text("return {" + ",".join(f"{{{x},{y}}}" for x, y in pts) + "}\n")
    subclasses = ",".join(s.code for s in load_catalogue().subclasses)
    wrk = ensure_wrk()
    with engine.connect() as conn:
        t_start = conn.execute(sa.text("SELECT now()")).scalar_one()
    in_process = one_at_a_time(pts, subclasses.split(","))

    api_port, bare_port = free_port(), free_port()
    api_cmd = [
        *GRID,
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(api_port),
        "--workers",
        str(workers),
        "--no-access-log",
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
        str(workers),
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    runs: list[dict[str, Any]] = []
    with server(bare_cmd, bare_port, "bare"), server(api_cmd, api_port, "api"):
        targets = (
            ("bare SELECT 1", f"http://127.0.0.1:{bare_port}/select1", "get"),
            ("POST /api/v1/complaints", f"http://127.0.0.1:{api_port}/api/v1/complaints", "post"),
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
        "workers": workers,
        "load_generator": "wrk (bench/wrk.lua)" if wrk else "bench/loadgen.py (asyncio + httpx)",
        "runs": runs,
        "api_cases_created": created,
        "in_process": in_process,
        "cases_in_table": case_count(),
    }


def render(api: dict[str, Any]) -> list[str]:
    """The API section of RESULTS.md."""
    results = {"api": api}
    lines: list[str] = []
    if True:
        a = results["api"]
        lines += [
            "## (b) API under load: `POST /api/v1/complaints` beside a bare `SELECT 1`",
            "",
            f"`grid serve --workers {a['workers']}` and bench/bare.py (uvicorn, same workers); "
            f"load from a separate process: {a['load_generator']}, one thread, closed loop; "
            "each row is one bounded run after a 2 s warm-up. POSTs carry random points in "
            "the district and random subclasses (some merge as duplicates, as in life).",
            "",
            "| endpoint | connections | requests | req/s | p50 | p90 | p99 | max | non-2xx "
            "| load avg |",
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
            bare = next(r for r in a["runs"] if r["connections"] == c and "bare" in r["endpoint"])
            post = next(r for r in a["runs"] if r["connections"] == c and "POST" in r["endpoint"])
            lines.append(
                f"- {c} connections: POST {post['rps']} req/s = "
                f"{post['rps'] / max(bare['rps'], 0.1):.2f} × the bare endpoint's "
                f"{bare['rps']} req/s; p99 {post['p99_ms']} ms vs {bare['p99_ms']} ms "
                f"({post['p99_ms'] / max(bare['p99_ms'], 0.001):.1f} ×). Targets ≥ "
                f"{TARGETS['api_rps']:.0f} req/s: {ok(post['rps'] >= TARGETS['api_rps'])}; "
                f"p99 ≤ {TARGETS['api_p99_ms']:.0f} ms: "
                f"{ok(post['p99_ms'] <= TARGETS['api_p99_ms'])}."
            )
        ip = a.get("in_process")
        if ip:
            lines += [
                "",
                f"In-process, one at a time, no HTTP ({ip['calls']} calls, same database): "
                f"`cases.intake.submit_complaint` takes {ip['submit_median_ms']} ms median "
                f"(p99 {ip['submit_p99_ms']} ms); a pooled `SELECT 1` round trip takes "
                f"{ip['select1_median_ms']} ms. 1,000 req/s on two cores leaves 2 ms of CPU per "
                "complaint for everything (HTTP, Python, PostgreSQL, the load generator)"
                + (
                    "; one complaint's own work, unloaded, already takes longer than that "
                    "(its statements and the commit's WAL flush, part of it waiting)."
                    if ip["submit_median_ms"] > 2
                    else "."
                ),
            ]
        lines += [
            "",
            "Cases created by the POSTs (warm-ups included): "
            + ", ".join(f"{k} {v:,}" for k, v in sorted(a["api_cases_created"].items()))
            + f" (case_file then held {a['cases_in_table']:,} rows).",
            "",
            "On this machine the load generator, the two uvicorn workers and PostgreSQL share "
            "two cores; the bare endpoint shows the ceiling of the stack (HTTP, routing, one "
            "pooled round trip) before any of the API's own work.",
            "",
        ]
    return lines
