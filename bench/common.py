"""What every benchmark shares: the machine, the bench database, servers, WAL.

Figures are only worth their context: the machine and its load, the database
version and settings, and baselines measured in the same run.
"""

import os
import platform
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OUT = HERE / "out"
GRID = [str(Path(sys.executable).parent / "grid")]

TARGETS = {"assign_total_s": 15.0, "locate_s": 2.0}
"""Bulk targets; the API's are in bench/serve.py (ratios against its /healthz)."""

# ----------------------------------------------------------------- machine


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def machine_info() -> dict[str, Any]:
    """What the figures were measured on."""
    import sqlalchemy as sa

    from gis.db import get_engine

    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in _read("/proc/cpuinfo").splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "unknown",
    )
    mem_kb = next(
        (
            int(line.split()[1])
            for line in _read("/proc/meminfo").splitlines()
            if line.startswith("MemTotal")
        ),
        0,
    )
    with get_engine().connect() as conn:
        pg = conn.execute(sa.text("SHOW server_version")).scalar()
        postgis = conn.execute(sa.text("SELECT postgis_lib_version()")).scalar()
        geos = conn.execute(sa.text("SELECT postgis_geos_version()")).scalar()
        conf = {
            k: conn.execute(sa.text(f"SHOW {k}")).scalar()
            for k in (
                "shared_buffers",
                "work_mem",
                "synchronous_commit",
                "wal_level",
                "max_parallel_workers_per_gather",
            )
        }
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "memory_gib": round(mem_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "postgresql": pg,
        "postgis": postgis,
        "geos": geos,
        "pg_settings": conf,
    }


def loadavg() -> str:
    """The 1-minute load average (the machine may be shared)."""
    return _read("/proc/loadavg").split(" ")[0] or "?"


# ---------------------------------------------------------------- database


def prepare_database(name: str) -> dict[str, Any]:
    """Drop and recreate the bench database; layout and a year of sample complaints."""

    from gis.db import _engine_for, drop_database, ensure_database, get_engine, migrate
    from gis.settings import get_settings
    from sample.complaints import load_sample_complaints
    from sample.seed import load_sample

    settings = get_settings()
    assert settings.database == name, (settings.database, name)
    drop_database(settings, name)
    _engine_for.cache_clear()
    ensure_database(settings)
    migrate(settings)
    engine = get_engine(settings)
    load_sample(engine)
    loaded = load_sample_complaints(engine, out_dir=OUT / "sample-complaints")
    return {"database": name, "sample_cases": loaded.cases}


def case_count() -> int:
    """Rows of case_file in the bench database."""
    import sqlalchemy as sa

    from gis.db import get_engine

    with get_engine().connect() as conn:
        return int(conn.execute(sa.text("SELECT count(*) FROM case_file")).scalar_one())


def wal_lsn() -> str:
    """The current WAL position."""
    import sqlalchemy as sa

    from gis.db import get_engine

    with get_engine().connect() as conn:
        return str(conn.execute(sa.text("SELECT pg_current_wal_lsn()")).scalar_one())


def wal_mb_since(lsn: str) -> float:
    """MB of WAL written since `lsn`."""
    import sqlalchemy as sa

    from gis.db import get_engine

    with get_engine().connect() as conn:
        diff = conn.execute(
            sa.text("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), :l)"), {"l": lsn}
        ).scalar_one()
    return round(float(diff) / 1e6, 1)


# ------------------------------------------------------------------ (b) API


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {log.read_text()[-2000:]}")
        with suppress(OSError), urllib.request.urlopen(url, timeout=2) as resp:
            if resp.status == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"server not healthy after {timeout}s: {log.read_text()[-2000:]}")


@contextmanager
def server(cmd: list[str], port: int, name: str) -> Any:
    """Run a server process until the block ends (always stopped)."""
    log = OUT / f"{name}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, env=os.environ.copy(), cwd=ROOT
        )
        try:
            _wait_healthy(f"http://127.0.0.1:{port}/healthz", proc, log)
            yield proc
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=20)


def ensure_wrk() -> str | None:
    """wrk's path; installs Debian's package when missing and root (the bench set-up)."""
    found = shutil.which("wrk")
    if found or os.geteuid() != 0 or not shutil.which("apt-get"):
        return found
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (
        ["apt-get", "install", "-y", "-q", "wrk"],
        ["apt-get", "update", "-q"],
        ["apt-get", "install", "-y", "-q", "wrk"],
    ):
        subprocess.run(cmd, env=env, capture_output=True, check=False)
        if shutil.which("wrk"):
            break
    return shutil.which("wrk")


def ok(good: bool) -> str:
    """How a target reads in the report."""
    return "met" if good else "**not met**"
