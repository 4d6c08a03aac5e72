"""Engines, the database itself, and migrations.

One engine per URL per process (SQLAlchemy pools connections). `ensure_database`
creates the database and the PostGIS extension when missing; `migrate` runs
Alembic to head. Both are idempotent, so `make setup` can run them every time.
"""

from __future__ import annotations

from functools import lru_cache

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Engine, make_url

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
