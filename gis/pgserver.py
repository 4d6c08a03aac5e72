"""The project-owned PostgreSQL cluster: init, start, stop and status.

When `DATABASE_URL` is set, none of this runs: the operator owns the server.
The cluster lives under `var/pgdata`, listens on 127.0.0.1 and a socket in its
own folder, and trusts local connections (a developer and CI database, never a
production one). As root, the server runs as the `postgres` system user, since
PostgreSQL refuses to run as root.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from gis.settings import Settings

# Tuned for a 2-core, 24 GB machine doing bulk spatial joins.
SERVER_OPTIONS = {
    "listen_addresses": "127.0.0.1",
    "shared_buffers": "1GB",
    "work_mem": "64MB",
    "maintenance_work_mem": "512MB",
    "effective_cache_size": "8GB",
    "max_connections": "200",
    "max_parallel_workers_per_gather": "2",
    "random_page_cost": "1.1",
    "jit": "off",
    "wal_level": "minimal",
    "max_wal_senders": "0",
    "max_wal_size": "4GB",
    "wal_buffers": "64MB",
    "wal_compression": "lz4",
    "checkpoint_timeout": "15min",
}


class ClusterError(RuntimeError):
    """The project-owned cluster could not be set up or started."""


@dataclass(frozen=True)
class ClusterStatus:
    """What `grid db status` reports."""

    managed: bool
    running: bool
    detail: str


def _as_server_user(cmd: list[str], settings: Settings) -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", settings.pg_user, "--", *cmd]
    return cmd


def _run(cmd: list[str], settings: Settings) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - fixed argument lists, no shell
        _as_server_user(cmd, settings), capture_output=True, text=True, check=False
    )


def _pg_ctl(settings: Settings) -> str:
    path = settings.pg_bin / "pg_ctl"
    if not path.exists():
        raise ClusterError(f"PostgreSQL binaries not found in {settings.pg_bin}; run `make setup`")
    return str(path)


def _prepare_folder(data: Path, settings: Settings) -> None:
    data.parent.mkdir(parents=True, exist_ok=True)
    data.mkdir(mode=0o700, exist_ok=True)
    if os.geteuid() == 0:
        shutil.chown(data, settings.pg_user, settings.pg_user)
        # The server user must be able to reach the folder through its parents.
        for parent in [data.parent, *data.parent.parents]:
            mode = parent.stat().st_mode
            if not mode & 0o001:
                parent.chmod(mode | 0o001)


def init_cluster(settings: Settings) -> bool:
    """Create the cluster if it does not exist; True when it was created."""
    data = settings.pg_data
    if (data / "PG_VERSION").exists():
        return False
    _prepare_folder(data, settings)
    initdb = str(settings.pg_bin / "initdb")
    result = _run(
        [
            initdb,
            "-D",
            str(data),
            "-U",
            settings.pg_user,
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
        ],
        settings,
    )
    if result.returncode != 0:
        raise ClusterError(f"initdb failed: {result.stderr.strip() or result.stdout.strip()}")
    return True


def status(settings: Settings) -> ClusterStatus:
    """Whether the project-owned server is running (or that it is not ours)."""
    if not settings.managed_cluster:
        return ClusterStatus(False, True, "DATABASE_URL is set: the server is not managed here")
    if not (settings.pg_data / "PG_VERSION").exists():
        return ClusterStatus(True, False, f"no cluster at {settings.pg_data}")
    result = _run([_pg_ctl(settings), "status", "-D", str(settings.pg_data)], settings)
    running = result.returncode == 0
    where = f"{settings.pg_data}, port {settings.pg_port}"
    return ClusterStatus(True, running, f"{'running' if running else 'stopped'}: {where}")


def start(settings: Settings) -> str:
    """Init (if needed) and start the project-owned server; idempotent."""
    if not settings.managed_cluster:
        return "DATABASE_URL is set: nothing to start"
    created = init_cluster(settings)
    if status(settings).running:
        return f"already running ({settings.pg_data}, port {settings.pg_port})"
    options = " ".join(f"-c {k}={v}" for k, v in SERVER_OPTIONS.items())
    options += f" -p {settings.pg_port} -k {settings.pg_data}"
    log = settings.pg_data / "server.log"
    result = _run(
        [
            _pg_ctl(settings),
            "start",
            "-w",
            "-t",
            "60",
            "-D",
            str(settings.pg_data),
            "-l",
            str(log),
            "-o",
            options,
        ],
        settings,
    )
    if result.returncode != 0:
        tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        raise ClusterError(
            f"PostgreSQL did not start on port {settings.pg_port}: "
            f"{result.stderr.strip()}\n{tail}\n"
            "Is another server using that port? Set CG_PG_PORT to choose another."
        )
    _wait_ready(settings)
    return (
        f"{'created and ' if created else ''}started ({settings.pg_data}, port {settings.pg_port})"
    )


def _wait_ready(settings: Settings, timeout: float = 30.0) -> None:
    isready = str(settings.pg_bin / "pg_isready")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = subprocess.run(  # noqa: S603
            [isready, "-h", "127.0.0.1", "-p", str(settings.pg_port)],
            capture_output=True,
            check=False,
        )
        if result.returncode == 0:
            return
        time.sleep(0.2)
    raise ClusterError(f"PostgreSQL on port {settings.pg_port} is not accepting connections")


def stop(settings: Settings) -> str:
    """Stop the project-owned server; a no-op when it is not running."""
    if not settings.managed_cluster:
        return "DATABASE_URL is set: nothing to stop"
    if not status(settings).running:
        return "not running"
    result = _run(
        [_pg_ctl(settings), "stop", "-w", "-m", "fast", "-D", str(settings.pg_data)], settings
    )
    if result.returncode != 0:
        raise ClusterError(f"pg_ctl stop failed: {result.stderr.strip()}")
    return "stopped"
