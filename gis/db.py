"""Engines, the database itself, and migrations.

One engine per URL per process (SQLAlchemy pools connections). `ensure_database`
creates the database and the PostGIS extension when missing; `migrate` runs
Alembic to head. Both are idempotent, so `make setup` can run them every time.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection, CursorResult, Engine, make_url

from gis.settings import ROOT, Settings, get_settings

MIGRATIONS = ROOT / "migrations"


class DatabaseUnavailable(RuntimeError):
    """The database cannot be reached; the message says what to do."""


@lru_cache(maxsize=8)
def _engine_for(url: str) -> Engine:
    return sa.create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)


def get_engine(settings: Settings | None = None) -> Engine:
    """The pooled engine for the project's database."""
    return _engine_for((settings or get_settings()).url_for())


def ensure_database(settings: Settings | None = None) -> bool:
    """Create the database and the postgis extension if missing; True if created."""
    settings = settings or get_settings()
    url = make_url(settings.url_for())
    name = url.database
    admin = sa.create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    created = False
    try:
        with admin.connect() as conn:
            exists = conn.execute(
                sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}
            ).scalar()
            if not exists:
                conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
                created = True
    except sa.exc.OperationalError as exc:
        raise DatabaseUnavailable(
            f"cannot reach PostgreSQL at {url.render_as_string(hide_password=True)}: "
            f"{exc.orig}. Run `make setup` or `grid db start`, or set DATABASE_URL."
        ) from exc
    finally:
        admin.dispose()
    with sa.create_engine(url, isolation_level="AUTOCOMMIT").connect() as conn:
        conn.execute(sa.text("CREATE EXTENSION IF NOT EXISTS postgis"))
    return created


def alembic_config(url: str) -> Config:
    """An Alembic configuration bound to `url`, independent of the working folder."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def migrate(settings: Settings | None = None, revision: str = "heads") -> None:
    """Upgrade the schema to `revision` (Alembic)."""
    settings = settings or get_settings()
    command.upgrade(alembic_config(settings.url_for()), revision)


def ping(engine: Engine) -> bool:
    """True when the database answers `SELECT 1`."""
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text("SELECT 1")).scalar() == 1
    except sa.exc.SQLAlchemyError:
        return False


_BIND = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")


def execute_prepared(
    conn: Connection, statement: sa.TextClause, params: Mapping[str, Any] | None = None
) -> CursorResult[Any]:
    """Run a hot statement as a server-side prepared statement.

    psycopg2 sends every statement as text, so PostgreSQL plans it every time;
    for the short statements of one request, planning costs more than running.
    The first use on a pooled connection PREPAREs it (parameter types inferred
    by PostgreSQL from the statement), later uses only EXECUTE it. `:name`
    binds become `$n`; values are passed positionally and adapted by psycopg2.
    """
    sql = statement.text
    names: list[str] = []
    for name in _BIND.findall(sql):
        if name not in names:
            names.append(name)
    digest = hashlib.sha1(sql.encode(), usedforsecurity=False).hexdigest()[:16]
    label = f"cg_{digest}"
    info = conn.connection.info
    prepared: set[str] = info.setdefault("cg_prepared", set())
    if label not in prepared:
        body = _BIND.sub(lambda m: f"${names.index(m[1]) + 1}", sql)
        with conn.connection.dbapi_connection.cursor() as cur:  # type: ignore[union-attr]
            cur.execute(f"PREPARE {label} AS {body}")
        prepared.add(label)
    values = tuple((params or {})[n] for n in names)
    placeholders = ", ".join(["%s"] * len(values))
    call = f"EXECUTE {label}({placeholders})" if values else f"EXECUTE {label}"
    return conn.exec_driver_sql(call, values)
