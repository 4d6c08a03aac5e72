"""`grid serve` as a real process: health, then a complaint over a real socket."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _grid() -> list[str]:
    script = Path(sys.executable).parent / "grid"
    return [str(script)] if script.exists() else [sys.executable, "-m", "gridcli.main"]


def _request(url: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, json.loads(exc.read() or b"null")


def test_serve_answers_over_a_socket(conn: Connection, tmp_path: Path) -> None:
    row = conn.execute(
        sa.text("""
        SELECT g.code, ST_X(p.geom) AS lon, ST_Y(p.geom) AS lat
        FROM grid_cell g JOIN layout_generation lg ON lg.id = g.generation_id AND lg.is_current
        CROSS JOIN LATERAL (SELECT ST_PointOnSurface(g.geom) AS geom) p
        ORDER BY g.code OFFSET 777 LIMIT 1""")
    ).one()
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(  # the test database is in the environment (conftest)
            [*_grid(), "serve", "--host", "127.0.0.1", "--port", str(port), "--no-access-log"],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=os.environ.copy(),
        )
        try:
            deadline = time.monotonic() + 180  # every worker imports the whole app
            status = 0
            while time.monotonic() < deadline:
                assert proc.poll() is None, log.read_text()
                try:
                    status, health = _request(f"{base}/healthz")
                    if status == 200:
                        break
                except (urllib.error.URLError, ConnectionError, TimeoutError):
                    pass
                time.sleep(0.2)
            assert status == 200 and health["database"] == "up", log.read_text()
            # as shipped: one worker process per core
            workers = os.cpu_count() or 1
            assert f"with {workers} worker" in log.read_text(), log.read_text()

            status, answer = _request(
                f"{base}/api/v1/complaints",
                {
                    "lon": float(row.lon),
                    "lat": float(row.lat),
                    "crs": "wgs84",
                    "subclass": "0205",
                    "description": "宣传车高音喇叭 (serve test)",
                    "address": "测试地址",
                },
            )
            assert status == 201, answer
            assert answer["grid_code"] == row.code
            assert answer["status"] in ("dispatched", "duplicate")
            assert answer["token"] and answer["id"]
            assert answer["status"] == "duplicate" or answer["due_at"] is not None
            status, tracked = _request(f"{base}/api/v1/complaints/by-token/{answer['token']}")
            assert status == 200 and tracked["grid_code"] == row.code
            status, _bad = _request(f"{base}/api/v1/complaints", {"lon": 1e999, "lat": 22.6})
            assert status == 422
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=15)
